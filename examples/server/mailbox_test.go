package main_test

import (
	"io"
	"net"
	"net/mail"
	"net/textproto"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// message is one e-mail the server sent.
type message struct {
	to, subject, body string
}

// mailbox is where a test reads the server's e-mail.
type mailbox interface {
	messages(t *testing.T) []message
}

// linkToken matches the token in a link of an account e-mail.
var linkToken = regexp.MustCompile(`(/[a-z-]+)#token=([A-Za-z0-9_%.~-]+)`)

// awaitToken waits for a message to `to` with a link to page and returns
// its token. Messages already used are skipped, so the same kind can be
// awaited again.
func awaitToken(t *testing.T, mb mailbox, to, page string, used map[string]bool) string {
	t.Helper()
	token := ""
	eventually(t, "a "+page+" e-mail to "+to, func() bool {
		for _, m := range mb.messages(t) {
			mt := linkToken.FindStringSubmatch(m.body)
			if m.to != to || mt == nil || mt[1] != page || used[mt[2]] {
				continue
			}
			used[mt[2]] = true
			tok, err := url.QueryUnescape(mt[2])
			require.NoError(t, err)
			token = tok
			return true
		}
		return false
	})
	return token
}

// parseMessage reads an RFC 5322 message.
func parseMessage(t *testing.T, data string) message {
	t.Helper()
	m, err := mail.ReadMessage(strings.NewReader(data))
	require.NoError(t, err)
	to, err := mail.ParseAddress(m.Header.Get("To"))
	require.NoError(t, err)
	body, err := io.ReadAll(m.Body)
	require.NoError(t, err)
	return message{to: to.Address, subject: m.Header.Get("Subject"), body: string(body)}
}

// dirMailbox reads the server's MAIL_DIR outbox.
type dirMailbox struct{ dir string }

func (d dirMailbox) messages(t *testing.T) []message {
	t.Helper()
	entries, err := os.ReadDir(d.dir)
	if os.IsNotExist(err) {
		return nil
	}
	require.NoError(t, err)
	var out []message
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".eml") {
			continue
		}
		data, err := os.ReadFile(filepath.Join(d.dir, e.Name()))
		require.NoError(t, err)
		out = append(out, parseMessage(t, string(data)))
	}
	return out
}

// fakeSMTP is a minimal SMTP server on 127.0.0.1 that accepts every
// message, without TLS (the server under test runs with
// SMTP_INSECURE_SKIP_TLS).
type fakeSMTP struct {
	ln   net.Listener
	mu   sync.Mutex
	msgs []string
	wg   sync.WaitGroup
}

func startFakeSMTP(t *testing.T) *fakeSMTP {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	f := &fakeSMTP{ln: ln}
	f.wg.Go(func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			f.wg.Go(func() { f.serve(conn) })
		}
	})
	t.Cleanup(func() {
		ln.Close()
		f.wg.Wait()
	})
	return f
}

func (f *fakeSMTP) addr() string { return f.ln.Addr().String() }

// serve speaks just enough SMTP for net/smtp: EHLO, MAIL, RCPT, DATA,
// RSET, NOOP, QUIT.
func (f *fakeSMTP) serve(conn net.Conn) {
	defer conn.Close()
	tp := textproto.NewConn(conn)
	reply := func(s string) bool { return tp.PrintfLine("%s", s) == nil }
	if !reply("220 localhost fake ESMTP") {
		return
	}
	for {
		line, err := tp.ReadLine()
		if err != nil {
			return
		}
		verb, _, _ := strings.Cut(strings.ToUpper(line), " ")
		switch verb {
		case "EHLO", "HELO":
			reply("250-localhost\r\n250 8BITMIME")
		case "MAIL", "RCPT", "RSET", "NOOP":
			reply("250 OK")
		case "DATA":
			if !reply("354 go ahead") {
				return
			}
			data, err := tp.ReadDotBytes()
			if err != nil {
				return
			}
			f.mu.Lock()
			f.msgs = append(f.msgs, string(data))
			f.mu.Unlock()
			reply("250 OK queued")
		case "QUIT":
			reply("221 bye")
			return
		default:
			reply("502 not implemented")
		}
	}
}

func (f *fakeSMTP) messages(t *testing.T) []message {
	t.Helper()
	f.mu.Lock()
	raw := slices.Clone(f.msgs)
	f.mu.Unlock()
	out := make([]message, 0, len(raw))
	for _, r := range raw {
		out = append(out, parseMessage(t, r))
	}
	return out
}
