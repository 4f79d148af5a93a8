// Command ceiling is the benchmark's yardstick: the least any server must do
// to answer the task API's two hot requests. It verifies the JWT with the
// server's own verifier (same checks, same cache of verified tokens), runs
// one SQL statement through a pgx pool and writes the JSON the GraphQL server
// would write. No GraphQL, no ORM, no privacy layer: its throughput is the
// ceiling the real server is measured against.
//
// It answers POST /query with a list of the caller's 20 newest tasks, or, when
// the body's operationName is "Create", inserts the task in the variables.
// Configuration: PORT, DATABASE_URL, BETTER_AUTH_SECRET, DB_MAX_CONNS.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"log"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/taskapi/server/internal/auth"
)

func main() {
	ctx := context.Background()
	cfg, err := pgxpool.ParseConfig(os.Getenv("DATABASE_URL"))
	if err != nil {
		log.Fatal(err)
	}
	cfg.MaxConns = 15 // the server's default
	if n, err := strconv.Atoi(os.Getenv("DB_MAX_CONNS")); err == nil && n > 0 {
		cfg.MaxConns = int32(n)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		log.Fatal(err)
	}
	defer pool.Close()
	secret, err := auth.NewSharedSecret(auth.Config{Secret: []byte(os.Getenv("BETTER_AUTH_SECRET"))})
	if err != nil {
		log.Fatal(err)
	}
	h := &handler{pool: pool, verifier: auth.NewCache(secret, auth.CacheSize)}
	mux := http.NewServeMux()
	mux.Handle("POST /query", h)
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if err := pool.Ping(r.Context()); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
		}
	})
	srv := &http.Server{Addr: "127.0.0.1:" + os.Getenv("PORT"), Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	log.Fatal(srv.ListenAndServe())
}

type handler struct {
	pool     *pgxpool.Pool
	verifier auth.Authenticator
}

type request struct {
	OperationName string `json:"operationName"`
	Variables     struct {
		First int `json:"first"`
		Input struct {
			Title       string  `json:"title"`
			Description *string `json:"description"`
		} `json:"input"`
	} `json:"variables"`
}

type task struct {
	ID          uuid.UUID `json:"id"`
	Title       string    `json:"title"`
	Description *string   `json:"description"`
	IsCompleted bool      `json:"isCompleted"`
	CreatedAt   time.Time `json:"createdAt"`
}

type edge struct {
	Node task `json:"node"`
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	sub, ok := h.subject(r)
	if !ok {
		http.Error(w, `{"errors":[{"message":"unauthenticated"}]}`, http.StatusUnauthorized)
		return
	}
	var req request
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&req); err != nil {
		http.Error(w, `{"errors":[{"message":"bad request"}]}`, http.StatusBadRequest)
		return
	}
	var data any
	var err error
	if req.OperationName == "Create" {
		data, err = h.create(r.Context(), sub, req)
	} else {
		data, err = h.list(r.Context(), sub, req.Variables.First)
	}
	if err != nil {
		log.Print(err)
		http.Error(w, `{"errors":[{"message":"internal server error"}]}`, http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"data": data})
}

func (h *handler) subject(r *http.Request) (string, bool) {
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return "", false
	}
	id, err := h.verifier.Authenticate(r.Context(), token)
	return id.Subject, err == nil
}

func (h *handler) list(ctx context.Context, sub string, first int) (any, error) {
	if first <= 0 || first > 100 {
		first = 20
	}
	rows, err := h.pool.Query(ctx, `SELECT id, title, description, is_completed, created_at
		FROM tasks WHERE user_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2`, sub, first)
	if err != nil {
		return nil, err
	}
	edges, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (edge, error) {
		var e edge
		err := row.Scan(&e.Node.ID, &e.Node.Title, &e.Node.Description, &e.Node.IsCompleted, &e.Node.CreatedAt)
		return e, err
	})
	if err != nil {
		return nil, err
	}
	return map[string]any{"tasks": map[string]any{"edges": edges}}, nil
}

func (h *handler) create(ctx context.Context, sub string, req request) (any, error) {
	in := req.Variables.Input
	title := strings.TrimSpace(in.Title)
	if n := utf8.RuneCountInString(title); n == 0 || n > 200 {
		return nil, errors.New("title must have 1 to 200 characters")
	}
	now := time.Now().UTC()
	t := task{ID: uuid.New(), Title: title, Description: in.Description, CreatedAt: now}
	_, err := h.pool.Exec(ctx, `INSERT INTO tasks (id, user_id, title, description, is_completed, created_at, updated_at)
		VALUES ($1, $2, $3, $4, false, $5, $5)`, t.ID, sub, t.Title, t.Description, now)
	if err != nil {
		return nil, err
	}
	return map[string]any{"createTask": t}, nil
}
