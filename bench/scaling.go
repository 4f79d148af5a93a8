package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// The scaling run (-scaling) measures the server alone, under the same wrk
// load as the ratio rounds, sending one user's requests, as
//
//   - that user's tasks grow 100 → 1,000 → 10,000 → 100,000 (the table
//     holds 99,900 tasks of 999 other users besides), and
//   - the whole table grows 100,000 → 1,000,000 → 10,000,000 rows, 100
//     tasks per user, the measured user keeping 100.
//
// Operations: the first page, tasks(first: 20); a page deep into the
// user's list, tasks(first: 20, after: <cursor>), the cursor the API gave
// for the 40th task from the end (from tasks(last: 40)); tasks { totalCount };
// and createTask. Every response of the first three must be byte for byte
// the body the driver fetched and checked against the database before the
// runs; a created task is checked as in the ratio rounds. createTask runs
// last at each size, and its tasks are deleted after.
const (
	scalingUserMin    = 100     // the measured user's tasks in the table dimension
	scalingBackground = 100_000 // the smallest table
	scalingPerUser    = 100     // tasks of every other user
	deepFromEnd       = 40      // the deep page's cursor: this many tasks from the end
)

var (
	scalingOps    = []string{"first", "deep", "count", "create"}
	scalingOpName = map[string]string{"first": "first page", "deep": "deep page", "count": "totalCount", "create": "createTask"}
	// scalingBase is the measured user's first task's creation time, a
	// minute apart each: all of them are older than the tasks createTask
	// makes now.
	scalingBase = time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
)

// sizes are the steps up to most, most itself the last when it is none.
func sizes(steps []int, most int) []int {
	var out []int
	for _, s := range steps {
		if s <= most {
			out = append(out, s)
		}
	}
	if len(out) == 0 || out[len(out)-1] < most {
		out = append(out, most)
	}
	return out
}

// scalingResult is one operation measured at one size.
type scalingResult struct {
	mode                 mode
	dimension            string // "user" or "table"
	userTasks, tableRows int
	op                   string
	runs                 []run
	idle                 memory // the server's, after start, before any load (the same in every result of a mode)
	deepOffset           int    // where the deep page starts in the user's list, newest first, from 0
}

// scalingMode runs the scaling measurements in one CPU mode, on a database
// of their own.
func scalingMode(ctx context.Context, cfg config, m mode, bin binaries) ([]scalingResult, error) {
	log.Printf("scaling, mode: %s", m)
	dbURL, drop, err := createDatabase(ctx, cfg.adminURL, cfg.keep)
	if err != nil {
		return nil, err
	}
	defer drop()
	if m.cpus == 1 {
		p, err := pinCPUs(ctx, dbURL)
		if err != nil {
			return nil, err
		}
		defer p.Restore()
	}
	server, err := start(ctx, m, "server", bin.server, filepath.Join(bin.tmp, fmt.Sprintf("server-scaling-%dcpu.log", m.cpus)), serverEnv(targetEnv(dbURL, bin.secret), ""))
	if err != nil {
		return nil, err
	}
	defer server.stop()
	idle := memStatus(server.cmd.Process.Pid)
	log.Printf("server idle: VmRSS %.0f MB, VmHWM %.0f MB", idle.rss, idle.hwm)

	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return nil, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	measured := userID(0)
	b := &bench{dbURL: dbURL, mode: m, threads: cfg.threads, connections: cfg.connections,
		script: filepath.Join(bin.root, "bench", "wrk.lua"), data: &dataset{users: []string{measured}}}
	if err := b.writeTokens(bin.secret, filepath.Join(bin.tmp, "tokens-scaling")); err != nil {
		return nil, err
	}
	tbl := &table{conn: conn, user: measured}

	var results []scalingResult
	measure := func(dimension string, userTasks, background int) error {
		seedStart := time.Now()
		if err := tbl.resize(ctx, userTasks, background); err != nil {
			return err
		}
		seeded := time.Since(seedStart)
		vacuumStart := time.Now()
		// Autovacuum may be off, or not yet round: the table as it is
		// in a steady state, visibility map and statistics current.
		if _, err := conn.Exec(ctx, "VACUUM ANALYZE tasks"); err != nil {
			return err
		}
		vacuumed := time.Since(vacuumStart)
		log.Printf("scaling %s: the user has %d tasks, the table %d rows (seeded in %s, vacuumed in %s)",
			dimension, userTasks, userTasks+background, seeded.Round(time.Millisecond), vacuumed.Round(time.Millisecond))
		deepOffset, err := b.prepareScaling(ctx, conn, server, userTasks)
		if err != nil {
			return err
		}
		if err := b.writeBodies(bin.tmp); err != nil {
			return err
		}
		for _, op := range scalingOps {
			res := scalingResult{mode: m, dimension: dimension, userTasks: userTasks, tableRows: userTasks + background, op: op,
				idle: idle, deepOffset: deepOffset}
			w, err := b.load(ctx, server, op, cfg.warmup)
			if err == nil && w.errors() > 0 {
				err = fmt.Errorf("the server answered %s wrongly during warm-up: %s", op, describe(w))
			}
			for round := 1; err == nil && round <= cfg.rounds; round++ {
				var r run
				if r, err = b.load(ctx, server, op, cfg.duration); err == nil {
					r.round = round
					log.Printf("  %s round %d: %.0f req/s, p50 %s, p90 %s, p99 %s, %d errors, %.0f MB",
						scalingOpName[op], round, r.rps(), us(r.wrk.P50US), us(r.wrk.P90US), us(r.wrk.P99US), r.errors(), r.rss)
					res.runs = append(res.runs, r)
				}
			}
			if op == "create" {
				// Back to the seeded tasks, for the next size, once the
				// creates wrk left in flight have committed.
				if err := tbl.settle(ctx); err != nil {
					return err
				}
				if err := tbl.trimUser(ctx, userTasks); err != nil {
					return err
				}
			}
			if len(res.runs) > 0 {
				results = append(results, res)
			}
			if err != nil {
				return err
			}
		}
		return nil
	}

	background := scalingBackground - scalingUserMin
	for _, n := range sizes([]int{100, 1_000, 10_000, 100_000}, cfg.scalingUserMax) {
		if err := measure("user", n, background); err != nil {
			return results, err
		}
	}
	for _, rows := range sizes([]int{100_000, 1_000_000, 10_000_000}, cfg.scalingMax) {
		if err := measure("table", scalingUserMin, rows-scalingUserMin); err != nil {
			return results, err
		}
	}
	for _, res := range results {
		for _, r := range res.runs {
			if r.errors() > 0 {
				return results, fmt.Errorf("the server answered %s wrongly at %d user tasks, %d rows: %s", res.op, res.userTasks, res.tableRows, describe(r))
			}
		}
	}
	return results, nil
}

// table seeds the scaling run's tasks with INSERT … SELECT generate_series:
// the measured user's tasks j = 0, 1, … a minute apart from scalingBase,
// and background rows g = 0, 1, …, the g/100th other user's (g%100)th task.
// Ids are md5 of the row's name: the same on every run, in no order.
type table struct {
	conn       *pgx.Conn
	user       string
	userTasks  int // the measured user's seeded tasks
	background int // other users' tasks
}

// resize brings the measured user to userTasks seeded tasks and the other
// users to background tasks in all.
func (t *table) resize(ctx context.Context, userTasks, background int) error {
	if err := t.trimUser(ctx, userTasks); err != nil {
		return err
	}
	if userTasks > t.userTasks {
		_, err := t.conn.Exec(ctx, `INSERT INTO tasks (id, user_id, title, description, is_completed, created_at, updated_at)
			SELECT md5('m' || j)::uuid, $1, $2 || ' task ' || lpad(j::text, 6, '0'),
				CASE WHEN j % 3 <> 0 THEN 'Seeded task ' || j || ': a description of ordinary length for the benchmark.' END,
				j % 4 = 0, $3::timestamptz + j * interval '1 minute', $3::timestamptz + j * interval '1 minute'
			FROM generate_series($4::bigint, $5::bigint - 1) j`,
			t.user, userTag(0), scalingBase, t.userTasks, userTasks)
		if err != nil {
			return fmt.Errorf("seeding the measured user: %w", err)
		}
		t.userTasks = userTasks
	}
	if background < t.background {
		return fmt.Errorf("the table only grows (%d background rows, asked for %d)", t.background, background)
	}
	if background == t.background {
		return nil
	}
	// Many rows at once go in faster without the indexes, built again after
	// (in one transaction: a failure leaves the table as it was).
	tx, err := t.conn.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	if _, err := tx.Exec(ctx, "SET LOCAL synchronous_commit = off"); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, "SET LOCAL maintenance_work_mem = '256MB'"); err != nil {
		return err
	}
	var rebuild []string
	if add := background - t.background; add > 2*(t.background+t.userTasks) && add > 500_000 {
		if rebuild, err = dropIndexes(ctx, tx); err != nil {
			return err
		}
	}
	_, err = tx.Exec(ctx, `INSERT INTO tasks (id, user_id, title, description, is_completed, created_at, updated_at)
		SELECT md5('b' || g)::uuid, 'b' || lpad((g / 100)::text, 8, '0') || substr(md5((g / 100)::text), 1, 23),
			'b' || (g / 100) || ' task ' || (g % 100),
			CASE WHEN g % 3 <> 0 THEN 'Seeded task ' || (g % 100) || ': a description of ordinary length for the benchmark.' END,
			g % 4 = 0, $1::timestamptz + (g % 100) * interval '1 hour' + (g / 100) * interval '1 second',
			$1::timestamptz + (g % 100) * interval '1 hour' + (g / 100) * interval '1 second'
		FROM generate_series($2::bigint, $3::bigint - 1) g`, seedBase, t.background, background)
	if err != nil {
		return fmt.Errorf("seeding other users: %w", err)
	}
	for _, stmt := range rebuild {
		if _, err := tx.Exec(ctx, stmt); err != nil {
			return fmt.Errorf("%s: %w", stmt, err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return err
	}
	t.background = background
	return nil
}

// trimUser deletes the measured user's tasks beyond the first n seeded,
// the ones createTask made included.
func (t *table) trimUser(ctx context.Context, n int) error {
	_, err := t.conn.Exec(ctx, "DELETE FROM tasks WHERE user_id = $1 AND created_at >= $2",
		t.user, scalingBase.Add(time.Duration(n)*time.Minute))
	if err == nil {
		t.userTasks = min(t.userTasks, n)
	}
	return err
}

// settle waits until the measured user's tasks stop changing: requests
// still in flight when wrk stopped may commit their tasks after.
func (t *table) settle(ctx context.Context) error {
	last, stable := -1, 0
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); {
		var n int
		if err := t.conn.QueryRow(ctx, "SELECT count(*) FROM tasks WHERE user_id = $1", t.user).Scan(&n); err != nil {
			return err
		}
		if n == last {
			if stable++; stable == 4 {
				return nil
			}
		} else {
			last, stable = n, 0
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
	return errors.New("the measured user's tasks kept changing for 30s after createTask's runs")
}

// dropIndexes drops every index of tasks, the primary key's included, and
// returns the statements that make them again as the migrations made them.
func dropIndexes(ctx context.Context, tx pgx.Tx) ([]string, error) {
	rows, err := tx.Query(ctx, `SELECT i.relname, pg_get_indexdef(i.oid), coalesce(c.conname, ''), coalesce(pg_get_constraintdef(c.oid), '')
		FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
		LEFT JOIN pg_constraint c ON c.conindid = x.indexrelid AND c.conrelid = x.indrelid
		WHERE x.indrelid = 'tasks'::regclass ORDER BY c.conname NULLS LAST, i.relname`)
	if err != nil {
		return nil, err
	}
	type index struct{ name, def, constraint, constraintDef string }
	indexes, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (index, error) {
		var i index
		err := row.Scan(&i.name, &i.def, &i.constraint, &i.constraintDef)
		return i, err
	})
	if err != nil {
		return nil, err
	}
	var rebuild []string
	for _, i := range indexes {
		drop := "DROP INDEX " + pgx.Identifier{i.name}.Sanitize()
		create := i.def
		if i.constraint != "" {
			drop = "ALTER TABLE tasks DROP CONSTRAINT " + pgx.Identifier{i.constraint}.Sanitize()
			create = "ALTER TABLE tasks ADD CONSTRAINT " + pgx.Identifier{i.constraint}.Sanitize() + " " + i.constraintDef
		}
		if _, err := tx.Exec(ctx, drop); err != nil {
			return nil, fmt.Errorf("%s: %w", drop, err)
		}
		rebuild = append(rebuild, create)
	}
	return rebuild, nil
}

// Requests of the scaling run. The first page is the ratio rounds' list.
const (
	deepQuery   = `query Deep($first: Int, $after: Cursor) { tasks(first: $first, after: $after) { edges { node { id title description isCompleted createdAt } } } }`
	countBody   = `{"operationName":"Count","query":"query Count { tasks { totalCount } }"}`
	cursorQuery = `query Last($last: Int) { tasks(last: $last) { edges { cursor node { id } } } }`
)

// prepareScaling sets the requests of the user's present size: the deep
// page's cursor comes from the API; the expected bodies of the first page,
// the deep page and totalCount are fetched once and checked against the
// database. It returns where the deep page starts, newest first.
func (b *bench) prepareScaling(ctx context.Context, conn *pgx.Conn, server *target, userTasks int) (int, error) {
	uid := b.data.users[0]
	ids := func(offset, limit int) ([]uuid.UUID, error) {
		rows, err := conn.Query(ctx, `SELECT id FROM tasks WHERE user_id = $1 ORDER BY created_at DESC, id DESC OFFSET $2 LIMIT $3`, uid, offset, limit)
		if err != nil {
			return nil, err
		}
		return pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
	}
	type page struct {
		Data struct {
			Tasks struct {
				TotalCount *int `json:"totalCount"`
				Edges      []struct {
					Cursor string `json:"cursor"`
					Node   struct {
						ID uuid.UUID `json:"id"`
					} `json:"node"`
				} `json:"edges"`
			} `json:"tasks"`
		} `json:"data"`
		Errors []json.RawMessage `json:"errors"`
	}
	pageIDs := func(p page) []uuid.UUID {
		var out []uuid.UUID
		for _, e := range p.Data.Tasks.Edges {
			out = append(out, e.Node.ID)
		}
		return out
	}

	// The cursor of the task deepFromEnd from the end: the first edge of
	// the last deepFromEnd.
	var last page
	if _, err := b.post(ctx, server, mustJSON(map[string]any{"query": cursorQuery, "variables": map[string]any{"last": deepFromEnd}}), &last); err != nil {
		return 0, err
	}
	offset := userTasks - deepFromEnd
	want, err := ids(offset, deepFromEnd)
	if err != nil {
		return 0, err
	}
	if got := pageIDs(last); !slices.Equal(got, want) || last.Data.Tasks.Edges[0].Cursor == "" {
		return 0, fmt.Errorf("tasks(last: %d) gave %v, the database %v", deepFromEnd, got, want)
	}
	cursor := last.Data.Tasks.Edges[0].Cursor

	b.bodies = map[string]string{
		"first":  bodies["list"],
		"deep":   mustJSON(map[string]any{"operationName": "Deep", "query": deepQuery, "variables": map[string]any{"first": 20, "after": cursor}}),
		"count":  countBody,
		"create": bodies["create"],
	}
	b.expect = map[string][]byte{}
	for op, offset := range map[string]int{"first": 0, "deep": offset + 1} {
		var p page
		body, err := b.post(ctx, server, b.bodies[op], &p)
		if err != nil {
			return 0, err
		}
		want, err := ids(offset, 20)
		if err != nil {
			return 0, err
		}
		if got := pageIDs(p); len(want) != 20 || !slices.Equal(got, want) {
			return 0, fmt.Errorf("%s: the server gave %v, the database %v", scalingOpName[op], got, want)
		}
		b.expect[op] = body
	}
	var p page
	body, err := b.post(ctx, server, b.bodies["count"], &p)
	if err != nil {
		return 0, err
	}
	var n int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM tasks WHERE user_id = $1", uid).Scan(&n); err != nil {
		return 0, err
	}
	if p.Data.Tasks.TotalCount == nil || *p.Data.Tasks.TotalCount != n || n != userTasks {
		return 0, fmt.Errorf("totalCount: the server gave %v, the database %d, seeded %d", p.Data.Tasks.TotalCount, n, userTasks)
	}
	b.expect["count"] = body
	return offset + 1, nil
}

// post sends a request as the measured user and decodes a 200 answer
// without errors into out; it returns the body as it came.
func (b *bench) post(ctx context.Context, t *target, body string, out any) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.url, strings.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+b.tokens[0])
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK || bytes.Contains(got, []byte(`"errors"`)) {
		return nil, fmt.Errorf("%s: status %d: %.500s", body, resp.StatusCode, got)
	}
	if err := json.Unmarshal(got, out); err != nil {
		return nil, fmt.Errorf("%s: %w: %.500s", body, err, got)
	}
	return got, nil
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}
