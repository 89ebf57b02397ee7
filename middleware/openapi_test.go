package middleware

import (
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/maestro-ml/auth"
	"github.com/maestro-ml/auth/authtest"
	"github.com/maestro-ml/auth/store/memstore"
	"github.com/stretchr/testify/require"
)

const specPath = SpecSummary

func newTestAuthenticator(t *testing.T) *auth.Authenticator {
	t.Helper()
	st := memstore.New(memstore.WithSweepInterval(0))
	t.Cleanup(func() { _ = st.Close() })
	return authtest.NewAuthenticator(t, authtest.Stores{Users: st, Tenants: st, Sessions: st, Revocations: st}, nil, auth.Config{})
}

// recordingRouter records the patterns Mount registers.
type recordingRouter struct{ patterns []string }

func (r *recordingRouter) Handle(pattern string, _ http.Handler) {
	r.patterns = append(r.patterns, pattern)
}

// TestOpenAPIMatchesRoutes holds openapi.yaml against the code: every
// route Mount registers is in the document with the same method and path,
// every operation of the document is registered, and each operation
// documents exactly the statuses its handler can answer (its success
// statuses, plus the error table's status for each error the route
// declares). Adding a route, a status or an error to one side only fails
// here; TestMain in the external tests also fails any status a test
// request actually got that the document lacks. Both read the document
// through its summary, SpecSummary.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	a := newTestAuthenticator(t)
	spec, err := SpecOperations(specPath)
	require.NoError(t, err)

	h, err := New(a)
	require.NoError(t, err)
	rr := &recordingRouter{}
	h.Mount(rr)
	routes := h.routes
	var patterns []string
	for _, rt := range routes {
		patterns = append(patterns, rt.method+" "+rt.path)
	}
	require.Equal(t, patterns, rr.patterns, "Mount registers exactly routes()")

	for _, rt := range routes {
		pattern := rt.method + " " + rt.path
		documented, ok := spec[pattern]
		require.True(t, ok, "%s is mounted but not in openapi.yaml", pattern)
		require.Equal(t, rt.statuses, slices.Sorted(maps.Keys(documented)), "statuses of %s: code (want) vs openapi.yaml (got)", pattern)
	}
	doc, err := loadSpec(specPath)
	require.NoError(t, err)
	for pattern := range spec {
		if doc.Operations[pattern].Extension != "" {
			continue // served by a credential package (internal/integration checks those)
		}
		require.Contains(t, patterns, pattern, "%s is in openapi.yaml but not mounted", pattern)
	}
}

// TestOpenAPIDocument checks the rest of what the document promises:
// OpenAPI 3.1, the security of each operation, a request body exactly
// where the handler reads one, and the Problem schema's list of codes
// equal to the error table's.
func TestOpenAPIDocument(t *testing.T) {
	doc, err := loadSpec(specPath)
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(doc.OpenAPI, "3.1."), doc.OpenAPI)

	h, err := New(newTestAuthenticator(t))
	require.NoError(t, err)
	public := map[string]bool{
		"/register": true, "/login": true, "/login/mfa": true, "/refresh": true,
		"/verify-email": true, "/password/forgot": true, "/password/reset": true, "/email/confirm": true,
	}
	for _, rt := range h.routes {
		op, ok := doc.Operations[rt.method+" "+rt.path]
		require.True(t, ok, "%s %s is not in openapi.yaml", rt.method, rt.path)
		require.NotEmpty(t, op.OperationID)
		name := strings.TrimPrefix(rt.path, DefaultPrefix)
		if public[name] || rt.path == DefaultJWKSPath {
			require.Empty(t, op.Security, "%s %s is public", rt.method, rt.path)
		} else {
			require.Equal(t, []any{map[string]any{"bearerAuth": []any{}}, map[string]any{"cookieAuth": []any{}}}, op.Security,
				"%s %s needs an access token", rt.method, rt.path)
		}
		require.Equal(t, slices.Contains(rt.statuses, http.StatusUnsupportedMediaType), op.RequestBody,
			"%s %s: a request body exactly where the handler reads one", rt.method, rt.path)
	}

	documented := slices.Clone(doc.ProblemCodes)
	codes := []string{internalError.code}
	for _, m := range errorTable {
		codes = append(codes, m.code)
	}
	slices.Sort(codes)
	slices.Sort(documented)
	require.Equal(t, slices.Compact(codes), documented, "Problem.code enum vs the error table")
}
