// Package migrate holds the versioned SQL migrations of both dialects and
// applies them with goose. The files are written by gen.go from ent/schema
// and never edited once merged.
package migrate

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"time"

	"entgo.io/ent/dialect"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

//go:embed postgres/*.sql sqlite/*.sql
var files embed.FS

// FS returns the migrations of one dialect (dialect.Postgres or dialect.SQLite).
func FS(d string) (fs.FS, error) {
	switch d {
	case dialect.Postgres:
		return fs.Sub(files, "postgres")
	case dialect.SQLite:
		return fs.Sub(files, "sqlite")
	}
	return nil, fmt.Errorf("no migrations for dialect %q", d)
}

// Up applies every migration not yet applied and returns how many ran.
func Up(ctx context.Context, db *sql.DB, d string) (int, error) {
	p, err := newProvider(db, d)
	if err != nil {
		return 0, err
	}
	results, err := p.Up(ctx)
	if err != nil {
		return len(results), fmt.Errorf("applying migrations: %w", err)
	}
	return len(results), nil
}

// Pending reports how many migrations have not been applied.
func Pending(ctx context.Context, db *sql.DB, d string) (int, error) {
	p, err := newProvider(db, d)
	if err != nil {
		return 0, err
	}
	status, err := p.Status(ctx)
	if err != nil {
		return 0, fmt.Errorf("reading migration status: %w", err)
	}
	n := 0
	for _, s := range status {
		if s.State == goose.StatePending {
			n++
		}
	}
	return n, nil
}

func newProvider(db *sql.DB, d string) (*goose.Provider, error) {
	fsys, err := FS(d)
	if err != nil {
		return nil, err
	}
	gd, opts := goose.DialectSQLite3, []goose.ProviderOption(nil)
	if d == dialect.Postgres {
		// Replicas starting together take turns. A lock row, not an advisory
		// lock: session locks do not survive a transaction-mode pooler.
		// Polled each second for up to five minutes.
		locker, err := lock.NewPostgresTableLocker(lock.WithTableLockTimeout(time.Second, 300))
		if err != nil {
			return nil, fmt.Errorf("creating migration lock: %w", err)
		}
		gd, opts = goose.DialectPostgres, append(opts, goose.WithLocker(locker))
	}
	p, err := goose.NewProvider(gd, db, fsys, opts...)
	if err != nil {
		return nil, fmt.Errorf("loading migrations: %w", err)
	}
	return p, nil
}
