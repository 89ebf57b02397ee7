// Package memstore keeps users, tenants, sessions and revocations in memory,
// for tests, demos and single-process tools. Everything is lost when the
// process exits. A Store is safe for concurrent use; Close stops its janitor.
package memstore

import (
	"context"
	"sync"
	"time"

	"github.com/maestro-ml/auth"
	"github.com/maestro-ml/auth/internal/ratelimit"
)

var (
	_ auth.UserStore        = (*Store)(nil)
	_ auth.TenantStore      = (*Store)(nil)
	_ auth.SessionStore     = (*Store)(nil)
	_ auth.RevocationStore  = (*Store)(nil)
	_ auth.Sweeper          = (*Store)(nil)
	_ auth.Limiter          = (*Store)(nil)
	_ auth.ActionTokenStore = (*Store)(nil)
	_ auth.AuditLog         = (*Store)(nil)
	_ auth.EventWriter      = (*Store)(nil)
)

// Option configures a Store.
type Option func(*Store)

// WithSweepInterval sets how often expired sessions and revocations are
// removed. Zero or negative disables the janitor. Default: one minute.
func WithSweepInterval(d time.Duration) Option { return func(s *Store) { s.sweepEvery = d } }

// WithAuditCapacity sets how many audit events the store keeps; older ones
// are dropped. Default: 10000.
func WithAuditCapacity(n int) Option { return func(s *Store) { s.auditCap = max(n, 1) } }

// WithClock sets the clock the janitor uses. Default: time.Now.
func WithClock(now func() time.Time) Option { return func(s *Store) { s.now = now } }

// Store implements every store interface of package auth in memory. The
// default tenant exists from the start.
type Store struct {
	mu       sync.RWMutex
	users    map[string]*auth.User // by ID
	byEmail  map[string]string     // email -> ID
	tenants  map[string]*auth.Tenant
	slugs    map[string]string // slug -> ID
	sessions map[string]*auth.Session
	byHash   map[string]string            // every refresh hash a session has had -> session ID
	hashes   map[string][]string          // session ID -> its refresh hashes, for sweeping
	actions  map[string]*auth.ActionToken // by hash

	rmu     sync.RWMutex
	revoked map[revKey]auth.Revocation

	limits *ratelimit.Table

	totp totpState // TOTP secrets and recovery codes (totp.go)

	amu      sync.RWMutex
	audit    []auth.Event // ring, oldest overwritten
	auditIDs map[string]struct{}
	auditCap int
	auditN   int // events ever recorded

	sweepEvery time.Duration
	now        func() time.Time
	stop       chan struct{}
	done       chan struct{}
	closeOnce  sync.Once
}

type revKey struct {
	kind auth.RevocationKind
	id   string
}

// New returns an empty Store holding only the default tenant, and starts
// its janitor.
func New(opts ...Option) *Store {
	s := &Store{
		users: map[string]*auth.User{}, byEmail: map[string]string{},
		tenants: map[string]*auth.Tenant{}, slugs: map[string]string{},
		sessions: map[string]*auth.Session{}, byHash: map[string]string{}, hashes: map[string][]string{},
		actions:    map[string]*auth.ActionToken{},
		revoked:    map[revKey]auth.Revocation{},
		sweepEvery: time.Minute,
		auditCap:   10000,
		auditIDs:   map[string]struct{}{},
		now:        time.Now,
		stop:       make(chan struct{}),
		done:       make(chan struct{}),
	}
	for _, o := range opts {
		o(s)
	}
	s.limits = ratelimit.New(1<<20, s.now)
	epoch := time.Unix(0, 0).UTC()
	def := &auth.Tenant{ID: auth.DefaultTenantID, Name: "Default", Slug: auth.DefaultTenantSlug, Active: true, CreatedAt: epoch, UpdatedAt: epoch}
	s.tenants[def.ID], s.slugs[def.Slug] = def, def.ID
	if s.sweepEvery > 0 {
		go s.janitor()
	} else {
		close(s.done)
	}
	return s
}

// Close stops the janitor and waits for it. It is safe to call twice.
func (s *Store) Close() error {
	s.closeOnce.Do(func() { close(s.stop) })
	<-s.done
	return nil
}

func (s *Store) janitor() {
	defer close(s.done)
	t := time.NewTicker(s.sweepEvery)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			_, _ = s.Sweep(context.Background(), s.now())
		}
	}
}

// Sweep implements auth.Sweeper: it removes sessions past their idle or
// absolute expiry (revoked ones are kept until then, so their tokens are
// still recognised) and revocations whose expiry is not after now, and
// returns how many it removed.
func (s *Store) Sweep(ctx context.Context, now time.Time) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	n := 0
	s.mu.Lock()
	for id, ss := range s.sessions {
		if !now.Before(ss.IdleExpiresAt) || !now.Before(ss.ExpiresAt) {
			s.dropSession(ss)
			delete(s.sessions, id)
			n++
		}
	}
	for h, t := range s.actions {
		if !now.Before(t.ExpiresAt) {
			delete(s.actions, h)
			n++
		}
	}
	s.mu.Unlock()
	s.rmu.Lock()
	for k, r := range s.revoked {
		if !now.Before(r.ExpiresAt) {
			delete(s.revoked, k)
			n++
		}
	}
	s.rmu.Unlock()
	return n, nil
}

func (s *Store) dropSession(ss *auth.Session) {
	for _, h := range s.hashes[ss.ID] {
		delete(s.byHash, h)
	}
	delete(s.hashes, ss.ID)
}
