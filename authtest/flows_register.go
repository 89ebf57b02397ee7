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

// flowTimesAsStored: every time a flow returns equals the one a later read
// of the store gives, even with a clock finer than the store keeps.
func flowTimesAsStored(t *testing.T, f flows) {
	ctx := context.Background()
	clock := NewClock(time.Unix(time.Now().Unix(), 123456789))
	a := NewAuthenticator(t, f.st, clock, auth.Config{})
	same := func(want, got time.Time, what string) {
		t.Helper()
		require.True(t, want.Equal(got), "%s: returned %s, read back %s", what, want.Format(time.RFC3339Nano), got.Format(time.RFC3339Nano))
	}
	u := f.register(t, a)
	read, err := a.User(ctx, u.TenantID, u.ID)
	require.NoError(t, err)
	same(u.CreatedAt, read.CreatedAt, "register: created_at")
	same(u.UpdatedAt, read.UpdatedAt, "register: updated_at")

	clock.Advance(1234567 * time.Nanosecond)
	pair, lu, err := a.Login(ctx, auth.LoginRequest{Email: u.Email, Password: password})
	require.NoError(t, err)
	read, err = a.User(ctx, u.TenantID, u.ID)
	require.NoError(t, err)
	require.NotNil(t, lu.LastLoginAt)
	require.NotNil(t, read.LastLoginAt)
	same(*lu.LastLoginAt, *read.LastLoginAt, "login: last_login_at")
	listed, err := a.Sessions(ctx, u.ID)
	require.NoError(t, err)
	require.Len(t, listed, 1)
	same(pair.IssuedAt, listed[0].CreatedAt, "login: issued_at and the session's created_at")
	clock.Advance(1234567 * time.Nanosecond)
	again, err := a.Sessions(ctx, u.ID)
	require.NoError(t, err)
	require.Len(t, again, 1)
	for _, x := range []struct {
		what      string
		want, got time.Time
	}{
		{"session created_at", listed[0].CreatedAt, again[0].CreatedAt},
		{"session last_used_at", listed[0].LastUsedAt, again[0].LastUsedAt},
		{"session idle_expires_at", listed[0].IdleExpiresAt, again[0].IdleExpiresAt},
		{"session expires_at", listed[0].ExpiresAt, again[0].ExpiresAt},
	} {
		same(x.want, x.got, x.what)
	}

	clock.Advance(1234567 * time.Nanosecond)
	editor := auth.RoleEditor
	updated, err := a.UpdateUser(ctx, u.TenantID, u.ID, auth.UpdateUserRequest{Role: &editor})
	require.NoError(t, err)
	read, err = a.User(ctx, u.TenantID, u.ID)
	require.NoError(t, err)
	same(updated.UpdatedAt, read.UpdatedAt, "admin update: updated_at")
	same(updated.CreatedAt, read.CreatedAt, "admin update: created_at")
	listedUsers, _, err := a.ListUsers(ctx, auth.UserQuery{TenantID: u.TenantID, Limit: 100})
	require.NoError(t, err)
	for _, lu := range listedUsers {
		if lu.ID == u.ID {
			same(lu.UpdatedAt, read.UpdatedAt, "admin list: updated_at")
		}
	}
}
