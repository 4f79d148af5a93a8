// Package gqlseq takes three costs out of the code gqlgen generates, each
// paid for every object or field of every response, wherever that is safe
// for the type at hand. It works on the file's syntax tree and decides per
// generated function; cmd/gqlseq runs it from generate.go right after gqlgen.
//
// gqlgen offers no hook for this: exec templates are embedded and not
// configurable, plugins run before the exec file is written, and its only
// list option (exec.worker_limit) still starts a goroutine per element.
//
// Lists. graphql.MarshalSliceConcurrently starts a goroutine per element so
// that resolvers under the list overlap. Where nothing an element marshals,
// however deep, calls a resolver, the call goes to graph's sequential
// marshalSlice instead. Deep matters: an object's marshaler waits for its
// resolver fields (FieldSet.Dispatch) before returning, so a resolver two
// levels down would run once per element, in turn.
//
// @defer. graphql.NewDeferredGroup builds bookkeeping for each object, but
// only a field gqlgen resolves concurrently (out.ResolveConcurrently(…,
// &deferred, …)) is ever deferred. An object function that hands its group
// to nothing gets an empty one.
//
// Field sets. graphql.NewFieldSet allocates the set and its values apart,
// and its MarshalGQL an iterator, a copy of each field and a map of the
// names written, for every object. An object function that only stores
// values, counts invalid ones and dispatches (nothing resolved
// concurrently, no @defer view) gets graph's newFieldSet: one allocation,
// and a plain loop to write it.
//
// Struct reads. A scalar field read off a struct (a task's title) goes
// through graphql.ResolveField: a field context, closures, the value boxed
// twice, a deferred recover and the field middleware, around one read. It
// becomes a direct call of the field's marshaler when the field takes no
// arguments and has no directives (a bare scalar field context, no
// middleware chain), the read is a plain selector on obj (never nil there),
// and the marshaler is one of NeverNull, so no error needs the field's path,
// for objects of the types Options.StructPackages name: plain structs, with
// no embedded pointer a promoted field could be read through. A nullable
// object field (an edge's node) is read the same way when every field of
// its object is such a read, found to a fixpoint, so objects of objects
// qualify a round later; its marshaler answers null for nil, with no
// error, so no path is needed. Field middleware no longer sees such
// fields: graph.NewHandler takes only resolver-only tracing.
//
// Quiet lists. A sequential list whose elements are written by reads alone
// and never hand their context to anything that could keep it calls
// graph's marshalQuietSlice: one field context for all the elements, its
// index moved on, instead of a context, a field context and an index each.
//
// Deferred results. Exec waits for each @defer payload with a bare
// receive from ec.DeferredResults, while the goroutine resolving it gives
// up sending once the request's context ends: a request past its deadline
// (or a WebSocket operation its client completed) would wait forever. The
// wait becomes a select that also ends with the context, answering nil, no
// more payloads.
//
// When gqlgen's output stops having the shapes this relies on, Rewrite
// fails with an error naming the function and what is missing.
package gqlseq

import (
	"bytes"
	"errors"
	"fmt"
	"go/ast"
	"go/format"
	"go/parser"
	"go/token"
	"slices"
	"sort"
	"strings"
)

//go:generate go -C testdata/resolverbelow tool gqlgen generate

// NeverNull are the marshalers a struct read may call directly: none
// returns graphql.Null for a value (marshalOString2ᚖstring does for nil, the
// nullable field's answer, with no error). graph's tests check each.
var NeverNull = map[string]bool{
	"marshalNBoolean2bool":                          true,
	"marshalNCursor2entgoᚗioᚋcontribᚋentgqlᚐCursor": true,
	"marshalNID2githubᚗcomᚋgoogleᚋuuidᚐUUID":        true,
	"marshalNInt2int":                               true,
	"marshalNString2string":                         true,
	"marshalNTime2timeᚐTime":                        true,
	"marshalOString2ᚖstring":                        true,
}

// StructReadMark ends each struct read's line, for readers of the output.
const StructReadMark = "// gqlseq: a struct read"

// Report says what Rewrite decided, by generated function name.
type Report struct {
	SequentialLists []string // list marshalers now calling marshalSlice or marshalQuietSlice
	QuietLists      []string // of those, the ones calling marshalQuietSlice
	DeferredWaits   int      // Exec's waits for a deferred result that now end with the context
	ConcurrentLists []string // list marshalers keeping MarshalSliceConcurrently
	EmptyDeferred   []string // object functions with an empty DeferredGroup
	KeptDeferred    []string // object functions keeping NewDeferredGroup
	StructReads     []string // field functions calling their marshaler directly
	PlainFieldSets  []string // object functions using graph's newFieldSet
	KeptFieldSets   []string // object functions keeping graphql.NewFieldSet
}

// Options say which types' fields may be read directly.
type Options struct {
	// StructPackages are the qualifiers (as the exec file writes them) of
	// the packages whose types are plain structs; "" is the exec package.
	StructPackages []string
}

type edit struct {
	start, end int
	text       string
}

type file struct {
	fset    *token.FileSet
	src     []byte
	methods map[string]*ast.FuncDecl // the executionContext's, by name
	exec    *ast.FuncDecl            // (*executableSchema).Exec
	opts    Options
	edits   []edit
	report  Report

	sequential []list            // lists with nothing below that resolves
	readsVia   map[string]string // struct reads: field function → marshaler
}

// list is a call marshalling a list, and its element's marshaler.
type list struct {
	call *ast.CallExpr
	elem string
}

// Rewrite returns gqlgen's exec file src with the rewrites above applied.
// It is idempotent.
func Rewrite(src []byte, opts Options) ([]byte, *Report, error) {
	fset := token.NewFileSet()
	af, err := parser.ParseFile(fset, "generated.go", src, parser.SkipObjectResolution)
	if err != nil {
		return nil, nil, err
	}
	f := &file{fset: fset, src: src, methods: map[string]*ast.FuncDecl{}, opts: opts}
	for _, d := range af.Decls {
		fd, ok := d.(*ast.FuncDecl)
		switch {
		case ok && isECMethod(fd):
			f.methods[fd.Name.Name] = fd
		case ok && fd.Name.Name == "Exec" && isMethodOf(fd, "executableSchema"):
			f.exec = fd
		}
	}
	if len(f.methods) == 0 {
		return nil, nil, errors.New("no method of *executionContext: is this gqlgen's exec file?")
	}
	// deferred before structReads: an object read needs its object's
	// deferred group found empty.
	for _, step := range []func() error{f.lists, f.deferred, f.structReads, f.quietLists, f.fieldSets, f.deferredWaits} {
		if err := step(); err != nil {
			return nil, nil, err
		}
	}
	out := f.apply()
	out, err = format.Source(out)
	if err != nil {
		return nil, nil, fmt.Errorf("formatting the rewritten file: %w", err)
	}
	return out, &f.report, nil
}

func (f *file) lists() error {
	resolving, err := f.resolvingMethods()
	if err != nil {
		return err
	}
	n := 0
	for _, name := range f.sortedMethods() {
		var err error
		ast.Inspect(f.methods[name].Body, func(node ast.Node) bool {
			call, ok := node.(*ast.CallExpr)
			if !ok || err != nil {
				return err == nil
			}
			concurrent := isSel(call.Fun, "graphql", "MarshalSliceConcurrently")
			if !concurrent && !isIdent(call.Fun, "marshalSlice") && !isIdent(call.Fun, "marshalQuietSlice") {
				return true
			}
			n++
			lit, _ := lastArg(call).(*ast.FuncLit)
			if len(call.Args) != 5 || lit == nil {
				err = fmt.Errorf("%s: graphql.MarshalSliceConcurrently no longer takes 5 arguments ending in the element's closure", name)
				return false
			}
			elems := ecCalls(lit)
			if len(elems) != 1 {
				err = fmt.Errorf("%s: the element closure calls %d executionContext methods %v, want the element's marshaler alone", name, len(elems), elems)
				return false
			}
			if f.reaches(elems[0], resolving) {
				f.report.ConcurrentLists = append(f.report.ConcurrentLists, name)
				f.replace(call.Fun, "graphql.MarshalSliceConcurrently")
			} else {
				f.report.SequentialLists = append(f.report.SequentialLists, name)
				f.sequential = append(f.sequential, list{call: call, elem: elems[0]})
			}
			return true
		})
		if err != nil {
			return err
		}
	}
	if n == 0 {
		return errors.New("no call of graphql.MarshalSliceConcurrently: has gqlgen changed how it marshals lists of objects?")
	}
	return nil
}

// resolvingMethods are the methods that resolve a field concurrently or
// call a resolver. It fails if resolvers are called but nothing is resolved
// concurrently: gqlgen would then mark such fields some other way.
func (f *file) resolvingMethods() (map[string]bool, error) {
	resolving := map[string]bool{}
	concurrent, resolvers := false, false
	for name, fd := range f.methods {
		ast.Inspect(fd.Body, func(node ast.Node) bool {
			switch n := node.(type) {
			case *ast.SelectorExpr:
				switch {
				case n.Sel.Name == "ResolveConcurrently" || n.Sel.Name == "ResolveRootConcurrently":
					resolving[name], concurrent = true, true
				case isSel(n, "ec", "Resolvers"):
					resolving[name], resolvers = true, true
				}
			}
			return true
		})
	}
	if resolvers && !concurrent {
		return nil, errors.New("resolvers are called but no field is resolved with ResolveConcurrently or ResolveRootConcurrently: has gqlgen changed how it schedules resolvers?")
	}
	return resolving, nil
}

// reaches reports whether from, or any method it calls in turn, is in set.
func (f *file) reaches(from string, set map[string]bool) bool {
	seen := map[string]bool{}
	stack := []string{from}
	for len(stack) > 0 {
		m := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if seen[m] {
			continue
		}
		seen[m] = true
		if set[m] {
			return true
		}
		if fd := f.methods[m]; fd != nil {
			stack = append(stack, ecCalls(fd.Body)...)
		}
	}
	return false
}

func (f *file) deferred() error {
	n := 0
	for _, name := range f.sortedMethods() {
		body := f.methods[name].Body
		for _, stmt := range body.List {
			as := defines(stmt, "deferred")
			if as == nil {
				continue
			}
			n++
			if !isNewDeferredGroup(as.Rhs[0]) && !isEmptyDeferredGroup(as.Rhs[0]) {
				return fmt.Errorf("%s: deferred is no longer graphql.NewDeferredGroup(ctx)", name)
			}
			if onlyReadsDeferred(body, as) {
				f.report.EmptyDeferred = append(f.report.EmptyDeferred, name)
				f.replace(as.Rhs[0], "graphql.DeferredGroup{}")
			} else {
				f.report.KeptDeferred = append(f.report.KeptDeferred, name)
				f.replace(as.Rhs[0], "graphql.NewDeferredGroup(ctx)")
			}
		}
	}
	if n == 0 {
		return errors.New("no object function declares deferred := graphql.NewDeferredGroup(ctx): has gqlgen changed how it handles @defer?")
	}
	return nil
}

// onlyReadsDeferred reports whether body uses the group decl declares only
// to check it for deferred fields (len(deferred.Defers)) and process them
// (ec.ProcessDeferredGroup(deferred)): nothing can add any.
func onlyReadsDeferred(body *ast.BlockStmt, decl *ast.AssignStmt) bool {
	ok := true
	ast.Inspect(body, func(node ast.Node) bool {
		switch n := node.(type) {
		case *ast.AssignStmt:
			return n != decl
		case *ast.SelectorExpr:
			if isIdent(n.X, "deferred") && n.Sel.Name == "Defers" {
				return false
			}
		case *ast.CallExpr:
			if isSel(n.Fun, "ec", "ProcessDeferredGroup") && len(n.Args) == 1 && isIdent(n.Args[0], "deferred") {
				return false
			}
		case *ast.Ident:
			if n.Name == "deferred" {
				ok = false
			}
		}
		return ok
	})
	return ok
}

// fieldRead is a field function that reads obj.<field> and marshals it.
type fieldRead struct {
	name, marshal, field string
	call                 *ast.CallExpr
	ret                  *ast.ReturnStmt
	done                 bool // rewritten by an earlier run
}

func (f *file) structReads() error {
	fields := 0
	var scalars, objects []fieldRead
	for _, name := range f.sortedMethods() {
		fd := f.methods[name]
		if len(fd.Body.List) != 1 || !hasObjParam(fd) {
			continue
		}
		ret, ok := fd.Body.List[0].(*ast.ReturnStmt)
		if !ok || len(ret.Results) != 1 {
			continue
		}
		call, ok := ret.Results[0].(*ast.CallExpr)
		if !ok {
			continue
		}
		if marshal, field, ok := rewrittenRead(call); ok {
			fields++
			r := fieldRead{name: name, marshal: marshal, field: field, done: true}
			if NeverNull[marshal] {
				scalars = append(scalars, r)
			} else {
				objects = append(objects, r)
			}
			continue
		}
		if !isSel(call.Fun, "graphql", "ResolveField") {
			continue
		}
		fields++
		if len(call.Args) != 9 {
			return fmt.Errorf("%s: graphql.ResolveField takes %d arguments, not the 9 gqlseq knows", name, len(call.Args))
		}
		marshal, field, object, ok := f.structRead(call.Args)
		if !ok || !slices.Contains(f.opts.StructPackages, objPackage(fd)) {
			continue
		}
		r := fieldRead{name: name, marshal: marshal, field: field, call: call, ret: ret}
		if object {
			objects = append(objects, r)
		} else {
			scalars = append(scalars, r)
		}
	}
	if fields == 0 {
		return errors.New("no field of an object resolves through graphql.ResolveField: has gqlgen changed how it generates fields?")
	}
	reads := map[string]bool{}
	for _, r := range scalars {
		reads[r.name] = true
	}
	f.readsVia = map[string]string{}
	// An object read joins once every field of its object is a read, so
	// reads of objects holding objects join in later rounds.
	for changed := true; changed; {
		changed = false
		for _, r := range objects {
			if !reads[r.name] && f.quiet(f.nullableObject(r.marshal), reads) {
				reads[r.name], changed = true, true
			}
		}
	}
	for _, r := range append(scalars, objects...) {
		switch {
		case !reads[r.name] && r.done:
			return fmt.Errorf("%s reads obj.%s directly, but its object no longer qualifies: run gqlgen again before gqlseq", r.name, r.field)
		case !reads[r.name]:
			continue
		}
		f.readsVia[r.name] = r.marshal
		switch {
		case !r.done:
			f.replace(r.call, fmt.Sprintf("ec.%s(ctx, field.Selections, obj.%s)", r.marshal, r.field))
			end := f.offset(r.ret.End())
			f.edits = append(f.edits, edit{end, end, " " + StructReadMark})
		}
		f.report.StructReads = append(f.report.StructReads, r.name)
	}
	slices.Sort(f.report.StructReads)
	return nil
}

// nullableObject is the object function a nullable object's marshaler
// hands a non-nil value to, when that is all it does:
//
//	if v == nil { return graphql.Null }
//	return ec._T(ctx, sel, v)
//
// and "" otherwise. A non-null object's marshaler reports a nil value with
// the field's path, which only ResolveField's context holds.
func (f *file) nullableObject(marshal string) string {
	fd := f.methods[marshal]
	if fd == nil || len(fd.Body.List) != 2 {
		return ""
	}
	is, ok := fd.Body.List[0].(*ast.IfStmt)
	if !ok || is.Init != nil || is.Else != nil || len(is.Body.List) != 1 {
		return ""
	}
	cond, ok := is.Cond.(*ast.BinaryExpr)
	if !ok || cond.Op != token.EQL || !isIdent(cond.X, "v") || !isIdent(cond.Y, "nil") {
		return ""
	}
	rn, ok := is.Body.List[0].(*ast.ReturnStmt)
	if !ok || len(rn.Results) != 1 || !isSel(rn.Results[0], "graphql", "Null") {
		return ""
	}
	rs, ok := fd.Body.List[1].(*ast.ReturnStmt)
	if !ok || len(rs.Results) != 1 {
		return ""
	}
	call, ok := rs.Results[0].(*ast.CallExpr)
	if !ok || len(call.Args) != 3 || !isIdent(call.Args[0], "ctx") || !isIdent(call.Args[1], "sel") || !isIdent(call.Args[2], "v") {
		return ""
	}
	sel, ok := call.Fun.(*ast.SelectorExpr)
	if !ok || !isIdent(sel.X, "ec") {
		return ""
	}
	return sel.Sel.Name
}

// quiet reports whether the object function obj can run without a field
// context of its own: its deferred group is empty (so its
// ProcessDeferredGroup never runs), and every other executionContext
// method it calls is a struct read, which neither fails nor reports an
// error.
func (f *file) quiet(obj string, reads map[string]bool) bool {
	fd := f.methods[obj]
	if fd == nil || !slices.Contains(f.report.EmptyDeferred, obj) {
		return false
	}
	for _, m := range ecCalls(fd.Body) {
		if !reads[m] && m != "ProcessDeferredGroup" {
			return false
		}
	}
	resolves := false
	ast.Inspect(fd.Body, func(node ast.Node) bool {
		if sel, ok := node.(*ast.SelectorExpr); ok && isSel(sel, "ec", "Resolvers") {
			resolves = true
		}
		return !resolves
	})
	return !resolves
}

// structRead reports the marshaler and struct field of a ResolveField
// call's arguments (ctx, oc, field, fieldContext, resolve, middleware,
// marshal, recover, nonNull) when the field qualifies: a scalar's whose
// marshaler is one of NeverNull, or (object true) any other taking no
// arguments, for structReads to decide on.
func (f *file) structRead(args []ast.Expr) (marshal, read string, object, ok bool) {
	fc, ok := returnedECCall(args[3])
	if !ok || !isIdent(args[5], "nil") {
		return "", "", false, false
	}
	scalar := f.bareScalarContext(fc)
	if !scalar && !f.argumentFree(fc) {
		return "", "", false, false
	}
	lit, ok := args[4].(*ast.FuncLit)
	if !ok {
		return "", "", false, false
	}
	rs := singleReturn(lit.Body)
	if rs == nil || len(rs.Results) != 2 || !isIdent(rs.Results[1], "nil") {
		return "", "", false, false
	}
	sel, ok := rs.Results[0].(*ast.SelectorExpr)
	if !ok || !isIdent(sel.X, "obj") {
		return "", "", false, false
	}
	marshal, ok = returnedECCall(args[6])
	if !ok || scalar && !NeverNull[marshal] {
		return "", "", false, false
	}
	return marshal, sel.Sel.Name, !scalar, true
}

// argumentFree reports whether the field context function name builds its
// context without coercing arguments (gqlgen sets fc.Args from
// field.ArgumentMap for a field that takes any).
func (f *file) argumentFree(name string) bool {
	fd := f.methods[name]
	if fd == nil {
		return false
	}
	free := true
	ast.Inspect(fd.Body, func(node ast.Node) bool {
		if sel, ok := node.(*ast.SelectorExpr); ok && (sel.Sel.Name == "Args" || sel.Sel.Name == "ArgumentMap") {
			free = false
		}
		return free
	})
	return free
}

// quietLists points each sequential list at marshalSlice, or, when its
// elements can share one field context, at marshalQuietSlice. They can
// when the element is written by struct reads alone (a NeverNull scalar,
// or a nullable object of reads) and nothing it runs holds on to ctx.
func (f *file) quietLists() error {
	reads := map[string]bool{}
	for _, name := range f.report.StructReads {
		reads[name] = true
	}
	for _, l := range f.sequential {
		name := f.enclosing(l.call)
		quiet := NeverNull[l.elem] || f.quiet(f.nullableObject(l.elem), reads)
		if quiet && f.keepsNoContext(l.elem) {
			f.report.QuietLists = append(f.report.QuietLists, name)
			f.replace(l.call.Fun, "marshalQuietSlice")
		} else {
			f.replace(l.call.Fun, "marshalSlice")
		}
	}
	return nil
}

// enclosing names the method whose body holds n.
func (f *file) enclosing(n ast.Node) string {
	for name, fd := range f.methods {
		if fd.Body.Pos() <= n.Pos() && n.End() <= fd.Body.End() {
			return name
		}
	}
	return ""
}

// nullReports are graphql's functions that read ctx's path to report a
// null and keep nothing of it.
var nullReports = map[string]bool{"AddInvalidNullError": true, "AddInvalidNullFromMarshaler": true}

// keepsNoContext reports whether from, and every method it calls in turn,
// uses ctx only to hand it straight to another such method or to one of
// nullReports: nothing returned or stored holds the context, so a list's
// elements may be marshalled one after another under one field context
// whose index moves on. A method this file does not define counts as
// holding it, except the ProcessDeferredGroup of an empty group and the
// Dispatch of a field set nothing is scheduled on.
func (f *file) keepsNoContext(from string) bool {
	seen := map[string]bool{}
	stack := []string{from}
	for len(stack) > 0 {
		m := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if seen[m] {
			continue
		}
		seen[m] = true
		if marshal, ok := f.readsVia[m]; ok {
			// As rewritten: ec.<marshal>(ctx, field.Selections, obj.<field>).
			stack = append(stack, marshal)
			continue
		}
		fd := f.methods[m]
		if fd == nil {
			return false
		}
		passed := map[*ast.Ident]bool{}
		ok := true
		ast.Inspect(fd.Body, func(node ast.Node) bool {
			if as, isAssign := node.(*ast.AssignStmt); isAssign && len(as.Lhs) == 1 && len(as.Rhs) == 1 && isIdent(as.Lhs[0], "_") {
				if id, isID := as.Rhs[0].(*ast.Ident); isID && id.Name == "ctx" {
					passed[id] = true // _ = ctx
				}
			}
			call, isCall := node.(*ast.CallExpr)
			if !isCall {
				return true
			}
			sel, _ := call.Fun.(*ast.SelectorExpr)
			switch {
			case sel != nil && isIdent(sel.X, "ec") && sel.Sel.Name == "ProcessDeferredGroup" && slices.Contains(f.report.EmptyDeferred, m):
			case sel != nil && isIdent(sel.X, "ec"):
				stack = append(stack, sel.Sel.Name)
			case sel != nil && isIdent(sel.X, "graphql") && nullReports[sel.Sel.Name]:
			case isNewDeferredGroup(call) && slices.Contains(f.report.EmptyDeferred, m):
				// To be rewritten as graphql.DeferredGroup{}.
			case sel != nil && isIdent(sel.X, "out") && sel.Sel.Name == "Dispatch" && plainFieldSet(fd.Body):
				// Nothing scheduled: Dispatch runs nothing.
			default:
				return true
			}
			for _, a := range call.Args {
				if id, isID := a.(*ast.Ident); isID && id.Name == "ctx" {
					passed[id] = true
				}
			}
			return true
		})
		ast.Inspect(fd.Body, func(node ast.Node) bool {
			if id, isID := node.(*ast.Ident); isID && id.Name == "ctx" && !passed[id] {
				ok = false
			}
			return ok
		})
		if !ok {
			return false
		}
	}
	return true
}

func (f *file) fieldSets() error {
	n := 0
	for _, name := range f.sortedMethods() {
		body := f.methods[name].Body
		for _, stmt := range body.List {
			as := defines(stmt, "out")
			if as == nil {
				continue
			}
			call, ok := as.Rhs[0].(*ast.CallExpr)
			if !ok || (!isSel(call.Fun, "graphql", "NewFieldSet") && !isIdent(call.Fun, "newFieldSet")) || len(call.Args) != 1 {
				return fmt.Errorf("%s: out is no longer graphql.NewFieldSet(fields)", name)
			}
			n++
			if onlyStoresValues(body, as) {
				f.report.PlainFieldSets = append(f.report.PlainFieldSets, name)
				f.replace(call.Fun, "newFieldSet")
			} else {
				f.report.KeptFieldSets = append(f.report.KeptFieldSets, name)
				f.replace(call.Fun, "graphql.NewFieldSet")
			}
		}
	}
	if n == 0 {
		return errors.New("no object function declares out := graphql.NewFieldSet(fields): has gqlgen changed how it builds objects?")
	}
	return nil
}

// plainFieldSet reports whether body declares out := …NewFieldSet(fields)
// and uses it as onlyStoresValues allows.
func plainFieldSet(body *ast.BlockStmt) bool {
	for _, stmt := range body.List {
		if as := defines(stmt, "out"); as != nil {
			return onlyStoresValues(body, as)
		}
	}
	return false
}

// onlyStoresValues reports whether body uses the field set decl declares
// only through its Values, its Invalids and Dispatch, and returns it: what
// graph's fieldSet has.
func onlyStoresValues(body *ast.BlockStmt, decl *ast.AssignStmt) bool {
	ok := true
	ast.Inspect(body, func(node ast.Node) bool {
		switch n := node.(type) {
		case *ast.AssignStmt:
			if n == decl {
				return false
			}
		case *ast.SelectorExpr:
			if isIdent(n.X, "out") {
				switch n.Sel.Name {
				case "Values", "Invalids", "Dispatch":
					return false
				}
				ok = false
			}
		case *ast.ReturnStmt:
			if len(n.Results) == 1 && isIdent(n.Results[0], "out") {
				return false
			}
		case *ast.Ident:
			if n.Name == "out" {
				ok = false
			}
		}
		return ok
	})
	return ok
}

// rewrittenRead recognises a struct read from an earlier run:
// ec.<marshal>(ctx, field.Selections, obj.<field>).
func rewrittenRead(call *ast.CallExpr) (marshal, field string, ok bool) {
	sel, ok := call.Fun.(*ast.SelectorExpr)
	if !ok || !isIdent(sel.X, "ec") || !strings.HasPrefix(sel.Sel.Name, "marshal") || len(call.Args) != 3 {
		return "", "", false
	}
	r, ok := call.Args[2].(*ast.SelectorExpr)
	if !ok || !isIdent(r.X, "obj") || !isIdent(call.Args[0], "ctx") || !isSel(call.Args[1], "field", "Selections") {
		return "", "", false
	}
	return sel.Sel.Name, r.Sel.Name, true
}

// bareScalarContext reports whether the field context function name only
// returns graphql.NewScalarFieldContext(…): no arguments to coerce.
func (f *file) bareScalarContext(name string) bool {
	fd := f.methods[name]
	if fd == nil {
		return false
	}
	rs := singleReturn(fd.Body)
	if rs == nil || len(rs.Results) != 1 {
		return false
	}
	call, ok := rs.Results[0].(*ast.CallExpr)
	return ok && isSel(call.Fun, "graphql", "NewScalarFieldContext")
}

// DeferredWaitMark ends the line where Exec gives up a deferred result.
const DeferredWaitMark = "// gqlseq: the request ended"

// deferredWaits rewrites Exec's `result := <-ec.DeferredResults`, inside a
// closure whose context is ctx, into a select that also ends with ctx.
func (f *file) deferredWaits() error {
	if f.exec == nil {
		return errors.New("no (*executableSchema).Exec: is this gqlgen's exec file?")
	}
	var err error
	ast.Inspect(f.exec.Body, func(n ast.Node) bool {
		lit, ok := n.(*ast.FuncLit)
		if !ok || err != nil {
			return err == nil
		}
		if !firstParamIs(lit.Type, "ctx") {
			return true
		}
		ast.Inspect(lit.Body, func(n ast.Node) bool {
			switch s := n.(type) {
			case *ast.AssignStmt:
				if !receivesDeferred(s) {
					return true
				}
				name, ok := s.Lhs[0].(*ast.Ident)
				if !ok || s.Tok != token.DEFINE {
					err = errors.New("Exec: the receive from ec.DeferredResults no longer defines one variable")
					return false
				}
				f.replace(s, fmt.Sprintf("var %[1]s graphql.DeferredResult\nselect {\ncase %[1]s = <-ec.DeferredResults:\ncase <-ctx.Done():\nreturn nil %[2]s\n}", name.Name, DeferredWaitMark))
				f.report.DeferredWaits++
			case *ast.SelectStmt:
				for _, c := range s.Body.List {
					if as, ok := c.(*ast.CommClause).Comm.(*ast.AssignStmt); ok && receivesDeferred(as) {
						f.report.DeferredWaits++ // rewritten by an earlier run
					}
				}
				return false
			}
			return true
		})
		return false
	})
	if err != nil {
		return err
	}
	if f.report.DeferredWaits != 1 {
		return fmt.Errorf("Exec: %d receives from ec.DeferredResults in a closure over ctx, want 1: has gqlgen changed how it delivers @defer payloads?", f.report.DeferredWaits)
	}
	return nil
}

// receivesDeferred reports `x := <-ec.DeferredResults` or `x = …`.
func receivesDeferred(s *ast.AssignStmt) bool {
	if len(s.Lhs) != 1 || len(s.Rhs) != 1 {
		return false
	}
	u, ok := s.Rhs[0].(*ast.UnaryExpr)
	return ok && u.Op == token.ARROW && isSel(u.X, "ec", "DeferredResults")
}

// firstParamIs reports a function type whose first parameter is name.
func firstParamIs(ft *ast.FuncType, name string) bool {
	return ft.Params != nil && len(ft.Params.List) > 0 && len(ft.Params.List[0].Names) > 0 && ft.Params.List[0].Names[0].Name == name
}

func (f *file) replace(n ast.Node, text string) {
	f.edits = append(f.edits, edit{f.offset(n.Pos()), f.offset(n.End()), text})
}

func (f *file) offset(p token.Pos) int { return f.fset.Position(p).Offset }

func (f *file) apply() []byte {
	sort.Slice(f.edits, func(i, j int) bool { return f.edits[i].start < f.edits[j].start })
	var b bytes.Buffer
	at := 0
	for _, e := range f.edits {
		b.Write(f.src[at:e.start])
		b.WriteString(e.text)
		at = e.end
	}
	b.Write(f.src[at:])
	return b.Bytes()
}

func (f *file) sortedMethods() []string {
	names := make([]string, 0, len(f.methods))
	for name := range f.methods {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

func isECMethod(fd *ast.FuncDecl) bool { return isMethodOf(fd, "executionContext") }

// isMethodOf reports a method with a body on *typ.
func isMethodOf(fd *ast.FuncDecl, typ string) bool {
	if fd.Recv == nil || len(fd.Recv.List) != 1 || fd.Body == nil {
		return false
	}
	star, ok := fd.Recv.List[0].Type.(*ast.StarExpr)
	return ok && isIdent(star.X, typ)
}

// hasObjParam reports whether fd is a field function: (ctx, field, obj).
func hasObjParam(fd *ast.FuncDecl) bool {
	ps := fd.Type.Params.List
	return len(ps) == 3 && len(ps[2].Names) == 1 && ps[2].Names[0].Name == "obj"
}

// objPackage is the qualifier of a field function's obj type, *pkg.T,
// or "" for *T; "-" for any other shape.
func objPackage(fd *ast.FuncDecl) string {
	star, ok := fd.Type.Params.List[2].Type.(*ast.StarExpr)
	if !ok {
		return "-"
	}
	t := star.X
	if ix, ok := t.(*ast.IndexExpr); ok {
		t = ix.X
	}
	switch t := t.(type) {
	case *ast.Ident:
		return ""
	case *ast.SelectorExpr:
		if id, ok := t.X.(*ast.Ident); ok {
			return id.Name
		}
	}
	return "-"
}

// ecCalls lists the executionContext methods n calls, closures included.
func ecCalls(n ast.Node) []string {
	var names []string
	ast.Inspect(n, func(node ast.Node) bool {
		if call, ok := node.(*ast.CallExpr); ok {
			if sel, ok := call.Fun.(*ast.SelectorExpr); ok && isIdent(sel.X, "ec") && !slices.Contains(names, sel.Sel.Name) {
				names = append(names, sel.Sel.Name)
			}
		}
		return true
	})
	return names
}

// returnedECCall is the method e, a closure, returns the result of:
// func(…) … { return ec.name(…) }.
func returnedECCall(e ast.Expr) (string, bool) {
	lit, ok := e.(*ast.FuncLit)
	if !ok {
		return "", false
	}
	rs := singleReturn(lit.Body)
	if rs == nil || len(rs.Results) != 1 {
		return "", false
	}
	call, ok := rs.Results[0].(*ast.CallExpr)
	if !ok {
		return "", false
	}
	sel, ok := call.Fun.(*ast.SelectorExpr)
	if !ok || !isIdent(sel.X, "ec") {
		return "", false
	}
	return sel.Sel.Name, true
}

func singleReturn(b *ast.BlockStmt) *ast.ReturnStmt {
	if b == nil || len(b.List) != 1 {
		return nil
	}
	rs, _ := b.List[0].(*ast.ReturnStmt)
	return rs
}

func lastArg(call *ast.CallExpr) ast.Expr {
	if len(call.Args) == 0 {
		return nil
	}
	return call.Args[len(call.Args)-1]
}

// defines is stmt when it is name := <one value>, else nil.
func defines(stmt ast.Stmt, name string) *ast.AssignStmt {
	as, ok := stmt.(*ast.AssignStmt)
	if !ok || as.Tok != token.DEFINE || len(as.Lhs) != 1 || len(as.Rhs) != 1 || !isIdent(as.Lhs[0], name) {
		return nil
	}
	return as
}

func isIdent(e ast.Expr, name string) bool {
	id, ok := e.(*ast.Ident)
	return ok && id.Name == name
}

func isSel(e ast.Expr, x, sel string) bool {
	s, ok := e.(*ast.SelectorExpr)
	return ok && isIdent(s.X, x) && s.Sel.Name == sel
}

func isNewDeferredGroup(e ast.Expr) bool {
	call, ok := e.(*ast.CallExpr)
	return ok && isSel(call.Fun, "graphql", "NewDeferredGroup")
}

func isEmptyDeferredGroup(e ast.Expr) bool {
	lit, ok := e.(*ast.CompositeLit)
	return ok && isSel(lit.Type, "graphql", "DeferredGroup") && len(lit.Elts) == 0
}
