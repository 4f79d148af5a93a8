package main

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/taskapi/server/graph"
	"github.com/taskapi/server/internal/database"
	"github.com/taskapi/server/internal/gqlerr"
	"github.com/taskapi/server/internal/testdb"
)

// apqBody is an automatic persisted query request: the hash, and the text
// unless query is empty.
func apqBody(query, hash string) []byte {
	body := map[string]any{"extensions": map[string]any{"persistedQuery": map[string]any{"version": 1, "sha256Hash": hash}}}
	if query != "" {
		body["query"] = query
	}
	b, _ := json.Marshal(body)
	return b
}

func sha(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// TestPersistedQueriesAreNoOracle: a hash-only request finds only what the
// same user registered, so Bob cannot confirm a guess of a document Alice
// sent with her own search text in it.
func TestPersistedQueriesAreNoOracle(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *database.DB) {
		a := newAPI(t, db)
		alice, bob := a.token("alice"), a.token("bob")
		a.createTask(t, alice, map[string]any{"title": "divorce lawyer"})
		q := `{ tasks(where: {titleContains: "divorce"}) { totalCount } }`
		send := func(tok string, body []byte) response {
			return a.raw(http.MethodPost, "/query", bytes.NewReader(body), header(tok, "application/json"))
		}
		var out struct{ Tasks connection }
		send(alice, apqBody(q, sha(q))).decode(t, &out)
		if out.Tasks.TotalCount != 1 {
			t.Fatalf("alice registers and counts %d", out.Tasks.TotalCount)
		}
		send(alice, apqBody("", sha(q))).decode(t, &out)
		if e := send(bob, apqBody("", sha(q))).onlyError(t); e.code() != gqlerr.PersistedQueryNotFound {
			t.Errorf("bob's guess of alice's document: code %q, want %s", e.code(), gqlerr.PersistedQueryNotFound)
		}
		// Bob may register the same text for himself and sees his own rows.
		send(bob, apqBody(q, sha(q))).decode(t, &out)
		send(bob, apqBody("", sha(q))).decode(t, &out)
		if out.Tasks.TotalCount != 0 {
			t.Errorf("bob counts %d of alice's tasks", out.Tasks.TotalCount)
		}
	})
}

// TestIntrospectionSwitch: GraphiQL's own introspection query fits every
// limit when introspection is on, and is refused with its own code when it
// is off, with no field suggestions in errors either.
func TestIntrospectionSwitch(t *testing.T) {
	introspection, err := os.ReadFile("graph/testdata/introspection.graphql")
	if err != nil {
		t.Fatal(err)
	}
	db := testdb.Open(t, testdb.Dialects()[0])
	for _, on := range []bool{true, false} {
		t.Run(fmt.Sprintf("introspection %v", on), func(t *testing.T) {
			a := newAPIWith(t, db, serverOptions{GraphQL: graph.Options{Introspection: on}})
			tok := a.token("alice")
			res := a.post(tok, string(introspection), nil)
			typename := a.post(tok, `{ __typename tasks { __typename } }`, nil)
			typo := a.post(tok, `{ taks { totalCount } }`, nil)
			if on {
				var out struct {
					Schema struct{ Types []struct{ Name string } } `json:"__schema"`
				}
				res.decode(t, &out)
				if len(out.Schema.Types) < 10 {
					t.Errorf("%d types", len(out.Schema.Types))
				}
				if !strings.Contains(typo.Body, "Did you mean") {
					t.Errorf("no suggestion in development: %s", typo.Body)
				}
			} else {
				if e := res.onlyError(t); e.code() != gqlerr.IntrospectionDisabled {
					t.Errorf("code %q: %s", e.code(), res.Body)
				}
				if strings.Contains(typo.Body, "Did you mean") {
					t.Errorf("suggests fields with introspection off: %s", typo.Body)
				}
			}
			if len(typename.Errors) > 0 {
				t.Errorf("__typename is not introspection: %s", typename.Body)
			}
		})
	}
}

// TestErrorsPerResponse: a response holds at most Limits.Errors errors,
// the last saying how many more there were.
func TestErrorsPerResponse(t *testing.T) {
	db := testdb.Open(t, testdb.Dialects()[0])
	a := newAPIWith(t, db, serverOptions{GraphQL: graph.Options{Introspection: true, Limits: func() graph.Limits {
		l := graph.DefaultLimits()
		l.Errors = 5
		return l
	}()}})
	tok := a.token("alice")
	var q strings.Builder
	q.WriteString("{ tasks {")
	for i := range 12 {
		fmt.Fprintf(&q, " unknown%d", i)
	}
	q.WriteString(" } }")
	res := a.post(tok, q.String(), nil)
	if len(res.Errors) != 5 {
		t.Fatalf("%d errors, want 5: %s", len(res.Errors), res.Body)
	}
	last := res.Errors[4]
	if last.code() != gqlerr.TooManyErrors || !strings.Contains(last.Message, "8 more errors") {
		t.Errorf("last error %+v", last)
	}
	for _, e := range res.Errors[:4] {
		if e.code() != gqlerr.ValidationFailed {
			t.Errorf("error %+v", e)
		}
	}
}

// TestTextMustBeUnicode: invalid UTF-8 and unpaired surrogates are refused
// wherever they come, never stored as U+FFFD; paired ones round-trip.
func TestTextMustBeUnicode(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *database.DB) {
		a := newAPI(t, db)
		tok := a.token("alice")
		create := `mutation($t: String!) { createTask(input: {title: $t}) { title } }`
		for name, raw := range map[string]string{
			"lone high surrogate":          `"victim\ud800"`,
			"lone low surrogate":           `"victim\udc00"`,
			"high surrogate then a letter": `"\udbffx"`,
			"two high surrogates":          `"\ud800\ud800"`,
			"reversed pair":                `"\udc00\ud800"`,
		} {
			t.Run(name, func(t *testing.T) {
				body := `{"query":` + mustJSON(create) + `,"variables":{"t":` + raw + `}}`
				res := a.raw(http.MethodPost, "/query", strings.NewReader(body), header(tok, "application/json"))
				if res.Status != http.StatusBadRequest || len(res.Errors) != 1 || res.Errors[0].code() != gqlerr.BadUserInput {
					t.Errorf("status %d: %s", res.Status, res.Body)
				}
			})
		}
		t.Run("an escaped backslash before u is text", func(t *testing.T) {
			body := `{"query":` + mustJSON(create) + `,"variables":{"t":"C:\\ud800"}}`
			res := a.raw(http.MethodPost, "/query", strings.NewReader(body), header(tok, "application/json"))
			var out struct{ CreateTask task }
			res.decode(t, &out)
			if out.CreateTask.Title != `C:\ud800` {
				t.Errorf("title %q", out.CreateTask.Title)
			}
		})
		t.Run("a surrogate pair and U+FFFD itself are fine", func(t *testing.T) {
			body := `{"query":` + mustJSON(create) + `,"variables":{"t":"smile \ud83d\ude00 \ufffd"}}`
			res := a.raw(http.MethodPost, "/query", strings.NewReader(body), header(tok, "application/json"))
			var out struct{ CreateTask task }
			res.decode(t, &out)
			if out.CreateTask.Title != "smile 😀 \ufffd" {
				t.Errorf("title %q", out.CreateTask.Title)
			}
		})
		t.Run("in a document, escaped pairs are fine and lone ones refused", func(t *testing.T) {
			var out struct{ CreateTask task }
			a.post(tok, `mutation { createTask(input: {title: "pair \uD83D\uDE00 \u{1F600}"}) { title } }`, nil).decode(t, &out)
			if out.CreateTask.Title != "pair 😀 😀" {
				t.Errorf("title %q", out.CreateTask.Title)
			}
			for _, lit := range []string{`"\uD800"`, `"a\uDFFFb"`, `"\u{D800}"`} {
				if e := a.post(tok, `mutation { createTask(input: {title: `+lit+`}) { title } }`, nil).onlyError(t); e.code() != gqlerr.BadUserInput {
					t.Errorf("%s: code %q", lit, e.code())
				}
			}
			// Block strings and comments have no escapes.
			a.post(tok, "# \\uD800\nmutation { createTask(input: {title: \"\"\"block \\uD800\"\"\"}) { title } }", nil).decode(t, &out)
			if out.CreateTask.Title != `block \uD800` {
				t.Errorf("title %q", out.CreateTask.Title)
			}
		})
		t.Run("over GET", func(t *testing.T) {
			res := a.get(tok, url.Values{"query": {`query($t: String) { tasks(where: {titleContains: $t}) { totalCount } }`}, "variables": {`{"t":"\udfff"}`}})
			if res.Status != http.StatusBadRequest || len(res.Errors) != 1 || res.Errors[0].code() != gqlerr.BadUserInput {
				t.Errorf("status %d: %s", res.Status, res.Body)
			}
		})
		var out struct{ Tasks connection }
		a.post(tok, `{ tasks { totalCount edges { node { title } } } }`, nil).decode(t, &out)
		for _, e := range out.Tasks.Edges {
			if strings.ContainsRune(e.Node.Title, '\ufffd') && !strings.HasPrefix(e.Node.Title, "smile") {
				t.Errorf("stored %q", e.Node.Title)
			}
		}
		if out.Tasks.TotalCount != 4 {
			t.Errorf("%d tasks stored, want 4", out.Tasks.TotalCount)
		}
	})
}

func mustJSON(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// TestBodyAsDeclared: only uncompressed UTF-8 JSON is read, and a body that
// does not arrive in time gets a coded answer that names no address.
func TestBodyAsDeclared(t *testing.T) {
	db := testdb.Open(t, testdb.Dialects()[0])
	h, v := testHandler(t, db, io.Discard, serverOptions{})
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ReadTimeout = 300 * time.Millisecond
	srv.Start()
	t.Cleanup(srv.Close)
	tok, _ := v.Sign("alice", time.Hour)
	a := &api{t: t, srv: srv, signer: v, db: db}
	for _, hdr := range []map[string]string{
		{"Content-Type": "application/json; charset=latin1"},
		{"Content-Type": "application/json", "Content-Encoding": "gzip"},
	} {
		h := header(tok, "")
		for k, v := range hdr {
			h.Set(k, v)
		}
		res := a.raw(http.MethodPost, "/query", strings.NewReader(`{"query":"{ __typename }"}`), h)
		if res.Status != http.StatusUnsupportedMediaType {
			t.Errorf("%v: status %d: %s", hdr, res.Status, res.Body)
		}
	}

	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /query HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{", tok)
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusRequestTimeout || !strings.Contains(string(body), gqlerr.Timeout) || strings.Contains(string(body), "127.0.0.1") {
		t.Errorf("slow body: status %d: %s", res.StatusCode, body)
	}
}

// TestPersistedQueriesKeepOnlyWhatPasses: a document the budget refuses is
// not kept under its hash, so a tiny hash-only request cannot replay it.
func TestPersistedQueriesKeepOnlyWhatPasses(t *testing.T) {
	db := testdb.Open(t, testdb.Dialects()[0])
	a := newAPI(t, db)
	tok := a.token("mallory")
	q := "{" + strings.Repeat(" __typename", 600) + " }"
	send := func(body []byte) response {
		return a.raw(http.MethodPost, "/query", bytes.NewReader(body), header(tok, "application/json"))
	}
	if e := send(apqBody(q, sha(q))).onlyError(t); e.code() != gqlerr.FieldLimit {
		t.Fatalf("registering: %+v", e)
	}
	if e := send(apqBody("", sha(q))).onlyError(t); e.code() != gqlerr.PersistedQueryNotFound {
		t.Errorf("replaying: %+v", e)
	}
}
