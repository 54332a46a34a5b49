package email_test

import (
	"crypto/tls"
	"encoding/base64"
	"io"
	"net"
	"net/textproto"
	"strings"
	"sync"
	"testing"
)

// smtpServer is a small SMTP server for tests: EHLO, STARTTLS, AUTH PLAIN,
// MAIL, RCPT, DATA, QUIT, recording each delivered message.
type smtpServer struct {
	addr     string
	tls      *tls.Config
	starttls bool   // offer STARTTLS
	user     string // required AUTH PLAIN user ("" = no auth)
	pass     string
	rcptCode string // answer to RCPT instead of 250, e.g. "550 no such user"

	mu   sync.Mutex
	mail []delivered
}

// delivered is one message the server accepted.
type delivered struct {
	from   string
	to     []string
	data   string
	tls    bool
	authed bool
}

func newSMTPServer(t *testing.T, cfg *tls.Config, configure func(*smtpServer)) *smtpServer {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &smtpServer{addr: l.Addr().String(), tls: cfg, starttls: true}
	if configure != nil {
		configure(s)
	}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go s.serve(c)
		}
	}()
	t.Cleanup(func() { _ = l.Close() })
	return s
}

func (s *smtpServer) messages() []delivered {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]delivered(nil), s.mail...)
}

func (s *smtpServer) serve(c net.Conn) {
	defer func() { _ = c.Close() }()
	tp := textproto.NewConn(c)
	var cur delivered
	reply := func(lines ...string) { _ = tp.PrintfLine("%s", strings.Join(lines, "\r\n")) }
	reply("220 localhost ESMTP test")
	for {
		line, err := tp.ReadLine()
		if err != nil {
			return
		}
		verb, arg, _ := strings.Cut(line, " ")
		switch strings.ToUpper(verb) {
		case "EHLO", "HELO":
			lines := []string{"250-localhost"}
			if s.starttls && !cur.tls {
				lines = append(lines, "250-STARTTLS")
			}
			if s.user != "" && cur.tls {
				lines = append(lines, "250-AUTH PLAIN")
			}
			reply(append(lines, "250 8BITMIME")...)
		case "STARTTLS":
			reply("220 2.0.0 Ready to start TLS")
			tc := tls.Server(c, s.tls)
			if tc.Handshake() != nil {
				return
			}
			c, tp, cur.tls = tc, textproto.NewConn(tc), true
		case "AUTH":
			mech, resp, _ := strings.Cut(arg, " ")
			b, _ := base64.StdEncoding.DecodeString(resp)
			if mech == "PLAIN" && string(b) == "\x00"+s.user+"\x00"+s.pass {
				cur.authed = true
				reply("235 2.7.0 Authentication successful")
			} else {
				reply("535 5.7.8 Authentication credentials invalid")
			}
		case "MAIL":
			if s.user != "" && !cur.authed {
				reply("530 5.7.0 Authentication required")
				continue
			}
			cur.from = address(strings.TrimPrefix(arg, "FROM:"))
			reply("250 OK")
		case "RCPT":
			if s.rcptCode != "" {
				reply(s.rcptCode)
				continue
			}
			cur.to = append(cur.to, address(strings.TrimPrefix(arg, "TO:")))
			reply("250 OK")
		case "DATA":
			reply("354 End data with <CR><LF>.<CR><LF>")
			b, err := io.ReadAll(tp.DotReader())
			if err != nil {
				return
			}
			cur.data = string(b)
			s.mu.Lock()
			s.mail = append(s.mail, cur)
			s.mu.Unlock()
			cur = delivered{tls: cur.tls, authed: cur.authed}
			reply("250 OK queued")
		case "QUIT":
			reply("221 Bye")
			return
		default:
			reply("502 5.5.2 Command not recognized")
		}
	}
}

// address takes the path out of "<a@b> PARAM=..." (net/smtp adds BODY=8BITMIME).
func address(arg string) string {
	a, _, _ := strings.Cut(strings.TrimPrefix(arg, "<"), ">")
	return a
}
