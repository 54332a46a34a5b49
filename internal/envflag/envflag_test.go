package envflag

import (
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

func TestApply(t *testing.T) {
	type flags struct {
		timeout time.Duration
		force   bool
		grace   int64
		names   []string
		url     string
	}
	cases := []struct {
		name    string
		args    []string
		env     map[string]string
		want    flags
		wantErr string
	}{
		{"defaults", nil, nil, flags{grace: -1}, ""},
		{"env sets every kind of flag", nil, map[string]string{
			"LIFEBOAT_TIMEOUT": "2m", "LIFEBOAT_FORCE": "true", "LIFEBOAT_GRACE_PERIOD": "5",
			"LIFEBOAT_NAMES": "a, b", "LIFEBOAT_WEBHOOK_URL": "https://x",
		}, flags{timeout: 2 * time.Minute, force: true, grace: 5, names: []string{"a", "b"}, url: "https://x"}, ""},
		{"flag wins over env", []string{"--timeout=1s", "--force=false", "--names=c", "--grace-period=7"}, map[string]string{
			"LIFEBOAT_TIMEOUT": "2m", "LIFEBOAT_FORCE": "true", "LIFEBOAT_NAMES": "a,b", "LIFEBOAT_GRACE_PERIOD": "5",
		}, flags{timeout: time.Second, grace: 7, names: []string{"c"}}, ""},
		{"bad env names variable and flag", nil, map[string]string{"LIFEBOAT_TIMEOUT": "soon"}, flags{}, "LIFEBOAT_TIMEOUT (flag --timeout)"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var got flags
			got.grace = -1
			fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
			fs.DurationVar(&got.timeout, "timeout", 0, "")
			fs.BoolVar(&got.force, "force", false, "")
			fs.Int64Var(&got.grace, "grace-period", -1, "")
			fs.StringSliceVar(&got.names, "names", nil, "")
			fs.StringVar(&got.url, "webhook-url", "", "")
			if err := fs.Parse(tc.args); err != nil {
				t.Fatal(err)
			}
			err := Apply(fs, func(k string) (string, bool) { v, ok := tc.env[k]; return v, ok })
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want it to mention %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.timeout != tc.want.timeout || got.force != tc.want.force || got.grace != tc.want.grace ||
				strings.Join(got.names, ",") != strings.Join(tc.want.names, ",") || got.url != tc.want.url {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestName(t *testing.T) {
	if got := Name("delete-emptydir-data"); got != "LIFEBOAT_DELETE_EMPTYDIR_DATA" {
		t.Errorf("Name = %s", got)
	}
}
