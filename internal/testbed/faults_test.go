//go:build linux

package testbed

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// TestKillAndRestartAPIServer: while kube-apiserver is killed the client
// fails; once it is started again the client works, the objects written
// before are still there, and the other components (kwok among them) carry
// on.
func TestKillAndRestartAPIServer(t *testing.T) {
	c := StartIsolated(t)
	ctx := context.Background()
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "survivor"}, Data: map[string]string{"k": "v"}}
	if _, err := c.Client.CoreV1().ConfigMaps("default").Create(ctx, cm, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	c.KillAPIServer(t)
	short, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	_, err := c.Client.CoreV1().ConfigMaps("default").Get(short, "survivor", metav1.GetOptions{})
	if err == nil {
		t.Fatal("GET succeeded with kube-apiserver killed")
	}
	var status apierrors.APIStatus
	if errors.As(err, &status) {
		t.Fatalf("GET with kube-apiserver killed gave an API status %v, want a connection error", status.Status())
	}

	c.StartAPIServer(t)
	got, err := c.Client.CoreV1().ConfigMaps("default").Get(ctx, "survivor", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("GET after the restart: %v", err)
	}
	if got.Data["k"] != "v" {
		t.Errorf("config map after the restart: %v, want the one written before", got.Data)
	}
	// kwok, the scheduler and the controllers reconnect: a new node becomes
	// Ready and runs a pod.
	ns := c.Namespace(t)
	node := c.AddNode(t, UniqueName("after"))
	if _, err := c.Client.CoreV1().Pods(ns).Create(ctx, Pod(ns, "p", node.Name), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	c.Eventually(t, 60*time.Second, func() (bool, error) {
		n, err := c.ReadyPods(ctx, ns, "app=p")
		return n == 1, err
	})
}

// recordingTB captures Errorf calls, to test a checker's verdict.
type recordingTB struct {
	testing.TB
	errors []string
}

func (r *recordingTB) Helper() {}

func (r *recordingTB) Errorf(format string, args ...any) {
	r.errors = append(r.errors, fmt.Sprintf(format, args...))
}

// TestCordonWatch: the watch passes a node that stays cordoned and fails one
// that is uncordoned after it was seen cordoned.
func TestCordonWatch(t *testing.T) {
	c := Get(t)
	ctx := context.Background()
	node := c.AddNode(t, UniqueName("watched")).Name
	setUnschedulable := func(v bool) {
		t.Helper()
		patch := fmt.Appendf(nil, `{"spec":{"unschedulable":%t}}`, v)
		if _, err := c.Client.CoreV1().Nodes().Patch(ctx, node, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	seen := func(w *CordonWatch, cond func() bool) {
		t.Helper()
		c.Eventually(t, 30*time.Second, func() (bool, error) {
			w.mu.Lock()
			defer w.mu.Unlock()
			return cond(), nil
		})
	}

	w := c.WatchCordon(t, node)
	setUnschedulable(true)
	seen(w, func() bool { return w.cordoned })
	cordoned := time.Now()
	seen(w, func() bool { return w.last.After(cordoned) })
	w.Stop()
	ok := &recordingTB{TB: t}
	w.Check(ok, cordoned)
	if len(ok.errors) != 0 {
		t.Errorf("a node that stayed cordoned failed the check: %v", ok.errors)
	}

	w = c.WatchCordon(t, node)
	seen(w, func() bool { return w.cordoned })
	setUnschedulable(false)
	seen(w, func() bool { return len(w.uncordoned) > 0 })
	w.Stop()
	bad := &recordingTB{TB: t}
	w.Check(bad, time.Time{})
	if len(bad.errors) != 1 || !strings.Contains(bad.errors[0], "schedulable") {
		t.Errorf("an uncordoned node: check reported %v, want one error about it", bad.errors)
	}
}
