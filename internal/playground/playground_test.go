package playground_test

import (
	"crypto/sha256"
	"encoding/base64"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

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
	_, page := get(t, newServer(t, tok).URL+"/")
	// Once for the headers editor, once for the fetcher's own headers,
	// which introspection uses.
	if n := strings.Count(page, `{"Authorization":"Bearer `+tok+`"}`); n != 2 {
		t.Errorf("the page carries the development token %d times, want 2:\n%s", n, page)
	}
	_, page = get(t, newServer(t, "").URL+"/")
	if strings.Contains(page, "Bearer") {
		t.Error("without a development token the page still fills an Authorization header")
	}
}

func TestPolicyAllowsExactlyThePageScript(t *testing.T) {
	res, page := get(t, newServer(t, "tok").URL+"/")
	csp := res.Header.Get("Content-Security-Policy")
	scripts := regexp.MustCompile(`(?s)<script>(.*?)</script>`).FindAllStringSubmatch(page, -1)
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
}
