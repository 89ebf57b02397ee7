package integration

import (
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/maestro-ml/auth"
	"github.com/maestro-ml/auth/authtest"
	"github.com/maestro-ml/auth/factor/totp"
	"github.com/maestro-ml/auth/factor/totp/totphttp"
	"github.com/maestro-ml/auth/middleware"
	"github.com/maestro-ml/auth/store/memstore"
	"github.com/pquerna/otp"
	otptotp "github.com/pquerna/otp/totp"
	"github.com/stretchr/testify/require"
)

// totpServer is an Authenticator with TOTP as its second factor, on a
// ServeMux with the factor's endpoints (totphttp), and its clock.
type totpServer struct {
	t     *testing.T
	a     *auth.Authenticator
	h     *middleware.Handler
	mux   *http.ServeMux
	clock *authtest.Clock
}

func newTOTPServer(t *testing.T, policy auth.MFAPolicy) *totpServer {
	t.Helper()
	st := memstore.New(memstore.WithSweepInterval(0))
	t.Cleanup(func() { _ = st.Close() })
	clock := authtest.NewClock(time.Now().UTC().Truncate(time.Millisecond))
	key := totp.Key{ID: "k1", Secret: make([]byte, 32)}
	_, _ = rand.Read(key.Secret)
	f, err := totp.New(totp.Config{Store: st, Keys: []totp.Key{key}, Issuer: "Integration", Now: clock.Now})
	require.NoError(t, err)
	a := authtest.NewAuthenticator(t, authtest.Stores{Users: st, Tenants: st, Sessions: st, Revocations: st}, clock,
		auth.Config{ActionTokens: st, SecondFactors: []auth.SecondFactor{f}, MFA: policy})
	h, err := middleware.New(a, middleware.WithExtensions(totphttp.New(f)))
	require.NoError(t, err)
	mux := http.NewServeMux()
	h.Mount(mux)
	return &totpServer{t: t, a: a, h: h, mux: mux, clock: clock}
}

func (s *totpServer) call(method, path, token string, body any) *httptest.ResponseRecorder {
	r := req(method, path, body)
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	rec := httptest.NewRecorder()
	s.mux.ServeHTTP(rec, r)
	return rec
}

func (s *totpServer) decode(rec *httptest.ResponseRecorder, status int, v any) {
	s.t.Helper()
	require.Equal(s.t, status, rec.Code, "body: %s", rec.Body.String())
	require.NoError(s.t, json.Unmarshal(rec.Body.Bytes(), v))
}

// code is the TOTP code of secret at t by pquerna/otp's generator,
// independent of the package's verification path.
func code(t *testing.T, secret string, at time.Time) string {
	t.Helper()
	c, err := otptotp.GenerateCodeCustom(secret, at, otptotp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	require.NoError(t, err)
	return c
}

type tokens struct {
	AccessToken   string   `json:"access_token"`
	RefreshToken  string   `json:"refresh_token"`
	RecoveryCodes []string `json:"recovery_codes"`
}

type enrollment struct {
	Secret string `json:"secret"`
	URI    string `json:"uri"`
	QRPNG  []byte `json:"qr_png"`
}

type mfaRequired struct {
	Code   string   `json:"code"`
	Ticket string   `json:"mfa_ticket"`
	Enroll bool     `json:"enroll"`
	Fs     []string `json:"factors"`
}

// TestTOTPOverHTTP: a user enrols over HTTP with any standard app (codes
// from an independent implementation), logs in with password and code,
// reads the state, replaces the recovery codes and disables TOTP; the
// sensitive steps need a recent authentication.
func TestTOTPOverHTTP(t *testing.T) {
	s := newTOTPServer(t, auth.MFAPolicy{})
	u, pair := newUser(t, s.a, auth.RoleViewer)

	var st struct {
		Enrolled bool `json:"enrolled"`
		Pending  bool `json:"pending"`
		Left     int  `json:"recovery_codes_left"`
	}
	s.decode(s.call("GET", prefix+"/factors/totp", pair.AccessToken, nil), 200, &st)
	require.False(t, st.Enrolled)

	var en enrollment
	s.decode(s.call("POST", prefix+"/factors/totp", pair.AccessToken, nil), 200, &en)
	require.Contains(t, en.URI, "otpauth://totp/Integration:")
	require.Equal(t, []byte("\x89PNG"), en.QRPNG[:4])
	problem(t, s.call("POST", prefix+"/factors/totp/confirm", pair.AccessToken, map[string]string{"code": "000000"}), 403, "invalid_code")
	var rc tokens
	s.decode(s.call("POST", prefix+"/factors/totp/confirm", pair.AccessToken, map[string]string{"code": code(t, en.Secret, s.clock.Now())}), 200, &rc)
	require.Len(t, rc.RecoveryCodes, 10)
	// The enrolling session was replaced by a multi-factor one.
	problem(t, s.call("GET", prefix+"/me", pair.AccessToken, nil), 401, "invalid_token")
	claims, err := s.a.Authenticate(t.Context(), rc.AccessToken)
	require.NoError(t, err)
	require.True(t, claims.HasMethod(auth.MethodOTP) && claims.HasMethod(auth.MethodMFA))
	problem(t, s.call("POST", prefix+"/factors/totp", rc.AccessToken, nil), 409, "factor_enrolled")

	// The next login needs a code.
	rec := s.call("POST", prefix+"/login", "", map[string]string{"email": u.Email, "password": password})
	var mfa mfaRequired
	s.decode(rec, 401, &mfa)
	require.Equal(t, "mfa_required", mfa.Code)
	var tk tokens
	s.decode(s.call("POST", prefix+"/login/mfa", "", map[string]string{"ticket": mfa.Ticket, "code": code(t, en.Secret, s.clock.Now().Add(30*time.Second))}), 200, &tk)

	// Ten minutes on, the sensitive steps want a fresh authentication.
	s.clock.Advance(11 * time.Minute)
	for _, c := range []struct{ method, path string }{{"POST", "/factors/totp/recovery-codes"}, {"DELETE", "/factors/totp"}} {
		rec := s.call(c.method, prefix+c.path, tk.AccessToken, nil)
		problem(t, rec, 401, "insufficient_user_authentication")
		require.Contains(t, rec.Header().Get("WWW-Authenticate"), `acr_values="mfa", max_age=600`)
	}
	s.decode(s.call("POST", prefix+"/step-up", tk.AccessToken, map[string]string{"code": code(t, en.Secret, s.clock.Now())}), 200, &tk)
	var again struct {
		RecoveryCodes []string `json:"recovery_codes"`
	}
	s.decode(s.call("POST", prefix+"/factors/totp/recovery-codes", tk.AccessToken, nil), 200, &again)
	require.Len(t, again.RecoveryCodes, 10)
	require.NotEqual(t, rc.RecoveryCodes, again.RecoveryCodes)
	s.decode(s.call("GET", prefix+"/factors/totp", tk.AccessToken, nil), 200, &st)
	require.True(t, st.Enrolled)
	require.Equal(t, 10, st.Left)

	// The old recovery codes no longer finish a login; a new one does.
	rec = s.call("POST", prefix+"/login", "", map[string]string{"email": u.Email, "password": password})
	s.decode(rec, 401, &mfa)
	problem(t, s.call("POST", prefix+"/login/mfa", "", map[string]string{"ticket": mfa.Ticket, "code": rc.RecoveryCodes[0]}), 401, "invalid_code")
	s.decode(s.call("POST", prefix+"/login/mfa", "", map[string]string{"ticket": mfa.Ticket, "code": again.RecoveryCodes[0]}), 200, &tk)

	require.Equal(t, 204, s.call("DELETE", prefix+"/factors/totp", tk.AccessToken, nil).Code)
	problem(t, s.call("DELETE", prefix+"/factors/totp", tk.AccessToken, nil), 409, "factor_not_enrolled")
	require.Equal(t, 200, s.call("POST", prefix+"/login", "", map[string]string{"email": u.Email, "password": password}).Code)
}

// TestTOTPEnrolFromTicket: under a policy that requires a second factor of
// administrators, an administrator without one logs in with the password,
// gets an enrol-only ticket, enrols and is logged in with otp and mfa; the
// ticket cannot be used twice, nor for a user who has a factor.
func TestTOTPEnrolFromTicket(t *testing.T) {
	s := newTOTPServer(t, auth.MFAPolicy{Roles: []auth.Role{auth.RoleAdmin}})
	admin, err := s.a.CreateUser(t.Context(), auth.CreateUserRequest{Email: "ticket-admin@example.com", Password: password, Role: auth.RoleAdmin, Verified: true})
	require.NoError(t, err)
	var mfa mfaRequired
	s.decode(s.call("POST", prefix+"/login", "", map[string]string{"email": admin.Email, "password": password}), 401, &mfa)
	require.True(t, mfa.Enroll)
	problem(t, s.call("POST", prefix+"/login/mfa/totp/enroll", "", map[string]string{"ticket": mfa.Ticket + "x"}), 401, "invalid_token")
	var en enrollment
	s.decode(s.call("POST", prefix+"/login/mfa/totp/enroll", "", map[string]string{"ticket": mfa.Ticket}), 200, &en)
	problem(t, s.call("POST", prefix+"/login/mfa/totp/confirm", "", map[string]string{"ticket": mfa.Ticket, "code": "000000"}), 401, "invalid_code")
	var tk tokens
	s.decode(s.call("POST", prefix+"/login/mfa/totp/confirm", "", map[string]string{"ticket": mfa.Ticket, "code": code(t, en.Secret, s.clock.Now())}), 200, &tk)
	require.Len(t, tk.RecoveryCodes, 10)
	require.NotEmpty(t, tk.AccessToken)
	claims, err := s.a.Authenticate(t.Context(), tk.AccessToken)
	require.NoError(t, err)
	require.True(t, claims.HasMethod(auth.MethodOTP) && claims.HasMethod(auth.MethodMFA))
	require.Equal(t, 200, s.call("GET", prefix+"/users", tk.AccessToken, nil).Code)
	problem(t, s.call("POST", prefix+"/login/mfa/totp/confirm", "", map[string]string{"ticket": mfa.Ticket, "code": code(t, en.Secret, s.clock.Now().Add(30*time.Second))}), 401, "invalid_token")

	// Now enrolled: a new ticket does not admit another enrolment.
	s.decode(s.call("POST", prefix+"/login", "", map[string]string{"email": admin.Email, "password": password}), 401, &mfa)
	require.False(t, mfa.Enroll)
	problem(t, s.call("POST", prefix+"/login/mfa/totp/enroll", "", map[string]string{"ticket": mfa.Ticket}), 401, "mfa_required")
}

// TestExtensionRoutesMatchOpenAPI holds the factor/totp operations of
// openapi.yaml (x-extension) against the endpoints the extension adds:
// each is served, with exactly the documented statuses and a request body
// where the handler reads one, and each endpoint is documented.
func TestExtensionRoutesMatchOpenAPI(t *testing.T) {
	s := newTOTPServer(t, auth.MFAPolicy{})
	sum, err := summarize(specPath)
	require.NoError(t, err)
	served := map[string]middleware.Endpoint{}
	for _, e := range s.h.Endpoints() {
		served[e.Method+" "+e.Path] = e
	}
	n := 0
	for pattern, op := range sum.Operations {
		if op.Extension != "factor/totp" {
			continue
		}
		n++
		e, ok := served[pattern]
		require.True(t, ok, "%s is documented but not served", pattern)
		require.Equal(t, op.Responses, e.Statuses, "statuses of %s: openapi.yaml vs the route", pattern)
		require.Equal(t, op.RequestBody, slices.Contains(e.Statuses, http.StatusUnsupportedMediaType), "%s: a request body exactly where the handler reads one", pattern)
	}
	require.Equal(t, 7, n)
	for pattern := range served {
		_, ok := sum.Operations[pattern]
		require.True(t, ok, "%s is served but not documented", pattern)
	}
}
