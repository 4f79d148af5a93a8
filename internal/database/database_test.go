package database_test

import (
	"context"
	"sync"
	"testing"

	"entgo.io/ent/dialect"

	"github.com/taskapi/server/internal/testdb"
)

// database/sql keeps only two idle connections unless told otherwise; under
// load the rest would go back to pgxpool and be taken again on every query.
func TestPostgresKeepsIdleConnections(t *testing.T) {
	if len(testdb.Dialects()) < 2 {
		t.Skipf("PostgreSQL only; set %s", testdb.EnvURL)
	}
	db := testdb.Open(t, dialect.Postgres)
	const n = 8 // testdb's pool size
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			if _, err := db.SQL.ExecContext(context.Background(), "SELECT pg_sleep(0.05)"); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if s := db.SQL.Stats(); s.Idle != n || s.MaxIdleClosed != 0 {
		t.Fatalf("after %d concurrent queries: %d idle, %d closed as surplus; want %d idle, none closed", n, s.Idle, s.MaxIdleClosed, n)
	}
}
