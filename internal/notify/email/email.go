// Package email sends lifeboat's notifications as plain-text email over
// SMTP (net/smtp): one message per step, STARTTLS required by default
// (or implicit TLS), certificates verified, optional AUTH PLAIN.
package email

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/smtp"
	"net/textproto"
	"strings"
	"time"

	"github.com/lifeboat-dev/lifeboat/internal/notify/notifier"
)

// Name is the notifier's metric label and log name.
const Name = "email"

// TLS modes.
const (
	// TLSStartTLS upgrades the connection with STARTTLS and fails if the
	// server does not offer it (the default; port 587).
	TLSStartTLS = "starttls"
	// TLSImplicit speaks TLS from the first byte (port 465).
	TLSImplicit = "tls"
	// TLSNone sends in the clear (a local relay only; AUTH then refuses
	// any host but localhost).
	TLSNone = "none"
)

// Config configures a Notifier.
type Config struct {
	// Address is the server's host:port.
	Address string
	// From is the envelope and header sender.
	From string
	// To are the recipients.
	To []string
	// Username and Password enable AUTH PLAIN; Password is a secret.
	Username, Password string
	// TLS is TLSStartTLS (default), TLSImplicit or TLSNone.
	TLS string
	// TLSConfig, if set, is the base TLS configuration (RootCAs for a
	// private CA); ServerName defaults to Address's host.
	TLSConfig *tls.Config
	// Timeout bounds one delivery (10 s if zero) when ctx has no earlier deadline.
	Timeout time.Duration
	// Hostname is sent in EHLO ("lifeboat" if empty).
	Hostname string
}

// Notifier sends email.
type Notifier struct {
	cfg    Config
	host   string
	redact *notifier.Redactor
}

var _ notifier.Notifier = (*Notifier)(nil)

// New checks c and returns a notifier; it does no I/O.
func New(c Config) (*Notifier, error) {
	host, _, err := net.SplitHostPort(c.Address)
	if err != nil {
		return nil, fmt.Errorf("smtp address %q: %w", c.Address, err)
	}
	switch c.TLS {
	case "":
		c.TLS = TLSStartTLS
	case TLSStartTLS, TLSImplicit, TLSNone:
	default:
		return nil, fmt.Errorf("smtp tls mode must be starttls, tls or none, got %q", c.TLS)
	}
	if c.From == "" || len(c.To) == 0 {
		return nil, errors.New("smtp needs a sender and at least one recipient")
	}
	if c.Timeout <= 0 {
		c.Timeout = 10 * time.Second
	}
	if c.Hostname == "" {
		c.Hostname = "lifeboat"
	}
	return &Notifier{cfg: c, host: host, redact: notifier.NewRedactor(c.Password, c.Username)}, nil
}

// Name is "email".
func (n *Notifier) Name() string { return Name }

// Notify sends m to every recipient.
func (n *Notifier) Notify(ctx context.Context, m notifier.Message) error {
	ctx, cancel := context.WithTimeout(ctx, n.cfg.Timeout)
	defer cancel()
	err := n.send(ctx, Compose(n.cfg.From, n.cfg.To, m, time.Now()))
	if err == nil {
		return nil
	}
	var te *textproto.Error
	if errors.As(err, &te) {
		err = &notifier.DeliveryError{StatusCode: te.Code, Permanent: te.Code >= 500, Detail: "SMTP " + te.Error()}
	}
	return n.redact.Err(Name, err)
}

func (n *Notifier) tlsConfig() *tls.Config {
	c := &tls.Config{MinVersion: tls.VersionTLS12}
	if n.cfg.TLSConfig != nil {
		c = n.cfg.TLSConfig.Clone()
	}
	if c.ServerName == "" {
		c.ServerName = n.host
	}
	return c
}

// send runs one SMTP session; the connection's deadline follows ctx.
func (n *Notifier) send(ctx context.Context, msg []byte) error {
	conn, err := n.dial(ctx)
	if err != nil {
		return err
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if d, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(d)
	}
	c, err := smtp.NewClient(conn, n.host)
	if err != nil {
		_ = conn.Close()
		return err
	}
	defer func() { _ = c.Close() }()
	if err := c.Hello(n.cfg.Hostname); err != nil {
		return err
	}
	if n.cfg.TLS == TLSStartTLS {
		if ok, _ := c.Extension("STARTTLS"); !ok {
			return notifier.Permanent("the SMTP server does not offer STARTTLS (set the TLS mode to tls or, for a local relay, none)")
		}
		if err := c.StartTLS(n.tlsConfig()); err != nil {
			return err
		}
	}
	if n.cfg.Username != "" {
		if err := c.Auth(smtp.PlainAuth("", n.cfg.Username, n.cfg.Password, n.host)); err != nil {
			return err
		}
	}
	if err := c.Mail(n.cfg.From); err != nil {
		return err
	}
	for _, to := range n.cfg.To {
		if err := c.Rcpt(to); err != nil {
			return err
		}
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write(msg); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	return c.Quit()
}

func (n *Notifier) dial(ctx context.Context) (net.Conn, error) {
	d := &net.Dialer{}
	if n.cfg.TLS == TLSImplicit {
		td := &tls.Dialer{NetDialer: d, Config: n.tlsConfig()}
		return td.DialContext(ctx, "tcp", n.cfg.Address)
	}
	return d.DialContext(ctx, "tcp", n.cfg.Address)
}

// Compose builds the RFC 5322 message for m: an encoded Subject (the
// summary), a quoted-printable UTF-8 body with the facts.
func Compose(from string, to []string, m notifier.Message, now time.Time) []byte {
	var body strings.Builder
	body.WriteString(m.Summary() + "\r\n\r\n")
	for _, f := range m.Facts() {
		body.WriteString(f[0] + ": " + f[1] + "\r\n")
	}
	var b strings.Builder
	h := func(k, v string) { b.WriteString(k + ": " + v + "\r\n") }
	h("From", from)
	h("To", strings.Join(to, ", "))
	h("Subject", mime.QEncoding.Encode("utf-8", oneLine(m.Summary())))
	h("Date", now.Format(time.RFC1123Z))
	h("MIME-Version", "1.0")
	h("Content-Type", "text/plain; charset=utf-8")
	h("Content-Transfer-Encoding", "quoted-printable")
	if m.Lifecycle != "" {
		h("X-Lifeboat-Lifecycle", oneLine(m.Lifecycle))
	}
	b.WriteString("\r\n")
	qp := quotedprintable.NewWriter(&b)
	_, _ = qp.Write([]byte(body.String()))
	_ = qp.Close()
	return []byte(b.String())
}

// oneLine keeps header values on one line (no header injection).
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '\r' || r == '\n' {
			return ' '
		}
		return r
	}, s)
}
