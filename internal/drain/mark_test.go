package drain

import (
	"errors"
	"reflect"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

var (
	t0       = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	drainT   = corev1.Taint{Key: "lifeboat.dev/draining", Value: "x", Effect: corev1.TaintEffectNoSchedule}
	atRiskT  = corev1.Taint{Key: TaintAtRisk, Value: "true", Effect: corev1.TaintEffectPreferNoSchedule}
	adminT   = corev1.Taint{Key: "team", Value: "a", Effect: corev1.TaintEffectNoSchedule}
	testBoot = "boot-1"
)

type nodeOpt func(*corev1.Node)

func testNode(opts ...nodeOpt) *corev1.Node {
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1", Labels: map[string]string{}}}
	n.Status.NodeInfo.BootID = testBoot
	for _, o := range opts {
		o(n)
	}
	return n
}

func adminCordoned(n *corev1.Node) { n.Spec.Unschedulable = true }

func annotated(v string) nodeOpt {
	return func(n *corev1.Node) { n.Annotations = map[string]string{AnnotationCordon: v} }
}

func cordonReq(id string, taint *corev1.Taint) markRequest {
	return newMarkRequest(Options{NoticeID: id, NoticeKind: "kind-" + id, Reason: "reason " + id, Taint: taint, ExcludeFromLoadBalancers: true}, true, t0)
}

func taintReq(id string, taint *corev1.Taint) markRequest {
	return newMarkRequest(Options{NoticeID: id, Reason: "reason " + id, Taint: taint, ExcludeFromLoadBalancers: true}, false, t0.Add(time.Minute))
}

func mustMark(t *testing.T, n *corev1.Node) *Mark {
	t.Helper()
	m, ok, err := ReadMark(n)
	if err != nil || !ok {
		t.Fatalf("ReadMark = %+v, %v, %v; want a mark", m, ok, err)
	}
	return m
}

func ids(m *Mark) []string {
	if m == nil {
		return nil
	}
	var out []string
	for _, e := range m.Notices {
		out = append(out, e.ID)
	}
	return out
}

func taintKeys(ts []corev1.Taint) []string {
	var out []string
	for _, t := range ts {
		out = append(out, t.Key)
	}
	return out
}

func TestReadMarkLegacyFormat(t *testing.T) {
	cases := []struct {
		name       string
		node       *corev1.Node
		wantNotice MarkNotice
		wantTaints []string
	}{
		{
			name:       "agent drain",
			node:       testNode(adminCordoned, annotated(`{"at":"2026-12-01T10:00:00Z","reason":"spot","noticeID":"aws-spot/1","noticeKind":"spot-interruption","unschedulable":true,"taint":{"key":"lifeboat.dev/draining","effect":"NoSchedule"},"excludeFromLoadBalancers":true,"bootID":"b0"}`)),
			wantNotice: MarkNotice{ID: "aws-spot/1", Kind: "spot-interruption", Reason: "spot", At: t0, BootID: "b0", Cordon: true},
			wantTaints: []string{"lifeboat.dev/draining"},
		},
		{
			name:       "rebalance taint only",
			node:       testNode(annotated(`{"at":"2026-12-01T10:00:00Z","reason":"rebalance","noticeID":"r1","noticeKind":"rebalance-recommendation","unschedulable":false,"taint":{"key":"lifeboat.dev/at-risk","effect":"PreferNoSchedule"}}`)),
			wantNotice: MarkNotice{ID: "r1", Kind: "rebalance-recommendation", Reason: "rebalance", At: t0},
			wantTaints: []string{TaintAtRisk},
		},
		{
			name:       "manual drain without an ID",
			node:       testNode(adminCordoned, annotated(`{"at":"2026-12-01T10:00:00Z","reason":"lifeboat drain","noticeKind":"manual","unschedulable":true}`)),
			wantNotice: MarkNotice{ID: ManualNoticeID, Kind: "manual", Reason: "lifeboat drain", At: t0, Cordon: true},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := mustMark(t, tc.node)
			if len(m.Notices) != 1 || !reflect.DeepEqual(m.Notices[0], tc.wantNotice) {
				t.Errorf("notices = %+v, want [%+v]", m.Notices, tc.wantNotice)
			}
			if got := taintKeys(m.Taints); !reflect.DeepEqual(got, tc.wantTaints) {
				t.Errorf("taints = %v, want %v", got, tc.wantTaints)
			}
			if e, ok := m.Notice(tc.wantNotice.ID); !ok || e.ID != tc.wantNotice.ID {
				t.Errorf("Notice(%q) = %+v, %v", tc.wantNotice.ID, e, ok)
			}
			// Releasing the only notice of an old mark undoes it entirely.
			n := tc.node.DeepCopy()
			left, _, err := releaseMark(n, tc.wantNotice.ID)
			if err != nil || left != nil || n.Annotations[AnnotationCordon] != "" {
				t.Errorf("release of the legacy notice left %+v, %v, annotation %q", left, err, n.Annotations[AnnotationCordon])
			}
		})
	}
}

func TestReadMarkRoundTrip(t *testing.T) {
	n := testNode()
	for _, req := range []markRequest{cordonReq("a", &drainT), taintReq("b", &atRiskT), cordonReq("a", nil)} {
		if _, err := applyMark(n, req); err != nil {
			t.Fatal(err)
		}
	}
	m := mustMark(t, n)
	again := testNode()
	if err := writeMark(again, m); err != nil {
		t.Fatal(err)
	}
	if got := mustMark(t, again); !reflect.DeepEqual(got, m) {
		t.Errorf("round trip changed the mark:\n got %+v\nwant %+v", got, m)
	}
	if _, _, err := ReadMark(testNode(annotated("{not json"))); err == nil {
		t.Error("a malformed annotation was read without an error")
	}
}

func TestApplyMark(t *testing.T) {
	cases := []struct {
		name         string
		node         *corev1.Node
		reqs         []markRequest
		wantCordoned bool // by the last request
		wantIDs      []string
		wantUnsched  bool // Mark.Unschedulable
		wantLB       bool
		wantTaints   []string // Mark.Taints
	}{
		{"fresh cordon", testNode(), []markRequest{cordonReq("a", &drainT)}, true, []string{"a"}, true, true, []string{drainT.Key}},
		{"admin cordon first", testNode(adminCordoned), []markRequest{cordonReq("a", nil)}, false, []string{"a"}, false, true, nil},
		{"second notice does not flip", testNode(), []markRequest{cordonReq("a", nil), cordonReq("b", nil)}, false, []string{"a", "b"}, true, true, nil},
		{"same notice updates its entry", testNode(), []markRequest{taintReq("a", &atRiskT), cordonReq("a", nil)}, true, []string{"a"}, true, true, []string{TaintAtRisk}},
		{"taint only never cordons or labels", testNode(), []markRequest{taintReq("a", &atRiskT)}, false, []string{"a"}, false, false, []string{TaintAtRisk}},
		{"an admin's taint is not claimed", testNode(func(n *corev1.Node) { n.Spec.Taints = []corev1.Taint{drainT} }), []markRequest{cordonReq("a", &drainT)}, true, []string{"a"}, true, true, nil},
		{"manual without ID", testNode(), []markRequest{newMarkRequest(Options{Reason: "by hand"}, true, t0)}, true, []string{ManualNoticeID}, true, false, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			n := tc.node
			var ch markChange
			for _, r := range tc.reqs {
				var err error
				if ch, err = applyMark(n, r); err != nil {
					t.Fatal(err)
				}
			}
			m := mustMark(t, n)
			if ch.cordoned != tc.wantCordoned || !n.Spec.Unschedulable && tc.reqs[len(tc.reqs)-1].cordon {
				t.Errorf("cordoned = %v (node unschedulable %v), want %v", ch.cordoned, n.Spec.Unschedulable, tc.wantCordoned)
			}
			if got := ids(m); !reflect.DeepEqual(got, tc.wantIDs) {
				t.Errorf("notices = %v, want %v", got, tc.wantIDs)
			}
			if m.Unschedulable != tc.wantUnsched || m.ExcludeFromLoadBalancers != tc.wantLB {
				t.Errorf("mark unschedulable=%v lb=%v, want %v %v", m.Unschedulable, m.ExcludeFromLoadBalancers, tc.wantUnsched, tc.wantLB)
			}
			if got := taintKeys(m.Taints); !reflect.DeepEqual(got, tc.wantTaints) {
				t.Errorf("mark taints = %v, want %v", got, tc.wantTaints)
			}
			if e, _ := m.Notice(tc.wantIDs[0]); e.BootID != testBoot || e.At.IsZero() {
				t.Errorf("entry %+v lacks its boot ID or time", e)
			}
		})
	}
}

// TestOverlappingNotices: Cordon(A), Taint(B), Release(A) undoes the cordon
// (B is taint-only) but keeps the taints; Release(B) removes everything;
// an admin's cordon, taint and label are never touched.
func TestOverlappingNotices(t *testing.T) {
	for _, admin := range []bool{false, true} {
		name := "lifeboat cordon"
		if admin {
			name = "admin cordon first"
		}
		t.Run(name, func(t *testing.T) {
			n := testNode(func(n *corev1.Node) {
				n.Spec.Unschedulable = admin
				n.Spec.Taints = []corev1.Taint{adminT}
			})
			for _, r := range []markRequest{cordonReq("A", &drainT), taintReq("B", &atRiskT)} {
				if _, err := applyMark(n, r); err != nil {
					t.Fatal(err)
				}
			}
			left, uncordoned, err := releaseMark(n, "A")
			if err != nil {
				t.Fatal(err)
			}
			if got := ids(left); !reflect.DeepEqual(got, []string{"B"}) {
				t.Errorf("after Release(A) notices = %v, want [B]", got)
			}
			if n.Spec.Unschedulable != admin || uncordoned == admin {
				t.Errorf("after Release(A) unschedulable = %v (uncordoned %v); want lifeboat's cordon undone, an admin's kept", n.Spec.Unschedulable, uncordoned)
			}
			if _, ok := n.Labels[LabelExcludeFromLB]; ok {
				t.Error("after Release(A) the load-balancer label is still there")
			}
			if got := taintKeys(n.Spec.Taints); !reflect.DeepEqual(got, []string{adminT.Key, drainT.Key, TaintAtRisk}) {
				t.Errorf("after Release(A) taints = %v, want all kept while B is in force", got)
			}
			if left.Reason != "reason B" {
				t.Errorf("reason = %q, want B's", left.Reason)
			}
			left, _, err = releaseMark(n, "B")
			if err != nil || left != nil {
				t.Fatalf("Release(B) = %+v, %v; want no mark left", left, err)
			}
			if got := taintKeys(n.Spec.Taints); !reflect.DeepEqual(got, []string{adminT.Key}) || n.Spec.Unschedulable != admin || n.Annotations[AnnotationCordon] != "" {
				t.Errorf("after Release(B): taints %v unschedulable %v annotation %q", got, n.Spec.Unschedulable, n.Annotations[AnnotationCordon])
			}
			if left, _, err := releaseMark(n, "B"); err != nil || left != nil {
				t.Errorf("second Release(B) = %+v, %v; want a no-op", left, err)
			}
		})
	}
}

func TestSameNoticeUpdatesItsEntry(t *testing.T) {
	n := testNode()
	first := newMarkRequest(Options{NoticeID: "m1", NoticeKind: "host-maintenance", Reason: "maintenance", Deadline: t0.Add(time.Hour)}, false, t0)
	later := newMarkRequest(Options{NoticeID: "m1", Deadline: t0.Add(30 * time.Minute)}, true, t0.Add(time.Minute))
	again := newMarkRequest(Options{NoticeID: "m1"}, false, t0.Add(2*time.Minute))
	for _, r := range []markRequest{first, later, again} {
		if _, err := applyMark(n, r); err != nil {
			t.Fatal(err)
		}
	}
	want := MarkNotice{ID: "m1", Kind: "host-maintenance", Reason: "maintenance", Deadline: t0.Add(30 * time.Minute), At: t0, BootID: testBoot, Cordon: true}
	if m := mustMark(t, n); len(m.Notices) != 1 || !reflect.DeepEqual(m.Notices[0], want) {
		t.Errorf("entry = %+v, want %+v", m.Notices, want)
	}
}

func TestReleaseKeepsCordonWhileAnotherCordonNotice(t *testing.T) {
	n := testNode()
	for _, r := range []markRequest{cordonReq("A", nil), cordonReq("B", nil)} {
		if _, err := applyMark(n, r); err != nil {
			t.Fatal(err)
		}
	}
	left, uncordoned, err := releaseMark(n, "A")
	if err != nil || uncordoned || !n.Spec.Unschedulable || !left.Unschedulable {
		t.Errorf("Release(A) with B in force: uncordoned=%v unschedulable=%v mark=%+v err=%v", uncordoned, n.Spec.Unschedulable, left, err)
	}
	if _, ok := n.Labels[LabelExcludeFromLB]; !ok {
		t.Error("the load-balancer label went while B still wants the cordon")
	}
}

// TestRevertRestoresPreImage: a refused drain restores exactly what it
// changed (D5), and never what other notices own.
func TestRevertRestoresPreImage(t *testing.T) {
	cases := []struct {
		name       string
		before     []markRequest // marks in place before the refused drain
		node       *corev1.Node
		concurrent []markRequest // marks added between the drain's cordon and its revert
		wantIDs    []string
		wantUnsch  bool
		wantTaints []string // on the node
		wantLB     bool
	}{
		{"fresh node", nil, testNode(), nil, nil, false, nil, false},
		{"another notice cordoned first", []markRequest{cordonReq("spot", &drainT)}, testNode(), nil, []string{"spot"}, true, []string{drainT.Key}, true},
		{"taint-only notice first", []markRequest{taintReq("rebalance", &atRiskT)}, testNode(), nil, []string{"rebalance"}, false, []string{TaintAtRisk}, false},
		{"admin cordon first", nil, testNode(adminCordoned), nil, nil, true, nil, false},
		{"a notice arrived meanwhile", nil, testNode(), []markRequest{cordonReq("spot", nil)}, []string{"spot"}, true, []string{drainT.Key}, true},
		{"same notice already in force", []markRequest{cordonReq(ManualNoticeID, nil)}, testNode(), nil, []string{ManualNoticeID}, true, nil, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			n := tc.node
			for _, r := range tc.before {
				if _, err := applyMark(n, r); err != nil {
					t.Fatal(err)
				}
			}
			pre := n.DeepCopy()
			ch, err := applyMark(n, newMarkRequest(Options{Reason: "lifeboat drain", Taint: &drainT, ExcludeFromLoadBalancers: true}, true, t0.Add(time.Hour)))
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range tc.concurrent {
				if _, err := applyMark(n, r); err != nil {
					t.Fatal(err)
				}
			}
			if err := revertMark(n, ch); err != nil {
				t.Fatal(err)
			}
			m, _, _ := ReadMark(n)
			if got := ids(m); !reflect.DeepEqual(got, tc.wantIDs) {
				t.Errorf("notices = %v, want %v", got, tc.wantIDs)
			}
			if n.Spec.Unschedulable != tc.wantUnsch {
				t.Errorf("unschedulable = %v, want %v", n.Spec.Unschedulable, tc.wantUnsch)
			}
			if got := taintKeys(n.Spec.Taints); !reflect.DeepEqual(got, tc.wantTaints) {
				t.Errorf("taints = %v, want %v", got, tc.wantTaints)
			}
			if _, ok := n.Labels[LabelExcludeFromLB]; ok != tc.wantLB {
				t.Errorf("load-balancer label = %v, want %v", ok, tc.wantLB)
			}
			if len(tc.concurrent) == 0 && !reflect.DeepEqual(pre.Annotations, n.Annotations) && len(tc.before) > 0 {
				t.Errorf("mark not restored:\n got %s\nwant %s", n.Annotations[AnnotationCordon], pre.Annotations[AnnotationCordon])
			}
		})
	}
}

// TestMarkClaim: the agent and queue mode acting on one cloud event (IDs a
// few seconds apart) — the first to mark the node claims it, the other gets
// a *ClaimedError and changes nothing; the same mode re-marking, a drain by
// hand and a different event are not claims.
func TestMarkClaim(t *testing.T) {
	req := func(id, by string) markRequest {
		r := cordonReq(id, nil)
		r.entry.By = by
		return r
	}
	n := testNode()
	if _, err := applyMark(n, req("spot-interruption/i-1/2026-12-01T10:02:00Z", "agent")); err != nil {
		t.Fatal(err)
	}
	before := n.Annotations[AnnotationCordon]
	_, err := applyMark(n, req("spot-interruption/i-1/2026-12-01T10:02:03Z", "queue"))
	var claimed *ClaimedError
	if !errors.As(err, &claimed) || claimed.By != "agent" || claimed.ClaimedID != "spot-interruption/i-1/2026-12-01T10:02:00Z" {
		t.Fatalf("queue marking the agent's event: err = %v, want a claim by the agent", err)
	}
	if n.Annotations[AnnotationCordon] != before {
		t.Fatalf("a refused claim changed the mark:\n%s\n%s", before, n.Annotations[AnnotationCordon])
	}
	for _, r := range []markRequest{
		req("spot-interruption/i-1/2026-12-01T10:02:00Z", "agent"), // the same mode again
		req("spot-interruption/i-1/2026-12-01T10:02:00Z", ""),      // a drain by hand
		req("spot-interruption/i-1/2026-12-01T11:30:00Z", "queue"), // a later interruption
		req("rebalance-recommendation/i-1/2026-12-01T10:00:00Z", "queue"),
	} {
		if _, err := applyMark(n, r); err != nil {
			t.Errorf("%s by %q: %v", r.entry.ID, r.entry.By, err)
		}
	}
}

// TestPodWave: lifeboat's own annotation, Karpenter's do-not-disrupt and
// cluster-autoscaler's safe-to-evict=false all mean "evict last"; critical
// pods go after them.
func TestPodWave(t *testing.T) {
	pod := func(ann map[string]string, priority string) *corev1.Pod {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Annotations: ann}}
		p.Spec.PriorityClassName = priority
		return p
	}
	cases := []struct {
		name string
		p    *corev1.Pod
		want wave
	}{
		{"ordinary", pod(nil, ""), waveOrdinary},
		{"lifeboat.dev/evict=last", pod(map[string]string{AnnotationEvict: "last"}, ""), waveLast},
		{"karpenter do-not-disrupt", pod(map[string]string{AnnotationKarpenterDoNotDisrupt: "true"}, ""), waveLast},
		{"safe-to-evict=false", pod(map[string]string{AnnotationSafeToEvict: "false"}, ""), waveLast},
		{"safe-to-evict=true", pod(map[string]string{AnnotationSafeToEvict: "true"}, ""), waveOrdinary},
		{"critical", pod(map[string]string{AnnotationKarpenterDoNotDisrupt: "true"}, "system-node-critical"), waveCritical},
	}
	for _, c := range cases {
		if got := podWave(c.p); got != c.want {
			t.Errorf("%s: wave %d, want %d", c.name, got, c.want)
		}
	}
}
