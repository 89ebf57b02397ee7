package main

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Paths of the endpoints the workload uses (openapi.yaml).
const (
	pathRegister = "/api/v1/auth/register"
	pathLogin    = "/api/v1/auth/login"
	pathRefresh  = "/api/v1/auth/refresh"
	pathMe       = "/api/v1/auth/me"
	pathLogout   = "/api/v1/auth/logout"
	pathLogout2  = "/api/v1/auth/logout-all"
	pathPassword = "/api/v1/auth/password/change"
	pathUsers    = "/api/v1/auth/users/"
)

// workload is the simulated user population: one goroutine per account,
// each a small state machine, plus an administrator who deactivates some
// accounts. Every request goes to a random instance.
type workload struct {
	api      *api
	chk      *Checker
	log      *slog.Logger
	n        int // instances
	grace    time.Duration
	accounts []*account
	admin    *adminAccount
	// budget bounds the number of requests of the run.
	budget atomic.Int64
	seed   uint64
}

// account is one simulated user. Its goroutine owns every field but
// those under mu, which the administrator reads and writes.
type account struct {
	idx  int
	name string // the e-mail address
	// passwords are the candidates, most likely first: after a password
	// change that got no clear answer, the old and the new one.
	passwords  []string
	registered bool
	maybeReg   bool
	sessions   []*session
	revoked    []*session // ended by a 2xx revocation: probed
	failures   int        // judged failures since the last success
	// unclear is set once a state-changing request got no clear answer
	// (503 or none): a later refusal of a live session is then explained.
	unclear bool
	// retryOn is the instance a failed login is retried on (a client
	// retries on the connection it has), or -1.
	retryOn int
	ipSeq   uint32
	rng     *rand.Rand

	mu          sync.Mutex
	userID      string
	targeted    bool        // chosen for deactivation
	deactivated atomic.Bool // deactivation answered 2xx (or refused as inactive)
}

type session struct {
	id      string
	access  string
	acc     Access
	refresh string
	rotated []rotation // tokens replaced, oldest first
	// stale is set when the server may have rotated refresh past what the
	// client holds (a refresh without a clear answer, or answered within
	// the grace window): its refreshes are then no longer of the current
	// token, and a duplicate may rightly be taken for reuse.
	stale bool
}

type rotation struct {
	token string
	at    time.Time // recv of the answer that rotated it
}

type adminAccount struct {
	email, password string
	access          string
	acc             Access
	ipSeq           uint32
}

func randomSecret() string {
	b := make([]byte, 12)
	_, _ = crand.Read(b)
	return hex.EncodeToString(b)
}

func newWorkload(a *api, chk *Checker, log *slog.Logger, instances, users int, budget int64, seed uint64, grace time.Duration) *workload {
	w := &workload{api: a, chk: chk, log: log, n: instances, grace: grace, seed: seed}
	w.budget.Store(budget)
	for i := range users {
		w.accounts = append(w.accounts, &account{
			idx: i, name: fmt.Sprintf("soak-%04d@example.com", i), passwords: []string{"soak " + randomSecret()}, retryOn: -1,
			rng: rand.New(rand.NewPCG(seed, uint64(i))),
		})
	}
	return w
}

// ip returns the next client address of account idx: each account sends
// from addresses of its own, a new one per request, so that the per-IP
// limits (20 logins a minute, 10 registrations an hour) never confuse the
// per-account lockout the soak judges.
func ip(idx int, seq *uint32) string {
	*seq++
	return fmt.Sprintf("10.%d.%d.%d", (idx>>8)&255, idx&255, *seq%250+1)
}

// spend takes one request from the budget, reporting false when it is
// used up.
func (w *workload) spend() bool { return w.budget.Add(-1) >= 0 }

// run drives every account until ctx is done or the budget is spent.
func (w *workload) run(ctx context.Context, deactivateEvery time.Duration, deactivateMax int) {
	var wg sync.WaitGroup
	for _, a := range w.accounts {
		wg.Go(func() { w.user(ctx, a) })
	}
	wg.Go(func() { w.adminLoop(ctx, deactivateEvery, deactivateMax) })
	wg.Wait()
}

// sleep waits d or until ctx is done, reporting false in the latter case.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

func (w *workload) user(ctx context.Context, a *account) {
	// Spread the registrations over the first seconds.
	if !sleep(ctx, time.Duration(a.rng.Int64N(int64(3*time.Second)))) {
		return
	}
	probes := 0
	for ctx.Err() == nil && w.spend() {
		pause := 250*time.Millisecond + time.Duration(a.rng.Int64N(int64(500*time.Millisecond)))
		switch {
		case !a.registered:
			pause = w.register(ctx, a)
		case a.deactivated.Load():
			// Probe the dead tokens a few times, then stay away.
			if probes >= 6 {
				return
			}
			probes++
			w.probe(ctx, a)
		case len(a.sessions) == 0:
			pause = w.login(ctx, a, false)
		default:
			pause = w.act(ctx, a)
		}
		if !sleep(ctx, pause) {
			return
		}
	}
}

func (w *workload) inst(a *account) int { return a.rng.IntN(w.n) }

// backoff is how long a client waits after a 503 or no answer: short, so
// that an outage sees many retries (each must be refunded, never locking
// the account).
func backoff(a *account) time.Duration {
	return 300*time.Millisecond + time.Duration(a.rng.Int64N(int64(700*time.Millisecond)))
}

func (w *workload) register(ctx context.Context, a *account) time.Duration {
	inst := w.inst(a)
	r := w.api.call(ctx, KindRegister, inst, "POST", pathRegister, ip(a.idx, &a.ipSeq), "",
		map[string]string{"email": a.name, "password": a.passwords[0]})
	switch {
	case r.Status == 201:
		var u userBody
		if !r.decode(&u) || u.ID == "" {
			w.log.Error("registration answered without a user ID", "account", a.name)
			return backoff(a)
		}
		a.mu.Lock()
		a.userID = u.ID
		a.mu.Unlock()
		a.registered = true
		w.chk.Registered(a.name, u.ID, inst, r.Recv)
	case r.Status == 409 && a.maybeReg:
		// An earlier attempt without a clear answer created the account.
		a.registered = true
	case r.Status == 409:
		w.log.Error("registration of a new address answered 409", "account", a.name)
		a.registered = true
	default:
		a.maybeReg = true
		return backoff(a)
	}
	return 0
}

// login logs in with the account's password (wrong, deliberately, if
// wrong is set) and starts a session.
func (w *workload) login(ctx context.Context, a *account, wrong bool) time.Duration {
	inst := w.inst(a)
	if a.retryOn >= 0 {
		inst = a.retryOn
	}
	a.retryOn = -1
	pw, kind := a.passwords[0], KindLogin
	if wrong {
		pw, kind = "wrong "+randomSecret(), KindWrongLogin
	}
	r := w.api.call(ctx, kind, inst, "POST", pathLogin, ip(a.idx, &a.ipSeq), "", map[string]string{"email": a.name, "password": pw})
	switch {
	case r.Status == 200:
		var t tokens
		if !r.decode(&t) || t.AccessToken == "" || t.RefreshToken == "" || t.User == nil {
			w.log.Error("login answered without tokens", "account", a.name)
			return backoff(a)
		}
		w.chk.Attempted(a.name, AttemptSucceeded, inst, r.Sent)
		a.failures = 0
		a.passwords = a.passwords[:1]
		a.mu.Lock()
		a.userID = t.User.ID
		a.mu.Unlock()
		w.chk.SessionStarted(a.name, t.User.ID, t.SessionID, inst, r.Sent, r.Recv)
		w.chk.RefreshIssued(t.SessionID, t.RefreshToken)
		a.sessions = append(a.sessions, &session{
			id: t.SessionID, access: t.AccessToken, refresh: t.RefreshToken,
			acc: Access{UserID: t.User.ID, Session: t.SessionID, Issued: r.Recv},
		})
	case r.Status == 401 && r.Code == "invalid_credentials":
		w.chk.Attempted(a.name, AttemptJudged, inst, r.Sent)
		a.failures++
		if !wrong {
			if len(a.passwords) > 1 {
				a.passwords = append(a.passwords[1:], a.passwords[0]) // try the other candidate
			} else {
				w.log.Error("login with the right password refused", "account", a.name, "instance", inst)
			}
		}
	case r.Status == 403 && r.Code == "user_inactive":
		w.chk.Attempted(a.name, AttemptJudged, inst, r.Sent)
		a.failures++
		a.deactivated.Store(true)
	case r.Status == 429:
		w.chk.Attempted(a.name, AttemptLocked, inst, r.Sent)
		return 10 * time.Second
	case r.Status == 0:
		w.chk.Attempted(a.name, AttemptUnanswered, inst, r.Sent)
		a.failures++
		a.retryOn = inst
		return backoff(a)
	default:
		w.chk.Attempted(a.name, AttemptNotJudged, inst, r.Sent)
		a.retryOn = inst
		return backoff(a)
	}
	return 0
}

// act does one thing with a live session, chosen at random.
func (w *workload) act(ctx context.Context, a *account) time.Duration {
	type choice struct {
		weight int
		do     func() time.Duration
	}
	s := a.sessions[a.rng.IntN(len(a.sessions))]
	choices := []choice{
		{40, func() time.Duration { return w.me(ctx, a, s) }},
		{18, func() time.Duration { return w.refresh(ctx, a, s, a.rng.IntN(4) == 0) }},
		{5, func() time.Duration { return w.logout(ctx, a, s) }},
		{1, func() time.Duration { return w.logoutAll(ctx, a, s) }},
		{1, func() time.Duration { return w.changePassword(ctx, a, s) }},
	}
	if len(a.revoked) > 0 {
		choices = append(choices, choice{8, func() time.Duration { w.probe(ctx, a); return 0 }})
	}
	if old, ok := a.replayable(w.grace); ok {
		choices = append(choices, choice{3, func() time.Duration { return w.replay(ctx, a, old) }})
	}
	if a.failures < 2 {
		choices = append(choices, choice{2, func() time.Duration { return w.login(ctx, a, true) }})
	}
	if len(a.sessions) < 3 {
		choices = append(choices, choice{4, func() time.Duration { return w.login(ctx, a, false) }})
	}
	total := 0
	for _, c := range choices {
		total += c.weight
	}
	n := a.rng.IntN(total)
	for _, c := range choices {
		if n < c.weight {
			return c.do()
		}
		n -= c.weight
	}
	return 0
}

// replayable returns a live session with a refresh token it rotated more
// than the grace window (and a margin) ago.
func (a *account) replayable(grace time.Duration) (*session, bool) {
	for _, s := range a.sessions {
		if len(s.rotated) > 0 && time.Since(s.rotated[len(s.rotated)-1].at) > grace+2*time.Second {
			return s, true
		}
	}
	return nil, false
}

// drop forgets a session the server no longer honours.
func (a *account) drop(s *session) {
	a.sessions = slices.DeleteFunc(a.sessions, func(x *session) bool { return x == s })
}

// ended moves a session that a 2xx revocation ended to the probed ones.
func (a *account) ended(s *session) {
	a.drop(s)
	a.revoked = append(a.revoked, s)
	if len(a.revoked) > 4 {
		a.revoked = a.revoked[1:]
	}
}

func (w *workload) me(ctx context.Context, a *account, s *session) time.Duration {
	r := w.api.call(ctx, KindMe, w.inst(a), "GET", pathMe, ip(a.idx, &a.ipSeq), s.access, nil)
	w.chk.AccessUsed(s.acc, r.Response)
	switch {
	case r.Status == 401 && r.Code == "token_expired":
		return w.refresh(ctx, a, s, false)
	case r.Status == 401:
		w.unexplained(a, KindMe)
		a.drop(s)
	case r.Status == 503 || r.Status == 0:
		return backoff(a)
	}
	return 0
}

// refresh rotates the session's refresh token; with dup, two refreshes of
// the same token go to both instances at once, as a client retrying a
// request it thinks lost would send them.
func (w *workload) refresh(ctx context.Context, a *account, s *session, dup bool) time.Duration {
	presented := s.refresh
	body := map[string]string{"refresh_token": presented}
	if !dup || s.stale {
		r := w.api.call(ctx, KindRefresh, w.inst(a), "POST", pathRefresh, ip(a.idx, &a.ipSeq), "", body)
		return w.refreshed(a, s, presented, r, false)
	}
	var r [2]reply
	ips := [2]string{ip(a.idx, &a.ipSeq), ip(a.idx, &a.ipSeq)}
	var wg sync.WaitGroup
	for i := range r {
		wg.Go(func() { r[i] = w.api.call(ctx, KindRefresh, i%w.n, "POST", pathRefresh, ips[i], "", body) })
	}
	wg.Wait()
	if r[1].Recv.Before(r[0].Recv) {
		r[0], r[1] = r[1], r[0]
	}
	w.chk.DuplicateRefreshed(s.id, r[0].Response, r[1].Response)
	p0 := w.refreshed(a, s, presented, r[0], true)
	p1 := w.refreshed(a, s, presented, r[1], true)
	if r[0].OK() && r[1].OK() && s.refresh == presented {
		s.stale = true // both answered within the grace window
	}
	return max(p0, p1)
}

// refreshed applies the answer to a refresh of s with presented.
func (w *workload) refreshed(a *account, s *session, presented string, r reply, dup bool) time.Duration {
	var t tokens
	if r.OK() && (!r.decode(&t) || t.AccessToken == "") {
		w.log.Error("refresh answered without an access token", "account", a.name)
		return backoff(a)
	}
	w.chk.RefreshUsed(s.id, presented, t.RefreshToken, r.Response)
	switch {
	case r.OK():
		s.access, s.acc.Issued = t.AccessToken, r.Recv
		if t.RefreshToken == "" && r.Kind == KindRefresh && !dup {
			s.stale = true
		}
		if t.RefreshToken != "" && t.RefreshToken != s.refresh {
			s.stale = false
			if !slices.ContainsFunc(s.rotated, func(x rotation) bool { return x.token == presented }) {
				s.rotated = append(s.rotated, rotation{token: presented, at: r.Recv})
			}
			s.refresh = t.RefreshToken
		}
	case r.Status == 401 && r.Code == "invalid_token":
		w.unexplained(a, KindRefresh)
		a.ended(s) // the family is dead: its tokens are probed from now on
	case r.Status == 401 || r.Status == 403:
		a.drop(s)
	case r.Status == 503 || r.Status == 0:
		a.unclear = true
		s.stale = true
		return backoff(a)
	}
	return 0
}

// unexplained reports a refusal of a live session that nothing the
// workload knows of explains.
func (w *workload) unexplained(a *account, kind Kind) {
	a.mu.Lock()
	targeted := a.targeted
	a.mu.Unlock()
	if !a.unclear && !targeted {
		w.chk.Unexplained(kind)
		w.log.Warn("live session refused without a known cause", "account", a.name, "request", string(kind))
	}
}

// replay presents a refresh token the session rotated more than the grace
// window ago, as a thief would: it must be refused, and the whole family
// revoked.
func (w *workload) replay(ctx context.Context, a *account, s *session) time.Duration {
	old := s.rotated[a.rng.IntN(len(s.rotated))].token
	r := w.api.call(ctx, KindReplay, w.inst(a), "POST", pathRefresh, ip(a.idx, &a.ipSeq), "", map[string]string{"refresh_token": old})
	w.chk.RefreshUsed(s.id, old, "", r.Response)
	switch {
	case r.Status == 401 && r.Code == "invalid_token":
		a.mu.Lock()
		targeted := a.targeted
		a.mu.Unlock()
		if !a.unclear && !targeted {
			// The session was live in the database: this was a reuse
			// detection, which deny-lists its access tokens too.
			w.chk.ReuseDetected(s.id, r.Recv)
		}
		a.ended(s)
	case r.Status == 401 || r.Status == 403:
		a.drop(s)
	case r.OK():
		w.log.Error("a rotated refresh token was accepted after the grace window", "account", a.name, "session", s.id)
	case r.Status == 503 || r.Status == 0:
		a.unclear = true
		return backoff(a)
	}
	return 0
}

func (w *workload) logout(ctx context.Context, a *account, s *session) time.Duration {
	inst := w.inst(a)
	r := w.api.call(ctx, KindLogout, inst, "POST", pathLogout, ip(a.idx, &a.ipSeq), s.access, nil)
	w.chk.AccessUsed(s.acc, r.Response)
	switch {
	case r.OK():
		w.chk.LoggedOut(s.acc.UserID, s.id, inst, r.Recv)
		a.ended(s)
		w.probeSoon(ctx, a, inst, s)
	case r.Status == 401:
		a.drop(s)
	case r.Status == 503 || r.Status == 0:
		a.unclear = true
		return backoff(a)
	}
	return 0
}

func (w *workload) logoutAll(ctx context.Context, a *account, s *session) time.Duration {
	inst := w.inst(a)
	r := w.api.call(ctx, KindLogoutAll, inst, "POST", pathLogout2, ip(a.idx, &a.ipSeq), s.access, nil)
	w.chk.AccessUsed(s.acc, r.Response)
	switch {
	case r.OK():
		w.chk.Cutoff(a.name, s.acc.UserID, "logout_all", inst, r.Sent, r.Recv)
		for _, x := range slices.Clone(a.sessions) {
			if x.acc.Issued.Before(r.Sent) {
				a.ended(x)
			}
		}
		w.probeSoon(ctx, a, inst, s)
	case r.Status == 401:
		a.drop(s)
	case r.Status == 503 || r.Status == 0:
		a.unclear = true
		return backoff(a)
	}
	return 0
}

func (w *workload) changePassword(ctx context.Context, a *account, s *session) time.Duration {
	inst := w.inst(a)
	cur, next := a.passwords[0], "soak "+randomSecret()
	r := w.api.call(ctx, KindPasswordChange, inst, "POST", pathPassword, ip(a.idx, &a.ipSeq), s.access,
		map[string]string{"current_password": cur, "new_password": next})
	w.chk.AccessUsed(s.acc, r.Response)
	switch {
	case r.OK():
		w.chk.Attempted(a.name, AttemptSucceeded, inst, r.Sent)
		a.failures = 0
		w.chk.PasswordChanged(s.acc.UserID, s.id, inst, r.Sent, r.Recv)
		a.passwords = []string{next}
		var others []*session
		for _, x := range a.sessions {
			if x != s {
				others = append(others, x)
			}
		}
		for _, x := range others {
			a.ended(x)
		}
		if len(others) > 0 {
			w.probeSoon(ctx, a, inst, others[0])
		}
	case r.Status == 403 && r.Code == "invalid_credentials":
		w.chk.Attempted(a.name, AttemptJudged, inst, r.Sent)
		a.failures++
		if len(a.passwords) > 1 {
			a.passwords = append(a.passwords[1:], a.passwords[0])
		}
	case r.Status == 429:
		w.chk.Attempted(a.name, AttemptLocked, inst, r.Sent)
		return 10 * time.Second
	case r.Status == 401:
		a.drop(s)
	case r.Status == 0 || r.Status == 503:
		outcome := AttemptNotJudged
		if r.Status == 0 {
			outcome = AttemptUnanswered
			a.failures++
		}
		w.chk.Attempted(a.name, outcome, inst, r.Sent)
		// The password may have changed before the failure, and other
		// sessions ended.
		a.unclear = true
		if !slices.Contains(a.passwords, next) {
			a.passwords = append(a.passwords, next)
		}
		return backoff(a)
	}
	return 0
}

// probeSoon, for half of the revocations, waits a little more than the
// propagation allowance and probes the revoked session on the other
// instance.
func (w *workload) probeSoon(ctx context.Context, a *account, inst int, s *session) {
	if a.rng.IntN(2) == 0 || !sleep(ctx, 1100*time.Millisecond+time.Duration(a.rng.Int64N(int64(300*time.Millisecond)))) {
		return
	}
	w.probeSession(ctx, a, (inst+1)%w.n, s)
}

// probe presents the tokens of a revoked session: they must be refused.
func (w *workload) probe(ctx context.Context, a *account) {
	pool := a.revoked
	if a.deactivated.Load() {
		pool = append(slices.Clone(pool), a.sessions...)
	}
	if len(pool) == 0 {
		return
	}
	w.probeSession(ctx, a, w.inst(a), pool[a.rng.IntN(len(pool))])
}

func (w *workload) probeSession(ctx context.Context, a *account, inst int, s *session) {
	if a.rng.IntN(3) > 0 {
		r := w.api.call(ctx, KindProbeMe, inst, "GET", pathMe, ip(a.idx, &a.ipSeq), s.access, nil)
		w.chk.AccessUsed(s.acc, r.Response)
		return
	}
	r := w.api.call(ctx, KindProbeRefresh, inst, "POST", pathRefresh, ip(a.idx, &a.ipSeq), "", map[string]string{"refresh_token": s.refresh})
	w.chk.RefreshUsed(s.id, s.refresh, "", r.Response)
}

// adminLoop deactivates one account every interval, up to max of them,
// retrying each until it is answered 2xx.
func (w *workload) adminLoop(ctx context.Context, every time.Duration, maxN int) {
	rng := rand.New(rand.NewPCG(w.seed, 1<<40))
	for done := 0; done < maxN; done++ {
		if !sleep(ctx, every) {
			return
		}
		var target *account
		for _, i := range rng.Perm(len(w.accounts)) {
			a := w.accounts[i]
			a.mu.Lock()
			ok := a.userID != "" && !a.targeted
			if ok {
				a.targeted = true
			}
			a.mu.Unlock()
			if ok {
				target = a
				break
			}
		}
		if target == nil {
			continue
		}
		w.deactivate(ctx, rng, target)
	}
}

func (w *workload) deactivate(ctx context.Context, rng *rand.Rand, a *account) {
	a.mu.Lock()
	id := a.userID
	a.mu.Unlock()
	w.chk.DeactivationAttempted(a.name)
	for ctx.Err() == nil && w.spend() {
		if w.admin.access == "" && !w.adminLogin(ctx, rng) {
			if !sleep(ctx, time.Second) {
				return
			}
			continue
		}
		inst := rng.IntN(w.n)
		r := w.api.call(ctx, KindDeactivate, inst, "PATCH", pathUsers+id, ip(65535, &w.admin.ipSeq), w.admin.access,
			map[string]bool{"active": false})
		w.chk.AccessUsed(w.admin.acc, r.Response)
		switch {
		case r.OK():
			w.chk.Cutoff(a.name, id, "deactivation", inst, r.Sent, r.Recv)
			a.deactivated.Store(true)
			return
		case r.Status == 401:
			w.admin.access = ""
		case r.Status == 503 || r.Status == 0:
		default:
			w.log.Error("deactivation refused", "account", a.name, "status", r.Status, "code", r.Code)
			return
		}
		if !sleep(ctx, time.Second) {
			return
		}
	}
}

func (w *workload) adminLogin(ctx context.Context, rng *rand.Rand) bool {
	inst := rng.IntN(w.n)
	r := w.api.call(ctx, KindLogin, inst, "POST", pathLogin, ip(65535, &w.admin.ipSeq), "",
		map[string]string{"email": w.admin.email, "password": w.admin.password})
	switch {
	case r.Status == 200:
		var t tokens
		if !r.decode(&t) || t.User == nil {
			return false
		}
		w.chk.Attempted(w.admin.email, AttemptSucceeded, inst, r.Sent)
		w.chk.SessionStarted(w.admin.email, t.User.ID, t.SessionID, inst, r.Sent, r.Recv)
		w.admin.access = t.AccessToken
		w.admin.acc = Access{UserID: t.User.ID, Session: t.SessionID, Issued: r.Recv}
		return true
	case r.Status == 429:
		w.chk.Attempted(w.admin.email, AttemptLocked, inst, r.Sent)
	case r.Status == 0:
		w.chk.Attempted(w.admin.email, AttemptUnanswered, inst, r.Sent)
	case r.Status == 401 || r.Status == 403:
		w.chk.Attempted(w.admin.email, AttemptJudged, inst, r.Sent)
	default:
		w.chk.Attempted(w.admin.email, AttemptNotJudged, inst, r.Sent)
	}
	return false
}

// finalLogins logs every account in once the faults are over and the
// services recovered: each registered account must get in (a deactivated
// one must not). Outages are over, so a 503 is retried a few times.
func (w *workload) finalLogins(ctx context.Context) {
	var wg sync.WaitGroup
	sem := make(chan struct{}, 4)
	for _, a := range w.accounts {
		if !a.registered && !a.maybeReg {
			continue
		}
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			ok, status := w.finalLogin(ctx, a)
			w.chk.FinalLogin(a.name, ok, status)
		})
	}
	wg.Wait()
}

func (w *workload) finalLogin(ctx context.Context, a *account) (bool, string) {
	status := "not tried"
	tries := 0
	for i := 0; i < 2*len(a.passwords)+10 && ctx.Err() == nil; i++ {
		pw := a.passwords[tries%len(a.passwords)]
		inst := i % w.n
		r := w.api.call(ctx, KindFinalLogin, inst, "POST", pathLogin, ip(a.idx, &a.ipSeq), "", map[string]string{"email": a.name, "password": pw})
		status = fmt.Sprintf("%d %s", r.Status, r.Code)
		if r.Status == 0 {
			status = "no answer: " + r.Err.Error()
		}
		switch {
		case r.Status == 200:
			w.chk.Attempted(a.name, AttemptSucceeded, inst, r.Sent)
			return true, "ok"
		case r.Status == 401 && r.Code == "invalid_credentials":
			w.chk.Attempted(a.name, AttemptJudged, inst, r.Sent)
			tries++
			if tries >= len(a.passwords) {
				return false, status
			}
			continue
		case r.Status == 403:
			w.chk.Attempted(a.name, AttemptJudged, inst, r.Sent)
			return false, status
		case r.Status == 429:
			w.chk.Attempted(a.name, AttemptLocked, inst, r.Sent)
			return false, status
		case r.Status == 0:
			w.chk.Attempted(a.name, AttemptUnanswered, inst, r.Sent)
		default:
			w.chk.Attempted(a.name, AttemptNotJudged, inst, r.Sent)
		}
		if !sleep(ctx, time.Second) {
			break
		}
	}
	return false, status
}
