package middleware_test

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/maestro-ml/auth"
	"github.com/maestro-ml/auth/authtest"
	"github.com/maestro-ml/auth/factor/totp"
	"github.com/maestro-ml/auth/store/memstore"
	"github.com/pquerna/otp"
	otptotp "github.com/pquerna/otp/totp"
	"github.com/stretchr/testify/require"
)

// mfaEnv is an env with TOTP as its second factor, the factor's clock
// being the env's.
func mfaEnv(t *testing.T, cfg auth.Config) (*env, *totp.TOTP) {
	t.Helper()
	var f *totp.TOTP
	cfg.Events = nil
	e := newEnvWith(t, envConfig{lifecycle: true, audit: true, cfg: cfg, factors: func(st *memstore.Store, clock *authtest.Clock) []auth.SecondFactor {
		key := totp.Key{ID: "k1", Secret: make([]byte, 32)}
		_, _ = rand.Read(key.Secret)
		var err error
		f, err = totp.New(totp.Config{Store: st, Keys: []totp.Key{key}, Issuer: "Test", Now: clock.Now})
		require.NoError(t, err)
		return []auth.SecondFactor{f}
	}})
	return e, f
}

// code is the TOTP code of secret at t, by pquerna/otp's generator.
func code(t *testing.T, secret string, at time.Time) string {
	t.Helper()
	c, err := otptotp.GenerateCodeCustom(secret, at, otptotp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	require.NoError(t, err)
	return c
}

// enrolled returns a verified user with a confirmed TOTP, its secret and
// recovery codes.
func enrolled(t *testing.T, e *env, f *totp.TOTP, role auth.Role) (*auth.User, string, []string) {
	t.Helper()
	u, err := e.a.CreateUser(t.Context(), auth.CreateUserRequest{Email: newEmail(), Password: password, Role: role, Verified: true})
	require.NoError(t, err)
	en, err := f.Enroll(t.Context(), u)
	require.NoError(t, err)
	conf, err := f.Confirm(t.Context(), u, code(t, en.Secret, e.clock.Now()))
	require.NoError(t, err)
	return u, en.Secret, conf.RecoveryCodes
}

type mfaProblemBody struct {
	Code      string    `json:"code"`
	Ticket    string    `json:"mfa_ticket"`
	ExpiresAt time.Time `json:"expires_at"`
	Factors   []string  `json:"factors"`
	Enroll    bool      `json:"enroll"`
}

// amr decodes the amr claim of an access token.
func amr(t *testing.T, token string) []string {
	t.Helper()
	parts := strings.Split(token, ".")
	require.Len(t, parts, 3)
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	require.NoError(t, err)
	var c struct {
		AMR []string `json:"amr"`
	}
	require.NoError(t, json.Unmarshal(payload, &c))
	return c.AMR
}

// TestLoginWithTOTP: after the password, a user with TOTP gets 401
// mfa_required and a ticket; /login/mfa with a code computed by an
// independent TOTP implementation finishes the login with amr pwd, otp,
// mfa; the ticket is single-use; wrong codes and tickets are refused.
func TestLoginWithTOTP(t *testing.T) {
	e, f := mfaEnv(t, auth.Config{})
	u, secret, recovery := enrolled(t, e, f, auth.RoleViewer)

	rec := e.call("POST", prefix+"/login", "", map[string]string{"email": u.Email, "password": password})
	require.Equal(t, 401, rec.Code)
	require.Equal(t, "application/problem+json", rec.Header().Get("Content-Type"))
	require.Equal(t, "Bearer", rec.Header().Get("WWW-Authenticate"))
	var mfa mfaProblemBody
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &mfa))
	require.Equal(t, "mfa_required", mfa.Code)
	require.NotEmpty(t, mfa.Ticket)
	require.Equal(t, []string{"totp"}, mfa.Factors)
	require.False(t, mfa.Enroll)
	require.WithinDuration(t, e.clock.Now().Add(5*time.Minute), mfa.ExpiresAt, time.Second)
	problem(t, e.call("GET", prefix+"/me", mfa.Ticket, nil), 401, "invalid_token") // the ticket is no bearer token

	problem(t, e.call("POST", prefix+"/login/mfa", "", map[string]string{"ticket": mfa.Ticket, "code": "000000"}), 401, "invalid_code")
	problem(t, e.call("POST", prefix+"/login/mfa", "", map[string]string{"ticket": mfa.Ticket + "x", "code": "000000"}), 401, "invalid_token")
	problem(t, e.call("POST", prefix+"/login/mfa", "", map[string]string{"ticket": mfa.Ticket, "code": "1", "factor": "sms"}), 422, "invalid_input")
	problem(t, e.call("POST", prefix+"/login/mfa", "", map[string]string{"ticket": mfa.Ticket}), 400, "missing_field")

	// The code of the next step is within the skew, and not yet used.
	var tb tokenBody
	decodeJSON(t, e.call("POST", prefix+"/login/mfa", "", map[string]string{"ticket": mfa.Ticket, "code": code(t, secret, e.clock.Now().Add(30*time.Second))}), 200, &tb)
	require.Equal(t, []string{"pwd", "otp", "mfa"}, amr(t, tb.AccessToken))
	require.Equal(t, u.ID, tb.User.ID)
	problem(t, e.call("POST", prefix+"/login/mfa", "", map[string]string{"ticket": mfa.Ticket, "code": recovery[0]}), 401, "invalid_token")

	var fl struct {
		Factors  []string `json:"factors"`
		Required bool     `json:"required"`
	}
	decodeJSON(t, e.call("GET", prefix+"/factors", tb.AccessToken, nil), 200, &fl)
	require.Equal(t, []string{"totp"}, fl.Factors)
	require.False(t, fl.Required)

	// A recovery code finishes another login, once.
	rec = e.call("POST", prefix+"/login", "", map[string]string{"email": u.Email, "password": password})
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &mfa))
	decodeJSON(t, e.call("POST", prefix+"/login/mfa", "", map[string]string{"ticket": mfa.Ticket, "code": recovery[0]}), 200, &tb)
	rec = e.call("POST", prefix+"/login", "", map[string]string{"email": u.Email, "password": password})
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &mfa))
	problem(t, e.call("POST", prefix+"/login/mfa", "", map[string]string{"ticket": mfa.Ticket, "code": recovery[0]}), 401, "invalid_code")
}

// TestStepUpAndRFC9470: RequireMFA and RequireRecentAuth answer 401 with
// an RFC 9470 challenge; a step-up with the password or a code answers a
// new session's tokens, and the old session ends.
func TestStepUpAndRFC9470(t *testing.T) {
	e, f := mfaEnv(t, auth.Config{})
	mux := http.NewServeMux()
	mux.Handle("GET /mfa", e.h.Authenticate(e.h.RequireMFA(http.HandlerFunc(whoami))))
	mux.Handle("GET /recent", e.h.Authenticate(e.h.RequireRecentAuth(5*time.Minute)(http.HandlerFunc(whoami))))
	get := func(path, token string) *httptest.ResponseRecorder {
		r := req("GET", path, nil)
		r.Header.Set("Authorization", "Bearer "+token)
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, r)
		return rec
	}

	plain, pp := e.verifiedUser(auth.RoleViewer) // password only
	rec := get("/mfa", pp.AccessToken)
	problem(t, rec, 401, "insufficient_user_authentication")
	require.Equal(t, `Bearer error="insufficient_user_authentication", error_description="A stronger or more recent authentication is required", acr_values="mfa"`,
		rec.Header().Get("WWW-Authenticate"))
	require.Equal(t, 200, get("/recent", pp.AccessToken).Code)
	e.clock.Advance(6 * time.Minute)
	rec = get("/recent", pp.AccessToken)
	problem(t, rec, 401, "insufficient_user_authentication")
	require.Contains(t, rec.Header().Get("WWW-Authenticate"), "max_age=300")
	require.NotContains(t, rec.Header().Get("WWW-Authenticate"), "acr_values")

	problem(t, e.call("POST", prefix+"/step-up", pp.AccessToken, map[string]string{"password": "wrong password"}), 403, "invalid_credentials")
	problem(t, e.call("POST", prefix+"/step-up", pp.AccessToken, map[string]string{"password": password, "code": "123456"}), 400, "invalid_field_type")
	problem(t, e.call("POST", prefix+"/step-up", pp.AccessToken, map[string]string{}), 400, "missing_field")
	var stepped tokenBody
	decodeJSON(t, e.call("POST", prefix+"/step-up", pp.AccessToken, map[string]string{"password": password}), 200, &stepped)
	require.Equal(t, 200, get("/recent", stepped.AccessToken).Code)
	problem(t, get("/recent", pp.AccessToken), 401, "invalid_token") // the old session ended
	problem(t, get("/mfa", stepped.AccessToken), 401, "insufficient_user_authentication")
	require.NotEmpty(t, plain.ID)

	// With a factor: a code step-up brings mfa.
	u, secret, _ := enrolled(t, e, f, auth.RoleViewer)
	rec = e.call("POST", prefix+"/login", "", map[string]string{"email": u.Email, "password": password})
	var mfa mfaProblemBody
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &mfa))
	var tb tokenBody
	decodeJSON(t, e.call("POST", prefix+"/login/mfa", "", map[string]string{"ticket": mfa.Ticket, "code": code(t, secret, e.clock.Now().Add(30*time.Second))}), 200, &tb)
	require.Equal(t, 200, get("/mfa", tb.AccessToken).Code)
	e.clock.Advance(6 * time.Minute)
	rec = get("/recent", tb.AccessToken)
	require.True(t, strings.HasSuffix(rec.Header().Get("WWW-Authenticate"), `", max_age=300`), "no policy covers the user: recency only")
	// A password step-up is recent but no longer multi-factor: /mfa refuses it.
	var pwdOnly tokenBody
	decodeJSON(t, e.call("POST", prefix+"/step-up", tb.AccessToken, map[string]string{"password": password}), 200, &pwdOnly)
	require.Equal(t, 200, get("/recent", pwdOnly.AccessToken).Code)
	problem(t, get("/mfa", pwdOnly.AccessToken), 401, "insufficient_user_authentication")
	tb = pwdOnly
	problem(t, e.call("POST", prefix+"/step-up", tb.AccessToken, map[string]string{"code": "000000"}), 403, "invalid_code")
	decodeJSON(t, e.call("POST", prefix+"/step-up", tb.AccessToken, map[string]string{"code": code(t, secret, e.clock.Now()), "factor": "totp"}), 200, &stepped)
	require.Equal(t, 200, get("/recent", stepped.AccessToken).Code)
	require.Equal(t, 200, get("/mfa", stepped.AccessToken).Code)
}

// TestAdminResetsFactors: an administrator's reset removes the factors,
// ends the user's sessions, is audited, and the next login needs only the
// password.
func TestAdminResetsFactors(t *testing.T) {
	e, f := mfaEnv(t, auth.Config{})
	admin, ap := e.verifiedUser(auth.RoleAdmin)
	u, secret, _ := enrolled(t, e, f, auth.RoleViewer)
	rec := e.call("POST", prefix+"/login", "", map[string]string{"email": u.Email, "password": password})
	var mfa mfaProblemBody
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &mfa))
	var tb tokenBody
	decodeJSON(t, e.call("POST", prefix+"/login/mfa", "", map[string]string{"ticket": mfa.Ticket, "code": code(t, secret, e.clock.Now().Add(30*time.Second))}), 200, &tb)

	problem(t, e.call("DELETE", prefix+"/users/"+u.ID+"/factors", tb.AccessToken, nil), 403, "insufficient_role")
	// Not the administrator's own: a stolen administrator token must not
	// strip the account's factor (the factor's own endpoint, with its
	// fresher checks, does that).
	problem(t, e.call("DELETE", prefix+"/users/"+admin.ID+"/factors", ap.AccessToken, nil), 403, "self_modification")
	e.clock.Advance(time.Millisecond)
	require.Equal(t, 204, e.call("DELETE", prefix+"/users/"+u.ID+"/factors", ap.AccessToken, nil).Code)
	problem(t, e.call("GET", prefix+"/me", tb.AccessToken, nil), 401, "invalid_token")
	e.clock.Advance(time.Millisecond)
	decodeJSON(t, e.call("POST", prefix+"/login", "", map[string]string{"email": u.Email, "password": password}), 200, &tb)
	require.Equal(t, []string{"pwd"}, amr(t, tb.AccessToken))

	var found bool
	for _, ev := range e.events(ap.AccessToken, "user="+u.ID+"&type=mfa.reset").Events {
		found = found || ev.ActorID == admin.ID
	}
	require.True(t, found, "the reset is audited with the administrator")
}

// TestMFAPolicyGuardsAdministration: with Config.MFA requiring a second
// factor of administrators, an administrator who has none can only enrol
// at login, and an administrator's token without "mfa" in amr is refused
// by the admin endpoints and by password and e-mail changes with an RFC
// 9470 challenge; a multi-factor token passes.
func TestMFAPolicyGuardsAdministration(t *testing.T) {
	e, f := mfaEnv(t, auth.Config{MFA: auth.MFAPolicy{Roles: []auth.Role{auth.RoleAdmin}}})
	// An administrator without a factor gets an enrolment ticket only.
	bare, err := e.a.CreateUser(t.Context(), auth.CreateUserRequest{Email: newEmail(), Password: password, Role: auth.RoleAdmin, Verified: true})
	require.NoError(t, err)
	rec := e.call("POST", prefix+"/login", "", map[string]string{"email": bare.Email, "password": password})
	var mfa mfaProblemBody
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &mfa))
	require.Equal(t, 401, rec.Code)
	require.True(t, mfa.Enroll)
	require.Empty(t, mfa.Factors)
	problem(t, e.call("POST", prefix+"/login/mfa", "", map[string]string{"ticket": mfa.Ticket, "code": "123456"}), 401, "invalid_code")

	// A password-only administrator token (a session from before the
	// policy, simulated by a step-up with the password alone).
	admin, secret, _ := enrolled(t, e, f, auth.RoleAdmin)
	rec = e.call("POST", prefix+"/login", "", map[string]string{"email": admin.Email, "password": password})
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &mfa))
	var full tokenBody
	decodeJSON(t, e.call("POST", prefix+"/login/mfa", "", map[string]string{"ticket": mfa.Ticket, "code": code(t, secret, e.clock.Now().Add(30*time.Second))}), 200, &full)
	require.Equal(t, 200, e.call("GET", prefix+"/users", full.AccessToken, nil).Code)

	// A password-only administrator token, as issued before the policy:
	// an Authenticator over the same stores and keys, without it.
	before := authtest.NewAuthenticator(t, authtest.Stores{Users: e.st, Tenants: e.st, Sessions: e.st, Revocations: e.st}, e.clock, auth.Config{Keys: e.a.Keys()})
	plainAdmin, err := before.CreateUser(t.Context(), auth.CreateUserRequest{Email: newEmail(), Password: password, Role: auth.RoleAdmin, Verified: true})
	require.NoError(t, err)
	pair, _, err := before.Login(t.Context(), auth.LoginRequest{Email: plainAdmin.Email, Password: password})
	require.NoError(t, err)
	require.Equal(t, []string{"pwd"}, amr(t, pair.AccessToken))
	for _, c := range []struct {
		method, path string
		body         any
	}{
		{"GET", prefix + "/users", nil},
		{"PATCH", prefix + "/users/" + admin.ID, map[string]any{"role": "viewer"}},
		{"POST", prefix + "/password/change", map[string]string{"current_password": password, "new_password": "another long password"}},
		{"POST", prefix + "/email/change", map[string]string{"password": password, "new_email": newEmail()}},
	} {
		rec := e.call(c.method, c.path, pair.AccessToken, c.body)
		problem(t, rec, 401, "insufficient_user_authentication")
		require.Contains(t, rec.Header().Get("WWW-Authenticate"), `acr_values="mfa"`, c.path)
	}
	// A viewer is not covered by the policy: no second factor needed.
	viewer, err := before.CreateUser(t.Context(), auth.CreateUserRequest{Email: newEmail(), Password: password, Role: auth.RoleViewer, Verified: true})
	require.NoError(t, err)
	vp, _, err := e.a.Login(t.Context(), auth.LoginRequest{Email: viewer.Email, Password: password})
	require.NoError(t, err)
	require.Equal(t, 204, e.call("POST", prefix+"/password/change", vp.AccessToken, map[string]string{"current_password": password, "new_password": "another long password"}).Code)
}
