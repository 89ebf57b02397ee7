package notify

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/maestro-ml/auth"
)

// Dir is an auth.Notifier for development: it writes each message, as an
// RFC 5322 file with the same content SMTP would send, into a directory
// (created with mode 0700; files 0600). The files contain live tokens:
// never point it at a shared or served directory.
type Dir struct {
	path   string
	from   *mail.Address
	links  map[auth.MessageKind]string
	render func(auth.Message, string) (string, string)
	seq    atomic.Uint64
}

var _ auth.Notifier = (*Dir)(nil)

// NewDir returns a Dir writing into path. links is as SMTPConfig.Links
// (a missing kind gets an "about:blank" page, fine for local testing).
func NewDir(path, from string, links map[auth.MessageKind]string) (*Dir, error) {
	if path == "" {
		return nil, errors.New("notify: NewDir: the path is empty")
	}
	addr, err := mail.ParseAddress(from)
	if err != nil {
		return nil, errors.New("notify: NewDir: from is not an address")
	}
	if err := os.MkdirAll(path, 0o700); err != nil {
		return nil, fmt.Errorf("notify: Dir: %w", err)
	}
	// The files hold live tokens: refuse a directory others can write to
	// (they could plant links) or read.
	if fi, err := os.Lstat(path); err != nil {
		return nil, fmt.Errorf("notify: Dir: %w", err)
	} else if !fi.IsDir() || fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("notify: Dir: %s must be a directory accessible to its owner only (mode 0700)", path)
	}
	return &Dir{path: path, from: addr, links: links, render: DefaultRender}, nil
}

// Notify implements auth.Notifier by writing one file per message, named
// by time, sequence and kind, so that `ls` lists them in order.
func (d *Dir) Notify(_ context.Context, m auth.Message) error {
	to, err := mail.ParseAddress(m.To)
	if err != nil {
		return errors.New("notify: bad recipient address")
	}
	link := ""
	if m.Token != "" {
		base, ok := d.links[m.Kind]
		if !ok {
			base = "about:blank"
		}
		link = base + "#token=" + m.Token
	}
	subject, body := d.render(m, link)
	now := time.Now()
	name := fmt.Sprintf("%s-%06d-%s.eml", now.UTC().Format("20060102T150405.000"), d.seq.Add(1), m.Kind)
	return createExclusive(filepath.Join(d.path, name), buildMessage(d.from, to, subject, body, now))
}

// createExclusive writes a new 0600 file. O_EXCL never follows or
// overwrites an existing name, a planted symbolic link included.
func createExclusive(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("notify: Dir: %w", err)
	}
	_, err = f.Write(data)
	return errors.Join(err, f.Close())
}
