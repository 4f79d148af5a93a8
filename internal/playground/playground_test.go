package playground_test

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/parser"
	"github.com/vektah/gqlparser/v2/validator"

	"github.com/taskapi/server/internal/playground"
)

// newServer mounts the page and its assets as routes.go does.
func newServer(t *testing.T, devToken string) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle("GET /{$}", playground.Handler(devToken))
	mux.Handle("GET "+playground.AssetsPath, playground.Assets())
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func get(t *testing.T, url string, header ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res, string(body)
}

func sri(body string) string {
	sum := sha256.Sum256([]byte(body))
	return "sha256-" + base64.StdEncoding.EncodeToString(sum[:])
}

var (
	urlAttr = regexp.MustCompile(`\b(?:src|href)="([^"]*)"`)
	// An external script or stylesheet: its URL, then its integrity.
	subresource = regexp.MustCompile(`<(script|link)\b[^>]*?\b(?:src|href)="([^"]*)"[^>]*?\bintegrity="([^"]*)"`)
)

func TestPageLoadsOnlyLocalAssets(t *testing.T) {
	srv := newServer(t, "")
	res, page := get(t, srv.URL+"/")
	if res.StatusCode != http.StatusOK || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("GET /: %d %q", res.StatusCode, res.Header.Get("Content-Type"))
	}
	if strings.Contains(page, "://") {
		t.Errorf("the page names an absolute URL:\n%s", page)
	}
	var urls []string
	for _, m := range urlAttr.FindAllStringSubmatch(page, -1) {
		if u := html.UnescapeString(m[1]); u != "data:," { // the empty icon
			urls = append(urls, u)
		}
	}
	if len(urls) != 4 {
		t.Errorf("want 4 src/href attributes (React, ReactDOM, GraphiQL's script and stylesheet), got %q", urls)
	}
	for _, u := range urls {
		if !strings.HasPrefix(u, playground.AssetsPath) {
			t.Errorf("the page loads %q, which is not under %s", u, playground.AssetsPath)
		}
	}

	subs := subresource.FindAllStringSubmatch(page, -1)
	if len(subs) != len(urls) {
		t.Errorf("%d of %d loaded files carry an integrity attribute", len(subs), len(urls))
	}
	// Without it the browser fetches them without CORS, and refuses what
	// integrity then asks of them.
	if n := strings.Count(page, `crossorigin="anonymous"`); n != len(urls) {
		t.Errorf("%d of %d loaded files are fetched with crossorigin=anonymous", n, len(urls))
	}
	// An empty icon spares the browser a request for /favicon.ico, which
	// the server does not have.
	if !strings.Contains(page, `<link rel="icon" href="data:,">`) {
		t.Error("the page has no empty icon")
	}
	wantType := map[string]string{
		"script": "text/javascript; charset=utf-8",
		"link":   "text/css; charset=utf-8",
	}
	for _, m := range subs {
		tag, url, integrity := m[1], html.UnescapeString(m[2]), html.UnescapeString(m[3])
		t.Run(url, func(t *testing.T) {
			res, body := get(t, srv.URL+url)
			if res.StatusCode != http.StatusOK {
				t.Fatalf("status %d", res.StatusCode)
			}
			if got := res.Header.Get("Content-Type"); got != wantType[tag] {
				t.Errorf("Content-Type %q, want %q", got, wantType[tag])
			}
			if got := res.Header.Get("Cache-Control"); !strings.Contains(got, "immutable") || !strings.Contains(got, "max-age=31536000") {
				t.Errorf("Cache-Control %q, want a year and immutable", got)
			}
			if got := sri(body); got != integrity {
				t.Errorf("served file hashes to %s, the page promises %s", got, integrity)
			}
			res, _ = get(t, srv.URL+url, "If-None-Match", res.Header.Get("ETag"))
			if res.StatusCode != http.StatusNotModified {
				t.Errorf("revalidation with the ETag: status %d, want 304", res.StatusCode)
			}
		})
	}
}

func TestLicensesAreServedBesideTheAssets(t *testing.T) {
	srv := newServer(t, "")
	for _, dir := range []string{"graphiql-4.1.2", "react-18.2.0", "react-dom-18.2.0"} {
		res, body := get(t, srv.URL+playground.AssetsPath+dir+"/LICENSE")
		if res.StatusCode != http.StatusOK || !strings.Contains(body, "MIT License") {
			t.Errorf("%s/LICENSE: %d %.40q", dir, res.StatusCode, body)
		}
	}
}

func TestUnknownAssetIsNotFound(t *testing.T) {
	srv := newServer(t, "")
	for _, p := range []string{"nope.js", "graphiql-4.1.2/", "graphiql-4.1.2", "../playground.go", ""} {
		if res, _ := get(t, srv.URL+playground.AssetsPath+p); res.StatusCode != http.StatusNotFound {
			t.Errorf("%q: status %d, want 404", p, res.StatusCode)
		}
	}
}

func TestDevelopmentTokenFillsTheAuthorizationHeader(t *testing.T) {
	const tok = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJkZW1vIn0.c2lnbmF0dXJl"
	script := pageScript(t, newServer(t, tok))
	if n := strings.Count(script, tok); n != 1 {
		t.Errorf("the script carries the development token %d times, want 1:\n%s", n, script)
	}
	// One value for both: the fetcher's own headers (which introspection
	// uses) and the headers editor.
	for _, want := range []string{
		`const headers = {"Authorization":"Bearer ` + tok + `"};`,
		`fetcher: GraphiQL.createFetcher({ url, headers }),`,
		`headers: headers && JSON.stringify(headers, null, 2),`,
		// A saved copy would outlive the process whose secret signed it.
		`shouldPersistHeaders:  false ,`,
	} {
		if !strings.Contains(script, want) {
			t.Errorf("the script lacks %s:\n%s", want, script)
		}
	}

	script = pageScript(t, newServer(t, ""))
	if strings.Contains(script, `"Authorization":"Bearer`) {
		t.Error("without a development token the page still fills an Authorization header")
	}
	for _, want := range []string{`const headers = undefined;`, `shouldPersistHeaders:  true ,`} {
		if !strings.Contains(script, want) {
			t.Errorf("without a development token the script lacks %s:\n%s", want, script)
		}
	}
}

func TestPageKeepsItsStateUnderItsOwnPrefix(t *testing.T) {
	script := pageScript(t, newServer(t, ""))
	for _, want := range []string{
		`storage: new PrefixedStorage("tasks:"),`,
		`const url = location.origin + "/query";`,
		`isHeadersEditorEnabled: true,`,
	} {
		if !strings.Contains(script, want) {
			t.Errorf("the script lacks %s:\n%s", want, script)
		}
	}
	if strings.Contains(script, "subscriptionUrl") {
		t.Error("the page names a subscription URL, and the server has no realtime transport")
	}
}

var defaultQuery = regexp.MustCompile(`\bdefaultQuery: ("(?:[^"\\\n]|\\.)*"),`)

// starterQuery is the editor's text for a new visitor, read back from the
// JavaScript string literal html/template wrote.
func starterQuery(t *testing.T, script string) string {
	t.Helper()
	m := defaultQuery.FindStringSubmatch(script)
	if m == nil {
		t.Fatalf("no defaultQuery string in the script:\n%s", script)
	}
	// html/template writes a JSON string, with <, > and & as \u escapes.
	var q string
	if err := json.Unmarshal([]byte(m[1]), &q); err != nil {
		t.Fatalf("defaultQuery %s: %v", m[1], err)
	}
	return q
}

// loadSchema reads the server's schema as gqlgen.yml lists it.
func loadSchema(t *testing.T) *ast.Schema {
	t.Helper()
	var sources []*ast.Source
	for _, name := range []string{"../../ent.graphql", "../../schema.graphqls"} {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		sources = append(sources, &ast.Source{Name: name, Input: string(b)})
	}
	schema, err := gqlparser.LoadSchema(sources...)
	if err != nil {
		t.Fatal(err)
	}
	return schema
}

// validate parses doc and validates it against schema.
func validate(t *testing.T, schema *ast.Schema, doc string) *ast.QueryDocument {
	t.Helper()
	parsed, err := parser.ParseQuery(&ast.Source{Name: "starter", Input: doc})
	if err != nil {
		t.Fatalf("%v in:\n%s", err, doc)
	}
	// ValidateWithRules(…, nil) is Validate with the default rules, minus
	// the deprecation.
	if errs := validator.ValidateWithRules(schema, parsed, nil); len(errs) > 0 {
		t.Fatalf("%v in:\n%s", errs, doc)
	}
	return parsed
}

func TestStarterQueryRunsAgainstTheSchema(t *testing.T) {
	script := pageScript(t, newServer(t, ""))
	q := starterQuery(t, script)
	schema := loadSchema(t)

	t.Run("the page escapes it as a script string", func(t *testing.T) {
		if !strings.Contains(q, "Bearer <token>") {
			t.Errorf("the starter query does not say how to authorize:\n%s", q)
		}
		if strings.Contains(script, "<token>") {
			t.Error("the script holds a raw <: html/template did not escape the query")
		}
	})

	t.Run("one named query lists the viewer's tasks", func(t *testing.T) {
		doc := validate(t, schema, q)
		if len(doc.Operations) != 1 {
			t.Fatalf("%d operations: Run without choosing one needs exactly one", len(doc.Operations))
		}
		op := doc.Operations[0]
		if op.Operation != ast.Query || op.Name == "" {
			t.Errorf("operation %s %q, want a named query", op.Operation, op.Name)
		}
		if len(op.SelectionSet) != 1 || op.SelectionSet[0].(*ast.Field).Name != "tasks" {
			t.Errorf("the query should select tasks alone:\n%s", q)
		}
	})

	t.Run("its commented createTask example is valid too", func(t *testing.T) {
		var mutation []string
		for line := range strings.Lines(q) {
			if len(mutation) == 0 && !strings.HasPrefix(line, "# mutation ") {
				continue
			}
			mutation = append(mutation, strings.TrimPrefix(line, "# "))
			if line == "# }\n" {
				break
			}
		}
		if len(mutation) == 0 {
			t.Fatalf("no commented mutation in:\n%s", q)
		}
		doc := validate(t, schema, strings.Join(mutation, ""))
		if op := doc.Operations[0]; op.Operation != ast.Mutation || op.SelectionSet[0].(*ast.Field).Name != "createTask" {
			t.Errorf("the example is %s %s, want a createTask mutation", op.Operation, op.Name)
		}
	})
}

func TestPolicyAllowsExactlyThePageScript(t *testing.T) {
	for _, tok := range []string{"tok", ""} {
		t.Run(fmt.Sprintf("token %q", tok), func(t *testing.T) {
			res, page := get(t, newServer(t, tok).URL+"/")
			csp := res.Header.Get("Content-Security-Policy")
			scripts := inlineScript.FindAllStringSubmatch(page, -1)
			if len(scripts) != 1 {
				t.Fatalf("want one inline script, got %d", len(scripts))
			}
			if want := "script-src 'self' '" + sri(scripts[0][1]) + "';"; !strings.Contains(csp, want) {
				t.Errorf("Content-Security-Policy %q does not contain %q", csp, want)
			}
			if !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "connect-src 'self'") {
				t.Errorf("Content-Security-Policy %q", csp)
			}
			if got := res.Header.Get("Cache-Control"); got != "no-store" {
				t.Errorf("Cache-Control %q: a page with a token must not be stored", got)
			}
		})
	}
}

var inlineScript = regexp.MustCompile(`(?s)<script>(.*?)</script>`)

// pageScript is the page's one inline script.
func pageScript(t *testing.T, srv *httptest.Server) string {
	t.Helper()
	_, page := get(t, srv.URL+"/")
	scripts := inlineScript.FindAllStringSubmatch(page, -1)
	if len(scripts) != 1 {
		t.Fatalf("want one inline script, got %d:\n%s", len(scripts), page)
	}
	return scripts[0][1]
}
