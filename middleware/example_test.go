package middleware_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"time"

	"github.com/maestro-ml/auth"
	"github.com/maestro-ml/auth/middleware"
	"github.com/maestro-ml/auth/store/memstore"
)

// newAuthenticator returns an Authenticator over an in-memory store, and
// the function that closes the store.
func newAuthenticator() (*auth.Authenticator, func()) {
	st := memstore.New()
	key, err := auth.GenerateKey(auth.EdDSA)
	if err != nil {
		panic(err)
	}
	keys, err := auth.NewKeySet(key)
	if err != nil {
		panic(err)
	}
	a, err := auth.New(auth.Config{
		Keys: keys, Users: st, Tenants: st, Sessions: st, Revocations: st,
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		panic(err)
	}
	return a, func() { _ = st.Close() }
}

// send serves one request on h and returns the response.
func send(h http.Handler, method, path, token, body string) *http.Response {
	var r *http.Request
	if body == "" {
		r = httptest.NewRequest(method, path, nil)
	} else {
		r = httptest.NewRequest(method, path, strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	return rec.Result()
}

// accessToken reads the access token of a login response.
func accessToken(resp *http.Response) string {
	var body struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		panic(err)
	}
	return body.AccessToken
}

// notes is an application handler: the claims are in the request.
func notes(w http.ResponseWriter, r *http.Request) {
	c, _ := middleware.ClaimsFrom(r)
	fmt.Fprintf(w, "notes for a %s of tenant %s\n", c.Role, middleware.TenantID(r))
}

// mustNew returns the Handler of a, built once with every option, and
// panics on an invalid option.
func mustNew(a *auth.Authenticator, opts ...middleware.Option) *middleware.Handler {
	h, err := middleware.New(a, append([]middleware.Option{middleware.WithLogger(slog.New(slog.DiscardHandler))}, opts...)...)
	if err != nil {
		panic(err) // an invalid option
	}
	return h
}

// Protecting routes of an http.ServeMux: build the Handler once, mount the
// endpoints, wrap the routes.
func Example() {
	a, closeStore := newAuthenticator()
	defer closeStore()

	h, err := middleware.New(a, middleware.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		panic(err) // an invalid option
	}
	mux := http.NewServeMux()
	h.Mount(mux)                                                          // POST /api/v1/auth/login, ...
	mux.Handle("GET /api/notes", h.Authenticate(http.HandlerFunc(notes))) // 401 without a valid token

	creds := `{"email":"kate@example.com","password":"correct horse battery staple"}`
	fmt.Println("register:", send(mux, "POST", "/api/v1/auth/register", "", creds).Status)
	login := send(mux, "POST", "/api/v1/auth/login", "", creds)
	fmt.Println("login:", login.Status)
	token := accessToken(login)

	anon := send(mux, "GET", "/api/notes", "", "")
	fmt.Println("without a token:", anon.Status, anon.Header.Get("WWW-Authenticate"))
	resp := send(mux, "GET", "/api/notes", token, "")
	fmt.Print("with the token: ", resp.Status, " ")
	_, _ = io.Copy(os.Stdout, resp.Body)

	send(mux, "POST", "/api/v1/auth/logout", token, "")
	fmt.Println("after logout:", send(mux, "GET", "/api/notes", token, "").Header.Get("WWW-Authenticate"))
	// Output:
	// register: 201 Created
	// login: 200 OK
	// without a token: 401 Unauthorized Bearer
	// with the token: 200 OK notes for a viewer of tenant 00000000-0000-0000-0000-000000000001
	// after logout: Bearer error="invalid_token"
}

// Endpoints mounted one by one: the Handler serves the endpoint that the
// request's method and path name, so a host can put middleware of its own
// in front of one of them, and leave others out.
func ExampleHandler_ServeHTTP() {
	a, closeStore := newAuthenticator()
	defer closeStore()

	h := mustNew(a)
	invited := func(next http.Handler) http.Handler { // the host's own check
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("X-Invitation") == "" {
				http.Error(w, "an invitation is required", http.StatusForbidden)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
	mux := http.NewServeMux()
	mux.Handle("POST /api/v1/auth/register", invited(h))
	mux.Handle("POST /api/v1/auth/login", h)

	creds := `{"email":"kate@example.com","password":"correct horse battery staple"}`
	fmt.Println("register without an invitation:", send(mux, "POST", "/api/v1/auth/register", "", creds).Status)
	r := httptest.NewRequest("POST", "/api/v1/auth/register", strings.NewReader(creds))
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("X-Invitation", "welcome")
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, r)
	fmt.Println("register with one:", rec.Result().Status)
	token := accessToken(send(mux, "POST", "/api/v1/auth/login", "", creds))
	fmt.Println("login:", token != "")
	fmt.Println("an endpoint left out:", send(mux, "GET", "/api/v1/auth/me", token, "").Status)
	// Output:
	// register without an invitation: 403 Forbidden
	// register with one: 201 Created
	// login: true
	// an endpoint left out: 404 Not Found
}

// Tenant scoping for routes that name a tenant: a token of tenant A never
// reaches tenant B's resources, which answer 404 as if they did not exist.
func ExampleHandler_RequireTenant() {
	a, closeStore := newAuthenticator()
	defer closeStore()

	h := mustNew(a)
	mux := http.NewServeMux()
	h.Mount(mux)
	mux.Handle("GET /api/tenants/{tenant}/notes", h.Authenticate(h.RequireTenant("tenant")(http.HandlerFunc(notes))))

	creds := `{"email":"kate@example.com","password":"correct horse battery staple"}`
	send(mux, "POST", "/api/v1/auth/register", "", creds)
	token := accessToken(send(mux, "POST", "/api/v1/auth/login", "", creds))
	fmt.Println("own tenant:", send(mux, "GET", "/api/tenants/"+auth.DefaultTenantID+"/notes", token, "").Status)
	fmt.Println("other tenant:", send(mux, "GET", "/api/tenants/0198c2a4-0000-7000-8000-000000000000/notes", token, "").Status)
	// Output:
	// own tenant: 200 OK
	// other tenant: 404 Not Found
}

// Behind a reverse proxy, the client's address is the right-most address
// in X-Forwarded-For that is not one of your proxies.
func ExampleIPResolver_ClientIP() {
	proxies, err := middleware.ParseTrustedProxies("10.0.0.0/8")
	if err != nil {
		panic(err)
	}
	ips := middleware.IPResolver{TrustedProxies: proxies}

	r := httptest.NewRequest("GET", "/", nil)
	r.RemoteAddr = "10.0.0.5:41000"                                   // the proxy
	r.Header.Set("X-Forwarded-For", "6.6.6.6, 203.0.113.7, 10.0.0.9") // 6.6.6.6 was forged by the client
	fmt.Println(ips.ClientIP(r))

	r.RemoteAddr = "198.51.100.2:5000" // not a proxy: its header is ignored
	fmt.Println(ips.ClientIP(r))
	// Output:
	// 203.0.113.7
	// 198.51.100.2
}

// WriteError answers an Authenticator error in your own handler exactly as
// the mounted endpoints do.
func ExampleHandler_WriteError() {
	a, closeStore := newAuthenticator()
	defer closeStore()
	h := mustNew(a)

	rec := httptest.NewRecorder()
	h.WriteError(rec, httptest.NewRequest("POST", "/", nil), &auth.RateLimitError{RetryAfter: 2500 * time.Millisecond})
	fmt.Println(rec.Code, rec.Header().Get("Content-Type"), "Retry-After:", rec.Header().Get("Retry-After"))
	fmt.Print(rec.Body.String())
	// Output:
	// 429 application/problem+json Retry-After: 3
	// {"type":"about:blank","title":"Too Many Requests","status":429,"detail":"Too many attempts; retry after the time in Retry-After.","code":"rate_limited"}
}

// mailer stands in for an e-mail sender. A real auth.Notifier queues a
// message whose link carries the token in its fragment
// (https://app.example/reset#token=...), which browsers never send to a
// server; the page the link opens posts it to the endpoint.
type mailer struct{ token string }

func (m *mailer) Notify(_ context.Context, msg auth.Message) error {
	fmt.Println("  mail:", msg.Kind, "to", msg.To)
	m.token = msg.Token
	return nil
}

// Password reset: the answer to a reset request is the same whether or not
// the address has an account; only an account's owner gets mail.
func Example_passwordReset() {
	st := memstore.New()
	defer func() { _ = st.Close() }()
	key, _ := auth.GenerateKey(auth.EdDSA)
	keys, _ := auth.NewKeySet(key)
	mail := &mailer{}
	a, err := auth.New(auth.Config{
		Keys: keys, Users: st, Tenants: st, Sessions: st, Revocations: st,
		ActionTokens: st, Notifier: mail, // the lifecycle endpoints need both
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	_, _ = a.EnsureDefaultTenant(ctx)
	_, _ = a.CreateUser(ctx, auth.CreateUserRequest{Email: "kate@example.com", Password: "correct horse battery staple"})

	mux := http.NewServeMux()
	mustNew(a).Mount(mux)
	for _, email := range []string{"kate@example.com", "nobody@example.com"} {
		fmt.Println("forgot", email)
		resp := send(mux, "POST", "/api/v1/auth/password/forgot", "", `{"email":"`+email+`"}`)
		body, _ := io.ReadAll(resp.Body)
		fmt.Print("  ", resp.Status, " ", string(body))
	}
	fmt.Println("reset")
	reset := `{"token":"` + mail.token + `","password":"a new and long passphrase"}`
	fmt.Println("  " + send(mux, "POST", "/api/v1/auth/password/reset", "", reset).Status)
	fmt.Println("  again:", send(mux, "POST", "/api/v1/auth/password/reset", "", reset).Status)
	// Output:
	// forgot kate@example.com
	//   mail: reset_password to kate@example.com
	//   202 Accepted {"status":"accepted"}
	// forgot nobody@example.com
	//   202 Accepted {"status":"accepted"}
	// reset
	//   mail: password_changed to kate@example.com
	//   204 No Content
	//   again: 422 Unprocessable Entity
}
