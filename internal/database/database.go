// Package database opens the store behind the API: PostgreSQL through a pgx
// pool, or an embedded SQLite file through a pure-Go driver.
package database

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"
	"github.com/IBM/pgxpoolprometheus"
	"github.com/exaring/otelpgx"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgconn/ctxwatch"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"go.opentelemetry.io/otel/trace"
	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"github.com/taskapi/server/ent"
)

// DefaultSQLitePath is where the laptop database lives when DATABASE_URL is
// unset: in the working directory.
const DefaultSQLitePath = "tasks.db"

// Pool holds the PostgreSQL pool settings. Zero values keep the defaults
// (or what the URL's pool_* parameters say).
type Pool struct {
	MaxConns          int32         // default 15: the seed's pool of 5 plus 10 overflow
	MinConns          int32         // default 0
	MaxConnLifetime   time.Duration // default 1h: Neon may drop long-lived connections
	MaxConnIdleTime   time.Duration // default 30m
	HealthCheckPeriod time.Duration // default 1m
	// QueryExecMode is pgx's default_query_exec_mode. "exec" or
	// "simple_protocol" suit poolers that cannot keep prepared statements.
	QueryExecMode string
	// Tracer, when set, receives a span per statement, named by its
	// operation and holding its SQL text but never its arguments: every
	// value ent sends is an argument, so the text holds no user data.
	// Only statements under a recording span (a request's) are traced.
	Tracer trace.TracerProvider
}

// DefaultMaxConns is the pool size when nothing else is configured.
const DefaultMaxConns = 15

// DB is an open database and the ent client over it.
type DB struct {
	Client  *ent.Client
	SQL     *sql.DB
	Dialect string
	pool    *pgxpool.Pool
	path    string // SQLite's file, for errors
}

// hasScheme matches a URL's scheme (RFC 3986): a DATABASE_URL without one
// is a SQLite file's path.
var hasScheme = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9+.-]*:`)

// Close closes the client and the pool beneath it.
func (db *DB) Close() error {
	err := db.Client.Close()
	if db.pool != nil {
		db.pool.Close()
	}
	return err
}

// Ping reports whether the database answers.
func (db *DB) Ping(ctx context.Context) error {
	if db.pool != nil {
		return db.pool.Ping(ctx)
	}
	return db.SQL.PingContext(ctx)
}

// PoolStats collects the connection pool's statistics for Prometheus:
// pgxpool's on PostgreSQL (pgxpool_*), database/sql's on SQLite (go_sql_*),
// labelled db_name="tasks".
func (db *DB) PoolStats() prometheus.Collector {
	if db.pool != nil {
		return pgxpoolprometheus.NewCollector(db.pool, map[string]string{"db_name": "tasks"})
	}
	return collectors.NewDBStatsCollector(db.SQL, "tasks")
}

// ErrBadURL is returned for a DATABASE_URL that names no known database.
var ErrBadURL = errors.New("DATABASE_URL must be postgres://…, postgresql://…, sqlite:PATH or a file path such as ./tasks.db")

// Open opens the database named by rawURL: postgres:// or postgresql:// for
// PostgreSQL, sqlite:PATH or a plain file path (one with no scheme, such as
// ./tasks.db; empty is DefaultSQLitePath) for SQLite. It checks that the
// database answers before returning.
func Open(ctx context.Context, rawURL string, pool Pool) (*DB, error) {
	var (
		db  *DB
		err error
	)
	switch {
	case strings.HasPrefix(rawURL, "postgres://"), strings.HasPrefix(rawURL, "postgresql://"):
		db, err = openPostgres(ctx, rawURL, pool)
	case rawURL == "":
		db, err = openSQLite(DefaultSQLitePath)
	case strings.HasPrefix(rawURL, "sqlite:"):
		db, err = openSQLite(strings.TrimPrefix(strings.TrimPrefix(rawURL, "sqlite:"), "//"))
	case !hasScheme.MatchString(rawURL):
		db, err = openSQLite(rawURL)
	default:
		return nil, ErrBadURL
	}
	if err != nil {
		return nil, err
	}
	pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := db.Ping(pingCtx); err != nil {
		_ = db.Close()
		if db.Dialect == dialect.SQLite {
			return nil, fmt.Errorf("opening SQLite file %s: %w", db.path, err)
		}
		return nil, &pingError{err: err}
	}
	return db, nil
}

func openPostgres(ctx context.Context, rawURL string, p Pool) (*DB, error) {
	cfg, err := pgxpool.ParseConfig(rawURL)
	if err != nil {
		// pgx's message quotes the URL with its password masked.
		return nil, fmt.Errorf("parsing DATABASE_URL: %w", err)
	}
	switch {
	case p.MaxConns > 0:
		cfg.MaxConns = p.MaxConns
	case !setInURL(rawURL, "pool_max_conns"):
		cfg.MaxConns = DefaultMaxConns
	}
	if p.MinConns > 0 {
		cfg.MinConns = p.MinConns
	}
	if cfg.MinConns > cfg.MaxConns {
		return nil, fmt.Errorf("the pool keeps %d connections open (DB_MIN_CONNS) but holds only %d (DB_MAX_CONNS)", cfg.MinConns, cfg.MaxConns)
	}
	if p.MaxConnLifetime > 0 {
		cfg.MaxConnLifetime = p.MaxConnLifetime
	}
	if p.MaxConnIdleTime > 0 {
		cfg.MaxConnIdleTime = p.MaxConnIdleTime
	}
	if p.HealthCheckPeriod > 0 {
		cfg.HealthCheckPeriod = p.HealthCheckPeriod
	}
	if p.QueryExecMode != "" {
		mode, err := ParseQueryExecMode(p.QueryExecMode)
		if err != nil {
			return nil, err
		}
		cfg.ConnConfig.DefaultQueryExecMode = mode
	}
	// A request whose context ends (deadline, client gone) asks PostgreSQL
	// to cancel its statement, keeping the connection usable; only a
	// server that does not answer that within a second loses it.
	cfg.ConnConfig.BuildContextWatcherHandler = func(pc *pgconn.PgConn) ctxwatch.Handler {
		return &pgconn.CancelRequestContextWatcherHandler{Conn: pc, DeadlineDelay: time.Second}
	}
	if p.Tracer != nil {
		// otelpgx records arguments only with WithIncludeQueryParameters,
		// which stays off.
		cfg.ConnConfig.Tracer = otelpgx.NewTracer(otelpgx.WithTracerProvider(p.Tracer))
	}
	// pgxpool pings a connection that sat idle for over a second before
	// handing it out: the pre-ping the seed design asks for.
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("creating PostgreSQL pool: %w", err)
	}
	// ent runs on the pool itself (pgxdriver.go); database/sql over the
	// same pool serves migrations and tests.
	sqlDB := stdlib.OpenDBFromPool(pool)
	sqlDB.SetMaxOpenConns(int(cfg.MaxConns))
	// An idle database/sql connection holds a pool connection: none is
	// kept, so that ent has the whole pool.
	sqlDB.SetMaxIdleConns(0)
	return &DB{Client: ent.NewClient(ent.Driver(newPgxDriver(pool))), SQL: sqlDB, Dialect: dialect.Postgres, pool: pool}, nil
}

// setInURL reports whether the URL sets the parameter itself.
func setInURL(rawURL, param string) bool {
	u, err := url.Parse(rawURL)
	return err == nil && u.Query().Has(param)
}

// ParseQueryExecMode reads a DB_QUERY_EXEC_MODE value.
func ParseQueryExecMode(s string) (pgx.QueryExecMode, error) {
	modes := map[string]pgx.QueryExecMode{
		"cache_statement": pgx.QueryExecModeCacheStatement,
		"cache_describe":  pgx.QueryExecModeCacheDescribe,
		"describe_exec":   pgx.QueryExecModeDescribeExec,
		"exec":            pgx.QueryExecModeExec,
		"simple_protocol": pgx.QueryExecModeSimpleProtocol,
	}
	m, ok := modes[s]
	if !ok {
		return 0, fmt.Errorf("DB_QUERY_EXEC_MODE=%q is not cache_statement, cache_describe, describe_exec, exec or simple_protocol", s)
	}
	return m, nil
}

// openSQLite opens a SQLite file. One connection serialises access, so
// writers never meet SQLITE_BUSY; WAL lets another process (the sqlite3
// shell, say) read the file while the server writes.
func openSQLite(path string) (*DB, error) {
	if path == "" {
		return nil, ErrBadURL
	}
	dsn := "file:" + path + "?_pragma=foreign_keys(1)&_pragma=journal_mode(WAL)&_pragma=busy_timeout(5000)&_time_format=sqlite"
	sqlDB, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("opening SQLite %s: %w", path, err)
	}
	sqlDB.SetMaxOpenConns(1)
	drv := entsql.OpenDB(dialect.SQLite, sqlDB)
	return &DB{Client: ent.NewClient(ent.Driver(drv)), SQL: sqlDB, Dialect: dialect.SQLite, path: path}, nil
}

// pingError reports a database that does not answer on one line: pgx lists
// each address and TLS attempt on a line of its own.
type pingError struct{ err error }

func (e *pingError) Error() string {
	var lines []string
	for _, l := range strings.Split(e.err.Error(), "\n") {
		if l = strings.TrimSpace(l); l != "" && !slices.Contains(lines, l) {
			lines = append(lines, l)
		}
	}
	return "database does not answer: " + strings.Join(lines, " ")
}

func (e *pingError) Unwrap() error { return e.err }
