package auth_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credstore/credstore/auth"
)

func TestConsoleSender(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	c := &auth.ConsoleSender{W: &b}
	require.NoError(t, c.Send(context.Background(), auth.Message{To: "a@example.com", Subject: "Hi", Body: "token: xyz\n"}))
	out := b.String()
	assert.Contains(t, out, "To: a@example.com\n")
	assert.Contains(t, out, "Subject: Hi\n")
	assert.Contains(t, out, "token: xyz\n")

	err := c.Send(context.Background(), auth.Message{To: "a@example.com\r\nBcc: evil@example.com", Subject: "Hi"})
	assert.Error(t, err, "header injection")
}

// fakeSMTP is a minimal SMTP server for one delivery. With tlsConf set it
// offers STARTTLS and requires it before MAIL; it returns the DATA it got.
// replies, if given, replace its answer to the commands they name ("RCPT":
// "550 ...", or "END OF DATA" for the answer to the message); a reply may
// span lines ("451-...\r\n451 ...").
func fakeSMTP(t *testing.T, tlsConf *tls.Config, replies ...map[string]string) (addr string, data <-chan string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	got := make(chan string, 1)
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
		r, w := bufio.NewReader(conn), conn
		say := func(s string) { _, _ = w.Write([]byte(s + "\r\n")) }
		say("220 fake ESMTP")
		secure := false
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			cmd := strings.ToUpper(strings.TrimSpace(line))
			if reply, ok := replyFor(cmd, replies); ok {
				say(reply)
				continue
			}
			switch {
			case strings.HasPrefix(cmd, "EHLO"):
				if tlsConf != nil && !secure {
					say("250-fake\r\n250 STARTTLS")
				} else {
					say("250-fake\r\n250 AUTH PLAIN")
				}
			case cmd == "STARTTLS":
				say("220 go ahead")
				tc := tls.Server(conn, tlsConf)
				if tc.Handshake() != nil {
					return
				}
				conn, r, w, secure = tc, bufio.NewReader(tc), tc, true
			case strings.HasPrefix(cmd, "AUTH PLAIN"):
				say("235 ok")
			case strings.HasPrefix(cmd, "MAIL"), strings.HasPrefix(cmd, "RCPT"):
				say("250 ok")
			case cmd == "DATA":
				say("354 go")
				var body strings.Builder
				for {
					l, err := r.ReadString('\n')
					if err != nil {
						return
					}
					if l == ".\r\n" {
						break
					}
					body.WriteString(l)
				}
				got <- body.String()
				if reply, ok := replyFor("END OF DATA", replies); ok {
					say(reply)
				} else {
					say("250 queued")
				}
			case cmd == "QUIT":
				say("221 bye")
				return
			default:
				say("500 what")
			}
		}
	}()
	return ln.Addr().String(), got
}

// replyFor finds the reply that replaces the fake server's answer to cmd.
func replyFor(cmd string, replies []map[string]string) (string, bool) {
	for _, m := range replies {
		for prefix, reply := range m {
			if strings.HasPrefix(cmd, prefix) {
				return reply, true
			}
		}
	}
	return "", false
}

// testTLS returns a server config and a client config that trusts it,
// borrowing httptest's certificate for 127.0.0.1.
func testTLS(t *testing.T) (server, client *tls.Config) {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	srv.StartTLS()
	defer srv.Close()
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	return &tls.Config{Certificates: srv.TLS.Certificates},
		&tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}
}

func TestSMTPSenderSTARTTLS(t *testing.T) {
	t.Parallel()
	serverTLS, clientTLS := testTLS(t)
	addr, data := fakeSMTP(t, serverTLS)
	s := &auth.SMTPSender{Addr: addr, From: "noreply@example.com", Username: "u", Password: "p", TLSConfig: clientTLS}
	err := s.Send(context.Background(), auth.Message{To: "alice@example.com", Subject: "Reset", Body: "line one\nthe token\n"})
	require.NoError(t, err)
	got := <-data
	assert.Contains(t, got, "To: alice@example.com\r\n")
	assert.Contains(t, got, "Subject: Reset\r\n")
	assert.Contains(t, got, "\r\n\r\nline one\r\nthe token\r\n")
}

func TestSMTPSenderRefusesPlaintext(t *testing.T) {
	t.Parallel()
	addr, data := fakeSMTP(t, nil) // offers no STARTTLS
	s := &auth.SMTPSender{Addr: addr, From: "noreply@example.com", Timeout: 5 * time.Second}
	err := s.Send(context.Background(), auth.Message{To: "alice@example.com", Subject: "Reset", Body: "secret"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "STARTTLS")
	select {
	case <-data:
		t.Fatal("the message was sent in clear")
	default:
	}
}

// TestSMTPSenderErrorsHideServerText: a refusal comes back with the server's
// reply code (and enhanced status code), never the server's text, which
// names the recipient here as Postfix does and would end up in the log.
func TestSMTPSenderErrorsHideServerText(t *testing.T) {
	t.Parallel()
	const addr = "rita@example.com"
	tests := []struct {
		name    string
		replies map[string]string
		want    string
	}{
		{
			name:    "recipient rejected",
			replies: map[string]string{"RCPT": "550 5.1.1 <" + addr + ">: Recipient address rejected: User unknown in local recipient table"},
			want:    "smtp: RCPT TO: server replied 550 5.1.1",
		},
		{
			name:    "no enhanced status code",
			replies: map[string]string{"RCPT": "550 <" + addr + ">... User unknown"},
			want:    "smtp: RCPT TO: server replied 550",
		},
		{
			name:    "multi-line reply",
			replies: map[string]string{"MAIL": "451-4.3.0 <" + addr + "> greylisted\r\n451 4.3.0 try again later, " + addr},
			want:    "smtp: MAIL FROM: server replied 451 4.3.0",
		},
		{
			name:    "rejected at the end of data",
			replies: map[string]string{"END OF DATA": "554 5.7.1 message to <" + addr + "> rejected as spam"},
			want:    "smtp: end of data: server replied 554 5.7.1",
		},
		{
			name:    "authentication refused",
			replies: map[string]string{"AUTH": "535 5.7.8 Authentication failed for " + addr},
			want:    "smtp: AUTH: server replied 535 5.7.8",
		},
		{
			name:    "malformed reply",
			replies: map[string]string{"RCPT": "55x <" + addr + "> no"},
			want:    "smtp: RCPT TO: malformed reply from the server",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			serverTLS, clientTLS := testTLS(t)
			srv, _ := fakeSMTP(t, serverTLS, tt.replies)
			s := &auth.SMTPSender{Addr: srv, From: "noreply@example.com", Username: "u", Password: "p",
				TLSConfig: clientTLS, Timeout: 5 * time.Second}
			err := s.Send(context.Background(), auth.Message{To: addr, Subject: "Reset", Body: "token\n"})
			require.Error(t, err)
			assert.Equal(t, tt.want, err.Error())
			assert.NotContains(t, err.Error(), addr)
			assert.NotContains(t, err.Error(), "example.com")
		})
	}
}
