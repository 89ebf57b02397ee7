package auth_test

import (
	"context"
	"testing"

	"github.com/maestro-ml/auth"
	"github.com/maestro-ml/auth/authtest"
	"github.com/maestro-ml/auth/store/memstore"
	"github.com/stretchr/testify/require"
)

// noFactor is a SecondFactor for configuration tests only: nobody has it.
type noFactor struct{}

func (noFactor) Name() string                                              { return "none" }
func (noFactor) Enrolled(ctx context.Context, userID string) (bool, error) { return false, nil }
func (noFactor) Reset(ctx context.Context, userID string) error            { return nil }

// TestMFAPolicyRoles: a role in Config.MFA.Roles covers the roles ranked
// above it too (an owner above admin), and a role that is not one of
// Config.Roles is refused by New rather than silently covering nobody.
func TestMFAPolicyRoles(t *testing.T) {
	st := memstore.New(memstore.WithSweepInterval(0))
	t.Cleanup(func() { _ = st.Close() })
	roles := []auth.Role{auth.RoleViewer, auth.RoleEditor, auth.RoleAdmin, "owner"}
	stores := authtest.Stores{Users: st, Tenants: st, Sessions: st, Revocations: st}
	a := authtest.NewAuthenticator(t, stores, nil, auth.Config{Roles: roles, ActionTokens: st,
		SecondFactors: []auth.SecondFactor{noFactor{}}, MFA: auth.MFAPolicy{Roles: []auth.Role{auth.RoleAdmin}}})
	for role, want := range map[auth.Role]bool{auth.RoleViewer: false, auth.RoleEditor: false, auth.RoleAdmin: true, "owner": true} {
		require.Equal(t, want, a.MFARequiredFor(&auth.User{Role: role, TenantID: auth.DefaultTenantID}), role)
		err := a.RequireMFAByPolicy(&auth.Claims{Role: role, TenantID: auth.DefaultTenantID, AMR: []auth.Method{auth.MethodPassword}})
		require.Equal(t, want, err != nil, role)
	}

	k, err := auth.GenerateKey(auth.EdDSA)
	require.NoError(t, err)
	keys, err := auth.NewKeySet(k)
	require.NoError(t, err)
	_, err = auth.New(auth.Config{Keys: keys, Users: st, Tenants: st, Sessions: st, Revocations: st, ActionTokens: st,
		SecondFactors: []auth.SecondFactor{noFactor{}}, MFA: auth.MFAPolicy{Roles: []auth.Role{"Admin"}}})
	require.ErrorContains(t, err, `Config.MFA.Roles has "Admin"`)
}
