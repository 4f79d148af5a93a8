package graph

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/taskapi/server/internal/gqlerr"
)

const (
	mediaJSON            = "application/json"
	mediaGraphQLResponse = "application/graphql-response+json"
)

// httpTransport is GraphQL over HTTP (https://graphql.github.io/graphql-over-http/):
// POST with a JSON body, and GET for queries only, each naming its document
// by its text or by a persisted document's id. gqlgen's own GET answers a
// mutation with 406 and its POST lets body errors out uncoded; clients of
// this API are promised 405 with Allow: POST and a code on every error.
type httpTransport struct {
	lim Limits
	documentRules
}

var _ graphql.Transport = httpTransport{}

// retryAfter is what a client is told to wait after a request timed out.
const retryAfter = "5"

// Supports takes GET and POST, but not a WebSocket upgrade nor a request
// for server-sent events: those are subscription transports' to serve.
func (httpTransport) Supports(r *http.Request) bool {
	return (r.Method == http.MethodGet || r.Method == http.MethodPost) && !webSocketUpgrade(r) && !eventStream(r)
}

func (t httpTransport) Do(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor) {
	// The deadline cancels the request's SQL; the checks before execution
	// are bounded by the limits, so they cannot outlive it.
	ctx, cancel := context.WithTimeout(context.WithValue(r.Context(), viaHTTP{}, true), t.lim.Timeout)
	defer cancel()
	media := responseMediaType(r)
	w.Header().Set("Content-Type", media)
	// Answers hold one user's data: no shared cache may keep them, GET or not.
	w.Header().Set("Cache-Control", "no-store")
	// Task text is written into the JSON as is (no \u003c for <): no
	// browser may read the body as anything but JSON.
	w.Header().Set("X-Content-Type-Options", "nosniff")
	// fail answers a request error with status, whatever the media type.
	fail := func(status int, err *gqlerror.Error) {
		// Response interceptors expect an operation context, even an empty one.
		errCtx := graphql.WithOperationContext(ctx, &graphql.OperationContext{})
		var body bytes.Buffer
		writeRequestErrors(&body, exec.DispatchError(errCtx, gqlerror.List{err}))
		// With its length, a client has the whole answer before the
		// connection ends (which a 413's drain delays).
		w.Header().Set("Content-Length", strconv.Itoa(body.Len()))
		w.WriteHeader(status)
		_, _ = w.Write(body.Bytes())
	}

	start := graphql.Now()
	var req request
	var err error
	if r.Method == http.MethodGet {
		err = readGET(r, &req, t.lim)
	} else {
		err = readPOST(w, r, &req, t.lim)
	}
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			answer := func() {
				fail(http.StatusRequestEntityTooLarge, gqlerr.LimitError(gqlerr.RequestTooLarge, int(tooLarge.Limit),
					fmt.Sprintf("the request body is larger than %d bytes", tooLarge.Limit)))
			}
			// A client that sent Expect: 100-continue waits for this answer
			// before sending the body: nothing to drain.
			if r.ContentLength > tooLarge.Limit && !strings.EqualFold(r.Header.Get("Expect"), "100-continue") {
				answerThenDrain(w, r, answer)
			} else {
				answer()
			}
			return
		}
		var badText *gqlerror.Error
		if errors.As(err, &badText) {
			fail(http.StatusBadRequest, badText)
			return
		}
		if errors.Is(err, errSlowBody) {
			fail(http.StatusRequestTimeout, &gqlerror.Error{Message: err.Error(), Extensions: map[string]any{"code": gqlerr.Timeout}})
			return
		}
		var unsupported errUnsupportedMedia
		if errors.As(err, &unsupported) {
			fail(http.StatusUnsupportedMediaType, badRequest(err.Error()))
			return
		}
		fail(http.StatusBadRequest, badRequest(err.Error()))
		return
	}
	params := &req.RawParams
	params.Headers = r.Header
	params.ReadTime = graphql.TraceTiming{Start: start, End: graphql.Now()}
	// requestErrors answers errors found before execution: 400 in the
	// newer media type, 200 in application/json, which older clients
	// expect; never a data entry.
	requestErrors := func(opCtx *graphql.OperationContext, errs gqlerror.List) {
		for _, e := range errs {
			if e.Extensions["code"] == nil {
				// APQ's own complaints (bad hash, bad version) come uncoded.
				e.Extensions = map[string]any{"code": gqlerr.ValidationFailed}
			}
		}
		switch {
		case len(errs) > 0 && errs[0].Extensions["code"] == gqlerr.RateLimited:
			w.Header().Set("Retry-After", fmt.Sprint(errs[0].Extensions["retryAfter"]))
			w.WriteHeader(http.StatusTooManyRequests)
		case media == mediaGraphQLResponse:
			w.WriteHeader(http.StatusBadRequest)
		}
		writeRequestErrors(w, exec.DispatchError(graphql.WithOperationContext(ctx, opCtx), errs))
	}

	ctx, status, docErr := t.document(ctx, &req)
	if docErr != nil {
		if status != 0 {
			fail(status, docErr)
		} else {
			requestErrors(&graphql.OperationContext{}, gqlerror.List{docErr})
		}
		return
	}
	opCtx, errs := exec.CreateOperationContext(ctx, params)
	if ctx.Err() != nil {
		w.Header().Set("Retry-After", retryAfter)
		fail(http.StatusServiceUnavailable, gqlerr.TimeoutError())
		return
	}
	if errs != nil && params.OperationName == "" && opCtx.Doc != nil && len(opCtx.Doc.Operations) > 1 {
		// gqlgen says "operation  not found" here; say what to do instead.
		errs = gqlerror.List{{
			Message:    "the document holds several operations: name the one to run in operationName",
			Extensions: map[string]any{"code": gqlerr.ValidationFailed},
		}}
	}
	if errs != nil {
		requestErrors(opCtx, errs)
		return
	}
	if r.Method == http.MethodGet && opCtx.Operation.Operation != ast.Query {
		w.Header().Set("Allow", http.MethodPost)
		fail(http.StatusMethodNotAllowed, &gqlerror.Error{
			Message:    "only queries may be sent with GET; send " + string(opCtx.Operation.Operation) + "s with POST",
			Extensions: map[string]any{"code": gqlerr.ValidationFailed},
		})
		return
	}
	if opCtx.Operation.Operation == ast.Subscription {
		fail(http.StatusBadRequest, &gqlerror.Error{
			Message:    "subscriptions are served over a WebSocket (graphql-transport-ws) on /query",
			Extensions: map[string]any{"code": gqlerr.TransportNotSupported},
		})
		return
	}
	deferring := defersPart(opCtx)
	if deferring && !acceptsMultipart(r) {
		fail(http.StatusNotAcceptable, errDeferNeedsMultipart())
		return
	}
	responses, ctx := exec.DispatchOperation(ctx, opCtx)
	resp := responses(ctx)
	if ctx.Err() != nil {
		// Past the deadline the answer may be partial; a client that has
		// gone reads nothing either way.
		w.Header().Set("Retry-After", retryAfter)
		fail(http.StatusServiceUnavailable, gqlerr.TimeoutError())
		return
	}
	if deferring {
		writeIncremental(ctx, w, resp, responses)
		return
	}
	writeResponse(w, resp)
}

// request is one GraphQL-over-HTTP request as sent: what gqlgen runs, and
// the two ways besides APQ's extension that clients name a persisted
// document: documentId (the GraphQL-over-HTTP draft, urql) and doc_id
// (Relay).
type request struct {
	graphql.RawParams
	DocumentID string `json:"documentId"`
	DocID      string `json:"doc_id"`
}

// webSocketUpgrade reports a request to open a WebSocket (RFC 6455 §4.1:
// Upgrade: websocket with Connection: Upgrade).
func webSocketUpgrade(r *http.Request) bool {
	if !strings.EqualFold(strings.TrimSpace(r.Header.Get("Upgrade")), "websocket") {
		return false
	}
	for _, v := range r.Header.Values("Connection") {
		for token := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(token), "upgrade") {
				return true
			}
		}
	}
	return false
}

// eventStream reports a request that accepts server-sent events and no
// JSON: graphql-sse's, say (urql lists text/event-stream after JSON).
func eventStream(r *http.Request) bool {
	sse, anyJSON := false, false
	for _, a := range accepted(r) {
		switch a.media {
		case "text/event-stream":
			sse = true
		case mediaJSON, mediaGraphQLResponse, "application/*", "*/*":
			anyJSON = true
		}
	}
	return sse && !anyJSON
}

// unsupportedTransport answers what no transport before it took, with a
// code: a subscription transport goes before it.
type unsupportedTransport struct{}

func (unsupportedTransport) Supports(*http.Request) bool { return true }

func (unsupportedTransport) Do(w http.ResponseWriter, r *http.Request, _ graphql.GraphExecutor) {
	status, msg := http.StatusBadRequest, "GraphQL over WebSocket needs the graphql-transport-ws subprotocol (the graphql-ws library's)"
	if eventStream(r) {
		status, msg = http.StatusNotAcceptable, "server-sent events are not served here: accept application/json or application/graphql-response+json"
	}
	w.Header().Set("Content-Type", mediaJSON)
	w.WriteHeader(status)
	writeRequestErrors(w, &graphql.Response{Errors: gqlerror.List{{Message: msg, Extensions: map[string]any{"code": gqlerr.TransportNotSupported}}}})
}

// A body refused by its Content-Length is still read, up to drainBytes
// for up to drainTime, after the 413 is sent: a client that is still
// sending it then reads the answer instead of a reset connection. Past
// either bound the connection closes under it.
const (
	drainBytes = 16 << 20
	drainTime  = 2 * time.Second
)

// answerThenDrain sends the 413 that answer writes, then reads what the
// client is still sending, and closes the connection.
func answerThenDrain(w http.ResponseWriter, r *http.Request, answer func()) {
	rc := http.NewResponseController(w)
	// HTTP/1 lets a handler read the body after answering only so.
	fullDuplex := rc.EnableFullDuplex() == nil
	w.Header().Set("Connection", "close")
	answer()
	if !fullDuplex || rc.Flush() != nil {
		return
	}
	_ = rc.SetReadDeadline(time.Now().Add(drainTime))
	_, _ = io.CopyN(io.Discard, r.Body, drainBytes)
}

// utf8Charset accepts no charset or UTF-8's: JSON is UTF-8 (RFC 8259).
func utf8Charset(cs string) bool {
	return cs == "" || strings.EqualFold(cs, "utf-8") || strings.EqualFold(cs, "utf8")
}

// maxJSONValues bounds the values a request's JSON may hold before it is
// decoded: a few times what its arguments may hold.
func maxJSONValues(lim Limits) int { return 4 * lim.InputValues }

func errTooManyValues(lim Limits) *gqlerror.Error {
	return gqlerr.LimitError(gqlerr.InputLimit, lim.InputValues,
		fmt.Sprintf("the request's JSON holds more than %d values; its arguments may hold at most %d", maxJSONValues(lim), lim.InputValues))
}

type errUnsupportedMedia struct{ got string }

func (e errUnsupportedMedia) Error() string {
	return fmt.Sprintf("Content-Type must be application/json (UTF-8, not compressed), got %q", e.got)
}

// errSlowBody is the answer when the body does not arrive within the read
// timeout; the network error would name addresses.
var errSlowBody = errors.New("the request body did not arrive in time")

func readPOST(w http.ResponseWriter, r *http.Request, req *request, lim Limits) error {
	limit := lim.BodyBytes
	ct := r.Header.Get("Content-Type")
	media, mediaParams, err := mime.ParseMediaType(ct)
	if err != nil || media != mediaJSON || !utf8Charset(mediaParams["charset"]) {
		return errUnsupportedMedia{got: ct}
	}
	if ce := r.Header.Get("Content-Encoding"); ce != "" && !strings.EqualFold(ce, "identity") {
		return errUnsupportedMedia{got: ct + "; Content-Encoding: " + ce}
	}
	if r.ContentLength > int64(limit) {
		// Refused before a byte of it is read.
		return &http.MaxBytesError{Limit: int64(limit)}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, int64(limit)))
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		return err
	case err != nil:
		return errSlowBody
	}
	values, textErr := checkJSONText(body)
	if textErr != nil {
		return textErr
	}
	if values > maxJSONValues(lim) {
		return errTooManyValues(lim)
	}
	if err := decodeJSON(body, req); err != nil {
		if bytes.HasPrefix(bytes.TrimSpace(body), []byte("[")) {
			return errors.New("batched (array) requests are not supported: send one operation per request")
		}
		return errors.New(`the body must be one JSON object {"query", "variables", "operationName", "extensions"} (or "documentId" in place of "query")` + syntaxHint(err))
	}
	return nil
}

func readGET(r *http.Request, req *request, lim Limits) error {
	q := r.URL.Query()
	params := &req.RawParams
	for _, name := range [...]string{"query", "operationName", "variables", "extensions", "documentId", "doc_id"} {
		v := q.Get(name)
		if !utf8.ValidString(v) {
			return errBadText("invalid UTF-8 in "+name, invalidAt([]byte(v)))
		}
		if name == "variables" || name == "extensions" {
			values, err := checkJSONText([]byte(v))
			if err != nil {
				return err
			}
			if values > maxJSONValues(lim) {
				return errTooManyValues(lim)
			}
		}
	}
	params.Query = q.Get("query")
	params.OperationName = q.Get("operationName")
	req.DocumentID = q.Get("documentId")
	req.DocID = q.Get("doc_id")
	if v := q.Get("variables"); v != "" {
		if err := decodeJSON([]byte(v), &params.Variables); err != nil {
			return errors.New("the variables parameter must be a JSON object" + syntaxHint(err))
		}
	}
	if v := q.Get("extensions"); v != "" {
		if err := decodeJSON([]byte(v), &params.Extensions); err != nil {
			return errors.New("the extensions parameter must be a JSON object" + syntaxHint(err))
		}
	}
	return nil
}

// decodeJSON keeps numbers as json.Number so Int and Float coercion sees
// what the client sent.
func decodeJSON(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("unexpected data after the JSON value")
	}
	return nil
}

// syntaxHint says where JSON stopped parsing, without Go's type names.
func syntaxHint(err error) string {
	var syn *json.SyntaxError
	if errors.As(err, &syn) {
		return fmt.Sprintf(" (invalid JSON at byte %d)", syn.Offset)
	}
	return ""
}

// responseMediaType is the media type of the answer: the client's most
// preferred of the two this server writes (by q-value, then by order), or
// application/json when it names neither (GraphQL over HTTP allows that
// rather than a 406).
func responseMediaType(r *http.Request) string {
	best, bestQ := mediaJSON, -1.0
	for _, a := range accepted(r) {
		var media string
		switch a.media {
		case mediaGraphQLResponse:
			media = mediaGraphQLResponse
		case mediaJSON, "application/*", "*/*":
			media = mediaJSON
		default:
			continue
		}
		if a.q > bestQ {
			best, bestQ = media, a.q
		}
	}
	return best
}

// acceptedMedia is one entry of an Accept header.
type acceptedMedia struct {
	media  string
	q      float64
	params map[string]string // lower-case names, q among them
}

// accepted lists the media types r's Accept header allows, without those
// it refuses with q=0.
func accepted(r *http.Request) []acceptedMedia {
	var out []acceptedMedia
	for _, v := range r.Header.Values("Accept") {
		for part := range strings.SplitSeq(v, ",") {
			media, params, err := mime.ParseMediaType(strings.TrimSpace(part))
			if err != nil {
				continue
			}
			q := 1.0
			if s, ok := params["q"]; ok {
				if q, err = strconv.ParseFloat(s, 64); err != nil || q < 0 || q > 1 {
					continue
				}
			}
			if q > 0 {
				out = append(out, acceptedMedia{media, q, params})
			}
		}
	}
	return out
}

func badRequest(msg string) *gqlerror.Error {
	return &gqlerror.Error{Message: msg, Extensions: map[string]any{"code": gqlerr.ParseFailed}}
}

// writeRequestErrors writes an answer to a request that did not run: its
// errors, and no data entry (GraphQL's response format says none when
// execution did not start).
func writeRequestErrors(w io.Writer, resp *graphql.Response) {
	b, err := json.Marshal(struct {
		Errors     gqlerror.List  `json:"errors"`
		Extensions map[string]any `json:"extensions,omitempty"`
	}{resp.Errors, resp.Extensions})
	if err != nil {
		b, _ = json.Marshal(graphql.Response{Errors: gqlerror.List{gqlerr.InternalError()}})
	}
	_, _ = w.Write(b)
}

var dataOpen, dataClose = []byte(`{"data":`), []byte(`}`)

func writeResponse(w io.Writer, resp *graphql.Response) {
	// The common answer, data alone, is written as it stands: json.Marshal
	// would validate and copy data that gqlgen has just written as JSON.
	if len(resp.Errors) == 0 && len(resp.Extensions) == 0 && resp.Label == "" && resp.Path == nil && resp.HasNext == nil && len(resp.Data) > 0 {
		// Three writes into net/http's buffer, no copy of the data.
		_, _ = w.Write(dataOpen)
		_, _ = w.Write(resp.Data)
		_, _ = w.Write(dataClose)
		return
	}
	b, err := json.Marshal(resp)
	if err != nil {
		b, _ = json.Marshal(graphql.Response{Errors: gqlerror.List{gqlerr.InternalError()}})
	}
	_, _ = w.Write(b)
}
