package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/taskapi/server/graph"
	"github.com/taskapi/server/internal/auth"
	"github.com/taskapi/server/internal/clientaddr"
	"github.com/taskapi/server/internal/database"
	"github.com/taskapi/server/internal/ratelimit"
)

// config is everything the server reads from its environment.
type config struct {
	Port           string
	Production     bool
	DatabaseURL    string
	Pool           database.Pool
	MigrateOnStart bool
	// Auth is the shared-secret mode's configuration.
	Auth auth.Config
	// AuthURL is BETTER_AUTH_URL: when set, JWKS mode, configured by JWKS,
	// and Auth's secret verifies nothing.
	AuthURL     string
	JWKS        auth.JWKSConfig
	CORSOrigins []string
	LogLevel    slog.Level
	LogJSON     bool
	// DebugAddr, when set, serves net/http/pprof there: a loopback address
	// apart from PORT, so that profiles are never public by accident.
	DebugAddr string
	// Limits bound each request (graph.DefaultLimits unless overridden).
	Limits graph.Limits
	// Introspection answers __schema and __type: on in development, off
	// in production and with PERSISTED_DOCUMENTS_MODE=only, unless
	// GRAPHQL_INTROSPECTION says otherwise.
	Introspection bool
	// GraphiQL serves the GraphiQL page: on in development, off in
	// production unless GRAPHIQL says otherwise.
	GraphiQL bool
	// Documents name the persisted-document manifests (files, or
	// directories of *.json files); DocumentsMode is how they are taken.
	Documents     []string
	DocumentsMode graph.Mode
	// RedisURL, when set, carries task events between instances over Redis
	// pub/sub; else PostgreSQL's LISTEN/NOTIFY does, over EventsDatabaseURL
	// (a direct connection; DATABASE_URL by default), or, on SQLite, the
	// process itself.
	RedisURL          string
	EventsDatabaseURL string
	// ShutdownGrace is how long in-flight requests have to finish once
	// SIGTERM arrives.
	ShutdownGrace time.Duration
	// RateLimit is each user's budget of operation cost, shared through
	// Redis when RedisURL is set; nil when RATE_LIMIT=off.
	RateLimit *ratelimit.Limit
	// ClientAddr finds a request's client address: the TCP peer's, or,
	// from the TRUSTED_PROXIES, the one they forwarded in CLIENT_IP_HEADER.
	ClientAddr *clientaddr.Resolver
	// ShutdownDelay is how long /readyz answers 503 before the listener
	// closes, so load balancers stop sending here first.
	ShutdownDelay time.Duration
}

// defaultShutdownGrace is SHUTDOWN_GRACE's default: under Kubernetes'
// 30 s terminationGracePeriodSeconds, with room for closing the pool.
const defaultShutdownGrace = 15 * time.Second

// limitVars names the variable that overrides each request limit.
func limitVars(l *graph.Limits) []struct {
	name string
	v    *int
} {
	return []struct {
		name string
		v    *int
	}{
		{"MAX_BODY_BYTES", &l.BodyBytes},
		{"GRAPHQL_MAX_TOKENS", &l.Tokens},
		{"GRAPHQL_MAX_NAME_BYTES", &l.NameBytes},
		{"GRAPHQL_MAX_DIRECTIVES", &l.Directives},
		{"GRAPHQL_MAX_DEPTH", &l.Depth},
		{"GRAPHQL_MAX_FIELDS", &l.Fields},
		{"GRAPHQL_MAX_ALIASES", &l.Aliases},
		{"GRAPHQL_MAX_ROOT_FIELDS", &l.RootFields},
		{"GRAPHQL_MAX_FRAGMENT_SPREADS", &l.FragmentSpreads},
		{"GRAPHQL_MAX_COST", &l.Cost},
		{"GRAPHQL_MAX_RESPONSE_BYTES", &l.ResponseBytes},
		{"GRAPHQL_MAX_INPUT_BYTES", &l.InputBytes},
		{"GRAPHQL_MAX_INPUT_VALUES", &l.InputValues},
		{"GRAPHQL_MAX_ERRORS", &l.Errors},
	}
}

// The default rate limit, in operation cost (graph/cost.go): a page of
// 20 tasks costs about 150, so a person paging, editing and syncing stays
// far under it, and a script sending hundreds of requests a second does not.
const (
	DefaultRateLimit = 60_000 // a minute
	DefaultRateBurst = 9_000  // three of the costliest operations allowed
)

// maxRequestTimeout keeps the deadline well inside what a client or proxy
// waits for: past it, the answer would be lost to the write timeout.
const maxRequestTimeout = 2 * time.Minute

// loadConfig reads the environment through getenv, so tests can pass their
// own. Every problem is reported at once, each on its own line.
func loadConfig(getenv func(string) string) (config, error) {
	return loadConfigFor(getenv, true)
}

// loadConfigFor is loadConfig for a command that may verify and sign
// nothing (withAuth false): migrate runs in a deploy step that holds no
// secret, so the secret's checks are left out.
func loadConfigFor(getenv func(string) string, withAuth bool) (config, error) {
	var errs []error
	env := func(name, def string) string {
		if v := strings.TrimSpace(getenv(name)); v != "" {
			return v
		}
		return def
	}
	duration := func(name string) time.Duration {
		v := env(name, "")
		if v == "" {
			return 0
		}
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			errs = append(errs, fmt.Errorf("%s=%q is not a positive duration such as 30s or 1h", name, v))
		}
		return d
	}
	count := func(name string, least int64) int32 {
		v := env(name, "")
		if v == "" {
			return 0
		}
		n, err := strconv.ParseInt(v, 10, 32)
		if err != nil || n < least {
			errs = append(errs, fmt.Errorf("%s=%q is not a whole number of at least %d", name, v, least))
		}
		return int32(n)
	}
	boolean := func(name string, def bool) bool {
		v := env(name, "")
		if v == "" {
			return def
		}
		switch strings.ToLower(v) {
		case "on":
			return true
		case "off":
			return false
		}
		b, err := strconv.ParseBool(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s=%q is not true or false (on or off)", name, v))
		}
		return b
	}

	c := config{
		Port:        env("PORT", "8080"),
		DatabaseURL: env("DATABASE_URL", ""),
		Pool: database.Pool{
			MaxConns:          count("DB_MAX_CONNS", 1),
			MinConns:          count("DB_MIN_CONNS", 0),
			MaxConnLifetime:   duration("DB_MAX_CONN_LIFETIME"),
			MaxConnIdleTime:   duration("DB_MAX_CONN_IDLE_TIME"),
			HealthCheckPeriod: duration("DB_HEALTH_CHECK_PERIOD"),
			QueryExecMode:     env("DB_QUERY_EXEC_MODE", ""),
		},
		MigrateOnStart: boolean("MIGRATE_ON_START", true),
		Auth: auth.Config{
			Secret:   []byte(getenv("BETTER_AUTH_SECRET")),
			Issuer:   env("JWT_ISSUER", ""),
			Audience: env("JWT_AUDIENCE", ""),
		},
	}
	c.Limits = graph.DefaultLimits()
	for _, lv := range limitVars(&c.Limits) {
		if n := count(lv.name, 1); n > 0 {
			*lv.v = int(n)
		}
	}
	c.ShutdownGrace = defaultShutdownGrace
	if d := duration("SHUTDOWN_GRACE"); d > 0 {
		c.ShutdownGrace = d
	}
	c.ShutdownDelay = duration("SHUTDOWN_DELAY")
	if d := duration("REQUEST_TIMEOUT"); d > 0 {
		c.Limits.Timeout = d
	}
	if c.ShutdownDelay > 0 && c.ShutdownDelay+c.Limits.Timeout > c.ShutdownGrace {
		// Requests that arrive during the delay must still have their
		// whole timeout before the grace runs out.
		errs = append(errs, fmt.Errorf("SHUTDOWN_DELAY=%s plus REQUEST_TIMEOUT=%s is more than SHUTDOWN_GRACE=%s, which both must fit in: raise SHUTDOWN_GRACE", c.ShutdownDelay, c.Limits.Timeout, c.ShutdownGrace))
	}
	if c.Limits.Timeout > maxRequestTimeout {
		errs = append(errs, fmt.Errorf("REQUEST_TIMEOUT=%s is longer than %s", c.Limits.Timeout, maxRequestTimeout))
	}
	if m := c.Pool.QueryExecMode; m != "" {
		if _, err := database.ParseQueryExecMode(m); err != nil {
			errs = append(errs, err)
		}
	}
	switch appEnv := env("APP_ENV", "development"); appEnv {
	case "production":
		c.Production = true
	case "development":
	default:
		errs = append(errs, fmt.Errorf("APP_ENV=%q is not development or production", appEnv))
	}
	for p := range strings.SplitSeq(env("PERSISTED_DOCUMENTS", ""), ",") {
		if p = strings.TrimSpace(p); p != "" {
			c.Documents = append(c.Documents, p)
		}
	}
	mode, err := graph.ParseMode(env("PERSISTED_DOCUMENTS_MODE", ""))
	if err != nil {
		errs = append(errs, err)
	}
	c.DocumentsMode = mode
	switch {
	case mode == graph.ModeOnly && len(c.Documents) == 0:
		errs = append(errs, errors.New("PERSISTED_DOCUMENTS_MODE=only needs PERSISTED_DOCUMENTS: the manifests of the operations to run"))
	case mode == graph.ModeOff && len(c.Documents) > 0:
		errs = append(errs, errors.New("PERSISTED_DOCUMENTS is set but PERSISTED_DOCUMENTS_MODE=off would never run them: unset one"))
	}
	c.Introspection = boolean("GRAPHQL_INTROSPECTION", !c.Production && mode != graph.ModeOnly)
	c.GraphiQL = boolean("GRAPHIQL", !c.Production)
	c.RedisURL = env("REDIS_URL", "")
	if boolean("RATE_LIMIT", true) {
		rl := ratelimit.Limit{Rate: DefaultRateLimit, Period: time.Minute, Burst: DefaultRateBurst}
		if n := count("RATE_LIMIT_COST_PER_MINUTE", 1); n > 0 {
			rl.Rate = int(n)
		}
		if n := count("RATE_LIMIT_BURST", 1); n > 0 {
			rl.Burst = int(n)
		}
		if rl.Burst < c.Limits.Cost {
			errs = append(errs, fmt.Errorf("RATE_LIMIT_BURST=%d is below GRAPHQL_MAX_COST=%d: the costliest operation allowed could never run", rl.Burst, c.Limits.Cost))
		}
		c.RateLimit = &rl
	}
	var proxies []string
	for p := range strings.SplitSeq(env("TRUSTED_PROXIES", ""), ",") {
		if p = strings.TrimSpace(p); p != "" {
			proxies = append(proxies, p)
		}
	}
	if c.ClientAddr, err = clientaddr.New(proxies, env("CLIENT_IP_HEADER", "X-Forwarded-For")); err != nil {
		errs = append(errs, err)
	}
	c.EventsDatabaseURL = env("EVENTS_DATABASE_URL", c.DatabaseURL)
	if p, err := strconv.Atoi(c.Port); err != nil || p < 0 || p > 65535 {
		errs = append(errs, fmt.Errorf("PORT=%q is not a port number", c.Port))
	}
	c.DebugAddr = env("DEBUG_ADDR", "")
	if c.DebugAddr != "" {
		// Profiles are unauthenticated and a CPU profile is costly to take:
		// loopback only (reach it with a port-forward).
		host, _, err := net.SplitHostPort(c.DebugAddr)
		ip := net.ParseIP(host)
		if err != nil || !(host == "localhost" || ip != nil && ip.IsLoopback()) {
			errs = append(errs, fmt.Errorf("DEBUG_ADDR=%q must be a loopback host:port, e.g. 127.0.0.1:6060", c.DebugAddr))
		}
	}
	if origins := env("CORS_ALLOWED_ORIGINS", ""); origins != "" {
		for o := range strings.SplitSeq(origins, ",") {
			if o = strings.TrimSpace(o); o != "" {
				c.CORSOrigins = append(c.CORSOrigins, o)
			}
		}
	}
	if l := env("LOG_LEVEL", "info"); c.LogLevel.UnmarshalText([]byte(l)) != nil {
		errs = append(errs, fmt.Errorf("LOG_LEVEL=%q is not debug, info, warn or error", l))
	}
	switch f := env("LOG_FORMAT", "text"); f {
	case "json":
		c.LogJSON = true
	case "text":
	default:
		errs = append(errs, fmt.Errorf("LOG_FORMAT=%q is not text or json", f))
	}
	c.AuthURL = env("BETTER_AUTH_URL", "")
	if c.AuthURL != "" && withAuth {
		c.JWKS = auth.JWKSConfig{
			URL:      env("BETTER_AUTH_JWKS_URL", strings.TrimRight(c.AuthURL, "/")+"/api/auth/jwks"),
			Issuer:   env("JWT_ISSUER", c.AuthURL),
			Audience: env("JWT_AUDIENCE", c.AuthURL),
			// Only the defaults: an explicit JWT_ISSUER or JWT_AUDIENCE is exact.
			SlashOptional: env("JWT_ISSUER", "") == "" && env("JWT_AUDIENCE", "") == "",
		}
		for _, u := range []struct{ name, v string }{{"BETTER_AUTH_URL", c.AuthURL}, {"BETTER_AUTH_JWKS_URL", c.JWKS.URL}} {
			if p, err := url.Parse(u.v); err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
				errs = append(errs, fmt.Errorf("%s=%q is not an http(s) URL", u.name, u.v))
			}
		}
		return c, errors.Join(errs...) // the secret verifies nothing in JWKS mode
	}
	if !withAuth {
		return c, errors.Join(errs...)
	}
	switch {
	case len(c.Auth.Secret) == 0 && c.Production:
		errs = append(errs, errors.New("BETTER_AUTH_SECRET is required when APP_ENV=production (or BETTER_AUTH_URL, for JWKS mode)"))
	case len(c.Auth.Secret) > 0 && len(c.Auth.Secret) < auth.MinSecretLen:
		errs = append(errs, auth.ErrShortSecret)
	}
	return c, errors.Join(errs...)
}
