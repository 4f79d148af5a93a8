package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"entgo.io/ent/dialect"
	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/trace"

	"github.com/taskapi/server/graph"
	"github.com/taskapi/server/internal/auth"
	"github.com/taskapi/server/internal/broker"
	"github.com/taskapi/server/internal/database"
	"github.com/taskapi/server/internal/persisted"
	"github.com/taskapi/server/internal/ratelimit"
	"github.com/taskapi/server/internal/telemetry"
	"github.com/taskapi/server/migrate"

	_ "github.com/taskapi/server/ent/runtime" // registers the privacy policy and hooks
)

// devSubject is the user whose token development mode prints.
const devSubject = "demo"

// run is the whole program: main only supplies the process's arguments,
// environment and output, so tests can run it too.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cmd := "serve"
	if len(args) > 1 {
		cmd, args = args[1], args[2:]
	} else {
		args = nil
	}
	switch cmd {
	case "serve", "migrate", "version", "--version":
		if len(args) > 0 && isHelp(args[0]) {
			fmt.Fprint(stdout, usage)
			return nil
		}
		if len(args) > 0 {
			return fmt.Errorf("%s takes no arguments, got %q (see server help)", strings.TrimPrefix(cmd, "--"), args)
		}
	case "token", "documents":
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("unknown command %q", cmd)
	}
	if cmd == "version" || cmd == "--version" {
		fmt.Fprint(stdout, readBuildInfo())
		return nil
	}
	var tf tokenFlags
	if cmd == "token" {
		help, err := tf.parse(args, stdout, stderr)
		if help || err != nil {
			return err
		}
	}
	cfg, err := loadConfigFor(getenv, cmd == "serve" || cmd == "token")
	if err != nil {
		return configError(err)
	}
	switch cmd {
	case "migrate":
		return migrateCmd(ctx, cfg, stdout)
	case "token":
		return tokenCmd(cfg, tf, stdout)
	case "documents":
		return documentsCmd(cfg, args, stdout, stderr)
	}
	if getenv("GOGC") == "" {
		// A request allocates ~100 KB that dies with it, and the live heap
		// is a few MB: at the default GOGC=100 the collector would run
		// dozens of times a second under load. The README's performance
		// section has the measurements; GOGC in the environment wins.
		debug.SetGCPercent(defaultGOGC)
	}
	return serve(ctx, cfg, getenv, stdout, stderr)
}

// isHelp reports whether arg asks for the usage.
func isHelp(arg string) bool {
	return arg == "-h" || arg == "-help" || arg == "--help"
}

// configError puts "configuration: " before each problem, so that each
// line of the message says what it is.
func configError(err error) error {
	problems := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		problems = j.Unwrap()
	}
	wrapped := make([]error, len(problems))
	for i, p := range problems {
		wrapped[i] = fmt.Errorf("configuration: %w", p)
	}
	return errors.Join(wrapped...)
}

const usage = `usage:
  server            serve the GraphQL API (see README for the environment)
  server migrate    apply pending database migrations and exit
  server version    print the module version, VCS revision and commit time
                    (also: server --version)
  server token --sub USER [--ttl 1h]
                    print a token for USER signed with BETTER_AUTH_SECRET
  server documents check FILE...
                    check persisted-document manifests against this
                    server's schema and limits, and print their ids
`

func newLogger(cfg config, w io.Writer) *slog.Logger {
	return newLoggerAt(cfg, w, cfg.LogLevel)
}

// newLifecycleLogger logs start-up and shutdown whatever LOG_LEVEL says:
// an operator who asked for errors only still needs to see that the
// process listens, and on which version, and that it stopped cleanly.
func newLifecycleLogger(cfg config, w io.Writer) *slog.Logger {
	return newLoggerAt(cfg, w, min(cfg.LogLevel, slog.LevelInfo))
}

func newLoggerAt(cfg config, w io.Writer, level slog.Level) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	if cfg.LogJSON {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// defaultGOGC is the collector's target when GOGC is not set.
const defaultGOGC = 300

func serve(ctx context.Context, cfg config, getenv func(string) string, stdout, stderr io.Writer) error {
	// From the start, so that a SIGHUP while starting is kept for later
	// rather than ending the process.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	logger := newLogger(cfg, stderr)
	lifecycle := newLifecycleLogger(cfg, stderr)
	tp, err := telemetry.NewTracerProvider(ctx, getenv, logger)
	if err != nil {
		return err
	}
	var tracer trace.TracerProvider
	if tp != nil {
		tracer = tp
		defer func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := tp.Shutdown(ctx); err != nil {
				logger.Warn("flushing traces", "error", err)
			}
		}()
	}
	jwksMode := cfg.AuthURL != ""
	devMode := !jwksMode && len(cfg.Auth.Secret) == 0 // loadConfig refused this in production
	var (
		authn  auth.Authenticator
		signer *auth.Signer
	)
	if jwksMode {
		jc := cfg.JWKS
		jc.Logger = logger
		j, err := auth.NewJWKS(ctx, jc)
		if err != nil {
			return err
		}
		authn = j
		logger.Info("auth: JWKS mode (BETTER_AUTH_URL is set); BETTER_AUTH_SECRET verifies nothing",
			"jwks_url", jc.URL, "issuer", jc.Issuer, "audience", jc.Audience, "keys_loaded", j.Ready() == nil)
	} else {
		if devMode {
			cfg.Auth.Secret = []byte(rand.Text() + rand.Text())
		}
		s, err := auth.NewSharedSecret(cfg.Auth)
		if err != nil {
			return err
		}
		if signer, err = auth.NewSigner(cfg.Auth); err != nil {
			return err
		}
		authn = s
		logger.Info("auth: shared-secret mode (HS256 with BETTER_AUTH_SECRET)", "development", devMode,
			"issuer", cfg.Auth.Issuer, "audience", cfg.Auth.Audience)
	}
	authn = auth.NewCache(authn, auth.CacheSize)
	// Deferred before the database opens, so that it runs once the pool
	// has closed.
	var stopped []any
	defer func() {
		if stopped != nil {
			lifecycle.Info("shut down", stopped...)
		}
	}()
	cfg.Pool.Tracer = tracer // SQL spans under each request's, when tracing is on
	db, err := database.Open(ctx, cfg.DatabaseURL, cfg.Pool)
	if err != nil {
		return err
	}
	defer db.Close()
	if cfg.MigrateOnStart {
		n, err := migrate.Up(ctx, db.SQL, db.Dialect)
		if err != nil {
			return err
		}
		logger.Info("migrations applied", "count", n, "dialect", db.Dialect)
	} else if n, err := migrate.Pending(ctx, db.SQL, db.Dialect); err != nil {
		return err
	} else if n > 0 {
		return fmt.Errorf("the database lacks %d migration(s) and MIGRATE_ON_START=false: run the migrate command first", n)
	}

	docs := graph.NewDocuments(cfg.Limits)
	// SIGHUP reloads the manifests; without any, it is logged rather than
	// left to end the process.
	reload := func(string) { logger.Info("SIGHUP: no PERSISTED_DOCUMENTS to reload") }
	if len(cfg.Documents) > 0 {
		if err := loadDocuments(docs, cfg.Documents); err != nil {
			return err
		}
		logger.Info("persisted documents loaded", "documents", docs.Len(), "mode", cfg.DocumentsMode, "paths", cfg.Documents)
		reload = reloader(logger, docs, cfg.Documents)
	}
	// Both reloaders stop when serve returns, whatever the reason.
	reloadCtx, stopReloading := context.WithCancel(ctx)
	defer stopReloading()
	go func() {
		for {
			select {
			case <-hup:
				reload("SIGHUP")
			case <-reloadCtx.Done():
				return
			}
		}
	}()
	if len(cfg.Documents) > 0 {
		watched, err := persisted.Watch(reloadCtx, cfg.Documents, documentsSettle, func() { reload("files changed") }, func(err error) {
			logger.Warn("persisted documents: watching the files", "error", err)
		})
		if err != nil {
			logger.Warn("persisted documents: not watching the files; reload with SIGHUP", "error", err)
		} else {
			defer func() { stopReloading(); <-watched }()
		}
	}

	// go-redis logs through the standard logger, which would put plain
	// lines into LOG_FORMAT=json output.
	redis.SetLogger(redisLogger{logger})
	events, err := openBroker(ctx, cfg, db, logger)
	if err != nil {
		return err
	}
	defer events.Close()
	limiter, closeLimiter, err := openRateLimit(cfg, logger)
	if err != nil {
		return err
	}
	defer closeLimiter()

	ln, err := net.Listen("tcp", ":"+cfg.Port)
	if err != nil {
		return fmt.Errorf("listening on port %s: %w", cfg.Port, err)
	}
	addr := ln.Addr().(*net.TCPAddr)
	var devToken string
	if devMode {
		devToken, err = signer.Sign(devSubject, 24*time.Hour)
		if err != nil {
			return err
		}
		printDevBanner(stdout, addr.Port, devToken)
		logger.Warn("BETTER_AUTH_SECRET is not set: development mode with a random secret; tokens die with this process. Never run like this in production.")
	}

	// Shutdown does not wait for hijacked connections: this ends each
	// WebSocket with a close code its client reconnects on.
	sockets, closeSockets := context.WithCancel(context.Background())
	defer closeSockets()
	var drain drain
	srv := &http.Server{
		Handler: drain.wrap(newServer(logger, db, authn, serverOptions{
			CORSOrigins: cfg.CORSOrigins,
			DevToken:    devToken,
			Tracer:      tracer,
			GraphiQL:    cfg.GraphiQL,
			Events:      events,
			Draining:    drain.draining.Load,
			RateLimit:   limiter,
			ClientAddr:  cfg.ClientAddr,
			GraphQL: graph.Options{
				UnauthenticatedCost: unauthenticatedCost(cfg.RateLimit),
				Shutdown:            sockets,
				Limits:              cfg.Limits,
				Introspection:       cfg.Introspection,
				Documents:           docs,
				Mode:                cfg.DocumentsMode,
			},
		})),
		ReadHeaderTimeout: 5 * time.Second,
		// A body arrives within the request's deadline, and the answer,
		// a 503 included, leaves after it.
		ReadTimeout:    cfg.Limits.Timeout,
		WriteTimeout:   cfg.Limits.Timeout + 10*time.Second,
		IdleTimeout:    2 * time.Minute,
		MaxHeaderBytes: 64 << 10,
		ErrorLog:       slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	srv.RegisterOnShutdown(closeSockets)
	if cfg.DebugAddr != "" {
		dbg, err := net.Listen("tcp", cfg.DebugAddr)
		if err != nil {
			return fmt.Errorf("listening on DEBUG_ADDR %s: %w", cfg.DebugAddr, err)
		}
		defer dbg.Close()
		go func() { _ = http.Serve(dbg, debugHandler()) }()
		logger.Warn("serving pprof on DEBUG_ADDR; keep it off public networks", "addr", dbg.Addr().String())
	}
	lifecycle.Info("listening", append(readBuildInfo().attrs(),
		"addr", addr.String(), "dialect", db.Dialect, "events", fmt.Sprintf("%T", events), "production", cfg.Production, "tracing", tp != nil,
		"introspection", cfg.Introspection, "graphiql", cfg.GraphiQL, "persisted_documents", cfg.DocumentsMode,
		"request_timeout", cfg.Limits.Timeout.String(), "shutdown_grace", cfg.ShutdownGrace.String())...)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	// /readyz answers 503 from here on; after SHUTDOWN_DELAY (for load
	// balancers to see it) the listener closes and the requests in flight
	// have the rest of SHUTDOWN_GRACE to finish.
	drain.draining.Store(true)
	started := time.Now()
	shutdownCtx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownGrace)
	defer cancel()
	if cfg.ShutdownDelay > 0 {
		lifecycle.Info("draining: /readyz answers 503, still serving", "delay", cfg.ShutdownDelay.String())
		select {
		case <-time.After(cfg.ShutdownDelay):
		case err := <-errc:
			return err
		}
	}
	inFlight := drain.inFlight.Load()
	lifecycle.Info("shutting down", "in_flight", inFlight, "grace", cfg.ShutdownGrace.String())
	if err := srv.Shutdown(shutdownCtx); err != nil {
		left := drain.inFlight.Load()
		_ = srv.Close()
		return fmt.Errorf("shutting down: %d request(s) still running after SHUTDOWN_GRACE=%s were cut off: %w", left, cfg.ShutdownGrace, err)
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	// Hijacked connections (WebSockets) are not waited for: they were
	// told to close, and may still be closing.
	left := drain.inFlight.Load()
	stopped = []any{"drained", max(inFlight-left, 0), "sockets_closing", left, "took", time.Since(started).Round(time.Millisecond).String()}
	return nil
}

// drain counts the requests in flight, for the shutdown log, and says when
// shutdown has begun (/readyz then answers 503).
type drain struct {
	draining atomic.Bool
	inFlight atomic.Int64
}

func (d *drain) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d.inFlight.Add(1)
		defer d.inFlight.Add(-1)
		next.ServeHTTP(w, r)
	})
}

// debugHandler serves the runtime profiles (net/http/pprof).
func debugHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}

func printDevBanner(w io.Writer, port int, token string) {
	fmt.Fprintf(w, `
  Development mode: BETTER_AUTH_SECRET is not set, so a random secret was made.
  Tokens signed with it stop working when this process stops.

  Token for user %q (24h):
    %s

  GraphiQL: http://localhost:%d/  (the Authorization header is filled in)
  curl:     curl -H 'Authorization: Bearer %s' -H 'Content-Type: application/json' \
              -d '{"query":"{ tasks { totalCount } }"}' http://localhost:%d/query

`, devSubject, token, port, token, port)
}

func migrateCmd(ctx context.Context, cfg config, stdout io.Writer) error {
	db, err := database.Open(ctx, cfg.DatabaseURL, cfg.Pool)
	if err != nil {
		return err
	}
	defer db.Close()
	n, err := migrate.Up(ctx, db.SQL, db.Dialect)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "applied %d migration(s) to %s\n", n, db.Dialect)
	return nil
}

// tokenFlags are the token command's flags.
type tokenFlags struct {
	sub string
	ttl time.Duration
}

// parse reads the token command's flags. Asked for help, it prints the
// flags to stdout and reports help.
func (tf *tokenFlags) parse(args []string, stdout, stderr io.Writer) (help bool, err error) {
	fs := flag.NewFlagSet("token", flag.ContinueOnError)
	var msgs strings.Builder
	fs.SetOutput(&msgs)
	fs.StringVar(&tf.sub, "sub", "", "the user id to put in the token's sub claim (required)")
	fs.DurationVar(&tf.ttl, "ttl", time.Hour, "how long the token is valid")
	err = fs.Parse(args)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(stdout, msgs.String())
		return true, nil
	}
	fmt.Fprint(stderr, msgs.String())
	if err != nil {
		return false, err
	}
	if fs.NArg() > 0 {
		return false, fmt.Errorf("token takes no arguments besides its flags, got %q", fs.Args())
	}
	return false, nil
}

func tokenCmd(cfg config, tf tokenFlags, stdout io.Writer) error {
	if cfg.AuthURL != "" {
		return fmt.Errorf("token: BETTER_AUTH_URL is set, so this server takes only tokens Better Auth signs (JWKS mode) and cannot make one; "+
			"sign in through Better Auth and fetch GET %s/api/auth/token with the session cookie (the answer is {\"token\": ...}), "+
			"or take the set-auth-jwt header of GET %s/api/auth/get-session", strings.TrimRight(cfg.AuthURL, "/"), strings.TrimRight(cfg.AuthURL, "/"))
	}
	if strings.TrimSpace(tf.sub) == "" {
		return errors.New("token: --sub is required")
	}
	if tf.ttl <= 0 {
		return errors.New("token: --ttl must be positive")
	}
	if len(cfg.Auth.Secret) == 0 {
		return errors.New("token: BETTER_AUTH_SECRET is not set; a token needs the secret the server verifies with")
	}
	v, err := auth.NewSigner(cfg.Auth)
	if err != nil {
		return err
	}
	tok, err := v.Sign(tf.sub, tf.ttl)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, tok)
	return nil
}

// documentsSettle is how long the manifests must stay unchanged before a
// reload: a release copies several files.
const documentsSettle = 500 * time.Millisecond

// loadDocuments reads the manifests paths name into docs, or leaves docs
// as they were.
func loadDocuments(docs *graph.Documents, paths []string) error {
	list, err := persisted.Load(paths)
	if err != nil {
		return err
	}
	if err := docs.Load(list); err != nil {
		return fmt.Errorf("persisted documents: %w", err)
	}
	return nil
}

// reloader returns the reload of docs, one at a time: a bad new set is
// logged and the set in use stays.
func reloader(logger *slog.Logger, docs *graph.Documents, paths []string) func(trigger string) {
	var mu sync.Mutex
	return func(trigger string) {
		mu.Lock()
		defer mu.Unlock()
		if err := loadDocuments(docs, paths); err != nil {
			logger.Error("persisted documents: reload refused; the previous set stays", "trigger", trigger, "documents", docs.Len(), "error", err)
			return
		}
		logger.Info("persisted documents loaded", "trigger", trigger, "documents", docs.Len())
	}
}

func documentsCmd(cfg config, args []string, stdout, stderr io.Writer) error {
	if len(args) < 2 || args[0] != "check" {
		fmt.Fprint(stderr, usage)
		return errors.New("documents: usage: server documents check FILE...")
	}
	list, err := persisted.Load(args[1:])
	if err != nil {
		return err
	}
	checked, err := graph.NewDocuments(cfg.Limits).Check(list)
	if err != nil {
		return fmt.Errorf("persisted documents: %w", err)
	}
	// One line per document: id, name, its operations, and its file.
	for _, c := range checked {
		fmt.Fprintf(stdout, "%s\t%s\t%s\t%s\n", c.ID, c.Name, strings.Join(c.Operations, ", "), c.Source)
	}
	fmt.Fprintf(stdout, "%d documents: each parses, validates against this server's schema and is within its limits\n", len(checked))
	return nil
}

// openBroker picks how task events reach the other instances: Redis when
// REDIS_URL is set, else PostgreSQL's LISTEN/NOTIFY, else (SQLite, one
// process) the process itself.
func openBroker(ctx context.Context, cfg config, db *database.DB, logger *slog.Logger) (broker.Broker, error) {
	opts := broker.Options{Logger: logger}
	switch {
	case cfg.RedisURL != "":
		b, err := broker.NewRedis(ctx, cfg.RedisURL, opts)
		if err != nil {
			return nil, fmt.Errorf("REDIS_URL: %w", err)
		}
		return b, nil
	case db.Dialect == dialect.Postgres:
		b, err := broker.NewPostgres(ctx, cfg.EventsDatabaseURL, opts)
		if err != nil {
			return nil, fmt.Errorf("EVENTS_DATABASE_URL (LISTEN/NOTIFY needs a direct connection, not a transaction-mode pooler): %w", err)
		}
		return b, nil
	}
	return broker.NewLocal(opts), nil
}

// openRateLimit makes the users' rate limit: shared through Redis when
// REDIS_URL is set (each instance falls back to its own budget while Redis
// is away), else this instance's own. nil when RATE_LIMIT=off.
func openRateLimit(cfg config, logger *slog.Logger) (ratelimit.Limiter, func(), error) {
	if cfg.RateLimit == nil {
		return nil, func() {}, nil
	}
	local := ratelimit.NewLocal(*cfg.RateLimit, rateLimitKeys)
	if cfg.RedisURL == "" {
		return local, func() {}, nil
	}
	opts, err := redis.ParseURL(cfg.RedisURL)
	if err != nil {
		return nil, nil, fmt.Errorf("REDIS_URL: %w", err)
	}
	// A request waits on Redis at most about this long before the local
	// budget answers for it.
	opts.DialTimeout, opts.ReadTimeout, opts.WriteTimeout, opts.MaxRetries = 200*time.Millisecond, 200*time.Millisecond, 200*time.Millisecond, -1
	opts.DialerRetries = 1 // not go-redis's 5, 100 ms apart, before the local budget answers
	opts.PoolTimeout = 200 * time.Millisecond
	client := redis.NewClient(opts)
	// While a client is refused, its refusals are answered from memory:
	// a flood past the budget costs Redis nothing.
	return ratelimit.Remember(ratelimit.NewRedis(client, *cfg.RateLimit, local, logger), rateLimitKeys), func() { client.Close() }, nil
}

// rateLimitKeys bounds the users one instance keeps budgets for in memory;
// the idle go first.
const rateLimitKeys = 100_000

// redisLogger passes go-redis's own messages to the server's logger.
type redisLogger struct{ logger *slog.Logger }

func (l redisLogger) Printf(ctx context.Context, format string, v ...any) {
	l.logger.WarnContext(ctx, "redis: "+fmt.Sprintf(format, v...))
}

// unauthenticatedCost is what a refused credential spends from its
// address's budget: graph.UnauthenticatedCost, or a tenth of a burst too
// small to hold ten of those, so that a small budget does not turn every
// 401 into a 429.
func unauthenticatedCost(l *ratelimit.Limit) int {
	if l == nil || l.Burst >= 10*graph.UnauthenticatedCost {
		return 0
	}
	return max(l.Burst/10, 1)
}
