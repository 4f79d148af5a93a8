// Package playground serves GraphiQL with its scripts and stylesheet
// embedded in the binary: the page works without internet access and loads
// nothing from another origin, which its Content-Security-Policy enforces.
//
// The page (page.html) is ours rather than gqlgen's playground template,
// which cannot give GraphiQL a starter query. The files under assets/ are
// the npm releases that template loads from a CDN; update-assets.sh
// downloads them again.
package playground

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"encoding/hex"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"regexp"
	"strings"
	"time"
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
// its jsDelivr copies), so a file that differs from it is refused by the
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

// starterQuery is what a new visitor's editor holds: it runs as it is,
// and its comments say what the first request needs. A test validates it
// against the schema.
const starterQuery = `# Tasks API. Run the query below with the play button
# (or Ctrl-Enter); the book icon on the left opens the docs.
#
# Each request needs an Authorization header, set in the
# Headers tab below:  {"Authorization": "Bearer <token>"}
# On localhost in development mode it is already filled in.
#
# Ten tasks a page: for the next, add after: "<endCursor>"
# to tasks(...). To add a task, run createTask, e.g.:
#
# mutation CreateTask {
#   createTask(input: {title: "Try the API"}) {
#     id
#     title
#     isCompleted
#   }
# }

query MyTasks {
  tasks(first: 10) {
    totalCount
    edges {
      node {
        id
        title
        description
        isCompleted
        createdAt
      }
    }
    pageInfo {
      hasNextPage
      endCursor
    }
  }
}
`

//go:embed page.html
var pageHTML string

var pageTemplate = template.Must(template.New("page.html").Parse(pageHTML))

// pageData fills page.html; html/template escapes each value for where it
// lands, Go strings in the script included.
type pageData struct {
	Title                                    string
	React, ReactDOM, GraphiQLJS, GraphiQLCSS pageAsset
	Endpoint, StoragePrefix, DefaultQuery    string
	Headers                                  map[string]string // nil without a token
	PersistHeaders                           bool
}

type pageAsset struct{ URL, SRI string }

func (a asset) page() pageAsset { return pageAsset{a.url(), a.sri} }

// Handler serves the GraphiQL page. A non-empty devToken is filled into the
// page's Authorization header, so development mode works without copying
// a token around.
func Handler(devToken string) http.Handler {
	data := pageData{
		Title:         title,
		React:         reactJS.page(),
		ReactDOM:      reactDOMJS.page(),
		GraphiQLJS:    graphiqlJS.page(),
		GraphiQLCSS:   graphiqlCSS.page(),
		Endpoint:      Endpoint,
		StoragePrefix: storagePrefix,
		DefaultQuery:  starterQuery,
		// Saved headers spare pasting a token on each visit. A development
		// token needs no saving: each load brings the current one, while a
		// saved copy outlives the process that signed it, and an old tab
		// would send it and get 401.
		PersistHeaders: devToken == "",
	}
	if devToken != "" {
		data.Headers = map[string]string{"Authorization": "Bearer " + devToken}
	}
	// The page does not change while the process runs: render it once, and
	// allow exactly its inline script.
	var page bytes.Buffer
	if err := pageTemplate.Execute(&page, data); err != nil {
		panic("playground: rendering the page: " + err.Error()) // the template and its data are ours
	}
	body := page.Bytes()
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
