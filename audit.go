package auth

import (
	"context"
	"time"
)

// EventQuery selects a page of a tenant's audit events, newest first.
type EventQuery struct {
	// TenantID is required: audit logs are read per tenant.
	TenantID string
	// UserID, if set, keeps events whose subject or actor is that user.
	UserID string
	// Type, if set, keeps events of that type.
	Type EventType
	// Since and Until, if set, bound the event time: Since <= Time < Until.
	Since, Until time.Time
	// Before is the cursor: the ID of the last event of the previous page.
	Before string
	// Limit is the page size, 1 to 100. Zero: 50.
	Limit int
}

// AuditLog answers queries over stored events: bunstore keeps them in a
// table, memstore in a bounded ring. Both are also EventWriters: give the
// store to audit.NewAsync for Config.Events, and as Config.AuditLog for
// reading.
type AuditLog interface {
	// AuditEvents returns up to q.Limit events matching q, newest (greatest
	// ID) first.
	AuditEvents(ctx context.Context, q EventQuery) ([]Event, error)
}

// AuditEvents returns a page of the tenant's audit events, newest first,
// and the cursor of the next page ("" on the last). It needs
// Config.AuditLog (ErrNotConfigured otherwise); the query is always
// scoped to q.TenantID. Errors: ErrInvalidInput for a bad limit or cursor.
func (a *Authenticator) AuditEvents(ctx context.Context, q EventQuery) ([]Event, string, error) {
	if a.cfg.AuditLog == nil {
		return nil, "", ErrNotConfigured
	}
	if !ValidID(q.TenantID) {
		return nil, "", ErrTenantNotFound
	}
	switch {
	case q.Limit == 0:
		q.Limit = 50
	case q.Limit < 0 || q.Limit > 100:
		return nil, "", ErrInvalidInput
	}
	if (q.Before != "" && !ValidID(q.Before)) || (q.UserID != "" && !ValidID(q.UserID)) || len(q.Type) > 64 {
		return nil, "", ErrInvalidInput
	}
	limit := q.Limit
	q.Limit++
	evs, err := a.cfg.AuditLog.AuditEvents(ctx, q)
	if err != nil {
		return nil, "", err
	}
	next := ""
	if len(evs) > limit {
		evs = evs[:limit]
		next = evs[limit-1].ID
	}
	return evs, next, nil
}

// EventWriter stores batches of audit events: bunstore and memstore do.
// WriteEvents must be idempotent by Event.ID: an event whose ID is
// already stored is skipped, so a batch retried after a lost reply is
// stored once. An error wrapping ErrUnavailable or a context error means
// the batch may be retried; any other error means some event of it cannot
// be stored.
type EventWriter interface {
	WriteEvents(ctx context.Context, events []Event) error
}
