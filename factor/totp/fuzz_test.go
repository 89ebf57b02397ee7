package totp_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/maestro-ml/auth"
	"github.com/maestro-ml/auth/factor/totp"
	"github.com/stretchr/testify/require"
)

// FuzzVerifyCode presents arbitrary input as a code: VerifyCode never
// panics, refuses anything but a current TOTP code or one of the user's
// recovery codes with auth.ErrInvalidCode, and never fails otherwise.
func FuzzVerifyCode(f *testing.F) {
	e := setup(f, totp.Config{}, auth.Config{})
	u, err := e.a.Register(context.Background(), auth.RegisterRequest{Email: "fuzz@example.com", Password: password})
	require.NoError(f, err)
	secret, codes := e.enrolled(f, u)
	valid := map[string]bool{}
	for d := -30 * time.Second; d <= 30*time.Second; d += 30 * time.Second {
		valid[e.code(secret, d)] = true
	}
	recovery := map[string]bool{}
	for _, c := range codes {
		recovery[strings.ReplaceAll(c, "-", "")] = true
	}
	for _, s := range []string{"", "123456", " 12 34 56", codes[0], strings.ToUpper(codes[1]), e.code(secret, 0), "\x00", "ａｂｃ", strings.Repeat("7", 64)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, code string) {
		p, err := e.f.VerifyCode(context.Background(), u, code)
		if err != nil {
			require.ErrorIs(t, err, auth.ErrInvalidCode, "%q", code)
			return
		}
		require.Equal(t, u.ID, p.UserID)
		switch p.Factor {
		case "totp":
			require.True(t, valid[strings.ReplaceAll(code, " ", "")], "accepted %q", code)
		case auth.FactorRecoveryCode:
			n, ok := totp.NormalizeRecoveryCode(code)
			require.True(t, ok)
			require.True(t, recovery[n], "accepted %q", code)
		default:
			t.Fatalf("unexpected factor %q", p.Factor)
		}
	})
}

// FuzzNormalizeRecoveryCode: the parser never panics, and what it accepts
// is the input without dashes and spaces, lower-cased, 16 characters of
// the code alphabet; normalising again changes nothing.
func FuzzNormalizeRecoveryCode(f *testing.F) {
	for _, s := range []string{"abcd-efgh-ijkl-mn23", "ABCD EFGH IJKL MN23", "", "----", "abcd-efgh-ijkl-mn2ä", "0000-0000-0000-0000"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out, ok := totp.NormalizeRecoveryCode(in)
		if !ok {
			require.Empty(t, out)
			return
		}
		require.Len(t, out, 16)
		for _, c := range []byte(out) {
			require.True(t, (c >= 'a' && c <= 'z') || (c >= '2' && c <= '7'), "%q -> %q", in, out)
		}
		require.Equal(t, strings.ToLower(strings.NewReplacer("-", "", " ", "").Replace(in)), out)
		again, ok := totp.NormalizeRecoveryCode(out)
		require.True(t, ok)
		require.Equal(t, out, again)
	})
}
