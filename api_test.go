package main

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/taskapi/server/graph"
	"github.com/taskapi/server/internal/auth"
	"github.com/taskapi/server/internal/database"
)

// testSecret is at least auth.MinSecretLen bytes, as the server demands.
const testSecret = "test-secret-0123456789abcdef0123456789"

// api is the real HTTP surface (routes, auth middleware, GraphQL handler)
// over a real database.
type api struct {
	t      testing.TB
	srv    *httptest.Server
	signer *auth.Signer
	db     *database.DB
}

func newAPI(t testing.TB, db *database.DB) *api {
	t.Helper()
	return newAPIWith(t, db, serverOptions{GraphiQL: true, GraphQL: graph.Options{Introspection: true}})
}

// newAPIWith is newAPI with options (a tracer, say).
func newAPIWith(t testing.TB, db *database.DB, opts serverOptions) *api {
	t.Helper()
	h, v := testHandler(t, db, io.Discard, opts)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &api{t: t, srv: srv, signer: v, db: db}
}

// testHandler is newServer with the test secret, logging to logs.
func testHandler(t testing.TB, db *database.DB, logs io.Writer, opts serverOptions) (http.Handler, *auth.Signer) {
	t.Helper()
	cfg := auth.Config{Secret: []byte(testSecret)}
	v, err := auth.NewSharedSecret(cfg)
	if err != nil {
		t.Fatal(err)
	}
	s, err := auth.NewSigner(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return newServer(slog.New(slog.NewTextHandler(logs, nil)), db, auth.NewCache(v, auth.CacheSize), opts), s
}

// token returns a valid token for sub.
func (a *api) token(sub string) string {
	a.t.Helper()
	tok, err := a.signer.Sign(sub, time.Hour)
	if err != nil {
		a.t.Fatal(err)
	}
	return tok
}

// gqlError is one entry of a response's errors.
type gqlError struct {
	Message    string         `json:"message"`
	Path       []any          `json:"path"`
	Extensions map[string]any `json:"extensions"`
}

func (e gqlError) code() string { s, _ := e.Extensions["code"].(string); return s }

// response is a decoded GraphQL response and its HTTP status.
type response struct {
	Status int
	Header http.Header
	Data   json.RawMessage `json:"data"`
	Errors []gqlError      `json:"errors"`
	Body   string
}

// decode reads the data into v, failing the test on any error.
func (r response) decode(t testing.TB, v any) {
	t.Helper()
	if len(r.Errors) > 0 {
		t.Fatalf("unexpected errors: %s", r.Body)
	}
	if err := json.Unmarshal(r.Data, v); err != nil {
		t.Fatalf("decoding data %s: %v", r.Data, err)
	}
}

// onlyError returns the single error of the response, failing otherwise.
func (r response) onlyError(t testing.TB) gqlError {
	t.Helper()
	if len(r.Errors) != 1 {
		t.Fatalf("want exactly one error, got body %s", r.Body)
	}
	return r.Errors[0]
}

// post sends a GraphQL operation as tok (no Authorization header if empty).
func (a *api) post(tok, query string, vars map[string]any) response {
	a.t.Helper()
	body, err := json.Marshal(map[string]any{"query": query, "variables": vars})
	if err != nil {
		a.t.Fatal(err)
	}
	return a.raw(http.MethodPost, "/query", bytes.NewReader(body), header(tok, "application/json"))
}

// get sends a GraphQL operation over GET.
func (a *api) get(tok string, params url.Values) response {
	a.t.Helper()
	return a.raw(http.MethodGet, "/query?"+params.Encode(), nil, header(tok, ""))
}

func header(tok, contentType string) http.Header {
	h := http.Header{}
	if tok != "" {
		h.Set("Authorization", "Bearer "+tok)
	}
	if contentType != "" {
		h.Set("Content-Type", contentType)
	}
	return h
}

func (a *api) raw(method, path string, body io.Reader, h http.Header) response {
	a.t.Helper()
	req, err := http.NewRequest(method, a.srv.URL+path, body)
	if err != nil {
		a.t.Fatal(err)
	}
	req.Header = h
	res, err := a.srv.Client().Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		a.t.Fatal(err)
	}
	r := response{Status: res.StatusCode, Header: res.Header, Body: string(b)}
	if len(b) > 0 && strings.HasPrefix(res.Header.Get("Content-Type"), "application/") {
		if err := json.Unmarshal(b, &r); err != nil {
			a.t.Fatalf("response is not JSON: %v: %s", err, b)
		}
	}
	return r
}

// task is a Task as the API returns it.
type task struct {
	ID          string    `json:"id"`
	Title       string    `json:"title"`
	Description *string   `json:"description"`
	IsCompleted bool      `json:"isCompleted"`
	CreatedAt   time.Time `json:"createdAt"`
	UpdatedAt   time.Time `json:"updatedAt"`
}

const taskFields = `id title description isCompleted createdAt updatedAt`

// createTask makes a task as tok through the API.
func (a *api) createTask(t testing.TB, tok string, input map[string]any) task {
	t.Helper()
	var out struct{ CreateTask task }
	a.post(tok, `mutation($in: CreateTaskInput!) { createTask(input: $in) { `+taskFields+` } }`,
		map[string]any{"in": input}).decode(t, &out)
	return out.CreateTask
}

// connection is a page of tasks.
type connection struct {
	TotalCount int `json:"totalCount"`
	Edges      []struct {
		Cursor string `json:"cursor"`
		Node   task   `json:"node"`
	} `json:"edges"`
	PageInfo struct {
		HasNextPage     bool    `json:"hasNextPage"`
		HasPreviousPage bool    `json:"hasPreviousPage"`
		StartCursor     *string `json:"startCursor"`
		EndCursor       *string `json:"endCursor"`
	} `json:"pageInfo"`
}

func (c connection) titles() []string {
	out := make([]string, len(c.Edges))
	for i, e := range c.Edges {
		out[i] = e.Node.Title
	}
	return out
}

const tasksQuery = `query($after: Cursor, $first: Int, $before: Cursor, $last: Int, $orderBy: TaskOrder, $where: TaskWhereInput) {
  tasks(after: $after, first: $first, before: $before, last: $last, orderBy: $orderBy, where: $where) {
    totalCount
    edges { cursor node { ` + taskFields + ` } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}`

// list runs the tasks query as tok with vars.
func (a *api) list(t testing.TB, tok string, vars map[string]any) connection {
	t.Helper()
	var out struct{ Tasks connection }
	a.post(tok, tasksQuery, vars).decode(t, &out)
	return out.Tasks
}

// countRows counts every row of tasks, bypassing the API and its privacy.
func countRows(t testing.TB, db *database.DB) int {
	t.Helper()
	var n int
	if err := db.SQL.QueryRow(`SELECT COUNT(*) FROM tasks`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}
