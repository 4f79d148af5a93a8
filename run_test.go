package main

import (
	"bufio"
	"bytes"
	"context"
	"entgo.io/ent/dialect"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/taskapi/server/graph"
	"github.com/taskapi/server/internal/auth"
	"github.com/taskapi/server/internal/gqlerr"
	"github.com/taskapi/server/internal/ratelimit"
	"github.com/taskapi/server/internal/testdb"
)

// syncBuffer is written by the server goroutine and read by the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
}

func envFunc(env map[string]string) func(string) string {
	return func(k string) string { return env[k] }
}

// startRun starts the whole program through run and waits for /healthz.
// It returns the base URL and the program's stdout; the program is stopped
// and must exit cleanly when the test ends.
func startRun(t *testing.T, env map[string]string) (string, *syncBuffer) {
	t.Helper()
	base, stdout, _ := startRunLogs(t, env)
	return base, stdout
}

// startRunLogs is startRun that returns the program's log (stderr) too.
func startRunLogs(t *testing.T, env map[string]string) (string, *syncBuffer, *syncBuffer) {
	t.Helper()
	port := freePort(t)
	env["PORT"] = port
	ctx, cancel := context.WithCancel(context.Background())
	stdout, stderr := &syncBuffer{}, &syncBuffer{}
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"server"}, envFunc(env), stdout, stderr) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("run returned %v after shutdown", err)
			}
		case <-time.After(20 * time.Second):
			t.Error("run did not stop after its context was cancelled")
		}
	})
	base := "http://127.0.0.1:" + port
	for range 200 {
		select {
		case err := <-done:
			t.Fatalf("run stopped early: %v\nstderr: %s", err, stderr)
		default:
		}
		res, err := http.Get(base + "/healthz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				return base, stdout, stderr
			}
		}
		time.Sleep(25 * time.Millisecond) // polling for start-up, not a timing assertion
	}
	t.Fatalf("server never answered /healthz\nstderr: %s", stderr)
	return "", nil, nil
}

func postQuery(t *testing.T, base, token, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", base+"/query", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

func TestRunServesWithConfiguredSecret(t *testing.T) {
	debugAddr := "127.0.0.1:" + freePort(t)
	env := map[string]string{
		"BETTER_AUTH_SECRET": testSecret,
		"DATABASE_URL":       "sqlite:" + filepath.Join(t.TempDir(), "tasks.db"),
		"APP_ENV":            "production",
		"DEBUG_ADDR":         debugAddr,
		"GRAPHQL_MAX_DEPTH":  "2",
	}
	base, _ := startRun(t, env)

	var tok bytes.Buffer
	if err := run(context.Background(), []string{"server", "token", "--sub", "alice"}, envFunc(env), &tok, io.Discard); err != nil {
		t.Fatal(err)
	}
	status, body := postQuery(t, base, strings.TrimSpace(tok.String()), `{"query":"mutation { createTask(input: {title: \"from run\"}) { title } }"}`)
	if status != 200 || !strings.Contains(body, `"title":"from run"`) {
		t.Errorf("createTask through run: %d %s", status, body)
	}
	// The configured limits and production's introspection default apply.
	tk := strings.TrimSpace(tok.String())
	if _, body := postQuery(t, base, tk, `{"query":"{ tasks { edges { cursor } } }"}`); !strings.Contains(body, gqlerr.DepthLimit) {
		t.Errorf("depth 3 with GRAPHQL_MAX_DEPTH=2: %s", body)
	}
	if _, body := postQuery(t, base, tk, `{"query":"{ __type(name: \"Task\") { name } }"}`); !strings.Contains(body, gqlerr.IntrospectionDisabled) {
		t.Errorf("introspection in production: %s", body)
	}
	res, err := http.Get(base + "/readyz")
	if err != nil || res.StatusCode != 200 {
		t.Errorf("readyz: %v %v", res, err)
	}
	// Without GOGC in the environment the server sets its own target.
	if p := debug.SetGCPercent(100); p != defaultGOGC {
		t.Errorf("GC percent %d, want %d", p, defaultGOGC)
	}
	// Profiles on DEBUG_ADDR only, never on the API's port.
	if res, err := http.Get("http://" + debugAddr + "/debug/pprof/heap?debug=1"); err != nil || res.StatusCode != 200 {
		t.Errorf("pprof on DEBUG_ADDR: %v %v", res, err)
	}
	if res, err := http.Get(base + "/debug/pprof/heap"); err != nil || res.StatusCode != 404 {
		t.Errorf("pprof on the API port: %v %v", res, err)
	}
}

func TestRunDevelopmentMode(t *testing.T) {
	t.Chdir(t.TempDir()) // no configuration at all: SQLite in the working directory
	base, stdout := startRun(t, map[string]string{})
	if _, err := os.Stat("tasks.db"); err != nil {
		t.Errorf("no SQLite file in the working directory: %v", err)
	}
	m := regexp.MustCompile(`(?m)^\s+(eyJ[\w-]+\.[\w-]+\.[\w-]+)\s*$`).FindStringSubmatch(stdout.String())
	if m == nil {
		t.Fatalf("no token in the development banner:\n%s", stdout)
	}
	if status, body := postQuery(t, base, m[1], `{"query":"{ tasks { totalCount } }"}`); status != 200 || !strings.Contains(body, `"totalCount":0`) {
		t.Errorf("the printed token does not work: %d %s", status, body)
	}
	res, err := http.Get(base + "/")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if !strings.Contains(string(page), m[1]) {
		t.Error("GraphiQL does not carry the development token")
	}
}

func TestRunRefusesBadConfiguration(t *testing.T) {
	sqlite := "sqlite:" + filepath.Join(t.TempDir(), "tasks.db")
	manifests := t.TempDir()
	writeManifests(t, manifests)
	badManifest := filepath.Join(t.TempDir(), "bad.json")
	if err := os.WriteFile(badManifest, []byte(`{"format": "apollo-persisted-query-manifest", "version": 1, "operations": [{"id": "`+sha(`query Bad { nope }`)+`", "name": "Bad", "type": "query", "body": "query Bad { nope }"}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"short secret", map[string]string{"BETTER_AUTH_SECRET": "too-short", "DATABASE_URL": sqlite}, "at least 32 bytes"},
		{"production without a secret", map[string]string{"APP_ENV": "production", "DATABASE_URL": sqlite}, "BETTER_AUTH_SECRET is required"},
		{"malformed DATABASE_URL", map[string]string{"DATABASE_URL": "mysql://x"}, "DATABASE_URL must be"},
		{"unparsable PostgreSQL URL", map[string]string{"DATABASE_URL": "postgres://u:p@host:notaport/db"}, "parsing DATABASE_URL"},
		{"unreachable database", map[string]string{"DATABASE_URL": "postgres://postgres@127.0.0.1:1/test?connect_timeout=2"}, "database does not answer"},
		{"bad pool size", map[string]string{"DB_MAX_CONNS": "lots", "DATABASE_URL": sqlite}, "DB_MAX_CONNS"},
		{"empty pool", map[string]string{"DB_MAX_CONNS": "0", "DATABASE_URL": sqlite}, "DB_MAX_CONNS"},
		{"more idle connections than the pool holds", map[string]string{"DB_MIN_CONNS": "20", "DB_MAX_CONNS": "5", "DATABASE_URL": "postgres://postgres@127.0.0.1:1/test"}, "DB_MIN_CONNS"},
		{"more idle connections than the URL's pool holds", map[string]string{"DB_MIN_CONNS": "5", "DATABASE_URL": "postgres://postgres@127.0.0.1:1/test?pool_max_conns=2"}, "DB_MIN_CONNS"},
		{"unknown query mode", map[string]string{"DB_QUERY_EXEC_MODE": "fast", "DATABASE_URL": sqlite}, "DB_QUERY_EXEC_MODE"},
		{"bad port", map[string]string{"PORT": "http", "DATABASE_URL": sqlite}, "PORT"},
		{"debug address without a host", map[string]string{"DEBUG_ADDR": "6060", "DATABASE_URL": sqlite}, "DEBUG_ADDR"},
		{"debug address on every interface", map[string]string{"DEBUG_ADDR": ":6060", "DATABASE_URL": sqlite}, "loopback"},
		{"debug address on a public interface", map[string]string{"DEBUG_ADDR": "10.0.0.1:6060", "DATABASE_URL": sqlite}, "loopback"},
		{"pending migrations not to be applied", map[string]string{"MIGRATE_ON_START": "false", "DATABASE_URL": sqlite}, "run the migrate command first"},
		{"a request timeout that is no duration", map[string]string{"REQUEST_TIMEOUT": "10", "DATABASE_URL": sqlite}, "REQUEST_TIMEOUT"},
		{"a request timeout past the bound", map[string]string{"REQUEST_TIMEOUT": "1h", "DATABASE_URL": sqlite}, "REQUEST_TIMEOUT"},
		{"a limit of zero", map[string]string{"GRAPHQL_MAX_COST": "0", "DATABASE_URL": sqlite}, "GRAPHQL_MAX_COST"},
		{"a limit that is no number", map[string]string{"GRAPHQL_MAX_DEPTH": "deep", "DATABASE_URL": sqlite}, "GRAPHQL_MAX_DEPTH"},
		{"introspection neither on nor off", map[string]string{"GRAPHQL_INTROSPECTION": "maybe", "DATABASE_URL": sqlite}, "GRAPHQL_INTROSPECTION"},
		{"an unknown persisted documents mode", map[string]string{"PERSISTED_DOCUMENTS_MODE": "strict", "DATABASE_URL": sqlite}, "PERSISTED_DOCUMENTS_MODE"},
		{"a safelist without documents", map[string]string{"PERSISTED_DOCUMENTS_MODE": "only", "DATABASE_URL": sqlite}, "needs PERSISTED_DOCUMENTS"},
		{"documents that would never run", map[string]string{"PERSISTED_DOCUMENTS_MODE": "off", "PERSISTED_DOCUMENTS": manifests, "DATABASE_URL": sqlite}, "PERSISTED_DOCUMENTS_MODE=off"},
		{"a missing manifest", map[string]string{"PERSISTED_DOCUMENTS": filepath.Join(manifests, "gone.json"), "DATABASE_URL": sqlite}, "gone.json"},
		{"a trusted proxy that is no address", map[string]string{"TRUSTED_PROXIES": "10.0.0.0/8, lb.internal", "DATABASE_URL": sqlite}, `TRUSTED_PROXIES: "lb.internal"`},
		{"a client address header that cannot be chained", map[string]string{"TRUSTED_PROXIES": "10.0.0.0/8", "CLIENT_IP_HEADER": "X-Real-IP", "DATABASE_URL": sqlite}, "CLIENT_IP_HEADER"},
		{"a shutdown delay as long as the grace", map[string]string{"SHUTDOWN_DELAY": "20s", "SHUTDOWN_GRACE": "20s", "DATABASE_URL": sqlite}, "SHUTDOWN_DELAY"},
		{"a manifest with an operation the schema refuses", map[string]string{"PERSISTED_DOCUMENTS": badManifest, "DATABASE_URL": sqlite}, `bad.json: operation "Bad"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// Bounded, so a configuration wrongly accepted fails the test
			// instead of serving until the test binary times out.
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			defer cancel()
			err := run(ctx, []string{"server"}, envFunc(tc.env), io.Discard, io.Discard)
			if err == nil {
				t.Fatal("run started")
			}
			msg := err.Error()
			if !strings.Contains(msg, tc.want) || strings.Contains(msg, "goroutine") {
				t.Errorf("error %q, want it to say %q", msg, tc.want)
			}
			if strings.Count(msg, "\n") > 0 {
				t.Errorf("error spans several lines: %q", msg)
			}
		})
	}
}

func TestConfigDefaults(t *testing.T) {
	cfg, err := loadConfig(envFunc(map[string]string{"DB_MIN_CONNS": "0"}))
	if err != nil {
		t.Fatalf("DB_MIN_CONNS=0, the documented default, refused: %v", err)
	}
	if cfg.Port != "8080" || !cfg.MigrateOnStart || cfg.Production || cfg.DatabaseURL != "" || len(cfg.CORSOrigins) != 0 {
		t.Errorf("defaults = %+v", cfg)
	}
	if cfg.Limits != graph.DefaultLimits() || !cfg.Introspection {
		t.Errorf("limits %+v, introspection %v", cfg.Limits, cfg.Introspection)
	}
	if !cfg.GraphiQL || cfg.DocumentsMode != graph.ModeAllow || len(cfg.Documents) != 0 {
		t.Errorf("GraphiQL %v, documents %v in mode %q", cfg.GraphiQL, cfg.Documents, cfg.DocumentsMode)
	}
	prod, err := loadConfig(envFunc(map[string]string{"APP_ENV": "production", "BETTER_AUTH_SECRET": testSecret}))
	if err != nil || prod.Introspection || prod.GraphiQL {
		t.Errorf("production: introspection %v, GraphiQL %v, err %v", prod.Introspection, prod.GraphiQL, err)
	}
	only, err := loadConfig(envFunc(map[string]string{"PERSISTED_DOCUMENTS_MODE": "only", "PERSISTED_DOCUMENTS": "a.json, dir/ ,"}))
	if err != nil || only.Introspection || only.DocumentsMode != graph.ModeOnly || strings.Join(only.Documents, "|") != "a.json|dir/" {
		t.Errorf("only: introspection %v, mode %q, documents %q, err %v", only.Introspection, only.DocumentsMode, only.Documents, err)
	}
	if cfg.RateLimit == nil || cfg.RateLimit.Rate != DefaultRateLimit || cfg.RateLimit.Burst != DefaultRateBurst {
		t.Errorf("rate limit by default: %+v", cfg.RateLimit)
	}
	for _, v := range []string{"off", "false", "0"} {
		if off, err := loadConfig(envFunc(map[string]string{"RATE_LIMIT": v})); err != nil || off.RateLimit != nil {
			t.Errorf("RATE_LIMIT=%s: %+v, %v", v, off.RateLimit, err)
		}
	}
	if _, err := loadConfig(envFunc(map[string]string{"RATE_LIMIT_BURST": "100"})); err == nil || !strings.Contains(err.Error(), "RATE_LIMIT_BURST") {
		t.Errorf("a burst below the cost limit: %v", err)
	}
	graphiql, err := loadConfig(envFunc(map[string]string{"APP_ENV": "production", "BETTER_AUTH_SECRET": testSecret, "GRAPHIQL": "true"}))
	if err != nil || !graphiql.GraphiQL {
		t.Errorf("GRAPHIQL=true in production: %v, err %v", graphiql.GraphiQL, err)
	}
	tuned, err := loadConfig(envFunc(map[string]string{
		"APP_ENV": "production", "BETTER_AUTH_SECRET": testSecret, "GRAPHQL_INTROSPECTION": "true",
		"REQUEST_TIMEOUT": "3s", "GRAPHQL_MAX_COST": "9000", "MAX_BODY_BYTES": "4096", "GRAPHQL_MAX_ERRORS": "7",
	}))
	want := graph.DefaultLimits()
	want.Timeout, want.Cost, want.BodyBytes, want.Errors = 3*time.Second, 9000, 4096, 7
	if err != nil || !tuned.Introspection || tuned.Limits != want {
		t.Errorf("tuned: %+v, introspection %v, err %v", tuned.Limits, tuned.Introspection, err)
	}
}

func TestTokenCommand(t *testing.T) {
	env := map[string]string{"BETTER_AUTH_SECRET": testSecret}
	for _, args := range [][]string{{"--sub", " "}, {}, {"--sub", "alice", "--ttl", "-1h"}} {
		err := run(context.Background(), append([]string{"server", "token"}, args...), envFunc(env), io.Discard, io.Discard)
		if err == nil {
			t.Errorf("token %v printed a token", args)
		}
	}
	if err := run(context.Background(), []string{"server", "token", "--sub", "alice"}, envFunc(map[string]string{}), io.Discard, io.Discard); err == nil {
		t.Error("token without BETTER_AUTH_SECRET printed a token no server accepts")
	}
	var out bytes.Buffer
	if err := run(context.Background(), []string{"server", "token", "--sub", "alice", "--ttl", "5m"}, envFunc(env), &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	v, err := auth.NewSharedSecret(auth.Config{Secret: []byte(testSecret)})
	if err != nil {
		t.Fatal(err)
	}
	if id, err := v.Authenticate(context.Background(), strings.TrimSpace(out.String())); err != nil || id.Subject != "alice" {
		t.Errorf("printed token verifies as %q, %v", id.Subject, err)
	}
}

func TestHelpAndUnknownCommands(t *testing.T) {
	bad := envFunc(map[string]string{"APP_ENV": "production"}) // no secret: serve would refuse
	var out bytes.Buffer
	if err := run(context.Background(), []string{"server", "help"}, bad, &out, io.Discard); err != nil || !strings.Contains(out.String(), "usage:") {
		t.Errorf("help: %v, printed %q", err, out.String())
	}
	var errOut bytes.Buffer
	err := run(context.Background(), []string{"server", "serv"}, bad, io.Discard, &errOut)
	if err == nil || strings.Contains(err.Error(), "\n") || !strings.Contains(errOut.String(), "usage:") {
		t.Errorf("unknown command: %v, stderr %q", err, errOut.String())
	}
}

func TestMigrateCommand(t *testing.T) {
	env := map[string]string{"DATABASE_URL": "sqlite:" + filepath.Join(t.TempDir(), "tasks.db")}
	// All of them on an empty database, then none.
	for _, want := range []*regexp.Regexp{regexp.MustCompile(`applied [1-9]\d* migration`), regexp.MustCompile(`applied 0 migration`)} {
		var out bytes.Buffer
		if err := run(context.Background(), []string{"server", "migrate"}, envFunc(env), &out, io.Discard); err != nil {
			t.Fatal(err)
		}
		if !want.MatchString(out.String()) {
			t.Errorf("migrate printed %q, want %q", out.String(), want)
		}
	}
}

// TestRunPersistedDocuments runs the whole program with a safelist: ids
// run, a release added while it serves is picked up from the directory,
// SIGHUP reloads, and a bad release is refused while the old set serves.
func TestRunPersistedDocuments(t *testing.T) {
	dir := t.TempDir()
	writeManifests(t, dir)
	base, _, logs := startRunLogs(t, map[string]string{
		"BETTER_AUTH_SECRET": testSecret, "DATABASE_URL": "sqlite:" + filepath.Join(t.TempDir(), "tasks.db"),
		"PERSISTED_DOCUMENTS": dir, "PERSISTED_DOCUMENTS_MODE": "only",
	})
	signer, err := auth.NewSigner(auth.Config{Secret: []byte(testSecret)})
	if err != nil {
		t.Fatal(err)
	}
	tok, _ := signer.Sign("alice", time.Hour)
	count := `query Count { tasks { totalCount } }`
	byID := func(id string) string {
		_, body := postQuery(t, base, tok, `{"documentId": "`+id+`"}`)
		return body
	}
	if body := byID("sha256:" + sha(opList)); !strings.Contains(body, `"totalCount":0`) {
		t.Fatalf("a known id: %s", body)
	}
	if body := byID("sha256:" + sha(count)); !strings.Contains(body, gqlerr.PersistedQueryNotFound) {
		t.Fatalf("an id of the next release: %s", body)
	}
	eventually := func(what string, ok func() bool) {
		t.Helper()
		for range 400 {
			if ok() {
				return
			}
			time.Sleep(25 * time.Millisecond) // polling for the reload, not a timing assertion
		}
		t.Fatalf("%s: not within 10 s", what)
	}
	if err := os.WriteFile(filepath.Join(dir, "release-2.json"), []byte(`{"sha256:`+sha(count)+`": `+quote(count)+`}`), 0o600); err != nil {
		t.Fatal(err)
	}
	eventually("the new release's id runs", func() bool { return strings.Contains(byID("sha256:"+sha(count)), `"totalCount":0`) })

	// A bad release is refused; both earlier ones keep running.
	bad := filepath.Join(dir, "release-3.json")
	if err := os.WriteFile(bad, []byte(`{"broken": "query { nope }"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	eventually("both the watcher and SIGHUP refuse the bad release", func() bool {
		l := logs.String()
		return strings.Contains(l, `reload refused; the previous set stays" trigger=SIGHUP`) &&
			strings.Contains(l, `reload refused; the previous set stays" trigger="files changed"`) &&
			strings.Contains(l, "release-3.json: operation with id broken")
	})
	for _, id := range []string{"sha256:" + sha(count), "sha256:" + sha(opList)} {
		if body := byID(id); !strings.Contains(body, `"totalCount":0`) {
			t.Errorf("after a bad release, %s: %s", id, body)
		}
	}
}

func TestDocumentsCommand(t *testing.T) {
	dir := t.TempDir()
	writeManifests(t, dir)
	var out bytes.Buffer
	if err := run(context.Background(), []string{"server", "documents", "check", filepath.Join(dir, "apollo.json"), dir}, envFunc(map[string]string{}), &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{sha(opList) + "\tListTasks\tquery ListTasks\t", md5hex(opDelete) + "\tDeleteTask\tmutation DeleteTask\t", "5 documents"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	bad := filepath.Join(t.TempDir(), "release.json")
	if err := os.WriteFile(bad, []byte(`{"sha256:`+sha(opList)+`": "query ListTasks { tasks { nope } }"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	err := run(context.Background(), []string{"server", "documents", "check", dir, bad}, envFunc(map[string]string{}), io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "release.json") || !strings.Contains(err.Error(), "sha256") || strings.Contains(err.Error(), "\n") {
		t.Errorf("a bad manifest: %v", err)
	}
	if err := run(context.Background(), []string{"server", "documents"}, envFunc(map[string]string{}), io.Discard, io.Discard); err == nil {
		t.Error("documents without check and files succeeded")
	}
}

func TestRunReportsEveryConfigurationProblem(t *testing.T) {
	env := map[string]string{"PORT": "eighty", "LOG_LEVEL": "loud", "APP_ENV": "staging", "SHUTDOWN_GRACE": "soon"}
	err := run(context.Background(), []string{"server"}, envFunc(env), io.Discard, io.Discard)
	if err == nil {
		t.Fatal("run started")
	}
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != len(env) {
		t.Errorf("%d lines, want one per problem (%d):\n%s", len(lines), len(env), err)
	}
	for _, l := range lines {
		if !strings.HasPrefix(l, "configuration: ") {
			t.Errorf("line %q lacks the prefix", l)
		}
	}
	for name := range env {
		if !strings.Contains(err.Error(), "configuration: "+name+"=") {
			t.Errorf("no line names %s:\n%s", name, err)
		}
	}
}

func TestDatabaseURLIsAFilePath(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	var out bytes.Buffer
	// The README's default, spelled out.
	if err := run(context.Background(), []string{"server", "migrate"}, envFunc(map[string]string{"DATABASE_URL": "./tasks.db"}), &out, io.Discard); err != nil {
		t.Fatalf("DATABASE_URL=./tasks.db: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "tasks.db")); err != nil || !strings.Contains(out.String(), "sqlite") {
		t.Errorf("no ./tasks.db (%v), migrate printed %q", err, out.String())
	}
	missing := filepath.Join(dir, "no-such-dir", "tasks.db")
	for _, url := range []string{missing, "sqlite:" + missing} {
		err := run(context.Background(), []string{"server", "migrate"}, envFunc(map[string]string{"DATABASE_URL": url}), io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), missing) {
			t.Errorf("DATABASE_URL=%s: %v, want the path named", url, err)
		}
	}
}

func TestCommandsAnOperatorRunsFirst(t *testing.T) {
	t.Run("migrate needs no secret in production", func(t *testing.T) {
		env := map[string]string{"APP_ENV": "production", "DATABASE_URL": "sqlite:" + filepath.Join(t.TempDir(), "tasks.db")}
		var out bytes.Buffer
		if err := run(context.Background(), []string{"server", "migrate"}, envFunc(env), &out, io.Discard); err != nil || !strings.Contains(out.String(), "applied") {
			t.Errorf("migrate: %v, printed %q", err, out.String())
		}
	})
	t.Run("token --help prints its flags to stdout", func(t *testing.T) {
		var out, errOut bytes.Buffer
		// Even where serving would be refused: help needs no configuration.
		err := run(context.Background(), []string{"server", "token", "--help"}, envFunc(map[string]string{"APP_ENV": "production"}), &out, &errOut)
		if err != nil || !strings.Contains(out.String(), "-sub") || errOut.Len() != 0 {
			t.Errorf("token --help: %v, stdout %q, stderr %q", err, out.String(), errOut.String())
		}
	})
	t.Run("extra arguments are refused", func(t *testing.T) {
		env := envFunc(map[string]string{"BETTER_AUTH_SECRET": testSecret, "DATABASE_URL": "sqlite:" + filepath.Join(t.TempDir(), "tasks.db")})
		for _, args := range [][]string{{"serve", "now"}, {"migrate", "up"}, {"version", "all"}, {"--version", "x"}, {"token", "--sub", "alice", "extra"}} {
			var out bytes.Buffer
			err := run(context.Background(), append([]string{"server"}, args...), env, &out, io.Discard)
			if err == nil || !strings.Contains(err.Error(), "arguments") || !strings.Contains(err.Error(), args[len(args)-1]) || out.Len() != 0 {
				t.Errorf("%q: %v, printed %q", args, err, out.String())
			}
		}
	})
	t.Run("version", func(t *testing.T) {
		for _, cmd := range []string{"version", "--version"} {
			var out bytes.Buffer
			// No configuration is read: a broken one does not stop it.
			if err := run(context.Background(), []string{"server", cmd}, envFunc(map[string]string{"PORT": "x"}), &out, io.Discard); err != nil {
				t.Fatal(err)
			}
			// A test binary has no VCS stamp: the fallbacks show.
			for _, want := range []string{"github.com/taskapi/server ", "revision: ", "commit time: ", "go: go1."} {
				if !strings.Contains(out.String(), want) {
					t.Errorf("%s printed %q, want %q in it", cmd, out.String(), want)
				}
			}
		}
	})
}

func TestRunLogsProbesAtDebug(t *testing.T) {
	base, _, logs := startRunLogs(t, map[string]string{"DATABASE_URL": "sqlite:" + filepath.Join(t.TempDir(), "tasks.db")})
	for _, path := range []string{"/healthz", "/readyz", "/metrics", "/query"} {
		res, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
	}
	l := logs.String()
	if !strings.Contains(l, "path=/query") {
		t.Errorf("/query not logged at info:\n%s", l)
	}
	for _, probe := range []string{"/healthz", "/readyz", "/metrics"} {
		if strings.Contains(l, "path="+probe) {
			t.Errorf("%s logged at info:\n%s", probe, l)
		}
	}
}

func TestRunSaysListeningAtEveryLevel(t *testing.T) {
	_, _, logs := startRunLogs(t, map[string]string{"DATABASE_URL": "sqlite:" + filepath.Join(t.TempDir(), "tasks.db"), "LOG_LEVEL": "error"})
	l := logs.String()
	if !strings.Contains(l, "msg=listening") || !strings.Contains(l, "version=") || !strings.Contains(l, "revision=") {
		t.Errorf("LOG_LEVEL=error: no listening line with the version:\n%s", l)
	}
	if strings.Contains(l, "migrations applied") {
		t.Errorf("LOG_LEVEL=error logs info lines:\n%s", l)
	}
}

func TestDrainAnswersReadyzWith503(t *testing.T) {
	var d drain
	h, _ := testHandler(t, testdb.Open(t, dialect.SQLite), io.Discard, serverOptions{Draining: d.draining.Load})
	h = d.wrap(h)
	get := func(path string) int {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		return rec.Code
	}
	if get("/readyz") != 200 {
		t.Error("readyz before shutdown")
	}
	d.draining.Store(true)
	if get("/readyz") != 503 || get("/healthz") != 200 {
		t.Errorf("while draining: readyz %d, healthz %d", get("/readyz"), get("/healthz"))
	}
	if n := d.inFlight.Load(); n != 0 {
		t.Errorf("%d requests in flight after all ended", n)
	}
}

// buildServer builds the real binary into a temporary directory.
func buildServer(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "server")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// binaryEnv is a clean environment for the binary: only what the test sets.
func binaryEnv(env map[string]string) []string {
	list := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	for k, v := range env {
		list = append(list, k+"="+v)
	}
	return list
}

// TestBinaryShutsDownGracefully runs the built server, sends SIGTERM in the
// middle of a request whose body is still arriving, and checks the request
// gets its answer and the process exits 0.
func TestBinaryShutsDownGracefully(t *testing.T) {
	bin := buildServer(t)

	t.Run("every configuration problem on a line with the prefix", func(t *testing.T) {
		cmd := exec.Command(bin)
		cmd.Env = binaryEnv(map[string]string{"PORT": "eighty", "LOG_LEVEL": "loud", "SHUTDOWN_GRACE": "-1s"})
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		err := cmd.Run()
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != 1 {
			t.Fatalf("exit: %v", err)
		}
		lines := strings.Split(strings.TrimSuffix(stderr.String(), "\n"), "\n")
		if len(lines) != 3 {
			t.Errorf("%d lines, want 3:\n%s", len(lines), stderr.String())
		}
		for _, l := range lines {
			if !strings.HasPrefix(l, "server: configuration: ") {
				t.Errorf("line %q lacks the prefix", l)
			}
		}
	})

	port := freePort(t)
	cmd := exec.Command(bin)
	cmd.Env = binaryEnv(map[string]string{
		"PORT": port, "APP_ENV": "production", "BETTER_AUTH_SECRET": testSecret,
		"DATABASE_URL": filepath.Join(t.TempDir(), "tasks.db"), "LOG_LEVEL": "error", "SHUTDOWN_GRACE": "1m",
	})
	logs := &syncBuffer{}
	cmd.Stderr = logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	base := "http://127.0.0.1:" + port
	eventually := func(what string, ok func() bool) {
		t.Helper()
		for range 800 {
			if ok() {
				return
			}
			select {
			case err := <-exited:
				t.Fatalf("%s: the server exited (%v)\n%s", what, err, logs)
			default:
			}
			time.Sleep(25 * time.Millisecond) // polling, not a timing assertion
		}
		t.Fatalf("%s: not within 20 s\n%s", what, logs)
	}
	eventually("/healthz answers", func() bool {
		res, err := http.Get(base + "/healthz")
		if err != nil {
			return false
		}
		res.Body.Close()
		return res.StatusCode == 200
	})
	if l := logs.String(); !strings.Contains(l, "msg=listening") || !strings.Contains(l, "revision=") {
		t.Errorf("LOG_LEVEL=error: no listening line with the build:\n%s", l)
	}

	signer, err := auth.NewSigner(auth.Config{Secret: []byte(testSecret)})
	if err != nil {
		t.Fatal(err)
	}
	tok, _ := signer.Sign("alice", time.Hour)
	conn, err := net.Dial("tcp", "127.0.0.1:"+port)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(time.Minute))
	body := `{"query":"{ tasks { totalCount } }"}`
	// With Expect: 100-continue the server says when the handler starts
	// reading the body: from then on the request is surely in flight.
	fmt.Fprintf(conn, "POST /query HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\nExpect: 100-continue\r\n\r\n", tok, len(body))
	br := bufio.NewReader(conn)
	if line, err := br.ReadString('\n'); err != nil || !strings.HasPrefix(line, "HTTP/1.1 100") {
		t.Fatalf("waiting for 100 Continue: %q %v", line, err)
	}
	if _, err := br.ReadString('\n'); err != nil { // the blank line after it
		t.Fatal(err)
	}
	if _, err := io.WriteString(conn, body[:10]); err != nil {
		t.Fatal(err)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	eventually("shutdown begins", func() bool { return strings.Contains(logs.String(), `msg="shutting down" in_flight=1`) })
	if _, err := io.WriteString(conn, body[10:]); err != nil {
		t.Fatal(err)
	}
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("the request in flight lost its answer: %v\n%s", err, logs)
	}
	answer, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !strings.Contains(string(answer), `"totalCount":0`) {
		t.Errorf("the request in flight: %d %s", res.StatusCode, answer)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("exit after SIGTERM: %v\n%s", err, logs)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("the server did not exit after SIGTERM\n%s", logs)
	}
	if l := logs.String(); !strings.Contains(l, `msg="shut down" drained=1`) {
		t.Errorf("no shutdown line with the count drained:\n%s", l)
	}
}

// TestBinaryShutdownDelay: with SHUTDOWN_DELAY, SIGTERM turns /readyz 503
// while /query still answers, for load balancers to move away first; then
// the process exits 0.
func TestBinaryShutdownDelay(t *testing.T) {
	bin := buildServer(t)
	port := freePort(t)
	cmd := exec.Command(bin)
	cmd.Env = binaryEnv(map[string]string{
		"PORT": port, "APP_ENV": "production", "BETTER_AUTH_SECRET": testSecret,
		"DATABASE_URL": filepath.Join(t.TempDir(), "tasks.db"), "LOG_LEVEL": "error",
		"SHUTDOWN_DELAY": "5s", "SHUTDOWN_GRACE": "30s",
	})
	logs := &syncBuffer{}
	cmd.Stderr = logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	base := "http://127.0.0.1:" + port
	status := func(path string) int {
		res, err := http.Get(base + path)
		if err != nil {
			return 0
		}
		res.Body.Close()
		return res.StatusCode
	}
	poll := func(what string, ok func() bool) {
		t.Helper()
		for range 800 {
			if ok() {
				return
			}
			time.Sleep(25 * time.Millisecond) // polling, not a timing assertion
		}
		t.Fatalf("%s: not within 20 s\n%s", what, logs)
	}
	poll("/readyz answers 200", func() bool { return status("/readyz") == 200 })

	signer, err := auth.NewSigner(auth.Config{Secret: []byte(testSecret)})
	if err != nil {
		t.Fatal(err)
	}
	tok, _ := signer.Sign("alice", time.Hour)
	query := func() (int, string) {
		req, _ := http.NewRequest("POST", base+"/query", strings.NewReader(`{"query":"{ tasks { totalCount } }"}`))
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Content-Type", "application/json")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, err.Error()
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	poll("/readyz turns 503", func() bool { return status("/readyz") == 503 })
	select {
	case err := <-exited:
		t.Fatalf("the server exited within its delay: %v\n%s", err, logs)
	default:
	}
	if code, body := query(); code != 200 || !strings.Contains(body, `"totalCount":0`) {
		t.Errorf("a query during the delay: %d %s", code, body)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("exit after SIGTERM: %v\n%s", err, logs)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("the server did not exit after its delay\n%s", logs)
	}
	if l := logs.String(); !strings.Contains(l, "draining") || !strings.Contains(l, `msg="shut down"`) {
		t.Errorf("no draining and shut down lines:\n%s", l)
	}
}

func TestUnauthenticatedCost(t *testing.T) {
	for _, c := range []struct {
		limit *ratelimit.Limit
		want  int
	}{
		{nil, 0},
		{&ratelimit.Limit{Rate: 60000, Period: time.Minute, Burst: 9000}, 0},
		{&ratelimit.Limit{Rate: 1, Period: time.Minute, Burst: 1000}, 0},
		{&ratelimit.Limit{Rate: 1, Period: time.Minute, Burst: 140}, 14},
		{&ratelimit.Limit{Rate: 1, Period: time.Minute, Burst: 5}, 1},
	} {
		if got := unauthenticatedCost(c.limit); got != c.want {
			t.Errorf("unauthenticatedCost(%+v) = %d, want %d", c.limit, got, c.want)
		}
	}
}
