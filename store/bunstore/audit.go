package bunstore

import (
	"context"
	"encoding/binary"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/maestro-ml/auth"
)

const (
	auditCols   = "id, type, time, tenant_id, user_id, actor_id, session_id, ip, user_agent, reason"
	auditInsert = "INSERT INTO auth_audit_events (" + auditCols + ") VALUES "
	auditRow    = "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
	auditFields = 10

	// MaxAuditBatch bounds the events of one WriteEvents: 10,000 bind
	// parameters, well under the limits of PostgreSQL and SQLite.
	MaxAuditBatch = 1000

	// DefaultAuditPageSize is the page size of AuditEvents for a zero
	// EventQuery.Limit.
	DefaultAuditPageSize = 50
	// MaxAuditPageSize bounds the page size of AuditEvents.
	MaxAuditPageSize = 1000

	// maxAuditField bounds each text field of a recorded event, in bytes.
	maxAuditField = 1024
)

// WriteEvents implements auth.EventWriter: it inserts the events into
// auth_audit_events in one multi-row INSERT that skips the IDs already
// stored (ON CONFLICT DO NOTHING), so a batch retried after a lost reply
// is stored once. Give the Store to audit.NewAsync, which batches and
// retries, for Config.Events, and as Config.AuditLog for reading:
//
//	events, err := audit.NewAsync(st, audit.AsyncConfig{})
//	defer events.Shutdown(ctx) // before st.Close: writes what is buffered
//	cfg := auth.Config{Events: events, AuditLog: st, ...}
//
// An event without an ID is stored under a new UUIDv7; a zero Time is the
// Store's clock. Text is stored as valid UTF-8 without NUL bytes (invalid
// sequences become U+FFFD) and each field is cut to 1 KiB. At most
// MaxAuditBatch events per call. Errors: auth.ErrInvalidInput (an ID that
// is not a canonical UUID, too many events), or errors wrapping
// auth.ErrUnavailable or a context error, after which the whole batch may
// be written again.
func (s *Store) WriteEvents(ctx context.Context, events []auth.Event) error {
	if len(events) == 0 {
		return nil
	}
	if len(events) > MaxAuditBatch {
		return auth.ErrInvalidInput
	}
	var q strings.Builder
	q.Grow(len(auditInsert) + len(events)*len(auditRow) + 32)
	q.WriteString(auditInsert)
	args := make([]any, 0, len(events)*auditFields)
	for i, e := range events {
		id := e.ID
		switch {
		case id == "":
			u, err := uuid.NewV7()
			if err != nil {
				return s.fail(ctx, "WriteEvents", err)
			}
			id = u.String()
		case !auth.ValidID(id):
			return auth.ErrInvalidInput
		}
		at := e.Time
		if at.IsZero() {
			at = s.now()
		}
		if i > 0 {
			q.WriteByte(',')
		}
		q.WriteString(auditRow)
		args = append(args, id, auditText(string(e.Type)), s.at(at),
			auditID(e.TenantID), auditID(e.UserID), auditID(e.ActorID), auditID(e.SessionID),
			auditText(e.IP), auditText(e.UserAgent), auditText(e.Reason))
	}
	q.WriteString(" ON CONFLICT (id) DO NOTHING")
	if _, err := s.db.ExecContext(ctx, q.String(), args...); err != nil {
		return s.fail(ctx, "WriteEvents", err)
	}
	return nil
}

// AuditEvents implements auth.AuditLog: in one query it returns up to
// q.Limit (zero or negative: DefaultAuditPageSize; at most
// MaxAuditPageSize) events of q.TenantID, newest (greatest ID) first,
// keeping those whose subject or actor is q.UserID, whose type is q.Type,
// whose time t satisfies q.Since <= t < q.Until and whose ID is below the
// cursor q.Before, for each of these that is set. An empty TenantID
// matches nothing. Errors: auth.ErrInvalidInput for a cursor that is not a
// canonical UUID, and errors wrapping auth.ErrUnavailable or
// context.Canceled.
//
// Each filter has an index; with q.UserID the subject and actor matches
// are read as two ordered index ranges of at most q.Limit rows each, so a
// page costs the same however long the user's history.
func (s *Store) AuditEvents(ctx context.Context, q auth.EventQuery) ([]auth.Event, error) {
	if q.Before != "" && !auth.ValidID(q.Before) {
		return nil, auth.ErrInvalidInput
	}
	if q.TenantID == "" {
		return []auth.Event{}, nil
	}
	query, args := s.auditQuery(q)
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, s.fail(ctx, "AuditEvents", err)
	}
	defer rows.Close()
	out := []auth.Event{}
	for rows.Next() {
		var e auth.Event
		var typ string
		if err := rows.Scan(&e.ID, &typ, timeDest{&e.Time}, strDest{&e.TenantID}, strDest{&e.UserID}, strDest{&e.ActorID},
			strDest{&e.SessionID}, &e.IP, &e.UserAgent, &e.Reason); err != nil {
			return nil, s.fail(ctx, "AuditEvents", err)
		}
		e.Type = auth.EventType(typ)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, s.fail(ctx, "AuditEvents", err)
	}
	return out, nil
}

// auditQuery builds the query of AuditEvents. Filter values are
// normalised as WriteEvents stores them, so an event is found by the values it
// was recorded with.
func (s *Store) auditQuery(q auth.EventQuery) (string, []any) {
	limit := q.Limit
	if limit <= 0 {
		limit = DefaultAuditPageSize
	}
	limit = min(limit, MaxAuditPageSize)
	var w strings.Builder
	w.WriteString("SELECT " + auditCols + " FROM auth_audit_events WHERE tenant_id = ?")
	args := []any{auditText(q.TenantID)}
	if q.Type != "" {
		w.WriteString(" AND type = ?")
		args = append(args, auditText(string(q.Type)))
	}
	if !q.Since.IsZero() {
		w.WriteString(" AND time >= ?")
		args = append(args, s.at(q.Since))
	}
	if !q.Until.IsZero() {
		w.WriteString(" AND time < ?")
		args = append(args, s.at(q.Until))
	}
	if q.Before != "" {
		w.WriteString(" AND id < ?")
		args = append(args, q.Before)
	}
	const page = " ORDER BY id DESC LIMIT ?"
	sel := w.String()
	if q.UserID == "" {
		return sel + page, append(args, limit)
	}
	// Subject or actor: the newest of each, merged. An event whose subject
	// is also its actor comes from the first branch only.
	user := auditText(q.UserID)
	query := "SELECT " + auditCols + " FROM (" +
		"SELECT * FROM (" + sel + " AND user_id = ?" + page + ") AS s UNION ALL " +
		"SELECT * FROM (" + sel + " AND actor_id = ? AND (user_id IS NULL OR user_id <> ?)" + page + ") AS a" +
		") AS e" + page
	all := make([]any, 0, 2*len(args)+5)
	all = append(all, args...)
	all = append(all, user, limit)
	all = append(all, args...)
	all = append(all, user, user, limit, limit)
	return query, all
}

// auditText returns s as WriteEvents stores it: valid UTF-8 (invalid sequences
// and NUL bytes, which neither database keeps in text, become U+FFFD) of
// at most maxAuditField bytes, cut at a character boundary.
func auditText(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if strings.IndexByte(s, 0) >= 0 {
		s = strings.ReplaceAll(s, "\x00", "\uFFFD")
	}
	if len(s) > maxAuditField {
		i := maxAuditField
		for i > 0 && !utf8.RuneStart(s[i]) {
			i--
		}
		s = s[:i]
	}
	return s
}

// auditID returns an ID field as a query argument: NULL when empty.
func auditID(id string) any {
	if id == "" {
		return nil
	}
	return auditText(id)
}

// auditBound returns the smallest UUIDv7 of the millisecond of t: the IDs
// of events recorded before t are exactly those below it.
func auditBound(t time.Time) string {
	var u uuid.UUID
	var ms [8]byte
	binary.BigEndian.PutUint64(ms[:], uint64(max(t.UnixMilli(), 0)))
	copy(u[:6], ms[2:])
	u[6], u[8] = 0x70, 0x80 // version 7, RFC 9562 variant
	return u.String()
}
