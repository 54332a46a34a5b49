package azure_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/lifeboat-dev/lifeboat/internal/emulate/azure"
	"github.com/lifeboat-dev/lifeboat/internal/notice"
	source "github.com/lifeboat-dev/lifeboat/internal/notice/azure"
	"github.com/lifeboat-dev/lifeboat/internal/notice/internal/noticetest"
)

func TestAckPostsStartRequest(t *testing.T) {
	emu, srv := emulator(t, azure.Options{})
	src, out, _ := run(t, source.Config{MetadataURL: srv.URL, VMName: testVM})
	ev := schedule(t, emu, azure.EventSpec{EventType: azure.EventPreempt})
	n := noticetest.Next(t, out)
	if err := src.Ack(context.Background(), n); err != nil {
		t.Fatalf("Ack: %v", err)
	}
	acks := emu.Acks()
	if len(acks) != 1 {
		t.Fatalf("emulator received %d acks, want 1", len(acks))
	}
	if want := `{"StartRequests":[{"EventId":"` + ev.EventID + `"}]}`; acks[0].Body != want {
		t.Errorf("ack body = %s, want %s", acks[0].Body, want)
	}
	if len(acks[0].Started) != 1 || acks[0].Started[0] != ev.EventID {
		t.Errorf("ack started %v, want [%s]", acks[0].Started, ev.EventID)
	}
	if doc := emu.Document(); doc.Events[0].EventStatus != azure.StatusStarted {
		t.Errorf("event status after ack = %s, want Started", doc.Events[0].EventStatus)
	}
}

func TestAckRefusesEventsItDidNotEmit(t *testing.T) {
	emu, srv := emulator(t, azure.Options{})
	src, out, _ := run(t, source.Config{MetadataURL: srv.URL, VMName: testVM})
	other := schedule(t, emu, azure.EventSpec{EventType: azure.EventPreempt, Resources: []string{"another-vm"}})
	ours := schedule(t, emu, azure.EventSpec{EventType: azure.EventReboot})
	n := noticetest.Next(t, out)
	ctx := context.Background()

	forged := n
	forged.ID = other.EventID
	var ue *source.UnknownEventError
	if err := src.Ack(ctx, forged); !errors.As(err, &ue) || ue.Gone {
		t.Errorf("Ack(another VM's event) = %v, want *UnknownEventError (not gone)", err)
	}
	if err := src.Ack(ctx, notice.Notice{ID: ours.EventID, Source: "aws"}); err == nil {
		t.Errorf("Ack(notice of another source) succeeded")
	}
	emu.Cancel(ours.EventID)
	if c := noticetest.Next(t, out); !c.Canceled {
		t.Fatalf("want canceled notice, got %+v", c)
	}
	if err := src.Ack(ctx, n); !errors.As(err, &ue) || !ue.Gone {
		t.Errorf("Ack(vanished event) = %v, want *UnknownEventError{Gone: true}", err)
	}
	if acks := emu.Acks(); len(acks) != 0 {
		t.Errorf("emulator received %d acks, want none", len(acks))
	}
}

func TestAckReportsRefusal(t *testing.T) {
	emu, srv := emulator(t, azure.Options{})
	schedule(t, emu, azure.EventSpec{EventType: azure.EventTerminate})
	// One poll at start, then none for an hour: the injected 500 hits the ack.
	src, out, _ := run(t, source.Config{MetadataURL: srv.URL, VMName: testVM, PollInterval: time.Hour})
	n := noticetest.Next(t, out)
	if err := emu.FailNext(azure.ScheduledEventsPath, azure.Fault500, 1); err != nil {
		t.Fatal(err)
	}
	var se *source.HTTPStatusError
	if err := src.Ack(context.Background(), n); !errors.As(err, &se) || se.StatusCode != 500 || se.Method != "POST" {
		t.Fatalf("Ack = %v, want *HTTPStatusError for POST 500", err)
	}
	// A retry after the fault succeeds.
	if err := src.Ack(context.Background(), n); err != nil {
		t.Fatalf("second Ack: %v", err)
	}
	if acks := emu.Acks(); len(acks) != 1 {
		t.Fatalf("emulator recorded %d acks, want 1", len(acks))
	}
}

// TestAckSharedEventWaitsForEveryListedVM: approving an event starts it for
// every VM it lists, so it is acknowledged only when all of them are done.
func TestAckSharedEventWaitsForEveryListedVM(t *testing.T) {
	emu, srv := emulator(t, azure.Options{})
	var waiting []string
	var asked []string
	peers := func(_ context.Context, id string, vms []string) ([]string, error) {
		asked = vms
		return waiting, nil
	}
	src, out, _ := run(t, source.Config{MetadataURL: srv.URL, VMName: testVM, PeersHandled: peers})
	ev := schedule(t, emu, azure.EventSpec{EventType: azure.EventReboot, Resources: []string{testVM, "peer-vm_1", "PEER-VM_1", "peer-vm_2"}})
	n := noticetest.Next(t, out)

	waiting = []string{"peer-vm_2"}
	var shared *source.SharedEventError
	if err := src.Ack(context.Background(), n); !errors.As(err, &shared) || len(shared.Waiting) != 1 {
		t.Fatalf("Ack with a peer not done = %v, want *SharedEventError waiting for peer-vm_2", err)
	}
	if len(asked) != 2 || asked[0] != "peer-vm_1" || asked[1] != "peer-vm_2" {
		t.Errorf("peers asked about = %v, want [peer-vm_1 peer-vm_2] (this VM and duplicates left out)", asked)
	}
	if acks := emu.Acks(); len(acks) != 0 {
		t.Fatalf("a shared event was acknowledged while a peer was draining: %+v", acks)
	}
	waiting = nil
	if err := src.Ack(context.Background(), n); err != nil {
		t.Fatalf("Ack with every peer done: %v", err)
	}
	if acks := emu.Acks(); len(acks) != 1 || acks[0].EventIDs[0] != ev.EventID {
		t.Errorf("acks = %+v, want one for %s", acks, ev.EventID)
	}
}

// TestAckSharedEventWithoutPeerCheckIsNeverSent: without a way to ask the
// peers, an event that lists other VMs is left to start at NotBefore.
func TestAckSharedEventWithoutPeerCheckIsNeverSent(t *testing.T) {
	emu, srv := emulator(t, azure.Options{})
	src, out, _ := run(t, source.Config{MetadataURL: srv.URL, VMName: testVM})
	schedule(t, emu, azure.EventSpec{EventType: azure.EventPreempt, Resources: []string{"peer-vm_9", testVM}})
	n := noticetest.Next(t, out)
	var shared *source.SharedEventError
	if err := src.Ack(context.Background(), n); !errors.As(err, &shared) {
		t.Fatalf("Ack = %v, want *SharedEventError", err)
	}
	if acks := emu.Acks(); len(acks) != 0 {
		t.Errorf("acks = %+v, want none", acks)
	}
}

func TestReadOnceAfterFirstDocument(t *testing.T) {
	_, srv := emulator(t, azure.Options{})
	src, _, _ := run(t, source.Config{MetadataURL: srv.URL, VMName: testVM})
	select {
	case <-src.ReadOnce():
	case <-time.After(10 * time.Second):
		t.Fatal("ReadOnce not closed after the source read a document")
	}
}
