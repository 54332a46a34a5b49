package azure_test

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	testclock "k8s.io/utils/clock/testing"

	"github.com/lifeboat-dev/lifeboat/internal/emulate/azure"
	"github.com/lifeboat-dev/lifeboat/internal/notice"
	source "github.com/lifeboat-dev/lifeboat/internal/notice/azure"
	"github.com/lifeboat-dev/lifeboat/internal/notice/internal/noticetest"
)

func TestEventTypesMapToKinds(t *testing.T) {
	for _, tc := range []struct {
		eventType string
		kind      notice.Kind
	}{
		{azure.EventPreempt, notice.KindPreemption},
		{azure.EventTerminate, notice.KindTermination},
		{azure.EventReboot, notice.KindScheduledReboot},
		{azure.EventRedeploy, notice.KindScheduledReboot},
		// The agent ignores freezes by default; the source still reports them.
		{azure.EventFreeze, notice.KindFreeze},
	} {
		t.Run(tc.eventType, func(t *testing.T) {
			emu, srv := emulator(t, azure.Options{})
			_, out, _ := run(t, source.Config{MetadataURL: srv.URL, VMName: testVM, Node: "node-a"})
			ev := schedule(t, emu, azure.EventSpec{EventType: tc.eventType, NotBeforeIn: azure.Duration(90 * time.Second), Description: "host update"})
			n := noticetest.Next(t, out)
			wantDeadline, err := http.ParseTime(ev.NotBefore)
			if err != nil {
				t.Fatal(err)
			}
			if n.ID != ev.EventID || n.Kind != tc.kind || n.Source != "azure" || n.Canceled {
				t.Errorf("notice = {ID:%q Kind:%q Source:%q Canceled:%v}, want {%q %q azure false}",
					n.ID, n.Kind, n.Source, n.Canceled, ev.EventID, tc.kind)
			}
			if !n.Deadline.Equal(wantDeadline) {
				t.Errorf("Deadline = %v, want NotBefore %v", n.Deadline, wantDeadline)
			}
			if n.Node != "node-a" || n.InstanceID != testVM || n.Detected.IsZero() {
				t.Errorf("Node/InstanceID/Detected = %q/%q/%v", n.Node, n.InstanceID, n.Detected)
			}
			if n.Attributes["event-type"] != tc.eventType || n.Attributes["description"] != "host update" {
				t.Errorf("Attributes = %v", n.Attributes)
			}
		})
	}
}

func TestOnlyEventsNamingThisVM(t *testing.T) {
	emu, srv := emulator(t, azure.Options{})
	_, out, _ := run(t, source.Config{MetadataURL: srv.URL, VMName: testVM})
	schedule(t, emu, azure.EventSpec{EventType: azure.EventPreempt, Resources: []string{"aks-pool-12345678-vmss_7"}})
	// Resources are compared case-insensitively, and may list several VMs.
	ours := schedule(t, emu, azure.EventSpec{EventType: azure.EventReboot, Resources: []string{"other", "AKS-POOL-12345678-VMSS_0"}})
	if n := noticetest.Next(t, out); n.ID != ours.EventID {
		t.Fatalf("first notice is %q (%s), want ours %q: another VM's event was not ignored", n.ID, n.Kind, ours.EventID)
	}
	quiet(t, out, emu, 3)
}

func TestRepeatedEventEmittedOnce(t *testing.T) {
	emu, srv := emulator(t, azure.Options{})
	_, out, _ := run(t, source.Config{MetadataURL: srv.URL, VMName: testVM})
	ev := schedule(t, emu, azure.EventSpec{EventType: azure.EventPreempt})
	if n := noticetest.Next(t, out); n.ID != ev.EventID {
		t.Fatalf("notice %q, want %q", n.ID, ev.EventID)
	}
	quiet(t, out, emu, 3)
	// A new DocumentIncarnation that still lists the event does not repeat it.
	before := emu.Document().DocumentIncarnation
	schedule(t, emu, azure.EventSpec{EventType: azure.EventFreeze, Resources: []string{"someone-else"}})
	if after := emu.Document().DocumentIncarnation; after <= before {
		t.Fatalf("DocumentIncarnation %d -> %d, want an increase", before, after)
	}
	quiet(t, out, emu, 3)
}

func TestVanishedEventIsCanceled(t *testing.T) {
	emu, srv := emulator(t, azure.Options{})
	_, out, _ := run(t, source.Config{MetadataURL: srv.URL, VMName: testVM})
	ev := schedule(t, emu, azure.EventSpec{EventType: azure.EventRedeploy})
	first := noticetest.Next(t, out)
	if !emu.Cancel(ev.EventID) {
		t.Fatal("Cancel: event not found")
	}
	n := noticetest.Next(t, out)
	if !n.Canceled || n.ID != ev.EventID || n.Kind != notice.KindScheduledReboot || n.Attributes["outcome"] != "canceled" {
		t.Fatalf("got %+v, want a canceled notice for %s with outcome=canceled", n, ev.EventID)
	}
	if !n.Deadline.Equal(first.Deadline) || n.Detected.Before(first.Detected) {
		t.Errorf("canceled notice Deadline/Detected = %v/%v, first %v/%v", n.Deadline, n.Detected, first.Deadline, first.Detected)
	}
	quiet(t, out, emu, 3)
}

func TestStartedEventThenCompletion(t *testing.T) {
	clk := testclock.NewFakeClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	emu, srv := emulator(t, azure.Options{Clock: clk, StartedFor: time.Minute})
	_, out, _ := run(t, source.Config{MetadataURL: srv.URL, VMName: testVM})
	ev := schedule(t, emu, azure.EventSpec{EventType: azure.EventPreempt, NotBeforeIn: azure.Duration(30 * time.Second)})
	n := noticetest.Next(t, out)
	if want := clk.Now().Add(30 * time.Second); !n.Deadline.Equal(want) {
		t.Fatalf("Deadline = %v, want %v", n.Deadline, want)
	}
	clk.Step(31 * time.Second) // NotBefore passes: Started, NotBefore cleared
	if doc := emu.Document(); doc.Events[0].EventStatus != azure.StatusStarted || doc.Events[0].NotBefore != "" {
		t.Fatalf("emulator event = %+v, want Started without NotBefore", doc.Events[0])
	}
	quiet(t, out, emu, 3) // a status change is not a new notice
	clk.Step(time.Minute) // the platform is done: the event disappears
	n = noticetest.Next(t, out)
	if !n.Canceled || n.ID != ev.EventID || n.Attributes["outcome"] != "completed" {
		t.Fatalf("got %+v, want canceled notice with outcome=completed", n)
	}
}

// scripted serves the given documents in turn (the last one forever) and
// counts requests.
func scripted(t *testing.T, docs ...string) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Metadata") != "true" || r.URL.Query().Get("api-version") != "2020-07-01" {
			http.Error(w, `{"error":"Bad request"}`, http.StatusBadRequest)
			return
		}
		i := min(int(n.Add(1))-1, len(docs)-1)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(docs[i]))
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

const docEvent = `{"EventId":"%s","EventType":"%s","ResourceType":"VirtualMachine","Resources":["%s"],` +
	`"EventStatus":"%s","NotBefore":"%s","Description":"","EventSource":"Platform","DurationInSeconds":-1}`

func doc(incarnation int, events ...string) string {
	s := fmt.Sprintf(`{"DocumentIncarnation":%d,"Events":[`, incarnation)
	for i, e := range events {
		if i > 0 {
			s += ","
		}
		s += e
	}
	return s + "]}"
}

func TestDocumentedWireFormat(t *testing.T) {
	// The document exactly as Azure documents it, then a new incarnation
	// where the event has started, then one without it.
	const vm = "aks-pool-12345678-vmss_3"
	a := fmt.Sprintf(docEvent, "602d9444-d2cd-49c7-8624-8643e7171297", "Preempt", vm, "Scheduled", "Mon, 19 Sep 2016 18:29:47 GMT")
	aStarted := fmt.Sprintf(docEvent, "602d9444-d2cd-49c7-8624-8643e7171297", "Preempt", vm, "Started", "")
	srv, requests := scripted(t, doc(1, a), doc(1, a), doc(2, aStarted), doc(2, aStarted), doc(3))
	_, out, errs := run(t, source.Config{MetadataURL: srv.URL, VMName: vm})
	n := noticetest.Next(t, out)
	want := time.Date(2016, 9, 19, 18, 29, 47, 0, time.UTC)
	if n.ID != "602d9444-d2cd-49c7-8624-8643e7171297" || n.Kind != notice.KindPreemption || !n.Deadline.Equal(want) {
		t.Fatalf("got ID %q Kind %q Deadline %v, want Preempt deadline %v", n.ID, n.Kind, n.Deadline, want)
	}
	n = noticetest.Next(t, out)
	if !n.Canceled || n.Attributes["outcome"] != "completed" {
		t.Fatalf("got %+v, want completed", n)
	}
	if requests.Load() < 5 {
		t.Fatalf("canceled after %d requests, want it from the fifth document", requests.Load())
	}
	if got := errs.All(); len(got) != 0 {
		t.Errorf("OnError calls %v, want none", got)
	}
}

func TestEventFirstSeenStartedHasDeadlineNow(t *testing.T) {
	const vm = "vm1"
	srv, _ := scripted(t, doc(5, fmt.Sprintf(docEvent, "ev-1", "Terminate", vm, "Started", "")))
	_, out, _ := run(t, source.Config{MetadataURL: srv.URL, VMName: vm})
	n := noticetest.Next(t, out)
	if n.Kind != notice.KindTermination || !n.Deadline.Equal(n.Detected) {
		t.Fatalf("Kind %q Deadline %v Detected %v: a started event's deadline is now", n.Kind, n.Deadline, n.Detected)
	}
}

func TestUnknownTypeAndBadNotBeforeAreCounted(t *testing.T) {
	const vm = "vm1"
	srv, requests := scripted(t, doc(1,
		fmt.Sprintf(docEvent, "ev-odd", "Hibernate", vm, "Scheduled", "Mon, 19 Sep 2016 18:29:47 GMT"),
		fmt.Sprintf(docEvent, "ev-bad", "Reboot", vm, "Scheduled", "next tuesday")))
	_, out, errs := run(t, source.Config{MetadataURL: srv.URL, VMName: vm})
	n := noticetest.Next(t, out)
	if n.ID != "ev-bad" || !n.Deadline.IsZero() {
		t.Fatalf("got %q deadline %v, want ev-bad with an unknown deadline", n.ID, n.Deadline)
	}
	noticetest.Eventually(t, func() bool { return errs.Count(source.ReasonMalformed) >= 2 })
	seen := requests.Load()
	noticetest.Eventually(t, func() bool { return requests.Load() >= seen+3 }) // more polls of the same document
	if got := errs.Count(source.ReasonMalformed); got != 2 {
		t.Errorf("malformed counted %d times, want once per event (2)", got)
	}
	select {
	case n := <-out:
		t.Fatalf("unexpected notice %+v", n)
	default:
	}
}

func TestFaultsAreSurvived(t *testing.T) {
	for _, tc := range []struct {
		mode   azure.FaultMode
		reason string
	}{
		{azure.FaultGarbage, source.ReasonMalformed},
		{azure.Fault500, source.ReasonHTTPStatus},
		{azure.FaultHang, source.ReasonTimeout},
	} {
		t.Run(string(tc.mode), func(t *testing.T) {
			emu, srv := emulator(t, azure.Options{})
			if err := emu.SetFault(azure.ScheduledEventsPath, tc.mode); err != nil {
				t.Fatal(err)
			}
			_, out, errs := run(t, source.Config{
				MetadataURL: srv.URL, VMName: testVM, RequestTimeout: 100 * time.Millisecond, MaxBackoff: 100 * time.Millisecond,
			})
			noticetest.Eventually(t, func() bool { return errs.Count(tc.reason) >= 3 })
			if err := emu.SetFault(azure.ScheduledEventsPath, azure.FaultNone); err != nil {
				t.Fatal(err)
			}
			ev := schedule(t, emu, azure.EventSpec{EventType: azure.EventPreempt})
			if n := noticetest.Next(t, out); n.ID != ev.EventID {
				t.Fatalf("after recovery got %q, want %q", n.ID, ev.EventID)
			}
			for _, r := range errs.All() {
				if r != tc.reason {
					t.Errorf("OnError(%q), want only %q", r, tc.reason)
				}
			}
		})
	}
}

// countingTransport counts round trips.
type countingTransport struct {
	n    atomic.Int64
	next http.RoundTripper
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return c.next.RoundTrip(r)
}

func TestDeadServerBacksOffAndRecovers(t *testing.T) {
	emu, srv := emulator(t, azure.Options{})
	addr := srv.Listener.Addr().String()
	srv.Close() // dead: connections are refused
	ct := &countingTransport{next: &http.Transport{Proxy: nil}}
	_, out, errs := run(t, source.Config{
		MetadataURL: "http://" + addr, VMName: testVM,
		PollInterval: 10 * time.Millisecond, MaxBackoff: 200 * time.Millisecond,
		HTTPClient: &http.Client{Transport: ct},
	})
	start := time.Now()
	noticetest.Eventually(t, func() bool { return errs.Count(source.ReasonUnreachable) >= 3 })
	time.Sleep(time.Second)
	elapsed, attempts := time.Since(start), ct.n.Load()
	// Without backoff a 10 ms poll would make ~100 attempts per second; with
	// backoff doubling to 200 ms it makes at most about elapsed/200ms + 5.
	if limit := int64(elapsed/(200*time.Millisecond)) + 8; attempts > limit {
		t.Fatalf("%d attempts in %s against a dead server, want at most %d (no hot loop)", attempts, elapsed, limit)
	}
	for _, r := range errs.All() {
		if r != source.ReasonUnreachable {
			t.Errorf("OnError(%q), want only %q", r, source.ReasonUnreachable)
		}
	}
	// The server comes back on the same address.
	revived := httptest.NewUnstartedServer(emu)
	l, err := listenRetry(addr)
	if err != nil {
		t.Skipf("cannot listen on %s again: %v", addr, err)
	}
	revived.Listener = l
	revived.Start()
	t.Cleanup(revived.Close)
	ev := schedule(t, emu, azure.EventSpec{EventType: azure.EventTerminate})
	if n := noticetest.Next(t, out); n.ID != ev.EventID {
		t.Fatalf("after recovery got %q, want %q", n.ID, ev.EventID)
	}
}

func TestVMNameFromInstanceMetadata(t *testing.T) {
	emu, srv := emulator(t, azure.Options{VMName: "win-pool_4"})
	// The first compute request fails; the source retries.
	if err := emu.FailNext(azure.ComputePath, azure.Fault500, 1); err != nil {
		t.Fatal(err)
	}
	_, out, errs := run(t, source.Config{MetadataURL: srv.URL, MaxBackoff: 50 * time.Millisecond})
	schedule(t, emu, azure.EventSpec{EventType: azure.EventPreempt, Resources: []string{"win-pool_3"}})
	ev := schedule(t, emu, azure.EventSpec{EventType: azure.EventPreempt})
	n := noticetest.Next(t, out)
	if n.ID != ev.EventID || n.InstanceID != "win-pool_4" {
		t.Fatalf("got %q for VM %q, want %q for win-pool_4", n.ID, n.InstanceID, ev.EventID)
	}
	if errs.Count(source.ReasonHTTPStatus) != 1 {
		t.Errorf("OnError = %v, want one http-status", errs.All())
	}
}

func TestVMNameFromProviderIDConfig(t *testing.T) {
	emu, srv := emulator(t, azure.Options{VMName: "ignored-by-source"})
	_, out, _ := run(t, source.Config{
		MetadataURL: srv.URL,
		ProviderID:  "azure:///subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachineScaleSets/aks-np-1/virtualMachines/12",
	})
	ev := schedule(t, emu, azure.EventSpec{EventType: azure.EventTerminate, Resources: []string{"aks-np-1_12"}})
	if n := noticetest.Next(t, out); n.ID != ev.EventID || n.InstanceID != "aks-np-1_12" {
		t.Fatalf("got %q for %q, want %q for aks-np-1_12", n.ID, n.InstanceID, ev.EventID)
	}
	if emu.Requests(azure.ComputePath) != 0 {
		t.Errorf("compute metadata was read although the providerID names the VM")
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	for name, cfg := range map[string]source.Config{
		"MetadataURL":  {MetadataURL: "169.254.169.254"},
		"ProviderID":   {ProviderID: "aws:///us-east-1a/i-0123"},
		"PollInterval": {PollInterval: -time.Second},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := source.New(cfg)
			var ce *source.ConfigError
			if !errors.As(err, &ce) || ce.Field != name {
				t.Fatalf("New(%+v) = %v, want *ConfigError for %s", cfg, err, name)
			}
		})
	}
}
