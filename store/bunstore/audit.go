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
	auditInsert = "INSERT INTO auth_audit_events (" + auditCols + ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"

	// DefaultAuditPageSize is the page size of AuditEvents for a zero
	// EventQuery.Limit.
	DefaultAuditPageSize = 50
	// MaxAuditPageSize bounds the page size of AuditEvents.
	MaxAuditPageSize = 1000

	// maxAuditField bounds each text field of a recorded event, in bytes.
	maxAuditField = 1024
	// recordTimeout bounds one Record.
	recordTimeout = 5 * time.Second
)

// Record implements auth.EventSink: it inserts e into auth_audit_events
// under a new UUIDv7 (time-ordered) ID, synchronously, in one INSERT. It
// is a database round trip, so give the Store to Config.Events wrapped in
// auth.NewAsyncSink (which records on a goroutine of its own and never
// makes a flow wait), and unwrapped as Config.AuditLog:
//
//	events := auth.NewAsyncSink(st, 1024)
//	defer events.Close() // before st.Close: drains the queue
//	cfg := auth.Config{Events: events, AuditLog: st, ...}
//
// The insert ignores the cancellation of ctx (the action it records has
// taken effect) and gives up after five seconds. A zero e.Time is
// recorded as the Store's clock reads. Text is stored as valid UTF-8
// without NUL bytes (invalid sequences become U+FFFD) and each field is
// cut to 1 KiB. Record never panics and returns nothing: an event that
// cannot be stored is logged, at Error level, with its type and the cause.
func (s *Store) Record(ctx context.Context, e auth.Event) {
	id, err := uuid.NewV7()
	if err != nil {
		s.log.ErrorContext(ctx, "bunstore: audit event not recorded", "event", string(e.Type), "error", err)
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
	defer cancel()
	at := e.Time
	if at.IsZero() {
		at = s.now()
	}
	_, err = s.db.ExecContext(ctx, auditInsert, id.String(), auditText(string(e.Type)), s.at(at),
		auditID(e.TenantID), auditID(e.UserID), auditID(e.ActorID), auditID(e.SessionID),
		auditText(e.IP), auditText(e.UserAgent), auditText(e.Reason))
	if err != nil {
		err = s.fail(ctx, "Record", err) // logs the cause
		s.log.ErrorContext(ctx, "bunstore: audit event not recorded", "event", string(e.Type), "id", id.String(), "error", err)
	}
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
func (s *Store) AuditEvents(ctx context.Context, q auth.EventQuery) ([]auth.StoredEvent, error) {
	if q.Before != "" && !auth.ValidID(q.Before) {
		return nil, auth.ErrInvalidInput
	}
	if q.TenantID == "" {
		return []auth.StoredEvent{}, nil
	}
	query, args := s.auditQuery(q)
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, s.fail(ctx, "AuditEvents", err)
	}
	defer rows.Close()
	out := []auth.StoredEvent{}
	for rows.Next() {
		var e auth.StoredEvent
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
// normalised as Record stores them, so an event is found by the values it
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

// auditText returns s as Record stores it: valid UTF-8 (invalid sequences
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
