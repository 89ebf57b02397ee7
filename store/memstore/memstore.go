// Package memstore keeps users, tenants, sessions and revocations in memory,
// for tests, demos and single-process tools. Everything is lost when the
// process exits. A Store is safe for concurrent use; Close stops its janitor.
package memstore

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
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

func cloneUser(u *auth.User) *auth.User {
	c := *u
	c.Meta = bytes.Clone(u.Meta)
	if u.LastLoginAt != nil {
		t := *u.LastLoginAt
		c.LastLoginAt = &t
	}
	return &c
}

func cloneSession(ss *auth.Session) *auth.Session {
	c := *ss
	c.RefreshHash = bytes.Clone(ss.RefreshHash)
	c.PreviousHash = bytes.Clone(ss.PreviousHash)
	return &c
}

// CreateUser implements auth.UserStore.
func (s *Store) CreateUser(ctx context.Context, u *auth.User) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.tenants[u.TenantID]; !ok {
		return auth.ErrTenantNotFound
	}
	if _, taken := s.byEmail[u.Email]; taken {
		return auth.ErrEmailTaken
	}
	if _, taken := s.users[u.ID]; taken {
		return auth.ErrConflict
	}
	s.users[u.ID] = cloneUser(u)
	s.byEmail[u.Email] = u.ID
	return nil
}

// User implements auth.UserStore.
func (s *Store) User(ctx context.Context, id string) (*auth.User, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	u, ok := s.users[id]
	if !ok {
		return nil, auth.ErrUserNotFound
	}
	return cloneUser(u), nil
}

// UserByEmail implements auth.UserStore.
func (s *Store) UserByEmail(ctx context.Context, email string) (*auth.User, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	id, ok := s.byEmail[email]
	if !ok {
		return nil, auth.ErrUserNotFound
	}
	return cloneUser(s.users[id]), nil
}

// UpdateUser implements auth.UserStore.
func (s *Store) UpdateUser(ctx context.Context, tenantID, id string, upd auth.UserUpdate) (*auth.User, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.users[id]
	if !ok || (tenantID != "" && u.TenantID != tenantID) {
		return nil, auth.ErrUserNotFound
	}
	if upd.IfPasswordHash != nil && *upd.IfPasswordHash != u.PasswordHash {
		return nil, auth.ErrConflict
	}
	if upd.Email != nil && *upd.Email != u.Email {
		if _, taken := s.byEmail[*upd.Email]; taken {
			return nil, auth.ErrEmailTaken
		}
		delete(s.byEmail, u.Email)
		s.byEmail[*upd.Email] = u.ID
		u.Email = *upd.Email
	}
	set(&u.PasswordHash, upd.PasswordHash)
	set(&u.Name, upd.Name)
	set(&u.Role, upd.Role)
	set(&u.Active, upd.Active)
	set(&u.Verified, upd.Verified)
	if upd.LastLoginAt != nil {
		t := *upd.LastLoginAt
		u.LastLoginAt = &t
	}
	if upd.Meta != nil {
		u.Meta = bytes.Clone(upd.Meta)
	}
	u.UpdatedAt = upd.At
	return cloneUser(u), nil
}

func set[T any](dst *T, v *T) {
	if v != nil {
		*dst = *v
	}
}

// ListUsers implements auth.UserStore.
func (s *Store) ListUsers(ctx context.Context, q auth.UserQuery) ([]*auth.User, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []*auth.User
	for _, u := range s.users {
		if u.TenantID != q.TenantID || (q.Role != "" && u.Role != q.Role) ||
			(q.Active != nil && u.Active != *q.Active) || (q.After != "" && u.ID <= q.After) {
			continue
		}
		out = append(out, u)
	}
	slices.SortFunc(out, func(a, b *auth.User) int { return strings.Compare(a.ID, b.ID) })
	if q.Limit > 0 && len(out) > q.Limit {
		out = out[:q.Limit]
	}
	for i, u := range out {
		out[i] = cloneUser(u)
	}
	return out, nil
}

// CreateTenant implements auth.TenantStore.
func (s *Store) CreateTenant(ctx context.Context, t *auth.Tenant) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.tenants[t.ID]; ok {
		return auth.ErrTenantTaken
	}
	if _, ok := s.slugs[t.Slug]; ok {
		return auth.ErrTenantTaken
	}
	c := *t
	s.tenants[t.ID], s.slugs[t.Slug] = &c, t.ID
	return nil
}

// Tenant implements auth.TenantStore.
func (s *Store) Tenant(ctx context.Context, id string) (*auth.Tenant, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	t, ok := s.tenants[id]
	if !ok {
		return nil, auth.ErrTenantNotFound
	}
	c := *t
	return &c, nil
}

// TenantBySlug implements auth.TenantStore.
func (s *Store) TenantBySlug(ctx context.Context, slug string) (*auth.Tenant, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	id, ok := s.slugs[slug]
	if !ok {
		return nil, auth.ErrTenantNotFound
	}
	c := *s.tenants[id]
	return &c, nil
}

// SetTenantActive activates or deactivates a tenant.
func (s *Store) SetTenantActive(ctx context.Context, id string, active bool) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.tenants[id]
	if !ok {
		return auth.ErrTenantNotFound
	}
	t.Active = active
	return nil
}

// CreateSession implements auth.SessionStore.
func (s *Store) CreateSession(ctx context.Context, ss *auth.Session) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.sessions[ss.ID]; ok {
		return auth.ErrConflict
	}
	if _, ok := s.byHash[string(ss.RefreshHash)]; ok {
		return auth.ErrConflict
	}
	s.sessions[ss.ID] = cloneSession(ss)
	s.byHash[string(ss.RefreshHash)] = ss.ID
	s.hashes[ss.ID] = []string{string(ss.RefreshHash)}
	return nil
}

// SessionByRefreshHash implements auth.SessionStore.
func (s *Store) SessionByRefreshHash(ctx context.Context, hash []byte) (*auth.Session, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	id, ok := s.byHash[string(hash)]
	if !ok {
		return nil, auth.ErrSessionNotFound
	}
	return cloneSession(s.sessions[id]), nil
}

// RotateSession implements auth.SessionStore.
func (s *Store) RotateSession(ctx context.Context, id string, r auth.Rotation) (*auth.Session, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ss, ok := s.sessions[id]
	if !ok {
		return nil, auth.ErrSessionNotFound
	}
	if !ss.RevokedAt.IsZero() || !bytes.Equal(ss.RefreshHash, r.From) {
		return nil, auth.ErrConflict
	}
	if _, taken := s.byHash[string(r.To)]; taken {
		return nil, auth.ErrConflict
	}
	// Replaced hashes stay indexed until the session is swept, so that
	// reuse of any of them is recognised.
	ss.PreviousHash, ss.RefreshHash = ss.RefreshHash, bytes.Clone(r.To)
	ss.RotatedAt, ss.LastUsedAt, ss.IdleExpiresAt = r.At, r.At, r.IdleExpiresAt
	s.byHash[string(ss.RefreshHash)] = ss.ID
	s.hashes[ss.ID] = append(s.hashes[ss.ID], string(ss.RefreshHash))
	return cloneSession(ss), nil
}

// ListSessions implements auth.SessionStore.
func (s *Store) ListSessions(ctx context.Context, userID string, now time.Time) ([]*auth.Session, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []*auth.Session
	for _, ss := range s.sessions {
		if ss.UserID == userID && ss.Live(now) {
			out = append(out, cloneSession(ss))
		}
	}
	slices.SortFunc(out, func(a, b *auth.Session) int {
		if c := b.CreatedAt.Compare(a.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(b.ID, a.ID)
	})
	return out, nil
}

// RevokeSessions implements auth.SessionStore.
func (s *Store) RevokeSessions(ctx context.Context, r auth.SessionRevocation) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var ids []string
	for id, ss := range s.sessions {
		if ss.UserID != r.UserID || !ss.RevokedAt.IsZero() ||
			(r.SessionID != "" && id != r.SessionID) || (r.ExceptID != "" && id == r.ExceptID) {
			continue
		}
		ss.RevokedAt = r.At
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids, nil
}

// Revoke implements auth.RevocationStore.
func (s *Store) Revoke(ctx context.Context, r auth.Revocation) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if !r.Valid() {
		return auth.ErrInvalidInput
	}
	k := revKey{r.Kind, r.ID}
	s.rmu.Lock()
	defer s.rmu.Unlock()
	if old, ok := s.revoked[k]; ok {
		if old.At.After(r.At) {
			r.At = old.At
		}
		if old.ExpiresAt.After(r.ExpiresAt) {
			r.ExpiresAt = old.ExpiresAt
		}
	}
	s.revoked[k] = r
	return nil
}

// Revoked implements auth.RevocationStore. It does not allocate.
func (s *Store) Revoked(ctx context.Context, q auth.RevocationQuery) (auth.RevocationStatus, error) {
	var st auth.RevocationStatus
	if err := ctx.Err(); err != nil {
		return st, err
	}
	s.rmu.RLock()
	defer s.rmu.RUnlock()
	_, st.TokenRevoked = s.revoked[revKey{auth.RevokeToken, q.TokenID}]
	_, st.SessionRevoked = s.revoked[revKey{auth.RevokeSession, q.SessionID}]
	if r, ok := s.revoked[revKey{auth.RevokeUser, q.UserID}]; ok {
		st.UserCutoff = r.At
	}
	return st, nil
}

// Allow implements auth.Limiter with the generic cell rate algorithm; the
// table holds at most about a million keys.
func (s *Store) Allow(ctx context.Context, key string, l auth.Limit) (bool, time.Duration, error) {
	if err := ctx.Err(); err != nil {
		return false, 0, err
	}
	ok, retry := s.limits.Allow(key, l.Burst, l.Period)
	return ok, retry, nil
}

// Refund implements auth.Limiter.
func (s *Store) Refund(ctx context.Context, key string, l auth.Limit) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.limits.Refund(key, l.Burst, l.Period)
	return nil
}

// Reset implements auth.Limiter.
func (s *Store) Reset(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.limits.Reset(key)
	return nil
}

func cloneAction(t *auth.ActionToken) *auth.ActionToken {
	c := *t
	c.Hash = bytes.Clone(t.Hash)
	return &c
}

// CreateActionToken implements auth.ActionTokenStore.
func (s *Store) CreateActionToken(ctx context.Context, t *auth.ActionToken) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.actions[string(t.Hash)]; ok {
		return auth.ErrConflict
	}
	s.actions[string(t.Hash)] = cloneAction(t)
	return nil
}

// ActionToken implements auth.ActionTokenStore.
func (s *Store) ActionToken(ctx context.Context, purpose auth.Purpose, hash []byte, now time.Time) (*auth.ActionToken, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	t, ok := s.actions[string(hash)]
	if !ok || t.Purpose != purpose || !now.Before(t.ExpiresAt) {
		return nil, auth.ErrInvalidToken
	}
	return cloneAction(t), nil
}

// ConsumeActionToken implements auth.ActionTokenStore.
func (s *Store) ConsumeActionToken(ctx context.Context, purpose auth.Purpose, hash []byte, now time.Time) (*auth.ActionToken, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.actions[string(hash)]
	if !ok || t.Purpose != purpose || !now.Before(t.ExpiresAt) {
		return nil, auth.ErrInvalidToken
	}
	delete(s.actions, string(hash))
	return t, nil
}

// DeleteActionTokens implements auth.ActionTokenStore.
func (s *Store) DeleteActionTokens(ctx context.Context, userID string, purpose auth.Purpose) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if userID == "" {
		return nil // decoys are left to Sweep
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for h, t := range s.actions {
		if t.UserID == userID && t.Purpose == purpose {
			delete(s.actions, h)
		}
	}
	return nil
}

// Record implements auth.EventSink: it keeps the event (under a new
// UUIDv7 if it has no ID), dropping the oldest beyond the audit capacity.
func (s *Store) Record(_ context.Context, e auth.Event) {
	s.amu.Lock()
	defer s.amu.Unlock()
	s.keepEvent(e)
}

// WriteEvents implements auth.EventWriter: it keeps each event whose ID it
// does not hold yet.
func (s *Store) WriteEvents(ctx context.Context, events []auth.Event) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.amu.Lock()
	defer s.amu.Unlock()
	for _, e := range events {
		s.keepEvent(e)
	}
	return nil
}

func (s *Store) keepEvent(e auth.Event) {
	if e.ID == "" {
		e.ID = uuid.Must(uuid.NewV7()).String()
	}
	if _, dup := s.auditIDs[e.ID]; dup {
		return
	}
	s.auditIDs[e.ID] = struct{}{}
	if len(s.audit) < s.auditCap {
		s.audit = append(s.audit, e)
	} else {
		i := s.auditN % s.auditCap
		delete(s.auditIDs, s.audit[i].ID)
		s.audit[i] = e
	}
	s.auditN++
}

// AuditEvents implements auth.AuditLog.
func (s *Store) AuditEvents(ctx context.Context, q auth.EventQuery) ([]auth.Event, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	limit := q.Limit
	if limit <= 0 {
		limit = 50
	}
	s.amu.RLock()
	defer s.amu.RUnlock()
	var out []auth.Event
	for i := range len(s.audit) {
		// Walk newest first.
		e := s.audit[((s.auditN-1-i)%s.auditCap+s.auditCap)%s.auditCap]
		switch {
		case e.TenantID != q.TenantID,
			q.UserID != "" && e.UserID != q.UserID && e.ActorID != q.UserID,
			q.Type != "" && e.Type != q.Type,
			!q.Since.IsZero() && e.Time.Before(q.Since),
			!q.Until.IsZero() && !e.Time.Before(q.Until),
			q.Before != "" && e.ID >= q.Before:
			continue
		}
		out = append(out, e)
		if len(out) == limit {
			break
		}
	}
	return out, nil
}
