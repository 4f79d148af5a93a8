// Command bench measures the task API server against a hand-written ceiling
// (bench/ceiling: JWT check, one SQL statement, JSON) on the same PostgreSQL
// data, under the same wrk load, alternating the two so machine noise shows.
//
//	go run ./bench [-db postgres://…] [-duration 10s] [-rounds 3] [-cpus 1,2]
//	go run ./bench -scaling [-scaling-max 1000000] [-cpus 1]
//
// It creates a fresh database on the given server (and drops it after),
// seeds users×tasks deterministically, builds and starts both programs, and
// prints Markdown tables: requests/s, p50, p90, p99, errors and the ratio to
// the ceiling, and the targets' resident memory idle and under load. Every
// wrk response is checked for errors and 20 tasks of one owner; a sampler
// checks that the owner is the caller. It exits 1 when any response was
// wrong. Needs wrk (Debian: apt-get install wrk).
//
// -cpus picks how the CPUs are shared: 2 (the default) leaves the machine
// as it is; 1 pins the target and PostgreSQL (a local server: its postmaster
// and every backend) to CPU 0 with GOMAXPROCS=1 for both targets, and wrk
// and the driver to CPU 1, and gives PostgreSQL its CPUs back when the run
// ends, fails or is interrupted. -cpus 1,2 runs both, each on a database of
// its own.
//
// -scaling measures, instead of the ratio, what the server's first page,
// a deep page (by cursor), totalCount and createTask cost as one user's
// tasks and then the whole table grow (see scaling.go).
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/taskapi/server/internal/auth"
)

type bench struct {
	dbURL       string // the benchmark's own database
	mode        mode
	threads     int
	connections int
	script      string // bench/wrk.lua
	tokensFile  string
	bodies      map[string]string // workload → its request body
	bodyFiles   map[string]string // workload → file holding its request body
	expect      map[string][]byte // workload → the exact response body, where every response must be the same
	expectFiles map[string]string // workload → file holding it, for wrk.lua
	tokens      []string          // tokens[i] is data.users[i]'s
	data        *dataset
}

// config is the command line.
type config struct {
	adminURL                   string
	users, tasks               int
	duration, warmup           time.Duration
	rounds                     int
	connections, threads       int
	workloads                  []string
	keep                       bool
	profile                    string
	modes                      []mode
	scaling                    bool
	scalingMax, scalingUserMax int
}

func main() {
	log.SetFlags(0)
	log.SetPrefix("bench: ")
	var (
		adminURL    = flag.String("db", envOr("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"), "PostgreSQL server to create the benchmark database on (env BENCH_DATABASE_URL)")
		users       = flag.Int("users", 1000, "users to seed")
		tasks       = flag.Int("tasks", 100, "tasks per user (at least 20)")
		duration    = flag.Duration("duration", 10*time.Second, "length of one measured run")
		warmup      = flag.Duration("warmup", 3*time.Second, "unmeasured run per target and workload before the rounds")
		rounds      = flag.Int("rounds", 3, "measured runs per target and workload, alternating server and ceiling (with -scaling: per operation and size, the median reported)")
		connections = flag.Int("connections", 32, "concurrent connections")
		threads     = flag.Int("threads", 2, "wrk threads")
		workloads   = flag.String("workloads", "list,create", "comma-separated: list (tasks(first: 20)), create (createTask)")
		keep        = flag.Bool("keep", false, "keep the database and the logs")
		profile     = flag.String("cpuprofile", "", "write the server's CPU profile of each workload's first round to this prefix (PREFIX-list.pprof, …; PREFIX-1cpu-list.pprof, … with more than one -cpus mode)")
		cpus        = flag.String("cpus", "2", "CPU modes, in turn: 2 (server, PostgreSQL and wrk share both CPUs, as the machine is) and/or 1 (server or ceiling and PostgreSQL pinned to CPU 0 with GOMAXPROCS=1, wrk to CPU 1), e.g. -cpus 1,2")
		scaling     = flag.Bool("scaling", false, "instead of the ratio rounds, measure how the server's first page, a deep page, totalCount and createTask cost as one user's tasks and then the whole table grow")
		scalingMax  = flag.Int("scaling-max", 10_000_000, "with -scaling: the largest table, in rows (100,000, 1,000,000 and 10,000,000 up to this)")
		scalingUser = flag.Int("scaling-user-max", 100_000, "with -scaling: the most tasks of the measured user (100, 1,000, 10,000 and 100,000 up to this)")
	)
	flag.Func("server-env", "KEY=VALUE for the server alone (not the ceiling), repeatable: what a setting costs, e.g. -server-env LOG_LEVEL=warn", func(v string) error {
		if !strings.Contains(v, "=") {
			return fmt.Errorf("%q is not KEY=VALUE", v)
		}
		extraServerEnv = append(extraServerEnv, v)
		return nil
	})
	flag.Parse()
	if *tasks < 20 || *users < 1 || *rounds < 1 || *duration < time.Second || *warmup < time.Second {
		log.Fatal("need -tasks ≥ 20, -users ≥ 1, -rounds ≥ 1, -duration ≥ 1s and -warmup ≥ 1s")
	}
	if *scalingMax < scalingBackground || *scalingUser < scalingUserMin {
		log.Fatalf("need -scaling-max ≥ %d and -scaling-user-max ≥ %d", scalingBackground, scalingUserMin)
	}
	modes, err := parseModes(*cpus)
	if err != nil {
		log.Fatal(err)
	}
	if _, err := exec.LookPath("wrk"); err != nil {
		log.Fatal("wrk is not installed (Debian: apt-get install wrk)")
	}
	// SIGHUP too: a closed terminal must not end the run with PostgreSQL
	// still pinned (-cpus 1).
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
	context.AfterFunc(ctx, stop) // a second Ctrl-C ends the process at once
	cfg := config{
		adminURL: *adminURL, users: *users, tasks: *tasks, duration: *duration, warmup: *warmup, rounds: *rounds,
		connections: *connections, threads: *threads, workloads: strings.Split(*workloads, ","), keep: *keep, profile: *profile,
		modes: modes, scaling: *scaling, scalingMax: *scalingMax, scalingUserMax: *scalingUser,
	}
	if err := benchmark(ctx, cfg); err != nil {
		log.Fatal(err)
	}
}

// binaries are the programs under test, built once for every mode.
type binaries struct {
	root, tmp       string
	server, ceiling string
	secret          string
}

func benchmark(ctx context.Context, cfg config) error {
	for _, w := range cfg.workloads {
		if w != "list" && w != "create" {
			return fmt.Errorf("unknown workload %q (list or create)", w)
		}
	}
	root, err := moduleRoot()
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "taskapi-bench-")
	if err != nil {
		return err
	}
	if cfg.keep {
		log.Printf("logs in %s", tmp)
	} else {
		defer os.RemoveAll(tmp)
	}

	log.Print("building the server and the ceiling")
	bin := binaries{root: root, tmp: tmp, server: filepath.Join(tmp, "server"), ceiling: filepath.Join(tmp, "ceiling")}
	for _, b := range [][2]string{{bin.server, "."}, {bin.ceiling, "./bench/ceiling"}} {
		cmd := exec.CommandContext(ctx, "go", "build", "-o", b[0], b[1])
		cmd.Dir, cmd.Stdout, cmd.Stderr = root, os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("building %s: %w", b[1], err)
		}
	}
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	bin.secret = hex.EncodeToString(secret)

	if cfg.scaling {
		var results []scalingResult
		for _, m := range cfg.modes {
			rs, err := scalingMode(ctx, cfg, m, bin)
			results = append(results, rs...)
			if err != nil {
				reportScaling(os.Stdout, results, machine(ctx, cfg.adminURL), cfg)
				return err
			}
		}
		reportScaling(os.Stdout, results, machine(ctx, cfg.adminURL), cfg)
		return nil
	}

	var (
		runs []run
		idle []idleMemory
	)
	for _, m := range cfg.modes {
		rs, mem, err := ratioMode(ctx, cfg, m, bin)
		runs, idle = append(runs, rs...), append(idle, mem...)
		if err != nil {
			return err
		}
	}
	report(os.Stdout, runs, idle, machine(ctx, cfg.adminURL), cfg.connections)
	for _, r := range runs {
		if r.errors() > 0 {
			return fmt.Errorf("%s (%s) answered wrongly: %s", r.target, r.mode, describe(r))
		}
	}
	return nil
}

// targetEnv is the environment of both targets (the server's adds to it):
// the same settings for both. GOGC=300 is the server's own default; the
// ceiling gets it too, so the collector is no difference.
func targetEnv(dbURL, secret string) []string {
	return []string{
		"DATABASE_URL=" + dbURL,
		"BETTER_AUTH_SECRET=" + secret,
		"APP_ENV=production",
		"LOG_FORMAT=json",
		"GOGC=300",
	}
}

// extraServerEnv is -server-env's: settings for the server alone, to
// measure what one costs (LOG_LEVEL=warn, say).
var extraServerEnv []string

// serverEnv adds the server's own: the benchmark is what rate limits are
// for, a script hammering the API; it measures the server without them.
func serverEnv(env []string, debugAddr string) []string {
	out := append(slices.Clone(env), "RATE_LIMIT=off")
	out = append(out, extraServerEnv...)
	if debugAddr != "" {
		out = append(out, "DEBUG_ADDR="+debugAddr)
	}
	return out
}

// idleMemory is a target's memory after it started, before any load.
type idleMemory struct {
	mode   mode
	target string
	mem    memory
}

// ratioMode runs the ratio rounds in one CPU mode, on a database of its own
// (the create workload changes the data the list checks).
func ratioMode(ctx context.Context, cfg config, m mode, bin binaries) ([]run, []idleMemory, error) {
	log.Printf("mode: %s", m)
	dbURL, drop, err := createDatabase(ctx, cfg.adminURL, cfg.keep)
	if err != nil {
		return nil, nil, err
	}
	defer drop()
	if m.cpus == 1 {
		p, err := pinCPUs(ctx, dbURL)
		if err != nil {
			return nil, nil, err
		}
		defer p.Restore()
	}
	logName := func(name string) string {
		return filepath.Join(bin.tmp, fmt.Sprintf("%s-%dcpu.log", name, m.cpus))
	}

	env := targetEnv(dbURL, bin.secret)
	var debugAddr string
	profile := cfg.profile
	if profile != "" {
		port, err := freePort()
		if err != nil {
			return nil, nil, err
		}
		debugAddr = fmt.Sprintf("127.0.0.1:%d", port)
		if len(cfg.modes) > 1 {
			profile = fmt.Sprintf("%s-%dcpu", profile, m.cpus)
		}
	}
	// The server applies the migrations as it starts, on the empty database.
	server, err := start(ctx, m, "server", bin.server, logName("server"), serverEnv(env, debugAddr))
	if err != nil {
		return nil, nil, err
	}
	defer server.stop()

	log.Printf("seeding %d users × %d tasks", cfg.users, cfg.tasks)
	data, err := seed(ctx, dbURL, cfg.users, cfg.tasks)
	if err != nil {
		return nil, nil, err
	}
	ceiling, err := start(ctx, m, "ceiling", bin.ceiling, logName("ceiling"), env)
	if err != nil {
		return nil, nil, err
	}
	defer ceiling.stop()

	b := &bench{dbURL: dbURL, mode: m, threads: cfg.threads, connections: cfg.connections,
		script: filepath.Join(bin.root, "bench", "wrk.lua"), data: data, bodies: bodies}
	if err := b.writeTokens(bin.secret, filepath.Join(bin.tmp, "tokens")); err != nil {
		return nil, nil, err
	}
	if err := b.writeBodies(bin.tmp); err != nil {
		return nil, nil, err
	}

	// Idle: started, the server's migrations done, no request served yet.
	var idle []idleMemory
	for _, t := range []*target{server, ceiling} {
		mem := memStatus(t.cmd.Process.Pid)
		idle = append(idle, idleMemory{mode: m, target: t.name, mem: mem})
		log.Printf("%s idle: VmRSS %.0f MB, VmHWM %.0f MB", t.name, mem.rss, mem.hwm)
	}

	var runs []run
	// Lists first: the sampler expects each user's seeded newest 20, which
	// the create runs would change.
	for _, w := range []string{"list", "create"} {
		if !slices.Contains(cfg.workloads, w) {
			continue
		}
		for _, t := range []*target{server, ceiling} {
			log.Printf("%s: warming up %s", w, t.name)
			r, err := b.load(ctx, t, w, cfg.warmup)
			if err != nil {
				return runs, idle, err
			}
			if r.errors() > 0 {
				return runs, idle, fmt.Errorf("%s answered wrongly during warm-up: %s", t.name, describe(r))
			}
		}
		for round := 1; round <= cfg.rounds; round++ {
			// A B, then B A: neither always runs on the warmer machine.
			order := []*target{server, ceiling}
			if round%2 == 0 {
				order = []*target{ceiling, server}
			}
			for _, t := range order {
				var profiled chan error
				if t == server && round == 1 && profile != "" {
					profiled = make(chan error, 1)
					go func() {
						profiled <- cpuProfile(ctx, debugAddr, cfg.duration, fmt.Sprintf("%s-%s.pprof", profile, w))
					}()
				}
				r, err := b.load(ctx, t, w, cfg.duration)
				if profiled != nil {
					if err := <-profiled; err != nil {
						return runs, idle, err
					}
				}
				if err != nil {
					return runs, idle, err
				}
				r.round = round
				log.Printf("%s round %d %s: %.0f req/s, p50 %s, p90 %s, p99 %s, %d errors, %.0f MB", w, round, t.name, r.rps(),
					us(r.wrk.P50US), us(r.wrk.P90US), us(r.wrk.P99US), r.errors(), r.rss)
				runs = append(runs, r)
			}
		}
	}
	return runs, idle, nil
}

// writeBodies writes each workload's request body, and its expected
// response where there is one, to files for wrk.lua.
func (b *bench) writeBodies(dir string) error {
	b.bodyFiles, b.expectFiles = map[string]string{}, map[string]string{}
	for w, body := range b.bodies {
		b.bodyFiles[w] = filepath.Join(dir, w+".json")
		if err := os.WriteFile(b.bodyFiles[w], []byte(body), 0o600); err != nil {
			return err
		}
	}
	for w, body := range b.expect {
		b.expectFiles[w] = filepath.Join(dir, w+".expected.json")
		if err := os.WriteFile(b.expectFiles[w], body, 0o600); err != nil {
			return err
		}
	}
	return nil
}

// cpuProfile saves the server's CPU profile of the middle of a run.
func cpuProfile(ctx context.Context, debugAddr string, run time.Duration, path string) error {
	secs := max(1, int(run.Seconds())-2)
	time.Sleep(time.Second)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", debugAddr, secs), nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("profiling the server: %w", err)
	}
	defer resp.Body.Close()
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	log.Printf("wrote %s", path)
	return f.Close()
}

func (b *bench) writeTokens(secret, path string) error {
	v, err := auth.NewSigner(auth.Config{Secret: []byte(secret)})
	if err != nil {
		return err
	}
	var sb strings.Builder
	for _, u := range b.data.users {
		tok, err := v.Sign(u, 24*time.Hour)
		if err != nil {
			return err
		}
		b.tokens = append(b.tokens, tok)
		sb.WriteString(tok + "\n")
	}
	b.tokensFile = path
	return os.WriteFile(path, []byte(sb.String()), 0o600)
}

// createDatabase makes a database of the run's own on the admin URL's server
// and returns its URL and how to drop it.
func createDatabase(ctx context.Context, adminURL string, keep bool) (string, func(), error) {
	u, err := url.Parse(adminURL)
	if err != nil {
		return "", nil, fmt.Errorf("-db: %w", err)
	}
	admin, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return "", nil, fmt.Errorf("connecting to %s: %w", u.Redacted(), err)
	}
	suffix := make([]byte, 4)
	_, _ = rand.Read(suffix)
	name := fmt.Sprintf("tasks_bench_%d_%x", time.Now().Unix(), suffix)
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		admin.Close(ctx)
		return "", nil, err
	}
	u.Path = "/" + name
	drop := func() {
		defer admin.Close(context.Background())
		if keep {
			log.Printf("kept database %s", name)
			return
		}
		if _, err := admin.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			log.Printf("dropping %s: %v", name, err)
		}
	}
	return u.String(), drop, nil
}

func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil || strings.TrimSpace(string(out)) == "" || strings.TrimSpace(string(out)) == os.DevNull {
		return "", fmt.Errorf("run the benchmark from inside the repository (go env GOMOD: %v)", err)
	}
	return filepath.Dir(strings.TrimSpace(string(out))), nil
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func describe(r run) string {
	return fmt.Sprintf("%s round %d: %d socket errors, %d non-200, %d bad bodies (%s), %d of %d sampled wrong (%s)",
		r.workload, r.round, r.wrk.SocketErrors, r.wrk.StatusErrors, r.wrk.Bad, r.wrk.Sample, r.wrong, r.sampled, r.wrongSample)
}
