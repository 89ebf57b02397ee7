package middleware_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/maestro-ml/auth"
	"github.com/maestro-ml/auth/audit"
	"github.com/stretchr/testify/require"
)

// statusWriter remembers the status a handler wrote.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

// serve runs e's router on a real HTTP server, so responses carry every
// header a client sees (Date, Content-Length), and the statuses still
// go to the OpenAPI check.
func (e *env) serve() *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		e.mux.ServeHTTP(sw, r)
		observe(r.Pattern, sw.status)
	}))
	e.t.Cleanup(srv.Close)
	return srv
}

// response is what a client can observe of an answer, except its timing.
type response struct {
	status int
	header http.Header
	body   []byte
}

func post(t *testing.T, srv *httptest.Server, path string, body any) (response, time.Duration) {
	t.Helper()
	j, err := json.Marshal(body)
	require.NoError(t, err)
	r, err := http.NewRequest("POST", srv.URL+path, bytes.NewReader(j))
	require.NoError(t, err)
	r.Header.Set("Content-Type", "application/json")
	start := time.Now()
	resp, err := srv.Client().Do(r)
	require.NoError(t, err)
	b, err := io.ReadAll(resp.Body)
	elapsed := time.Since(start)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	resp.Header.Del("Date")
	return response{resp.StatusCode, resp.Header, b}, elapsed
}

// probe sends n requests of each of two kinds, interleaved (ABBA, so
// neither kind always goes first), asserts that every response of either
// kind is identical to the first one (status, headers except Date, body
// bytes), and logs both latency distributions. Timing is reported, not
// asserted: it depends on the machine, and equal work is what the
// Authenticator guarantees (tested in package auth).
func probe(t *testing.T, what, nameA, nameB string, n int, a, b func(i int) (response, time.Duration)) response {
	t.Helper()
	a(-1) // warm up: open the keep-alive connection, fill caches
	b(-1)
	var da, db []time.Duration
	var want *response
	check := func(kind string, i int, got response, d time.Duration, ds *[]time.Duration) {
		t.Helper()
		*ds = append(*ds, d)
		if want == nil {
			want = &got
			return
		}
		require.Equal(t, want.status, got.status, "%s: %s #%d", what, kind, i)
		require.Equal(t, want.header, got.header, "%s: %s #%d", what, kind, i)
		require.Equal(t, string(want.body), string(got.body), "%s: %s #%d", what, kind, i)
	}
	for i := range n {
		if i%2 == 0 {
			got, d := a(i)
			check(nameA, i, got, d, &da)
			got, d = b(i)
			check(nameB, i, got, d, &db)
		} else {
			got, d := b(i)
			check(nameB, i, got, d, &db)
			got, d = a(i)
			check(nameA, i, got, d, &da)
		}
	}
	sa, sb := stats(da), stats(db)
	t.Logf("%s, %d each: %s median %v (p10 %v, p90 %v); %s median %v (p10 %v, p90 %v); median difference %+.1f%%",
		what, n, nameA, sa[1], sa[0], sa[2], nameB, sb[1], sb[0], sb[2], 100*(float64(sb[1])-float64(sa[1]))/float64(sa[1]))
	return *want
}

// stats returns the 10th, 50th and 90th percentiles (nearest rank).
func stats(ds []time.Duration) [3]time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	at := func(p int) time.Duration { return s[min(len(s)-1, (p*len(s)+99)/100-1)] }
	return [3]time.Duration{at(10), at(50), at(90)}
}

// Login with an unknown address and with a wrong password for a real one
// answer alike, byte for byte (OWASP ASVS 5.0 V6.3.8).
func TestLoginEnumeration(t *testing.T) {
	e := newEnv(t)
	u, _ := e.user(auth.RoleViewer, "")
	srv := e.serve()
	res := probe(t, "login", "wrong password", "unknown email", 20,
		func(i int) (response, time.Duration) {
			return post(t, srv, prefix+"/login", map[string]string{"email": u.Email, "password": "wrong password " + strconv.Itoa(i)})
		},
		func(i int) (response, time.Duration) {
			return post(t, srv, prefix+"/login", map[string]string{"email": newEmail(), "password": "wrong password " + strconv.Itoa(i)})
		})
	require.Equal(t, 401, res.status)
	require.Equal(t, "Bearer", res.header.Get("WWW-Authenticate"))
	require.Contains(t, string(res.body), `"invalid_credentials"`)
}

// A password-reset request answers alike for a registered address and an
// unknown one (OWASP ASVS 5.0 V6.4).
func TestForgotPasswordEnumeration(t *testing.T) {
	// Events go nowhere, as to an asynchronous sink (audit.NewAsync):
	// a synchronous sink writing to a terminal would add its own time to
	// the registered address's answer, the only one that records an event.
	e := newEnvWith(t, envConfig{lifecycle: true, cfg: auth.Config{Events: audit.Nop{}}})
	u, _ := e.user(auth.RoleViewer, "")
	srv := e.serve()
	res := probe(t, "password/forgot", "registered address", "unknown address", 20,
		func(int) (response, time.Duration) {
			return post(t, srv, prefix+"/password/forgot", map[string]string{"email": u.Email})
		},
		func(int) (response, time.Duration) {
			return post(t, srv, prefix+"/password/forgot", map[string]string{"email": newEmail()})
		})
	require.Equal(t, 202, res.status)
	require.JSONEq(t, `{"status":"accepted"}`, string(res.body))
	require.Len(t, e.outbox.Messages(u.Email), 21, "the owner did get the messages")
}

// In enumeration-safe mode, registering a taken address answers like
// registering a new one.
func TestRegisterEnumeration(t *testing.T) {
	e := newEnvWith(t, envConfig{lifecycle: true, cfg: auth.Config{EnumerationSafe: true, Events: audit.Nop{}}})
	taken, _ := e.verifiedUser(auth.RoleViewer)
	srv := e.serve()
	var created []string
	res := probe(t, "register (enumeration-safe)", "new address", "taken address", 20,
		func(int) (response, time.Duration) {
			email := newEmail()
			created = append(created, email)
			return post(t, srv, prefix+"/register", map[string]string{"email": email, "password": password})
		},
		func(int) (response, time.Duration) {
			return post(t, srv, prefix+"/register", map[string]string{"email": strings.ToUpper(taken.Email), "password": password})
		})
	require.Equal(t, 202, res.status)
	require.JSONEq(t, `{"status":"accepted"}`, string(res.body))
	for _, email := range created {
		_, err := e.st.UserByEmail(t.Context(), email)
		require.NoError(t, err, "the new addresses were registered")
	}
}

// In enumeration-safe mode, a login with the password of a registration
// just made answers like one to an address registered before, whose
// password the prober does not know: the new account cannot log in until
// its address is verified. With and without RequireVerifiedEmail.
func TestRegisterThenLoginEnumeration(t *testing.T) {
	for _, requireVerified := range []bool{false, true} {
		t.Run(fmt.Sprintf("RequireVerifiedEmail=%v", requireVerified), func(t *testing.T) {
			e := newEnvWith(t, envConfig{lifecycle: true, cfg: auth.Config{EnumerationSafe: true, RequireVerifiedEmail: requireVerified, Events: audit.Nop{}}})
			srv := e.serve()
			probePassword := func(i int) string { return "probe password number " + strconv.Itoa(i) }
			res := probe(t, "login after an enumeration-safe registration", "free address", "taken address", 10,
				func(i int) (response, time.Duration) {
					email := newEmail()
					reg, _ := post(t, srv, prefix+"/register", map[string]string{"email": email, "password": probePassword(i)})
					require.Equal(t, 202, reg.status)
					return post(t, srv, prefix+"/login", map[string]string{"email": email, "password": probePassword(i)})
				},
				func(i int) (response, time.Duration) {
					taken, _ := e.verifiedUser(auth.RoleViewer)
					reg, _ := post(t, srv, prefix+"/register", map[string]string{"email": taken.Email, "password": probePassword(i)})
					require.Equal(t, 202, reg.status)
					return post(t, srv, prefix+"/login", map[string]string{"email": taken.Email, "password": probePassword(i)})
				})
			require.Equal(t, 401, res.status)
			require.Contains(t, string(res.body), `"invalid_credentials"`)

			// The owner verifies the address from the message, then logs in.
			email := newEmail()
			reg, _ := post(t, srv, prefix+"/register", map[string]string{"email": email, "password": password})
			require.Equal(t, 202, reg.status)
			tok := e.lastToken(email, auth.MessageVerifyEmail)
			verified, _ := post(t, srv, prefix+"/verify-email", map[string]string{"token": tok})
			require.Equal(t, 200, verified.status, "%s", verified.body)
			login, _ := post(t, srv, prefix+"/login", map[string]string{"email": email, "password": password})
			require.Equal(t, 200, login.status, "%s", login.body)
		})
	}
}
