package metrics

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestAtRiskReplacesANoticesSeries(t *testing.T) {
	m := New("test")
	a := NewAtRisk(m)
	at := time.Unix(1_800_000_000, 0)
	a.SetAssessment("30s", map[[2]string]int{{"pdb-blocks", "shop"}: 2, {"single-replica", "db"}: 1}, []NodeFit{{Node: "n1", Fits: false, ExpectedSeconds: 28}})
	a.SetAssessment("2m", map[[2]string]int{{"evict-never", "shop"}: 1}, []NodeFit{{Node: "n1", Fits: true, ExpectedSeconds: 28}})
	a.Refreshed(RefreshTimer, at)
	// A later assessment of 30s in which db's pod is no longer at risk.
	a.SetAssessment("30s", map[[2]string]int{{"pdb-blocks", "shop"}: 1}, []NodeFit{{Node: "n1", Fits: true, ExpectedSeconds: 12}})
	a.Refreshed(RefreshChange, at.Add(time.Second))
	want := `
# HELP lifeboat_pods_at_risk Pods that would not get a graceful, PDB-respecting exit if their node got a notice of this length now, by reason code, namespace and notice.
# TYPE lifeboat_pods_at_risk gauge
lifeboat_pods_at_risk{namespace="shop",notice="2m",reason="evict-never"} 1
lifeboat_pods_at_risk{namespace="shop",notice="30s",reason="pdb-blocks"} 1
# HELP lifeboat_node_drain_fits 1 when the node's expected drain fits a notice of this length (every removed pod leaves gracefully in time), else 0.
# TYPE lifeboat_node_drain_fits gauge
lifeboat_node_drain_fits{node="n1",notice="2m"} 1
lifeboat_node_drain_fits{node="n1",notice="30s"} 1
# HELP lifeboat_plan_refreshes_total At-risk assessments by trigger (timer, change).
# TYPE lifeboat_plan_refreshes_total counter
lifeboat_plan_refreshes_total{trigger="change"} 1
lifeboat_plan_refreshes_total{trigger="timer"} 1
`
	if err := testutil.GatherAndCompare(m.Registry, strings.NewReader(want),
		"lifeboat_pods_at_risk", "lifeboat_node_drain_fits", "lifeboat_plan_refreshes_total"); err != nil {
		t.Error(err)
	}
	if got := testutil.ToFloat64(a.LastRefresh); got != float64(at.Add(time.Second).Unix()) {
		t.Errorf("last refresh %v", got)
	}
	var none *AtRisk
	none.SetAssessment("30s", nil, nil)
	none.Refreshed(RefreshTimer, at)
}
