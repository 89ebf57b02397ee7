package middleware

import (
	"go/ast"
	"go/parser"
	"go/token"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/maestro-ml/auth"
	"github.com/stretchr/testify/require"
)

// sentinels names every exported error of package auth. When auth gains
// one, TestErrorTableCoversEverySentinel fails until it is added here and
// given a row in errorTable (or knowingly left to be a 500).
var sentinels = map[string]error{
	"ErrInvalidCredentials": auth.ErrInvalidCredentials,
	"ErrUserInactive":       auth.ErrUserInactive,
	"ErrEmailNotVerified":   auth.ErrEmailNotVerified,
	"ErrEmailTaken":         auth.ErrEmailTaken,
	"ErrInvalidEmail":       auth.ErrInvalidEmail,
	"ErrInvalidRole":        auth.ErrInvalidRole,
	"ErrInvalidInput":       auth.ErrInvalidInput,
	"ErrUserNotFound":       auth.ErrUserNotFound,
	"ErrTenantNotFound":     auth.ErrTenantNotFound,
	"ErrTenantTaken":        auth.ErrTenantTaken,
	"ErrSessionNotFound":    auth.ErrSessionNotFound,
	"ErrConflict":           auth.ErrConflict,
	"ErrInvalidToken":       auth.ErrInvalidToken,
	"ErrTokenExpired":       auth.ErrTokenExpired,
	"ErrTokenRevoked":       auth.ErrTokenRevoked,
	"ErrRefreshReused":      auth.ErrRefreshReused,
	"ErrPasswordPolicy":     auth.ErrPasswordPolicy,
	"ErrPasswordTooShort":   auth.ErrPasswordTooShort,
	"ErrPasswordTooLong":    auth.ErrPasswordTooLong,
	"ErrPasswordCommon":     auth.ErrPasswordCommon,
	"ErrPasswordContext":    auth.ErrPasswordContext,
	"ErrPasswordEncoding":   auth.ErrPasswordEncoding,
	"ErrUnavailable":        auth.ErrUnavailable,
	"ErrBusy":               auth.ErrBusy,
	"ErrRateLimited":        auth.ErrRateLimited,
	"ErrNotConfigured":      auth.ErrNotConfigured,
	"ErrMFARequired":        auth.ErrMFARequired,
	"ErrInsufficientAuth":   auth.ErrInsufficientAuth,
	"ErrInvalidCode":        auth.ErrInvalidCode,
	"ErrFactorEnrolled":     auth.ErrFactorEnrolled,
	"ErrFactorNotEnrolled":  auth.ErrFactorNotEnrolled,
}

// rootSentinels returns the names of the exported package-level variables
// named Err* in the non-test files of package auth.
func rootSentinels(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("../*.go")
	require.NoError(t, err)
	var names []string
	fset := token.NewFileSet()
	for _, path := range files {
		if strings.HasSuffix(path, "_test.go") {
			continue
		}
		src, err := os.ReadFile(path)
		require.NoError(t, err)
		f, err := parser.ParseFile(fset, path, src, parser.SkipObjectResolution)
		require.NoError(t, err)
		if f.Name.Name != "auth" {
			continue
		}
		for _, decl := range f.Decls {
			gd, ok := decl.(*ast.GenDecl)
			if !ok || gd.Tok != token.VAR {
				continue
			}
			for _, spec := range gd.Specs {
				for _, n := range spec.(*ast.ValueSpec).Names {
					if strings.HasPrefix(n.Name, "Err") && n.IsExported() {
						names = append(names, n.Name)
					}
				}
			}
		}
	}
	return names
}

func TestErrorTableCoversEverySentinel(t *testing.T) {
	names := rootSentinels(t)
	require.NotEmpty(t, names)
	for _, name := range names {
		err, ok := sentinels[name]
		require.True(t, ok, "auth.%s is new: map it in errorTable and add it to sentinels", name)
		require.NotEqual(t, http.StatusInternalServerError, lookup(err).status, "auth.%s has no row in errorTable", name)
	}
	require.Len(t, sentinels, len(names), "sentinels lists an error auth no longer has")
}

func TestErrorTableRows(t *testing.T) {
	for i, m := range errorTable {
		require.NotNil(t, m.err, "row %d", i)
		require.NotEmpty(t, http.StatusText(m.status), "row %d", i)
		require.Regexp(t, `^[a-z0-9_]+$`, m.code, "row %d", i)
		require.True(t, strings.HasSuffix(m.detail, "."), "row %d: detail is a sentence", i)
		require.NotContains(t, m.detail, "auth:", "row %d: no library text", i)
		require.NotContains(t, m.detail, "middleware:", "row %d: no package text", i)
		switch {
		case m.status == http.StatusUnauthorized:
			require.True(t, strings.HasPrefix(m.challenge, "Bearer"), "row %d: a 401 has a challenge (RFC 9110 §15.5.2)", i)
		case m.code == "invalid_request":
			require.Equal(t, challengeInvalidRequest, m.challenge, "row %d (RFC 6750 §3.1)", i)
		default:
			require.Empty(t, m.challenge, "row %d", i)
		}
		require.Equal(t, m.status == http.StatusServiceUnavailable, m.retryAfter > 0, "row %d: a 503 says when to retry", i)
		// No earlier row shadows this one with a different answer.
		got := lookup(m.err)
		require.Equal(t, [2]any{m.status, m.code}, [2]any{got.status, got.code}, "row %d (%v) is shadowed", i, m.err)
	}
}

func TestRetryAfterSeconds(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0: "1", -time.Second: "1", time.Nanosecond: "1", time.Second: "1",
		time.Second + time.Millisecond: "2", 90 * time.Second: "90", time.Hour: "3600",
	} {
		require.Equal(t, want, retryAfterSeconds(d), d.String())
	}
}

func TestPrintableField(t *testing.T) {
	require.Equal(t, "role", printableField("role"))
	require.Empty(t, printableField(""))
	require.Empty(t, printableField(strings.Repeat("x", 65)))
	require.Empty(t, printableField("a\nb"))
	require.Empty(t, printableField("\u212a"))
}
