package auth_test

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/maestro-ml/auth"
	"github.com/maestro-ml/auth/authtest"
	"github.com/maestro-ml/auth/store/memstore"
	"github.com/stretchr/testify/require"
)

// flakyRevocations is a RevocationStore whose writes fail while down is
// set, as Redis's do during an outage while the database answers.
type flakyRevocations struct {
	auth.RevocationStore
	down atomic.Bool
}

func (f *flakyRevocations) Revoke(ctx context.Context, r auth.Revocation) error {
	if f.down.Load() {
		return auth.ErrUnavailable
	}
	return f.RevocationStore.Revoke(ctx, r)
}

// TestRevocationAfterPartialFailure: a revocation that failed half-way
// (answered 503) must leave nothing that a later successful revocation
// cannot reach. A logout everywhere or a sign-out of other devices that
// ended the sessions in the database and not on the deny-list left their
// access tokens accepted after a later password change or sign-out of
// other devices was answered 204, since those deny-list only the sessions
// they end themselves.
func TestRevocationAfterPartialFailure(t *testing.T) {
	const email, pw = "partial@example.com", "correct horse battery staple"
	for _, tc := range []struct {
		name   string
		failed func(a *auth.Authenticator, keep *auth.Claims) error
	}{
		{"logout everywhere", func(a *auth.Authenticator, keep *auth.Claims) error {
			return a.LogoutAll(context.Background(), keep.UserID)
		}},
		{"sign out other devices", func(a *auth.Authenticator, keep *auth.Claims) error {
			return a.RevokeOtherSessions(context.Background(), keep.UserID, keep.SessionID)
		}},
	} {
		for _, then := range []struct {
			name string
			do   func(a *auth.Authenticator, keep *auth.Claims) error
		}{
			{"password change", func(a *auth.Authenticator, keep *auth.Claims) error {
				return a.ChangePassword(context.Background(), keep, pw, "a new and long passphrase")
			}},
			{"sign out other devices", func(a *auth.Authenticator, keep *auth.Claims) error {
				return a.RevokeOtherSessions(context.Background(), keep.UserID, keep.SessionID)
			}},
		} {
			t.Run(tc.name+", then "+then.name, func(t *testing.T) {
				ctx := context.Background()
				st := memstore.New()
				t.Cleanup(func() { _ = st.Close() })
				rev := &flakyRevocations{RevocationStore: st}
				a := authtest.NewAuthenticator(t, authtest.Stores{Users: st, Tenants: st, Sessions: st, Revocations: rev}, nil, auth.Config{})
				_, err := a.Register(ctx, auth.RegisterRequest{Email: email, Password: pw})
				require.NoError(t, err)
				other, _, err := a.Login(ctx, auth.LoginRequest{Email: email, Password: pw})
				require.NoError(t, err)
				keepPair, _, err := a.Login(ctx, auth.LoginRequest{Email: email, Password: pw})
				require.NoError(t, err)
				keep, err := a.Authenticate(ctx, keepPair.AccessToken)
				require.NoError(t, err)

				rev.down.Store(true)
				require.ErrorIs(t, tc.failed(a, keep), auth.ErrUnavailable, "the deny-list is down")
				rev.down.Store(false)
				if tc.name == "logout everywhere" {
					// The failed logout everywhere may have ended the kept
					// session too: sign in again to have one.
					keepPair, _, err = a.Login(ctx, auth.LoginRequest{Email: email, Password: pw})
					require.NoError(t, err)
					keep, err = a.Authenticate(ctx, keepPair.AccessToken)
					require.NoError(t, err)
				}
				require.NoError(t, then.do(a, keep))
				_, err = a.Authenticate(ctx, other.AccessToken)
				require.ErrorIs(t, err, auth.ErrTokenRevoked, "the other session's access token, after a %s answered 204", then.name)
			})
		}
	}
}
