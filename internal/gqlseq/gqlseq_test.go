package gqlseq

import (
	"bytes"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// The fixture is gqlgen's own output (go generate ./internal/gqlseq) for a
// schema with a resolver below the root; its models are in its own package.
func fixture(t *testing.T) []byte {
	t.Helper()
	src, err := os.ReadFile("testdata/resolverbelow/generated.go")
	if err != nil {
		t.Fatal(err)
	}
	return src
}

var fixtureOpts = Options{StructPackages: []string{""}}

func rewrite(t *testing.T, src []byte, opts Options) ([]byte, *Report) {
	t.Helper()
	out, r, err := Rewrite(src, opts)
	if err != nil {
		t.Fatal(err)
	}
	again, _, err := Rewrite(out, opts)
	if err != nil || !bytes.Equal(again, out) {
		t.Fatalf("a second run changed the output (error %v)", err)
	}
	return out, r
}

// listOf says how the list of typ is marshalled: gqlgen names a list's
// marshaler marshal{N,O}<type>2ᚕ….
func listOf(t *testing.T, r *Report, typ string) string {
	t.Helper()
	name := regexp.MustCompile(`^marshal[NO]` + typ + `2ᚕ`)
	var got []string
	for kind, names := range map[string][]string{"sequential": r.SequentialLists, "concurrent": r.ConcurrentLists} {
		for _, n := range names {
			if name.MatchString(n) {
				got = append(got, kind)
			}
		}
	}
	if len(got) != 1 {
		t.Fatalf("list of %s: %v, want one decision", typ, got)
	}
	return got[0]
}

func TestListsAreSequentialOnlyWhereNothingBelowResolves(t *testing.T) {
	_, r := rewrite(t, fixture(t), fixtureOpts)
	for typ, want := range map[string]string{
		"Task":      "sequential",
		"TaskEvent": "concurrent", // its task field has a resolver
		"Feed":      "concurrent", // through its list of events
		"Digest":    "concurrent", // through its latest event, one object down
		"Node":      "concurrent", // TaskEvent implements Node
	} {
		if got := listOf(t, r, typ); got != want {
			t.Errorf("list of %s is %s, want %s", typ, got, want)
		}
	}
}

func TestQuietListsOnlyOfReadsThatKeepNoContext(t *testing.T) {
	// quiet says how the list of typ is marshalled, by its elements'
	// nullability: gqlgen ends the name of a list of non-null ones in ᚄ.
	quiet := func(r *Report, typ string, nullable bool) bool {
		name := regexp.MustCompile(`^marshal[NO]` + typ + `2ᚕ[^ᚄ]*` + map[bool]string{true: "$", false: "ᚄ$"}[nullable])
		for _, n := range r.QuietLists {
			if name.MatchString(n) {
				return true
			}
		}
		return false
	}
	out, r := rewrite(t, fixture(t), fixtureOpts)
	for _, c := range []struct {
		typ      string
		nullable bool
		want     bool
	}{
		{"Label", true, true},
		{"Pin", true, true},   // through Pin.label, an object read
		{"Pin", false, false}, // non-null elements
		{"Board", false, false},
		{"Task", false, false}, // note takes an argument
	} {
		if got := quiet(r, c.typ, c.nullable); got != c.want {
			t.Errorf("list of %s (nullable %v) quiet: %v, want %v", c.typ, c.nullable, got, c.want)
		}
	}
	if n := bytes.Count(out, []byte("marshalQuietSlice(")); n != len(r.QuietLists) {
		t.Errorf("%d calls of marshalQuietSlice for %d quiet lists", n, len(r.QuietLists))
	}
	// A context handed to anything but another generated method or a null
	// report may outlive the element; so may one handed to a method this
	// file does not define. Label is reached from Pin's list through an
	// object read, so that list must turn too.
	for _, use := range []string{"defer keep(ctx)", "defer graphql.AddError(ctx, nil)", "graphql.WrapContextMarshaler(ctx, nil)", "ec.Error(ctx, nil)"} {
		src := strings.Replace(string(fixture(t)), "func (ec *executionContext) _Label(ctx context.Context, sel ast.SelectionSet, obj *Label) graphql.Marshaler {\n", "func (ec *executionContext) _Label(ctx context.Context, sel ast.SelectionSet, obj *Label) graphql.Marshaler {\n\t"+use+"\n", 1)
		if src == string(fixture(t)) {
			t.Fatal("the fixture's _Label starts otherwise")
		}
		if _, r := rewrite(t, []byte(src), fixtureOpts); quiet(r, "Label", true) || quiet(r, "Pin", true) {
			t.Errorf("with %s in _Label: quiet lists %v", use, r.QuietLists)
		}
	}
}

func TestDeferredGroupKeptWhereAFieldCanBeDeferred(t *testing.T) {
	_, r := rewrite(t, fixture(t), fixtureOpts)
	for _, obj := range []string{"_Task", "_Feed", "_Digest", "_Query"} {
		if !slices.Contains(r.EmptyDeferred, obj) {
			t.Errorf("%s keeps NewDeferredGroup; it resolves nothing concurrently", obj)
		}
	}
	if !slices.Contains(r.KeptDeferred, "_TaskEvent") || slices.Contains(r.EmptyDeferred, "_TaskEvent") {
		t.Error("_TaskEvent lost its deferred group; its task field can be deferred")
	}
}

func TestPlainFieldSetsOnlyWhereNothingIsDispatched(t *testing.T) {
	out, r := rewrite(t, fixture(t), fixtureOpts)
	for obj, want := range map[string]bool{
		"_Task":      true,
		"_Feed":      true,
		"_Digest":    true,
		"_TaskEvent": false, // its task field is resolved concurrently
		"_Query":     false, // root fields are
	} {
		if got := slices.Contains(r.PlainFieldSets, obj); got != want || slices.Contains(r.KeptFieldSets, obj) == want {
			t.Errorf("%s: plain field set %v, want %v", obj, got, want)
		}
	}
	if n := bytes.Count(out, []byte("newFieldSet(fields)")); n != len(r.PlainFieldSets) {
		t.Errorf("%d calls of newFieldSet for %d plain field sets", n, len(r.PlainFieldSets))
	}
	// Any other use of the set keeps gqlgen's.
	src := strings.Replace(string(fixture(t)), "func (ec *executionContext) _Feed(ctx context.Context, sel ast.SelectionSet, obj *Feed) graphql.Marshaler {\n\tfields := graphql.CollectFields(ec.OperationContext, sel, feedImplementors)\n\n\tout := graphql.NewFieldSet(fields)\n",
		"func (ec *executionContext) _Feed(ctx context.Context, sel ast.SelectionSet, obj *Feed) graphql.Marshaler {\n\tfields := graphql.CollectFields(ec.OperationContext, sel, feedImplementors)\n\n\tout := graphql.NewFieldSet(fields)\n\t_ = out.NewView()\n", 1)
	if src == string(fixture(t)) {
		t.Fatal("the fixture's _Feed starts otherwise")
	}
	if _, r := rewrite(t, []byte(src), fixtureOpts); !slices.Contains(r.KeptFieldSets, "_Feed") {
		t.Error("_Feed makes a view of its field set and still got graph's")
	}
}

func TestStructReadsOnlyForEligibleFields(t *testing.T) {
	out, r := rewrite(t, fixture(t), fixtureOpts)
	for field, want := range map[string]bool{
		"_Task_title":       true,
		"_Task_description": true, // nullable: marshalOString2ᚖstring
		"_Task_done":        true,
		"_Feed_name":        true,
		"_Task_id":          false, // marshalNID2string is not in NeverNull
		"_Task_note":        false, // takes an argument
		"_TaskEvent_kind":   false, // an enum's marshaler is not in NeverNull
		"_TaskEvent_task":   false, // a resolver
		"_Feed_events":      false, // a list of objects
		"_Pin_label":        true,  // a nullable object of reads alone
		"_Board_pin":        true,  // one level further, a round later
		"_Chain_labelAt":    false, // takes an argument
		"_Board_mainPin":    false, // non-null: a nil needs the field's path
		"_Chain_next":       false, // Chain is quiet only if next is
		"_Chain_digest":     false, // a resolver below
		"_Digest_latest":    false, // TaskEvent.task has a resolver
		"_Task_shout":       false, // a directive, which only ResolveField runs
	} {
		if got := slices.Contains(r.StructReads, field); got != want {
			t.Errorf("%s rewritten: %v, want %v", field, got, want)
		}
	}
	if n := bytes.Count(out, []byte(StructReadMark)); n != len(r.StructReads) {
		t.Errorf("%d marks for %d struct reads", n, len(r.StructReads))
	}
	if _, r := rewrite(t, fixture(t), Options{}); len(r.StructReads) != 0 {
		t.Errorf("struct reads %v of types no option names", r.StructReads)
	}
}

// graph's own generated code: the fields below the root with a resolver
// are TaskEvent.task and TaskConnection.count, and no list holds either
// type, so every list is sequential and only those two keep their
// deferred groups; go generate leaves it as it is.
func TestGraphIsAllSequential(t *testing.T) {
	src, err := os.ReadFile("../../graph/generated.go")
	if err != nil {
		t.Fatal(err)
	}
	out, r := rewrite(t, src, Options{StructPackages: []string{"ent"}})
	if !bytes.Equal(out, src) {
		t.Error("graph/generated.go is not gqlseq's output: run go generate ./...")
	}
	if len(r.ConcurrentLists) != 0 || fmt.Sprint(r.KeptDeferred) != "[_TaskConnection _TaskEvent]" || len(r.SequentialLists) == 0 || len(r.StructReads) == 0 {
		t.Errorf("concurrent lists %v, kept deferred groups %v, %d sequential lists, %d struct reads",
			r.ConcurrentLists, r.KeptDeferred, len(r.SequentialLists), len(r.StructReads))
	}
	if fmt.Sprint(r.QuietLists) != "[marshalOTaskEdge2ᚕᚖgithubᚗcomᚋtaskapiᚋserverᚋentᚐTaskEdge]" {
		t.Errorf("quiet lists %v, want the page's edges", r.QuietLists)
	}
	if fmt.Sprint(r.KeptFieldSets) != "[_Query _TaskConnection _TaskEvent]" || !slices.Contains(r.PlainFieldSets, "_Task") || !slices.Contains(r.PlainFieldSets, "_TaskEdge") {
		t.Errorf("kept field sets %v, plain ones %v", r.KeptFieldSets, r.PlainFieldSets)
	}
}

// A struct read of an object whose object no longer qualifies cannot be
// taken back: Rewrite says so rather than keep it.
func TestObjectReadThatNoLongerQualifies(t *testing.T) {
	out, _ := rewrite(t, fixture(t), fixtureOpts)
	changed := strings.Replace(string(out), "func (ec *executionContext) _Label(ctx context.Context, sel ast.SelectionSet, obj *Label) graphql.Marshaler {\n", "func (ec *executionContext) _Label(ctx context.Context, sel ast.SelectionSet, obj *Label) graphql.Marshaler {\n\t_ = ec._Chain_next(ctx, graphql.CollectedField{}, nil)\n", 1)
	if changed == string(out) {
		t.Fatal("the fixture's _Label starts otherwise")
	}
	if _, _, err := Rewrite([]byte(changed), fixtureOpts); err == nil || !strings.Contains(err.Error(), "directly, but its object no longer qualifies") {
		t.Errorf("error %v", err)
	}
}

func TestFailsWhenGqlgenChangesShape(t *testing.T) {
	src := string(fixture(t))
	for _, c := range []struct{ name, from, to, want string }{
		{"lists marshalled otherwise", "graphql.MarshalSliceConcurrently(", "graphql.MarshalSliceInParallel(", "no call of graphql.MarshalSliceConcurrently"},
		{"element closure gone", "graphql.MarshalSliceConcurrently(ctx, len(v), 0, false, func", "graphql.MarshalSliceConcurrently(ctx, len(v), 0, false, nil, func", "no longer takes 5 arguments"},
		{"defer groups made otherwise", "graphql.NewDeferredGroup(ctx)", "graphql.NewDeferGroup(ctx)", "no longer graphql.NewDeferredGroup"},
		{"no defer groups", "deferred := graphql.NewDeferredGroup(ctx)", "deferred := 0", "no longer graphql.NewDeferredGroup"},
		{"resolvers scheduled otherwise", "Concurrently(", "Scheduled(", "no field is resolved with ResolveConcurrently"},
		{"field sets made otherwise", "out := graphql.NewFieldSet(fields)", "out := graphql.NewObject(fields)", "out is no longer graphql.NewFieldSet(fields)"},
		{"fields resolved otherwise", "graphql.ResolveField(", "graphql.ResolveFieldV2(", "no field of an object resolves through graphql.ResolveField"},
		{"deferred payloads delivered otherwise", "result := <-ec.DeferredResults", "result := ec.NextDeferred()", "0 receives from ec.DeferredResults"},
	} {
		t.Run(c.name, func(t *testing.T) {
			changed := strings.ReplaceAll(src, c.from, c.to)
			if changed == src {
				t.Fatalf("the fixture has no %q", c.from)
			}
			_, _, err := Rewrite([]byte(changed), fixtureOpts)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want one saying %q", err, c.want)
			}
		})
	}
}

// Exec's wait for a @defer payload ends with the request's context.
func TestDeferredWaitEndsWithTheContext(t *testing.T) {
	out, r := rewrite(t, fixture(t), fixtureOpts)
	if r.DeferredWaits != 1 {
		t.Fatalf("%d deferred waits rewritten, want 1", r.DeferredWaits)
	}
	want := "select {\n\t\t\t\t\tcase result = <-ec.DeferredResults:\n\t\t\t\t\tcase <-ctx.Done():\n\t\t\t\t\t\treturn nil " + DeferredWaitMark
	if !strings.Contains(string(out), want) {
		t.Errorf("Exec does not wait with a select on ctx:\n%s", out[bytes.Index(out, []byte("func (e *executableSchema) Exec")):][:1500])
	}
	if strings.Contains(string(out), "result := <-ec.DeferredResults") {
		t.Error("a bare receive is left")
	}
}

// A resolver call is enough to keep a list concurrent, however gqlgen
// schedules the field.
func TestResolverCallsKeepListsConcurrent(t *testing.T) {
	src := strings.ReplaceAll(string(fixture(t)), "out.ResolveConcurrently(", "out.ResolveLater(")
	_, r := rewrite(t, []byte(src), fixtureOpts)
	if got := listOf(t, r, "Digest"); got != "concurrent" {
		t.Errorf("list of Digest is %s, want concurrent", got)
	}
	if !slices.Contains(r.KeptDeferred, "_TaskEvent") {
		t.Error("_TaskEvent lost its deferred group, which it still hands out")
	}
}
