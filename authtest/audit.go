package authtest

import (
	"context"
	"testing"
	"time"

	"github.com/maestro-ml/auth"
	"github.com/stretchr/testify/require"
)

// AuditStore is a store of audit events: written in batches, read by query.
type AuditStore interface {
	auth.EventWriter
	auth.AuditLog
}

// TestAuditLog checks the EventWriter and AuditLog contracts: written
// events come back newest first with every field, scoped to one tenant,
// filtered by user (subject or actor), type and time, and paged by ID; a
// batch written again is stored once; an event without an ID gets one.
func TestAuditLog(t *testing.T, log AuditStore) {
	ctx := context.Background()
	tenant, other := newID(), newID()
	alice, bob, admin := newID(), newID(), newID()
	base := time.Now().UTC().Truncate(time.Millisecond).Add(-time.Hour)
	events := []auth.Event{
		{Type: auth.EventUserRegistered, Time: base, TenantID: tenant, UserID: alice, IP: "192.0.2.1", UserAgent: "ua/1"},
		{Type: auth.EventLoginFailed, Time: base.Add(time.Minute), TenantID: tenant, UserID: alice, Reason: "bad_password", IP: "192.0.2.1"},
		{Type: auth.EventLoginSucceeded, Time: base.Add(2 * time.Minute), TenantID: tenant, UserID: alice, SessionID: newID()},
		{Type: auth.EventRoleChanged, Time: base.Add(3 * time.Minute), TenantID: tenant, UserID: bob, ActorID: admin, Reason: "viewer->editor"},
		{Type: auth.EventLoginSucceeded, Time: base.Add(4 * time.Minute), TenantID: other, UserID: newID()},
		{Type: auth.EventLogout, Time: base.Add(5 * time.Minute), TenantID: tenant, UserID: alice},
	}
	for i := range events {
		events[i].ID = newID() // time-ordered
	}
	require.NoError(t, log.WriteEvents(ctx, events[:2]))
	require.NoError(t, log.WriteEvents(ctx, events), "a batch retried in part")
	require.NoError(t, log.WriteEvents(ctx, events[4:]), "and again")
	query := func(q auth.EventQuery) []auth.Event {
		t.Helper()
		q.TenantID = tenant
		if q.Limit == 0 {
			q.Limit = 100
		}
		got, err := log.AuditEvents(ctx, q)
		require.NoError(t, err)
		return got
	}
	types := func(es []auth.Event) []auth.EventType {
		out := []auth.EventType{}
		for _, e := range es {
			out = append(out, e.Type)
		}
		return out
	}

	all := query(auth.EventQuery{})
	require.Equal(t, []auth.EventType{auth.EventLogout, auth.EventRoleChanged, auth.EventLoginSucceeded, auth.EventLoginFailed, auth.EventUserRegistered}, types(all), "the tenant's events, newest first, each once")
	for i, e := range all {
		require.Equal(t, events[[]int{5, 3, 2, 1, 0}[i]].ID, e.ID, "stored under the ID it was written with")
	}
	got := all[3]
	require.Equal(t, events[1].Reason, got.Reason)
	require.Equal(t, events[1].IP, got.IP)
	require.Equal(t, alice, got.UserID)
	require.WithinDuration(t, events[1].Time, got.Time, time.Millisecond)
	require.Equal(t, "ua/1", all[4].UserAgent)
	require.Equal(t, admin, all[1].ActorID)

	require.Equal(t, []auth.EventType{auth.EventRoleChanged}, types(query(auth.EventQuery{UserID: admin})), "the actor of an action finds it")
	require.Len(t, query(auth.EventQuery{UserID: alice}), 4)
	require.Equal(t, []auth.EventType{auth.EventLoginSucceeded}, types(query(auth.EventQuery{Type: auth.EventLoginSucceeded})))
	require.Equal(t, []auth.EventType{auth.EventRoleChanged, auth.EventLoginSucceeded},
		types(query(auth.EventQuery{Since: base.Add(2 * time.Minute), Until: base.Add(5 * time.Minute)})), "Since inclusive, Until exclusive")

	page1 := query(auth.EventQuery{Limit: 2})
	require.Len(t, page1, 2)
	page2 := query(auth.EventQuery{Limit: 2, Before: page1[1].ID})
	require.Equal(t, []auth.EventType{auth.EventLoginSucceeded, auth.EventLoginFailed}, types(page2))

	none, err := log.AuditEvents(ctx, auth.EventQuery{TenantID: newID(), Limit: 10})
	require.NoError(t, err)
	require.Empty(t, none)

	require.NoError(t, log.WriteEvents(ctx, nil), "an empty batch is nothing to do")
	anon := newID()
	require.NoError(t, log.WriteEvents(ctx, []auth.Event{{Type: auth.EventLogout, Time: base, TenantID: anon}}))
	got2, err := log.AuditEvents(ctx, auth.EventQuery{TenantID: anon, Limit: 10})
	require.NoError(t, err)
	require.Len(t, got2, 1)
	require.True(t, auth.ValidID(got2[0].ID), "an event without an ID is given one")
}
