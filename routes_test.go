package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"entgo.io/ent/dialect"

	"github.com/taskapi/server/internal/gqlerr"
	"github.com/taskapi/server/internal/testdb"
)

func TestMetrics(t *testing.T) {
	a := newAPI(t, testdb.Open(t, dialect.SQLite))
	alice := a.token("alice")
	a.createTask(t, alice, map[string]any{"title": "counted"})
	a.list(t, alice, nil)
	if e := a.post(alice, `{ task(id: "6f1c2a9e-3b7d-4c1e-9a55-0d2f8e7b4c31") { id } }`, nil).onlyError(t); e.code() != gqlerr.NotFound {
		t.Fatalf("code %q", e.code())
	}
	a.post("", `{ tasks { totalCount } }`, nil)

	res := a.raw("GET", "/metrics", nil, nil)
	if res.Status != 200 {
		t.Fatalf("/metrics: status %d", res.Status)
	}
	for _, want := range []string{
		`tasks_graphql_operations_total{document="free-form",outcome="ok",type="mutation"} 1`,
		`tasks_graphql_operations_total{document="free-form",outcome="ok",type="query"} 1`,
		`tasks_graphql_operations_total{document="free-form",outcome="NOT_FOUND",type="query"} 1`,
		`tasks_http_request_duration_seconds_count{code="200",method="post",route="/query"} 3`,
		`tasks_http_request_duration_seconds_count{code="401",method="post",route="/query"} 1`,
		`go_sql_max_open_connections{db_name="tasks"} 1`,
		`go_goroutines`,
	} {
		if !strings.Contains(res.Body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

// TestMetricsCountADeferredOperationOnce: its later parts are not
// operations of their own.
func TestMetricsCountADeferredOperationOnce(t *testing.T) {
	a := newAPI(t, testdb.Open(t, dialect.SQLite))
	alice := a.token("alice")
	if parts := a.deferred(t, alice, `{ tasks { ... @defer { count { value } } } }`, nil); len(parts) != 2 {
		t.Fatalf("%d parts", len(parts))
	}
	res := a.raw("GET", "/metrics", nil, nil)
	if want := `tasks_graphql_operations_total{document="free-form",outcome="ok",type="query"} 1` + "\n"; !strings.Contains(res.Body, want) {
		t.Errorf("/metrics lacks %q", want)
	}
}

func TestCORS(t *testing.T) {
	db := testdb.Open(t, dialect.SQLite)
	h, _ := testHandler(t, db, io.Discard, serverOptions{CORSOrigins: []string{"https://app.example"}})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)

	preflight := func(origin string) *http.Response {
		req, _ := http.NewRequest(http.MethodOptions, srv.URL+"/query", nil)
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", "POST")
		req.Header.Set("Access-Control-Request-Headers", "authorization, content-type")
		res, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res
	}
	t.Run("an allowed origin's preflight passes without a token", func(t *testing.T) {
		res := preflight("https://app.example")
		if res.StatusCode >= 300 || res.Header.Get("Access-Control-Allow-Origin") != "https://app.example" ||
			!strings.Contains(strings.ToLower(res.Header.Get("Access-Control-Allow-Headers")), "authorization") {
			t.Errorf("status %d, headers %v", res.StatusCode, res.Header)
		}
	})
	t.Run("another origin gets no CORS grant", func(t *testing.T) {
		if res := preflight("https://evil.example"); res.Header.Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("evil origin allowed: %v", res.Header)
		}
	})
	t.Run("a 401 is readable by the allowed origin", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/query", strings.NewReader(`{"query":"{ tasks { totalCount } }"}`))
		req.Header.Set("Origin", "https://app.example")
		req.Header.Set("Content-Type", "application/json")
		res, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != 401 || res.Header.Get("Access-Control-Allow-Origin") != "https://app.example" ||
			!strings.Contains(res.Header.Get("Access-Control-Expose-Headers"), "Www-Authenticate") {
			t.Errorf("status %d, headers %v", res.StatusCode, res.Header)
		}
	})
}

func TestDevTokenOnlyForThisMachine(t *testing.T) {
	db := testdb.Open(t, dialect.SQLite)
	const tok = "dev-token-for-the-page"
	h, _ := testHandler(t, db, io.Discard, serverOptions{GraphiQL: true, DevToken: tok})
	for _, c := range []struct {
		addr, host string
		want       bool
	}{
		{"127.0.0.1:5000", "localhost:8080", true},
		{"127.0.0.1:5000", "127.0.0.1:8080", true},
		{"[::1]:5000", "[::1]:8080", true},
		{"[::1]:5000", "LOCALHOST", true},
		{"192.0.2.1:5000", "localhost:8080", false},
		{"10.0.0.7:5000", "127.0.0.1", false},
		// DNS rebinding: another site's name now points at 127.0.0.1.
		{"127.0.0.1:5000", "attacker.example:8080", false},
		{"127.0.0.1:5000", "localhost.attacker.example", false},
		{"127.0.0.1:5000", "127.0.0.1.nip.io:8080", false},
		{"127.0.0.1:5000", "", false},
	} {
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.RemoteAddr = c.addr
		req.Host = c.host
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != 200 || strings.Contains(rec.Body.String(), tok) != c.want {
			t.Errorf("from %s to Host %q: status %d, token in page %v, want %v", c.addr, c.host, rec.Code, !c.want, c.want)
		}
	}
}

func TestAccessLog(t *testing.T) {
	db := testdb.Open(t, dialect.SQLite)
	var logs strings.Builder
	h, v := testHandler(t, db, &logs, serverOptions{})
	tok, _ := v.Sign("alice", time.Minute)
	req := httptest.NewRequest(http.MethodPost, "/query", strings.NewReader(`{"query":"mutation { createTask(input: {title: \"secret plans\"}) { id } }"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+tok)
	h.ServeHTTP(httptest.NewRecorder(), req)
	line := logs.String()
	if !strings.Contains(line, "msg=request method=POST path=/query status=200") {
		t.Errorf("no access log line: %q", line)
	}
	if strings.Contains(line, "secret plans") || strings.Contains(line, tok) {
		t.Errorf("access log holds the body or the token: %q", line)
	}
}
