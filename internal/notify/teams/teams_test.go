package teams_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/lifeboat-dev/lifeboat/internal/drain"

	"github.com/lifeboat-dev/lifeboat/internal/notify/notifier"
	"github.com/lifeboat-dev/lifeboat/internal/notify/teams"
)

var msg = notifier.Message{
	Lifecycle: "n1/spot", Step: string(drain.StepDrainFailed), Cluster: "prod", Node: "n1", Trigger: "aws",
	Kind: "spot-interruption", Reason: "spot", Deadline: time.Date(2026, 3, 1, 10, 2, 0, 0, time.UTC),
	Text: "drain failed", Error: "2 pods left",
}

func TestPostsAnAdaptiveCard(t *testing.T) {
	var got map[string]any
	var ctype string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctype = r.Header.Get("Content-Type")
		b, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(b, &got); err != nil {
			t.Errorf("body %s: %v", b, err)
		}
		w.WriteHeader(http.StatusAccepted) // Workflows answer 202
	}))
	defer srv.Close()
	if err := teams.New(srv.URL+"/workflows/abc/triggers/manual/paths/invoke?sig=SECRETSIG", nil).Notify(context.Background(), msg); err != nil {
		t.Fatal(err)
	}
	want := `{"type":"message","attachments":[{"contentType":"application/vnd.microsoft.card.adaptive","contentUrl":null,` +
		`"content":{"$schema":"http://adaptivecards.io/schemas/adaptive-card.json","type":"AdaptiveCard","version":"1.4",` +
		`"body":[{"type":"TextBlock","text":"[prod] n1: drain failed","weight":"Bolder","size":"Medium","color":"Attention","wrap":true},` +
		`{"type":"FactSet","facts":[{"title":"Cluster","value":"prod"},{"title":"Node","value":"n1"},{"title":"Step","value":"DrainFailed"},` +
		`{"title":"Trigger","value":"aws"},{"title":"Kind","value":"spot-interruption"},{"title":"Reason","value":"spot"},` +
		`{"title":"Deadline","value":"2026-03-01 10:02:00 UTC"},{"title":"Error","value":"2 pods left"}]}],"msteams":{"width":"Full"}}}]}`
	var wantMap map[string]any
	_ = json.Unmarshal([]byte(want), &wantMap)
	gb, _ := json.Marshal(got)
	wb, _ := json.Marshal(wantMap)
	if string(gb) != string(wb) || ctype != "application/json" {
		t.Errorf("payload\n got %s\nwant %s (content type %q)", gb, wb, ctype)
	}
}

func TestErrorsAreRedactedAndClassified(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "bad sig "+r.URL.RawQuery, http.StatusUnauthorized)
	}))
	defer srv.Close()
	err := teams.New(srv.URL+"/invoke?sig=SECRETSIG", nil).Notify(context.Background(), msg)
	var de *notifier.DeliveryError
	if !errors.As(err, &de) || !de.Permanent || de.StatusCode != 401 || strings.Contains(err.Error(), "SECRETSIG") {
		t.Fatalf("error %v: want a permanent, redacted 401", err)
	}
}
