// Command bench measures the task API server against a hand-written ceiling
// (bench/ceiling: JWT check, one SQL statement, JSON) on the same PostgreSQL
// data, under the same wrk load, alternating the two so machine noise shows.
//
//	go run ./bench [-db postgres://…] [-duration 10s] [-rounds 3]
//
// It creates a fresh database on the given server (and drops it after),
// seeds users×tasks deterministically, builds and starts both programs, and
// prints a Markdown table: requests/s, p50, p99, errors and the ratio to the
// ceiling. Every wrk response is checked for errors and 20 tasks of one
// owner; a sampler checks that the owner is the caller. It exits 1 when any
// response was wrong. Needs wrk (Debian: apt-get install wrk).
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
	threads     int
	connections int
	script      string // bench/wrk.lua
	tokensFile  string
	bodyFiles   map[string]string // workload → file holding its request body
	tokens      []string          // tokens[i] is data.users[i]'s
	data        *dataset
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
		rounds      = flag.Int("rounds", 3, "measured runs per target and workload, alternating server and ceiling")
		connections = flag.Int("connections", 32, "concurrent connections")
		threads     = flag.Int("threads", 2, "wrk threads")
		workloads   = flag.String("workloads", "list,create", "comma-separated: list (tasks(first: 20)), create (createTask)")
		keep        = flag.Bool("keep", false, "keep the database and the logs")
		profile     = flag.String("cpuprofile", "", "write the server's CPU profile of each workload's first round to this prefix (PREFIX-list.pprof, …)")
	)
	flag.Parse()
	if *tasks < 20 || *users < 1 || *rounds < 1 || *duration < time.Second || *warmup < time.Second {
		log.Fatal("need -tasks ≥ 20, -users ≥ 1, -rounds ≥ 1, -duration ≥ 1s and -warmup ≥ 1s")
	}
	if _, err := exec.LookPath("wrk"); err != nil {
		log.Fatal("wrk is not installed (Debian: apt-get install wrk)")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	context.AfterFunc(ctx, stop) // a second Ctrl-C ends the process at once
	if err := benchmark(ctx, *adminURL, *users, *tasks, *duration, *warmup, *rounds, *connections, *threads, strings.Split(*workloads, ","), *keep, *profile); err != nil {
		log.Fatal(err)
	}
}

func benchmark(ctx context.Context, adminURL string, users, tasks int, duration, warmup time.Duration, rounds, connections, threads int, workloads []string, keep bool, profile string) error {
	for _, w := range workloads {
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
	if keep {
		log.Printf("logs in %s", tmp)
	} else {
		defer os.RemoveAll(tmp)
	}

	log.Print("building the server and the ceiling")
	serverBin, ceilingBin := filepath.Join(tmp, "server"), filepath.Join(tmp, "ceiling")
	for _, b := range [][2]string{{serverBin, "."}, {ceilingBin, "./bench/ceiling"}} {
		cmd := exec.CommandContext(ctx, "go", "build", "-o", b[0], b[1])
		cmd.Dir, cmd.Stdout, cmd.Stderr = root, os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("building %s: %w", b[1], err)
		}
	}

	dbURL, drop, err := createDatabase(ctx, adminURL, keep)
	if err != nil {
		return err
	}
	defer drop()

	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	// The same settings for both. GOGC=300 is the server's own default;
	// the ceiling gets it too, so the collector is no difference.
	env := []string{
		"DATABASE_URL=" + dbURL,
		"BETTER_AUTH_SECRET=" + hex.EncodeToString(secret),
		"APP_ENV=production",
		"LOG_FORMAT=json",
		"GOGC=300",
	}
	// The benchmark is what rate limits are for: a script hammering the
	// API. It measures the server without them.
	serverEnv := append(slices.Clone(env), "RATE_LIMIT=off")
	var debugAddr string
	if profile != "" {
		port, err := freePort()
		if err != nil {
			return err
		}
		debugAddr = fmt.Sprintf("127.0.0.1:%d", port)
		serverEnv = append(slices.Clone(env), "DEBUG_ADDR="+debugAddr)
	}
	// The server applies the migrations as it starts, on the empty database.
	server, err := start(ctx, "server", serverBin, filepath.Join(tmp, "server.log"), serverEnv)
	if err != nil {
		return err
	}
	defer server.stop()

	log.Printf("seeding %d users × %d tasks", users, tasks)
	data, err := seed(ctx, dbURL, users, tasks)
	if err != nil {
		return err
	}
	ceiling, err := start(ctx, "ceiling", ceilingBin, filepath.Join(tmp, "ceiling.log"), env)
	if err != nil {
		return err
	}
	defer ceiling.stop()

	b := &bench{dbURL: dbURL, threads: threads, connections: connections, script: filepath.Join(root, "bench", "wrk.lua"), data: data}
	if err := b.writeTokens(hex.EncodeToString(secret), filepath.Join(tmp, "tokens")); err != nil {
		return err
	}
	b.bodyFiles = map[string]string{}
	for w, body := range bodies {
		b.bodyFiles[w] = filepath.Join(tmp, w+".json")
		if err := os.WriteFile(b.bodyFiles[w], []byte(body), 0o600); err != nil {
			return err
		}
	}

	var runs []run
	// Lists first: the sampler expects each user's seeded newest 20, which
	// the create runs would change.
	for _, w := range []string{"list", "create"} {
		if !slices.Contains(workloads, w) {
			continue
		}
		for _, t := range []*target{server, ceiling} {
			log.Printf("%s: warming up %s", w, t.name)
			r, err := b.load(ctx, t, w, warmup)
			if err != nil {
				return err
			}
			if r.errors() > 0 {
				return fmt.Errorf("%s answered wrongly during warm-up: %s", t.name, describe(r))
			}
		}
		for round := 1; round <= rounds; round++ {
			// A B, then B A: neither always runs on the warmer machine.
			order := []*target{server, ceiling}
			if round%2 == 0 {
				order = []*target{ceiling, server}
			}
			for _, t := range order {
				var profiled chan error
				if t == server && round == 1 && profile != "" {
					profiled = make(chan error, 1)
					go func() { profiled <- cpuProfile(ctx, debugAddr, duration, fmt.Sprintf("%s-%s.pprof", profile, w)) }()
				}
				r, err := b.load(ctx, t, w, duration)
				if profiled != nil {
					if err := <-profiled; err != nil {
						return err
					}
				}
				if err != nil {
					return err
				}
				r.round = round
				log.Printf("%s round %d %s: %.0f req/s, p99 %s, %d errors, %.0f MB", w, round, t.name, r.rps(), us(r.wrk.P99US), r.errors(), r.rss)
				runs = append(runs, r)
			}
		}
	}
	report(os.Stdout, runs, machine(ctx, dbURL), connections)
	for _, r := range runs {
		if r.errors() > 0 {
			return fmt.Errorf("%s answered wrongly: %s", r.target, describe(r))
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
