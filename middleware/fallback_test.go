package middleware

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestEveryAnswerIsAProblem walks every mounted endpoint with every method
// it does not serve, and paths no endpoint has, under the prefix and at
// the JWKS path: each answer is an RFC 9457 problem, 405 with the Allow a
// ServeMux would send, or 404. Both through Mount on a ServeMux and
// through the Handler itself.
func TestEveryAnswerIsAProblem(t *testing.T) {
	h, err := New(newTestAuthenticator(t))
	require.NoError(t, err)
	mux := http.NewServeMux()
	h.Mount(mux)
	mux.Handle("GET /host/{$}", http.NotFoundHandler()) // the host's own routes are untouched

	byPath := map[string][]string{}
	for _, rt := range h.routes {
		byPath[rt.path] = append(byPath[rt.path], rt.method)
		if rt.method == http.MethodGet {
			byPath[rt.path] = append(byPath[rt.path], http.MethodHead)
		}
	}
	require.Contains(t, byPath, DefaultJWKSPath)

	for name, srv := range map[string]http.Handler{"Mount": mux, "ServeHTTP": h} {
		t.Run(name, func(t *testing.T) {
			problem := func(method, path string, status int) *httptest.ResponseRecorder {
				t.Helper()
				rec := httptest.NewRecorder()
				srv.ServeHTTP(rec, httptest.NewRequest(method, path, nil))
				require.Equal(t, status, rec.Code, "%s %s", method, path)
				require.Equal(t, "application/problem+json", rec.Header().Get("Content-Type"), "%s %s", method, path)
				var p Problem
				require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &p), "%s %s", method, path)
				require.Equal(t, status, p.Status)
				require.Equal(t, "nosniff", rec.Header().Get("X-Content-Type-Options"))
				return rec
			}
			for path, methods := range byPath {
				concrete := strings.ReplaceAll(path, "{id}", "0193a0d4-7a1e-7c3b-9f7e-1f2a3b4c5d6e")
				for _, m := range []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodOptions, "PROPFIND"} {
					if slices.Contains(methods, m) {
						continue
					}
					rec := problem(m, concrete, http.StatusMethodNotAllowed)
					allow := strings.Split(rec.Header().Get("Allow"), ", ")
					require.ElementsMatch(t, methods, allow, "%s %s", m, concrete)
					if m != http.MethodHead {
						require.Contains(t, rec.Body.String(), `"code":"method_not_allowed"`)
					}
				}
			}
			for _, path := range []string{DefaultPrefix, DefaultPrefix + "/", DefaultPrefix + "/nope", DefaultPrefix + "/users/x/y",
				DefaultPrefix + "/login/extra", DefaultPrefix + "/sessions/x/y", DefaultPrefix + "/%00"} {
				for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodDelete} {
					rec := problem(m, path, http.StatusNotFound)
					require.Contains(t, rec.Body.String(), `"code":"not_found"`)
					require.Empty(t, rec.Header().Get("Allow"))
				}
			}
		})
	}
}
