package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"runtime"
	"time"

	"github.com/maestro-ml/auth"
	"github.com/maestro-ml/auth/migrate"
	"github.com/maestro-ml/auth/store/bunstore"
	"github.com/maestro-ml/auth/store/redisstore"
	"github.com/redis/rueidis"
	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect/pgdialect"
	"github.com/uptrace/bun/dialect/sqlitedialect"
	"github.com/uptrace/bun/driver/pgdriver"
	"github.com/uptrace/bun/extra/bunotel"
	_ "modernc.org/sqlite" // the pure-Go SQLite driver, registered as "sqlite"
)

// sqlitePragmas are the settings package bunstore recommends, as a
// modernc.org/sqlite DSN query: foreign keys (required), WAL so readers
// never wait for the writer, a busy timeout instead of instant SQLITE_BUSY,
// NORMAL sync (safe in WAL mode), and write-locking transactions.
const sqlitePragmas = "_pragma=foreign_keys(1)&_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)&_pragma=synchronous(NORMAL)&_txlock=immediate"

// openDB opens the database of DATABASE_URL: SQLite for sqlite:PATH,
// otherwise PostgreSQL through bun's pgdriver. It does not connect yet.
func openDB(cfg *config) (*bun.DB, error) {
	if path, ok := cfg.sqlitePath(); ok {
		// The file holds password hashes: create it readable by its owner
		// only (SQLite gives its -wal and -shm files the same mode).
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			return nil, fmt.Errorf("DATABASE_URL: %w", err)
		}
		f.Close()
		sqldb, err := sql.Open("sqlite", "file:"+(&url.URL{Path: path}).EscapedPath()+"?"+sqlitePragmas)
		if err != nil {
			return nil, fmt.Errorf("opening %s: %w", path, err)
		}
		return bun.NewDB(sqldb, sqlitedialect.New()), nil
	}
	sqldb := sql.OpenDB(pgdriver.NewConnector(pgdriver.WithDSN(cfg.DatabaseURL)))
	// bun's advice for PostgreSQL pools: a few connections per CPU.
	n := 4 * runtime.GOMAXPROCS(0)
	sqldb.SetMaxOpenConns(n)
	sqldb.SetMaxIdleConns(n)
	return bun.NewDB(sqldb, pgdialect.New()), nil
}

// migrateUp applies the library's migrations, then the example's own.
func migrateUp(ctx context.Context, db *bun.DB, log *slog.Logger) error {
	if err := migrate.Up(ctx, db, migrate.WithLogger(log)); err != nil {
		return fmt.Errorf("migrating the auth tables: %w", err)
	}
	if err := appMigrateUp(ctx, db, log); err != nil {
		return fmt.Errorf("migrating the example tables: %w", err)
	}
	return nil
}

// stores holds every connection the server keeps state in, and closes
// them in order.
type stores struct {
	db  *bun.DB
	sql *bunstore.Store
	// redis and its store are nil without REDIS_URL or REDIS_ADDRS.
	redis      rueidis.Client
	redisStore *redisstore.Store
}

// openSQL opens and migrates the database and returns it with its store.
func openSQL(ctx context.Context, cfg *config, log *slog.Logger, tel *telemetry, opts ...bunstore.Option) (*bun.DB, *bunstore.Store, error) {
	db, err := openDB(cfg)
	if err != nil {
		return nil, nil, err
	}
	if tel != nil && tel.tracer != nil {
		// bun's own instrumentation: a span and duration metrics per query.
		// Queries are recorded as templates, never with their arguments
		// (which include password and refresh-token hashes).
		db = db.WithQueryHook(bunotel.NewQueryHook(bunotel.WithDBName("auth"), bunotel.WithFormattedQueries(false),
			bunotel.WithTracerProvider(tel.tracer), bunotel.WithMeterProvider(tel.meter)))
	}
	if err := migrateUp(ctx, db, log); err != nil {
		db.Close()
		return nil, nil, err
	}
	st, err := bunstore.New(db, append([]bunstore.Option{bunstore.WithLogger(log)}, opts...)...)
	if err != nil {
		db.Close()
		return nil, nil, fmt.Errorf("database: %w", err)
	}
	return db, st, nil
}

// openStores opens and migrates the database, and connects to Redis if
// configured.
func openStores(ctx context.Context, cfg *config, log *slog.Logger, tel *telemetry) (*stores, error) {
	db, st, err := openSQL(ctx, cfg, log, tel, bunstore.WithAuditRetention(cfg.AuditRetention))
	if err != nil {
		return nil, err
	}
	s := &stores{db: db, sql: st}
	if cfg.RedisURL == "" && len(cfg.RedisAddrs) == 0 {
		return s, nil
	}
	if s.redis, err = newRedisClient(cfg); err != nil {
		s.Close()
		return nil, err
	}
	redisOpts := []redisstore.Option{}
	if tel.meter != nil {
		redisOpts = append(redisOpts, redisstore.WithMeterProvider(tel.meter)) // revocation-cache hit ratio
	}
	if cfg.RedisReplica {
		redisOpts = append(redisOpts, redisstore.WithReplica(0))
	}
	if s.redisStore, err = redisstore.New(s.redis, append(redisOpts, redisstore.WithPrefix(cfg.RedisPrefix),
		redisstore.WithTimeout(cfg.RedisTimeout), redisstore.WithLogger(log))...); err != nil {
		s.Close()
		return nil, fmt.Errorf("REDIS_PREFIX: %w", err)
	}
	if err := s.redisStore.Check(ctx); err != nil {
		if !cfg.RedisEviction || errors.Is(err, auth.ErrUnavailable) {
			s.Close()
			return nil, fmt.Errorf("REDIS_URL: %w (REDIS_ALLOW_EVICTION=true starts anyway, insecurely)", err)
		}
		log.Error("starting although Redis may evict revocations (REDIS_ALLOW_EVICTION)", "error", err)
	}
	return s, nil
}

// newRedisClient connects to the Redis of REDIS_URL, or to the cluster of
// REDIS_ADDRS. rueidis uses RESP3 with client-side caching by default,
// which is what makes redisstore's revocation checks local.
func newRedisClient(cfg *config) (rueidis.Client, error) {
	opt := rueidis.ClientOption{InitAddress: cfg.RedisAddrs, ShuffleInit: true, Password: cfg.RedisPassword}
	name := "REDIS_ADDRS"
	if cfg.RedisURL != "" {
		var err error
		if opt, err = rueidis.ParseURL(cfg.RedisURL); err != nil {
			return nil, errors.New("REDIS_URL: not a valid URL")
		}
		name = "REDIS_URL"
	}
	// Notice a silently dead connection (and drop its cache) within seconds.
	opt.ConnWriteTimeout = 2 * time.Second
	client, err := rueidis.NewClient(opt)
	if err != nil {
		return nil, fmt.Errorf("%s: cannot connect to Redis: %w", name, err)
	}
	return client, nil
}

// revocations is where the deny-list lives: Redis when configured (one
// cached look-up per request, shared by every instance), else the SQL
// database.
func (s *stores) revocations() auth.RevocationStore {
	if s.redisStore != nil {
		return s.redisStore
	}
	return s.sql
}

// limiter is the rate limiter: Redis, shared by every instance, when
// configured; nil (the Authenticator's in-process one) otherwise.
func (s *stores) limiter() auth.Limiter {
	if s.redisStore != nil {
		return s.redisStore
	}
	return nil
}

// ready checks that the database and Redis answer, for /readyz.
func (s *stores) ready(ctx context.Context) map[string]error {
	checks := map[string]error{"database": s.db.PingContext(ctx)}
	if s.redis != nil {
		checks["redis"] = s.redis.Do(ctx, s.redis.B().Ping().Build()).Error()
	}
	return checks
}

// Close stops the store's janitor and closes Redis and the database.
func (s *stores) Close() error {
	s.sql.Close()
	if s.redisStore != nil {
		_ = s.redisStore.Close() // the replica's goroutines, before the client they use
	}
	if s.redis != nil {
		s.redis.Close()
	}
	return s.db.Close()
}
