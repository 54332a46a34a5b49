package kube

import (
	"testing"

	"k8s.io/client-go/rest"
)

// TestAPIGroupsShareOneRateLimiter: like client-go's clientset, the API
// groups draw on one QPS/burst budget, so --kube-api-qps bounds the
// agent's requests as a whole, not per group.
func TestAPIGroupsShareOneRateLimiter(t *testing.T) {
	api, err := NewForConfig(&rest.Config{Host: "https://127.0.0.1:6443", QPS: 50, Burst: 150})
	if err != nil {
		t.Fatal(err)
	}
	c := api.(*client)
	shared := c.core.GetRateLimiter()
	if shared == nil {
		t.Fatal("no rate limiter")
	}
	for name, rc := range map[string]rest.Interface{"apps": c.apps, "policy": c.policy, "coordination": c.coordination, "storage": c.storage} {
		if rc.GetRateLimiter() != shared {
			t.Errorf("%s has its own rate limiter; want the one core uses", name)
		}
	}
	if shared.QPS() != 50 {
		t.Errorf("QPS = %v, want 50", shared.QPS())
	}
	if _, err := NewForConfig(&rest.Config{Host: "https://127.0.0.1:6443", QPS: 50}); err == nil {
		t.Error("QPS without burst accepted")
	}
}
