package graph

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/taskapi/server/internal/gqlerr"
)

// @defer over HTTP: an operation that defers part of its answer gets it in
// several payloads, written as multipart/mixed (the incremental delivery
// format of https://github.com/graphql/graphql-over-http/blob/main/rfcs/IncrementalDelivery.md
// with the payloads of deferSpec=20220824, which Apollo Client and urql
// read). A client must ask for it, Accept: multipart/mixed; one that did
// not is refused before anything runs, as Apollo Server refuses it: a JSON
// answer has room for the first payload only, and the rest would be lost.

const (
	multipartBoundary = "graphql"
	multipartMedia    = `multipart/mixed; boundary="` + multipartBoundary + `"; deferSpec=20220824`
)

func errDeferNeedsMultipart() *gqlerror.Error {
	return &gqlerror.Error{
		Message: "the operation uses @defer, whose answer comes in several parts: send Accept: multipart/mixed;deferSpec=20220824 " +
			"(Apollo Client's Defer20220824Handler and urql do), or remove @defer",
		Extensions: map[string]any{"code": gqlerr.TransportNotSupported},
	}
}

// acceptsMultipart reports whether r's Accept header names multipart/mixed
// itself (*/* is what curl sends, not a request for parts) in the format
// written here: deferSpec=20220824, or no format named (urql). A client
// that names another (incrementalSpec=v0.2, the later draft) could not
// read these parts.
func acceptsMultipart(r *http.Request) bool {
	for _, a := range accepted(r) {
		if a.media != "multipart/mixed" {
			continue
		}
		spec, named := a.params["deferspec"]
		_, other := a.params["incrementalspec"]
		if spec == "20220824" || !named && !other {
			return true
		}
	}
	return false
}

// defersPart reports whether op, or a fragment it spreads, has a @defer
// that its if argument does not turn off.
func defersPart(opCtx *graphql.OperationContext) bool {
	// Every @defer has the word in the text; most documents have not.
	if opCtx.RawQuery != "" && !strings.Contains(opCtx.RawQuery, "defer") {
		return false
	}
	return defers(opCtx.Operation.SelectionSet, opCtx.Variables, map[string]bool{})
}

func defers(set ast.SelectionSet, vars map[string]any, seen map[string]bool) bool {
	for _, sel := range set {
		var dirs ast.DirectiveList
		var below ast.SelectionSet
		switch s := sel.(type) {
		case *ast.Field:
			dirs, below = s.Directives, s.SelectionSet
		case *ast.InlineFragment:
			dirs, below = s.Directives, s.SelectionSet
		case *ast.FragmentSpread:
			dirs = s.Directives
			if s.Definition != nil && !seen[s.Name] {
				seen[s.Name] = true
				below = s.Definition.SelectionSet
			}
		}
		if !skipped(dirs, vars) && (deferOn(dirs, vars) || defers(below, vars, seen)) {
			return true
		}
	}
	return false
}

// skipped reports a selection that @skip or @include leaves out.
func skipped(dirs ast.DirectiveList, vars map[string]any) bool {
	if d := dirs.ForName("skip"); d != nil {
		if on, _ := d.ArgumentMap(vars)["if"].(bool); on {
			return true
		}
	}
	if d := dirs.ForName("include"); d != nil {
		if on, ok := d.ArgumentMap(vars)["if"].(bool); ok && !on {
			return true
		}
	}
	return false
}

func deferOn(dirs ast.DirectiveList, vars map[string]any) bool {
	d := dirs.ForName("defer")
	if d == nil {
		return false
	}
	on, ok := d.ArgumentMap(vars)["if"].(bool)
	return !ok || on
}

// writeIncremental writes first and the payloads that follow it, each as
// its own part, flushed as it is ready. If the request ends (its deadline,
// or the client gone) before the last payload, a last part says so.
func writeIncremental(ctx context.Context, w http.ResponseWriter, first *graphql.Response, next graphql.ResponseHandler) {
	w.Header().Set("Content-Type", multipartMedia)
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	_, _ = io.WriteString(w, "--"+multipartBoundary+"\r\n")
	// When a non-null field failed and nulled data, there is no object
	// left for a later part to complete: the first is the last.
	more := hasNext(first) && len(first.Data) > 0 && string(first.Data) != "null"
	writePart(w, initialPayload(first, more))
	for more {
		_, _ = io.WriteString(w, "\r\n--"+multipartBoundary+"\r\n")
		_ = rc.Flush()
		resp := next(ctx)
		if resp == nil {
			// The rest will not come: say why.
			writePart(w, initialPayload(&graphql.Response{Errors: gqlerror.List{gqlerr.WithIDs(ctx, gqlerr.TimeoutError())}}, false))
			break
		}
		more = hasNext(resp)
		writePart(w, laterPayload(resp))
	}
	// Not flushed: the last part, the closing boundary and the end of the
	// body then leave together, so a client that stops reading at
	// hasNext false (urql) does not leave the body's end unread.
	_, _ = io.WriteString(w, "\r\n--"+multipartBoundary+"--\r\n")
}

func hasNext(resp *graphql.Response) bool { return resp.HasNext != nil && *resp.HasNext }

// initialPayload is the first part: a response of its own, with hasNext.
func initialPayload(resp *graphql.Response, more bool) any {
	return struct {
		Data       json.RawMessage `json:"data,omitempty"`
		Errors     gqlerror.List   `json:"errors,omitempty"`
		Extensions map[string]any  `json:"extensions,omitempty"`
		HasNext    bool            `json:"hasNext"`
	}{resp.Data, resp.Errors, resp.Extensions, more}
}

// laterPayload is a deferred fragment's part: an entry of incremental, at
// the path of the object it completes (deferSpec=20220824).
func laterPayload(resp *graphql.Response) any {
	type entry struct {
		Data   json.RawMessage `json:"data"`
		Path   ast.Path        `json:"path"`
		Label  string          `json:"label,omitempty"`
		Errors gqlerror.List   `json:"errors,omitempty"`
	}
	data, path := resp.Data, resp.Path
	if len(data) == 0 {
		data = json.RawMessage("null")
	}
	if path == nil {
		path = ast.Path{}
	}
	return struct {
		Incremental []entry        `json:"incremental"`
		Extensions  map[string]any `json:"extensions,omitempty"`
		HasNext     bool           `json:"hasNext"`
	}{[]entry{{data, path, resp.Label, resp.Errors}}, resp.Extensions, hasNext(resp)}
}

// writePart writes one part's header and its JSON.
func writePart(w io.Writer, payload any) {
	b, err := json.Marshal(payload)
	if err != nil {
		b, _ = json.Marshal(initialPayload(&graphql.Response{Errors: gqlerror.List{gqlerr.InternalError()}}, false))
	}
	_, _ = io.WriteString(w, "Content-Type: application/json; charset=utf-8\r\n\r\n")
	_, _ = w.Write(b)
}
