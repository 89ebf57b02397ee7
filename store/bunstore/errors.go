package bunstore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/maestro-ml/auth"
	"github.com/maestro-ml/auth/internal/errs"
)

// class is what a database error means to the store.
type class int

const (
	classOther       class = iota // unexpected: a bug or a misconfiguration
	classNoRows                   // sql.ErrNoRows
	classUnique                   // unique or primary key violation
	classForeignKey               // foreign key violation
	classInvalid                  // a value the schema refuses
	classUnavailable              // the database cannot answer now
	classCanceled                 // the caller's context was canceled
)

// errUnexpected is wrapped by errors the store cannot classify; their cause
// is logged at Error level.
var errUnexpected = errors.New("auth: unexpected database error")

// fail turns an error that the calling operation did not translate itself
// into one that carries no driver text, logging the cause.
func (s *Store) fail(ctx context.Context, op string, err error) error {
	cls, _ := classify(ctx, err)
	return s.failClass(ctx, op, err, cls)
}

func (s *Store) failClass(ctx context.Context, op string, err error, cls class) error {
	switch cls {
	case classCanceled:
		return errs.Op("bunstore."+op, context.Canceled)
	case classUnavailable:
		s.log.WarnContext(ctx, "bunstore: database unavailable", "op", op, "error", err)
		if errors.Is(err, context.DeadlineExceeded) || deadlinePassed(ctx) {
			return errs.Op("bunstore."+op, auth.ErrUnavailable, context.DeadlineExceeded)
		}
		return errs.Op("bunstore."+op, auth.ErrUnavailable)
	case classInvalid:
		s.log.DebugContext(ctx, "bunstore: value refused by the schema", "op", op, "error", err)
		return auth.ErrInvalidInput
	}
	s.log.ErrorContext(ctx, "bunstore: unexpected database error", "op", op, "error", err)
	return errs.Op("bunstore."+op, errUnexpected)
}

// deadlinePassed reports whether ctx has a deadline that has passed, even if
// its timer has not fired yet: a driver's network deadline, set from the
// context's, can expire a moment before the context does.
func deadlinePassed(ctx context.Context) bool {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return true
	}
	dl, ok := ctx.Deadline()
	return ok && !time.Now().Before(dl)
}

// pgFielder is pgdriver.Error.
type pgFielder interface{ Field(byte) string }

// sqlStater is implemented by pgx's *pgconn.PgError and lib/pq's *pq.Error.
type sqlStater interface{ SQLState() string }

// sqliteCoder is modernc.org/sqlite's *sqlite.Error (an extended result code).
type sqliteCoder interface{ Code() int }

// classify says what err means and returns the detail that names the
// violated constraint: the constraint name on PostgreSQL when the driver
// gives it, else the driver's message (SQLite: "UNIQUE constraint failed:
// auth_users.email"). It works with pgdriver, pgx, lib/pq,
// modernc.org/sqlite and mattn/go-sqlite3 without importing any.
func classify(ctx context.Context, err error) (class, string) {
	// Whatever the driver said once the context is done, it is not an answer.
	if errors.Is(ctx.Err(), context.Canceled) {
		return classCanceled, ""
	}
	if deadlinePassed(ctx) {
		return classUnavailable, ""
	}
	switch {
	case errors.Is(err, context.Canceled):
		return classCanceled, ""
	case errors.Is(err, context.DeadlineExceeded):
		return classUnavailable, ""
	case errors.Is(err, sql.ErrNoRows):
		return classNoRows, ""
	}
	var pf pgFielder
	if errors.As(err, &pf) && pf.Field('C') != "" {
		detail := pf.Field('n')
		if detail == "" {
			detail = err.Error()
		}
		return pgClass(pf.Field('C')), detail
	}
	var ss sqlStater
	if errors.As(err, &ss) && len(ss.SQLState()) == 5 {
		return pgClass(ss.SQLState()), err.Error()
	}
	if connErr(err) {
		return classUnavailable, ""
	}
	msg := err.Error()
	var sc sqliteCoder
	if errors.As(err, &sc) {
		if c := sqliteClass(sc.Code()); c != classOther {
			return c, msg
		}
	}
	return sqliteMessageClass(msg), msg
}

// pgClass maps a SQLSTATE (PostgreSQL Appendix A).
func pgClass(code string) class {
	switch code {
	case "23505":
		return classUnique
	case "23503":
		return classForeignKey
	case "23502", "23514":
		return classInvalid
	case "40001", "40P01", "55P03", "57014", "3D000":
		// serialization failure, deadlock, lock not available, statement
		// timeout, database does not exist: retry later.
		return classUnavailable
	}
	switch code[:2] {
	case "22": // data exception: malformed uuid, bad JSON, ...
		return classInvalid
	case "08", "28", "53", "57", "58":
		// connection exception, invalid authorization, insufficient
		// resources, operator intervention, system error.
		return classUnavailable
	}
	return classOther
}

// sqliteClass maps an SQLite (extended) result code.
func sqliteClass(code int) class {
	switch code {
	case 2067, 1555: // SQLITE_CONSTRAINT_UNIQUE, SQLITE_CONSTRAINT_PRIMARYKEY
		return classUnique
	case 787: // SQLITE_CONSTRAINT_FOREIGNKEY
		return classForeignKey
	case 275, 1299, 3091: // SQLITE_CONSTRAINT_CHECK, _NOTNULL, _DATATYPE
		return classInvalid
	}
	switch code & 0xff {
	case 5, 6, 7, 10, 13, 14, 15:
		// BUSY, LOCKED, NOMEM, IOERR, FULL, CANTOPEN, PROTOCOL
		return classUnavailable
	}
	return classOther
}

// sqliteMessageClass classifies by SQLite's own messages, for drivers whose
// error type has no Code method.
func sqliteMessageClass(msg string) class {
	switch {
	case strings.Contains(msg, "UNIQUE constraint failed"):
		return classUnique
	case strings.Contains(msg, "FOREIGN KEY constraint failed"):
		return classForeignKey
	case strings.Contains(msg, "CHECK constraint failed"), strings.Contains(msg, "NOT NULL constraint failed"),
		strings.Contains(msg, "cannot store"):
		return classInvalid
	case strings.Contains(msg, "database is locked"), strings.Contains(msg, "database table is locked"),
		strings.Contains(msg, "unable to open database file"), strings.Contains(msg, "disk I/O error"),
		strings.Contains(msg, "database or disk is full"):
		return classUnavailable
	}
	return classOther
}

// connErr reports whether err means the connection or pool is unusable.
func connErr(err error) bool {
	if errors.Is(err, sql.ErrConnDone) || errors.Is(err, driver.ErrBadConn) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, net.ErrClosed) || errors.Is(err, os.ErrDeadlineExceeded) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ETIMEDOUT) ||
		errors.Is(err, syscall.EHOSTUNREACH) || errors.Is(err, syscall.ENETUNREACH) {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return true
	}
	// database/sql's unexported errDBClosed, returned once db.Close was called.
	return err.Error() == "sql: database is closed"
}

// isConstraint reports whether detail names the constraint: the
// PostgreSQL constraint name, or SQLite's "table.column" list.
func isConstraint(detail, pgName, sqliteCols string) bool {
	return strings.Contains(detail, pgName) || (sqliteCols != "" && strings.Contains(detail, sqliteCols))
}
