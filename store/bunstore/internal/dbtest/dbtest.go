// Package dbtest holds the tests that bunstore must pass on every database,
// shared by the PostgreSQL tests in the module store/bunstore/pgtest and
// the SQLite tests in the module store/bunstore/sqlitetest. Both are
// modules of their own, so that no database driver enters the library's
// go.mod; this package imports none.
package dbtest

import (
	"crypto/rand"
	"encoding/hex"
	"testing"

	"github.com/uptrace/bun"
)

// Opener opens another handle on one database; the handle is closed when
// the test ends.
type Opener func(t testing.TB) *bun.DB

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
