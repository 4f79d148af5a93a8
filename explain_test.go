package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"

	"github.com/taskapi/server/ent"
	"github.com/taskapi/server/internal/database"
	"github.com/taskapi/server/internal/testdb"
)

// Size of the seeded table: enough users that one user's tasks are a small
// slice of it, as in production, so the planner has a real choice to make.
const (
	planUsers        = 300
	planTasksPerUser = 50
)

// TestTaskListingPlan checks what one page of tasks costs on PostgreSQL: how
// many statements, which columns, and that the plan uses the listing index.
// SQLite has no comparable planner output, so this runs on PostgreSQL only.
func TestTaskListingPlan(t *testing.T) {
	if os.Getenv(testdb.EnvURL) == "" {
		t.Skip("the query plan is PostgreSQL's: set TEST_DATABASE_URL")
	}
	db := testdb.Open(t, dialect.Postgres)
	seedUsers(t, db, planUsers, planTasksPerUser)

	rec := &recordingDriver{Driver: entsql.OpenDB(dialect.Postgres, db.SQL)}
	// Not closed here: closing it would close db.SQL, which testdb owns.
	recDB := &database.DB{Client: ent.NewClient(ent.Driver(rec)), SQL: db.SQL, Dialect: db.Dialect}
	a := newAPI(t, recDB)
	tok := a.token("user-7")

	// pageAfter runs one tasks(first: 20, after: after) query, after nil for
	// the first page, and returns the statements it issued.
	pageAfter := func(t *testing.T, after *string, selection string) ([]statement, connection) {
		t.Helper()
		rec.reset()
		var out struct{ Tasks connection }
		a.post(tok, `query($after: Cursor) { tasks(first: 20, after: $after) { `+selection+` } }`,
			map[string]any{"after": after}).decode(t, &out)
		stmts := rec.statements()
		for _, s := range stmts {
			t.Logf("SQL: %s %v", s.Query, s.Args)
		}
		return stmts, out.Tasks
	}
	page := func(t *testing.T, selection string) ([]statement, connection) {
		t.Helper()
		return pageAfter(t, nil, selection)
	}

	allFields := `edges { cursor node { ` + taskFields + ` } }`

	t.Run("a page of 20 with every field is one statement", func(t *testing.T) {
		stmts, c := page(t, allFields)
		if len(c.Edges) != 20 {
			t.Fatalf("got %d edges, want 20", len(c.Edges))
		}
		if len(stmts) != 1 {
			t.Fatalf("issued %d statements, want 1 (none per row)", len(stmts))
		}
		cols := selectedColumns(t, stmts[0].Query)
		for _, col := range []string{"id", "title", "description", "is_completed", "created_at", "updated_at"} {
			if !slices.Contains(cols, col) {
				t.Errorf("listing selects %v, want %s among them", cols, col)
			}
		}
	})

	t.Run("a page with totalCount is two statements", func(t *testing.T) {
		stmts, c := page(t, `totalCount `+allFields)
		if c.TotalCount != planTasksPerUser {
			t.Errorf("totalCount = %d, want %d", c.TotalCount, planTasksPerUser)
		}
		if len(stmts) != 2 {
			t.Fatalf("issued %d statements, want 2 (the page and its count)", len(stmts))
		}
		counts := 0
		for _, s := range stmts {
			if strings.Contains(strings.ToUpper(s.Query), "COUNT(") {
				counts++
			}
		}
		if counts != 1 {
			t.Errorf("%d of the statements count, want 1", counts)
		}
	})

	t.Run("a count up to atMost reads the listing index and stops", func(t *testing.T) {
		rec.reset()
		var out struct {
			Tasks struct{ Count struct{ Value int } }
		}
		a.post(tok, `{ tasks { count(atMost: 10) { value } } }`, nil).decode(t, &out)
		stmts := rec.statements()
		if out.Tasks.Count.Value != 10 || len(stmts) != 1 {
			t.Fatalf("count %d in %d statements, want 10 in 1", out.Tasks.Count.Value, len(stmts))
		}
		plan := explain(t, db, stmts[0])
		if indexes := indexNames(plan); !slices.Contains(indexes, "idx_tasks_user_id_created_at") {
			t.Errorf("plan uses indexes %v, want idx_tasks_user_id_created_at", indexes)
		}
		for _, node := range planValues(plan, "Node Type") {
			if strings.Contains(node, "Sort") || node == "Seq Scan" {
				t.Errorf("plan has a %s node", node)
			}
		}
	})

	t.Run("the whole contract query is two statements", func(t *testing.T) {
		rec.reset()
		c := a.list(t, tok, map[string]any{"first": 20})
		if len(c.Edges) != 20 || c.TotalCount != planTasksPerUser {
			t.Errorf("got %d edges of %d, want 20 of %d", len(c.Edges), c.TotalCount, planTasksPerUser)
		}
		if stmts := rec.statements(); len(stmts) != 2 {
			t.Errorf("tasksQuery issued %d statements, want 2: %v", len(stmts), stmts)
		}
	})

	t.Run("a page with pageInfo but no totalCount is one statement", func(t *testing.T) {
		// entgql counts whenever pageInfo is asked for; ent/template/paginate.tmpl
		// counts only for totalCount: the extra row fetched already tells
		// whether there is a next page.
		stmts, c := page(t, `pageInfo { hasNextPage endCursor } `+allFields)
		if !c.PageInfo.HasNextPage {
			t.Error("hasNextPage = false on the first 20 of 50")
		}
		if len(stmts) != 1 {
			t.Errorf("issued %d statements, want 1", len(stmts))
		}
		second, c := pageAfter(t, c.PageInfo.EndCursor, `pageInfo { hasNextPage endCursor } edges { node { id } }`)
		if len(second) != 1 {
			t.Errorf("second page issued %d statements, want 1", len(second))
		}
		third, c := pageAfter(t, c.PageInfo.EndCursor, `pageInfo { hasNextPage } edges { node { id } }`)
		if len(third) != 1 || len(c.Edges) != 10 || c.PageInfo.HasNextPage {
			t.Errorf("last page: %d statements, %d edges, hasNextPage %v; want 1, 10, false", len(third), len(c.Edges), c.PageInfo.HasNextPage)
		}
	})

	t.Run("pageInfo without edges is one statement too", func(t *testing.T) {
		stmts, c := page(t, `pageInfo { hasNextPage }`)
		if !c.PageInfo.HasNextPage || len(stmts) != 1 {
			t.Errorf("hasNextPage %v with %d statements; want true with 1 (the page, no count)", c.PageInfo.HasNextPage, len(stmts))
		}
	})

	t.Run("a page asking for id and title selects no other field", func(t *testing.T) {
		stmts, c := page(t, `edges { node { id title } }`)
		if len(c.Edges) != 20 {
			t.Fatalf("got %d edges, want 20", len(c.Edges))
		}
		if len(stmts) != 1 {
			t.Fatalf("issued %d statements, want 1", len(stmts))
		}
		cols := selectedColumns(t, stmts[0].Query)
		// created_at is the sort key: the pager selects it to build cursors.
		for _, col := range cols {
			if !slices.Contains([]string{"id", "title", "created_at"}, col) {
				t.Errorf("listing selects %v: %s was not asked for", cols, col)
			}
		}
	})

	_, first := page(t, `pageInfo { endCursor } edges { cursor }`)
	if first.PageInfo.EndCursor == nil {
		t.Fatal("the first page has no endCursor")
	}
	for _, tc := range []struct {
		name  string
		after *string
		// args are the owner and, after a cursor, its created_at and id.
		args int
	}{
		{"the first page uses idx_tasks_user_id_created_at", nil, 1},
		{"the page after it uses idx_tasks_user_id_created_at", first.PageInfo.EndCursor, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stmts, c := pageAfter(t, tc.after, allFields)
			if len(c.Edges) != 20 || len(stmts) != 1 {
				t.Fatalf("got %d edges in %d statements, want 20 in 1", len(c.Edges), len(stmts))
			}
			if len(stmts[0].Args) != tc.args {
				t.Fatalf("listing has args %v, want %d", stmts[0].Args, tc.args)
			}
			// No enable_seqscan = off: with this data size the planner picks
			// the index on its own, as it would in production.
			plan := explain(t, db, stmts[0])
			if indexes := indexNames(plan); !slices.Contains(indexes, "idx_tasks_user_id_created_at") {
				t.Errorf("plan uses indexes %v, want idx_tasks_user_id_created_at", indexes)
			}
			// The index holds the whole order, tie-break included: the page
			// is read in order, never sorted.
			for _, node := range planValues(plan, "Node Type") {
				if strings.Contains(node, "Sort") {
					t.Errorf("plan has a %s node", node)
				}
			}
			// pgx prepares statements, and after five runs PostgreSQL may
			// keep a generic plan, made without the owner's value: it too
			// must read the page off the index, not sort a user's rows.
			// (A page after a cursor is planned for its values each time,
			// database.WithCustomPlans: its generic plan may read and sort
			// every row past the cursor.)
			if tc.after != nil {
				return
			}
			generic := explainGeneric(t, db, stmts[0])
			if indexes := indexNames(generic); !slices.Contains(indexes, "idx_tasks_user_id_created_at") {
				t.Errorf("generic plan uses indexes %v, want idx_tasks_user_id_created_at", indexes)
			}
			for _, node := range planValues(generic, "Node Type") {
				if strings.Contains(node, "Sort") {
					t.Errorf("generic plan has a %s node", node)
				}
			}
		})
	}
}

// explainGeneric returns the plan PostgreSQL would cache for s as a
// prepared statement, made without its arguments' values.
func explainGeneric(t *testing.T, db *database.DB, s statement) any {
	t.Helper()
	ctx := context.Background()
	conn, err := db.SQL.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// EXECUTE takes no bound parameters: the values go in as literals,
	// of the types PREPARE inferred.
	literals := make([]string, len(s.Args))
	for i, a := range s.Args {
		v := fmt.Sprint(a)
		if tm, ok := a.(time.Time); ok {
			v = tm.Format(time.RFC3339Nano)
		}
		literals[i] = "'" + strings.ReplaceAll(v, "'", "''") + "'"
	}
	var plan string
	for _, q := range []string{"SET plan_cache_mode = force_generic_plan", "PREPARE generic_probe AS " + s.Query} {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	defer conn.ExecContext(ctx, "DEALLOCATE generic_probe; RESET plan_cache_mode")
	explain := "EXPLAIN (FORMAT JSON) EXECUTE generic_probe(" + strings.Join(literals, ", ") + ")"
	if err := conn.QueryRowContext(ctx, explain).Scan(&plan); err != nil {
		t.Fatalf("%s: %v", explain, err)
	}
	t.Logf("generic plan of %s:\n%s", s.Query, plan)
	var doc any
	if err := json.Unmarshal([]byte(plan), &doc); err != nil {
		t.Fatalf("decoding plan: %v", err)
	}
	return doc
}

// explain returns the decoded EXPLAIN (FORMAT JSON) plan of s, logging it.
func explain(t *testing.T, db *database.DB, s statement) any {
	t.Helper()
	var plan string
	if err := db.SQL.QueryRowContext(context.Background(), "EXPLAIN (FORMAT JSON) "+s.Query, s.Args...).Scan(&plan); err != nil {
		t.Fatalf("explaining %s: %v", s.Query, err)
	}
	t.Logf("plan of %s %v:\n%s", s.Query, s.Args, plan)
	var doc any
	if err := json.Unmarshal([]byte(plan), &doc); err != nil {
		t.Fatalf("decoding plan: %v", err)
	}
	return doc
}

// seedUsers stores tasks for users user-0 … user-(users-1), tasksPerUser
// each, in one statement, and refreshes the planner's statistics. It writes
// past ent: seeding 15,000 rows through the API would take the test's time.
func seedUsers(t *testing.T, db *database.DB, users, tasksPerUser int) {
	t.Helper()
	ctx := context.Background()
	_, err := db.SQL.ExecContext(ctx, `
		INSERT INTO tasks (id, user_id, title, description, is_completed, created_at, updated_at)
		SELECT gen_random_uuid(), 'user-' || (g % $1::int), 'task ' || g, 'about task ' || g, g % 3 = 0,
		       now() - make_interval(secs => g), now() - make_interval(secs => g)
		FROM generate_series(1, $1::int * $2::int) AS g`, users, tasksPerUser)
	if err != nil {
		t.Fatalf("seeding tasks: %v", err)
	}
	if _, err := db.SQL.ExecContext(ctx, `ANALYZE tasks`); err != nil {
		t.Fatalf("analyzing tasks: %v", err)
	}
}

// selectList is the column list of a SELECT, up to its FROM.
var selectList = regexp.MustCompile(`(?is)^SELECT\s+(.*?)\s+FROM\s`)

// selectedColumns returns the unquoted, unqualified column names a SELECT
// statement lists.
func selectedColumns(t *testing.T, query string) []string {
	t.Helper()
	m := selectList.FindStringSubmatch(query)
	if m == nil {
		t.Fatalf("not a SELECT: %s", query)
	}
	var cols []string
	for c := range strings.SplitSeq(m[1], ",") {
		c = strings.TrimSpace(c)
		if i := strings.LastIndex(c, "."); i >= 0 {
			c = c[i+1:]
		}
		cols = append(cols, strings.Trim(c, `"`))
	}
	return cols
}

// indexNames returns every "Index Name" in an EXPLAIN (FORMAT JSON) plan.
func indexNames(v any) []string { return planValues(v, "Index Name") }

// planValues lists the values of every key named key in a plan.
func planValues(v any, key string) []string {
	var values []string
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			if s, ok := e.(string); ok && k == key {
				values = append(values, s)
				continue
			}
			values = append(values, planValues(e, key)...)
		}
	case []any:
		for _, e := range v {
			values = append(values, planValues(e, key)...)
		}
	}
	return values
}

// statement is one SQL statement sent to the database, with its arguments.
type statement struct {
	Query string
	Args  []any
}

// recordingDriver is an ent driver that records every statement it passes
// on, inside transactions too.
type recordingDriver struct {
	dialect.Driver
	mu    sync.Mutex
	stmts []statement
}

var _ dialect.Driver = (*recordingDriver)(nil)

func (d *recordingDriver) record(query string, args any) {
	d.mu.Lock()
	defer d.mu.Unlock()
	a, _ := args.([]any)
	d.stmts = append(d.stmts, statement{Query: query, Args: slices.Clone(a)})
}

func (d *recordingDriver) reset() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.stmts = nil
}

func (d *recordingDriver) statements() []statement {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.stmts)
}

// Exec records and runs a statement.
func (d *recordingDriver) Exec(ctx context.Context, query string, args, v any) error {
	d.record(query, args)
	return d.Driver.Exec(ctx, query, args, v)
}

// Query records and runs a query.
func (d *recordingDriver) Query(ctx context.Context, query string, args, v any) error {
	d.record(query, args)
	return d.Driver.Query(ctx, query, args, v)
}

// Tx starts a transaction whose statements are recorded too.
func (d *recordingDriver) Tx(ctx context.Context) (dialect.Tx, error) {
	tx, err := d.Driver.Tx(ctx)
	if err != nil {
		return nil, fmt.Errorf("recording driver: %w", err)
	}
	d.record("BEGIN", nil)
	return &recordingTx{Tx: tx, d: d}, nil
}

// Commit records and commits.
func (tx *recordingTx) Commit() error {
	tx.d.record("COMMIT", nil)
	return tx.Tx.Commit()
}

// Rollback records and rolls back.
func (tx *recordingTx) Rollback() error {
	tx.d.record("ROLLBACK", nil)
	return tx.Tx.Rollback()
}

// recordingTx records the statements of one transaction in its driver.
type recordingTx struct {
	dialect.Tx
	d *recordingDriver
}

// Exec records and runs a statement.
func (tx *recordingTx) Exec(ctx context.Context, query string, args, v any) error {
	tx.d.record(query, args)
	return tx.Tx.Exec(ctx, query, args, v)
}

// Query records and runs a query.
func (tx *recordingTx) Query(ctx context.Context, query string, args, v any) error {
	tx.d.record(query, args)
	return tx.Tx.Query(ctx, query, args, v)
}

// TestMutationStatements checks the round trips of mutations: one root
// mutation runs without a transaction (a create or delete is one
// statement, an update three), several share one.
func TestMutationStatements(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *database.DB) {
		rec := &recordingDriver{Driver: entsql.OpenDB(db.Dialect, db.SQL)}
		recDB := &database.DB{Client: ent.NewClient(ent.Driver(rec)), SQL: db.SQL, Dialect: db.Dialect}
		a := newAPI(t, recDB)
		alice := a.token("alice")
		verbs := func() []string {
			var v []string
			for _, s := range rec.statements() {
				v = append(v, strings.ToUpper(strings.Fields(s.Query)[0]))
			}
			rec.reset()
			return v
		}

		rec.reset()
		created := a.createTask(t, alice, map[string]any{"title": "one statement"})
		if got := verbs(); !slices.Equal(got, []string{"INSERT"}) {
			t.Errorf("createTask: %v, want [INSERT]", got)
		}

		a.post(alice, `mutation($id: ID!) { updateTask(id: $id, input: {isCompleted: true}) { id } }`,
			map[string]any{"id": created.ID}).decode(t, &struct{}{})
		// Which rows change (for their events), the change, the answer:
		// each keyed by the caller, with no transaction of their own.
		if got := verbs(); !slices.Equal(got, []string{"SELECT", "UPDATE", "SELECT"}) {
			t.Errorf("updateTask: %v, want [SELECT UPDATE SELECT]", got)
		}

		a.post(alice, `mutation($id: ID!) { deleteTask(id: $id) }`, map[string]any{"id": created.ID}).decode(t, &struct{}{})
		if got := verbs(); !slices.Equal(got, []string{"DELETE"}) {
			t.Errorf("deleteTask: %v, want [DELETE]", got)
		}

		a.post(alice, `mutation { a: createTask(input: {title: "a"}) { id } b: createTask(input: {title: "b"}) { id } }`, nil).decode(t, &struct{}{})
		if got := verbs(); !slices.Equal(got, []string{"BEGIN", "INSERT", "INSERT", "COMMIT"}) {
			t.Errorf("two creates: %v, want one transaction around both", got)
		}

		// A fragment may hold several fields: a transaction, to be safe.
		a.post(alice, `mutation { ...M } fragment M on Mutation { createTask(input: {title: "c"}) { id } }`, nil).decode(t, &struct{}{})
		if got := verbs(); !slices.Equal(got, []string{"BEGIN", "INSERT", "COMMIT"}) {
			t.Errorf("create in a fragment: %v, want it in a transaction", got)
		}
	})
}
