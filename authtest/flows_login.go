package authtest

import (
	"context"
	"testing"

	"github.com/maestro-ml/auth"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"
)

func flowLoginRejects(t *testing.T, f flows) {
	ctx := context.Background()
	a, _ := f.setup(t, auth.Config{})
	u := f.register(t, a)
	for name, req := range map[string]auth.LoginRequest{
		"wrong password":   {Email: u.Email, Password: password + "!"},
		"unknown email":    {Email: randomEmail(), Password: password},
		"malformed email":  {Email: "nope", Password: password},
		"empty password":   {Email: u.Email},
		"huge password":    {Email: u.Email, Password: string(make([]byte, 5000))},
		"password as hash": {Email: u.Email, Password: u.PasswordHash},
	} {
		_, _, err := a.Login(ctx, req)
		require.ErrorIs(t, err, auth.ErrInvalidCredentials, name)
	}
}

func flowInactiveUser(t *testing.T, f flows) {
	ctx := context.Background()
	a, _ := f.setup(t, auth.Config{})
	u := f.register(t, a)
	p := f.login(t, a, u.Email)
	off := false
	_, err := a.UpdateUser(ctx, u.TenantID, u.ID, auth.UpdateUserRequest{Active: &off})
	require.NoError(t, err)
	_, err = a.Authenticate(ctx, p.AccessToken)
	require.ErrorIs(t, err, auth.ErrTokenRevoked, "deactivation revokes existing access tokens at once")
	_, err = f.refresh(a, p.RefreshToken)
	require.ErrorIs(t, err, auth.ErrInvalidToken, "and ends the sessions")
	_, _, err = a.Login(ctx, auth.LoginRequest{Email: u.Email, Password: password})
	require.ErrorIs(t, err, auth.ErrUserInactive)
	_, _, err = a.Login(ctx, auth.LoginRequest{Email: u.Email, Password: "wrong password!"})
	require.ErrorIs(t, err, auth.ErrInvalidCredentials, "inactivity is only revealed to the right password")
}

func flowRequireVerifiedEmail(t *testing.T, f flows) {
	ctx := context.Background()
	a, _ := f.setup(t, auth.Config{RequireVerifiedEmail: true})
	u := f.register(t, a)
	_, _, err := a.Login(ctx, auth.LoginRequest{Email: u.Email, Password: password})
	require.ErrorIs(t, err, auth.ErrEmailNotVerified)
	yes := true
	_, err = a.UpdateUser(ctx, u.TenantID, u.ID, auth.UpdateUserRequest{Verified: &yes})
	require.NoError(t, err)
	f.login(t, a, u.Email)
}

func flowLoginRacingDeactivation(t *testing.T, f flows) {
	ctx := context.Background()
	admin, _ := f.setup(t, auth.Config{})
	u := f.register(t, admin)
	a := f.raceSetup(t, u.Email, func(u *auth.User) {
		off := false
		_, err := admin.UpdateUser(ctx, u.TenantID, u.ID, auth.UpdateUserRequest{Active: &off})
		require.NoError(t, err)
	})
	_, _, err := a.Login(ctx, auth.LoginRequest{Email: u.Email, Password: password})
	require.ErrorIs(t, err, auth.ErrUserInactive)
	f.noLiveSession(t, a, u.ID)
}

func flowLoginRacingPasswordReset(t *testing.T, f flows) {
	ctx := context.Background()
	admin, _ := f.setup(t, auth.Config{})
	u := f.register(t, admin)
	h, err := auth.NewHasher(auth.HasherConfig{})
	require.NoError(t, err)
	fresh, err := h.Hash(ctx, "the new password after the reset")
	require.NoError(t, err)
	a := f.raceSetup(t, u.Email, func(u *auth.User) {
		// What ResetPassword does: a new hash, then every session ends.
		_, err := f.st.Users.UpdateUser(ctx, "", u.ID, auth.UserUpdate{PasswordHash: &fresh, At: now()})
		require.NoError(t, err)
		require.NoError(t, admin.LogoutAll(ctx, u.ID))
	})
	_, _, err = a.Login(ctx, auth.LoginRequest{Email: u.Email, Password: password})
	require.ErrorIs(t, err, auth.ErrInvalidCredentials, "the old password lost the race")
	f.noLiveSession(t, a, u.ID)
}

func flowLoginRehashCannotUndoReset(t *testing.T, f flows) {
	ctx := context.Background()
	admin, _ := f.setup(t, auth.Config{})
	legacy, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	require.NoError(t, err)
	n := now()
	u := &auth.User{ID: newID(), TenantID: auth.DefaultTenantID, Email: randomEmail(), PasswordHash: string(legacy), Role: auth.RoleViewer, Active: true, CreatedAt: n, UpdatedAt: n}
	require.NoError(t, f.st.Users.CreateUser(ctx, u))
	h, err := auth.NewHasher(auth.HasherConfig{})
	require.NoError(t, err)
	fresh, err := h.Hash(ctx, "the new password after the reset")
	require.NoError(t, err)
	a := f.raceSetup(t, u.Email, func(u *auth.User) {
		_, err := f.st.Users.UpdateUser(ctx, "", u.ID, auth.UserUpdate{PasswordHash: &fresh, At: now()})
		require.NoError(t, err)
		require.NoError(t, admin.LogoutAll(ctx, u.ID))
	})
	_, _, err = a.Login(ctx, auth.LoginRequest{Email: u.Email, Password: password})
	require.ErrorIs(t, err, auth.ErrInvalidCredentials)
	stored, err := f.st.Users.User(ctx, u.ID)
	require.NoError(t, err)
	require.Equal(t, fresh, stored.PasswordHash, "the rehash of the old password did not overwrite the new one")
}

func flowBcryptImportAndRehash(t *testing.T, f flows) {
	ctx := context.Background()
	a, _ := f.setup(t, auth.Config{})
	long := "an imported password that is well over seventy-two bytes long, for the truncation test"
	for _, pw := range []string{password, long[:72]} {
		hash, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
		require.NoError(t, err)
		n := now()
		u := &auth.User{ID: newID(), TenantID: auth.DefaultTenantID, Email: randomEmail(), PasswordHash: string(hash), Role: auth.RoleViewer, Active: true, CreatedAt: n, UpdatedAt: n}
		require.NoError(t, f.st.Users.CreateUser(ctx, u))

		if pw == long[:72] {
			_, _, err = a.Login(ctx, auth.LoginRequest{Email: u.Email, Password: long})
			require.ErrorIs(t, err, auth.ErrInvalidCredentials, "bcrypt's 72-byte truncation must not admit a longer password")
		}
		_, _, err = a.Login(ctx, auth.LoginRequest{Email: u.Email, Password: pw + "x"})
		require.ErrorIs(t, err, auth.ErrInvalidCredentials)
		_, got, err := a.Login(ctx, auth.LoginRequest{Email: u.Email, Password: pw})
		require.NoError(t, err)
		require.Regexp(t, `^\$argon2id\$v=19\$m=19456,t=2,p=1\$`, got.PasswordHash, "rehashed on login")
		stored, err := f.st.Users.User(ctx, u.ID)
		require.NoError(t, err)
		require.Equal(t, got.PasswordHash, stored.PasswordHash)
		_, _, err = a.Login(ctx, auth.LoginRequest{Email: u.Email, Password: pw})
		require.NoError(t, err, "the new hash verifies")
	}
}
