package aws

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	awsemu "github.com/lifeboat-dev/lifeboat/internal/emulate/aws"
	"github.com/lifeboat-dev/lifeboat/internal/notice"
)

func TestEarlyRenewalShortensGrantedTokenLifetime(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set(tokenTTLHeader, r.Header.Get(tokenTTLHeader))
	}))
	defer srv.Close()
	cases := []struct {
		method, path, granted, want string
	}{
		{http.MethodPut, "/latest/api/token", "21600", "21540"}, // capped at 60 s early
		{http.MethodPut, "/latest/api/token", "300", "270"},     // a tenth early
		{http.MethodPut, "/latest/api/token", "5", "4"},         // at least 1 s early
		{http.MethodPut, "/latest/api/token", "1", "1"},         // nothing left to shorten
		{http.MethodGet, "/latest/meta-data/spot/instance-action", "300", "300"},
	}
	for _, tc := range cases {
		req, err := http.NewRequestWithContext(context.Background(), tc.method, srv.URL+tc.path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set(tokenTTLHeader, tc.granted)
		resp, err := earlyRenewal{next: srv.Client()}.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if got := resp.Header.Get(tokenTTLHeader); got != tc.want {
			t.Errorf("%s %s granted %s: SDK sees %s, want %s", tc.method, tc.path, tc.granted, got, tc.want)
		}
	}
}

// TestTokensAreRenewedBeforeIMDSExpiresThem polls an emulator that grants
// 2-second tokens and whose clock runs 20% fast (latency and skew between
// IMDS and the node): the source renews each token in time, so IMDS never
// answers 401.
func TestTokensAreRenewedBeforeIMDSExpiresThem(t *testing.T) {
	emu := awsemu.New(awsemu.Options{TokenTTLMax: 2 * time.Second, Log: slog.New(slog.DiscardHandler), Clock: fastClock{start: time.Now()}})
	var mu sync.Mutex
	status := map[int]int{}
	puts := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &statusRecorder{ResponseWriter: w, code: http.StatusOK}
		emu.ServeHTTP(rec, r)
		mu.Lock()
		status[rec.code]++
		if r.Method == http.MethodPut {
			puts++
		}
		mu.Unlock()
	}))
	defer srv.Close()
	src, err := New(Config{
		Endpoint: srv.URL, SpotInterval: 200 * time.Millisecond, ASGInterval: -1, EventsInterval: -1,
		Log: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = src.Run(ctx, make(chan notice.Notice, 1))
	mu.Lock()
	defer mu.Unlock()
	if status[http.StatusUnauthorized] != 0 {
		t.Errorf("IMDS answered 401 %d times: tokens were used until they expired (statuses %v)", status[http.StatusUnauthorized], status)
	}
	if puts < 3 {
		t.Errorf("only %d token requests in 5 s of 2-second tokens", puts)
	}
}

type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.code = code
	s.ResponseWriter.WriteHeader(code)
}

// fastClock runs 20% faster than real time.
type fastClock struct{ start time.Time }

func (f fastClock) Now() time.Time                  { return f.start.Add(time.Since(f.start) * 12 / 10) }
func (f fastClock) Since(t time.Time) time.Duration { return f.Now().Sub(t) }
