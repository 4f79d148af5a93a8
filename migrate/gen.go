//go:build ignore

// gen writes the next migration of each dialect from ent/schema:
//
//	go run ./migrate/gen.go <name>
//
// It replays the existing migrations on a scratch database and writes only
// the difference. SQLite runs in memory; PostgreSQL needs a server, taken
// from DEV_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/postgres),
// on which a scratch database is made and dropped.
package main

import (
	"context"
	"database/sql"
	"fmt"
	"log"
	"net/url"
	"os"

	"ariga.io/atlas/sql/sqltool"
	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"
	"entgo.io/ent/dialect/sql/schema"
	"github.com/google/uuid"
	_ "github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite"

	"github.com/taskapi/server/ent/migrate"
)

func main() {
	if len(os.Args) != 2 {
		log.Fatal("usage: go run ./migrate/gen.go <name>")
	}
	name := os.Args[1]
	ctx := context.Background()

	sqliteDB, err := sql.Open("sqlite", "file:dev?mode=memory&_pragma=foreign_keys(1)")
	if err != nil {
		log.Fatal(err)
	}
	sqliteDB.SetMaxOpenConns(1)
	if err := diff(ctx, sqliteDB, dialect.SQLite, "migrate/sqlite", name); err != nil {
		log.Fatalf("sqlite: %v", err)
	}

	admin := os.Getenv("DEV_DATABASE_URL")
	if admin == "" {
		admin = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
	}
	pgDB, drop, err := scratchPostgres(ctx, admin)
	if err != nil {
		log.Fatalf("postgres: %v", err)
	}
	defer drop()
	if err := diff(ctx, pgDB, dialect.Postgres, "migrate/postgres", name); err != nil {
		drop()
		log.Fatalf("postgres: %v", err)
	}
}

func diff(ctx context.Context, db *sql.DB, d, path, name string) error {
	dir, err := sqltool.NewGooseDir(path)
	if err != nil {
		return err
	}
	m := migrate.NewSchema(entsql.OpenDB(d, db))
	return m.NamedDiff(ctx, name,
		schema.WithDir(dir),
		schema.WithMigrationMode(schema.ModeReplay),
		schema.WithDialect(d),
		schema.WithFormatter(sqltool.GooseFormatter),
		schema.WithDropColumn(true),
		schema.WithDropIndex(true),
	)
}

// scratchPostgres makes an empty database and returns it with its dropper.
func scratchPostgres(ctx context.Context, admin string) (*sql.DB, func(), error) {
	adminDB, err := sql.Open("pgx", admin)
	if err != nil {
		return nil, nil, err
	}
	name := "migrate_dev_" + uuid.NewString()[:8]
	if _, err := adminDB.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		return nil, nil, fmt.Errorf("creating scratch database: %w", err)
	}
	u, err := url.Parse(admin)
	if err != nil {
		return nil, nil, err
	}
	u.Path = "/" + name
	db, err := sql.Open("pgx", u.String())
	if err != nil {
		return nil, nil, err
	}
	return db, func() {
		_ = db.Close()
		_, _ = adminDB.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
		_ = adminDB.Close()
	}, nil
}
