package authtest

import (
	"context"
	"testing"
	"time"

	"github.com/maestro-ml/auth"
	"github.com/stretchr/testify/require"
)

func flowRegisterLoginAuthenticate(t *testing.T, f flows) {
	ctx := context.Background()
	a, clock := f.setup(t, auth.Config{})
	email := randomEmail()
	u, err := a.Register(ctx, auth.RegisterRequest{Email: "  " + upper(email) + " ", Password: password, Name: "Kate", Meta: []byte(`{"k":"v"}`)})
	require.NoError(t, err)
	require.Equal(t, email, u.Email, "email is normalised")
	require.Equal(t, auth.RoleViewer, u.Role)
	require.Equal(t, auth.DefaultTenantID, u.TenantID)
	require.True(t, u.Active)
	require.False(t, u.Verified)
	require.NotContains(t, u.PasswordHash, password)

	clock.Advance(time.Second)
	p, lu, err := a.Login(ctx, auth.LoginRequest{Email: upper(email), Password: password})
	require.NoError(t, err)
	require.Equal(t, u.ID, lu.ID)
	require.NotNil(t, lu.LastLoginAt)
	require.WithinDuration(t, clock.Now(), *lu.LastLoginAt, time.Millisecond)
	require.Equal(t, "Bearer", p.TokenType)
	require.NotEmpty(t, p.RefreshToken)
	require.NotEmpty(t, p.SessionID)

	c, err := a.Authenticate(ctx, p.AccessToken)
	require.NoError(t, err)
	require.Equal(t, u.ID, c.UserID)
	require.Equal(t, u.TenantID, c.TenantID)
	require.Equal(t, p.SessionID, c.SessionID)
	require.Equal(t, auth.RoleViewer, c.Role)
	require.NotEmpty(t, c.TokenID)

	cu, err := a.CurrentUser(ctx, c)
	require.NoError(t, err)
	require.Equal(t, u.ID, cu.ID)
	require.JSONEq(t, `{"k":"v"}`, string(cu.Meta))
}

func flowRegisterRejects(t *testing.T, f flows) {
	ctx := context.Background()
	a, _ := f.setup(t, auth.Config{})
	u := f.register(t, a)
	cases := []struct {
		name string
		req  auth.RegisterRequest
		want error
	}{
		{"invalid email", auth.RegisterRequest{Email: "not-an-email", Password: password}, auth.ErrInvalidEmail},
		{"display name", auth.RegisterRequest{Email: "Kate <kate@example.com>", Password: password}, auth.ErrInvalidEmail},
		{"short password", auth.RegisterRequest{Email: randomEmail(), Password: "abc12"}, auth.ErrPasswordTooShort},
		{"common password", auth.RegisterRequest{Email: randomEmail(), Password: "password123"}, auth.ErrPasswordCommon},
		{"taken email, other case", auth.RegisterRequest{Email: upper(u.Email), Password: password}, auth.ErrEmailTaken},
		{"unknown tenant", auth.RegisterRequest{Email: randomEmail(), Password: password, TenantID: newID()}, auth.ErrTenantNotFound},
		{"malformed tenant", auth.RegisterRequest{Email: randomEmail(), Password: password, TenantID: "x"}, auth.ErrTenantNotFound},
		{"meta not an object", auth.RegisterRequest{Email: randomEmail(), Password: password, Meta: []byte(`[1]`)}, auth.ErrInvalidInput},
	}
	for _, tc := range cases {
		_, err := a.Register(ctx, tc.req)
		require.ErrorIs(t, err, tc.want, tc.name)
	}
}

func flowCreateUserWithRole(t *testing.T, f flows) {
	ctx := context.Background()
	a, _ := f.setup(t, auth.Config{})
	u, err := a.CreateUser(ctx, auth.CreateUserRequest{Email: randomEmail(), Password: password, Role: auth.RoleAdmin, Verified: true})
	require.NoError(t, err)
	require.Equal(t, auth.RoleAdmin, u.Role)
	require.True(t, u.Verified)
	c, err := a.Authenticate(ctx, f.login(t, a, u.Email).AccessToken)
	require.NoError(t, err)
	require.Equal(t, auth.RoleAdmin, c.Role)
	_, err = a.CreateUser(ctx, auth.CreateUserRequest{Email: randomEmail(), Password: password, Role: "owner"})
	require.ErrorIs(t, err, auth.ErrInvalidRole)
}
