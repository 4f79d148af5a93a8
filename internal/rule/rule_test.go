package rule_test

import (
	"context"
	"errors"
	"maps"
	"slices"
	"testing"

	"github.com/google/uuid"

	"github.com/taskapi/server/ent"
	"github.com/taskapi/server/ent/privacy"
	"github.com/taskapi/server/ent/task"
	"github.com/taskapi/server/internal/database"
	"github.com/taskapi/server/internal/testdb"
	"github.com/taskapi/server/internal/viewer"
)

// These tests call ent directly, as a resolver would, to show that a
// resolver which forgot a filter or an ownership check still cannot reach
// another user's rows: the privacy policy and the owner hook decide.

// fixture is the seeded data: two tasks of alice and two of bob.
type fixture struct {
	alice, bob []uuid.UUID
}

// row is a task as stored, read with raw SQL past ent and its privacy.
type row struct {
	UserID, Title string
}

// state maps every stored task id to its row.
type state map[uuid.UUID]row

// clientKind gives a case the client to use, and a done func to call before
// the rows are read back (a transaction commits there).
type clientKind struct {
	name string
	open func(t *testing.T, ctx context.Context, db *database.DB) (*ent.Client, func())
}

var clientKinds = []clientKind{
	{"through the client", func(t *testing.T, ctx context.Context, db *database.DB) (*ent.Client, func()) {
		return db.Client, func() {}
	}},
	{"through a transaction", func(t *testing.T, ctx context.Context, db *database.DB) (*ent.Client, func()) {
		t.Helper()
		tx, err := db.Client.Tx(ctx)
		if err != nil {
			t.Fatal(err)
		}
		committed := false
		// If the case stops early, the transaction must still end, or it
		// holds SQLite's only connection.
		t.Cleanup(func() {
			if !committed {
				_ = tx.Rollback()
			}
		})
		return tx.Client(), func() {
			t.Helper()
			committed = true
			if err := tx.Commit(); err != nil {
				t.Fatalf("committing: %v", err)
			}
		}
	}},
}

func TestOtherUsersRowsAreOutOfReach(t *testing.T) {
	unchanged := func(_ fixture, s state) state { return s }
	cases := []struct {
		name string
		// do runs as bob and checks what ent answered.
		do func(t *testing.T, ctx context.Context, c *ent.Client, f fixture)
		// want is the stored state after do, from the state before,
		want func(f fixture, before state) state
		// and added the rows do created, whose ids are random.
		added []row
	}{
		{
			name: "listing all tasks returns only bob's",
			do: func(t *testing.T, ctx context.Context, c *ent.Client, f fixture) {
				got, err := c.Task.Query().All(ctx)
				fatalIf(t, err)
				assertOwners(t, got, "bob", len(f.bob))
			},
			want: unchanged,
		},
		{
			name: "counting all tasks counts only bob's",
			do: func(t *testing.T, ctx context.Context, c *ent.Client, f fixture) {
				n, err := c.Task.Query().Count(ctx)
				fatalIf(t, err)
				if n != len(f.bob) {
					t.Errorf("Count = %d, want %d", n, len(f.bob))
				}
			},
			want: unchanged,
		},
		{
			name: "listing ids returns only bob's",
			do: func(t *testing.T, ctx context.Context, c *ent.Client, f fixture) {
				ids, err := c.Task.Query().IDs(ctx)
				fatalIf(t, err)
				if !sameIDs(ids, f.bob) {
					t.Errorf("IDs = %v, want bob's %v", ids, f.bob)
				}
			},
			want: unchanged,
		},
		{
			name: "only by alice's id is not found",
			do: func(t *testing.T, ctx context.Context, c *ent.Client, f fixture) {
				got, err := c.Task.Query().Where(task.ID(f.alice[0])).Only(ctx)
				assertNotFound(t, got, err)
			},
			want: unchanged,
		},
		{
			name: "only over a title of each returns bob's task",
			do: func(t *testing.T, ctx context.Context, c *ent.Client, f fixture) {
				// With alice's task visible this would be NotSingular.
				got, err := c.Task.Query().Where(task.TitleIn("alice 1", "bob 1")).Only(ctx)
				fatalIf(t, err)
				if got.ID != f.bob[0] {
					t.Errorf("Only returned %s of %q, want bob's %s", got.ID, got.UserID, f.bob[0])
				}
			},
			want: unchanged,
		},
		{
			name: "exist by alice's id is false",
			do: func(t *testing.T, ctx context.Context, c *ent.Client, f fixture) {
				exists, err := c.Task.Query().Where(task.ID(f.alice[0])).Exist(ctx)
				fatalIf(t, err)
				if exists {
					t.Error("Exist(alice's id) = true, want false")
				}
				exists, err = c.Task.Query().Where(task.ID(f.bob[0])).Exist(ctx)
				fatalIf(t, err)
				if !exists {
					t.Error("Exist(bob's id) = false, want true")
				}
			},
			want: unchanged,
		},
		{
			name: "get by alice's id is not found",
			do: func(t *testing.T, ctx context.Context, c *ent.Client, f fixture) {
				got, err := c.Task.Get(ctx, f.alice[0])
				assertNotFound(t, got, err)
			},
			want: unchanged,
		},
		{
			name: "filtering on alice's user id returns nothing",
			do: func(t *testing.T, ctx context.Context, c *ent.Client, f fixture) {
				got, err := c.Task.Query().Where(task.UserID("alice")).All(ctx)
				fatalIf(t, err)
				if len(got) != 0 {
					t.Errorf("Where(UserID(alice)) returned %d tasks, want 0", len(got))
				}
				n, err := c.Task.Query().Where(task.UserID("alice")).Count(ctx)
				fatalIf(t, err)
				if n != 0 {
					t.Errorf("Where(UserID(alice)).Count = %d, want 0", n)
				}
			},
			want: unchanged,
		},
		{
			name: "noder of alice's id is not found",
			do: func(t *testing.T, ctx context.Context, c *ent.Client, f fixture) {
				n, err := c.Noder(ctx, f.alice[0], ent.WithFixedNodeType(task.Table))
				if !ent.IsNotFound(err) {
					t.Errorf("Noder(alice's id) = %v, %v; want not found", n, err)
				}
			},
			want: unchanged,
		},
		{
			name: "updating alice's task by id is not found and changes nothing",
			do: func(t *testing.T, ctx context.Context, c *ent.Client, f fixture) {
				got, err := c.Task.UpdateOneID(f.alice[0]).SetTitle("taken by bob").Save(ctx)
				assertNotFound(t, got, err)
			},
			want: unchanged,
		},
		{
			name: "a bulk update touches only bob's tasks",
			do: func(t *testing.T, ctx context.Context, c *ent.Client, f fixture) {
				n, err := c.Task.Update().SetTitle("bulk").Save(ctx)
				fatalIf(t, err)
				if n != len(f.bob) {
					t.Errorf("bulk update changed %d rows, want bob's %d", n, len(f.bob))
				}
				if err := c.Task.Update().SetIsCompleted(true).Exec(ctx); err != nil {
					t.Errorf("bulk update with Exec: %v", err)
				}
			},
			want: func(f fixture, s state) state {
				for _, id := range f.bob {
					s[id] = row{UserID: "bob", Title: "bulk"}
				}
				return s
			},
		},
		{
			name: "a bulk update aimed at alice's tasks changes none",
			do: func(t *testing.T, ctx context.Context, c *ent.Client, f fixture) {
				n, err := c.Task.Update().Where(task.UserID("alice")).SetTitle("taken by bob").Save(ctx)
				fatalIf(t, err)
				if n != 0 {
					t.Errorf("update where user_id = alice changed %d rows, want 0", n)
				}
			},
			want: unchanged,
		},
		{
			name: "deleting alice's task by id is not found and keeps the row",
			do: func(t *testing.T, ctx context.Context, c *ent.Client, f fixture) {
				err := c.Task.DeleteOneID(f.alice[0]).Exec(ctx)
				if !ent.IsNotFound(err) {
					t.Errorf("DeleteOneID(alice's id): err = %v, want not found", err)
				}
			},
			want: unchanged,
		},
		{
			name: "a bulk delete removes only bob's tasks",
			do: func(t *testing.T, ctx context.Context, c *ent.Client, f fixture) {
				n, err := c.Task.Delete().Exec(ctx)
				fatalIf(t, err)
				if n != len(f.bob) {
					t.Errorf("bulk delete removed %d rows, want bob's %d", n, len(f.bob))
				}
			},
			want: func(f fixture, s state) state {
				for _, id := range f.bob {
					delete(s, id)
				}
				return s
			},
		},
		{
			name: "a bulk delete aimed at alice's tasks removes none",
			do: func(t *testing.T, ctx context.Context, c *ent.Client, f fixture) {
				n, err := c.Task.Delete().Where(task.IDIn(f.alice...)).Exec(ctx)
				fatalIf(t, err)
				if n != 0 {
					t.Errorf("delete of alice's ids removed %d rows, want 0", n)
				}
			},
			want: unchanged,
		},
		{
			name: "creating a task owned by alice is denied and writes nothing",
			do: func(t *testing.T, ctx context.Context, c *ent.Client, f fixture) {
				got, err := c.Task.Create().SetTitle("x").SetUserID("alice").Save(ctx)
				assertDenied(t, got, err)
				_, err = c.Task.CreateBulk(
					c.Task.Create().SetTitle("mine"),
					c.Task.Create().SetTitle("x").SetUserID("alice"),
				).Save(ctx)
				assertDenied(t, nil, err)
			},
			want: unchanged,
		},
		{
			name: "creating a task without an owner makes it bob's",
			do: func(t *testing.T, ctx context.Context, c *ent.Client, f fixture) {
				got, err := c.Task.Create().SetTitle("new").Save(ctx)
				fatalIf(t, err)
				if got.UserID != "bob" {
					t.Errorf("new task owned by %q, want bob", got.UserID)
				}
			},
			want:  unchanged,
			added: []row{{UserID: "bob", Title: "new"}},
		},
	}

	testdb.Each(t, func(t *testing.T, db *database.DB) {
		for _, k := range clientKinds {
			t.Run(k.name, func(t *testing.T) {
				for _, tc := range cases {
					t.Run(tc.name, func(t *testing.T) {
						f := seed(t, db)
						before := stored(t, db)
						ctx := viewer.NewContext(context.Background(), viewer.Viewer{Subject: "bob"})
						c, done := k.open(t, ctx, db)
						tc.do(t, ctx, c, f)
						done()
						after := withoutAdded(t, before, stored(t, db), tc.added)
						assertState(t, after, tc.want(f, maps.Clone(before)))
					})
				}
			})
		}
	})
}

func TestNoViewerIsDenied(t *testing.T) {
	viewers := []struct {
		name string
		ctx  context.Context
	}{
		{"with no viewer", context.Background()},
		{"with a viewer whose subject is empty", viewer.NewContext(context.Background(), viewer.Viewer{})},
	}
	cases := []struct {
		name string
		do   func(ctx context.Context, c *ent.Client, f fixture) error
	}{
		{"listing is denied", func(ctx context.Context, c *ent.Client, f fixture) error {
			_, err := c.Task.Query().All(ctx)
			return err
		}},
		{"counting is denied", func(ctx context.Context, c *ent.Client, f fixture) error {
			_, err := c.Task.Query().Count(ctx)
			return err
		}},
		{"listing ids is denied", func(ctx context.Context, c *ent.Client, f fixture) error {
			_, err := c.Task.Query().IDs(ctx)
			return err
		}},
		{"only is denied", func(ctx context.Context, c *ent.Client, f fixture) error {
			_, err := c.Task.Query().Where(task.ID(f.alice[0])).Only(ctx)
			return err
		}},
		{"exist is denied", func(ctx context.Context, c *ent.Client, f fixture) error {
			_, err := c.Task.Query().Exist(ctx)
			return err
		}},
		{"get is denied", func(ctx context.Context, c *ent.Client, f fixture) error {
			_, err := c.Task.Get(ctx, f.alice[0])
			return err
		}},
		{"noder is denied", func(ctx context.Context, c *ent.Client, f fixture) error {
			_, err := c.Noder(ctx, f.alice[0], ent.WithFixedNodeType(task.Table))
			return err
		}},
		{"creating is denied", func(ctx context.Context, c *ent.Client, f fixture) error {
			_, err := c.Task.Create().SetTitle("x").Save(ctx)
			return err
		}},
		{"creating with an explicit owner is denied", func(ctx context.Context, c *ent.Client, f fixture) error {
			_, err := c.Task.Create().SetTitle("x").SetUserID("alice").Save(ctx)
			return err
		}},
		{"a bulk create is denied", func(ctx context.Context, c *ent.Client, f fixture) error {
			_, err := c.Task.CreateBulk(c.Task.Create().SetTitle("x"), c.Task.Create().SetTitle("y")).Save(ctx)
			return err
		}},
		{"updating by id is denied", func(ctx context.Context, c *ent.Client, f fixture) error {
			_, err := c.Task.UpdateOneID(f.alice[0]).SetTitle("changed").Save(ctx)
			return err
		}},
		{"a bulk update is denied", func(ctx context.Context, c *ent.Client, f fixture) error {
			_, err := c.Task.Update().SetTitle("changed").Save(ctx)
			return err
		}},
		{"deleting by id is denied", func(ctx context.Context, c *ent.Client, f fixture) error {
			return c.Task.DeleteOneID(f.alice[0]).Exec(ctx)
		}},
		{"a bulk delete is denied", func(ctx context.Context, c *ent.Client, f fixture) error {
			_, err := c.Task.Delete().Exec(ctx)
			return err
		}},
	}

	testdb.Each(t, func(t *testing.T, db *database.DB) {
		f := seed(t, db)
		before := stored(t, db)
		for _, k := range clientKinds {
			t.Run(k.name, func(t *testing.T) {
				for _, v := range viewers {
					t.Run(v.name, func(t *testing.T) {
						for _, tc := range cases {
							t.Run(tc.name, func(t *testing.T) {
								c, done := k.open(t, v.ctx, db)
								err := tc.do(v.ctx, c, f)
								done()
								if !errors.Is(err, privacy.Deny) {
									t.Errorf("err = %v, want privacy.Deny", err)
								}
								assertState(t, stored(t, db), before)
							})
						}
					})
				}
			})
		}
	})
}

// seed empties tasks and stores two tasks of alice and two of bob, each
// created through ent as its owner.
func seed(t *testing.T, db *database.DB) fixture {
	t.Helper()
	if _, err := db.SQL.Exec(`DELETE FROM tasks`); err != nil {
		t.Fatal(err)
	}
	create := func(owner string) []uuid.UUID {
		ctx := viewer.NewContext(context.Background(), viewer.Viewer{Subject: owner})
		var ids []uuid.UUID
		for _, title := range []string{owner + " 1", owner + " 2"} {
			tk, err := db.Client.Task.Create().SetTitle(title).Save(ctx)
			fatalIf(t, err)
			ids = append(ids, tk.ID)
		}
		return ids
	}
	return fixture{alice: create("alice"), bob: create("bob")}
}

// stored reads every task with raw SQL, past ent's privacy.
func stored(t *testing.T, db *database.DB) state {
	t.Helper()
	rows, err := db.SQL.Query(`SELECT id, user_id, title FROM tasks`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	s := state{}
	for rows.Next() {
		var id uuid.UUID
		var r row
		if err := rows.Scan(&id, &r.UserID, &r.Title); err != nil {
			t.Fatal(err)
		}
		s[id] = r
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return s
}

// withoutAdded checks that the rows in after under ids not in before are
// want, and returns after without them.
func withoutAdded(t *testing.T, before, after state, want []row) state {
	t.Helper()
	out := maps.Clone(after)
	var added []row
	for id, r := range after {
		if _, ok := before[id]; !ok {
			added = append(added, r)
			delete(out, id)
		}
	}
	if !slices.Equal(added, want) {
		t.Errorf("new rows = %v, want %v", added, want)
	}
	return out
}

func fatalIf(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("unexpected error: %v", err)
	}
}

func assertState(t *testing.T, got, want state) {
	t.Helper()
	if !maps.Equal(got, want) {
		t.Errorf("stored tasks:\n\tgot  %v\n\twant %v", got, want)
	}
}

func assertOwners(t *testing.T, tasks []*ent.Task, owner string, n int) {
	t.Helper()
	if len(tasks) != n {
		t.Errorf("got %d tasks, want %d", len(tasks), n)
	}
	for _, tk := range tasks {
		if tk.UserID != owner {
			t.Errorf("task %s of %q returned, want only %q's", tk.ID, tk.UserID, owner)
		}
	}
}

func assertNotFound(t *testing.T, got *ent.Task, err error) {
	t.Helper()
	if !ent.IsNotFound(err) {
		t.Errorf("got %v, err %v; want not found", got, err)
	}
}

func assertDenied(t *testing.T, got *ent.Task, err error) {
	t.Helper()
	if !errors.Is(err, privacy.Deny) {
		t.Errorf("got %v, err %v; want privacy.Deny", got, err)
	}
}

func sameIDs(a, b []uuid.UUID) bool {
	if len(a) != len(b) {
		return false
	}
	set := map[uuid.UUID]bool{}
	for _, id := range a {
		set[id] = true
	}
	for _, id := range b {
		if !set[id] {
			return false
		}
	}
	return true
}
