package middleware_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/maestro-ml/auth"
	"github.com/maestro-ml/auth/middleware"
	"github.com/stretchr/testify/require"
)

type (
	eventBody struct {
		ID        string    `json:"id"`
		Type      string    `json:"type"`
		Time      time.Time `json:"time"`
		TenantID  string    `json:"tenant_id"`
		UserID    string    `json:"user_id"`
		ActorID   string    `json:"actor_id"`
		SessionID string    `json:"session_id"`
		IP        string    `json:"ip"`
		UserAgent string    `json:"user_agent"`
		Reason    string    `json:"reason"`
	}
	eventListBody struct {
		Events     []eventBody `json:"events"`
		NextCursor string      `json:"next_cursor"`
	}
)

// events reads a page of the audit log through the endpoint.
func (e *env) events(token, query string) eventListBody {
	e.t.Helper()
	rec := e.call("GET", prefix+"/audit-events?"+query, token, nil)
	var l eventListBody
	decodeJSON(e.t, rec, 200, &l)
	require.NotNil(e.t, l.Events, "events is an array, never null")
	if l.NextCursor == "" {
		require.NotContains(e.t, rec.Body.String(), "next_cursor")
	}
	return l
}

// Every audit event of an action taken through the HTTP layer records the
// client's address (as the IPResolver finds it behind a trusted proxy)
// and user agent, and an administrator's action records the actor.
func TestClientContextInAuditEvents(t *testing.T) {
	proxies, err := middleware.ParseTrustedProxies("10.0.0.0/8")
	require.NoError(t, err)
	opts := []middleware.Option{middleware.WithIPResolver(middleware.IPResolver{TrustedProxies: proxies})}
	e := newEnvWith(t, envConfig{audit: true, opts: opts})
	const (
		clientIP = "198.51.100.23"
		ua       = "client-context-test/2.0"
	)
	send := func(method, path, token string, body any) *httptest.ResponseRecorder {
		r := req(method, path, body)
		r.RemoteAddr = "10.1.2.3:4567" // the trusted proxy
		r.Header.Set("X-Forwarded-For", "203.0.113.77, "+clientIP)
		r.Header.Set("User-Agent", ua)
		if token != "" {
			r.Header.Set("Authorization", "Bearer "+token)
		}
		return e.do(r)
	}
	login := func(email string) tokenBody {
		var tb tokenBody
		decodeJSON(t, send("POST", prefix+"/login", "", map[string]string{"email": email, "password": password}), 200, &tb)
		return tb
	}

	u, p1 := e.user(auth.RoleViewer, "") // outside HTTP: no client
	admin, ap := e.user(auth.RoleAdmin, "")
	p2, p3 := login(u.Email), login(u.Email)
	require.Equal(t, 204, send("DELETE", prefix+"/sessions/"+p2.SessionID, p1.AccessToken, nil).Code)
	require.Equal(t, 204, send("DELETE", prefix+"/sessions", p3.AccessToken, nil).Code)
	require.Equal(t, 204, send("POST", prefix+"/logout", p3.AccessToken, nil).Code)
	p4 := login(u.Email)
	require.Equal(t, 204, send("POST", prefix+"/logout-all", p4.AccessToken, nil).Code)
	require.Equal(t, 200, send("PATCH", prefix+"/users/"+u.ID, ap.AccessToken, map[string]any{"role": "editor"}).Code)
	require.Equal(t, 204, send("POST", prefix+"/users/"+u.ID+"/unlock", ap.AccessToken, nil).Code)

	page := e.events(ap.AccessToken, "user="+u.ID+"&limit=100")
	byType := map[string][]eventBody{}
	for _, ev := range page.Events {
		require.Equal(t, u.ID, ev.UserID)
		require.Equal(t, u.TenantID, ev.TenantID)
		byType[ev.Type] = append(byType[ev.Type], ev)
	}
	selfService := []auth.EventType{auth.EventSessionRevoked, auth.EventLogout, auth.EventLogoutAll}
	administrative := []auth.EventType{auth.EventRoleChanged, auth.EventUnlocked}
	for _, typ := range append(selfService, administrative...) {
		evs := byType[string(typ)]
		require.NotEmpty(t, evs, "no %s event", typ)
		for _, ev := range evs {
			require.Equal(t, clientIP, ev.IP, "%s records the client behind the proxy", typ)
			require.Equal(t, ua, ev.UserAgent, typ)
		}
	}
	require.Len(t, byType[string(auth.EventSessionRevoked)], 2, "one by ID, one for all others")
	for _, typ := range selfService {
		require.Empty(t, byType[string(typ)][0].ActorID, "%s is self-service", typ)
	}
	for _, typ := range administrative {
		require.Equal(t, admin.ID, byType[string(typ)][0].ActorID, "%s records the administrator", typ)
	}
	// Logins made outside the HTTP layer have no client: the address
	// above came from the request, not from somewhere else.
	var direct, viaHTTP int
	for _, ev := range byType[string(auth.EventLoginSucceeded)] {
		switch ev.IP {
		case "":
			direct++
		case clientIP:
			viaHTTP++
		}
	}
	require.Equal(t, [2]int{1, 3}, [2]int{direct, viaHTTP})

	// Application handlers behind the middleware see the client too,
	// anonymous ones behind Optional included.
	mux := http.NewServeMux()
	echo := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ci, ok := auth.ClientFromContext(r.Context())
		_ = json.NewEncoder(w).Encode(map[string]any{"ok": ok, "ip": ci.IP, "ua": ci.UserAgent})
	})
	h := newHandler(t, e.a, opts...)
	mux.Handle("GET /c", h.Authenticate(echo))
	mux.Handle("GET /o", h.Optional(echo))
	pair := login(admin.Email)
	for path, tok := range map[string]string{"/c": pair.AccessToken, "/o": ""} {
		r := req("GET", path, nil)
		r.RemoteAddr = "10.1.2.3:4567"
		r.Header.Set("X-Forwarded-For", clientIP)
		r.Header.Set("User-Agent", ua)
		if tok != "" {
			r.Header.Set("Authorization", "Bearer "+tok)
		}
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, r)
		require.JSONEq(t, `{"ok":true,"ip":"`+clientIP+`","ua":"`+ua+`"}`, rec.Body.String(), path)
	}
}

func TestAuditEventsEndpoint(t *testing.T) {
	e := newEnvWith(t, envConfig{audit: true})
	tb := e.tenant()
	admin, ap := e.user(auth.RoleAdmin, "")
	u, vp := e.user(auth.RoleViewer, "")
	_, bp := e.user(auth.RoleAdmin, tb)
	userB, _ := e.user(auth.RoleViewer, tb)
	fail := func(email string) {
		problem(t, e.call("POST", prefix+"/login", "", map[string]string{"email": email, "password": "wrong password"}), 401, "invalid_credentials")
	}

	e.clock.Advance(time.Minute)
	t1 := e.clock.Now()
	for range 3 {
		fail(u.Email)
	}
	fail(userB.Email)
	e.clock.Advance(time.Minute)
	t2 := e.clock.Now()
	fail(admin.Email)

	all := e.events(ap.AccessToken, "")
	require.NotEmpty(t, all.Events)
	for i, ev := range all.Events {
		require.Equal(t, admin.TenantID, ev.TenantID, "only the caller's tenant")
		require.NotEqual(t, userB.ID, ev.UserID)
		require.True(t, auth.ValidID(ev.ID))
		require.NotEmpty(t, ev.Type)
		require.False(t, ev.Time.IsZero())
		if i > 0 {
			require.False(t, ev.Time.After(all.Events[i-1].Time), "newest first")
		}
	}
	require.Equal(t, "login.failed", all.Events[0].Type)
	require.Equal(t, admin.ID, all.Events[0].UserID)
	require.Equal(t, "bad_password", all.Events[0].Reason)

	// Filters and pages.
	failed := e.events(ap.AccessToken, "type=login.failed&user="+u.ID)
	require.Len(t, failed.Events, 3)
	var ids []string
	cursor := ""
	for pages := 0; ; pages++ {
		require.Less(t, pages, 5)
		q := "type=login.failed&user=" + u.ID + "&limit=2"
		if cursor != "" {
			q += "&cursor=" + cursor
		}
		p := e.events(ap.AccessToken, q)
		require.LessOrEqual(t, len(p.Events), 2)
		for _, ev := range p.Events {
			ids = append(ids, ev.ID)
		}
		if cursor = p.NextCursor; cursor == "" {
			break
		}
	}
	require.Equal(t, []string{failed.Events[0].ID, failed.Events[1].ID, failed.Events[2].ID}, ids)

	rfc := func(tm time.Time) string { return url.QueryEscape(tm.Format(time.RFC3339Nano)) }
	require.Len(t, e.events(ap.AccessToken, "type=login.failed&since="+rfc(t2)).Events, 1)
	require.Len(t, e.events(ap.AccessToken, "type=login.failed&until="+rfc(t2)).Events, 3)
	require.Len(t, e.events(ap.AccessToken, "type=login.failed&since="+rfc(t1)+"&until="+rfc(t2)).Events, 3)
	require.Len(t, e.events(ap.AccessToken, "type=login.failed&since="+rfc(t2.In(time.FixedZone("", 2*3600)))).Events, 1, "an offset, percent-encoded")
	require.Empty(t, e.events(ap.AccessToken, "type=no.such_event").Events)

	// Another tenant's administrator sees only that tenant, whatever the
	// parameters say.
	require.Empty(t, e.events(bp.AccessToken, "user="+u.ID).Events)
	for _, ev := range e.events(bp.AccessToken, "").Events {
		require.Equal(t, tb, ev.TenantID)
	}

	for _, tc := range []struct{ query, field string }{
		{"limit=0", "limit"}, {"limit=101", "limit"}, {"limit=x", "limit"}, {"limit=1&limit=2", "limit"},
		{"cursor=nope", "cursor"}, {"user=nope", "user"}, {"user=" + strings.ToUpper(u.ID), "user"},
		{"type=Login%20Failed", "type"}, {"type=" + strings.Repeat("x", 65), "type"}, {"type=", "type"},
		{"since=yesterday", "since"}, {"until=2026-13-01T00:00:00Z", "until"}, {"since=2026-01-01", "since"},
		{"since=2026-01-01T00:00:00+02:00", "since"}, // an unencoded "+" is a space
		{"since=" + rfc(t2) + "&until=" + rfc(t1), "until"}, {"since=" + rfc(t1) + "&until=" + rfc(t1), "until"},
		{"tenant=" + tb, "tenant"}, {"tenant_id=" + tb, "tenant_id"}, {"%zz", ""},
	} {
		p := problem(t, e.call("GET", prefix+"/audit-events?"+tc.query, ap.AccessToken, nil), 400, "invalid_parameter")
		require.Equal(t, tc.field, p.Field, tc.query)
	}
	problem(t, e.call("GET", prefix+"/audit-events", vp.AccessToken, nil), 403, "insufficient_role")
	problem(t, e.call("GET", prefix+"/audit-events", "", nil), 401, "unauthenticated")
}

func TestAuditEventsNotConfigured(t *testing.T) {
	e := newEnv(t) // no Config.AuditLog
	_, ap := e.user(auth.RoleAdmin, "")
	problem(t, e.call("GET", prefix+"/audit-events", ap.AccessToken, nil), 501, "not_configured")
}

// An administrator's change of a security-relevant field is audited with
// the actor and the old and new values; removing "verified" under a
// verified-only policy ends the user's tokens and sessions at once, like a
// deactivation.
func TestAdminVerifiedChange(t *testing.T) {
	e := newEnvWith(t, envConfig{audit: true, lifecycle: true, cfg: auth.Config{RequireVerifiedEmail: true}})
	admin, ap := e.verifiedUser(auth.RoleAdmin)
	u, up := e.verifiedUser(auth.RoleViewer)
	require.Equal(t, 200, e.call("GET", prefix+"/me", up.AccessToken, nil).Code)

	e.clock.Advance(time.Millisecond)
	require.Equal(t, 200, e.call("PATCH", prefix+"/users/"+u.ID, ap.AccessToken, map[string]any{"verified": false}).Code)
	problem(t, e.call("GET", prefix+"/me", up.AccessToken, nil), 401, "invalid_token")
	problem(t, e.call("POST", prefix+"/refresh", "", map[string]string{"refresh_token": up.RefreshToken}), 401, "invalid_token")
	problem(t, e.call("POST", prefix+"/login", "", map[string]string{"email": u.Email, "password": password}), 403, "email_not_verified")

	e.clock.Advance(time.Millisecond)
	require.Equal(t, 200, e.call("PATCH", prefix+"/users/"+u.ID, ap.AccessToken, map[string]any{"verified": true, "role": "editor", "active": false}).Code)

	byType := map[string]eventBody{}
	for _, ev := range e.events(ap.AccessToken, "user="+u.ID+"&limit=100").Events {
		if _, seen := byType[ev.Type]; !seen { // newest first
			byType[ev.Type] = ev
		}
	}
	for typ, reason := range map[auth.EventType]string{
		auth.EventVerificationRemoved: "verified->unverified",
		auth.EventEmailVerified:       "administrator",
		auth.EventRoleChanged:         "viewer->editor",
		auth.EventActivationChanged:   "deactivated",
	} {
		ev, ok := byType[string(typ)]
		require.True(t, ok, "no %s event", typ)
		require.Equal(t, admin.ID, ev.ActorID, "%s names the administrator", typ)
		require.Equal(t, reason, ev.Reason, typ)
	}
}
