// Package persisted reads persisted-document manifests as client build tools
// write them: Apollo's persisted query manifest, GraphQL Code Generator's
// persisted-documents.json and Relay's queryMap.json. It checks what a
// manifest can check on its own (ids, hashes, sizes, conflicts); parsing and
// validating the documents against the schema is the caller's job.
package persisted

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Bounds on what Load and Parse accept. The server holds every document in
// memory, and a manifest is read whole before it is decoded.
const (
	// MaxManifestBytes bounds one manifest file.
	MaxManifestBytes = 64 << 20
	// MaxDocuments bounds the documents across all manifests, counted once each.
	MaxDocuments = 100_000
	// MaxBodyBytes bounds the document text across all manifests.
	MaxBodyBytes = 256 << 20
	// MaxIDBytes bounds one id; real ids are 32 to 71 bytes.
	MaxIDBytes = 256
)

// apolloFormat is the only format value Apollo's manifest generators write.
const apolloFormat = "apollo-persisted-query-manifest"

// Document is one persisted operation as a manifest gives it.
type Document struct {
	ID     string // the lookup key: Key of the manifest's id
	Name   string // the manifest's operation name (Apollo manifests); "" when the format has none
	Type   string // "query", "mutation" or "subscription" from Apollo manifests; "" otherwise
	Body   string
	Source string // the file it came from, for messages
}

// Key normalises an id as a client sends it, so manifest ids and request ids
// meet whichever tool wrote them: "sha256:<hex>" (codegen v6, the
// GraphQL-over-HTTP appendix) and a bare 64-hex id (Apollo, codegen v5) both
// become lowercase 64 hex; any other id (Relay's MD5, sha1 hex, custom) is
// kept exactly as is.
func Key(id string) string {
	if hexID, ok := strings.CutPrefix(id, "sha256:"); ok && isHex(hexID, sha256.Size*2) {
		return strings.ToLower(hexID)
	}
	if isHex(id, sha256.Size*2) {
		return strings.ToLower(id)
	}
	return id
}

// isHex reports whether s is exactly n hex digits of either case.
func isHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// Load reads every manifest the paths name. A path is a file, or a directory
// whose *.json files (not recursive, sorted by name, dot-files skipped, so a
// Kubernetes ConfigMap's ..data is not read twice) are each a manifest.
// Several manifests at once is normal (one per app release): documents with
// the same key and the same body are kept once; the same key with different
// bodies is an error naming both files. Documents come back in file order,
// then manifest order.
func Load(paths []string) ([]Document, error) {
	var files []string
	for _, p := range paths {
		fs, err := manifestFiles(p)
		if err != nil {
			return nil, err
		}
		files = append(files, fs...)
	}
	var all set
	for _, f := range files {
		data, err := readManifest(f)
		if err != nil {
			return nil, err
		}
		docs, err := Parse(f, data)
		if err != nil {
			return nil, err
		}
		for _, d := range docs {
			if err := all.add(d, label(d.Name, d.ID, 0)); err != nil {
				return nil, err
			}
		}
	}
	return all.docs, nil
}

// manifestFiles lists the manifests one configured path names.
func manifestFiles(path string) ([]string, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("persisted documents: %w", err)
	}
	if fi.Mode().IsRegular() {
		return []string{path}, nil
	}
	if !fi.IsDir() {
		// A FIFO or device would block or never end.
		return nil, fmt.Errorf("persisted documents: %s: not a regular file or directory", display(path))
	}
	entries, err := os.ReadDir(path) // sorted by name
	if err != nil {
		return nil, fmt.Errorf("persisted documents: %w", err)
	}
	var files []string
	for _, e := range entries {
		if !isManifestName(e.Name()) {
			continue
		}
		f := filepath.Join(path, e.Name())
		// ConfigMap files are symlinks, so follow them.
		if fi, err := os.Stat(f); err != nil {
			return nil, fmt.Errorf("persisted documents: %w", err)
		} else if fi.Mode().IsRegular() {
			files = append(files, f)
		}
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("persisted documents: %s: no *.json files in the directory", display(path))
	}
	return files, nil
}

// isManifestName reports whether a directory entry is read as a manifest.
func isManifestName(name string) bool {
	return strings.HasSuffix(name, ".json") && !strings.HasPrefix(name, ".")
}

// readManifest reads a file, refusing one over MaxManifestBytes by its size
// before reading, or, if it grows meanwhile, after reading one byte more.
func readManifest(path string) ([]byte, error) {
	tooBig := fmt.Errorf("persisted documents: %s: larger than %d MiB", display(path), MaxManifestBytes>>20)
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("persisted documents: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("persisted documents: %w", err)
	}
	if fi.Size() > MaxManifestBytes {
		return nil, tooBig
	}
	var buf bytes.Buffer
	buf.Grow(int(fi.Size()) + 1) // +1 so reading to EOF does not grow it
	if _, err := buf.ReadFrom(io.LimitReader(f, MaxManifestBytes+1)); err != nil {
		return nil, fmt.Errorf("persisted documents: %w", err)
	}
	if buf.Len() > MaxManifestBytes {
		return nil, tooBig
	}
	return buf.Bytes(), nil
}

// Parse reads one manifest's bytes; name is used in messages and as each
// document's Source. The format is told by the top-level object: a "format"
// or "operations" key means an Apollo manifest, anything else must map ids to
// document strings (codegen and Relay).
func Parse(name string, data []byte) ([]Document, error) {
	p := parser{name: name}
	if len(data) > MaxManifestBytes {
		return nil, p.errorf("larger than %d MiB", MaxManifestBytes>>20)
	}
	if !utf8.Valid(data) {
		return nil, p.errorf("not valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	top, err := p.object(dec, "the manifest")
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, p.errorf("trailing data after the JSON object")
	}
	for _, m := range top {
		if m.key == "format" || m.key == "operations" {
			return p.apollo(top)
		}
	}
	return p.flat(top)
}

// parser carries the manifest's name into every message.
type parser struct{ name string }

// errorf makes a one-line error naming the manifest.
func (p parser) errorf(format string, args ...any) error {
	return fmt.Errorf("persisted documents: %s: %s", display(p.name), fmt.Sprintf(format, args...))
}

// member is one key and value of a JSON object, in file order.
type member struct {
	key string
	raw json.RawMessage
}

// object reads one JSON object. encoding/json keeps the last of duplicate
// keys silently; a manifest that gives one key two different values is
// refused instead, because which one the tool meant is unknowable.
func (p parser) object(dec *json.Decoder, what string) ([]member, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, p.errorf("%s: %s", what, jsonError(err))
	}
	if tok != json.Delim('{') {
		return nil, p.errorf("%s is not a JSON object", what)
	}
	var ms []member
	seen := map[string]int{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, p.errorf("%s: %s", what, jsonError(err))
		}
		key := tok.(string) // the decoder allows only strings as keys
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, p.errorf("%s: %s", what, jsonError(err))
		}
		if i, dup := seen[key]; dup {
			if !sameJSON(ms[i].raw, raw) {
				return nil, p.errorf("%s: key %s appears twice with different values", what, quote(key, 40))
			}
			continue
		}
		if len(ms) == MaxDocuments {
			// Only a flat map has this many keys, and it would be over the
			// documents bound; stop before holding millions of members.
			return nil, p.errorf("%s: more than %d keys", what, MaxDocuments)
		}
		seen[key] = len(ms)
		ms = append(ms, member{key, raw})
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return nil, p.errorf("%s: %s", what, jsonError(err))
	}
	return ms, nil
}

// sameJSON reports whether two JSON values are equal as values, so "\u0041"
// and "A" are one key's same value.
func sameJSON(a, b json.RawMessage) bool {
	if bytes.Equal(a, b) {
		return true
	}
	var va, vb any
	if json.Unmarshal(a, &va) != nil || json.Unmarshal(b, &vb) != nil {
		return false
	}
	return reflect.DeepEqual(va, vb)
}

// jsonError keeps a decoder error to one line without the package's prefix.
func jsonError(err error) string {
	if err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF) {
		return "unexpected end of JSON"
	}
	msg := strings.TrimPrefix(err.Error(), "json: ")
	// Values nested in the manifest are first decoded whole by the top-level
	// decoder, so a syntax error's offset is always from the file's start.
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf("invalid JSON at byte %d: %s", se.Offset, msg)
	}
	return "invalid JSON: " + msg
}

// flat reads a codegen persisted-documents.json or a Relay queryMap.json:
// ids mapped to document text.
func (p parser) flat(top []member) ([]Document, error) {
	var s set
	for i, m := range top {
		var body string
		if err := json.Unmarshal(m.raw, &body); err != nil {
			return nil, p.errorf("%s: value is %s, not a document string (a codegen or Relay map gives only strings)",
				label("", m.key, i), jsonKind(m.raw))
		}
		d := Document{ID: m.key, Body: body, Source: p.name}
		if err := p.add(&s, d, i); err != nil {
			return nil, err
		}
	}
	return s.docs, nil
}

// describe shows a short JSON value in a message: a string quoted and cut, a
// number as written, anything else by its kind.
func describe(raw json.RawMessage) string {
	if raw == nil {
		return "none"
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return quote(s, 60)
	}
	if jsonKind(raw) == "a number" {
		return cut(string(raw), 20)
	}
	return jsonKind(raw)
}

// jsonKind names the kind of a JSON value for messages.
func jsonKind(raw json.RawMessage) string {
	switch raw[0] {
	case '{':
		return "an object"
	case '[':
		return "an array"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	case '"':
		return "a string"
	default:
		return "a number"
	}
}

// apollo reads an Apollo persisted query manifest.
func (p parser) apollo(top []member) ([]Document, error) {
	var format, ops json.RawMessage
	var version json.RawMessage
	for _, m := range top {
		switch m.key {
		case "format":
			format = m.raw
		case "version":
			version = m.raw
		case "operations":
			ops = m.raw
		}
		// Other keys are left for later versions of the tools to add.
	}
	if f := describe(format); f != strconv.Quote(apolloFormat) {
		return nil, p.errorf("unknown manifest format %s (want %q)", f, apolloFormat)
	}
	if v := describe(version); v != "1" {
		return nil, p.errorf("unknown %s version %s (want 1)", apolloFormat, v)
	}
	if ops == nil {
		return nil, p.errorf("no \"operations\" array")
	}
	dec := json.NewDecoder(bytes.NewReader(ops))
	dec.UseNumber()
	if tok, err := dec.Token(); err != nil || tok != json.Delim('[') {
		return nil, p.errorf("\"operations\" is %s, not an array", jsonKind(ops))
	}
	var s set
	for i := 0; dec.More(); i++ {
		d, err := p.operation(dec, i)
		if err != nil {
			return nil, err
		}
		if err := p.add(&s, d, i); err != nil {
			return nil, err
		}
	}
	return s.docs, nil
}

// operation reads the i-th (from 0) entry of an Apollo manifest's operations.
func (p parser) operation(dec *json.Decoder, i int) (Document, error) {
	ms, err := p.object(dec, fmt.Sprintf("operation #%d", i+1))
	if err != nil {
		return Document{}, err
	}
	d := Document{Source: p.name}
	fields := map[string]*string{"id": &d.ID, "name": &d.Name, "type": &d.Type, "body": &d.Body}
	var bad string
	for _, m := range ms {
		dst, ok := fields[m.key]
		if !ok {
			continue // later versions may add keys
		}
		if err := json.Unmarshal(m.raw, dst); err != nil && bad == "" {
			bad = fmt.Sprintf("%q is %s, not a string", m.key, jsonKind(m.raw))
		}
	}
	// Read every field first so the message can name the operation.
	if bad != "" {
		return Document{}, p.errorf("%s: %s", label(d.Name, d.ID, i), bad)
	}
	switch d.Type {
	case "query", "mutation", "subscription", "":
	default:
		return Document{}, p.errorf("%s: unknown type %s (want query, mutation or subscription)",
			label(d.Name, d.ID, i), quote(d.Type, 20))
	}
	return d, nil
}

// add checks the i-th (from 0) document as its manifest gives it and adds it
// to s.
func (p parser) add(s *set, d Document, i int) error {
	raw := d.ID
	what := label(d.Name, raw, i)
	switch {
	case raw == "":
		return p.errorf("%s: empty id", what)
	case len(raw) > MaxIDBytes:
		return p.errorf("%s: id longer than %d bytes", what, MaxIDBytes)
	case strings.TrimSpace(d.Body) == "":
		return p.errorf("%s: empty body", what)
	}
	if prefix, payload, ok := strings.Cut(raw, ":"); ok {
		switch {
		case prefix == "sha256":
			if !isHex(payload, sha256.Size*2) {
				return p.errorf("%s: a sha256: id needs 64 hex digits after the prefix", what)
			}
		case strings.HasPrefix(prefix, "x-"):
			// The GraphQL-over-HTTP appendix leaves x- prefixes to applications.
		default:
			return p.errorf("%s: unknown id prefix %s (the GraphQL-over-HTTP persisted documents appendix reserves prefixes other than x-)",
				what, quote(prefix+":", 20))
		}
	}
	d.ID = Key(raw)
	if isHex(d.ID, sha256.Size*2) {
		sum := sha256.Sum256([]byte(d.Body))
		if d.ID != hex.EncodeToString(sum[:]) {
			return p.errorf("%s: id is not the sha256 of its body", what)
		}
	}
	return s.add(d, what)
}

// set collects documents once per key within the bounds.
type set struct {
	docs  []Document
	index map[string]int
	bytes int
}

// add adds d unless a document with its key is there already; what names it
// in messages.
func (s *set) add(d Document, what string) error {
	if i, ok := s.index[d.ID]; ok {
		prev := s.docs[i]
		if prev.Body == d.Body {
			return nil
		}
		if prev.Source == d.Source {
			return fmt.Errorf("persisted documents: %s: %s: the id appears twice with different bodies",
				display(d.Source), what)
		}
		return fmt.Errorf("persisted documents: %s: %s and %s give different bodies for the same id",
			what, display(prev.Source), display(d.Source))
	}
	if len(s.docs) >= MaxDocuments {
		return fmt.Errorf("persisted documents: %s: more than %d documents", display(d.Source), MaxDocuments)
	}
	if s.bytes+len(d.Body) > MaxBodyBytes {
		return fmt.Errorf("persisted documents: %s: more than %d MiB of document text", display(d.Source), MaxBodyBytes>>20)
	}
	if s.index == nil {
		s.index = map[string]int{}
	}
	s.index[d.ID] = len(s.docs)
	s.docs = append(s.docs, d)
	s.bytes += len(d.Body)
	return nil
}

// label names an operation in a message: by name when the manifest gives
// one, with its id cut to a readable length; i (from 0) is the last resort.
func label(name, id string, i int) string {
	switch {
	case name != "" && id != "":
		return fmt.Sprintf("operation %s (id %s)", quote(name, 60), shortID(id))
	case name != "":
		return "operation " + quote(name, 60)
	case id != "":
		return "operation id " + shortID(id)
	default:
		return fmt.Sprintf("operation #%d", i+1)
	}
}

// shortID cuts an id to a prefix that is enough to find it in a manifest.
func shortID(id string) string {
	c := cut(id, 16)
	if plain(c) {
		return c
	}
	return strconv.Quote(c)
}

// quote cuts s to n runes and quotes it, so a message stays one line.
func quote(s string, n int) string { return strconv.Quote(cut(s, n)) }

// cut keeps the first n runes of s, marking a cut with an ellipsis.
func cut(s string, n int) string {
	for i := range s {
		if n == 0 {
			return s[:i] + "…"
		}
		n--
	}
	return s
}

// display shows a path as is unless it holds something that would break a
// one-line message.
func display(s string) string {
	if strings.IndexFunc(s, func(r rune) bool { return !unicode.IsGraphic(r) || r == utf8.RuneError }) < 0 {
		return s
	}
	return strconv.Quote(s)
}

// plain reports whether s is only printable characters without spaces or quotes.
func plain(s string) bool {
	return strings.IndexFunc(s, func(r rune) bool {
		return !unicode.IsGraphic(r) || unicode.IsSpace(r) || r == '"' || r == utf8.RuneError
	}) < 0
}
