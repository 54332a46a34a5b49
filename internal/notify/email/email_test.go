package email_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"mime"
	"mime/quotedprintable"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/lifeboat-dev/lifeboat/internal/drain"

	"github.com/lifeboat-dev/lifeboat/internal/notify/email"
	"github.com/lifeboat-dev/lifeboat/internal/notify/notifier"
)

const password = "hunter2-SMTP-PASSWORD"

// certs returns a server TLS config (a certificate for 127.0.0.1) and a
// client config trusting it.
func certs(t *testing.T) (server, client *tls.Config) {
	t.Helper()
	hs := httptest.NewUnstartedServer(nil)
	hs.StartTLS()
	t.Cleanup(hs.Close)
	pool := x509.NewCertPool()
	pool.AddCert(hs.Certificate())
	return &tls.Config{Certificates: hs.TLS.Certificates, MinVersion: tls.VersionTLS12}, &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
}

var msg = notifier.Message{
	Lifecycle: "n1/aws-spot/x", Step: string(drain.StepDrained), Cluster: "prod", Node: "n1", Trigger: "aws",
	Kind: "spot-interruption", Text: "drained: 3 pods evicted ✓", Result: "succeeded",
}

func TestDeliversOverSTARTTLSWithAuth(t *testing.T) {
	srvTLS, cliTLS := certs(t)
	srv := newSMTPServer(t, srvTLS, func(s *smtpServer) { s.user, s.pass = "lifeboat", password })
	n, err := email.New(email.Config{
		Address: srv.addr, From: "lifeboat@example.com", To: []string{"ops@example.com", "oncall@example.com"},
		Username: "lifeboat", Password: password, TLSConfig: cliTLS,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Notify(context.Background(), msg); err != nil {
		t.Fatal(err)
	}
	got := srv.messages()
	if len(got) != 1 || !got[0].tls || !got[0].authed || got[0].from != "lifeboat@example.com" ||
		strings.Join(got[0].to, ",") != "ops@example.com,oncall@example.com" {
		t.Fatalf("delivered %+v", got)
	}
	// The DATA dot-reader hands lines over with "\n" endings.
	head, body, _ := strings.Cut(got[0].data, "\n\n")
	var subject string
	for _, l := range strings.Split(head, "\n") {
		if v, ok := strings.CutPrefix(l, "Subject: "); ok {
			subject, _ = new(mime.WordDecoder).DecodeHeader(v)
		}
	}
	plain, _ := io.ReadAll(quotedprintable.NewReader(strings.NewReader(body)))
	if subject != "[prod] n1: drained: 3 pods evicted ✓" || !strings.Contains(head, "Content-Type: text/plain; charset=utf-8") ||
		!strings.Contains(string(plain), "Result: succeeded\n") || !strings.Contains(string(plain), "Kind: spot-interruption") {
		t.Errorf("subject %q, head %q, body %q", subject, head, plain)
	}
}

func TestRefusesUntrustedCertificatesAndMissingSTARTTLS(t *testing.T) {
	srvTLS, _ := certs(t)
	srv := newSMTPServer(t, srvTLS, nil)
	n, _ := email.New(email.Config{Address: srv.addr, From: "a@example.com", To: []string{"b@example.com"}})
	if err := n.Notify(context.Background(), msg); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("self-signed server accepted: %v", err)
	}
	plain := newSMTPServer(t, srvTLS, func(s *smtpServer) { s.starttls = false })
	n, _ = email.New(email.Config{Address: plain.addr, From: "a@example.com", To: []string{"b@example.com"}})
	var de *notifier.DeliveryError
	if err := n.Notify(context.Background(), msg); !errors.As(err, &de) || !de.Permanent {
		t.Errorf("server without STARTTLS: %v, want a permanent refusal", err)
	}
	if len(srv.messages())+len(plain.messages()) != 0 {
		t.Error("a message went out without verified TLS")
	}
}

func TestSMTPRepliesAreClassifiedAndRedacted(t *testing.T) {
	srvTLS, cliTLS := certs(t)
	for _, tc := range []struct {
		reply     string
		permanent bool
	}{{"550 5.1.1 no such user", true}, {"451 4.3.0 try again later", false}} {
		srv := newSMTPServer(t, srvTLS, func(s *smtpServer) { s.user, s.pass, s.rcptCode = "u", password, tc.reply })
		n, _ := email.New(email.Config{
			Address: srv.addr, From: "a@example.com", To: []string{"b@example.com"},
			Username: "u", Password: password, TLSConfig: cliTLS,
		})
		var de *notifier.DeliveryError
		err := n.Notify(context.Background(), msg)
		if !errors.As(err, &de) || de.Permanent != tc.permanent || strings.Contains(err.Error(), password) {
			t.Errorf("%s: %v (permanent %v)", tc.reply, err, tc.permanent)
		}
	}
	srv := newSMTPServer(t, srvTLS, func(s *smtpServer) { s.user, s.pass = "u", "other" })
	n, _ := email.New(email.Config{
		Address: srv.addr, From: "a@example.com", To: []string{"b@example.com"},
		Username: "u", Password: password, TLSConfig: cliTLS, Timeout: 5 * time.Second,
	})
	if err := n.Notify(context.Background(), msg); err == nil || strings.Contains(err.Error(), password) {
		t.Errorf("wrong password: %v", err)
	}
}

func TestComposeKeepsHeadersOnOneLine(t *testing.T) {
	m := notifier.Message{Node: "n1", Text: "evil\r\nBcc: victim@example.com"}
	out := string(email.Compose("a@example.com", []string{"b@example.com"}, m, time.Unix(0, 0)))
	head, _, _ := strings.Cut(out, "\r\n\r\n")
	if strings.Contains(head, "\r\nBcc:") {
		t.Errorf("header injection: %q", head)
	}
}

func TestConfigErrors(t *testing.T) {
	for _, c := range []email.Config{
		{Address: "no-port", From: "a@b", To: []string{"c@d"}},
		{Address: "h:25", To: []string{"c@d"}},
		{Address: "h:25", From: "a@b"},
		{Address: "h:25", From: "a@b", To: []string{"c@d"}, TLS: "maybe"},
	} {
		if _, err := email.New(c); err == nil {
			t.Errorf("New(%+v) accepted", c)
		}
	}
}
