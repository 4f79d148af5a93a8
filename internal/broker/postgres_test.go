package broker

import (
	"context"
	"crypto/rand"
	"fmt"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// TestPostgres runs the conformance suite on the PostgreSQL server named by
// TEST_DATABASE_URL, in a database of its own: NOTIFY does not cross
// databases, and refusing connections to it makes an outage.
func TestPostgres(t *testing.T) {
	admin := os.Getenv("TEST_DATABASE_URL")
	if admin == "" {
		t.Skip("TEST_DATABASE_URL is not set: skipping the PostgreSQL broker suite")
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatalf("TEST_DATABASE_URL is set but the server does not answer: %v", err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	db := "broker_test_" + rand.Text()[:12]
	exec(t, conn, "CREATE DATABASE "+pgx.Identifier{db}.Sanitize())
	t.Cleanup(func() { exec(t, conn, "DROP DATABASE "+pgx.Identifier{db}.Sanitize()+" WITH (FORCE)") })
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatalf("parsing TEST_DATABASE_URL: %v", err)
	}
	u.Path = "/" + db
	dbURL := u.String()

	pub, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatalf("connecting to %s: %v", db, err)
	}
	t.Cleanup(func() { pub.Close(context.Background()) })

	testConformance(t, backend{
		instances: func(t *testing.T) (Broker, Broker) {
			t.Helper()
			return openPostgres(t, dbURL, nil), openPostgres(t, dbURL, nil)
		},
		foreign: func(t *testing.T, userID string) {
			t.Helper()
			for _, payload := range []string{`{"table":"tasks"}`, "1C", "1Cnot-a-uuid-at-all-but-36-bytes-long" + userID} {
				if _, err := pub.Exec(ctx, "SELECT pg_notify($1, $2)", DefaultChannel, payload); err != nil {
					t.Fatalf("notifying %q: %v", payload, err)
				}
			}
		},
		outage: func(t *testing.T) func() {
			t.Helper()
			exec(t, conn, "ALTER DATABASE "+pgx.Identifier{db}.Sanitize()+" ALLOW_CONNECTIONS false")
			var killed int
			err := conn.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
				WHERE datname = $1 AND application_name = $2`, db, ListenerName(DefaultChannel)).Scan(&killed)
			if err != nil || killed == 0 {
				t.Fatalf("terminating the listeners: %d terminated, %v", killed, err)
			}
			return func() {
				exec(t, conn, "ALTER DATABASE "+pgx.Identifier{db}.Sanitize()+" ALLOW_CONNECTIONS true")
			}
		},
	})

	t.Run("a quiet listener is pinged and stays up", func(t *testing.T) {
		quick := func(o *Options) { o.HealthInterval = 5 * time.Millisecond }
		b := openPostgres(t, dbURL, quick)
		testHealthCheck(t, openPostgres(t, dbURL, nil), b, b.pings.Load)
	})
}

func openPostgres(t *testing.T, connString string, tune func(*Options)) *Postgres {
	t.Helper()
	opts := testOptions(t)
	if tune != nil {
		tune(&opts)
	}
	p, err := NewPostgres(context.Background(), connString, opts)
	if err != nil {
		t.Fatalf("NewPostgres: %v", err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func exec(t *testing.T, conn *pgx.Conn, sql string) {
	t.Helper()
	if _, err := conn.Exec(context.Background(), sql); err != nil {
		t.Fatal(fmt.Errorf("%s: %w", sql, err))
	}
}
