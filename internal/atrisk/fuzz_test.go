package atrisk

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/lifeboat-dev/lifeboat/internal/drain"
)

// FuzzAssessPod feeds Assess a pod and a budget read from arbitrary JSON
// (annotations, volumes, preStop hooks, owners, grace periods and budget
// statuses are state stored on objects that anyone may write) with a notice
// of any length: it must not panic, and every listed pod must carry known
// reasons, each explained, and every timeline step must end after it starts.
func FuzzAssessPod(f *testing.F) {
	f.Add([]byte(`{"metadata":{"name":"a","namespace":"ns","labels":{"app":"a"}},"spec":{"containers":[{"name":"c"}]}}`), []byte(`{}`), int64(30))
	f.Add([]byte(`{"metadata":{"name":"a","namespace":"ns","annotations":{"lifeboat.dev/evict":"never","karpenter.sh/do-not-disrupt":"true"}},"spec":{"terminationGracePeriodSeconds":90,"volumes":[{"name":"v","emptyDir":{}},{"name":"h","hostPath":{"path":"/x"}}]}}`), []byte(`{}`), int64(120))
	f.Add([]byte(`{"metadata":{"name":"a","namespace":"ns","labels":{"app":"a"},"ownerReferences":[{"kind":"ReplicaSet","name":"rs","uid":"u","controller":true}]},"spec":{"containers":[{"name":"c","lifecycle":{"preStop":{"exec":{"command":["/bin/sh","-c","sleep 99999999999999999999"]}}}}]}}`),
		[]byte(`{"metadata":{"name":"p","namespace":"ns"},"spec":{"selector":{"matchLabels":{"app":"a"}},"minAvailable":"150%"},"status":{"disruptionsAllowed":-3,"expectedPods":2}}`), int64(0))
	f.Add([]byte(`{"metadata":{"name":"a","namespace":"ns","labels":{"app":"a"}},"spec":{"terminationGracePeriodSeconds":-5,"priorityClassName":"system-node-critical"}}`),
		[]byte(`{"metadata":{"name":"p","namespace":"ns"},"spec":{"selector":{},"maxUnavailable":"bogus"},"status":{"disruptionsAllowed":2}}`), int64(-7))
	f.Fuzz(func(t *testing.T, podJSON, pdbJSON []byte, noticeSeconds int64) {
		var p corev1.Pod
		if json.Unmarshal(podJSON, &p) != nil {
			return
		}
		var b policyv1.PodDisruptionBudget
		if json.Unmarshal(pdbJSON, &b) != nil {
			return
		}
		p.Spec.NodeName = "n1"
		b.Namespace = p.Namespace
		sibling := p.DeepCopy()
		sibling.Name += "-2"
		c := &Cluster{
			Nodes: []*corev1.Node{{ObjectMeta: metav1.ObjectMeta{Name: "n1"}}},
			Pods:  []*corev1.Pod{&p, sibling},
			PDBs:  []*policyv1.PodDisruptionBudget{&b},
		}
		notice := time.Duration(noticeSeconds%100000) * time.Second
		r := Assess(c, nil, Options{Notice: notice, Drain: drain.Options{GracePeriodSeconds: -1}}, t0)
		for _, pr := range r.Pods {
			if len(pr.Reasons) == 0 || len(pr.Details) != len(pr.Reasons) {
				t.Fatalf("pod %+v: no reason, or a reason without details", pr)
			}
			for _, why := range pr.Reasons {
				if !slices.Contains(Reasons, why) {
					t.Fatalf("unknown reason %q", why)
				}
			}
		}
		for _, n := range r.Nodes {
			for _, s := range n.Timeline {
				if s.EndSeconds < s.StartSeconds || s.StartSeconds < 0 {
					t.Fatalf("step %+v ends before it starts", s)
				}
			}
		}
	})
}
