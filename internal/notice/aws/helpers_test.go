package aws

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	testclock "k8s.io/utils/clock/testing"

	awsemu "github.com/lifeboat-dev/lifeboat/internal/emulate/aws"
	"github.com/lifeboat-dev/lifeboat/internal/notice"
)

// patience bounds every wait for something that should happen soon; it is
// generous so a loaded 2-core machine does not make tests flaky.
const patience = 30 * time.Second

const testInstance = "i-0aaaabbbbccccdddd"

var emuStart = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)

// env is an emulated IMDS with request counting.
type env struct {
	emu   *awsemu.Server
	clock *testclock.FakeClock // the emulator's clock
	srv   *httptest.Server
	url   string

	mu       sync.Mutex
	requests map[string]int // "METHOD path" -> count
}

func newEnv(t testing.TB, o awsemu.Options) *env {
	t.Helper()
	e := &env{clock: testclock.NewFakeClock(emuStart), requests: map[string]int{}}
	o.Clock = e.clock
	if o.InstanceID == "" {
		o.InstanceID = testInstance
	}
	o.Log = slog.New(slog.DiscardHandler)
	e.emu = awsemu.New(o)
	e.srv = httptest.NewServer(e.handler())
	e.url = e.srv.URL
	t.Cleanup(func() {
		e.emu.Reset() // releases hanging requests
		e.srv.Close()
	})
	return e
}

func (e *env) handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.mu.Lock()
		e.requests[r.Method+" "+r.URL.Path]++
		e.mu.Unlock()
		e.emu.ServeHTTP(w, r)
	})
}

// count returns how many requests hit a metadata path (below /latest/meta-data/) or, with a method, any path.
func (e *env) count(key string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !strings.Contains(key, " ") {
		key = "GET " + awsemu.MetadataPrefix + key
	}
	return e.requests[key]
}

func (e *env) total() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := 0
	for _, c := range e.requests {
		n += c
	}
	return n
}

// kill closes the server so connections are refused.
func (e *env) kill() string {
	e.emu.Reset()
	addr := e.srv.Listener.Addr().String()
	e.srv.Close()
	return addr
}

// revive serves again on the address kill returned.
func (e *env) revive(t *testing.T, addr string) {
	t.Helper()
	var l net.Listener
	var err error
	for deadline := time.Now().Add(patience); ; time.Sleep(50 * time.Millisecond) {
		if l, err = net.Listen("tcp", addr); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("listen again on %s: %v", addr, err)
		}
	}
	e.srv = httptest.NewUnstartedServer(e.handler())
	_ = e.srv.Listener.Close()
	e.srv.Listener = l
	e.srv.Start()
}

// errCounter records Config.OnError calls.
type errCounter struct {
	mu sync.Mutex
	n  map[string]int
}

func (c *errCounter) add(reason string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == nil {
		c.n = map[string]int{}
	}
	c.n[reason]++
}

func (c *errCounter) get(reason string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[reason]
}

func (c *errCounter) total() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, v := range c.n {
		n += v
	}
	return n
}

// fastConfig polls every 20 ms and backs off to at most 200 ms.
func fastConfig(url string, errs *errCounter) Config {
	return Config{
		Endpoint:       url,
		NodeName:       "node-a",
		SpotInterval:   20 * time.Millisecond,
		ASGInterval:    20 * time.Millisecond,
		EventsInterval: 20 * time.Millisecond,
		MaxBackoff:     200 * time.Millisecond,
		Log:            testLog(),
		OnError:        errs.add,
	}
}

// run starts the source; it is stopped at cleanup, and Run must return nil.
func run(t *testing.T, cfg Config) <-chan notice.Notice {
	t.Helper()
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	out := make(chan notice.Notice, 16)
	var ret atomic.Value
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := s.Run(ctx, out); err != nil {
			ret.Store(err)
		}
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(patience):
			t.Error("Run did not return after its context ended")
		}
		if err := ret.Load(); err != nil {
			t.Errorf("Run returned %v, want nil", err)
		}
	})
	return out
}

// next waits for a notice.
func next(t *testing.T, ch <-chan notice.Notice) notice.Notice {
	t.Helper()
	select {
	case n := <-ch:
		return n
	case <-time.After(patience):
		t.Fatal("no notice")
		return notice.Notice{}
	}
}

// eventually waits for cond.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(patience); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// noMoreNotices lets the source read path `polls` more times and checks
// nothing else was sent.
func noMoreNotices(t *testing.T, e *env, ch <-chan notice.Notice, path string, polls int) {
	t.Helper()
	target := e.count(path) + polls
	eventually(t, "more polls of "+path, func() bool { return e.count(path) >= target })
	select {
	case n := <-ch:
		t.Fatalf("unexpected extra notice %+v", n)
	default:
	}
}

func post(t *testing.T, e *env, path, body string) {
	t.Helper()
	resp, err := http.Post(e.url+"/lifeboat/"+path, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusNoContent {
		t.Fatalf("POST %s: %d %s", path, resp.StatusCode, b)
	}
}

func testLog() *slog.Logger {
	if os.Getenv("LIFEBOAT_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}
