package database

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"

	entsql "entgo.io/ent/dialect/sql"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// TestScanMatchesPgx: pgxRows.Scan's direct types read every value as
// pgx's own path through sql.Scanner does (NULLs, zones, text and binary
// results), and refuse what that path refuses.
func TestScanMatchesPgx(t *testing.T) {
	ctx := context.Background()
	pool := testPool(t)
	dests := func() []any {
		return []any{new(uuid.UUID), new(sql.NullString), new(sql.NullString), new(sql.NullBool), new(sql.NullTime), new(sql.NullTime), new(sql.NullString), new(uuid.UUID), new(sql.NullTime), new(sql.NullString)}
	}
	const cols = `$1::uuid, $2::text, $3::varchar, $4::bool, $5::timestamptz, $6::timestamp, $7::char(3), $8::uuid, $9::date, $10::int`
	rows := [][]any{
		{"8f4b7b8e-1c1a-4c1e-9d5e-2f0b3c4d5e6f", "Milk ☕", "x", true, "2026-12-06 10:30:00.123456+02", "2026-12-06 10:30:00.5", "ab", nil, "2026-12-06", 7},
		{"00000000-0000-0000-0000-000000000000", nil, "", false, nil, nil, nil, nil, nil, nil},
		{nil, "", nil, nil, "1970-01-01 00:00:00+00", "0001-01-01 00:00:00", "abc", "8f4b7b8e-1c1a-4c1e-9d5e-2f0b3c4d5e6f", nil, -1},
	}
	for _, mode := range []pgx.QueryExecMode{pgx.QueryExecModeCacheStatement, pgx.QueryExecModeCacheDescribe, pgx.QueryExecModeExec, pgx.QueryExecModeSimpleProtocol} {
		for i, args := range rows {
			want := dests()
			if err := pool.QueryRow(ctx, "SELECT "+cols, append([]any{mode}, args...)...).Scan(want...); err != nil {
				t.Fatalf("%v row %d through pgx: %v", mode, i, err)
			}
			got := dests()
			if err := driverRow(pool, "SELECT "+cols, append([]any{mode}, args...), got...); err != nil {
				t.Fatalf("%v row %d: %v", mode, i, err)
			}
			for c := range want {
				if !reflect.DeepEqual(got[c], want[c]) {
					t.Errorf("%v row %d column %d: %#v, pgx reads %#v", mode, i, c, got[c], want[c])
				}
			}
		}
	}
	// Infinity: no time.Time holds it.
	for _, q := range []string{"SELECT 'infinity'::timestamptz", "SELECT '-infinity'::timestamp"} {
		if err := pool.QueryRow(ctx, q).Scan(new(sql.NullTime)); err == nil {
			t.Fatalf("%s: pgx read it into a time", q)
		}
		err := driverRow(pool, q, []any{}, new(sql.NullTime))
		if err == nil || !strings.Contains(err.Error(), "infinity") {
			t.Errorf("%s: %v, want an error naming infinity", q, err)
		}
	}
}

// TestUUIDArguments: ent's uuid.UUID arguments reach PostgreSQL as the
// same UUID in every query mode, and the caller's slice is not changed.
func TestUUIDArguments(t *testing.T) {
	pool := testPool(t)
	id := uuid.MustParse("8f4b7b8e-1c1a-4c1e-9d5e-2f0b3c4d5e6f")
	for _, mode := range []pgx.QueryExecMode{pgx.QueryExecModeCacheStatement, pgx.QueryExecModeCacheDescribe, pgx.QueryExecModeDescribeExec, pgx.QueryExecModeExec, pgx.QueryExecModeSimpleProtocol} {
		args := []any{id, "x", &id}
		var text, x string
		var same bool
		if err := driverRow(pool, "SELECT $1::uuid::text, $2::text, $3::uuid = '8f4b7b8e-1c1a-4c1e-9d5e-2f0b3c4d5e6f'::uuid", append([]any{mode}, args...), &text, &x, &same); err != nil {
			t.Fatalf("%v: %v", mode, err)
		}
		if text != id.String() || x != "x" || !same {
			t.Errorf("%v: read back %q, %q, %v", mode, text, x, same)
		}
		if args[0] != any(id) || args[2] != any(&id) {
			t.Errorf("%v: the caller's arguments changed: %v", mode, args)
		}
	}
}

// testPool is a pool on the TEST_DATABASE_URL server (testdb imports this
// package), its sessions in a zone far from UTC.
func testPool(t *testing.T) *pgxpool.Pool {
	t.Helper()
	url := os.Getenv("TEST_DATABASE_URL")
	if url == "" {
		t.Skip("PostgreSQL's: set TEST_DATABASE_URL")
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	cfg.ConnConfig.RuntimeParams["timezone"] = "Asia/Kolkata"
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// driverRow reads the one row of q through the driver, as ent does.
func driverRow(pool *pgxpool.Pool, q string, args []any, dest ...any) error {
	var r entsql.Rows
	if err := newPgxDriver(pool).Query(context.Background(), q, args, &r); err != nil {
		return err
	}
	defer r.Close()
	if !r.Next() {
		return fmt.Errorf("no row: %v", r.Err())
	}
	return r.Scan(dest...)
}
