package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"entgo.io/ent/dialect"

	"github.com/taskapi/server/graph"
	"github.com/taskapi/server/internal/gqlerr"
	"github.com/taskapi/server/internal/testdb"
)

// The fuzz targets hold the budget on inputs no one wrote down: whatever
// the bytes, the answer is coded, bounded in size, time and allocation,
// and never an internal error. `go test ./...` runs their seeds (testdata
// and the hostile corpus); .ci/run fuzzes each briefly.

// fuzzDo sends req and reads the answer, failing t on transport errors.
func fuzzDo(t *testing.T, a *api, req *http.Request) response {
	t.Helper()
	// A hang is a failure with its input saved, not a stalled fuzzer.
	ctx, cancel := context.WithTimeout(req.Context(), 5*time.Second)
	defer cancel()
	res, err := a.srv.Client().Do(req.WithContext(ctx))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	r := response{Status: res.StatusCode, Header: res.Header, Body: string(b)}
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("status %d, not JSON: %v: %.200s", res.StatusCode, err, b)
	}
	return r
}

// checkBudget fails t when an answer breaks the budget's promises.
func checkBudget(t *testing.T, res response, took time.Duration, allocated uint64) {
	t.Helper()
	switch res.Status {
	case 200, 400, 405, 413, 415:
	case 406: // @defer, which needs Accept: multipart/mixed
		if len(res.Errors) != 1 || res.Errors[0].code() != gqlerr.TransportNotSupported {
			t.Errorf("status 406: %.300s", res.Body)
		}
	default:
		t.Errorf("status %d: %.300s", res.Status, res.Body)
	}
	if res.Data == nil && len(res.Errors) == 0 {
		t.Errorf("neither data nor errors: %.300s", res.Body)
	}
	if len(res.Errors) > graph.DefaultLimits().Errors {
		t.Errorf("%d errors", len(res.Errors))
	}
	for _, e := range res.Errors {
		if e.code() == "" || e.code() == gqlerr.InternalServerError {
			t.Errorf("uncoded or internal error: %+v", e)
		}
	}
	if !raceEnabled && took > requestTimeBudget {
		t.Errorf("took %v", took)
	}
	if allocated > requestAllocBudget*allocFactor() {
		t.Errorf("allocated %d MB", allocated>>20)
	}
}

// FuzzHandler sends any body over POST and any query string over GET.
func FuzzHandler(f *testing.F) {
	for _, c := range hostileCorpus {
		if b := c.body(); len(b) < 64<<10 {
			f.Add(b, "")
		}
	}
	f.Add([]byte(`{"query":"{ tasks(first: 2) { edges { cursor node { id title } } } }"}`),
		"query="+url.QueryEscape(`query($n: Int) { tasks(first: $n) { totalCount } }`)+"&variables="+url.QueryEscape(`{"n": 3}`))
	f.Add([]byte(`{"documentId": "sha256:`+sha(opGet)+`", "variables": {"id": "00000000-0000-0000-0000-000000000000"}}`),
		"doc_id="+md5hex(opDelete)+"&variables="+url.QueryEscape(`{"id": 1}`))
	f.Add([]byte(`{"extensions": {"persistedQuery": {"version": 1, "sha256Hash": "`+sha(opList)+`"}}}`),
		"documentId=sha256:"+sha(opAdd))
	db := testdb.Open(f, dialect.SQLite)
	// Persisted documents loaded, in the default mode: ids, APQ and text.
	docs, _ := loadedDocuments(f)
	a := newAPIWith(f, db, serverOptions{GraphQL: graph.Options{Introspection: true, Documents: docs}})
	tok := a.token("fuzz")
	a.createTask(f, tok, map[string]any{"title": "seed"})
	f.Fuzz(func(t *testing.T, body []byte, rawQuery string) {
		post, _ := http.NewRequest(http.MethodPost, a.srv.URL+"/query", bytes.NewReader(body))
		post.Header = header(tok, "application/json")
		get, err := http.NewRequest(http.MethodGet, a.srv.URL+"/query?"+rawQuery, nil)
		if err != nil || strings.IndexFunc(rawQuery, func(r rune) bool { return r <= ' ' || r >= 0x7f || r == '#' }) >= 0 {
			return // not a request line a client would send: net/http answers it, not us
		}
		get.Header = header(tok, "")
		for _, req := range []*http.Request{post, get} {
			before := heapAllocated()
			start := time.Now()
			res := fuzzDo(t, a, req)
			checkBudget(t, res, time.Since(start), heapAllocated()-before)
		}
	})
}

// jsonString quotes s for JSON, passing invalid UTF-8 through as it is
// (encoding/json would replace it), so the server sees the raw bytes.
func jsonString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c < 0x20:
			b.WriteString(`\u00`)
			b.WriteString(strconv.FormatUint(uint64(c)>>4, 16))
			b.WriteString(strconv.FormatUint(uint64(c)&15, 16))
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// FuzzTaskInput creates a task from any title and description: it is
// either refused as BAD_USER_INPUT, or stored and read back exactly (the
// title trimmed), valid by every rule.
func FuzzTaskInput(f *testing.F) {
	for _, seed := range [][2]string{
		{"Buy milk", "2 litres"}, {"  padded  ", ""}, {"", "empty title"}, {"   ", "blank"},
		{strings.Repeat("é", 200), strings.Repeat("x", 2000)}, {strings.Repeat("a", 201), ""},
		{"nul\x00", ""}, {"bad \xff utf8", ""}, {"ok", "bad \xc3"}, {"\ufffd", "\U0001F600"},
		{"<script>", `"quoted" \ back`},
	} {
		f.Add(seed[0], seed[1])
	}
	db := testdb.Open(f, dialect.SQLite)
	a := newAPI(f, db)
	tok := a.token("fuzz")
	f.Fuzz(func(t *testing.T, title, description string) {
		body := `{"query":"mutation($t: String!, $d: String) { createTask(input: {title: $t, description: $d}) { id title description } }",` +
			`"variables":{"t":` + jsonString(title) + `,"d":` + jsonString(description) + `}}`
		req, _ := http.NewRequest(http.MethodPost, a.srv.URL+"/query", strings.NewReader(body))
		req.Header = header(tok, "application/json")
		before := heapAllocated()
		start := time.Now()
		res := fuzzDo(t, a, req)
		checkBudget(t, res, time.Since(start), heapAllocated()-before)
		if len(res.Errors) > 0 {
			if c := res.Errors[0].code(); c != gqlerr.BadUserInput {
				t.Fatalf("refused with %s: %s", c, res.Body)
			}
			return
		}
		var out struct{ CreateTask task }
		if err := json.Unmarshal(res.Data, &out); err != nil {
			t.Fatal(err)
		}
		got := out.CreateTask
		want := strings.TrimSpace(title)
		if got.Title != want || got.Description == nil || *got.Description != description {
			t.Fatalf("stored %q / %v, sent %q / %q", got.Title, got.Description, title, description)
		}
		if n := utf8.RuneCountInString(want); n < 1 || n > 200 || !utf8.ValidString(want+description) ||
			strings.ContainsRune(want+description, 0) || utf8.RuneCountInString(description) > 2000 {
			t.Fatalf("accepted an invalid task %q / %q", title, description)
		}
	})
}
