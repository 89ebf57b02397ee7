package migrate_test

import (
	"context"
	"io/fs"
	"testing"

	"github.com/maestro-ml/auth/migrate"
	"github.com/stretchr/testify/require"
	"github.com/uptrace/bun/dialect"
)

// The tests against a database are in the modules store/bunstore/pgtest
// (PostgreSQL, including the lock tests) and store/bunstore/sqlitetest
// (SQLite), which keep the database drivers out of the library's go.mod.

// migrations is how many migrations the package has.
const migrations = 9

func TestFilesAndDialects(t *testing.T) {
	versions := map[dialect.Name][]string{}
	for _, d := range []dialect.Name{dialect.PG, dialect.SQLite} {
		fsys, err := migrate.Files(d)
		require.NoError(t, err)
		names, err := fs.Glob(fsys, "*.sql")
		require.NoError(t, err)
		require.Len(t, names, 2*migrations)
		for _, n := range names {
			require.Regexp(t, `^\d{14}_[a-z0-9_]+\.(up|down)\.sql$`, n)
			b, err := fs.ReadFile(fsys, n)
			require.NoError(t, err)
			require.NotEmpty(t, b)
		}
		versions[d] = names
	}
	require.Equal(t, versions[dialect.PG], versions[dialect.SQLite], "both dialects have the same migrations")

	_, err := migrate.Files(dialect.MySQL)
	require.Error(t, err)
	require.Error(t, migrate.Up(context.Background(), nil))
}
