package middleware

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/maestro-ml/auth"
	"github.com/stretchr/testify/require"
)

// Seeds shared by the decoder fuzz targets; they run in every go test.
var decoderSeeds = []string{
	`{"email":"kate@example.com","password":"correct horse battery staple"}`,
	`{"email":"kate@example.com","password":"pw","name":"Kate","meta":{"a":[1,{"b":null}]}}`,
	`{"refresh_token":"abc"}`,
	`{"role":"admin","active":false,"verified":true}`,
	`{"email":"a","password":"b","role":"editor","verified":true}`,
	`{"email":"a","EMAIL":"b"}`,
	`{"Role":"admin"}`,
	`{"name\u212a":"x","nameK":"y"}`,
	`{"email":"a","password":"b","meta":{"x":1,"x":2}}`,
	`{"name":"\ud800"}`,
	`{"name":"\ud83d\ude00"}`,
	"{\"email\":\"\xff\"}",
	`{"email":null}`,
	`{"email":5}`,
	`{} {}`,
	`{}x`,
	`[]`,
	`null`,
	``,
	`{"meta":` + strings.Repeat(`[`, 40) + strings.Repeat(`]`, 40) + `}`,
	`{"active":"true"}`,
	`{"meta":[1]}`,
	`{"token":"Zm9vYmFyYmF6cXV4cXV1eGNvcmdlZ3JhdWx0Z2FycGx5"}`,
	`{"token":"a","password":"correct horse battery staple"}`,
	`{"current_password":"a","new_password":"b"}`,
	`{"password":"a","new_email":"new@example.com"}`,
	`{"email":"kate@example.com"}`,
	`{"token":"a","TOKEN":"b"}`,
	`{"token":"a","user_id":"00000000-0000-0000-0000-000000000001"}`,
	`{"current_password":"a","new_password":"b","password":"c"}`,
	`{"password":"a","new_email":"b","verified":true}`,
	`{"new_email":"a","New_Email":"b"}`,
	`{"token":null}`,
	`{"token":["a"]}`,
}

// fuzzDecoder checks a request decoder against encoding/json: whatever it
// accepts is valid UTF-8 and valid JSON, encoding/json decodes to the same
// value with unknown fields disallowed, and whatever it refuses is a 400
// of the error table, never a 500.
func fuzzDecoder[T any](f *testing.F, decode func([]byte) (T, error)) {
	for _, s := range decoderSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		got, err := decode(body)
		if err != nil {
			m := lookup(err)
			require.Equal(t, http.StatusBadRequest, m.status, "%v", err)
			return
		}
		require.True(t, utf8.Valid(body))
		require.True(t, json.Valid(body))
		var want T
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.DisallowUnknownFields()
		require.NoError(t, dec.Decode(&want), "encoding/json refuses what we accepted")
		require.True(t, reflect.DeepEqual(normalise(want), normalise(got)), "encoding/json reads it differently")
		var fields map[string]json.RawMessage
		require.NoError(t, json.Unmarshal(body, &fields))
		for k, v := range fields {
			require.True(t, jsonFields(&want)[k], "unknown field %q accepted", k)
			require.NotEqual(t, "null", string(v))
		}
	})
}

// normalise makes json.RawMessage fields comparable regardless of the
// whitespace they were copied with.
func normalise(v any) any {
	b, _ := json.Marshal(v)
	var out any
	_ = json.Unmarshal(b, &out)
	return out
}

func FuzzDecodeRegister(f *testing.F)   { fuzzDecoder(f, decodeRegister) }
func FuzzDecodeLogin(f *testing.F)      { fuzzDecoder(f, decodeLogin) }
func FuzzDecodeCreateUser(f *testing.F) { fuzzDecoder(f, decodeCreateUser) }
func FuzzDecodeUpdateUser(f *testing.F) { fuzzDecoder(f, decodeUpdateUser) }

func FuzzDecodeActionToken(f *testing.F)    { fuzzDecoder(f, decodeActionToken) }
func FuzzDecodeForgotPassword(f *testing.F) { fuzzDecoder(f, decodeForgotPassword) }
func FuzzDecodeResetPassword(f *testing.F)  { fuzzDecoder(f, decodeResetPassword) }
func FuzzDecodeChangePassword(f *testing.F) { fuzzDecoder(f, decodeChangePassword) }
func FuzzDecodeChangeEmail(f *testing.F)    { fuzzDecoder(f, decodeChangeEmail) }
func FuzzDecodeLoginMFA(f *testing.F)       { fuzzDecoder(f, decodeLoginMFA) }
func FuzzDecodeStepUp(f *testing.F)         { fuzzDecoder(f, decodeStepUp) }

func FuzzDecodeRefresh(f *testing.F) {
	fuzzDecoder(f, func(b []byte) (refreshBody, error) { return decodeRefresh(b, true) })
}

func FuzzDecodeRefreshCookieMode(f *testing.F) {
	fuzzDecoder(f, func(b []byte) (refreshBody, error) { return decodeRefresh(b, false) })
}

// FuzzBearerToken checks the Authorization parser: what it accepts is a
// b64token that followed "Bearer" and spaces.
func FuzzBearerToken(f *testing.F) {
	for _, s := range []string{"Bearer abc.def.ghi", "bearer  x==", "Bearer", "Bearer ", "Basic x", "Bearer a b", "", "Bearer a=b", "BEARER\tx"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		tok, err := bearerToken(h)
		if err != nil {
			require.Contains(t, []error{errUnsupportedScheme, errMalformedAuthorization}, err)
			return
		}
		require.True(t, isB64Token(tok))
		require.True(t, strings.HasSuffix(h, " "+tok))
		require.True(t, strings.EqualFold(h[:6], "bearer"))
	})
}

// FuzzClientIP checks that the forwarding-header parsers never panic and
// that the client address is the peer's unless the peer is trusted.
func FuzzClientIP(f *testing.F) {
	for _, s := range []string{"198.51.100.1", "1.1.1.1, 10.0.0.2", `for=192.0.2.60;proto=http`, `for="[2001:db8::1]:80", for=unknown`,
		`for="\"quoted\""`, `,,,`, `for=`, `"`, `for="a\`} {
		f.Add("10.0.0.1:1", s)
		f.Add("203.0.113.1:1", s)
	}
	p := IPResolver{TrustedProxies: mustPrefixes(f, "10.0.0.0/8")}
	q := IPResolver{TrustedProxies: p.TrustedProxies, Header: Forwarded}
	f.Fuzz(func(t *testing.T, remote, header string) {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = remote
		r.Header.Set("X-Forwarded-For", header)
		r.Header.Set("Forwarded", header)
		peer := parseNode(remote)
		for _, res := range []IPResolver{p, q} {
			ip := res.ClientIP(r)
			if !peer.IsValid() || !res.trusted(peer) {
				require.Equal(t, peer, ip)
			}
			require.Empty(t, ip.Zone())
			require.False(t, ip.Is4In6())
		}
	})
}

// FuzzEventQuery checks the audit-log query parser: it never panics,
// refuses with a 400 of the error table, and what it accepts is within
// bounds and scoped to the caller's tenant.
func FuzzEventQuery(f *testing.F) {
	for _, s := range []string{"", "limit=10", "limit=0", "limit=101", "cursor=01a223c9-5f8b-731b-9b4f-26f2e4a6e139",
		"user=nope", "type=login.failed", "type=Login", "since=2026-01-01T00:00:00Z&until=2026-01-02T00:00:00%2B02:00",
		"since=2026-01-02T00:00:00Z&until=2026-01-01T00:00:00Z", "tenant=x", "limit=1&limit=2", "%zz", "a=%", ";", "&&=&"} {
		f.Add(s)
	}
	const tenant = "00000000-0000-0000-0000-000000000001"
	f.Fuzz(func(t *testing.T, query string) {
		r := httptest.NewRequest("GET", "/", nil)
		r.URL.RawQuery = query
		r = r.WithContext(auth.NewContext(r.Context(), &auth.Claims{UserID: "u", TenantID: tenant}))
		q, err := eventQuery(r)
		if err != nil {
			require.Equal(t, http.StatusBadRequest, lookup(err).status, "%v", err)
			return
		}
		require.Equal(t, tenant, q.TenantID)
		require.True(t, q.Limit >= 0 && q.Limit <= 100)
		require.True(t, q.Before == "" || auth.ValidID(q.Before))
		require.True(t, q.UserID == "" || auth.ValidID(q.UserID))
		require.LessOrEqual(t, len(q.Type), 64)
		require.True(t, q.Since.IsZero() || q.Until.IsZero() || q.Since.Before(q.Until))
	})
}

func mustPrefixes(tb testing.TB, s ...string) []netip.Prefix {
	ps, err := ParseTrustedProxies(s...)
	require.NoError(tb, err)
	return ps
}
