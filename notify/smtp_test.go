package notify

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"net/mail"
	"net/textproto"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/maestro-ml/auth"
	"github.com/stretchr/testify/require"
)

// fakeSMTP is a minimal SMTP server on 127.0.0.1 that records messages.
type fakeSMTP struct {
	ln       net.Listener
	starttls bool
	utf8     bool // offers SMTPUTF8
	mu       sync.Mutex
	mails    []string
	msgs     []string
	rcpts    []string
	got      chan struct{}
}

func newFakeSMTP(t *testing.T, starttls bool) *fakeSMTP {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	f := &fakeSMTP{ln: ln, starttls: starttls, got: make(chan struct{}, 100)}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go f.serve(c)
		}
	}()
	return f
}

func (f *fakeSMTP) serve(c net.Conn) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	tp := textproto.NewConn(c)
	_ = tp.PrintfLine("220 fake ESMTP")
	for {
		line, err := tp.ReadLine()
		if err != nil {
			return
		}
		cmd := strings.ToUpper(strings.SplitN(line, " ", 2)[0])
		switch cmd {
		case "EHLO", "HELO":
			lines := []string{"fake", "8BITMIME"}
			if f.utf8 {
				lines = append(lines, "SMTPUTF8")
			}
			if f.starttls {
				lines = append(lines, "STARTTLS")
			}
			for i, l := range lines {
				sep := "-"
				if i == len(lines)-1 {
					sep = " "
				}
				_ = tp.PrintfLine("250%s%s", sep, l)
			}
		case "MAIL":
			f.mu.Lock()
			f.mails = append(f.mails, line)
			f.mu.Unlock()
			_ = tp.PrintfLine("250 ok")
		case "RCPT":
			f.mu.Lock()
			f.rcpts = append(f.rcpts, line)
			f.mu.Unlock()
			_ = tp.PrintfLine("250 ok")
		case "DATA":
			_ = tp.PrintfLine("354 go ahead")
			b, _ := io.ReadAll(tp.DotReader())
			f.mu.Lock()
			f.msgs = append(f.msgs, string(b))
			f.mu.Unlock()
			_ = tp.PrintfLine("250 queued")
			f.got <- struct{}{}
		case "QUIT":
			_ = tp.PrintfLine("221 bye")
			return
		case "STARTTLS":
			_ = tp.PrintfLine("454 not really")
			return
		default:
			_ = tp.PrintfLine("502 unknown")
		}
	}
}

func links() map[auth.MessageKind]string {
	return map[auth.MessageKind]string{
		auth.MessageVerifyEmail:   "https://app.example.com/verify",
		auth.MessageResetPassword: "https://app.example.com/reset",
		auth.MessageChangeEmail:   "https://app.example.com/confirm",
	}
}

func TestSMTPDelivers(t *testing.T) {
	srv := newFakeSMTP(t, false)
	n, err := NewSMTP(SMTPConfig{Addr: srv.ln.Addr().String(), From: "Example <no-reply@example.com>", Links: links(), InsecureSkipTLS: true, Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	defer n.Close()
	exp := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	require.NoError(t, n.Notify(context.Background(), auth.Message{Kind: auth.MessageResetPassword, To: "kate@example.com", Token: "tok_abc-123", ExpiresAt: exp}))
	select {
	case <-srv.got:
	case <-time.After(5 * time.Second):
		t.Fatal("no message delivered")
	}
	srv.mu.Lock()
	msg, rcpt := srv.msgs[0], srv.rcpts[0]
	srv.mu.Unlock()
	require.Contains(t, rcpt, "<kate@example.com>")
	// The server's DotReader turns CRLF into LF.
	require.Contains(t, msg, "From: \"Example\" <no-reply@example.com>\n")
	require.Contains(t, msg, "To: <kate@example.com>\n")
	require.Contains(t, msg, "Subject: Reset your password\n")
	require.Contains(t, msg, "https://app.example.com/reset#token=tok_abc-123\n", "the token travels in the fragment")
	require.Contains(t, msg, "2026-12-01 10:00 UTC")
}

func TestSMTPRequiresTLS(t *testing.T) {
	srv := newFakeSMTP(t, false)
	var logs bytes.Buffer
	n, err := NewSMTP(SMTPConfig{Addr: srv.ln.Addr().String(), From: "no-reply@example.com", Links: links(), Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	require.NoError(t, err)
	require.NoError(t, n.Notify(context.Background(), auth.Message{Kind: auth.MessageVerifyEmail, To: "kate@example.com", Token: "secret-token-value"}))
	require.NoError(t, n.Close())
	require.Empty(t, srv.msgs, "nothing is sent in clear text")
	require.Contains(t, logs.String(), "no STARTTLS")
	require.NotContains(t, logs.String(), "secret-token-value", "tokens never reach the log")
}

func TestSMTPQueue(t *testing.T) {
	// A server that never answers keeps the single worker busy.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { _, _ = io.Copy(io.Discard, bufio.NewReader(c)) }()
		}
	}()
	n, err := NewSMTP(SMTPConfig{Addr: ln.Addr().String(), From: "no-reply@example.com", Links: links(), QueueSize: 1, Timeout: 200 * time.Millisecond, InsecureSkipTLS: true, Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	m := auth.Message{Kind: auth.MessagePasswordChanged, To: "kate@example.com"}
	var full bool
	for range 10 {
		if err := n.Notify(context.Background(), m); err != nil {
			require.ErrorIs(t, err, ErrQueueFull)
			full = true
		}
	}
	require.True(t, full, "Notify never blocks: a full queue is an error")
	require.NoError(t, n.Close())
	require.ErrorIs(t, n.Notify(context.Background(), m), ErrClosed)
}

func TestSMTPConfig(t *testing.T) {
	ok := SMTPConfig{Addr: "smtp.example.com:587", From: "no-reply@example.com", Links: links()}
	for name, edit := range map[string]func(*SMTPConfig){
		"addr":              func(c *SMTPConfig) { c.Addr = "smtp.example.com" },
		"from":              func(c *SMTPConfig) { c.From = "not an address" },
		"missing link":      func(c *SMTPConfig) { delete(c.Links, auth.MessageResetPassword) },
		"relative link":     func(c *SMTPConfig) { c.Links[auth.MessageVerifyEmail] = "/verify" },
		"link fragment":     func(c *SMTPConfig) { c.Links[auth.MessageVerifyEmail] = "https://x.example/v#a" },
		"password in clear": func(c *SMTPConfig) { c.Password, c.InsecureSkipTLS = "pw", true },
	} {
		c := ok
		c.Links = links()
		edit(&c)
		_, err := NewSMTP(c)
		require.Error(t, err, name)
	}
}

func TestBuildMessageNoHeaderInjection(t *testing.T) {
	from, to := mustAddr(t, "no-reply@example.com"), mustAddr(t, "kate@example.com")
	msg := string(buildMessage(from, to, "Hello\r\nBcc: victim@example.com", "line one\n.line two", time.Unix(0, 0)))
	require.NotContains(t, msg, "\r\nBcc:")
	require.Contains(t, msg, "Subject: Hello  Bcc: victim@example.com\r\n")
	require.Contains(t, msg, "line one\r\n.line two\r\n")
	require.Contains(t, string(buildMessage(from, to, "Grüße", "", time.Unix(0, 0))), "Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=")
}

func mustAddr(t *testing.T, s string) *mail.Address {
	a, err := mail.ParseAddress(s)
	require.NoError(t, err)
	return a
}

func TestDir(t *testing.T) {
	dir := t.TempDir() + "/mail"
	n, err := NewDir(dir, "no-reply@example.com", links())
	require.NoError(t, err)
	require.NoError(t, n.Notify(context.Background(), auth.Message{Kind: auth.MessageVerifyEmail, To: "kate@example.com", Token: "tok123"}))
	require.NoError(t, n.Notify(context.Background(), auth.Message{Kind: auth.MessagePasswordChanged, To: "kate@example.com"}))
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, entries, 2)
	info, err := entries[0].Info()
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), info.Mode().Perm())
	b, err := os.ReadFile(dir + "/" + entries[0].Name())
	require.NoError(t, err)
	require.Contains(t, string(b), "https://app.example.com/verify#token=tok123")
	st, err := os.Stat(dir)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o700), st.Mode().Perm())
}

func TestDirRefusesUnsafeDirectories(t *testing.T) {
	open := t.TempDir() + "/open"
	require.NoError(t, os.Mkdir(open, 0o700))
	require.NoError(t, os.Chmod(open, 0o777))
	_, err := NewDir(open, "no-reply@example.com", links())
	require.Error(t, err, "a world-writable directory is refused")

	// A symbolic link planted at a message's name is never followed.
	dir := t.TempDir()
	target := dir + "/stolen"
	require.NoError(t, os.Symlink(target, dir+"/message.eml"))
	require.Error(t, createExclusive(dir+"/message.eml", []byte("token")))
	_, err = os.Stat(target)
	require.True(t, os.IsNotExist(err), "nothing written through the link")
}

func TestQueueErrorsAreUnavailable(t *testing.T) {
	require.ErrorIs(t, ErrQueueFull, auth.ErrUnavailable)
	require.ErrorIs(t, ErrClosed, auth.ErrUnavailable)
}

// TestSMTPInternationalAddress: a message to a non-ASCII address goes out
// only through a server that offers SMTPUTF8, which MAIL FROM then
// requests; otherwise the delivery fails with ErrNoSMTPUTF8, counted and
// logged like any other failure, and nothing is sent.
func TestSMTPInternationalAddress(t *testing.T) {
	const to = "用户@例子.广告"
	send := func(t *testing.T, srv *fakeSMTP) (*SMTP, string) {
		var logs syncLog
		n, err := NewSMTP(SMTPConfig{Addr: srv.ln.Addr().String(), From: "Example <no-reply@example.com>", Links: links(),
			InsecureSkipTLS: true, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
		require.NoError(t, err)
		require.NoError(t, n.Notify(context.Background(), auth.Message{Kind: auth.MessageVerifyEmail, To: to, Token: "tok"}))
		require.NoError(t, n.Close())
		return n, logs.String()
	}
	t.Run("SMTPUTF8 offered", func(t *testing.T) {
		srv := newFakeSMTP(t, false)
		srv.utf8 = true
		n, logs := send(t, srv)
		require.Equal(t, SMTPStats{Sent: 1}, n.Stats(), logs)
		srv.mu.Lock()
		defer srv.mu.Unlock()
		require.Len(t, srv.msgs, 1)
		require.Contains(t, srv.mails[0], " SMTPUTF8", "MAIL FROM requests SMTPUTF8")
		require.Contains(t, srv.rcpts[0], "<"+to+">")
		require.Contains(t, srv.msgs[0], "To: <"+to+">\n", "the header carries the address as UTF-8 (RFC 6532)")
	})
	t.Run("SMTPUTF8 not offered", func(t *testing.T) {
		srv := newFakeSMTP(t, false)
		n, logs := send(t, srv)
		require.Equal(t, SMTPStats{Failed: 1}, n.Stats())
		srv.mu.Lock()
		defer srv.mu.Unlock()
		require.Empty(t, srv.mails, "not even MAIL FROM is sent")
		require.Empty(t, srv.msgs)
		require.Contains(t, logs, "delivery failed")
		require.Contains(t, logs, "does not offer SMTPUTF8")
	})
	t.Run("ASCII needs nothing", func(t *testing.T) {
		srv := newFakeSMTP(t, false)
		n, err := NewSMTP(SMTPConfig{Addr: srv.ln.Addr().String(), From: "no-reply@example.com", Links: links(), InsecureSkipTLS: true, Logger: slog.New(slog.DiscardHandler)})
		require.NoError(t, err)
		require.NoError(t, n.Notify(context.Background(), auth.Message{Kind: auth.MessageVerifyEmail, To: "kate@example.com", Token: "tok"}))
		require.NoError(t, n.Close())
		require.Equal(t, SMTPStats{Sent: 1}, n.Stats())
		srv.mu.Lock()
		defer srv.mu.Unlock()
		require.NotContains(t, srv.mails[0], "SMTPUTF8")
	})
}

// syncLog is a log buffer safe for the delivery goroutine.
type syncLog struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *syncLog) Write(p []byte) (int, error) { l.mu.Lock(); defer l.mu.Unlock(); return l.b.Write(p) }
func (l *syncLog) String() string              { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }
