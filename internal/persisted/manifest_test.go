package persisted

import (
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// sha is the hex sha256 of body, computed here rather than by the code under test.
func sha(body string) string {
	sum := sha256.Sum256([]byte(body))
	return hex.EncodeToString(sum[:])
}

// readFixture reads a file under testdata.
func readFixture(t *testing.T, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// writeFile writes data to dir/name and returns the path.
func writeFile(t *testing.T, dir, name, data string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// summary is what a test expects of one document besides its body.
type summary struct{ id, name, typ, source string }

// summarize lists docs as summaries, checking on the way that each id that
// is a hash (sha256 or Relay's MD5) is the hash of its body.
func summarize(t *testing.T, docs []Document) []summary {
	t.Helper()
	var got []summary
	for _, d := range docs {
		switch len(d.ID) {
		case 64:
			if d.ID != sha(d.Body) {
				t.Errorf("%s: id %s is not the sha256 of its body", d.Name, d.ID)
			}
		case 32:
			if sum := md5.Sum([]byte(d.Body)); d.ID != hex.EncodeToString(sum[:]) {
				t.Errorf("id %s is not the md5 of its body", d.ID)
			}
		}
		got = append(got, summary{d.ID, d.Name, d.Type, d.Source})
	}
	return got
}

// checkSummaries compares summaries in order.
func checkSummaries(t *testing.T, got, want []summary) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d documents %v, want %d %v", len(got), got, len(want), want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("document %d: got %+v, want %+v", i, got[i], want[i])
		}
	}
}

// Ids of the fixtures' documents, from the generator that wrote them.
const (
	getTasksID   = "476ec380ef15f77a2c52048548a483a7fdd06bd42080455aaf6c91a55d5392ff"
	createTaskID = "380e0a4ddb0c45263745b92bb70f14c6ddef653beb6f2815e46cbc9929ab220e"
	taskListID   = "1106fc8d2ee05517a345d7893a2bfaec508119d2987e6bebda34eded6c0c1dff"
	toggleTaskID = "3402c70284076a9841a76b3c5afa9efeb2d522d0cbf124bad91c8c32c5799ad6"
	taskChangeID = "76adeaa576119f4c889d22bafeecd2a1c316881d7b403dd562143bb8f0b28abe"
)

func TestParseFormats(t *testing.T) {
	tests := []struct {
		name string
		file string
		want []summary
	}{
		{"an Apollo manifest gives ids, names and types", "apollo/persisted-query-manifest.json", []summary{
			{getTasksID, "GetTasks", "query", "m"},
			{createTaskID, "CreateTask", "mutation", "m"},
		}},
		{"a codegen v6 map's sha256: ids become bare hex", "codegen-v6/persisted-documents.json", []summary{
			{taskListID, "", "", "m"},
			{toggleTaskID, "", "", "m"},
		}},
		{"a codegen v5 map's hex ids are kept", "codegen-v5/persisted-documents.json", []summary{
			{taskListID, "", "", "m"},
			{toggleTaskID, "", "", "m"},
		}},
		{"a Relay query map's md5 ids are kept", "relay/queryMap.json", []summary{
			{"897f8c748ef05c414e4bd7e064aef0ec", "", "", "m"},
			{"01defe98d5b7ddcbf6b7ba2ce3186610", "", "", "m"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			docs, err := Parse("m", readFixture(t, tt.file))
			if err != nil {
				t.Fatal(err)
			}
			checkSummaries(t, summarize(t, docs), tt.want)
		})
	}
}

func TestParseFormatsGiveTheSameBodies(t *testing.T) {
	v5, err := Parse("v5", readFixture(t, "codegen-v5/persisted-documents.json"))
	if err != nil {
		t.Fatal(err)
	}
	v6, err := Parse("v6", readFixture(t, "codegen-v6/persisted-documents.json"))
	if err != nil {
		t.Fatal(err)
	}
	for i := range v5 {
		if v5[i].ID != v6[i].ID || v5[i].Body != v6[i].Body {
			t.Errorf("document %d: v5 %s %q, v6 %s %q", i, v5[i].ID, v5[i].Body, v6[i].ID, v6[i].Body)
		}
	}
}

// apollo builds an Apollo manifest from operation objects written as JSON.
func apollo(ops ...string) string {
	return `{"format": "apollo-persisted-query-manifest", "version": 1, "operations": [` + strings.Join(ops, ",") + `]}`
}

func TestParseRefuses(t *testing.T) {
	const body = "query GetTasks { tasks { leak } }"
	const other = "query Other { tasks { leak } }"
	tests := []struct {
		name string
		data string
		want []string // in the message, besides the file name
	}{
		{"a wrong sha256 id in an Apollo manifest",
			apollo(fmt.Sprintf(`{"id": %q, "name": "GetTasks", "type": "query", "body": %q}`, sha(other), body)),
			[]string{`operation "GetTasks" (id ` + sha(other)[:16] + "…)", "id is not the sha256 of its body"}},
		{"a wrong sha256: id in a codegen map",
			fmt.Sprintf(`{"sha256:%s": %q}`, sha(other), body),
			[]string{"operation id sha256:" + sha(other)[:9] + "…", "id is not the sha256 of its body"}},
		{"a wrong bare 64-hex id in a codegen map",
			fmt.Sprintf(`{%q: %q}`, strings.ToUpper(sha(other)), body),
			[]string{"id is not the sha256 of its body"}},
		{"an unknown id prefix",
			`{"md5:897f8c748ef05c414e4bd7e064aef0ec": "query { leak }"}`,
			[]string{`unknown id prefix "md5:"`}},
		{"a sha256: id that is not 64 hex",
			`{"sha256:abc": "query { leak }"}`,
			[]string{"operation id sha256:abc", "64 hex digits"}},
		{"an empty id", `{"": "query { leak }"}`, []string{"operation #1", "empty id"}},
		{"an empty body", `{"a": " \n"}`, []string{"operation id a", "empty body"}},
		{"an id over 256 bytes",
			fmt.Sprintf(`{%q: "query { leak }"}`, strings.Repeat("x", 257)),
			[]string{"operation id xxxxxxxxxxxxxxxx…", "longer than 256 bytes"}},
		{"an unknown Apollo format",
			`{"format": "apollo-persisted-query-manifest-v2", "version": 1, "operations": []}`,
			[]string{`unknown manifest format "apollo-persisted-query-manifest-v2"`}},
		{"operations without a format",
			`{"operations": []}`,
			[]string{"unknown manifest format none"}},
		{"an unknown Apollo version",
			`{"format": "apollo-persisted-query-manifest", "version": 2, "operations": []}`,
			[]string{"version 2 (want 1)"}},
		{"a version given as a string",
			`{"format": "apollo-persisted-query-manifest", "version": "1", "operations": []}`,
			[]string{`version "1" (want 1)`}},
		{"operations that are not an array",
			`{"format": "apollo-persisted-query-manifest", "version": 1, "operations": {}}`,
			[]string{`"operations" is an object, not an array`}},
		{"an Apollo operation of an unknown type",
			apollo(fmt.Sprintf(`{"id": %q, "name": "GetTasks", "type": "fragment", "body": %q}`, sha(body), body)),
			[]string{`operation "GetTasks"`, `unknown type "fragment"`}},
		{"an Apollo body that is not a string",
			apollo(`{"id": "c1", "name": "GetTasks", "type": "query", "body": ["query { leak }"]}`),
			[]string{`operation "GetTasks" (id c1)`, `"body" is an array, not a string`}},
		{"one custom id twice in an Apollo manifest with different bodies",
			apollo(
				fmt.Sprintf(`{"id": "c1", "name": "GetTasks", "type": "query", "body": %q}`, body),
				fmt.Sprintf(`{"id": "c1", "name": "Other", "type": "query", "body": %q}`, other)),
			[]string{`operation "Other" (id c1)`, "appears twice with different bodies"}},
		{"a flat map value that is not a string",
			`{"897f8c748ef05c414e4bd7e064aef0ec": {"text": "query { leak }"}}`,
			[]string{"operation id 897f8c748ef05c41…", "value is an object, not a document string"}},
		{"one id twice in a flat map with different bodies",
			`{"c1": "query A { leak }", "c1": "query B { leak }"}`,
			[]string{`key "c1" appears twice with different values`}},
		{"trailing data after the object",
			`{"c1": "query A { leak }"} {"c2": "query B { leak }"}`,
			[]string{"trailing data after the JSON object"}},
		{"trailing garbage after the object",
			`{"c1": "query A { leak }"} leak`,
			[]string{"trailing data after the JSON object"}},
		{"invalid UTF-8", "{\"c1\": \"query { leak \xff }\"}", []string{"not valid UTF-8"}},
		{"an array at the top", `[{"c1": "query { leak }"}]`, []string{"the manifest is not a JSON object"}},
		{"a cut-off file", `{"c1": "query { leak }"`, []string{"unexpected end of JSON"}},
		{"an empty file", ``, []string{"unexpected end of JSON"}},
		{"JSON with a syntax error", `{"c1" "query { leak }"}`, []string{"invalid JSON at byte 6"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			docs, err := Parse("dir/manifest.json", []byte(tt.data))
			if err == nil {
				t.Fatalf("no error; got %d documents", len(docs))
			}
			msg := err.Error()
			for _, w := range append([]string{"persisted documents: dir/manifest.json: "}, tt.want...) {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not contain %q", msg, w)
				}
			}
			if strings.ContainsAny(msg, "\n\r") {
				t.Errorf("error %q is more than one line", msg)
			}
			if strings.Contains(msg, "leak") {
				t.Errorf("error %q quotes a body", msg)
			}
		})
	}
}

func TestParseAccepts(t *testing.T) {
	const body = "query GetTasks { tasks { id } }"
	tests := []struct {
		name string
		data string
		want []summary
	}{
		{"one id twice with the same body is kept once",
			`{"c1": "query A { a }", "c1": "query \u0041 { a }"}`,
			[]summary{{"c1", "", "", "m"}}},
		{"a sha256: id and its bare hex in one map are one document",
			fmt.Sprintf(`{"sha256:%s": %q, %q: %q}`, sha(body), body, sha(body), body),
			[]summary{{sha(body), "", "", "m"}}},
		{"an uppercase hex id is checked and keyed in lowercase",
			fmt.Sprintf(`{"sha256:%s": %q}`, strings.ToUpper(sha(body)), body),
			[]summary{{sha(body), "", "", "m"}}},
		{"an x- prefixed id is the application's and kept as is",
			`{"x-build42:GetTasks": "query GetTasks { tasks { id } }"}`,
			[]summary{{"x-build42:GetTasks", "", "", "m"}}},
		{"sha1 hex ids are not checked",
			`{"0123456789abcdef0123456789abcdef01234567": "query { a }"}`,
			[]summary{{"0123456789abcdef0123456789abcdef01234567", "", "", "m"}}},
		{"keys a later Apollo manifest may add are ignored",
			`{"format": "apollo-persisted-query-manifest", "version": 1, "generator": "x", "operations": [` +
				fmt.Sprintf(`{"id": %q, "name": "GetTasks", "type": "query", "body": %q, "clientName": "ios"}`, sha(body), body) + `]}`,
			[]summary{{sha(body), "GetTasks", "query", "m"}}},
		{"an empty map has no documents", `{}`, nil},
		{"an Apollo manifest without operations has no documents",
			`{"format": "apollo-persisted-query-manifest", "version": 1, "operations": []}`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			docs, err := Parse("m", []byte(tt.data))
			if err != nil {
				t.Fatal(err)
			}
			checkSummaries(t, summarize(t, docs), tt.want)
		})
	}
}

func TestKey(t *testing.T) {
	const hex64 = "476ec380ef15f77a2c52048548a483a7fdd06bd42080455aaf6c91a55d5392ff"
	tests := []struct {
		name, id, want string
	}{
		{"a sha256: id becomes its hex", "sha256:" + hex64, hex64},
		{"a sha256: id in uppercase becomes lowercase hex", "sha256:" + strings.ToUpper(hex64), hex64},
		{"a bare 64-hex id is kept", hex64, hex64},
		{"a bare 64-hex id in uppercase becomes lowercase", strings.ToUpper(hex64), hex64},
		{"a Relay md5 id is kept", "897f8c748ef05c414e4bd7e064aef0ec", "897f8c748ef05c414e4bd7e064aef0ec"},
		{"an uppercase md5 id is kept exactly", "897F8C748EF05C414E4BD7E064AEF0EC", "897F8C748EF05C414E4BD7E064AEF0EC"},
		{"a sha1 id is kept", "0123456789abcdef0123456789abcdef01234567", "0123456789abcdef0123456789abcdef01234567"},
		{"a custom id is kept", "GetTasks-v3", "GetTasks-v3"},
		{"a sha256: id that is not 64 hex is kept", "sha256:abc", "sha256:abc"},
		{"an uppercase SHA256: prefix is not the sha256 prefix", "SHA256:" + hex64, "SHA256:" + hex64},
		{"65 hex digits are a custom id", hex64 + "0", hex64 + "0"},
		{"an empty id stays empty", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Key(tt.id); got != tt.want {
				t.Errorf("Key(%q) = %q, want %q", tt.id, got, tt.want)
			}
		})
	}
}

func TestLoad(t *testing.T) {
	apolloFile := filepath.Join("testdata", "apollo", "persisted-query-manifest.json")
	release := func(v string) string { return filepath.Join("testdata", "releases", "app-"+v+".json") }
	tests := []struct {
		name  string
		paths []string
		want  []summary
	}{
		{"a directory's *.json files are read in name order, identical documents once",
			[]string{filepath.Join("testdata", "releases")}, []summary{
				{getTasksID, "GetTasks", "query", release("1.0")},
				{createTaskID, "CreateTask", "mutation", release("1.0")},
				{taskChangeID, "TaskChanged", "subscription", release("1.1")},
			}},
		{"a file and a directory that repeat each other",
			[]string{apolloFile, filepath.Join("testdata", "releases")}, []summary{
				{getTasksID, "GetTasks", "query", apolloFile},
				{createTaskID, "CreateTask", "mutation", apolloFile},
				{taskChangeID, "TaskChanged", "subscription", release("1.1")},
			}},
		{"codegen v5 and v6 maps of one app meet on their keys",
			[]string{"testdata/codegen-v5/persisted-documents.json", "testdata/codegen-v6/persisted-documents.json"}, []summary{
				{taskListID, "", "", "testdata/codegen-v5/persisted-documents.json"},
				{toggleTaskID, "", "", "testdata/codegen-v5/persisted-documents.json"},
			}},
		{"no paths give no documents", nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			docs, err := Load(tt.paths)
			if err != nil {
				t.Fatal(err)
			}
			checkSummaries(t, summarize(t, docs), tt.want)
		})
	}
}

func TestLoadReadsAConfigMapDirectoryOnce(t *testing.T) {
	// What the kubelet writes: files are symlinks through ..data, which
	// points at a timestamped directory.
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "..2026_01_02_03_04_05.123"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "..2026_01_02_03_04_05.123"), "queryMap.json", string(readFixture(t, "relay/queryMap.json")))
	if err := os.Symlink("..2026_01_02_03_04_05.123", filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("..data/queryMap.json", filepath.Join(dir, "queryMap.json")); err != nil {
		t.Fatal(err)
	}
	docs, err := Load([]string{dir})
	if err != nil {
		t.Fatal(err)
	}
	source := filepath.Join(dir, "queryMap.json")
	checkSummaries(t, summarize(t, docs), []summary{
		{"897f8c748ef05c414e4bd7e064aef0ec", "", "", source},
		{"01defe98d5b7ddcbf6b7ba2ce3186610", "", "", source},
	})
}

func TestLoadRefuses(t *testing.T) {
	tmp := t.TempDir()
	empty := filepath.Join(tmp, "empty")
	if err := os.Mkdir(empty, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, empty, "README.md", "no manifests here")
	big := filepath.Join(tmp, "big.json")
	f, err := os.Create(big)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(MaxManifestBytes + 1); err != nil { // sparse: no disk used
		t.Fatal(err)
	}
	f.Close()

	// Two files that are each within the bound but not together.
	many1 := writeFile(t, tmp, "many1.json", flatMap("one", MaxDocuments/2+1))
	many2 := writeFile(t, tmp, "many2.json", flatMap("two", MaxDocuments/2+1))

	tests := []struct {
		name  string
		paths []string
		want  []string
	}{
		{"one custom id with different bodies in two files names both",
			[]string{"testdata/conflict"},
			[]string{"operation id custom-1", "testdata/conflict/a.json and testdata/conflict/b.json give different bodies"}},
		{"a missing path is named",
			[]string{"testdata/apollo/persisted-query-manifest.json", "testdata/nowhere.json"},
			[]string{"testdata/nowhere.json", "no such file or directory"}},
		{"a directory without *.json files",
			[]string{empty}, []string{empty + ": no *.json files in the directory"}},
		{"a file over 64 MiB",
			[]string{big}, []string{big + ": larger than 64 MiB"}},
		{"more than 100,000 documents across files",
			[]string{many1, many2}, []string{many2 + ": more than 100000 documents"}},
		{"more than 100,000 documents in one file",
			[]string{writeFile(t, tmp, "huge.json", flatMap("one", MaxDocuments+1))},
			[]string{"huge.json: the manifest: more than 100000 keys"}},
		{"a broken manifest names its file",
			[]string{writeFile(t, tmp, "broken.json", `{"c1": 1}`)}, []string{"broken.json: operation id c1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			docs, err := Load(tt.paths)
			if err == nil {
				t.Fatalf("no error; got %d documents", len(docs))
			}
			msg := err.Error()
			for _, w := range append([]string{"persisted documents: "}, tt.want...) {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not contain %q", msg, w)
				}
			}
			if strings.ContainsAny(msg, "\n\r") {
				t.Errorf("error %q is more than one line", msg)
			}
		})
	}
}

// flatMap is a codegen-style map of n small documents with custom ids.
func flatMap(prefix string, n int) string {
	var b strings.Builder
	b.WriteString("{")
	for i := range n {
		if i > 0 {
			b.WriteString(",\n")
		}
		fmt.Fprintf(&b, `"%s-%d": "{ a }"`, prefix, i)
	}
	b.WriteString("}")
	return b.String()
}

func TestBodyBytesAreBounded(t *testing.T) {
	// Filling 256 MiB for real would make the test the slowest in the tree.
	s := set{bytes: MaxBodyBytes - 3}
	err := s.add(Document{ID: "c1", Body: "{ a }", Source: "m.json"}, "operation id c1")
	if err == nil || !strings.Contains(err.Error(), "m.json: more than 256 MiB of document text") {
		t.Fatalf("got %v, want the body bound", err)
	}
}
