// Package testdb gives each test a fresh database with the real migrations
// applied: SQLite always, and PostgreSQL too when TEST_DATABASE_URL is set.
package testdb

import (
	"context"
	"database/sql"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"entgo.io/ent/dialect"
	"github.com/google/uuid"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver for the admin connection

	"github.com/taskapi/server/internal/database"
	"github.com/taskapi/server/migrate"

	_ "github.com/taskapi/server/ent/runtime" // registers the privacy policy and hooks
)

// EnvURL names the PostgreSQL server the suite also runs on. The server may
// be shared: each test makes its own database there and drops it after.
const EnvURL = "TEST_DATABASE_URL"

// Dialects lists the databases the suite runs on: SQLite, and PostgreSQL
// when TEST_DATABASE_URL is set.
func Dialects() []string {
	if os.Getenv(EnvURL) != "" {
		return []string{dialect.SQLite, dialect.Postgres}
	}
	return []string{dialect.SQLite}
}

// Each runs f as a subtest on a fresh, migrated database of every dialect.
func Each(t *testing.T, f func(t *testing.T, db *database.DB)) {
	t.Helper()
	for _, d := range Dialects() {
		t.Run(d, func(t *testing.T) {
			f(t, Open(t, d))
		})
	}
}

// Open returns a fresh database of dialect d with every migration applied.
// It is closed, and on PostgreSQL dropped, when the test ends. If
// TEST_DATABASE_URL is set and the server does not answer, the test fails.
func Open(t testing.TB, d string) *database.DB {
	t.Helper()
	ctx := context.Background()
	rawURL := URL(t, d)
	db, err := database.Open(ctx, rawURL, database.Pool{MaxConns: 8})
	if err != nil {
		t.Fatalf("opening %s test database: %v", d, err)
	}
	t.Cleanup(func() { _ = db.Close() })
	if _, err := migrate.Up(ctx, db.SQL, db.Dialect); err != nil {
		t.Fatalf("migrating %s test database: %v", d, err)
	}
	return db
}

// URL returns a DATABASE_URL for a new, empty database of dialect d.
func URL(t testing.TB, d string) string {
	t.Helper()
	switch d {
	case dialect.SQLite:
		return "sqlite:" + filepath.Join(t.TempDir(), "tasks.db")
	case dialect.Postgres:
		return newPostgres(t)
	}
	t.Fatalf("unknown dialect %q", d)
	return ""
}

// newPostgres makes a database on the TEST_DATABASE_URL server and drops it
// when the test ends.
func newPostgres(t testing.TB) string {
	t.Helper()
	base := os.Getenv(EnvURL)
	if base == "" {
		t.Fatalf("%s is not set", EnvURL)
	}
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatalf("%s: %v", EnvURL, err)
	}
	t.Cleanup(func() { _ = admin.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	name := "tasks_test_" + strings.ReplaceAll(uuid.NewString(), "-", "")[:16]
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("creating test database on %s (is PostgreSQL running?): %v", EnvURL, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := admin.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("dropping test database %s: %v", name, err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("parsing %s: %v", EnvURL, err)
	}
	u.Path = "/" + name
	return u.String()
}
