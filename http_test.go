package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/taskapi/server/graph"
	"github.com/taskapi/server/internal/database"
	"github.com/taskapi/server/internal/gqlerr"
	"github.com/taskapi/server/internal/testdb"
)

// TestMediaTypes holds /query to GraphQL over HTTP: the status of each
// kind of request error in each media type a client may accept, and no
// data entry when the operation never ran.
func TestMediaTypes(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *database.DB) {
		a := newAPI(t, db)
		alice := a.token("alice")
		const graphQLResponse = "application/graphql-response+json"
		for _, tc := range []struct {
			name string
			body string
			// status for application/json, then for graphql-response+json
			json, gql int
			code      string
			data      bool
		}{
			{"unparseable JSON", `{"query": `, 400, 400, gqlerr.ParseFailed, false},
			{"no query", `{"qeury": "{ __typename }"}`, 400, 400, gqlerr.BadRequest, false},
			{"a query that is not a string", `{"query": 7}`, 400, 400, gqlerr.ParseFailed, false},
			{"variables that are not an object", `{"query": "{ __typename }", "variables": "x"}`, 400, 400, gqlerr.ParseFailed, false},
			{"a parse failure", `{"query": "{"}`, 200, 400, gqlerr.ParseFailed, false},
			{"a validation failure", `{"query": "{ nope }"}`, 200, 400, gqlerr.ValidationFailed, false},
			{"a variable coercion failure", `{"query": "query($n: Int) { tasks(first: $n) { totalCount } }", "variables": {"n": "x"}}`, 200, 400, gqlerr.BadUserInput, false},
			{"a missing variable", `{"query": "query($id: ID!) { task(id: $id) { id } }"}`, 200, 400, gqlerr.ValidationFailed, false},
			{"a field error during execution", `{"query": "{ task(id: \"00000000-0000-0000-0000-000000000000\") { id } }"}`, 200, 200, gqlerr.NotFound, true},
		} {
			t.Run(tc.name, func(t *testing.T) {
				for _, accept := range []string{"", "application/json", "*/*", graphQLResponse, graphQLResponse + ", application/json;q=0.9"} {
					h := header(alice, "application/json")
					if accept != "" {
						h.Set("Accept", accept)
					}
					res := a.raw("POST", "/query", strings.NewReader(tc.body), h)
					media, status := "application/json", tc.json
					if strings.HasPrefix(accept, graphQLResponse) {
						media, status = graphQLResponse, tc.gql
					}
					_, hasData := decodeKeys(t, res.Body)["data"]
					if res.Status != status || res.Header.Get("Content-Type") != media || hasData != tc.data || len(res.Errors) != 1 || res.Errors[0].code() != tc.code {
						t.Errorf("Accept %q: status %d, %s: %s; want %d, %s, code %s, data entry %v", accept, res.Status, res.Header.Get("Content-Type"), res.Body, status, media, tc.code, tc.data)
					}
				}
			})
		}
		t.Run("the Accept header's preferences hold", func(t *testing.T) {
			for accept, want := range map[string]string{
				graphQLResponse + ";q=0, application/json":        "application/json",
				"application/json;q=0.5, " + graphQLResponse:      graphQLResponse,
				"application/json, " + graphQLResponse + ";q=0.9": "application/json",
				"text/html": "application/json",
				"application/json;q=0.1, " + graphQLResponse + ";q=1": graphQLResponse,
			} {
				h := header(alice, "application/json")
				h.Set("Accept", accept)
				res := a.raw("POST", "/query", strings.NewReader(`{"query": "{"}`), h)
				if got := res.Header.Get("Content-Type"); got != want {
					t.Errorf("Accept %q: %s, want %s", accept, got, want)
				}
			}
		})
		t.Run("GET without a query is 400", func(t *testing.T) {
			res := a.get(alice, url.Values{})
			if res.Status != 400 || res.onlyError(t).code() != gqlerr.BadRequest {
				t.Errorf("status %d: %s", res.Status, res.Body)
			}
		})
	})
}

func decodeKeys(t *testing.T, body string) map[string]json.RawMessage {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		t.Fatalf("not a JSON object: %s", body)
	}
	return m
}

// TestOtherTransportsDeclined: WebSockets of another subprotocol than
// graphql-transport-ws, and server-sent events, get a coded answer.
func TestOtherTransportsDeclined(t *testing.T) {
	a := newAPI(t, testdb.Open(t, "sqlite3"))
	alice := a.token("alice")
	ws := header(alice, "")
	ws.Set("Connection", "Upgrade")
	ws.Set("Upgrade", "websocket")
	ws.Set("Sec-WebSocket-Version", "13")
	ws.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
	ws.Set("Sec-WebSocket-Protocol", "graphql-ws") // the legacy protocol
	sse := header(alice, "")
	sse.Set("Accept", "text/event-stream")
	urql := header(alice, "")
	urql.Set("Accept", "application/graphql-response+json, application/graphql+json, application/json, text/event-stream, multipart/mixed")
	q := "/query?" + url.Values{"query": {"{ __typename }"}}.Encode()
	for _, tc := range []struct {
		name   string
		h      http.Header
		status int
	}{
		{"a WebSocket upgrade for another subprotocol", ws, 400},
		{"a request for server-sent events only", sse, 406},
	} {
		res := a.raw("GET", q, nil, tc.h)
		if res.Status != tc.status || res.onlyError(t).code() != gqlerr.TransportNotSupported {
			t.Errorf("%s: status %d: %s", tc.name, res.Status, res.Body)
		}
	}
	var out struct {
		Typename string `json:"__typename"`
	}
	a.raw("GET", q, nil, urql).decode(t, &out)
	if out.Typename != "Query" {
		t.Errorf("urql's Accept: %+v", out)
	}
}

// TestDeclaredTooLargeIsRead: a client that sends a body its
// Content-Length already declares too large reads the 413 when it has
// sent it, instead of a reset connection.
func TestDeclaredTooLargeIsRead(t *testing.T) {
	a := newAPI(t, testdb.Open(t, "sqlite3"))
	alice := a.token("alice")
	const size = 6 << 20
	conn, err := net.Dial("tcp", strings.TrimPrefix(a.srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
	fmt.Fprintf(conn, "POST /query HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", alice, size)
	// Like a client that reads only once it has sent everything.
	chunk := bytes.Repeat([]byte(" "), 64<<10)
	for sent := 0; sent < size; sent += len(chunk) {
		if _, err := conn.Write(chunk); err != nil {
			t.Fatalf("sending the body: %v after %d bytes", err, sent)
		}
	}
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("reading the answer: %v", err)
	}
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("reading the answer's body: %v", err)
	}
	if res.StatusCode != 413 || !strings.Contains(string(body), gqlerr.RequestTooLarge) {
		t.Errorf("status %d: %s", res.StatusCode, body)
	}
}

// TestCompression: answers of a kilobyte or more are compressed for a
// client that asks, with zstd or gzip; small ones and other clients' are
// not.
func TestCompression(t *testing.T) {
	a := newAPI(t, testdb.Open(t, "sqlite3"))
	alice := a.token("alice")
	for i := range 30 {
		a.createTask(t, alice, map[string]any{"title": fmt.Sprintf("task number %d with some words in its title", i)})
	}
	client := &http.Client{Transport: &http.Transport{DisableCompression: true}}
	send := func(query, acceptEncoding string) (*http.Response, []byte) {
		t.Helper()
		req, _ := http.NewRequest("POST", a.srv.URL+"/query", strings.NewReader(`{"query": `+quote(query)+`}`))
		req.Header = header(alice, "application/json")
		if acceptEncoding != "" {
			req.Header.Set("Accept-Encoding", acceptEncoding)
		}
		res, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		if err != nil {
			t.Fatal(err)
		}
		return res, b
	}
	const page = `{ tasks(first: 30) { totalCount edges { node { id title createdAt } } } }`
	wantPage := func(name string, b []byte) {
		var out struct{ Data struct{ Tasks connection } }
		if err := json.Unmarshal(b, &out); err != nil || out.Data.Tasks.TotalCount != 30 {
			t.Errorf("%s: %v: %.200s", name, err, b)
		}
	}
	res, plain := send(page, "")
	if res.Header.Get("Content-Encoding") != "" || len(plain) < 2048 {
		t.Fatalf("without Accept-Encoding: %q, %d bytes", res.Header.Get("Content-Encoding"), len(plain))
	}
	wantPage("identity", plain)
	res, b := send(page, "gzip")
	if res.Header.Get("Content-Encoding") != "gzip" || !strings.Contains(res.Header.Get("Vary"), "Accept-Encoding") {
		t.Errorf("gzip: Content-Encoding %q, Vary %q", res.Header.Get("Content-Encoding"), res.Header.Get("Vary"))
	} else if zr, err := gzip.NewReader(bytes.NewReader(b)); err != nil {
		t.Error(err)
	} else {
		unzipped, err := io.ReadAll(zr)
		if err != nil || len(b) >= len(plain)/2 {
			t.Errorf("gzip: %v, %d bytes of %d", err, len(b), len(plain))
		}
		wantPage("gzip", unzipped)
	}
	res, b = send(page, "zstd, gzip")
	if res.Header.Get("Content-Encoding") != "zstd" {
		t.Errorf("zstd: Content-Encoding %q", res.Header.Get("Content-Encoding"))
	} else {
		d, _ := zstd.NewReader(nil)
		defer d.Close()
		unzipped, err := d.DecodeAll(b, nil)
		if err != nil {
			t.Error(err)
		}
		wantPage("zstd", unzipped)
	}
	if res, _ := send(`{ tasks { totalCount } }`, "gzip"); res.Header.Get("Content-Encoding") != "" {
		t.Errorf("a small answer is compressed: %q", res.Header.Get("Content-Encoding"))
	}
}

func TestGraphiQLSetting(t *testing.T) {
	db := testdb.Open(t, "sqlite3")
	off := newAPIWith(t, db, serverOptions{GraphQL: graph.Options{}})
	for _, p := range []string{"/", "/graphiql/assets/graphiql-4.1.2/graphiql.min.js"} {
		if res := off.raw("GET", p, nil, nil); res.Status != 404 {
			t.Errorf("GraphiQL off: %s is %d", p, res.Status)
		}
	}
	on := newAPIWith(t, db, serverOptions{GraphiQL: true})
	if res := on.raw("GET", "/", nil, nil); res.Status != 200 {
		t.Errorf("GraphiQL on: / is %d", res.Status)
	}
}
