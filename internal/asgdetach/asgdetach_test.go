package asgdetach_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"

	"github.com/lifeboat-dev/lifeboat/internal/asgdetach"
	"github.com/lifeboat-dev/lifeboat/internal/awsfake"
	"github.com/lifeboat-dev/lifeboat/internal/logging"
	"github.com/lifeboat-dev/lifeboat/internal/notice"
)

// setup serves the fake Auto Scaling API and records the raw query of
// every request, so the test can read what the SDK sent.
func setup(t *testing.T) (*awsfake.Server, *autoscaling.Client, func() []url.Values) {
	t.Helper()
	fake := awsfake.New(nil)
	var mu sync.Mutex
	var forms []url.Values
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		mu.Lock()
		forms = append(forms, r.PostForm)
		mu.Unlock()
		fake.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	c := autoscaling.NewFromConfig(aws.Config{
		Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", ""),
		BaseEndpoint: aws.String(srv.URL), RetryMaxAttempts: 1,
	})
	return fake, c, func() []url.Values { mu.Lock(); defer mu.Unlock(); return append([]url.Values(nil), forms...) }
}

func TestDetachKeepsTheDesiredCapacity(t *testing.T) {
	fake, c, forms := setup(t)
	fake.AutoScaling.AddGroup(awsfake.Group{Name: "nodes", Desired: 3, Instances: []string{"i-1", "i-2", "i-3"}})
	res, err := asgdetach.Detach(context.Background(), c, "i-2", "")
	if err != nil {
		t.Fatal(err)
	}
	if !res.Detached || res.Group != "nodes" || res.ActivityID == "" {
		t.Fatalf("result = %+v", res)
	}
	g, _ := fake.AutoScaling.Group("nodes")
	if g.Desired != 3 || g.Replacements != 1 || len(g.Instances) != 2 || g.Detached[0] != "i-2" {
		t.Fatalf("group after detach = %+v: want desired 3 kept and a replacement", g)
	}
	sent := forms()
	last := sent[len(sent)-1]
	if last.Get("Action") != "DetachInstances" || last.Get("ShouldDecrementDesiredCapacity") != "false" ||
		last.Get("InstanceIds.member.1") != "i-2" || last.Get("AutoScalingGroupName") != "nodes" {
		t.Errorf("DetachInstances request = %v", last)
	}
	// Again (a second notice, a restart): nothing to do, no error.
	if res, err := asgdetach.Detach(context.Background(), c, "i-2", ""); err != nil || res.Detached {
		t.Errorf("second detach by lookup = %+v, %v", res, err)
	}
	if res, err := asgdetach.Detach(context.Background(), c, "i-2", "nodes"); err != nil || res.Detached || res.Group != "nodes" {
		t.Errorf("second detach with the group = %+v, %v", res, err)
	}
}

func TestInstanceOutsideAnyGroupAndErrors(t *testing.T) {
	fake, c, _ := setup(t)
	if res, err := asgdetach.Detach(context.Background(), c, "i-lonely", ""); err != nil || res.Detached || res.Group != "" {
		t.Errorf("instance in no group = %+v, %v", res, err)
	}
	_, err := asgdetach.Detach(context.Background(), c, "i-1", "no-such-group")
	var de *asgdetach.Error
	if !errors.As(err, &de) || de.Op != "detach" || de.Group != "no-such-group" {
		t.Errorf("unknown group: %v, want an *asgdetach.Error", err)
	}
	if _, err := asgdetach.Detach(context.Background(), c, "", "nodes"); err == nil {
		t.Error("empty instance ID accepted")
	}
	_ = fake
}

// fakeSource sends the given notices, then waits for ctx.
type fakeSource struct{ notices []notice.Notice }

func (f *fakeSource) Name() string { return "aws" }

func (f *fakeSource) Run(ctx context.Context, out chan<- notice.Notice) error {
	for _, n := range f.notices {
		select {
		case out <- n:
		case <-ctx.Done():
			return nil
		}
	}
	<-ctx.Done()
	return nil
}

func TestOnSpotDetachesOncePerInstanceInTheBackground(t *testing.T) {
	fake, c, forms := setup(t)
	fake.AutoScaling.AddGroup(awsfake.Group{Name: "nodes", Desired: 2, Instances: []string{"i-1", "i-2"}})
	src := asgdetach.OnSpot(&fakeSource{notices: []notice.Notice{
		{ID: "reb", Kind: notice.KindRebalance, InstanceID: "i-2"},
		{ID: "spot-1", Kind: notice.KindSpotInterruption, InstanceID: "i-1"},
		{ID: "spot-1b", Kind: notice.KindSpotInterruption, InstanceID: "i-1"},
	}}, c, logging.Discard(), nil)
	if src.Name() != "aws" {
		t.Errorf("Name = %q", src.Name())
	}
	out := make(chan notice.Notice, 8)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx, out) }()
	for i := range 3 {
		select {
		case <-out:
		case <-time.After(10 * time.Second):
			t.Fatalf("notice %d not forwarded", i)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if g, _ := fake.AutoScaling.Group("nodes"); len(g.Detached) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("i-1 not detached")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	g, _ := fake.AutoScaling.Group("nodes")
	detaches := 0
	for _, f := range forms() {
		if f.Get("Action") == "DetachInstances" {
			detaches++
		}
	}
	if g.Desired != 2 || g.Detached[0] != "i-1" || detaches != 1 {
		t.Errorf("group %+v after %d DetachInstances calls: want i-1 detached once, desired 2 kept, i-2 (rebalance) left", g, detaches)
	}
	if _, ok := src.(notice.Readier); !ok {
		t.Error("the wrapper hides readiness")
	}
}
