package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
)

// Invariant names a property the soak proves; every violation is of one.
type Invariant string

// The invariants, in report order.
const (
	// InvServerError: a response with a 5xx status other than 503. An
	// outage must fail closed with 503, never with an internal error.
	InvServerError Invariant = "server_error"
	// InvNoAnswer: an instance that was running gave no HTTP answer (a
	// reset connection or a client timeout).
	InvNoAnswer Invariant = "no_answer"
	// InvRevokedAccepted: a request authenticated by a credential revoked
	// (logout, logout-all, deactivation, password change, refresh-token
	// reuse) more than RevocationSlack earlier was answered 2xx.
	InvRevokedAccepted Invariant = "revoked_accepted"
	// InvRefreshFork: two refresh tokens of one family usable outside the
	// grace window: a rotated token accepted after the grace window, or
	// one token rotated into two different successors.
	InvRefreshFork Invariant = "refresh_fork"
	// InvGraceRefused: a concurrent duplicate refresh of a session's
	// current token was taken for theft.
	InvGraceRefused Invariant = "grace_refused"
	// InvUnjudgedLock: an account was locked (429 at login or password
	// change) with fewer judged failures than the lockout threshold.
	InvUnjudgedLock Invariant = "unjudged_lock"
	// InvLostRegistration: a registration answered 2xx whose user cannot
	// log in once the faults have stopped.
	InvLostRegistration Invariant = "lost_registration"
	// InvAuditMissing: an action answered 2xx without its audit event in
	// the database.
	InvAuditMissing Invariant = "audit_missing"
)

// Invariants lists every invariant in report order.
var Invariants = []Invariant{
	InvServerError, InvNoAnswer, InvRevokedAccepted, InvRefreshFork, InvGraceRefused,
	InvUnjudgedLock, InvLostRegistration, InvAuditMissing,
}

// CheckerConfig holds the server's parameters the judgments depend on.
type CheckerConfig struct {
	// RefreshGrace is the server's auth.Config.RefreshGrace (10 s by
	// default, which the reference server keeps).
	RefreshGrace time.Duration
	// RevocationSlack is how long after a revocation's 2xx answer a
	// revoked credential may still be accepted (propagation to the other
	// instance's client-side cache).
	RevocationSlack time.Duration
	// LockThreshold is the burst of auth.Limits.LoginPerAccount: judged
	// attempts before a lock is legitimate (5 by default).
	LockThreshold int
	// SinkSettle is how long after a database fault ends the AsyncSink may
	// still hold events it did not wait for: its MaxBackoff plus one
	// WriteTimeout, plus a second (see auditExempt).
	SinkSettle time.Duration
}

// Kind is a kind of request the workload sends.
type Kind string

// Request kinds.
const (
	KindRegister       Kind = "register"
	KindLogin          Kind = "login"
	KindWrongLogin     Kind = "login_wrong_password"
	KindMe             Kind = "me"
	KindRefresh        Kind = "refresh"
	KindReplay         Kind = "refresh_replay"
	KindLogout         Kind = "logout"
	KindLogoutAll      Kind = "logout_all"
	KindPasswordChange Kind = "password_change"
	KindDeactivate     Kind = "deactivate"
	KindProbeMe        Kind = "probe_revoked_me"
	KindProbeRefresh   Kind = "probe_revoked_refresh"
	KindFinalLogin     Kind = "final_login"
)

// Response is what the checker needs of one answered (or unanswered)
// request.
type Response struct {
	Kind     Kind
	Instance int
	Sent     time.Time
	Recv     time.Time
	// Status is the HTTP status; 0 when no answer came (Err says why).
	Status int
	Code   string
	Err    error
}

// OK reports a 2xx answer.
func (r Response) OK() bool { return r.Status >= 200 && r.Status < 300 }

// Access is an access token as the checker knows it: whose, of which
// session, and when the answer that issued it came back.
type Access struct {
	UserID  string
	Session string
	Issued  time.Time
}

// Window is a span of time, [Start, End]; a zero End is still open.
type Window struct {
	Start, End time.Time
}

func (w Window) overlaps(from, to time.Time) bool {
	end := w.End
	if end.IsZero() {
		end = to
	}
	return !from.After(end) && !to.Before(w.Start)
}

// Fault is one injected fault.
type Fault struct {
	Kind string
	// Instances are the server instances it affects.
	Instances []int
	// DB reports whether it makes the instances' database writes fail or
	// slow down (so their audit sink may stop waiting).
	DB bool
	Window
}

// Checker judges the responses of a soak run against the invariants. The
// workload tells it what it did and what it got; it keeps the state needed
// to judge later answers (revocations, refresh rotations, lock counts) and
// the records for the final checks and the figures. Safe for concurrent
// use.
type Checker struct {
	cfg CheckerConfig

	mu         sync.Mutex
	violations map[Invariant][]string
	responses  []record
	noAnswer   []Response
	// unexplained counts refusals of live sessions without a known cause.
	unexplained map[Kind]int

	sessions map[string]*sessionState
	users    map[string]*userState // by user ID
	accounts map[string]*accountState
	refresh  map[string]*refreshState // by token digest

	expected []expectedEvent
	kills    map[int][]time.Time
	down     map[int][]Window
	faults   []*Fault
}

type record struct {
	kind     Kind
	instance int
	status   int
	sent     time.Time
	recv     time.Time
}

type sessionState struct {
	userID  string
	started time.Time // recv of the login that created it
	// revoked is the recv of the first 2xx revocation (or reuse
	// detection) that ended the session and its access tokens.
	revoked time.Time
	why     string
	// refused is the recv of the first refusal of one of its refresh
	// tokens as invalid: the family is dead from then on, though its
	// access tokens need not be (a revocation answered 503 may have
	// ended the session in the database and not reached the deny-list).
	refused time.Time
}

type userState struct {
	sessions []string
	cutoffs  []cutoff
}

type cutoff struct {
	sent, recv time.Time
	why        string
}

type accountState struct {
	userID     string
	registered bool // a 2xx registration
	// failures counts judged failed attempts (and unanswered ones, which
	// may have been judged) since the last success.
	failures    int
	deactivated bool      // a 2xx deactivation
	deactRecv   time.Time // when its answer came
	maybeDeact  bool      // a deactivation was attempted
	finalOK     bool
	finalStatus string
	finalDone   bool
}

type refreshState struct {
	session   string
	successor string    // digest of the token it was rotated into
	rotated   time.Time // recv of the first answer that rotated it
}

type expectedEvent struct {
	key      string
	instance int
	recv     time.Time
	what     string
}

// NewChecker returns a Checker for a server with the parameters of cfg.
func NewChecker(cfg CheckerConfig) *Checker {
	return &Checker{
		cfg:         cfg,
		violations:  map[Invariant][]string{},
		unexplained: map[Kind]int{},
		sessions:    map[string]*sessionState{},
		users:       map[string]*userState{},
		accounts:    map[string]*accountState{},
		refresh:     map[string]*refreshState{},
		kills:       map[int][]time.Time{},
		down:        map[int][]Window{},
	}
}

func (c *Checker) violate(inv Invariant, format string, args ...any) {
	c.violations[inv] = append(c.violations[inv], fmt.Sprintf(format, args...))
}

// digest names a token without keeping it: the checker never stores or
// prints token values.
func digest(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:8])
}

// Unexplained counts a live session refused (401) although the workload
// knew of nothing that could have ended it: not an invariant (a revocation
// whose answer was lost explains it), but worth watching.
func (c *Checker) Unexplained(kind Kind) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.unexplained[kind]++
}

// Response records one request's outcome and judges its status: a 5xx
// other than 503 is a violation at once; an unanswered request is judged
// at the end, against the instance's downtime.
func (c *Checker) Response(r Response) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.responses = append(c.responses, record{kind: r.Kind, instance: r.Instance, status: r.Status, sent: r.Sent, recv: r.Recv})
	switch {
	case r.Status == 0:
		c.noAnswer = append(c.noAnswer, r)
	case r.Status >= 500 && r.Status != 503:
		c.violate(InvServerError, "%s on instance %d at %s: %d %s", r.Kind, r.Instance, stamp(r.Sent), r.Status, r.Code)
	}
}

// Registered records a 2xx registration of account as user userID.
func (c *Checker) Registered(account, userID string, inst int, recv time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	a := c.account(account)
	a.registered, a.userID = true, userID
	c.expect("user.registered", "u:"+userID, inst, recv, "registration of "+account)
}

func (c *Checker) account(name string) *accountState {
	a := c.accounts[name]
	if a == nil {
		a = &accountState{}
		c.accounts[name] = a
	}
	return a
}

func (c *Checker) user(id string) *userState {
	u := c.users[id]
	if u == nil {
		u = &userState{}
		c.users[id] = u
	}
	return u
}

// Attempt is the outcome of a login or password-change attempt, as far as
// the per-account lockout is concerned.
type Attempt int

// Attempt outcomes.
const (
	// AttemptSucceeded: the password was accepted (the server resets the
	// account's counter).
	AttemptSucceeded Attempt = iota
	// AttemptJudged: the attempt was judged and refused (wrong password,
	// inactive account): it counts.
	AttemptJudged
	// AttemptUnanswered: no answer came; the server may have judged it.
	AttemptUnanswered
	// AttemptNotJudged: refused for an outage (503): the server must not
	// count it.
	AttemptNotJudged
	// AttemptLocked: 429, the account is locked.
	AttemptLocked
)

// Attempted records a login or password-change attempt on account and
// judges a lock: it is a violation unless the account had at least
// LockThreshold judged (or possibly judged) failures since its last
// success.
func (c *Checker) Attempted(account string, outcome Attempt, inst int, sent time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	a := c.account(account)
	switch outcome {
	case AttemptSucceeded:
		a.failures = 0
	case AttemptJudged, AttemptUnanswered:
		a.failures++
	case AttemptLocked:
		if a.failures < c.cfg.LockThreshold {
			c.violate(InvUnjudgedLock, "%s locked on instance %d at %s after %d judged failures (threshold %d)",
				account, inst, stamp(sent), a.failures, c.cfg.LockThreshold)
		}
	}
}

// SessionStarted records a 2xx login of account, sent at sent, that
// created session sid. A login sent more than RevocationSlack after a 2xx
// deactivation of the account is a violation.
func (c *Checker) SessionStarted(account, userID, sid string, inst int, sent, recv time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	a := c.account(account)
	if a.userID == "" {
		a.userID = userID
	}
	if a.deactivated && sent.Sub(a.deactRecv) > c.cfg.RevocationSlack {
		c.violate(InvRevokedAccepted, "login of %s on instance %d at %s accepted %v after its deactivation",
			account, inst, stamp(sent), sent.Sub(a.deactRecv).Round(time.Millisecond))
	}
	c.sessions[sid] = &sessionState{userID: userID, started: recv}
	u := c.user(userID)
	u.sessions = append(u.sessions, sid)
	c.expect("login.succeeded", "s:"+sid, inst, recv, "login of "+account)
}

// RefreshIssued records the refresh token a login issued.
func (c *Checker) RefreshIssued(sid, token string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.refresh[digest(token)] = &refreshState{session: sid}
}

func (c *Checker) revokeSession(sid string, recv time.Time, why string) {
	s := c.sessions[sid]
	if s == nil {
		return
	}
	if s.revoked.IsZero() || recv.Before(s.revoked) {
		s.revoked, s.why = recv, why
	}
}

// LoggedOut records a 2xx logout of session sid.
func (c *Checker) LoggedOut(userID, sid string, inst int, recv time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.revokeSession(sid, recv, "logout")
	c.expect("session.logout", "s:"+sid, inst, recv, "logout of session "+sid)
}

// ReuseDetected records that a replay of a rotated refresh token of a
// session that was live in the database was refused (401): the server
// revoked the session and deny-listed its access tokens before answering.
func (c *Checker) ReuseDetected(sid string, recv time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.revokeSession(sid, recv, "refresh-token reuse")
}

// Cutoff records a 2xx logout-all (why "logout_all") or deactivation (why
// "deactivation") of the user: every access token issued before the
// request was sent is revoked, and every session started before it.
func (c *Checker) Cutoff(account, userID, why string, inst int, sent, recv time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	u := c.user(userID)
	u.cutoffs = append(u.cutoffs, cutoff{sent: sent, recv: recv, why: why})
	for _, sid := range u.sessions {
		if s := c.sessions[sid]; s != nil && s.started.Before(sent) {
			c.revokeSession(sid, recv, why)
		}
	}
	switch why {
	case "deactivation":
		if a := c.account(account); !a.deactivated {
			a.deactivated, a.deactRecv = true, recv
		}
		c.expect("user.activation_changed", "u:"+userID, inst, recv, "deactivation of "+account)
	default:
		c.expect("session.logout_all", "u:"+userID, inst, recv, "logout-all of "+account)
	}
}

// DeactivationAttempted records that a deactivation of account was sent,
// whatever its answer: the account may be inactive after the run.
func (c *Checker) DeactivationAttempted(account string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.account(account).maybeDeact = true
}

// PasswordChanged records a 2xx password change made through session keep:
// every other session started before the request was sent is revoked.
func (c *Checker) PasswordChanged(userID, keep string, inst int, sent, recv time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, sid := range c.user(userID).sessions {
		if s := c.sessions[sid]; s != nil && sid != keep && s.started.Before(sent) {
			c.revokeSession(sid, recv, "password change")
		}
	}
	c.expect("password.changed", "u:"+userID, inst, recv, "password change of user "+userID)
}

// AccessUsed judges an answer to a request authenticated by access token
// a: a 2xx is a violation if the token was revoked more than
// RevocationSlack before the request was sent.
func (c *Checker) AccessUsed(a Access, r Response) {
	if !r.OK() {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if s := c.sessions[a.Session]; s != nil && !s.revoked.IsZero() && r.Sent.Sub(s.revoked) > c.cfg.RevocationSlack {
		c.violate(InvRevokedAccepted, "%s on instance %d at %s accepted an access token of session %s revoked by %s %v earlier",
			r.Kind, r.Instance, stamp(r.Sent), a.Session, s.why, r.Sent.Sub(s.revoked).Round(time.Millisecond))
		return
	}
	for _, k := range c.user(a.UserID).cutoffs {
		if a.Issued.Before(k.sent) && r.Sent.Sub(k.recv) > c.cfg.RevocationSlack {
			c.violate(InvRevokedAccepted, "%s on instance %d at %s accepted an access token of user %s revoked by %s %v earlier",
				r.Kind, r.Instance, stamp(r.Sent), a.UserID, k.why, r.Sent.Sub(k.recv).Round(time.Millisecond))
			return
		}
	}
}

// RefreshUsed judges the answer to a refresh of session sid with token
// presented; issued is the new refresh token of a 2xx answer ("" within
// the grace window). It records the rotation. A 2xx is a violation if the
// session was revoked more than RevocationSlack before, if the presented
// token had been rotated more than RefreshGrace before, or if the token
// was already rotated into a different successor. A 401 invalid_token
// kills the family: no token of it may be accepted afterwards.
func (c *Checker) RefreshUsed(sid, presented, issued string, r Response) {
	c.mu.Lock()
	defer c.mu.Unlock()
	d := digest(presented)
	rs := c.refresh[d]
	if rs == nil {
		rs = &refreshState{session: sid}
		c.refresh[d] = rs
	}
	s := c.sessions[sid]
	if !r.OK() {
		if s != nil && r.Status == 401 && r.Code == "invalid_token" && (s.refused.IsZero() || r.Recv.Before(s.refused)) {
			s.refused = r.Recv
		}
		return
	}
	switch {
	case s == nil:
	case !s.revoked.IsZero() && r.Sent.Sub(s.revoked) > c.cfg.RevocationSlack:
		c.violate(InvRevokedAccepted, "%s on instance %d at %s accepted a refresh token of session %s revoked by %s %v earlier",
			r.Kind, r.Instance, stamp(r.Sent), sid, s.why, r.Sent.Sub(s.revoked).Round(time.Millisecond))
	case !s.refused.IsZero() && r.Sent.Sub(s.refused) > c.cfg.RevocationSlack:
		c.violate(InvRefreshFork, "%s on instance %d at %s accepted a refresh token of session %s whose family was refused %v earlier",
			r.Kind, r.Instance, stamp(r.Sent), sid, r.Sent.Sub(s.refused).Round(time.Millisecond))
	}
	if !rs.rotated.IsZero() && r.Sent.Sub(rs.rotated) > c.cfg.RefreshGrace {
		c.violate(InvRefreshFork, "%s on instance %d at %s accepted a refresh token of session %s rotated %v earlier (grace %v)",
			r.Kind, r.Instance, stamp(r.Sent), sid, r.Sent.Sub(rs.rotated).Round(time.Millisecond), c.cfg.RefreshGrace)
	}
	c.expect("token.refreshed", "s:"+sid, r.Instance, r.Recv, "refresh of session "+sid)
	if issued == "" {
		return
	}
	nd := digest(issued)
	switch {
	case rs.successor == "":
		rs.successor, rs.rotated = nd, r.Recv
	case rs.successor != nd:
		c.violate(InvRefreshFork, "%s on instance %d at %s rotated a refresh token of session %s into a second successor",
			r.Kind, r.Instance, stamp(r.Sent), sid)
	}
	if r.Recv.Before(rs.rotated) {
		rs.rotated = r.Recv
	}
	c.refresh[nd] = &refreshState{session: sid}
}

// DuplicateRefreshed judges a pair of concurrent refreshes of session
// sid's current token: within the grace window both must be honoured (or
// fail for an outage); a refusal as invalid while the other succeeded is
// a legitimate client taken for a thief. revokedBefore reports whether
// the workload knew the session to be revoked already.
func (c *Checker) DuplicateRefreshed(sid string, a, b Response) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.sessions[sid]
	if s != nil && ((!s.revoked.IsZero() && s.revoked.Before(a.Sent)) || (!s.refused.IsZero() && s.refused.Before(a.Sent))) {
		return
	}
	// A user-wide revocation (deactivation, password change, logout
	// everywhere) sent before the later answer may have ended the session
	// between the two refreshes, though it was answered after both.
	latest := a.Recv
	if b.Recv.After(latest) {
		latest = b.Recv
	}
	if s != nil {
		for _, k := range c.user(s.userID).cutoffs {
			if k.sent.Before(latest) {
				return
			}
		}
	}
	refused := func(r Response) bool { return r.Status == 401 && r.Code == "invalid_token" }
	if (a.OK() && refused(b)) || (b.OK() && refused(a)) {
		c.violate(InvGraceRefused, "concurrent refreshes of session %s at %s: %d and %d (a duplicate within the grace window was taken for reuse)",
			sid, stamp(a.Sent), a.Status, b.Status)
	}
}

// FinalLogin records the outcome of the login every registered account
// tries once the faults have stopped: status "ok", or what refused it.
func (c *Checker) FinalLogin(account string, ok bool, status string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	a := c.account(account)
	a.finalDone, a.finalOK, a.finalStatus = true, ok, status
}

// FaultStarted records the start of a fault and returns it; call
// FaultEnded with it.
func (c *Checker) FaultStarted(kind string, instances []int, db bool, at time.Time) *Fault {
	c.mu.Lock()
	defer c.mu.Unlock()
	f := &Fault{Kind: kind, Instances: slices.Clone(instances), DB: db, Window: Window{Start: at}}
	c.faults = append(c.faults, f)
	return f
}

// FaultEnded records the end of fault f.
func (c *Checker) FaultEnded(f *Fault, at time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	f.End = at
}

// InstanceKilled records a kill -9 of instance inst.
func (c *Checker) InstanceKilled(inst int, at time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.kills[inst] = append(c.kills[inst], at)
}

// InstanceDown records that instance inst was not serving during w.
func (c *Checker) InstanceDown(inst int, w Window) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.down[inst] = append(c.down[inst], w)
}

func (c *Checker) expect(typ, subject string, inst int, recv time.Time, what string) {
	c.expected = append(c.expected, expectedEvent{key: typ + "|" + subject, instance: inst, recv: recv, what: what})
}

// EventKey is the key CheckAudit matches stored events by: the type and
// "s:" and the session ID, or "u:" and the user ID.
func EventKey(typ, subject string) string { return typ + "|" + subject }

// auditExempt reports whether the audit event of an action answered at
// recv by inst may be missing. auth.AsyncSink makes Record wait for the
// write while its writer is healthy, so an event answered 2xx is in the
// database before the answer; it stops waiting only once a write failed
// or outlasted AsyncSinkConfig.Wait, which needs the instance's database
// writes to fail or stall (a DB fault), and until a write succeeds again,
// at most SinkSettle after that fault ends. A graceful stop writes every
// buffered event. So an event may be missing only if its instance was
// killed (kill -9) before the sink could catch up: killed after recv and
// before the end of a DB fault plus SinkSettle, where that fault began
// before recv and ended no earlier than SinkSettle before it.
func (c *Checker) auditExempt(inst int, recv time.Time) bool {
	var kill time.Time
	for _, k := range c.kills[inst] {
		if k.After(recv) && (kill.IsZero() || k.Before(kill)) {
			kill = k
		}
	}
	if kill.IsZero() {
		return false
	}
	for _, f := range c.faults {
		if !f.DB || !slices.Contains(f.Instances, inst) {
			continue
		}
		end := f.End
		if end.IsZero() {
			end = kill
		}
		settled := end.Add(c.cfg.SinkSettle)
		if !f.Start.After(recv) && !recv.After(settled) && kill.Before(settled) {
			return true
		}
	}
	return false
}

// AuditResult counts the expected events.
type AuditResult struct {
	Expected int `json:"expected"`
	Found    int `json:"found"`
	Exempt   int `json:"exempt_killed_before_flush"`
	Missing  int `json:"missing"`
}

// CheckAudit matches the events the 2xx actions must have produced with
// stored, the number of stored events by EventKey.
func (c *Checker) CheckAudit(stored map[string]int) AuditResult {
	c.mu.Lock()
	defer c.mu.Unlock()
	byKey := map[string][]expectedEvent{}
	for _, e := range c.expected {
		byKey[e.key] = append(byKey[e.key], e)
	}
	keys := make([]string, 0, len(byKey))
	for k := range byKey {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var res AuditResult
	for _, k := range keys {
		list := byKey[k]
		required := 0
		for _, e := range list {
			if !c.auditExempt(e.instance, e.recv) {
				required++
			}
		}
		have := stored[k]
		res.Expected += len(list)
		res.Found += min(have, len(list))
		res.Exempt += len(list) - required
		if have < required {
			res.Missing += required - have
			c.violate(InvAuditMissing, "%d of %d %s events missing (%s, answered on instance %d at %s)",
				required-have, required, strings.SplitN(k, "|", 2)[0], list[0].what, list[0].instance, stamp(list[0].recv))
		}
	}
	return res
}

// final judges what can only be judged at the end, afresh on each call:
// unanswered requests against the instances' downtime, and the final
// logins.
func (c *Checker) final() map[Invariant][]string {
	out := map[Invariant][]string{}
	add := func(inv Invariant, format string, args ...any) {
		out[inv] = append(out[inv], fmt.Sprintf(format, args...))
	}
	for _, r := range c.noAnswer {
		excused := false
		for _, w := range c.down[r.Instance] {
			if w.overlaps(r.Sent, r.Recv) {
				excused = true
				break
			}
		}
		if !excused {
			add(InvNoAnswer, "%s on instance %d at %s: no answer after %v: %v",
				r.Kind, r.Instance, stamp(r.Sent), r.Recv.Sub(r.Sent).Round(time.Millisecond), r.Err)
		}
	}
	names := make([]string, 0, len(c.accounts))
	for n := range c.accounts {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		a := c.accounts[n]
		switch {
		case !a.registered:
		case a.deactivated && a.finalOK:
			add(InvRevokedAccepted, "deactivated %s could log in after the run", n)
		case a.deactivated || (a.maybeDeact && a.finalStatus == "403 user_inactive"):
		case !a.finalDone:
			add(InvLostRegistration, "%s registered (2xx) but was never tried after the run", n)
		case !a.finalOK:
			add(InvLostRegistration, "%s registered (2xx) but cannot log in after the run: %s", n, a.finalStatus)
		}
	}
	return out
}

// Violations returns the violations by invariant, including the final
// judgments.
func (c *Checker) Violations() map[Invariant][]string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.allViolations()
}

func (c *Checker) allViolations() map[Invariant][]string {
	out := make(map[Invariant][]string, len(c.violations))
	for k, v := range c.violations {
		out[k] = slices.Clone(v)
	}
	for k, v := range c.final() {
		out[k] = append(out[k], v...)
	}
	return out
}

func stamp(t time.Time) string { return t.Format("15:04:05.000") }
