package googlechat_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/lifeboat-dev/lifeboat/internal/drain"

	"github.com/lifeboat-dev/lifeboat/internal/notify/googlechat"
	"github.com/lifeboat-dev/lifeboat/internal/notify/notifier"
)

func TestPostsIntoTheLifecycleThread(t *testing.T) {
	var body string
	var q url.Values
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		body, q = string(b), r.URL.Query()
		_, _ = io.WriteString(w, `{"name":"spaces/AAA/messages/1","thread":{"name":"spaces/AAA/threads/t"}}`)
	}))
	defer srv.Close()
	m := notifier.Message{Lifecycle: "n1/aws-spot/x", Cluster: "prod", Node: "n1", Step: string(drain.StepCordoned), Text: "cordoned"}
	if err := googlechat.New(srv.URL+"/v1/spaces/AAA/messages?key=KEYSECRET&token=TOKSECRET", nil).Notify(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	want := `{"text":"*[prod] n1: cordoned*\nCluster: prod\nNode: n1\nStep: Cordoned","thread":{"threadKey":"n1/aws-spot/x"}}`
	if body != want {
		t.Errorf("body\n got %s\nwant %s", body, want)
	}
	if q.Get("messageReplyOption") != googlechat.ReplyOption || q.Get("key") != "KEYSECRET" || q.Get("token") != "TOKSECRET" {
		t.Errorf("query %v: want the webhook's key and token kept and the reply option added", q)
	}
}

func TestErrorsNeverShowTheKeyOrToken(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "invalid token "+r.URL.Query().Get("token")+" key "+r.URL.Query().Get("key"), http.StatusBadRequest)
	}))
	defer srv.Close()
	err := googlechat.New(srv.URL+"/v1/spaces/AAA/messages?key=KEYSECRET&token=TOKSECRET", nil).Notify(context.Background(), notifier.Message{Text: "x"})
	var de *notifier.DeliveryError
	if !errors.As(err, &de) || !de.Permanent || strings.Contains(err.Error(), "SECRET") {
		t.Fatalf("error %v: want a permanent error without secrets", err)
	}
}
