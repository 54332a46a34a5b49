package report_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/lifeboat-dev/lifeboat/internal/drain"
	"github.com/lifeboat-dev/lifeboat/internal/kube/clientset"
	"github.com/lifeboat-dev/lifeboat/internal/kubeevents"
	"github.com/lifeboat-dev/lifeboat/internal/logging"
	"github.com/lifeboat-dev/lifeboat/internal/metrics"
	"github.com/lifeboat-dev/lifeboat/internal/notice"
	"github.com/lifeboat-dev/lifeboat/internal/notify"
	"github.com/lifeboat-dev/lifeboat/internal/report"
)

// TestFanoutOfTheRealReporters: one NoticeReceived through a Fanout of the
// three real reporters becomes one Kubernetes Event, one metric sample and
// one notification (a webhook POST).
func TestFanoutOfTheRealReporters(t *testing.T) {
	var (
		mu     sync.Mutex
		bodies []map[string]any
	)
	hook := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Errorf("webhook body %q: %v", b, err)
		}
		mu.Lock()
		bodies = append(bodies, m)
		mu.Unlock()
	}))
	defer hook.Close()

	client := fake.NewClientset()
	rec := kubeevents.New(clientset.Wrap(client), kubeevents.Config{Host: "agent-1", Log: logging.Discard()})
	m := metrics.New("test")
	nopts := notify.DefaultOptions()
	nopts.WebhookURL = notify.Secret(hook.URL)
	if err := nopts.Validate(); err != nil {
		t.Fatal(err)
	}
	msgs, err := notify.New(nopts, notify.Deps{Metrics: m, Log: logging.Discard()})
	if err != nil {
		t.Fatal(err)
	}
	rep := report.Fanout{rec, nil, metrics.NewReporter(m), msgs}

	now := time.Now()
	rep.NoticeReceived(notice.Notice{
		ID: "spot/1", Source: "sqs", Kind: notice.KindSpotInterruption, Node: "n1",
		Issued: now.Add(-2 * time.Second), Detected: now, Deadline: now.Add(2 * time.Minute),
	})

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := rec.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := msgs.Close(ctx); err != nil {
		t.Fatal(err)
	}
	events, err := client.CoreV1().Events("").List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(events.Items) != 1 || events.Items[0].Reason != string(drain.StepNoticeReceived) || events.Items[0].InvolvedObject.Name != "n1" {
		t.Errorf("Kubernetes Events = %+v, want one NoticeReceived on n1", events.Items)
	}
	if got := testutil.ToFloat64(m.Notices.WithLabelValues("sqs", "spot-interruption")); got != 1 {
		t.Errorf("lifeboat_notices_total{sqs,spot-interruption} = %v, want 1", got)
	}
	if got := testutil.CollectAndCount(m.DetectionDelay); got != 1 {
		t.Errorf("lifeboat_detection_delay_seconds has %d series, want 1", got)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(bodies) != 1 || bodies[0]["step"] != string(drain.StepNoticeReceived) || bodies[0]["lifecycle"] != "n1/spot/1" {
		t.Errorf("notifications = %v, want one NoticeReceived in lifecycle n1/spot/1", bodies)
	}
}

// TestFanoutPassesEveryReportInOrder checks the fan-out loop itself.
func TestFanoutPassesEveryReportInOrder(t *testing.T) {
	var got []string
	a, b := &logReporter{name: "a", log: &got}, &logReporter{name: "b", log: &got}
	fan := report.Fanout{a, nil, b}
	n := notice.Notice{ID: "x"}
	fan.NoticeReceived(n)
	fan.Observe(drain.Step{Type: drain.StepCordoned})
	fan.Finished(n, report.Finish{Kind: report.FinishReleased})
	want := []string{"a notice x", "b notice x", "a step Cordoned", "b step Cordoned", "a finish released", "b finish released"}
	if len(got) != len(want) {
		t.Fatalf("got %q, want %q", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("report %d = %q, want %q", i, got[i], want[i])
		}
	}
}

type logReporter struct {
	name string
	log  *[]string
}

func (r *logReporter) Observe(e drain.Step) { *r.log = append(*r.log, r.name+" step "+string(e.Type)) }

func (r *logReporter) NoticeReceived(n notice.Notice) {
	*r.log = append(*r.log, r.name+" notice "+n.ID)
}

func (r *logReporter) Finished(_ notice.Notice, f report.Finish) {
	*r.log = append(*r.log, r.name+" finish "+string(f.Kind))
}

func TestFinishKindStep(t *testing.T) {
	for k, want := range map[report.FinishKind]drain.StepType{
		report.FinishAcknowledged:  drain.StepAcknowledged,
		report.FinishHookCompleted: drain.StepHookCompleted,
		report.FinishReleased:      drain.StepReleased,
		report.FinishDone:          "",
	} {
		if got, ok := k.Step(); got != want || ok != (want != "") {
			t.Errorf("%s.Step() = %q, %v; want %q", k, got, ok, want)
		}
	}
}
