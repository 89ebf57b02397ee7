package main

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func at(d time.Duration) time.Time { return t0.Add(d) }

const ms = time.Millisecond

func newTestChecker() *Checker {
	return NewChecker(CheckerConfig{RefreshGrace: 10 * time.Second, RevocationSlack: time.Second, LockThreshold: 5, SinkSettle: 11 * time.Second})
}

// count returns the violations of inv after the final judgments.
func count(c *Checker, inv Invariant) int { return len(c.Violations()[inv]) }

// answered returns a response of kind on instance 0 sent at sent and
// answered 20 ms later.
func answered(kind Kind, sent time.Duration, status int, code string) Response {
	return Response{Kind: kind, Sent: at(sent), Recv: at(sent + 20*ms), Status: status, Code: code}
}

// loggedIn starts session sid of user u (account acct) at 0 and returns
// its access token.
func loggedIn(c *Checker, acct, u, sid string) Access {
	c.SessionStarted(acct, u, sid, 0, at(0), at(20*ms))
	c.RefreshIssued(sid, "rt-"+sid)
	return Access{UserID: u, Session: sid, Issued: at(20 * ms)}
}

func TestServerErrors(t *testing.T) {
	for _, tc := range []struct {
		status int
		want   int
	}{{500, 1}, {502, 1}, {504, 1}, {503, 0}, {200, 0}, {401, 0}, {429, 0}} {
		c := newTestChecker()
		c.Response(answered(KindMe, 0, tc.status, ""))
		require.Equal(t, tc.want, count(c, InvServerError), "status %d", tc.status)
	}
}

func TestNoAnswer(t *testing.T) {
	c := newTestChecker()
	// During instance 1's downtime: excused.
	c.InstanceDown(1, Window{Start: at(10 * time.Second), End: at(14 * time.Second)})
	c.Response(Response{Kind: KindMe, Instance: 1, Sent: at(9 * time.Second), Recv: at(10*time.Second + ms), Err: errors.New("reset")})
	require.Zero(t, count(c, InvNoAnswer))
	// Instance 0 was up: a violation.
	c.Response(Response{Kind: KindMe, Instance: 0, Sent: at(11 * time.Second), Recv: at(12 * time.Second), Err: errors.New("reset")})
	require.Equal(t, 1, count(c, InvNoAnswer))
	// Instance 1 after its restart: a violation.
	c.Response(Response{Kind: KindMe, Instance: 1, Sent: at(20 * time.Second), Recv: at(40 * time.Second), Err: errors.New("timeout")})
	require.Equal(t, 2, count(c, InvNoAnswer))
}

func TestAccessAfterLogout(t *testing.T) {
	for _, tc := range []struct {
		name   string
		sent   time.Duration // of the probe; the logout is answered at 1.02 s
		status int
		want   int
	}{
		{"accepted 2 s after logout", 3020 * ms, 200, 1},
		{"accepted within the propagation allowance", 1500 * ms, 200, 0},
		{"refused 2 s after logout", 3020 * ms, 401, 0},
		{"unavailable 2 s after logout", 3020 * ms, 503, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newTestChecker()
			acc := loggedIn(c, "a", "u1", "s1")
			c.LoggedOut("u1", "s1", 0, at(1020*ms))
			c.AccessUsed(acc, answered(KindProbeMe, tc.sent, tc.status, ""))
			require.Equal(t, tc.want, count(c, InvRevokedAccepted))
		})
	}
}

func TestRevocationNeedsA2xx(t *testing.T) {
	// A logout answered 503 revoked nothing the checker knows of: the
	// token may still work.
	c := newTestChecker()
	acc := loggedIn(c, "a", "u1", "s1")
	c.AccessUsed(acc, answered(KindLogout, time.Second, 503, "unavailable"))
	c.AccessUsed(acc, answered(KindMe, 5*time.Second, 200, ""))
	require.Zero(t, count(c, InvRevokedAccepted))
}

func TestLogoutAllAndDeactivation(t *testing.T) {
	for _, why := range []string{"logout_all", "deactivation"} {
		t.Run(why, func(t *testing.T) {
			c := newTestChecker()
			acc1 := loggedIn(c, "a", "u1", "s1")
			acc2 := loggedIn(c, "a", "u1", "s2")
			c.Cutoff("a", "u1", why, 1, at(time.Second), at(1100*ms))
			// A token issued after the cutoff is fine.
			c.SessionStarted("b", "u2", "s9", 0, at(0), at(20*ms))
			later := Access{UserID: "u1", Session: "s3", Issued: at(5 * time.Second)}
			c.AccessUsed(later, answered(KindMe, 6*time.Second, 200, ""))
			require.Zero(t, count(c, InvRevokedAccepted))
			c.AccessUsed(acc1, answered(KindMe, 2*time.Second, 200, "")) // within the allowance
			require.Zero(t, count(c, InvRevokedAccepted))
			c.AccessUsed(acc2, answered(KindMe, 2200*ms, 200, ""))
			require.Equal(t, 1, count(c, InvRevokedAccepted))
			// The sessions' refresh tokens are dead too.
			c.RefreshUsed("s1", "rt-s1", "rt-new", answered(KindRefresh, 4*time.Second, 200, ""))
			require.Equal(t, 2, count(c, InvRevokedAccepted))
		})
	}
}

func TestLoginAfterDeactivation(t *testing.T) {
	c := newTestChecker()
	c.Registered("a", "u1", 0, at(0))
	c.Cutoff("a", "u1", "deactivation", 0, at(time.Second), at(1100*ms))
	c.SessionStarted("a", "u1", "s1", 0, at(1500*ms), at(1600*ms)) // raced with it
	require.Zero(t, count(c, InvRevokedAccepted))
	c.SessionStarted("a", "u1", "s2", 0, at(5*time.Second), at(5100*ms))
	require.Equal(t, 1, count(c, InvRevokedAccepted))
	c.FinalLogin("a", true, "ok")
	require.Equal(t, 2, count(c, InvRevokedAccepted), "a deactivated account logged in after the run")
	require.Zero(t, count(c, InvLostRegistration))
}

func TestPasswordChangeKeepsItsSession(t *testing.T) {
	c := newTestChecker()
	keep := loggedIn(c, "a", "u1", "s1")
	other := loggedIn(c, "a", "u1", "s2")
	c.PasswordChanged("u1", "s1", 0, at(time.Second), at(1200*ms))
	c.AccessUsed(keep, answered(KindMe, 5*time.Second, 200, ""))
	require.Zero(t, count(c, InvRevokedAccepted))
	c.AccessUsed(other, answered(KindMe, 5*time.Second, 200, ""))
	require.Equal(t, 1, count(c, InvRevokedAccepted))
}

func TestRefreshRotation(t *testing.T) {
	t.Run("old token accepted after the grace window", func(t *testing.T) {
		c := newTestChecker()
		loggedIn(c, "a", "u1", "s1")
		c.RefreshUsed("s1", "rt-s1", "rt-2", answered(KindRefresh, time.Second, 200, ""))
		c.RefreshUsed("s1", "rt-s1", "", answered(KindReplay, 12*time.Second, 200, ""))
		require.Equal(t, 1, count(c, InvRefreshFork))
	})
	t.Run("old token accepted within the grace window", func(t *testing.T) {
		c := newTestChecker()
		loggedIn(c, "a", "u1", "s1")
		c.RefreshUsed("s1", "rt-s1", "rt-2", answered(KindRefresh, time.Second, 200, ""))
		c.RefreshUsed("s1", "rt-s1", "", answered(KindRefresh, 9*time.Second, 200, ""))
		require.Zero(t, count(c, InvRefreshFork))
	})
	t.Run("old token refused after the grace window", func(t *testing.T) {
		c := newTestChecker()
		loggedIn(c, "a", "u1", "s1")
		c.RefreshUsed("s1", "rt-s1", "rt-2", answered(KindRefresh, time.Second, 200, ""))
		c.RefreshUsed("s1", "rt-s1", "", answered(KindReplay, 12*time.Second, 401, "invalid_token"))
		c.ReuseDetected("s1", at(12*time.Second+20*ms))
		require.Zero(t, count(c, InvRefreshFork))
		// Reuse detection ended the family: the current token is dead, and
		// so are the access tokens.
		c.RefreshUsed("s1", "rt-2", "rt-3", answered(KindProbeRefresh, 14*time.Second, 200, ""))
		require.Equal(t, 1, count(c, InvRevokedAccepted))
		c.AccessUsed(Access{UserID: "u1", Session: "s1", Issued: at(time.Second)}, answered(KindProbeMe, 14*time.Second, 200, ""))
		require.Equal(t, 2, count(c, InvRevokedAccepted))
	})
	t.Run("family refused, then a token of it accepted", func(t *testing.T) {
		c := newTestChecker()
		acc := loggedIn(c, "a", "u1", "s1")
		c.RefreshUsed("s1", "rt-s1", "", answered(KindRefresh, time.Second, 401, "invalid_token"))
		// Refused without a 2xx revocation: the access token may live on.
		c.AccessUsed(acc, answered(KindMe, 5*time.Second, 200, ""))
		require.Zero(t, count(c, InvRevokedAccepted))
		c.RefreshUsed("s1", "rt-s1", "rt-2", answered(KindRefresh, 5*time.Second, 200, ""))
		require.Equal(t, 1, count(c, InvRefreshFork))
	})
	t.Run("one token rotated into two", func(t *testing.T) {
		c := newTestChecker()
		loggedIn(c, "a", "u1", "s1")
		c.RefreshUsed("s1", "rt-s1", "rt-2", answered(KindRefresh, time.Second, 200, ""))
		c.RefreshUsed("s1", "rt-s1", "rt-2b", answered(KindRefresh, time.Second, 200, ""))
		require.Equal(t, 1, count(c, InvRefreshFork))
	})
	t.Run("the same successor twice", func(t *testing.T) {
		c := newTestChecker()
		loggedIn(c, "a", "u1", "s1")
		c.RefreshUsed("s1", "rt-s1", "rt-2", answered(KindRefresh, time.Second, 200, ""))
		c.RefreshUsed("s1", "rt-s1", "rt-2", answered(KindRefresh, time.Second, 200, ""))
		require.Zero(t, count(c, InvRefreshFork))
	})
}

func TestDuplicateRefresh(t *testing.T) {
	ok := answered(KindRefresh, time.Second, 200, "")
	for _, tc := range []struct {
		name string
		b    Response
		want int
	}{
		{"both honoured", answered(KindRefresh, time.Second, 200, ""), 0},
		{"one unavailable", answered(KindRefresh, time.Second, 503, "unavailable"), 0},
		{"one taken for reuse", answered(KindRefresh, time.Second, 401, "invalid_token"), 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newTestChecker()
			loggedIn(c, "a", "u1", "s1")
			c.DuplicateRefreshed("s1", ok, tc.b)
			require.Equal(t, tc.want, count(c, InvGraceRefused))
		})
	}
	t.Run("a deactivation in flight", func(t *testing.T) {
		// Sent before the refused refresh was answered, answered after
		// both: it may have ended the session between them.
		c := newTestChecker()
		loggedIn(c, "a", "u1", "s1")
		c.Cutoff("a", "u1", "deactivate", 0, at(1010*ms), at(1200*ms))
		c.DuplicateRefreshed("s1", ok, answered(KindRefresh, time.Second, 401, "invalid_token"))
		require.Zero(t, count(c, InvGraceRefused))
	})
	t.Run("a deactivation sent after both answers", func(t *testing.T) {
		c := newTestChecker()
		loggedIn(c, "a", "u1", "s1")
		c.Cutoff("a", "u1", "deactivate", 0, at(1100*ms), at(1200*ms))
		c.DuplicateRefreshed("s1", ok, answered(KindRefresh, time.Second, 401, "invalid_token"))
		require.Equal(t, 1, count(c, InvGraceRefused))
	})
	t.Run("session already revoked", func(t *testing.T) {
		c := newTestChecker()
		loggedIn(c, "a", "u1", "s1")
		c.LoggedOut("u1", "s1", 0, at(500*ms))
		c.DuplicateRefreshed("s1", ok, answered(KindRefresh, time.Second, 401, "invalid_token"))
		require.Zero(t, count(c, InvGraceRefused))
	})
}

func TestLocks(t *testing.T) {
	for _, tc := range []struct {
		name     string
		attempts []Attempt
		want     int
	}{
		{"locked with no failure", []Attempt{AttemptSucceeded, AttemptLocked}, 1},
		{"locked after outage refusals only", []Attempt{AttemptNotJudged, AttemptNotJudged, AttemptNotJudged, AttemptNotJudged, AttemptNotJudged, AttemptNotJudged, AttemptLocked}, 1},
		{"locked after four failures", []Attempt{AttemptJudged, AttemptJudged, AttemptJudged, AttemptJudged, AttemptLocked}, 1},
		{"locked after five failures", []Attempt{AttemptJudged, AttemptJudged, AttemptJudged, AttemptJudged, AttemptJudged, AttemptLocked}, 0},
		{"unanswered attempts may have counted", []Attempt{AttemptJudged, AttemptUnanswered, AttemptJudged, AttemptUnanswered, AttemptJudged, AttemptLocked}, 0},
		{"a success resets", []Attempt{AttemptJudged, AttemptJudged, AttemptJudged, AttemptSucceeded, AttemptJudged, AttemptJudged, AttemptLocked}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newTestChecker()
			for i, a := range tc.attempts {
				c.Attempted("a", a, 0, at(time.Duration(i)*time.Second))
			}
			require.Equal(t, tc.want, count(c, InvUnjudgedLock))
		})
	}
}

func TestFinalLogins(t *testing.T) {
	c := newTestChecker()
	c.Registered("ok", "u1", 0, at(0))
	c.FinalLogin("ok", true, "ok")
	c.Registered("lost", "u2", 0, at(0))
	c.FinalLogin("lost", false, "401 invalid_credentials")
	c.Registered("untried", "u3", 0, at(0))
	c.Registered("maybe-deactivated", "u4", 0, at(0))
	c.DeactivationAttempted("maybe-deactivated")
	c.FinalLogin("maybe-deactivated", false, "403 user_inactive")
	c.Registered("locked", "u5", 0, at(0))
	c.FinalLogin("locked", false, "429 rate_limited")
	// A registration answered 503 is not owed a login.
	c.FinalLogin("unclear", false, "401 invalid_credentials")
	v := c.Violations()[InvLostRegistration]
	require.Len(t, v, 3, "%v", v)
}

func TestAudit(t *testing.T) {
	setup := func() *Checker {
		c := newTestChecker()
		c.Registered("a", "u1", 0, at(time.Second))
		loggedIn(c, "a", "u1", "s1")
		c.LoggedOut("u1", "s1", 1, at(2*time.Second))
		c.RefreshUsed("s1", "rt-s1", "rt-2", Response{Kind: KindRefresh, Instance: 1, Sent: at(time.Second), Recv: at(time.Second), Status: 200})
		return c
	}
	all := map[string]int{
		EventKey("user.registered", "u:u1"): 1, EventKey("login.succeeded", "s:s1"): 1,
		EventKey("session.logout", "s:s1"): 1, EventKey("token.refreshed", "s:s1"): 1,
	}
	t.Run("all present", func(t *testing.T) {
		c := setup()
		res := c.CheckAudit(all)
		require.Equal(t, AuditResult{Expected: 4, Found: 4}, res)
		require.Zero(t, count(c, InvAuditMissing))
	})
	t.Run("logout missing", func(t *testing.T) {
		c := setup()
		stored := map[string]int{}
		for k, v := range all {
			stored[k] = v
		}
		delete(stored, EventKey("session.logout", "s:s1"))
		res := c.CheckAudit(stored)
		require.Equal(t, 1, res.Missing)
		require.Equal(t, 1, count(c, InvAuditMissing))
	})
	t.Run("killed without a database fault: still owed", func(t *testing.T) {
		c := setup()
		c.InstanceKilled(1, at(3*time.Second))
		res := c.CheckAudit(map[string]int{EventKey("user.registered", "u:u1"): 1, EventKey("login.succeeded", "s:s1"): 1})
		require.Equal(t, 2, res.Missing)
	})
	t.Run("killed during a database fault: exempt", func(t *testing.T) {
		c := setup()
		f := c.FaultStarted(FaultPGCut, []int{1}, true, at(500*ms))
		c.FaultEnded(f, at(2500*ms))
		c.InstanceKilled(1, at(3*time.Second))
		res := c.CheckAudit(map[string]int{EventKey("user.registered", "u:u1"): 1, EventKey("login.succeeded", "s:s1"): 1})
		require.Equal(t, 2, res.Exempt)
		require.Zero(t, res.Missing)
	})
	t.Run("killed long after the database fault: owed", func(t *testing.T) {
		c := setup()
		f := c.FaultStarted(FaultPGCut, []int{1}, true, at(500*ms))
		c.FaultEnded(f, at(2500*ms))
		c.InstanceKilled(1, at(30*time.Second))
		res := c.CheckAudit(map[string]int{})
		require.Zero(t, res.Exempt)
		require.Equal(t, 4, res.Missing)
	})
	t.Run("a database fault of the other instance", func(t *testing.T) {
		c := setup()
		f := c.FaultStarted(FaultPGCut, []int{0}, true, at(500*ms))
		c.FaultEnded(f, at(2500*ms))
		c.InstanceKilled(1, at(3*time.Second))
		res := c.CheckAudit(map[string]int{EventKey("user.registered", "u:u1"): 1, EventKey("login.succeeded", "s:s1"): 1})
		require.Equal(t, 2, res.Missing)
	})
	t.Run("counts matter", func(t *testing.T) {
		c := setup()
		c.RefreshUsed("s1", "rt-2", "rt-3", answered(KindRefresh, 3*time.Second, 200, ""))
		res := c.CheckAudit(all)
		require.Equal(t, 1, res.Missing, "two refreshes, one event")
	})
}

func TestDigestHidesTokens(t *testing.T) {
	c := newTestChecker()
	loggedIn(c, "a", "u1", "s1")
	c.RefreshUsed("s1", "rt-s1", "rt-2", answered(KindRefresh, time.Second, 200, ""))
	c.RefreshUsed("s1", "rt-s1", "rt-2b", answered(KindRefresh, time.Second, 200, ""))
	for _, v := range c.Violations()[InvRefreshFork] {
		require.NotContains(t, v, "rt-")
	}
	for k := range c.refresh {
		require.NotContains(t, k, "rt-")
	}
}

func TestSchedule(t *testing.T) {
	plan := schedule(50*time.Second, true, nil)
	var total time.Duration
	seen := map[string]bool{}
	for _, p := range plan {
		seen[p.kind] = true
		total += p.after + p.duration
	}
	require.Len(t, seen, len(FaultKinds), "every fault kind at least once")
	require.LessOrEqual(t, total, 50*time.Second)
}
