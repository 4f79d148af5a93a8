package database_test

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"testing"

	"entgo.io/ent/dialect"

	"github.com/taskapi/server/ent/task"
	"github.com/taskapi/server/internal/database"
	"github.com/taskapi/server/internal/testdb"
	"github.com/taskapi/server/internal/viewer"
	"github.com/taskapi/server/migrate"

	_ "github.com/taskapi/server/ent/runtime" // the privacy policy
)

// TestCustomPlans: ent's queries run as prepared statements, except under
// WithCustomPlans, where each is planned for its values.
func TestCustomPlans(t *testing.T) {
	ctx := context.Background()
	// One connection, so that the statements and the check share a session.
	db := openMigrated(t, database.Pool{MaxConns: 1}, nil)
	alice := viewer.NewContext(ctx, viewer.Viewer{Subject: "alice"})
	prepared := func() int {
		t.Helper()
		var n int
		if err := db.SQL.QueryRowContext(ctx, `SELECT count(*) FROM pg_prepared_statements WHERE starts_with(statement, 'SELECT "tasks".')`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if _, err := db.Client.Task.Query().Where(task.TitleContains("x")).All(database.WithCustomPlans(alice)); err != nil {
		t.Fatal(err)
	}
	if n := prepared(); n != 0 {
		t.Errorf("under WithCustomPlans: %d prepared statements, want 0", n)
	}
	if _, err := db.Client.Task.Query().Where(task.TitleContains("x")).All(alice); err != nil {
		t.Fatal(err)
	}
	if n := prepared(); n != 1 {
		t.Errorf("by default: %d prepared statements, want 1", n)
	}
}

// TestCommitAfterContextEnds: a transaction whose context ended before its
// COMMIT rolls back, reports the context's error, and leaves its connection
// in the pool (pgx would close a connection whose COMMIT was cancelled).
func TestCommitAfterContextEnds(t *testing.T) {
	ctx := context.Background()
	db := openMigrated(t, database.Pool{MaxConns: 1}, nil)
	backend := func() int {
		t.Helper()
		var pid int
		if err := db.SQL.QueryRowContext(ctx, "SELECT pg_backend_pid()").Scan(&pid); err != nil {
			t.Fatal(err)
		}
		return pid
	}
	before := backend()
	reqCtx, cancel := context.WithCancel(viewer.NewContext(ctx, viewer.Viewer{Subject: "alice"}))
	tx, err := db.Client.Tx(reqCtx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Task.Create().SetTitle("never committed").Save(reqCtx); err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := tx.Commit(); !errors.Is(err, context.Canceled) {
		t.Errorf("commit after the context ended: %v, want context.Canceled", err)
	}
	if after := backend(); after != before {
		t.Errorf("the connection was replaced (backend %d, then %d)", before, after)
	}
	n, err := db.Client.Task.Query().Count(viewer.NewContext(ctx, viewer.Viewer{Subject: "alice"}))
	if err != nil || n != 0 {
		t.Errorf("tasks after the rolled-back transaction: %d, %v", n, err)
	}
}

// TestCustomPlansReadTimesAnyDateStyle: custom-plan queries read results
// in binary, as prepared ones do, so a database whose DateStyle is not ISO
// (pgx parses timestamps in text only in ISO) still reads its times.
func TestCustomPlansReadTimesAnyDateStyle(t *testing.T) {
	ctx := context.Background()
	db := openMigrated(t, database.Pool{}, func(sqlDB *sql.DB) error {
		var name string
		if err := sqlDB.QueryRowContext(ctx, "SELECT current_database()").Scan(&name); err != nil {
			return err
		}
		_, err := sqlDB.ExecContext(ctx, `ALTER DATABASE "`+name+`" SET DateStyle = 'SQL, DMY'`)
		return err
	})
	alice := viewer.NewContext(ctx, viewer.Viewer{Subject: "alice"})
	made, err := db.Client.Task.Create().SetTitle("t").Save(alice)
	if err != nil {
		t.Fatal(err)
	}
	got, err := db.Client.Task.Query().Where(task.CreatedAtLTE(made.CreatedAt)).All(database.WithCustomPlans(alice))
	if err != nil || len(got) != 1 || !got[0].CreatedAt.Equal(made.CreatedAt) {
		t.Fatalf("read under WithCustomPlans with DateStyle SQL, DMY: %v, %v", got, err)
	}
}

// openMigrated makes a migrated PostgreSQL database, run first by alter
// (SQL on the migrated database, or nil), and opens it with pool.
func openMigrated(t *testing.T, pool database.Pool, alter func(*sql.DB) error) *database.DB {
	t.Helper()
	if os.Getenv(testdb.EnvURL) == "" {
		t.Skip("PostgreSQL's: set TEST_DATABASE_URL")
	}
	ctx := context.Background()
	url := testdb.URL(t, dialect.Postgres)
	setup, err := database.Open(ctx, url, database.Pool{})
	if err != nil {
		t.Fatal(err)
	}
	// Migrating takes two connections (goose's lock and the migration).
	_, err = migrate.Up(ctx, setup.SQL, setup.Dialect)
	if err == nil && alter != nil {
		err = alter(setup.SQL)
	}
	setup.Close()
	if err != nil {
		t.Fatal(err)
	}
	db, err := database.Open(ctx, url, pool)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}
