package memstore

import (
	"context"

	"github.com/google/uuid"
	"github.com/maestro-ml/auth"
)

// Record implements auth.EventSink: it keeps the event (under a new
// UUIDv7 if it has no ID), dropping the oldest beyond the audit capacity.
func (s *Store) Record(_ context.Context, e auth.Event) {
	s.amu.Lock()
	defer s.amu.Unlock()
	s.keepEvent(e)
}

// WriteEvents implements auth.EventWriter: it keeps each event whose ID it
// does not hold yet.
func (s *Store) WriteEvents(ctx context.Context, events []auth.Event) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.amu.Lock()
	defer s.amu.Unlock()
	for _, e := range events {
		s.keepEvent(e)
	}
	return nil
}

func (s *Store) keepEvent(e auth.Event) {
	if e.ID == "" {
		e.ID = uuid.Must(uuid.NewV7()).String()
	}
	if _, dup := s.auditIDs[e.ID]; dup {
		return
	}
	s.auditIDs[e.ID] = struct{}{}
	if len(s.audit) < s.auditCap {
		s.audit = append(s.audit, e)
	} else {
		i := s.auditN % s.auditCap
		delete(s.auditIDs, s.audit[i].ID)
		s.audit[i] = e
	}
	s.auditN++
}

// AuditEvents implements auth.AuditLog.
func (s *Store) AuditEvents(ctx context.Context, q auth.EventQuery) ([]auth.Event, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	limit := q.Limit
	if limit <= 0 {
		limit = 50
	}
	s.amu.RLock()
	defer s.amu.RUnlock()
	var out []auth.Event
	for i := range len(s.audit) {
		// Walk newest first.
		e := s.audit[((s.auditN-1-i)%s.auditCap+s.auditCap)%s.auditCap]
		switch {
		case e.TenantID != q.TenantID,
			q.UserID != "" && e.UserID != q.UserID && e.ActorID != q.UserID,
			q.Type != "" && e.Type != q.Type,
			!q.Since.IsZero() && e.Time.Before(q.Since),
			!q.Until.IsZero() && !e.Time.Before(q.Until),
			q.Before != "" && e.ID >= q.Before:
			continue
		}
		out = append(out, e)
		if len(out) == limit {
			break
		}
	}
	return out, nil
}
