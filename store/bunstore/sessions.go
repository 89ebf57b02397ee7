package bunstore

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/maestro-ml/auth"
	"github.com/uptrace/bun"
)

const sessionCols = "id, user_id, tenant_id, refresh_hash, previous_hash, rotated_at, created_at, last_used_at, idle_expires_at, expires_at, revoked_at, user_agent, ip, amr, auth_time"

func scanSession(sc scanner) (*auth.Session, error) {
	ss := new(auth.Session)
	var amr string
	if err := sc.Scan(&ss.ID, &ss.UserID, &ss.TenantID, &ss.RefreshHash, &ss.PreviousHash, timeDest{&ss.RotatedAt},
		timeDest{&ss.CreatedAt}, timeDest{&ss.LastUsedAt}, timeDest{&ss.IdleExpiresAt}, timeDest{&ss.ExpiresAt},
		timeDest{&ss.RevokedAt}, &ss.UserAgent, &ss.IP, &amr, timeDest{&ss.AuthTime}); err != nil {
		return nil, err
	}
	ss.AMR = parseAMR(amr)
	return ss, nil
}

// CreateSession implements auth.SessionStore: it inserts ss. Errors:
// auth.ErrUserNotFound if the user does not exist, auth.ErrConflict if the
// ID or refresh hash is in use, auth.ErrInvalidInput for a malformed ID, an
// empty refresh hash or a value the schema refuses, and errors wrapping
// auth.ErrUnavailable or context.Canceled.
func (s *Store) CreateSession(ctx context.Context, ss *auth.Session) error {
	if !auth.ValidID(ss.UserID) {
		return auth.ErrUserNotFound
	}
	if !auth.ValidID(ss.ID) || !auth.ValidID(ss.TenantID) || len(ss.RefreshHash) == 0 || hasNUL(ss.UserAgent, ss.IP) {
		return auth.ErrInvalidInput
	}
	amr, ok := formatAMR(ss.AMR)
	if !ok {
		return auth.ErrInvalidInput
	}
	var prev any
	if len(ss.PreviousHash) > 0 {
		prev = ss.PreviousHash
	}
	_, err := s.db.ExecContext(ctx, "INSERT INTO auth_sessions ("+sessionCols+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
		ss.ID, ss.UserID, ss.TenantID, ss.RefreshHash, prev, s.at(ss.RotatedAt), s.at(ss.CreatedAt), s.at(ss.LastUsedAt),
		s.at(ss.IdleExpiresAt), s.at(ss.ExpiresAt), s.at(ss.RevokedAt), ss.UserAgent, ss.IP, amr, s.at(ss.AuthTime))
	if err == nil {
		return nil
	}
	switch cls, _ := classify(ctx, err); cls {
	case classUnique:
		return auth.ErrConflict
	case classForeignKey:
		return auth.ErrUserNotFound
	default:
		return s.failClass(ctx, "CreateSession", err, cls)
	}
}

// SessionByRefreshHash implements auth.SessionStore: it returns the session
// whose current refresh hash, or any hash it has replaced
// (auth_session_hashes), equals hash, revoked or expired or not, or
// auth.ErrSessionNotFound. One query, two primary-key look-ups.
func (s *Store) SessionByRefreshHash(ctx context.Context, hash []byte) (*auth.Session, error) {
	if len(hash) == 0 {
		return nil, auth.ErrSessionNotFound
	}
	ss, err := scanSession(s.db.QueryRowContext(ctx,
		"SELECT "+sessionCols+" FROM auth_sessions WHERE refresh_hash = ?"+
			" UNION ALL SELECT "+prefixed("s.", sessionCols)+" FROM auth_session_hashes h JOIN auth_sessions s ON s.id = h.session_id WHERE h.hash = ?"+
			" LIMIT 1",
		hash, hash))
	if err == nil {
		return ss, nil
	}
	cls, _ := classify(ctx, err)
	if cls == classNoRows {
		return nil, auth.ErrSessionNotFound
	}
	return nil, s.failClass(ctx, "SessionByRefreshHash", err, cls)
}

// prefixed qualifies each column of a comma-separated list.
func prefixed(p, cols string) string {
	parts := strings.Split(cols, ", ")
	for i := range parts {
		parts[i] = p + parts[i]
	}
	return strings.Join(parts, ", ")
}

// RotateSession implements auth.SessionStore with one conditional UPDATE:
// the refresh hash of session id becomes r.To if, and only if, it still
// equals r.From and the session is not revoked; the old hash becomes the
// previous one and is added to auth_session_hashes in the same atomic
// step (one statement on PostgreSQL, one transaction on SQLite). Of
// concurrent calls with the same From exactly one succeeds. It returns the
// updated session; auth.ErrConflict if the hash moved on or the session is
// revoked; auth.ErrSessionNotFound if there is no such session.
func (s *Store) RotateSession(ctx context.Context, id string, r auth.Rotation) (*auth.Session, error) {
	if !auth.ValidID(id) {
		return nil, auth.ErrSessionNotFound
	}
	if len(r.From) == 0 || len(r.To) == 0 {
		return nil, auth.ErrInvalidInput
	}
	at := s.at(r.At)
	const update = "UPDATE auth_sessions SET previous_hash = refresh_hash, refresh_hash = ?, rotated_at = ?, last_used_at = ?, idle_expires_at = ?" +
		" WHERE id = ? AND refresh_hash = ? AND revoked_at IS NULL RETURNING " + sessionCols
	args := []any{r.To, at, at, s.at(r.IdleExpiresAt), id, r.From}
	var ss *auth.Session
	var err error
	if s.sqlite {
		err = s.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
			if ss, err = scanSession(tx.QueryRowContext(ctx, update, args...)); err != nil {
				return err
			}
			_, err = tx.ExecContext(ctx, "INSERT INTO auth_session_hashes (hash, session_id) VALUES (?, ?)", r.From, id)
			return err
		})
	} else {
		ss, err = scanSession(s.db.QueryRowContext(ctx,
			"WITH upd AS ("+update+"), retired AS (INSERT INTO auth_session_hashes (hash, session_id) SELECT ?, id FROM upd)"+
				" SELECT "+sessionCols+" FROM upd",
			append(args, r.From)...))
	}
	if err == nil {
		return ss, nil
	}
	switch cls, _ := classify(ctx, err); cls {
	case classNoRows:
		// Lost a race, stale hash or revoked; or no such session.
		var exists bool
		if err := s.db.QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM auth_sessions WHERE id = ?)", id).Scan(&exists); err != nil {
			return nil, s.fail(ctx, "RotateSession", err)
		}
		if exists {
			return nil, auth.ErrConflict
		}
		return nil, auth.ErrSessionNotFound
	case classUnique:
		return nil, auth.ErrConflict // r.To is another session's hash
	default:
		return nil, s.failClass(ctx, "RotateSession", err, cls)
	}
}

// ListSessions implements auth.SessionStore: it returns the user's
// sessions that are neither revoked nor expired at now, newest first.
func (s *Store) ListSessions(ctx context.Context, userID string, now time.Time) ([]*auth.Session, error) {
	if !auth.ValidID(userID) {
		return []*auth.Session{}, nil
	}
	t := s.at(now)
	rows, err := s.db.QueryContext(ctx, "SELECT "+sessionCols+" FROM auth_sessions"+
		" WHERE user_id = ? AND revoked_at IS NULL AND idle_expires_at > ? AND expires_at > ?"+
		" ORDER BY created_at DESC, id DESC", userID, t, t)
	if err != nil {
		return nil, s.fail(ctx, "ListSessions", err)
	}
	defer rows.Close()
	out := []*auth.Session{}
	for rows.Next() {
		ss, err := scanSession(rows)
		if err != nil {
			return nil, s.fail(ctx, "ListSessions", err)
		}
		out = append(out, ss)
	}
	if err := rows.Err(); err != nil {
		return nil, s.fail(ctx, "ListSessions", err)
	}
	return out, nil
}

// RevokeSessions implements auth.SessionStore: in one UPDATE it marks the
// selected sessions of r.UserID that are not revoked yet (expired ones
// included) revoked at r.At, and returns their IDs in ascending order;
// none selected is not an error.
func (s *Store) RevokeSessions(ctx context.Context, r auth.SessionRevocation) ([]string, error) {
	if !auth.ValidID(r.UserID) || (r.SessionID != "" && !auth.ValidID(r.SessionID)) {
		return []string{}, nil
	}
	var q strings.Builder
	q.WriteString("UPDATE auth_sessions SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL")
	args := []any{s.at(r.At), r.UserID}
	if r.SessionID != "" {
		q.WriteString(" AND id = ?")
		args = append(args, r.SessionID)
	}
	if r.ExceptID != "" && auth.ValidID(r.ExceptID) { // a malformed ID spares nothing
		q.WriteString(" AND id <> ?")
		args = append(args, r.ExceptID)
	}
	q.WriteString(" RETURNING id")
	rows, err := s.db.QueryContext(ctx, q.String(), args...)
	if err != nil {
		return nil, s.fail(ctx, "RevokeSessions", err)
	}
	defer rows.Close()
	ids := []string{}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, s.fail(ctx, "RevokeSessions", err)
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		return nil, s.fail(ctx, "RevokeSessions", err)
	}
	slices.Sort(ids)
	return ids, nil
}

// formatAMR stores authentication methods as one space-separated column;
// a method is a short word without spaces (auth.Session.AMR).
func formatAMR(amr []auth.Method) (string, bool) {
	var b strings.Builder
	for i, m := range amr {
		if m == "" || len(m) > 16 || strings.ContainsAny(string(m), " \x00") {
			return "", false
		}
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(string(m))
	}
	return b.String(), b.Len() <= 200
}

func parseAMR(s string) []auth.Method {
	if s == "" {
		return nil
	}
	f := strings.Fields(s)
	out := make([]auth.Method, len(f))
	for i, m := range f {
		out[i] = auth.Method(m)
	}
	return out
}
