package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// dataset is the deterministic seed: the same flags give the same users,
// ids and times on every run.
type dataset struct {
	users []string // user ids (JWT subjects)
	// newest holds each user's task ids, newest first, as a page should list them.
	newest map[string][]uuid.UUID
}

// seedBase is the creation time of every user's first task.
var seedBase = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// userID is realistic in length (Better Auth ids are 32 characters) and
// starts with the tag that seeded titles carry, so a response shows whose
// tasks it holds.
func userID(i int) string { return fmt.Sprintf("%s%027x", userTag(i), uint64(i)*0x9e3779b97f4a7c15) }

func userTag(i int) string { return fmt.Sprintf("u%04d", i) }

// seed fills the tasks table with users×tasks rows through COPY and
// analyzes it, as a production table would be.
func seed(ctx context.Context, dbURL string, users, tasks int) (*dataset, error) {
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return nil, err
	}
	defer conn.Close(ctx)

	rng := rand.New(rand.NewPCG(2026, 11))
	ds := &dataset{newest: make(map[string][]uuid.UUID, users)}
	rows := make([][]any, 0, users*tasks)
	for i := range users {
		uid := userID(i)
		ds.users = append(ds.users, uid)
		ids := make([]uuid.UUID, tasks)
		for j := range tasks {
			var id uuid.UUID
			for k := range id {
				id[k] = byte(rng.Uint32())
			}
			id[6] = id[6]&0x0f | 0x40 // version 4
			id[8] = id[8]&0x3f | 0x80 // RFC 4122 variant
			var desc *string
			if j%3 != 0 {
				d := fmt.Sprintf("Seeded task %d: a description of ordinary length for the benchmark.", j)
				desc = &d
			}
			created := seedBase.Add(time.Duration(j)*time.Hour + time.Duration(i)*time.Second)
			title := fmt.Sprintf("%s task %03d", userTag(i), j)
			rows = append(rows, []any{id, uid, title, desc, j%4 == 0, created, created})
			ids[tasks-1-j] = id
		}
		ds.newest[uid] = ids
	}
	_, err = conn.CopyFrom(ctx, pgx.Identifier{"tasks"},
		[]string{"id", "user_id", "title", "description", "is_completed", "created_at", "updated_at"},
		pgx.CopyFromRows(rows))
	if err != nil {
		return nil, fmt.Errorf("seeding: %w", err)
	}
	if _, err := conn.Exec(ctx, "ANALYZE tasks"); err != nil {
		return nil, err
	}
	return ds, nil
}
