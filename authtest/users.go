package authtest

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/maestro-ml/auth"
	"github.com/stretchr/testify/require"
)

// TestUserStore checks the UserStore and TenantStore contracts: round trips,
// not-found errors, global email uniqueness under concurrency, tenant
// scoping of updates, and listing with filters and a cursor.
func TestUserStore(t *testing.T, st Stores) {
	ctx := context.Background()
	users, tenants := st.Users, st.Tenants

	newTenant := func(t *testing.T) *auth.Tenant {
		t.Helper()
		n := now()
		tn := &auth.Tenant{ID: newID(), Name: "Tenant", Slug: randomSlug(), Active: true, CreatedAt: n, UpdatedAt: n}
		require.NoError(t, tenants.CreateTenant(ctx, tn))
		return tn
	}
	newUser := func(t *testing.T, tenantID string) *auth.User {
		t.Helper()
		n := now()
		u := &auth.User{
			ID: newID(), TenantID: tenantID, Email: randomEmail(), PasswordHash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5",
			Name: "Kate", Role: auth.RoleViewer, Active: true, CreatedAt: n, UpdatedAt: n,
			Meta: json.RawMessage(`{"plan":"pro","n":1}`),
		}
		require.NoError(t, users.CreateUser(ctx, u))
		return u
	}

	t.Run("TenantRoundTrip", func(t *testing.T) {
		tn := newTenant(t)
		got, err := tenants.Tenant(ctx, tn.ID)
		require.NoError(t, err)
		require.Equal(t, tn.ID, got.ID)
		require.Equal(t, tn.Name, got.Name)
		require.Equal(t, tn.Slug, got.Slug)
		require.True(t, got.Active)
		require.WithinDuration(t, tn.CreatedAt, got.CreatedAt, time.Millisecond)
		bySlug, err := tenants.TenantBySlug(ctx, tn.Slug)
		require.NoError(t, err)
		require.Equal(t, tn.ID, bySlug.ID)
	})

	t.Run("TenantErrors", func(t *testing.T) {
		tn := newTenant(t)
		dup := *tn
		dup.ID = newID()
		require.ErrorIs(t, tenants.CreateTenant(ctx, &dup), auth.ErrTenantTaken, "duplicate slug")
		_, err := tenants.Tenant(ctx, newID())
		require.ErrorIs(t, err, auth.ErrTenantNotFound)
		_, err = tenants.TenantBySlug(ctx, randomSlug())
		require.ErrorIs(t, err, auth.ErrTenantNotFound)
	})

	t.Run("DefaultTenantUsable", func(t *testing.T) {
		tn, err := tenants.Tenant(ctx, auth.DefaultTenantID)
		if errors.Is(err, auth.ErrTenantNotFound) {
			n := now()
			err = tenants.CreateTenant(ctx, &auth.Tenant{ID: auth.DefaultTenantID, Name: "Default", Slug: auth.DefaultTenantSlug, Active: true, CreatedAt: n, UpdatedAt: n})
			if !errors.Is(err, auth.ErrTenantTaken) {
				require.NoError(t, err)
			}
			tn, err = tenants.Tenant(ctx, auth.DefaultTenantID)
		}
		require.NoError(t, err)
		require.Equal(t, auth.DefaultTenantSlug, tn.Slug)
	})

	t.Run("UserRoundTrip", func(t *testing.T) {
		tn := newTenant(t)
		u := newUser(t, tn.ID)
		for _, get := range []func() (*auth.User, error){
			func() (*auth.User, error) { return users.User(ctx, u.ID) },
			func() (*auth.User, error) { return users.UserByEmail(ctx, u.Email) },
		} {
			got, err := get()
			require.NoError(t, err)
			require.Equal(t, u.ID, got.ID)
			require.Equal(t, u.TenantID, got.TenantID)
			require.Equal(t, u.Email, got.Email)
			require.Equal(t, u.PasswordHash, got.PasswordHash)
			require.Equal(t, u.Name, got.Name)
			require.Equal(t, u.Role, got.Role)
			require.True(t, got.Active)
			require.False(t, got.Verified)
			require.Nil(t, got.LastLoginAt)
			require.JSONEq(t, string(u.Meta), string(got.Meta))
			require.WithinDuration(t, u.CreatedAt, got.CreatedAt, time.Millisecond)
		}
	})

	t.Run("UserNotFound", func(t *testing.T) {
		_, err := users.User(ctx, newID())
		require.ErrorIs(t, err, auth.ErrUserNotFound)
		_, err = users.UserByEmail(ctx, randomEmail())
		require.ErrorIs(t, err, auth.ErrUserNotFound)
		_, err = users.UpdateUser(ctx, "", newID(), auth.UserUpdate{At: now()})
		require.ErrorIs(t, err, auth.ErrUserNotFound)
	})

	t.Run("CreateErrors", func(t *testing.T) {
		tn := newTenant(t)
		u := newUser(t, tn.ID)
		dup := *u
		dup.ID = newID()
		require.ErrorIs(t, users.CreateUser(ctx, &dup), auth.ErrEmailTaken)
		orphan := *u
		orphan.ID, orphan.Email, orphan.TenantID = newID(), randomEmail(), newID()
		require.ErrorIs(t, users.CreateUser(ctx, &orphan), auth.ErrTenantNotFound)
	})

	t.Run("EmailUniqueUnderConcurrency", func(t *testing.T) {
		tn := newTenant(t)
		email := randomEmail()
		const n = 50
		var wg sync.WaitGroup
		errs := make([]error, n)
		for i := range n {
			wg.Go(func() {
				u := &auth.User{ID: newID(), TenantID: tn.ID, Email: email, PasswordHash: "x", Role: auth.RoleViewer, Active: true, CreatedAt: now(), UpdatedAt: now(), Meta: json.RawMessage(`{}`)}
				errs[i] = users.CreateUser(ctx, u)
			})
		}
		wg.Wait()
		ok := 0
		for _, err := range errs {
			if err == nil {
				ok++
				continue
			}
			require.ErrorIs(t, err, auth.ErrEmailTaken)
		}
		require.Equal(t, 1, ok)
	})

	t.Run("Update", func(t *testing.T) {
		tn := newTenant(t)
		u := newUser(t, tn.ID)
		at := now().Add(time.Second)
		email, hash, name, role, active, verified := randomEmail(), "$2b$10$new", "Kate B", auth.RoleAdmin, false, true
		got, err := users.UpdateUser(ctx, tn.ID, u.ID, auth.UserUpdate{
			Email: &email, PasswordHash: &hash, Name: &name, Role: &role, Active: &active, Verified: &verified,
			LastLoginAt: &at, Meta: json.RawMessage(`{"x":[1,2]}`), At: at,
		})
		require.NoError(t, err)
		for _, g := range []*auth.User{got, must(users.User(ctx, u.ID))} {
			require.Equal(t, email, g.Email)
			require.Equal(t, hash, g.PasswordHash)
			require.Equal(t, name, g.Name)
			require.Equal(t, role, g.Role)
			require.False(t, g.Active)
			require.True(t, g.Verified)
			require.NotNil(t, g.LastLoginAt)
			require.WithinDuration(t, at, *g.LastLoginAt, time.Millisecond)
			require.WithinDuration(t, at, g.UpdatedAt, time.Millisecond)
			require.JSONEq(t, `{"x":[1,2]}`, string(g.Meta))
		}
		_, err = users.UserByEmail(ctx, u.Email)
		require.ErrorIs(t, err, auth.ErrUserNotFound, "old email is free")

		// A partial update leaves other fields alone.
		n2 := "Only name"
		got, err = users.UpdateUser(ctx, "", u.ID, auth.UserUpdate{Name: &n2, At: now()})
		require.NoError(t, err)
		require.Equal(t, n2, got.Name)
		require.Equal(t, email, got.Email)
		require.Equal(t, role, got.Role)
	})

	t.Run("UpdateIfPasswordHash", func(t *testing.T) {
		tn := newTenant(t)
		u := newUser(t, tn.ID)
		stale, fresh, name := "$argon2id$stale", "$argon2id$fresh", "Renamed"
		_, err := users.UpdateUser(ctx, "", u.ID, auth.UserUpdate{Name: &name, PasswordHash: &fresh, IfPasswordHash: &stale, At: now()})
		require.ErrorIs(t, err, auth.ErrConflict, "the hash is not the expected one")
		got, err := users.User(ctx, u.ID)
		require.NoError(t, err)
		require.Equal(t, u.PasswordHash, got.PasswordHash, "nothing changed")
		require.Equal(t, u.Name, got.Name)
		got, err = users.UpdateUser(ctx, "", u.ID, auth.UserUpdate{Name: &name, PasswordHash: &fresh, IfPasswordHash: &u.PasswordHash, At: now()})
		require.NoError(t, err)
		require.Equal(t, fresh, got.PasswordHash)
		require.Equal(t, name, got.Name)
		_, err = users.UpdateUser(ctx, "", newID(), auth.UserUpdate{IfPasswordHash: &fresh, At: now()})
		require.ErrorIs(t, err, auth.ErrUserNotFound)
	})

	t.Run("UpdateScopedToTenant", func(t *testing.T) {
		a, b := newTenant(t), newTenant(t)
		u := newUser(t, a.ID)
		role := auth.RoleAdmin
		_, err := users.UpdateUser(ctx, b.ID, u.ID, auth.UserUpdate{Role: &role, At: now()})
		require.ErrorIs(t, err, auth.ErrUserNotFound)
		got, err := users.User(ctx, u.ID)
		require.NoError(t, err)
		require.Equal(t, auth.RoleViewer, got.Role, "other tenant's update had no effect")
	})

	t.Run("UpdateEmailTaken", func(t *testing.T) {
		tn := newTenant(t)
		u1, u2 := newUser(t, tn.ID), newUser(t, tn.ID)
		_, err := users.UpdateUser(ctx, "", u2.ID, auth.UserUpdate{Email: &u1.Email, At: now()})
		require.ErrorIs(t, err, auth.ErrEmailTaken)
		got, err := users.User(ctx, u2.ID)
		require.NoError(t, err)
		require.Equal(t, u2.Email, got.Email)
	})

	t.Run("List", func(t *testing.T) {
		tn, other := newTenant(t), newTenant(t)
		var ids []string
		for i := range 5 {
			u := newUser(t, tn.ID)
			if i%2 == 1 {
				role, active := auth.RoleEditor, false
				_, err := users.UpdateUser(ctx, "", u.ID, auth.UserUpdate{Role: &role, Active: &active, At: now()})
				require.NoError(t, err)
			}
			ids = append(ids, u.ID)
		}
		newUser(t, other.ID)

		all, err := users.ListUsers(ctx, auth.UserQuery{TenantID: tn.ID, Limit: 100})
		require.NoError(t, err)
		require.Equal(t, ids, idsOf(all), "every user of the tenant, by ID")

		page1, err := users.ListUsers(ctx, auth.UserQuery{TenantID: tn.ID, Limit: 2})
		require.NoError(t, err)
		require.Equal(t, ids[:2], idsOf(page1))
		page2, err := users.ListUsers(ctx, auth.UserQuery{TenantID: tn.ID, Limit: 2, After: page1[1].ID})
		require.NoError(t, err)
		require.Equal(t, ids[2:4], idsOf(page2))

		editors, err := users.ListUsers(ctx, auth.UserQuery{TenantID: tn.ID, Role: auth.RoleEditor, Limit: 100})
		require.NoError(t, err)
		require.Equal(t, []string{ids[1], ids[3]}, idsOf(editors))
		yes := true
		active, err := users.ListUsers(ctx, auth.UserQuery{TenantID: tn.ID, Active: &yes, Limit: 100})
		require.NoError(t, err)
		require.Equal(t, []string{ids[0], ids[2], ids[4]}, idsOf(active))

		none, err := users.ListUsers(ctx, auth.UserQuery{TenantID: newID(), Limit: 10})
		require.NoError(t, err)
		require.Empty(t, none)
	})

	t.Run("ListSearch", func(t *testing.T) {
		tn := newTenant(t)
		set := func(u *auth.User, email, name string, verified bool) {
			_, err := users.UpdateUser(ctx, "", u.ID, auth.UserUpdate{Email: &email, Name: &name, Verified: &verified, At: now()})
			require.NoError(t, err)
		}
		suffix := strings.ToLower(randomSlug())
		ada, bob, pct, low := newUser(t, tn.ID), newUser(t, tn.ID), newUser(t, tn.ID), newUser(t, tn.ID)
		set(ada, "ada."+suffix+"@example.com", "Ada Lovelace", true)
		set(bob, "bob."+suffix+"@example.com", "Robert Ada", false)
		set(pct, "100pct_"+suffix+"@example.com", "Per Cent", false)
		set(low, "lowx"+suffix+"@example.com", "Pxrcent", true)
		search := func(s string, verified *bool) []string {
			t.Helper()
			got, err := users.ListUsers(ctx, auth.UserQuery{TenantID: tn.ID, Search: s, Verified: verified, Limit: 100})
			require.NoError(t, err)
			return idsOf(got)
		}
		require.Equal(t, []string{ada.ID, bob.ID}, search("ADA", nil), "email or name, any case")
		require.Equal(t, []string{ada.ID}, search("ada."+suffix, nil))
		require.Equal(t, []string{pct.ID}, search("pct_", nil), "_ is a character, not a wildcard")
		require.Empty(t, search("%", nil), "% is a character, not a wildcard")
		require.Empty(t, search(`\`, nil))
		require.Len(t, search(suffix, nil), 4)
		yes, no := true, false
		require.Equal(t, []string{ada.ID, low.ID}, search(suffix, &yes))
		require.Equal(t, []string{bob.ID, pct.ID}, search(suffix, &no))
	})

	t.Run("CanceledContext", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		_, err := users.User(cctx, newID())
		require.Error(t, err)
		require.NotErrorIs(t, err, auth.ErrUserNotFound, "a canceled call must not look like an answer")
	})
}

func idsOf(us []*auth.User) []string {
	out := make([]string, 0, len(us))
	for _, u := range us {
		out = append(out, u.ID)
	}
	return out
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
