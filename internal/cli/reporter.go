package cli

import (
	"github.com/lifeboat-dev/lifeboat/internal/drain"
	"github.com/lifeboat-dev/lifeboat/internal/notice"
	"github.com/lifeboat-dev/lifeboat/internal/report"
)

// reporter is the running reporters as the one report.Reporter every mode
// reports through.
func (r *reporters) reporter() report.Reporter { return reporterOf{r} }

type reporterOf struct{ r *reporters }

func (x reporterOf) Observe(e drain.Event) { x.r.observer().Observe(e) }

func (x reporterOf) NoticeReceived(n notice.Notice) { x.r.noticeReceived(n) }

func (x reporterOf) Finished(n notice.Notice, f report.Finish) {
	if f.Kind == report.FinishAcknowledged && f.Err == nil {
		x.r.acknowledged(n)
	}
}
