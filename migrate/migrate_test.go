package migrate_test

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	atlasmigrate "ariga.io/atlas/sql/migrate"
	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"

	entmigrate "github.com/taskapi/server/ent/migrate"
	"github.com/taskapi/server/internal/database"
	"github.com/taskapi/server/internal/testdb"
	"github.com/taskapi/server/migrate"
)

// dirs maps each dialect to its migration directory in this package.
var dirs = map[string]string{dialect.Postgres: "postgres", dialect.SQLite: "sqlite"}

func TestMigrationsMatchEntSchema(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *database.DB) {
		if stmts := pendingDDL(t, db); len(stmts) > 0 {
			t.Errorf("ent/schema and migrate/%s disagree: after every migration, ent would still run\n\t%s\n"+
				"write the missing migration with: go run ./migrate/gen.go <name>",
				dirs[db.Dialect], strings.Join(stmts, "\n\t"))
		}
	})
}

// TestPendingDDLSeesADifference keeps the check above honest: with an index
// dropped behind ent's back, ent must want to create it again.
func TestPendingDDLSeesADifference(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *database.DB) {
		if _, err := db.SQL.Exec(`DROP INDEX idx_tasks_user_id_created_at`); err != nil {
			t.Fatal(err)
		}
		stmts := pendingDDL(t, db)
		if len(stmts) != 1 || !strings.Contains(stmts[0], "idx_tasks_user_id_created_at") {
			t.Errorf("after dropping an index, ent would run %q; want one statement creating it", stmts)
		}
	})
}

// pendingDDL returns the statements ent would run to bring db to ent/schema.
func pendingDDL(t *testing.T, db *database.DB) []string {
	t.Helper()
	var buf bytes.Buffer
	drv := entsql.OpenDB(db.Dialect, db.SQL)
	if err := entmigrate.NewSchema(drv).WriteTo(context.Background(), &buf); err != nil {
		t.Fatalf("ent schema diff against the migrated database: %v", err)
	}
	return ddl(buf.String())
}

// ddl returns the statements in a WriteTo output without comments, blank
// lines or brackets: BEGIN/COMMIT, and the PRAGMA foreign_keys off/on that
// ent puts around changes on SQLite.
func ddl(out string) []string {
	var stmts []string
	for line := range strings.Lines(out) {
		line = strings.TrimSpace(line)
		switch strings.ToUpper(strings.TrimSuffix(line, ";")) {
		case "", "BEGIN", "COMMIT", "PRAGMA FOREIGN_KEYS = OFF", "PRAGMA FOREIGN_KEYS = ON":
			continue
		}
		if strings.HasPrefix(line, "--") {
			continue
		}
		stmts = append(stmts, line)
	}
	return stmts
}

func TestMigrateTwiceIsNoOp(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *database.DB) {
		ctx := context.Background()
		// testdb.Open already applied every migration once.
		n, err := migrate.Up(ctx, db.SQL, db.Dialect)
		if err != nil {
			t.Fatalf("applying migrations a second time: %v", err)
		}
		if n != 0 {
			t.Errorf("second migrate.Up applied %d migrations, want 0", n)
		}
		pending, err := migrate.Pending(ctx, db.SQL, db.Dialect)
		if err != nil {
			t.Fatal(err)
		}
		if pending != 0 {
			t.Errorf("migrate.Pending = %d after migrating, want 0", pending)
		}
	})
}

// TestReplicasMigrateTogether starts several migrations at once on one
// empty database, as replicas starting together do: the lock lets one apply
// each migration and the others find nothing left to do.
func TestReplicasMigrateTogether(t *testing.T) {
	for _, d := range testdb.Dialects() {
		if d != dialect.Postgres {
			continue // one SQLite file has one server process
		}
		t.Run(d, func(t *testing.T) {
			ctx := context.Background()
			url := testdb.URL(t, d)
			const replicas = 4
			applied := make(chan int, replicas)
			errs := make(chan error, replicas)
			for range replicas {
				go func() {
					db, err := database.Open(ctx, url, database.Pool{MaxConns: 2})
					if err != nil {
						errs <- err
						return
					}
					defer db.Close()
					n, err := migrate.Up(ctx, db.SQL, db.Dialect)
					applied <- n
					errs <- err
				}()
			}
			total := 0
			for range replicas {
				if err := <-errs; err != nil {
					t.Errorf("a replica failed to migrate: %v", err)
				}
			}
			close(applied)
			for n := range applied {
				total += n
			}
			files, err := fs.Glob(mustFS(t, d), "*.sql")
			if err != nil {
				t.Fatal(err)
			}
			if total != len(files) {
				t.Errorf("replicas applied %d migrations in all, want each of the %d once", total, len(files))
			}
		})
	}
}

func mustFS(t *testing.T, d string) fs.FS {
	t.Helper()
	fsys, err := migrate.FS(d)
	if err != nil {
		t.Fatal(err)
	}
	return fsys
}

func TestMigrationDirectories(t *testing.T) {
	for _, d := range dirs {
		t.Run(d+" atlas.sum matches the files", func(t *testing.T) {
			dir, err := atlasmigrate.NewLocalDir(d)
			if err != nil {
				t.Fatal(err)
			}
			if err := atlasmigrate.Validate(dir); err != nil {
				var ce *atlasmigrate.ChecksumError
				if errors.As(err, &ce) {
					t.Fatalf("migrate/%s/atlas.sum: %v: file %q %s; a merged migration must not be edited "+
						"(new ones come from go run ./migrate/gen.go <name>)", d, err, ce.File, ce.Reason)
				}
				t.Fatalf("migrate/%s/atlas.sum: %v", d, err)
			}
		})
	}

	t.Run("both dialects have the same versions", func(t *testing.T) {
		names := map[string][]string{}
		for d, dir := range dirs {
			names[d] = sqlFiles(t, d, dir)
			if len(names[d]) == 0 {
				t.Errorf("migrate/%s has no migrations", dir)
			}
		}
		pg, lite := names[dialect.Postgres], names[dialect.SQLite]
		if !slices.Equal(pg, lite) {
			t.Errorf("migration files differ:\n\tpostgres: %v\n\tsqlite:   %v", pg, lite)
		}
	})
}

// sqlFiles lists the migrations of dialect d that migrate.Up applies (the
// embedded files), checking they are the ones on disk in dir too.
func sqlFiles(t *testing.T, d, dir string) []string {
	t.Helper()
	fsys, err := migrate.FS(d)
	if err != nil {
		t.Fatal(err)
	}
	embedded, err := fs.Glob(fsys, "*.sql")
	if err != nil {
		t.Fatal(err)
	}
	onDisk, err := filepath.Glob(filepath.Join(dir, "*.sql"))
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range onDisk {
		onDisk[i] = filepath.Base(p)
	}
	if !slices.Equal(embedded, onDisk) {
		t.Errorf("migrate/%s: embedded %v, on disk %v", dir, embedded, onDisk)
	}
	return embedded
}

func TestTasksTableInCatalog(t *testing.T) {
	wantColumns := []string{"id", "user_id", "title", "description", "is_completed", "created_at", "updated_at"}
	// One index serves every lookup by owner; a second on user_id alone
	// led PostgreSQL's generic plans to sort all of a user's rows.
	wantIndexes := map[string]string{
		"idx_tasks_user_id_created_at": "user_id, created_at DESC, id DESC",
	}
	testdb.Each(t, func(t *testing.T, db *database.DB) {
		var (
			columns map[string]bool // name → NOT NULL
			indexes map[string]string
		)
		switch db.Dialect {
		case dialect.Postgres:
			columns, indexes = postgresCatalog(t, db)
		case dialect.SQLite:
			columns, indexes = sqliteCatalog(t, db)
		default:
			t.Fatalf("unknown dialect %q", db.Dialect)
		}

		t.Run("it has exactly the expected columns", func(t *testing.T) {
			var got []string
			for c := range columns {
				got = append(got, c)
			}
			slices.Sort(got)
			want := slices.Sorted(slices.Values(wantColumns))
			if !slices.Equal(got, want) {
				t.Errorf("tasks columns = %v, want %v", got, want)
			}
		})
		t.Run("user_id is NOT NULL", func(t *testing.T) {
			if notNull, ok := columns["user_id"]; !ok || !notNull {
				t.Errorf("tasks.user_id: present %v, NOT NULL %v; want a NOT NULL column", ok, notNull)
			}
		})
		t.Run("no other index but the primary key's", func(t *testing.T) {
			for name := range indexes {
				if _, ok := wantIndexes[name]; !ok && name != "tasks_pkey" && !strings.HasPrefix(name, "sqlite_autoindex_") {
					t.Errorf("unexpected index %s on tasks", name)
				}
			}
		})
		for name, want := range wantIndexes {
			t.Run("index "+name+" is on ("+want+")", func(t *testing.T) {
				got, ok := indexes[name]
				if !ok {
					t.Fatalf("no index %s on tasks; indexes: %v", name, indexes)
				}
				if got != want {
					t.Errorf("index %s is on (%s), want (%s)", name, got, want)
				}
			})
		}
	})
}

// indexColumns takes the column list out of pg_indexes.indexdef, e.g.
// "CREATE INDEX i ON public.tasks USING btree (user_id, created_at DESC)".
var indexColumns = regexp.MustCompile(`USING \w+ \((.*)\)$`)

func postgresCatalog(t *testing.T, db *database.DB) (map[string]bool, map[string]string) {
	t.Helper()
	columns := map[string]bool{}
	rows, err := db.SQL.Query(`SELECT column_name, is_nullable FROM information_schema.columns
		WHERE table_schema = current_schema() AND table_name = 'tasks'`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var name, nullable string
		if err := rows.Scan(&name, &nullable); err != nil {
			t.Fatal(err)
		}
		columns[name] = nullable == "NO"
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	rows.Close()

	indexes := map[string]string{}
	rows, err = db.SQL.Query(`SELECT indexname, indexdef FROM pg_indexes
		WHERE schemaname = current_schema() AND tablename = 'tasks'`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var name, def string
		if err := rows.Scan(&name, &def); err != nil {
			t.Fatal(err)
		}
		m := indexColumns.FindStringSubmatch(def)
		if m == nil {
			t.Fatalf("cannot read the columns of index %s: %s", name, def)
		}
		indexes[name] = m[1]
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return columns, indexes
}

func sqliteCatalog(t *testing.T, db *database.DB) (map[string]bool, map[string]string) {
	t.Helper()
	columns := map[string]bool{}
	rows, err := db.SQL.Query(`SELECT name, "notnull" FROM pragma_table_info('tasks')`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var name string
		var notNull bool
		if err := rows.Scan(&name, &notNull); err != nil {
			t.Fatal(err)
		}
		columns[name] = notNull
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	rows.Close()

	// Indexes SQLite makes itself (sqlite_autoindex_*) have no SQL.
	var names []string
	rows, err = db.SQL.Query(`SELECT name FROM sqlite_master
		WHERE type = 'index' AND tbl_name = 'tasks' AND sql IS NOT NULL`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			t.Fatal(err)
		}
		names = append(names, name)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	rows.Close()

	indexes := map[string]string{}
	for _, name := range names {
		// key = 0 rows are the rowid SQLite appends to every index.
		rows, err := db.SQL.Query(`SELECT name, "desc" FROM pragma_index_xinfo(?) WHERE key = 1 ORDER BY seqno`, name)
		if err != nil {
			t.Fatal(err)
		}
		var cols []string
		for rows.Next() {
			var col string
			var desc bool
			if err := rows.Scan(&col, &desc); err != nil {
				t.Fatal(err)
			}
			if desc {
				col += " DESC"
			}
			cols = append(cols, col)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		rows.Close()
		indexes[name] = strings.Join(cols, ", ")
	}
	return columns, indexes
}
