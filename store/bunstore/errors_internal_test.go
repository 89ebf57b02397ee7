package bunstore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/maestro-ml/auth"
	"github.com/stretchr/testify/require"
)

// pgErr imitates pgdriver.Error.
type pgErr map[byte]string

func (e pgErr) Field(k byte) string { return e[k] }
func (e pgErr) Error() string       { return "ERROR: " + e['M'] + " (SQLSTATE=" + e['C'] + ")" }

// pgxErr imitates pgx's *pgconn.PgError.
type pgxErr struct{ code, msg string }

func (e *pgxErr) SQLState() string { return e.code }
func (e *pgxErr) Error() string    { return "ERROR: " + e.msg + " (SQLSTATE " + e.code + ")" }

// liteErr imitates modernc.org/sqlite's *sqlite.Error.
type liteErr struct {
	code int
	msg  string
}

func (e *liteErr) Code() int     { return e.code }
func (e *liteErr) Error() string { return fmt.Sprintf("%s (%d)", e.msg, e.code) }

func TestClassify(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		err    error
		want   class
		detail string
	}{
		{"no rows", fmt.Errorf("scan: %w", sql.ErrNoRows), classNoRows, ""},
		{"conn done", sql.ErrConnDone, classUnavailable, ""},
		{"bad conn", driver.ErrBadConn, classUnavailable, ""},
		{"closed pool", errors.New("sql: database is closed"), classUnavailable, ""},
		{"refused", &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}, classUnavailable, ""},
		{"reset", fmt.Errorf("read: %w", syscall.ECONNRESET), classUnavailable, ""},
		{"eof", io.ErrUnexpectedEOF, classUnavailable, ""},
		{"i/o timeout", os.ErrDeadlineExceeded, classUnavailable, ""},
		{"deadline", fmt.Errorf("x: %w", context.DeadlineExceeded), classUnavailable, ""},
		{"canceled", fmt.Errorf("x: %w", context.Canceled), classCanceled, ""},
		{"pg unique", pgErr{'C': "23505", 'n': "auth_users_email_key"}, classUnique, "auth_users_email_key"},
		{"pg fk", pgErr{'C': "23503", 'n': "auth_users_tenant_id_fkey"}, classForeignKey, "auth_users_tenant_id_fkey"},
		{"pg bad uuid", pgErr{'C': "22P02"}, classInvalid, ""},
		{"pg not null", pgErr{'C': "23502"}, classInvalid, ""},
		{"pg shutdown", pgErr{'C': "57P01", 'V': "FATAL"}, classUnavailable, ""},
		{"pg too many connections", pgErr{'C': "53300"}, classUnavailable, ""},
		{"pg auth failed", pgErr{'C': "28P01"}, classUnavailable, ""},
		{"pg statement timeout", pgErr{'C': "57014"}, classUnavailable, ""},
		{"pg deadlock", pgErr{'C': "40P01"}, classUnavailable, ""},
		{"pg undefined table", pgErr{'C': "42P01"}, classOther, ""},
		{"pgx unique", &pgxErr{"23505", `duplicate key value violates unique constraint "auth_users_pkey"`}, classUnique, "auth_users_pkey"},
		{"sqlite unique", &liteErr{2067, "constraint failed: UNIQUE constraint failed: auth_users.email"}, classUnique, "auth_users.email"},
		{"sqlite pk", &liteErr{1555, "constraint failed: UNIQUE constraint failed: auth_users.id"}, classUnique, "auth_users.id"},
		{"sqlite fk", &liteErr{787, "constraint failed: FOREIGN KEY constraint failed"}, classForeignKey, ""},
		{"sqlite check", &liteErr{275, "constraint failed: CHECK constraint failed: json_valid(meta)"}, classInvalid, ""},
		{"sqlite busy", &liteErr{5, "database is locked"}, classUnavailable, ""},
		{"sqlite cantopen", &liteErr{14, "unable to open database file"}, classUnavailable, ""},
		{"mattn unique", errors.New("UNIQUE constraint failed: auth_tenants.slug"), classUnique, "auth_tenants.slug"},
		{"mattn busy", errors.New("database is locked"), classUnavailable, ""},
		{"other", errors.New("syntax error"), classOther, ""},
	} {
		cls, detail := classify(ctx, tc.err)
		require.Equal(t, tc.want, cls, tc.name)
		require.Contains(t, detail, tc.detail, tc.name)
	}

	cctx, cancel := context.WithCancel(ctx)
	cancel()
	cls, _ := classify(cctx, sql.ErrNoRows)
	require.Equal(t, classCanceled, cls, "a canceled call is never an answer")
}

func TestFailMessages(t *testing.T) {
	s := &Store{log: slog.New(slog.DiscardHandler)}
	ctx := context.Background()
	secret := `pq: password authentication failed; SELECT * FROM auth_users WHERE email = 'kate@x.com' (SQLSTATE 28P01)`

	err := s.fail(ctx, "UserByEmail", fmt.Errorf("%s: %w", secret, syscall.ECONNREFUSED))
	require.ErrorIs(t, err, auth.ErrUnavailable)
	require.Equal(t, "auth: service unavailable (bunstore.UserByEmail)", err.Error())

	err = s.fail(ctx, "Revoked", errors.New(secret))
	require.NotErrorIs(t, err, auth.ErrUnavailable)
	require.Equal(t, "auth: unexpected database error (bunstore.Revoked)", err.Error())

	dctx, cancel := context.WithTimeout(ctx, 0)
	defer cancel()
	err = s.fail(dctx, "User", errors.New(secret))
	require.ErrorIs(t, err, auth.ErrUnavailable)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.False(t, strings.Contains(err.Error(), "kate"))

	require.ErrorIs(t, s.fail(ctx, "CreateUser", pgErr{'C': "22P02"}), auth.ErrInvalidInput)
}
