// Package playground serves GraphiQL with its scripts and stylesheet
// embedded in the binary: the page works without internet access and loads
// nothing from another origin, which its Content-Security-Policy enforces.
//
// The files under assets/ are the npm releases gqlgen's playground would
// otherwise load from a CDN; update-assets.sh downloads them again.
package playground

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"encoding/hex"
	"io/fs"
	"net/http"
	"path"
	"regexp"
	"strings"
	"time"

	"github.com/99designs/gqlgen/graphql/playground"
)

// AssetsPath is where Assets must be mounted: every URL the page loads
// starts with it.
const AssetsPath = "/graphiql/assets/"

// Endpoint is the GraphQL endpoint the page sends operations to.
const Endpoint = "/query"

const (
	title         = "Tasks API"
	storagePrefix = "tasks:"
)

// asset is one vendored file the page loads. sri is the Subresource
// Integrity value of the upstream release (the same that gqlgen pins for
// the jsDelivr copies), so a file that differs from it is refused by the
// browser and fails the package's test.
type asset struct {
	path string // under assets/, named package-version/file
	sri  string
}

// The files update-assets.sh downloads; it prints each path and hash.
var (
	graphiqlJS  = asset{"graphiql-4.1.2/graphiql.min.js", "sha256-hnImuor1znlJkD/FOTL3jayfS/xsyNoP04abi8bFJWs="}
	graphiqlCSS = asset{"graphiql-4.1.2/graphiql.min.css", "sha256-MEh+B2NdMSpj9kexQNN3QKc8UzMrCXW/Sx/phcpuyIU="}
	reactJS     = asset{"react-18.2.0/react.production.min.js", "sha256-S0lp+k7zWUMk2ixteM6HZvu8L9Eh//OVrt+ZfbCpmgY="}
	reactDOMJS  = asset{"react-dom-18.2.0/react-dom.production.min.js", "sha256-IXWO0ITNDjfnNXIu5POVfqlgYoop36bDzhodR6LW5Pc="}
)

func (a asset) url() string { return AssetsPath + a.path }

//go:embed assets
var assetFS embed.FS

// Handler serves the GraphiQL page. A non-empty devToken is filled into the
// page's Authorization header, so development mode works without copying
// a token around.
func Handler(devToken string) http.Handler {
	opts := []playground.GraphiqlConfigOption{
		playground.WithStoragePrefix(storagePrefix),
		playground.WithGraphiqlVersion(graphiqlJS.url(), graphiqlCSS.url(), graphiqlJS.sri, graphiqlCSS.sri),
		playground.WithGraphiqlReactVersion(reactJS.url(), reactDOMJS.url(), reactJS.sri, reactDOMJS.sri),
	}
	if devToken != "" {
		auth := map[string]string{"Authorization": "Bearer " + devToken}
		// The headers editor shows the token and sends it with each
		// operation, but GraphiQL 4 introspects before that editor exists:
		// the fetcher's own headers carry the token there too. An
		// "Authorization" header in the editor replaces it (GraphiQL merges
		// the editor's headers over the fetcher's, key by key).
		opts = append(opts, playground.WithGraphiqlUiHeaders(auth), playground.WithGraphiqlFetcherHeaders(auth))
	}
	// The page does not change while the process runs: render it once, and
	// allow exactly its inline script.
	var page pageRecorder
	playground.Handler(title, Endpoint, opts...).ServeHTTP(&page, new(http.Request))
	// An empty icon spares the browser a request for /favicon.ico, which
	// this server does not have.
	body := bytes.Replace(page.Bytes(), []byte("</title>"), []byte("</title>\n\t<link rel=\"icon\" href=\"data:,\">"), 1)
	csp := contentSecurityPolicy(body)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Type", "text/html; charset=utf-8")
		h.Set("Content-Security-Policy", csp)
		h.Set("X-Content-Type-Options", "nosniff")
		// The page may carry a development token.
		h.Set("Cache-Control", "no-store")
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(body))
	})
}

// pageRecorder captures what gqlgen's playground handler writes.
type pageRecorder struct {
	bytes.Buffer
	header http.Header
}

func (p *pageRecorder) Header() http.Header {
	if p.header == nil {
		p.header = http.Header{}
	}
	return p.header
}

func (p *pageRecorder) WriteHeader(int) {}

var inlineScript = regexp.MustCompile(`(?s)<script>(.*?)</script>`)

// contentSecurityPolicy allows scripts and stylesheets from this origin,
// the page's inline scripts by hash, and requests to this origin only.
// Inline styles stay allowed: GraphiQL's dialogs add a <style> element at
// run time (react-remove-scroll).
func contentSecurityPolicy(page []byte) string {
	scripts := []string{"'self'"}
	for _, m := range inlineScript.FindAllSubmatch(page, -1) {
		sum := sha256.Sum256(m[1])
		scripts = append(scripts, "'sha256-"+base64.StdEncoding.EncodeToString(sum[:])+"'")
	}
	return strings.Join([]string{
		"default-src 'none'",
		"script-src " + strings.Join(scripts, " "),
		"style-src 'self' 'unsafe-inline'",
		"img-src 'self' data:",
		"font-src 'self' data:",
		"connect-src 'self'",
		"base-uri 'none'",
		"form-action 'none'",
		"frame-ancestors 'none'",
	}, "; ")
}

// file is one embedded file as served.
type file struct {
	body        []byte
	contentType string
	etag        string
}

// contentTypes are set explicitly: the system's MIME table may say
// application/javascript or nothing at all.
var contentTypes = map[string]string{
	".js":  "text/javascript; charset=utf-8",
	".css": "text/css; charset=utf-8",
	"":     "text/plain; charset=utf-8", // LICENSE
}

// Assets serves the embedded files under AssetsPath. Their URLs carry the
// package version, so browsers may keep them for a year without asking.
func Assets() http.Handler {
	files := map[string]file{}
	err := fs.WalkDir(assetFS, "assets", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := assetFS.ReadFile(name)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(body)
		files[strings.TrimPrefix(name, "assets/")] = file{
			body:        body,
			contentType: contentTypes[path.Ext(name)],
			etag:        `"` + hex.EncodeToString(sum[:16]) + `"`,
		}
		return nil
	})
	if err != nil {
		panic("playground: reading embedded assets: " + err.Error()) // the embed is part of the binary
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name, ok := strings.CutPrefix(r.URL.Path, AssetsPath)
		f, found := files[name]
		if !ok || !found || f.contentType == "" {
			http.NotFound(w, r)
			return
		}
		h := w.Header()
		h.Set("Content-Type", f.contentType)
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
		h.Set("ETag", f.etag)
		h.Set("X-Content-Type-Options", "nosniff")
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(f.body))
	})
}
