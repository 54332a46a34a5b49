package metrics

import (
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lifeboat-dev/lifeboat/internal/report"
)

// Results of lifeboat_notice_finishes_total besides a lifecycle action's
// own result (lower-cased: "continue", "abandon").
const (
	// FinishOK: the platform was told (acknowledged, released).
	FinishOK = "ok"
	// FinishError: telling the platform failed for good.
	FinishError = "error"
)

// newFinishes is lifeboat_notice_finishes_total.
func newFinishes() *prometheus.CounterVec {
	return counterVec("notice_finishes_total",
		"Notices lifeboat finished, by how (done, acknowledged, hook-completed, released) and result (ok, error, or the lifecycle action result: continue, abandon).",
		"finish", "result")
}

// FinishResult is the result label of a finish: FinishError when it
// failed, the lower-cased lifecycle action result when there is one, else
// FinishOK.
func FinishResult(f report.Finish) string {
	switch {
	case f.Err != nil:
		return FinishError
	case f.Result != "":
		return strings.ToLower(f.Result)
	default:
		return FinishOK
	}
}

// finish counts one finished notice.
func (m *Metrics) finish(f report.Finish) {
	if m == nil {
		return
	}
	m.NoticeFinishes.WithLabelValues(string(f.Kind), FinishResult(f)).Inc()
}
