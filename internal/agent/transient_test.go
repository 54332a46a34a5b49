//go:build linux

package agent_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/lifeboat-dev/lifeboat/internal/agent"
	"github.com/lifeboat-dev/lifeboat/internal/drain"
	"github.com/lifeboat-dev/lifeboat/internal/kube"
	"github.com/lifeboat-dev/lifeboat/internal/logging"
	"github.com/lifeboat-dev/lifeboat/internal/notice"
	"github.com/lifeboat-dev/lifeboat/internal/testbed/faultproxy"
)

// TestTransientAPIErrorsAreRetried: one transient API failure at each step
// of a spot drain (the node read, the cordon patch, the pod list, the
// eviction, the handled record) no longer loses the notice: the agent
// retries until the node is drained and deleted before the deadline, and
// the node is never uncordoned on the way.
func TestTransientAPIErrorsAreRetried(t *testing.T) {
	cases := []struct {
		name  string
		rules func(node string) []faultproxy.Rule
	}{
		{"503 on the node read", func(node string) []faultproxy.Rule {
			return []faultproxy.Rule{{Match: faultproxy.Match{Method: http.MethodGet, Path: "^/api/v1/nodes/" + node + "$"}, Status: 503, Times: 3}}
		}},
		{"503 on the cordon patch", func(node string) []faultproxy.Rule {
			return []faultproxy.Rule{{Match: faultproxy.Match{Method: http.MethodPatch, Path: "^/api/v1/nodes/" + node + "$"}, Status: 503, Times: 2}}
		}},
		{"500 on the pod list", func(string) []faultproxy.Rule {
			return []faultproxy.Rule{{Match: faultproxy.Match{Method: http.MethodGet, Path: "^/api/v1/pods$", Query: "fieldSelector="}, Status: 500, Times: 2}}
		}},
		{"dropped connections on evictions", func(string) []faultproxy.Rule {
			return []faultproxy.Rule{{Match: faultproxy.Match{Method: http.MethodPost, Path: "/eviction$"}, Drop: true, Times: 3}}
		}},
		{"504 on the DaemonSet lookup", func(string) []faultproxy.Rule {
			return []faultproxy.Rule{{Match: faultproxy.Match{Method: http.MethodGet, Path: "/daemonsets/"}, Status: 504, Times: 2}}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			f.workload(3)
			f.daemonSetPod()
			proxy := faultproxy.New(t, f.c.Config)
			client, err := kube.NewForConfig(proxy.Config())
			if err != nil {
				t.Fatal(err)
			}
			src := &chanSource{ch: make(chan notice.Notice)}
			a := agent.New(agent.Config{
				Client: client, Node: f.node, Sources: []notice.Source{src}, Log: logging.Discard(), DeleteNode: true,
				Drainer: drain.New(client, drain.Config{Log: logging.Discard()}),
				Drain:   drain.Options{Force: true, DeleteEmptyDirData: true, GracePeriodSeconds: -1},
			})
			ctx, cancel := context.WithCancel(f.ctx)
			done := make(chan struct{})
			ready := make(chan struct{})
			go func() { defer close(done); _ = a.Run(ctx, func() { close(ready) }) }()
			defer func() { cancel(); <-done }()
			<-ready
			uncordoned := f.watchUncordon()
			var rules []*faultproxy.Rule
			for _, r := range tc.rules(f.node) {
				rules = append(rules, proxy.Inject(r))
			}
			deadline := time.Now().Add(90 * time.Second)
			src.ch <- notice.Notice{ID: "aws-spot/transient", Source: "test", Kind: notice.KindSpotInterruption, Deadline: deadline}
			f.c.Eventually(t, 60*time.Second, func() (bool, error) {
				_, err := f.getNode()
				return apierrors.IsNotFound(err), nil
			})
			if time.Now().After(deadline) {
				t.Error("node deleted after the deadline")
			}
			for i, r := range rules {
				if r.Hits() == 0 {
					t.Errorf("fault %d never hit: the test proves nothing", i)
				}
			}
			if uncordoned() {
				t.Error("the node was made schedulable again while the notice was in force")
			}
		})
	}
}

// daemonSetPod adds a pod owned by a DaemonSet, so the drain looks the
// DaemonSet up.
func (f *fixture) daemonSetPod() {
	f.t.Helper()
	labels := map[string]string{"app": "node-agent"}
	ds := &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Namespace: f.ns, Name: "node-agent"},
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					NodeSelector: map[string]string{"kubernetes.io/hostname": f.node},
					Containers:   []corev1.Container{{Name: "c", Image: "agent"}},
				},
			},
		},
	}
	if _, err := f.c.Client.AppsV1().DaemonSets(f.ns).Create(f.ctx, ds, metav1.CreateOptions{}); err != nil {
		f.t.Fatal(err)
	}
	f.c.Eventually(f.t, 60*time.Second, func() (bool, error) {
		n, err := f.c.ReadyPods(f.ctx, f.ns, "app=node-agent")
		return n == 1, err
	})
}

// watchUncordon reports whether the node was ever seen schedulable after
// the first time it was seen cordoned.
func (f *fixture) watchUncordon() func() bool {
	w, err := f.c.Client.CoreV1().Nodes().Watch(f.ctx, metav1.ListOptions{FieldSelector: "metadata.name=" + f.node})
	if err != nil {
		f.t.Fatal(err)
	}
	var cordoned, uncordoned bool
	stop := make(chan struct{})
	ended := make(chan struct{})
	go func() {
		defer close(ended)
		for {
			select {
			case ev, ok := <-w.ResultChan():
				if !ok {
					return
				}
				n, isNode := ev.Object.(*corev1.Node)
				if !isNode {
					continue
				}
				if n.Spec.Unschedulable {
					cordoned = true
				} else if cordoned {
					uncordoned = true
				}
			case <-stop:
				return
			}
		}
	}()
	return func() bool {
		w.Stop()
		close(stop)
		<-ended
		return uncordoned
	}
}
