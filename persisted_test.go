package main

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/taskapi/server/graph"
	"github.com/taskapi/server/internal/database"
	"github.com/taskapi/server/internal/gqlerr"
	"github.com/taskapi/server/internal/persisted"
	"github.com/taskapi/server/internal/testdb"
)

// The operations an app release ships in its manifest.
const (
	opList   = `query ListTasks { tasks(first: 50) { totalCount edges { node { id title } } } }`
	opGet    = `query GetTask($id: ID!) { task(id: $id) { id title isCompleted } }`
	opAdd    = `mutation AddTask($title: String!) { createTask(input: {title: $title}) { id title } }`
	opDone   = `mutation CompleteTask($id: ID!) { updateTask(id: $id, input: {isCompleted: true}) { id isCompleted } }`
	opDelete = `mutation DeleteTask($id: ID!) { deleteTask(id: $id) }`
	opSchema = `query Schema { __schema { queryType { name } } }`
)

func md5hex(s string) string { sum := md5.Sum([]byte(s)); return hex.EncodeToString(sum[:]) }

// writeManifests writes one release's manifests in each format into dir:
// an Apollo manifest (iOS, Kotlin, Apollo Client), a codegen map with
// sha256: ids (urql) and a Relay query map with MD5 ids.
func writeManifests(t testing.TB, dir string) {
	t.Helper()
	type op struct {
		ID   string `json:"id"`
		Name string `json:"name"`
		Type string `json:"type"`
		Body string `json:"body"`
	}
	apollo := map[string]any{"format": "apollo-persisted-query-manifest", "version": 1, "operations": []op{
		{sha(opList), "ListTasks", "query", opList},
		{sha(opAdd), "AddTask", "mutation", opAdd},
		{sha(opDone), "CompleteTask", "mutation", opDone},
	}}
	write := func(name string, v any) {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("apollo.json", apollo)
	write("persisted-documents.json", map[string]string{"sha256:" + sha(opGet): opGet})
	write("relay.json", map[string]string{md5hex(opDelete): opDelete})
}

// loadedDocuments returns the documents of one release, as the server
// loads them.
func loadedDocuments(t testing.TB) (*graph.Documents, string) {
	t.Helper()
	dir := t.TempDir()
	writeManifests(t, dir)
	docs := graph.NewDocuments(graph.DefaultLimits())
	list, err := persisted.Load([]string{dir})
	if err != nil {
		t.Fatal(err)
	}
	if err := docs.Load(list); err != nil {
		t.Fatal(err)
	}
	return docs, dir
}

// byID sends params as a client that names documents by id: POST with a
// JSON body, or GET with the same parameters in the URL.
func (a *api) byID(tok, method string, params map[string]any, h http.Header) response {
	a.t.Helper()
	if h == nil {
		h = header(tok, "")
	}
	if method == http.MethodGet {
		q := url.Values{}
		for k, v := range params {
			if s, ok := v.(string); ok {
				q.Set(k, s)
				continue
			}
			b, _ := json.Marshal(v)
			q.Set(k, string(b))
		}
		return a.raw(http.MethodGet, "/query?"+q.Encode(), nil, h)
	}
	body, err := json.Marshal(params)
	if err != nil {
		a.t.Fatal(err)
	}
	h.Set("Content-Type", "application/json")
	return a.raw(http.MethodPost, "/query", bytes.NewReader(body), h)
}

func apq(hash string) map[string]any {
	return map[string]any{"persistedQuery": map[string]any{"version": 1, "sha256Hash": hash}}
}

func TestPersistedDocumentsOnly(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *database.DB) {
		docs, _ := loadedDocuments(t)
		a := newAPIWith(t, db, serverOptions{GraphQL: graph.Options{Documents: docs, Mode: graph.ModeOnly}})
		alice, bob := a.token("alice"), a.token("bob")

		// Each client's wire shape, as it sends it.
		var added struct{ CreateTask task }
		a.byID(alice, http.MethodPost, map[string]any{ // Apollo iOS
			"operationName": "AddTask", "variables": map[string]any{"title": "from iOS"}, "extensions": apq(sha(opAdd)),
		}, nil).decode(t, &added)
		own := added.CreateTask
		if own.Title != "from iOS" || countRows(t, db) != 1 {
			t.Fatalf("created %+v, %d rows", own, countRows(t, db))
		}
		kotlin := header(alice, "")
		kotlin.Set("Apollo-Require-Preflight", "true")
		kotlin.Set("X-Apollo-Operation-Name", "ListTasks")
		for _, tc := range []struct {
			name   string
			method string
			params map[string]any
			h      http.Header
		}{
			{"Apollo Kotlin: GET with the hash in extensions", http.MethodGet, map[string]any{"operationName": "ListTasks", "variables": map[string]any{}, "extensions": apq(sha(opList))}, kotlin},
			{"Apollo Client: POST with the hash alone", http.MethodPost, map[string]any{"extensions": apq(sha(opList))}, nil},
			{"documentId with sha256:", http.MethodPost, map[string]any{"documentId": "sha256:" + sha(opList)}, nil},
			{"documentId as bare hex (codegen 5)", http.MethodPost, map[string]any{"documentId": sha(opList)}, nil},
			{"documentId in upper-case hex", http.MethodPost, map[string]any{"documentId": "sha256:" + strings.ToUpper(sha(opList))}, nil},
			{"documentId by GET", http.MethodGet, map[string]any{"documentId": "sha256:" + sha(opList)}, nil},
			{"the document's exact text", http.MethodPost, map[string]any{"query": opList}, nil},
		} {
			t.Run(tc.name, func(t *testing.T) {
				var out struct{ Tasks connection }
				a.byID(alice, tc.method, tc.params, tc.h).decode(t, &out)
				if out.Tasks.TotalCount != 1 || out.Tasks.Edges[0].Node.ID != own.ID {
					t.Errorf("got %+v", out.Tasks)
				}
			})
		}
		t.Run("Relay: doc_id with an MD5 id", func(t *testing.T) {
			other := a.createTaskByID(t, alice, "to delete")
			var out struct{ DeleteTask string }
			a.byID(alice, http.MethodPost, map[string]any{"doc_id": md5hex(opDelete), "variables": map[string]any{"id": other}}, nil).decode(t, &out)
			if out.DeleteTask != other || countRows(t, db) != 1 {
				t.Errorf("deleted %q, %d rows left", out.DeleteTask, countRows(t, db))
			}
		})

		t.Run("another user's id in a persisted operation is NOT_FOUND", func(t *testing.T) {
			var list struct{ Tasks connection }
			a.byID(bob, http.MethodPost, map[string]any{"documentId": "sha256:" + sha(opList)}, nil).decode(t, &list)
			if list.Tasks.TotalCount != 0 {
				t.Errorf("bob lists %+v", list.Tasks)
			}
			for _, tc := range []struct{ name, id string }{
				{"GetTask", "sha256:" + sha(opGet)},
				{"CompleteTask", "sha256:" + sha(opDone)},
				{"DeleteTask", md5hex(opDelete)},
			} {
				res := a.byID(bob, http.MethodPost, map[string]any{"documentId": tc.id, "variables": map[string]any{"id": own.ID}}, nil)
				if len(res.Errors) != 1 || res.Errors[0].code() != gqlerr.NotFound {
					t.Errorf("%s of alice's task as bob: %s", tc.name, res.Body)
				}
			}
			var got struct{ Task task }
			a.byID(alice, http.MethodPost, map[string]any{"documentId": "sha256:" + sha(opGet), "variables": map[string]any{"id": own.ID}}, nil).decode(t, &got)
			if got.Task.Title != "from iOS" || got.Task.IsCompleted || countRows(t, db) != 1 {
				t.Errorf("alice's task after bob: %+v, %d rows", got.Task, countRows(t, db))
			}
		})

		t.Run("a mutation by GET is 405 and changes nothing", func(t *testing.T) {
			res := a.byID(alice, http.MethodGet, map[string]any{"documentId": "sha256:" + sha(opAdd), "variables": map[string]any{"title": "by GET"}}, nil)
			if res.Status != http.StatusMethodNotAllowed || res.Header.Get("Allow") != "POST" || countRows(t, db) != 1 {
				t.Errorf("status %d, Allow %q, %d rows: %s", res.Status, res.Header.Get("Allow"), countRows(t, db), res.Body)
			}
		})

		for _, tc := range []struct {
			name   string
			params map[string]any
			code   string
		}{
			{"a document not in the list", map[string]any{"query": `{ tasks { totalCount } }`}, gqlerr.PersistedQueryNotInList},
			{"APQ registering a new text", map[string]any{"query": `{ tasks { totalCount } }`, "extensions": apq(sha(`{ tasks { totalCount } }`))}, gqlerr.PersistedQueryNotInList},
			{"introspection", map[string]any{"query": opSchema}, gqlerr.PersistedQueryNotInList},
			{"a mutation not in the list", map[string]any{"query": `mutation { createTask(input: {title: "x"}) { id } }`}, gqlerr.PersistedQueryNotInList},
			{"an unknown hash", map[string]any{"extensions": apq(sha("{ nope }"))}, gqlerr.PersistedQueryNotFound},
			{"an unknown documentId", map[string]any{"documentId": "sha256:" + sha("{ nope }")}, gqlerr.PersistedQueryNotFound},
			{"another prefix", map[string]any{"documentId": "md5:" + md5hex(opDelete)}, gqlerr.PersistedQueryNotFound},
			{"an unknown doc_id", map[string]any{"doc_id": "nope"}, gqlerr.PersistedQueryNotFound},
		} {
			t.Run(tc.name+" is refused with "+tc.code, func(t *testing.T) {
				for _, accept := range []string{"application/json", "application/graphql-response+json"} {
					h := header(alice, "")
					h.Set("Accept", accept)
					res := a.byID(alice, http.MethodPost, tc.params, h)
					want := http.StatusOK
					if accept != "application/json" {
						want = http.StatusBadRequest
					}
					if e := res.onlyError(t); e.code() != tc.code || res.Status != want || res.Data != nil || strings.Contains(res.Body, `"data"`) {
						t.Errorf("accepting %s: status %d: %s", accept, res.Status, res.Body)
					}
				}
				if countRows(t, db) != 1 {
					t.Errorf("%d rows", countRows(t, db))
				}
			})
		}
		t.Run("a text and an id at once is a bad request", func(t *testing.T) {
			res := a.byID(alice, http.MethodPost, map[string]any{"query": opList, "documentId": "sha256:" + sha(opList)}, nil)
			if e := res.onlyError(t); e.code() != gqlerr.BadRequest || res.Status != http.StatusBadRequest {
				t.Errorf("status %d: %s", res.Status, res.Body)
			}
		})
		t.Run("a hash sent with another document's text is a bad request", func(t *testing.T) {
			res := a.byID(alice, http.MethodPost, map[string]any{"query": opGet, "extensions": apq(sha(opList))}, nil)
			if e := res.onlyError(t); e.code() != gqlerr.BadRequest {
				t.Errorf("status %d: %s", res.Status, res.Body)
			}
		})
		t.Run("metrics name each persisted document, and free-form ones as one", func(t *testing.T) {
			res := a.raw("GET", "/metrics", nil, nil)
			for _, want := range []string{`document="ListTasks",outcome="ok",type="query"`, `document="AddTask",outcome="ok",type="mutation"`,
				`document="free-form",outcome="PERSISTED_QUERY_NOT_IN_LIST"`} {
				if !strings.Contains(res.Body, want) {
					t.Errorf("/metrics lacks %s", want)
				}
			}
		})
	})
}

// createTaskByID creates a task through the persisted AddTask.
func (a *api) createTaskByID(t *testing.T, tok, title string) string {
	t.Helper()
	var out struct{ CreateTask task }
	a.byID(tok, http.MethodPost, map[string]any{"documentId": "sha256:" + sha(opAdd), "variables": map[string]any{"title": title}}, nil).decode(t, &out)
	return out.CreateTask.ID
}

func TestPersistedDocumentsOnlyWithIntrospection(t *testing.T) {
	docs, _ := loadedDocuments(t)
	a := newAPIWith(t, testdb.Open(t, "sqlite3"), serverOptions{GraphQL: graph.Options{Documents: docs, Mode: graph.ModeOnly, Introspection: true}})
	alice := a.token("alice")
	var out struct {
		Schema struct{ QueryType struct{ Name string } } `json:"__schema"`
	}
	a.post(alice, `{ __schema { queryType { name } } __typename }`, nil).decode(t, &out)
	if out.Schema.QueryType.Name != "Query" {
		t.Errorf("got %+v", out)
	}
	for _, q := range []string{`{ __schema { queryType { name } } tasks { totalCount } }`, `{ ...F } fragment F on Query { tasks { totalCount } }`} {
		if e := a.post(alice, q, nil).onlyError(t); e.code() != gqlerr.PersistedQueryNotInList {
			t.Errorf("%s: %+v", q, e)
		}
	}
}

func TestPersistedDocumentsAllowAndOff(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *database.DB) {
		docs, _ := loadedDocuments(t)
		allow := newAPIWith(t, db, serverOptions{GraphQL: graph.Options{Documents: docs}})
		off := newAPIWith(t, db, serverOptions{GraphQL: graph.Options{Mode: graph.ModeOff}})
		alice, bob := allow.token("alice"), allow.token("bob")
		allow.createTask(t, alice, map[string]any{"title": "mine"})

		t.Run("allow: known ids, free-form text and APQ all run", func(t *testing.T) {
			var out struct{ Tasks connection }
			allow.byID(alice, http.MethodPost, map[string]any{"documentId": "sha256:" + sha(opList)}, nil).decode(t, &out)
			if out.Tasks.TotalCount != 1 {
				t.Errorf("by id: %+v", out.Tasks)
			}
			q := `{ tasks { totalCount } }`
			if e := allow.byID(alice, http.MethodPost, map[string]any{"extensions": apq(sha(q))}, nil).onlyError(t); e.code() != gqlerr.PersistedQueryNotFound {
				t.Errorf("APQ before registration: %+v", e)
			}
			allow.byID(alice, http.MethodPost, map[string]any{"query": q, "extensions": apq(sha(q))}, nil).decode(t, &out)
			allow.byID(alice, http.MethodPost, map[string]any{"extensions": apq(sha(q))}, nil).decode(t, &out)
			if out.Tasks.TotalCount != 1 {
				t.Errorf("APQ: %+v", out.Tasks)
			}
			// APQ is per user: bob has not registered the text.
			if e := allow.byID(bob, http.MethodPost, map[string]any{"extensions": apq(sha(q))}, nil).onlyError(t); e.code() != gqlerr.PersistedQueryNotFound {
				t.Errorf("bob's APQ: %+v", e)
			}
			if e := allow.byID(alice, http.MethodPost, map[string]any{"documentId": "sha256:" + sha(q)}, nil).onlyError(t); e.code() != gqlerr.PersistedQueryNotFound {
				t.Errorf("documentId of an APQ text: %+v", e)
			}
		})
		t.Run("off: an id is PERSISTED_QUERY_NOT_SUPPORTED and text runs", func(t *testing.T) {
			for _, params := range []map[string]any{
				{"documentId": "sha256:" + sha(opList)}, {"doc_id": md5hex(opDelete)}, {"extensions": apq(sha(opList))},
				{"query": opList, "extensions": apq(sha(opList))},
			} {
				if e := off.byID(alice, http.MethodPost, params, nil).onlyError(t); e.code() != gqlerr.PersistedQueryNotSupported || e.Message != "PersistedQueryNotSupported" {
					t.Errorf("%v: %+v", params, e)
				}
			}
			var out struct{ Tasks connection }
			off.post(alice, opList, nil).decode(t, &out)
			if out.Tasks.TotalCount != 1 {
				t.Errorf("text: %+v", out.Tasks)
			}
		})
	})
}

func TestPersistedDocumentsReload(t *testing.T) {
	docs, dir := loadedDocuments(t)
	a := newAPIWith(t, testdb.Open(t, "sqlite3"), serverOptions{GraphQL: graph.Options{Documents: docs, Mode: graph.ModeOnly}})
	alice := a.token("alice")
	count := `query Count { tasks { totalCount } }`
	run := func(id string) response {
		return a.byID(alice, http.MethodPost, map[string]any{"documentId": id}, nil)
	}
	if e := run("sha256:" + sha(count)).onlyError(t); e.code() != gqlerr.PersistedQueryNotFound {
		t.Fatalf("before the release: %+v", e)
	}
	reload := func() error {
		list, err := persisted.Load([]string{dir})
		if err != nil {
			return err
		}
		return docs.Load(list)
	}

	// A new release adds its manifest beside the old ones.
	if err := os.WriteFile(filepath.Join(dir, "release-2.json"), []byte(`{"sha256:`+sha(count)+`": `+quote(count)+`}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := reload(); err != nil {
		t.Fatal(err)
	}
	var out struct{ Tasks connection }
	run("sha256:"+sha(count)).decode(t, &out)
	run("sha256:"+sha(opList)).decode(t, &out)

	// A bad one is refused, naming the file and the operation, and the set
	// in use stays.
	for name, body := range map[string]string{
		"unknown field": `{"format": "apollo-persisted-query-manifest", "version": 1, "operations": [{"id": "` + sha(`query Bad { nope }`) + `", "name": "Bad", "type": "query", "body": "query Bad { nope }"}]}`,
		"over the cost": `{"costly": ` + quote(`query Costly { a: tasks(first: 100) { edges { node { id } } } b: tasks(first: 100) { edges { node { id } } } c: tasks(first: 100) { edges { node { id } } } d: tasks(first: 100) { edges { node { id } } } e: tasks(first: 100) { edges { node { id } } } f: tasks(first: 100) { edges { node { id } } } g: tasks(first: 100) { edges { node { id } } } h: tasks(first: 100) { edges { node { id } } } i: tasks(first: 100) { edges { node { id } } } j: tasks(first: 100) { edges { node { id } } } k: tasks(first: 100) { edges { node { id } } } }`) + `}`,
		"wrong sha256":  `{"sha256:` + sha("other") + `": ` + quote(count) + `}`,
		"parse error":   `{"broken": "query {"}`,
	} {
		t.Run("a bad manifest is refused: "+name, func(t *testing.T) {
			bad := filepath.Join(dir, "release-3.json")
			if err := os.WriteFile(bad, []byte(body), 0o600); err != nil {
				t.Fatal(err)
			}
			defer os.Remove(bad)
			err := reload()
			if err == nil || !strings.Contains(err.Error(), "release-3.json") || strings.Contains(err.Error(), "\n") {
				t.Fatalf("got %v", err)
			}
			run("sha256:"+sha(count)).decode(t, &out)
			run("sha256:"+sha(opList)).decode(t, &out)
		})
	}
}

// TestPersistedDocumentsStillBudgeted: a known document skips what depends
// on its text alone; what depends on the request (its variables' cost and
// size, introspection being off) is checked each time.
func TestPersistedDocumentsStillBudgeted(t *testing.T) {
	var b strings.Builder
	b.WriteString(`query Pages($n: Int) {`)
	for _, a := range "abcdefghij" {
		b.WriteString(" " + string(a) + `: tasks(first: $n) { edges { node { id title description isCompleted } } }`)
	}
	b.WriteString(" }")
	pages := b.String()
	docs, _ := loadedDocuments(t)
	all := []persisted.Document{
		{ID: sha(pages), Name: "Pages", Body: pages, Source: "test"},
		{ID: sha(opSchema), Name: "Schema", Body: opSchema, Source: "test"},
		{ID: sha(opAdd), Name: "AddTask", Body: opAdd, Source: "test"},
	}
	if err := docs.Load(all); err != nil {
		t.Fatal(err)
	}
	a := newAPIWith(t, testdb.Open(t, "sqlite3"), serverOptions{GraphQL: graph.Options{Documents: docs, Mode: graph.ModeOnly}})
	alice := a.token("alice")
	run := func(id string, vars map[string]any) response {
		return a.byID(alice, http.MethodPost, map[string]any{"documentId": id, "variables": vars}, nil)
	}
	var out map[string]any
	run(sha(pages), map[string]any{"n": 5}).decode(t, &out)
	for _, tc := range []struct {
		name, id string
		vars     map[string]any
		code     string
	}{
		{"ten pages of 100", sha(pages), map[string]any{"n": 100}, gqlerr.ComplexityLimit},
		{"a 300 KB variable", sha(opAdd), map[string]any{"title": strings.Repeat("x", 300<<10)}, gqlerr.InputLimit},
		{"an Int variable that is a string", sha(pages), map[string]any{"n": "5"}, gqlerr.BadUserInput},
		{"introspection while it is off", sha(opSchema), nil, gqlerr.IntrospectionDisabled},
	} {
		res := run(tc.id, tc.vars)
		if e := res.onlyError(t); e.code() != tc.code || res.Data != nil {
			t.Errorf("%s: %.300s", tc.name, res.Body)
		}
	}
	if countRows(t, a.db) != 0 {
		t.Errorf("%d rows written", countRows(t, a.db))
	}
}

func TestPersistedDocumentsMeasuredWithTheHandlersLimits(t *testing.T) {
	docs, _ := loadedDocuments(t)
	strict := graph.DefaultLimits()
	strict.Depth = 2
	defer func() {
		if r := recover(); r == nil || !strings.Contains(fmt.Sprint(r), "other limits") {
			t.Errorf("a handler took documents measured with other limits (recovered %v)", r)
		}
	}()
	newAPIWith(t, testdb.Open(t, "sqlite3"), serverOptions{GraphQL: graph.Options{Documents: docs, Limits: strict}})
}

// TestPersistedDocumentsReloadRace runs documents by id, by text and by
// hash as two users while the set is swapped under them: each sees a
// document or PERSISTED_QUERY_NOT_*, and only their own tasks.
func TestPersistedDocumentsReloadRace(t *testing.T) {
	docs, dir := loadedDocuments(t)
	a := newAPIWith(t, testdb.Open(t, "sqlite3"), serverOptions{GraphQL: graph.Options{Documents: docs, Mode: graph.ModeOnly}})
	alice, bob := a.token("alice"), a.token("bob")
	a.createTaskByID(t, alice, "alice-only")
	full, err := persisted.Load([]string{dir})
	if err != nil {
		t.Fatal(err)
	}
	var small []persisted.Document
	for _, d := range full {
		if d.Body != opList {
			small = append(small, d)
		}
	}
	stop := make(chan struct{})
	var swaps sync.WaitGroup
	swaps.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			set := full
			if i%2 == 1 {
				set = small
			}
			if err := docs.Load(set); err != nil {
				t.Error(err)
				return
			}
		}
	})
	send := func(tok string, body map[string]any) string {
		b, _ := json.Marshal(body)
		req, _ := http.NewRequest("POST", a.srv.URL+"/query", bytes.NewReader(b))
		req.Header = header(tok, "application/json")
		res, err := a.srv.Client().Do(req)
		if err != nil {
			t.Error(err)
			return ""
		}
		defer res.Body.Close()
		out, _ := io.ReadAll(res.Body)
		return string(out)
	}
	var users sync.WaitGroup
	for _, u := range []struct{ tok, name string }{{alice, "alice"}, {bob, "bob"}} {
		for range 3 {
			users.Go(func() {
				for i := range 100 {
					body := []map[string]any{{"documentId": "sha256:" + sha(opList)}, {"query": opList}, {"extensions": apq(sha(opList))}}[i%3]
					got := send(u.tok, body)
					switch {
					case u.name == "bob" && strings.Contains(got, "alice-only"):
						t.Errorf("bob sees alice's task: %s", got)
					case u.name == "alice" && strings.Contains(got, `"data"`) && !strings.Contains(got, "alice-only"):
						t.Errorf("alice does not see her task: %s", got)
					case strings.Contains(got, `"data"`), strings.Contains(got, gqlerr.PersistedQueryNotFound), strings.Contains(got, gqlerr.PersistedQueryNotInList):
					default:
						t.Errorf("%s: %s", u.name, got)
					}
				}
			})
		}
	}
	users.Wait()
	close(stop)
	swaps.Wait()
}
