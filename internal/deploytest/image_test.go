//go:build linux

package deploytest

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

const (
	baseImage   = "gcr.io/distroless/static:nonroot"
	versionFlag = "-X github.com/lifeboat-dev/lifeboat/internal/version.Version="
)

// dockerfile is a Dockerfile as instructions (continuations joined).
type dockerfile []struct{ op, args string }

func readDockerfile(t *testing.T) dockerfile {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot(t), "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	var df dockerfile
	var cur strings.Builder
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if cur.Len() == 0 && (line == "" || strings.HasPrefix(line, "#")) {
			continue
		}
		if cont, ok := strings.CutSuffix(line, `\`); ok {
			cur.WriteString(cont + " ")
			continue
		}
		cur.WriteString(line)
		op, args, _ := strings.Cut(cur.String(), " ")
		df = append(df, struct{ op, args string }{strings.ToUpper(op), strings.TrimSpace(args)})
		cur.Reset()
	}
	return df
}

// TestDockerfile checks the image build: a Go builder stage at the
// module's Go version producing a static, trimmed, version-stamped binary,
// and a distroless nonroot final stage running it as 65532.
func TestDockerfile(t *testing.T) {
	df := readDockerfile(t)
	var froms []string
	var build, user, entry, copyFrom string
	goVersion := ""
	for _, in := range df {
		switch in.op {
		case "FROM":
			froms = append(froms, in.args)
		case "RUN":
			if strings.Contains(in.args, "go build") {
				build = in.args
			}
		case "USER":
			user = in.args
		case "ENTRYPOINT":
			entry = in.args
		case "COPY":
			if strings.HasPrefix(in.args, "--from=") {
				copyFrom = in.args
			}
		case "ARG":
			if v, ok := strings.CutPrefix(in.args, "GO_VERSION="); ok {
				goVersion = v
			}
		}
	}
	if len(froms) != 2 || !strings.Contains(froms[0], "golang:${GO_VERSION}") || !strings.HasSuffix(froms[0], "AS build") {
		t.Errorf("want a golang:${GO_VERSION} builder stage then the final stage, have FROM %q", froms)
	}
	if len(froms) > 0 && froms[len(froms)-1] != baseImage {
		t.Errorf("final stage FROM %s, want %s", froms[len(froms)-1], baseImage)
	}
	if want := goModVersion(t); goVersion != want {
		t.Errorf("ARG GO_VERSION=%s, want the go.mod version %s", goVersion, want)
	}
	for _, want := range []string{"CGO_ENABLED=0", "-trimpath", "-s -w", versionFlag + "${VERSION}", "./cmd/lifeboat"} {
		if !strings.Contains(build, want) {
			t.Errorf("the go build step lacks %q:\n%s", want, build)
		}
	}
	if user != "65532:65532" && user != "65532" {
		t.Errorf("USER %q, want 65532", user)
	}
	var ep []string
	if err := json.Unmarshal([]byte(entry), &ep); err != nil || len(ep) != 1 {
		t.Fatalf("ENTRYPOINT %q must be an exec-form array naming the binary", entry)
	}
	if !strings.HasSuffix(copyFrom, " "+ep[0]) {
		t.Errorf("ENTRYPOINT %s is not where the binary is copied (COPY %s)", ep[0], copyFrom)
	}
}

func goModVersion(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot(t), "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindSubmatch(b)
	if m == nil {
		t.Fatal("no go directive in go.mod")
	}
	return string(m[1])
}

// koConfig is the part of .ko.yaml the test reads.
type koConfig struct {
	DefaultBaseImage string   `json:"defaultBaseImage"`
	DefaultPlatforms []string `json:"defaultPlatforms"`
	Builds           []struct {
		ID      string   `json:"id"`
		Main    string   `json:"main"`
		Env     []string `json:"env"`
		Flags   []string `json:"flags"`
		Ldflags []string `json:"ldflags"`
	} `json:"builds"`
}

func readKoConfig(t *testing.T) koConfig {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot(t), ".ko.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var cfg koConfig
	if err := yaml.UnmarshalStrict(b, &cfg); err != nil {
		t.Fatalf(".ko.yaml: %v", err)
	}
	return cfg
}

// TestKoConfig checks .ko.yaml builds the same image as the Dockerfile.
func TestKoConfig(t *testing.T) {
	cfg := readKoConfig(t)
	if cfg.DefaultBaseImage != baseImage {
		t.Errorf("defaultBaseImage %s, want %s", cfg.DefaultBaseImage, baseImage)
	}
	for _, p := range []string{"linux/amd64", "linux/arm64"} {
		if !slices.Contains(cfg.DefaultPlatforms, p) {
			t.Errorf("defaultPlatforms lacks %s", p)
		}
	}
	want := []struct{ id, main, tags string }{
		{"lifeboat", "./cmd/lifeboat", ""},
		{"lifeboat-agent", "./cmd/lifeboat-agent", "-tags=lifeboat_agent"},
	}
	if len(cfg.Builds) != len(want) {
		t.Fatalf("want %d builds (lifeboat, lifeboat-agent), have %d", len(want), len(cfg.Builds))
	}
	for i, w := range want {
		b := cfg.Builds[i]
		ld := strings.Join(b.Ldflags, " ")
		checks := []check{
			{b.ID == w.id, "id " + w.id},
			{b.Main == w.main, "main " + w.main},
			{w.tags == "" || slices.Contains(b.Flags, w.tags), w.tags},
			{slices.Contains(b.Env, "CGO_ENABLED=0"), "CGO_ENABLED=0"},
			{slices.Contains(b.Flags, "-trimpath"), "-trimpath"},
			{strings.Contains(ld, "-s -w"), "-s -w"},
			{strings.Contains(ld, versionFlag+"{{ .Env.VERSION }}"), "the version stamped from $VERSION"},
		}
		for _, c := range checks {
			if !c.ok {
				t.Errorf(".ko.yaml build %d: want %s", i, c.what)
			}
		}
	}
}

// TestKoBuild builds the image with ko and the repository's .ko.yaml into
// an image tarball without a Docker engine or a registry (with --push=false
// and a repository other than ko.local, which would load into a Docker
// daemon, ko only writes --tarball): the base image is
// served from ko's on-disk cache (KOCACHE) as a small stand-in for
// distroless (registries are not reachable from the test), pinned by
// digest. The test then checks each image (lifeboat, and lifeboat-agent for
// the DaemonSet): the entrypoint runs the static, version-stamped binary as
// the base's user, and the node build has `agent` but not `queue`.
func TestKoBuild(t *testing.T) {
	if testing.Short() {
		t.Skip("builds ko and an image; skipped with -short")
	}
	ko := koBinary(t)
	cache := t.TempDir()
	digest := writeBaseImage(t, filepath.Join(cache, "img"))
	for _, c := range []struct {
		name, repo string
		// refused are commands the image's binary must not have.
		refused []string
	}{
		{"lifeboat", "ghcr.io/lifeboat-dev/lifeboat", nil},
		{"lifeboat-agent", "ghcr.io/lifeboat-dev/lifeboat-agent", []string{"queue", "lambda", "plan", "emulate", "docs"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			bin := koBuild(t, ko, cache, digest, c.repo, "./cmd/"+c.name)
			for _, cmd := range c.refused {
				if out, err := exec.Command(bin, cmd, "--help").CombinedOutput(); err == nil {
					t.Errorf("%s %s works; the node build must leave it out (-tags lifeboat_agent):\n%s", c.name, cmd, out)
				}
			}
			if c.refused != nil {
				if out, err := exec.Command(bin, "agent", "--help").CombinedOutput(); err != nil {
					t.Errorf("%s agent --help: %v\n%s", c.name, err, out)
				}
			}
		})
	}
}

// koBuild builds main into an image tarball with ko, checks the image and
// returns the path of its binary, extracted.
func koBuild(t *testing.T, ko, cache, digest, repo, main string) string {
	t.Helper()
	name := filepath.Base(main)
	out := filepath.Join(t.TempDir(), name+".tar")
	const version = "v0.0.0-deploytest"
	cmd := exec.Command(ko, "build", "--bare", "--push=false", "--tarball="+out, "--platform=linux/amd64", main)
	cmd.Dir = repoRoot(t)
	cmd.Env = append(os.Environ(), "KO_DOCKER_REPO="+repo, "KOCACHE="+cache, "VERSION="+version,
		"KO_DEFAULTBASEIMAGE=gcr.io/distroless/static@"+digest)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ko build: %v\n%s", err, b)
	}
	if st, err := os.Stat(out); err == nil {
		t.Logf("%s image tarball: %.1f MiB (with a stand-in base of a few KiB)", name, float64(st.Size())/(1<<20))
	}
	img := readImageTarball(t, out)
	if len(img.config.Config.Entrypoint) != 1 || img.config.Config.Entrypoint[0] != "/ko-app/"+name {
		t.Errorf("entrypoint %q, want /ko-app/%s", img.config.Config.Entrypoint, name)
	}
	if img.config.Config.User != "65532" {
		t.Errorf("user %q, want the base image's 65532", img.config.Config.User)
	}
	if img.config.OS != "linux" || img.config.Architecture != "amd64" {
		t.Errorf("platform %s/%s, want linux/amd64", img.config.OS, img.config.Architecture)
	}
	bin, ok := img.files["ko-app/"+name]
	if !ok {
		t.Fatalf("no /ko-app/%s in the image; files: %v", name, keys(img.files))
	}
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, bin, 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := elf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Error("the binary is dynamically linked; the distroless static base has no libc")
		}
	}
	_ = f.Close()
	got, err := exec.Command(path, "version").Output()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(got), "lifeboat "+version) {
		t.Errorf("`%s version` in the image says %q, want %s stamped by .ko.yaml's ldflags", name, got, version)
	}
	return path
}

func keys(m map[string][]byte) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func koBinary(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("LIFEBOAT_KO"); p != "" {
		return p
	}
	cmd := exec.Command("bash", filepath.Join(repoRoot(t), "hack", "ko.sh"))
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("installing ko (hack/ko.sh): %v", err)
	}
	return strings.TrimSpace(string(out))
}

// writeBaseImage writes a minimal linux/amd64 image (one layer with the
// nonroot user's passwd entry, user 65532 like distroless) as an OCI
// image layout at dir and returns its manifest digest.
func writeBaseImage(t *testing.T, dir string) string {
	t.Helper()
	var layerTar bytes.Buffer
	tw := tar.NewWriter(&layerTar)
	passwd := []byte("root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n")
	for _, h := range []*tar.Header{
		{Name: "etc/", Typeflag: tar.TypeDir, Mode: 0o755},
		{Name: "etc/passwd", Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(passwd))},
	} {
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			_, _ = tw.Write(passwd)
		}
	}
	_ = tw.Close()
	var layerGz bytes.Buffer
	zw := gzip.NewWriter(&layerGz)
	_, _ = zw.Write(layerTar.Bytes())
	_ = zw.Close()

	blob := func(b []byte) (string, int) {
		sum := sha256.Sum256(b)
		d := "sha256:" + hex.EncodeToString(sum[:])
		if err := os.MkdirAll(filepath.Join(dir, "blobs", "sha256"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "blobs", "sha256", d[len("sha256:"):]), b, 0o644); err != nil {
			t.Fatal(err)
		}
		return d, len(b)
	}
	diffSum := sha256.Sum256(layerTar.Bytes())
	config := mustJSON(t, map[string]any{
		"architecture": "amd64", "os": "linux",
		"config": map[string]any{"User": "65532", "WorkingDir": "/home/nonroot", "Env": []string{"PATH=/usr/local/bin:/usr/bin:/bin"}},
		"rootfs": map[string]any{"type": "layers", "diff_ids": []string{"sha256:" + hex.EncodeToString(diffSum[:])}},
	})
	configDigest, configSize := blob(config)
	layerDigest, layerSize := blob(layerGz.Bytes())
	manifest := mustJSON(t, map[string]any{
		"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
		"config": map[string]any{"mediaType": "application/vnd.oci.image.config.v1+json", "digest": configDigest, "size": configSize},
		"layers": []any{map[string]any{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": layerDigest, "size": layerSize}},
	})
	manifestDigest, manifestSize := blob(manifest)
	index := mustJSON(t, map[string]any{
		"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
		"manifests": []any{map[string]any{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": manifestDigest, "size": manifestSize}},
	})
	if err := os.WriteFile(filepath.Join(dir, "index.json"), index, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "oci-layout"), []byte(`{"imageLayoutVersion":"1.0.0"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	return manifestDigest
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// image is what the test reads from an image tarball.
type image struct {
	config struct {
		OS           string `json:"os"`
		Architecture string `json:"architecture"`
		Config       struct {
			Entrypoint []string `json:"Entrypoint"`
			User       string   `json:"User"`
		} `json:"config"`
	}
	files map[string][]byte // path -> content, over all layers
}

// readImageTarball reads a `docker save`-format tarball (what ko --tarball
// writes): manifest.json, the config and the layers.
func readImageTarball(t *testing.T, path string) image {
	t.Helper()
	entries := map[string][]byte{}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		entries[h.Name] = b
	}
	var manifest []struct {
		Config string   `json:"Config"`
		Layers []string `json:"Layers"`
	}
	if err := json.Unmarshal(entries["manifest.json"], &manifest); err != nil || len(manifest) != 1 {
		t.Fatalf("manifest.json: %v (%d images)", err, len(manifest))
	}
	var img image
	if err := json.Unmarshal(entries[manifest[0].Config], &img.config); err != nil {
		t.Fatalf("config %s: %v", manifest[0].Config, err)
	}
	img.files = map[string][]byte{}
	for _, l := range manifest[0].Layers {
		zr, err := gzip.NewReader(bytes.NewReader(entries[l]))
		if err != nil {
			t.Fatalf("layer %s: %v", l, err)
		}
		lr := tar.NewReader(zr)
		for {
			h, err := lr.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("layer %s: %v", l, err)
			}
			if h.Typeflag == tar.TypeReg {
				b, err := io.ReadAll(lr)
				if err != nil {
					t.Fatal(err)
				}
				img.files[strings.TrimPrefix(h.Name, "/")] = b
			}
		}
	}
	return img
}
