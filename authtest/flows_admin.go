package authtest

import (
	"context"
	"testing"
	"time"

	"github.com/maestro-ml/auth"
	"github.com/stretchr/testify/require"
)

func flowRoleChangeTakesEffect(t *testing.T, f flows) {
	ctx := context.Background()
	a, clock := f.setup(t, auth.Config{})
	u := f.register(t, a)
	p := f.login(t, a, u.Email)
	clock.Advance(time.Second)
	editor := auth.RoleEditor
	got, err := a.UpdateUser(ctx, u.TenantID, u.ID, auth.UpdateUserRequest{Role: &editor})
	require.NoError(t, err)
	require.Equal(t, auth.RoleEditor, got.Role)
	_, err = a.Authenticate(ctx, p.AccessToken)
	require.ErrorIs(t, err, auth.ErrTokenRevoked, "tokens with the old role die at once")
	clock.Advance(time.Millisecond)
	p2, err := f.refresh(a, p.RefreshToken)
	require.NoError(t, err, "the session survives a role change")
	c, err := a.Authenticate(ctx, p2.AccessToken)
	require.NoError(t, err)
	require.Equal(t, auth.RoleEditor, c.Role)

	bogus := auth.Role("root")
	_, err = a.UpdateUser(ctx, u.TenantID, u.ID, auth.UpdateUserRequest{Role: &bogus})
	require.ErrorIs(t, err, auth.ErrInvalidRole)
}

func flowTenantScoping(t *testing.T, f flows) {
	ctx := context.Background()
	a, _ := f.setup(t, auth.Config{})
	tb, err := a.CreateTenant(ctx, "Tenant B", randomSlug())
	require.NoError(t, err)
	ua := f.register(t, a)
	ub, err := a.Register(ctx, auth.RegisterRequest{Email: randomEmail(), Password: password, TenantID: tb.ID})
	require.NoError(t, err)
	pb := f.login(t, a, ub.Email)
	cb, err := a.Authenticate(ctx, pb.AccessToken)
	require.NoError(t, err)
	require.Equal(t, tb.ID, cb.TenantID)

	admin := auth.RoleAdmin
	_, err = a.UpdateUser(ctx, tb.ID, ua.ID, auth.UpdateUserRequest{Role: &admin})
	require.ErrorIs(t, err, auth.ErrUserNotFound, "tenant B cannot touch a user of tenant A")
	_, err = a.User(ctx, tb.ID, ua.ID)
	require.ErrorIs(t, err, auth.ErrUserNotFound)
	got, err := a.User(ctx, ua.TenantID, ua.ID)
	require.NoError(t, err)
	require.Equal(t, auth.RoleViewer, got.Role)

	list, next, err := a.ListUsers(ctx, auth.UserQuery{TenantID: tb.ID})
	require.NoError(t, err)
	require.Empty(t, next)
	require.Equal(t, []string{ub.ID}, idsOf(list))
	_, err = a.CreateTenant(ctx, "dup", tb.Slug)
	require.ErrorIs(t, err, auth.ErrTenantTaken)
}

func flowListUsersPages(t *testing.T, f flows) {
	ctx := context.Background()
	a, _ := f.setup(t, auth.Config{})
	tn, err := a.CreateTenant(ctx, "Paged", randomSlug())
	require.NoError(t, err)
	var ids []string
	for range 5 {
		u, err := a.CreateUser(ctx, auth.CreateUserRequest{TenantID: tn.ID, Email: randomEmail(), Password: password, Role: auth.RoleEditor})
		require.NoError(t, err)
		ids = append(ids, u.ID)
	}
	var got []string
	cursor := ""
	for pages := 0; ; pages++ {
		require.Less(t, pages, 3)
		list, next, err := a.ListUsers(ctx, auth.UserQuery{TenantID: tn.ID, Limit: 2, After: cursor})
		require.NoError(t, err)
		got = append(got, idsOf(list)...)
		if next == "" {
			break
		}
		cursor = next
	}
	require.Equal(t, ids, got)
	_, _, err = a.ListUsers(ctx, auth.UserQuery{TenantID: tn.ID, Limit: 1000})
	require.ErrorIs(t, err, auth.ErrInvalidInput)
}
