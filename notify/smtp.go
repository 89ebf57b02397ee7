// Package notify delivers the account messages of package auth (e-mail
// verification, password reset, e-mail change and notices) by SMTP.
//
//	n, err := notify.NewSMTP(notify.SMTPConfig{
//		Addr: "smtp.example.com:587", Username: "...", Password: "...",
//		From: "Example <no-reply@example.com>",
//		Links: map[auth.MessageKind]string{
//			auth.MessageVerifyEmail:   "https://app.example.com/verify",
//			auth.MessageResetPassword: "https://app.example.com/reset",
//			auth.MessageChangeEmail:   "https://app.example.com/confirm-email",
//		},
//	})
//	defer n.Close()
//	a, err := auth.New(auth.Config{..., Notifier: n, ActionTokens: store})
//
// Tokens travel in the fragment of the link (…/reset#token=…): browsers
// never send a fragment to a server or in a Referer header, so the token
// stays out of access logs. The page reads it and posts it to the API.
//
// Delivery happens in the background: a failure is logged at Warn and
// counted (SMTP.Stats). An internationalised address (RFC 6530, such as
// 用户@例子.广告) goes out only through a server that offers SMTPUTF8;
// through any other the delivery fails with ErrNoSMTPUTF8.
package notify

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net"
	"net/mail"
	"net/smtp"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/maestro-ml/auth"
	"github.com/maestro-ml/auth/internal/errs"
)

// ErrQueueFull is returned by Notify when the delivery queue is full. It
// matches auth.ErrUnavailable, so HTTP answers 503 with Retry-After.
var ErrQueueFull = errs.Kind(auth.ErrUnavailable, "notify: delivery queue is full")

// ErrClosed is returned by Notify after Close. It matches
// auth.ErrUnavailable.
var ErrClosed = errs.Kind(auth.ErrUnavailable, "notify: closed")

// ErrNoSMTPUTF8 is the delivery failure of a message to or from an
// address that is not ASCII (an internationalised address, RFC 6530)
// through a server that does not offer SMTPUTF8 (RFC 6531): such a server
// would refuse or mangle it.
var ErrNoSMTPUTF8 = errors.New("notify: the address is not ASCII and the SMTP server does not offer SMTPUTF8")

// SMTPConfig configures an SMTP notifier.
type SMTPConfig struct {
	// Addr is the server's host:port. Required.
	Addr string
	// Username and Password authenticate with SMTP AUTH PLAIN, only ever
	// over TLS. Empty: no authentication.
	Username, Password string
	// From is the sender, e.g. "Example <no-reply@example.com>". Required.
	From string
	// Links maps each token-carrying message kind to the page that handles
	// it; the token is appended as a fragment. Required for
	// MessageVerifyEmail, MessageResetPassword and MessageChangeEmail.
	Links map[auth.MessageKind]string
	// ImplicitTLS connects with TLS from the start (port 465). Zero:
	// STARTTLS, which is required unless InsecureSkipTLS.
	ImplicitTLS bool
	// InsecureSkipTLS sends in clear text when the server offers no
	// STARTTLS. Only for a local relay or tests; never with a password.
	InsecureSkipTLS bool
	// TLSConfig overrides the TLS settings (ServerName defaults to the
	// host of Addr).
	TLSConfig *tls.Config
	// Timeout bounds one delivery. Zero: 30 seconds.
	Timeout time.Duration
	// QueueSize is how many messages may wait. Zero: 256.
	QueueSize int
	// Render builds the subject and plain-text body. Zero: DefaultRender.
	Render func(m auth.Message, link string) (subject, body string)
	// Logger receives delivery failures (never tokens). Zero: slog.Default().
	Logger *slog.Logger
}

// SMTP is an auth.Notifier that queues messages and delivers them from one
// goroutine, so Notify never waits on the network. Close drains the queue.
type SMTP struct {
	cfg   SMTPConfig
	host  string
	from  *mail.Address
	queue chan auth.Message
	done  chan struct{}

	mu     sync.RWMutex
	closed bool

	sent, failed atomic.Uint64
}

// SMTPStats counts deliveries since NewSMTP.
type SMTPStats struct {
	// Sent is how many messages the server accepted.
	Sent uint64
	// Failed is how many could not be delivered; each is logged at Warn
	// with its reason.
	Failed uint64
}

// Stats returns the delivery counts.
func (s *SMTP) Stats() SMTPStats { return SMTPStats{Sent: s.sent.Load(), Failed: s.failed.Load()} }

var _ auth.Notifier = (*SMTP)(nil)

// NewSMTP validates cfg and starts the delivery goroutine.
func NewSMTP(cfg SMTPConfig) (*SMTP, error) {
	host, _, err := net.SplitHostPort(cfg.Addr)
	if err != nil || host == "" {
		return nil, errors.New("notify: SMTPConfig.Addr must be host:port")
	}
	from, err := mail.ParseAddress(cfg.From)
	if err != nil {
		return nil, errors.New("notify: SMTPConfig.From is not an address")
	}
	for _, k := range []auth.MessageKind{auth.MessageVerifyEmail, auth.MessageResetPassword, auth.MessageChangeEmail} {
		u, err := url.Parse(cfg.Links[k])
		if err != nil || u.Scheme == "" || u.Host == "" || u.Fragment != "" {
			return nil, fmt.Errorf("notify: SMTPConfig.Links[%s] must be an absolute URL without a fragment", k)
		}
	}
	if cfg.Password != "" && cfg.InsecureSkipTLS {
		return nil, errors.New("notify: SMTPConfig.Password needs TLS; it cannot be set with SMTPConfig.InsecureSkipTLS")
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.QueueSize <= 0 {
		cfg.QueueSize = 256
	}
	if cfg.Render == nil {
		cfg.Render = DefaultRender
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	s := &SMTP{cfg: cfg, host: host, from: from, queue: make(chan auth.Message, cfg.QueueSize), done: make(chan struct{})}
	go s.run()
	return s, nil
}

// Notify implements auth.Notifier: it queues m and returns at once, with
// ErrQueueFull if the queue is full and ErrClosed after Close.
func (s *SMTP) Notify(_ context.Context, m auth.Message) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return ErrClosed
	}
	select {
	case s.queue <- m:
		return nil
	default:
		return ErrQueueFull
	}
}

// Close stops accepting messages, delivers the queued ones and returns.
func (s *SMTP) Close() error {
	s.mu.Lock()
	if !s.closed {
		s.closed = true
		close(s.queue)
	}
	s.mu.Unlock()
	<-s.done
	return nil
}

func (s *SMTP) run() {
	defer close(s.done)
	for m := range s.queue {
		if err := s.send(m); err != nil {
			s.failed.Add(1)
			s.cfg.Logger.Warn("notify: delivery failed", "kind", string(m.Kind), "user", m.UserID, "error", err)
		} else {
			s.sent.Add(1)
		}
	}
}

// Link returns the page link for a token-carrying message, with the token
// in the fragment, or "" for notices.
func (s *SMTP) Link(m auth.Message) string {
	base, ok := s.cfg.Links[m.Kind]
	if !ok || m.Token == "" {
		return ""
	}
	return base + "#token=" + url.QueryEscape(m.Token)
}

func (s *SMTP) send(m auth.Message) error {
	to, err := mail.ParseAddress(m.To)
	if err != nil {
		return errors.New("bad recipient address")
	}
	subject, body := s.cfg.Render(m, s.Link(m))
	msg := buildMessage(s.from, to, subject, body, time.Now())

	d := net.Dialer{Timeout: s.cfg.Timeout}
	var conn net.Conn
	if s.cfg.ImplicitTLS {
		conn, err = tls.DialWithDialer(&d, "tcp", s.cfg.Addr, s.tlsConfig())
	} else {
		conn, err = d.Dial("tcp", s.cfg.Addr)
	}
	if err != nil {
		return err
	}
	_ = conn.SetDeadline(time.Now().Add(s.cfg.Timeout))
	c, err := smtp.NewClient(conn, s.host)
	if err != nil {
		conn.Close()
		return err
	}
	defer c.Close()
	if !s.cfg.ImplicitTLS {
		if ok, _ := c.Extension("STARTTLS"); ok {
			if err := c.StartTLS(s.tlsConfig()); err != nil {
				return err
			}
		} else if !s.cfg.InsecureSkipTLS {
			return errors.New("server offers no STARTTLS")
		}
	}
	if s.cfg.Username != "" {
		if err := c.Auth(smtp.PlainAuth("", s.cfg.Username, s.cfg.Password, s.host)); err != nil {
			return err
		}
	}
	// An internationalised address needs SMTPUTF8, which net/smtp then
	// announces in MAIL FROM; the headers may carry UTF-8 (RFC 6532).
	if !ascii(s.from.Address) || !ascii(to.Address) {
		if ok, _ := c.Extension("SMTPUTF8"); !ok {
			return ErrNoSMTPUTF8
		}
	}
	if err := c.Mail(s.from.Address); err != nil {
		return err
	}
	if err := c.Rcpt(to.Address); err != nil {
		return err
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

func ascii(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

func (s *SMTP) tlsConfig() *tls.Config {
	if s.cfg.TLSConfig != nil {
		return s.cfg.TLSConfig
	}
	return &tls.Config{ServerName: s.host, MinVersion: tls.VersionTLS12}
}

// buildMessage renders an RFC 5322 message with CRLF line endings. Header
// values come from parsed addresses and a subject stripped of line breaks,
// so no header can be injected.
func buildMessage(from, to *mail.Address, subject, body string, now time.Time) []byte {
	subject = strings.Map(func(r rune) rune {
		if r == '\r' || r == '\n' {
			return ' '
		}
		return r
	}, subject)
	var b strings.Builder
	b.WriteString("From: " + from.String() + "\r\n")
	b.WriteString("To: " + to.String() + "\r\n")
	b.WriteString("Subject: " + mimeHeader(subject) + "\r\n")
	b.WriteString("Date: " + now.Format(time.RFC1123Z) + "\r\n")
	b.WriteString("MIME-Version: 1.0\r\n")
	b.WriteString("Content-Type: text/plain; charset=utf-8\r\n")
	b.WriteString("Content-Transfer-Encoding: 8bit\r\n\r\n")
	// net/smtp's DATA writer does the dot-stuffing, after CRLF only: a bare
	// CR from a custom renderer could smuggle an end of data, so CRs go.
	body = strings.ReplaceAll(body, "\r", "")
	for _, line := range strings.Split(body, "\n") {
		b.WriteString(line + "\r\n")
	}
	return []byte(b.String())
}

// mimeHeader encodes a non-ASCII header value (RFC 2047).
func mimeHeader(s string) string { return mime.QEncoding.Encode("utf-8", s) }

// DefaultRender writes a short plain-text message for each kind.
func DefaultRender(m auth.Message, link string) (subject, body string) {
	until := ""
	if !m.ExpiresAt.IsZero() {
		until = " The link works until " + m.ExpiresAt.UTC().Format("2006-01-02 15:04 MST") + " and only once."
	}
	switch m.Kind {
	case auth.MessageVerifyEmail:
		return "Confirm your e-mail address", "Please confirm your e-mail address by opening this link:\n\n" + link + "\n\n" + strings.TrimSpace(until) + "\n\nIf you did not sign up, ignore this message."
	case auth.MessageResetPassword:
		return "Reset your password", "Someone asked to reset the password of your account. To choose a new password, open:\n\n" + link + "\n\n" + strings.TrimSpace(until) + "\n\nIf it was not you, ignore this message: your password stays as it is."
	case auth.MessageChangeEmail:
		return "Confirm your new e-mail address", "To make this your account's e-mail address, open:\n\n" + link + "\n\n" + strings.TrimSpace(until)
	case auth.MessageEmailChangeRequested:
		return "Your e-mail address is being changed", "Someone signed in to your account asked to move it to another e-mail address. If it was not you, reset your password now."
	case auth.MessagePasswordChanged:
		return "Your password was changed", "The password of your account was just changed, and other sessions were signed out. If it was not you, reset your password now."
	case auth.MessageAccountExists:
		return "You already have an account", "Someone tried to sign up with this e-mail address, which already has an account. If it was you, sign in or reset your password. Otherwise, ignore this message."
	}
	return "Account notice", "There was activity on your account."
}
