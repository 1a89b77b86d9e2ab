package auth

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/smtp"
	"net/textproto"
	"strings"
	"sync"
	"time"
)

// Message is a plain-text message to one recipient.
type Message struct {
	To      string
	Subject string
	Body    string
}

// Sender delivers messages to users; the store uses it for password-reset
// tokens (Config.ResetSender). Implementations must not log the body, which
// carries the token.
type Sender interface {
	Send(ctx context.Context, m Message) error
}

// ConsoleSender writes each message to W instead of sending it, as the
// console e-mail backends of web frameworks do: for development, where the
// person running the server reads the token from its output. It is not a
// log: it writes the message, token included, and nothing else goes there.
type ConsoleSender struct {
	W io.Writer

	mu sync.Mutex // one message at a time, never interleaved
}

// Send writes m to W.
func (c *ConsoleSender) Send(_ context.Context, m Message) error {
	if err := checkHeaders(m); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	_, err := fmt.Fprintf(c.W, "---------- message ----------\nTo: %s\nSubject: %s\n\n%s---------- end of message ----------\n",
		m.To, m.Subject, m.Body)
	if err != nil {
		return fmt.Errorf("console sender: %w", err)
	}
	return nil
}

// SMTPSender sends messages through an SMTP server, always over TLS:
// implicit TLS (SMTPS, usually port 465) when ImplicitTLS is set, otherwise
// STARTTLS, which the server must offer (it refuses to send in clear).
type SMTPSender struct {
	Addr     string // host:port of the server
	From     string // envelope and header sender
	Username string // for PLAIN authentication; empty for none
	Password string

	ImplicitTLS bool
	// TLSConfig, when set, replaces the default (which verifies the
	// server's certificate for the host of Addr).
	TLSConfig *tls.Config
	// Timeout bounds one delivery, connection included. Default: 30s.
	Timeout time.Duration
}

// Send delivers m. It fails without sending when the server offers no TLS,
// when a header carries a line break, or on any SMTP error. Its errors carry
// the server's reply code, never the reply's text, which can name the
// recipient.
func (s *SMTPSender) Send(ctx context.Context, m Message) error {
	if err := checkHeaders(m); err != nil {
		return err
	}
	if strings.ContainsAny(s.From, "\r\n") {
		return errors.New("smtp: From contains a line break")
	}
	host, _, err := net.SplitHostPort(s.Addr)
	if err != nil {
		return fmt.Errorf("smtp: address %q: %w", s.Addr, err)
	}
	timeout := s.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	c, err := s.connect(ctx, host)
	if err != nil {
		return err
	}
	defer c.Close()
	return s.deliver(c, host, m)
}

// connect dials the server and secures the session before anything else is
// said: TLS from the first byte with ImplicitTLS, STARTTLS otherwise, which
// the server must offer, since the message and the password must never go
// in clear. The connection's deadline is ctx's.
func (s *SMTPSender) connect(ctx context.Context, host string) (*smtp.Client, error) {
	tlsConf := s.TLSConfig
	if tlsConf == nil {
		tlsConf = &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
	}
	var conn net.Conn
	var err error
	if s.ImplicitTLS {
		d := tls.Dialer{Config: tlsConf}
		conn, err = d.DialContext(ctx, "tcp", s.Addr)
	} else {
		var d net.Dialer
		conn, err = d.DialContext(ctx, "tcp", s.Addr)
	}
	if err != nil {
		return nil, fmt.Errorf("smtp: dial: %w", err)
	}
	deadline, _ := ctx.Deadline()
	if err := conn.SetDeadline(deadline); err != nil {
		conn.Close()
		return nil, fmt.Errorf("smtp: %w", err)
	}
	c, err := smtp.NewClient(conn, host)
	if err != nil {
		conn.Close()
		return nil, smtpError("greeting", err)
	}
	if !s.ImplicitTLS {
		if ok, _ := c.Extension("STARTTLS"); !ok {
			c.Close()
			return nil, errors.New("smtp: server does not offer STARTTLS; refusing to send in clear")
		}
		if err := c.StartTLS(tlsConf); err != nil {
			c.Close()
			return nil, smtpError("STARTTLS", err)
		}
	}
	return c, nil
}

// deliver authenticates, when there is a Username, and sends m over c, a
// session connect secured.
func (s *SMTPSender) deliver(c *smtp.Client, host string, m Message) error {
	if s.Username != "" {
		if err := c.Auth(smtp.PlainAuth("", s.Username, s.Password, host)); err != nil {
			return smtpError("AUTH", err)
		}
	}
	if err := c.Mail(s.From); err != nil {
		return smtpError("MAIL FROM", err)
	}
	if err := c.Rcpt(m.To); err != nil {
		return smtpError("RCPT TO", err)
	}
	w, err := c.Data()
	if err != nil {
		return smtpError("DATA", err)
	}
	if _, err := io.WriteString(w, formatMessage(s.From, m, time.Now())); err != nil {
		return smtpError("write", err)
	}
	if err := w.Close(); err != nil {
		return smtpError("end of data", err)
	}
	if err := c.Quit(); err != nil {
		return smtpError("QUIT", err)
	}
	return nil
}

// smtpError describes a failed SMTP step for the log. A reply from the
// server becomes its code and, when it has one, its enhanced status code
// (RFC 3463): "smtp: RCPT TO: server replied 550 5.1.1". The server's text is
// left out: it often names the recipient ("550 5.1.1 <rita@example.com>:
// Recipient address rejected") and may say anything else. A reply that is
// not SMTP at all is left out for the same reason. Other errors (network,
// TLS) are wrapped as they are.
func smtpError(step string, err error) error {
	var reply *textproto.Error
	if errors.As(err, &reply) {
		if status := enhancedStatus(reply.Msg); status != "" {
			return fmt.Errorf("smtp: %s: server replied %d %s", step, reply.Code, status)
		}
		return fmt.Errorf("smtp: %s: server replied %d", step, reply.Code)
	}
	var malformed textproto.ProtocolError
	if errors.As(err, &malformed) {
		return fmt.Errorf("smtp: %s: malformed reply from the server", step)
	}
	return fmt.Errorf("smtp: %s: %w", step, err)
}

// enhancedStatus returns the enhanced status code that begins an SMTP reply
// text ("5.1.1 <rita@...>" gives "5.1.1"), or "" if it has none: a class of
// 2, 4 or 5, then a subject and a detail of one to three digits each.
func enhancedStatus(text string) string {
	code, _, _ := strings.Cut(text, " ")
	code, _, _ = strings.Cut(code, "\n")
	parts := strings.Split(code, ".")
	if len(parts) != 3 || len(parts[0]) != 1 || !strings.Contains("245", parts[0]) {
		return ""
	}
	for _, p := range parts[1:] {
		if len(p) < 1 || len(p) > 3 || strings.Trim(p, "0123456789") != "" {
			return ""
		}
	}
	return code
}

// formatMessage renders m as an RFC 5322 message with CRLF line endings.
func formatMessage(from string, m Message, date time.Time) string {
	var b strings.Builder
	fmt.Fprintf(&b, "From: %s\r\nTo: %s\r\nSubject: %s\r\nDate: %s\r\n", from, m.To, m.Subject, date.Format(time.RFC1123Z))
	b.WriteString("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n")
	b.WriteString(strings.ReplaceAll(strings.ReplaceAll(m.Body, "\r\n", "\n"), "\n", "\r\n"))
	return b.String()
}

// checkHeaders refuses header values that could inject more headers.
func checkHeaders(m Message) error {
	if strings.ContainsAny(m.To, "\r\n") || strings.ContainsAny(m.Subject, "\r\n") {
		return errors.New("send: a header contains a line break")
	}
	return nil
}
