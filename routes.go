package main

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/klauspost/compress/gzhttp"
	"github.com/klauspost/compress/gzip"
	"github.com/rs/cors"
	"go.opentelemetry.io/otel/trace"

	"github.com/taskapi/server/graph"
	"github.com/taskapi/server/internal/auth"
	"github.com/taskapi/server/internal/broker"
	"github.com/taskapi/server/internal/clientaddr"
	"github.com/taskapi/server/internal/database"
	"github.com/taskapi/server/internal/playground"
	"github.com/taskapi/server/internal/ratelimit"
	"github.com/taskapi/server/internal/telemetry"
)

// serverOptions are the optional parts of the HTTP surface.
type serverOptions struct {
	// CORSOrigins are the browser origins allowed to call the API.
	CORSOrigins []string
	// DevToken, when set, is filled into GraphiQL's Authorization header.
	DevToken string
	// Tracer, when set, receives a span per request, per operation and
	// per resolver (and, through database.Pool.Tracer, per statement).
	Tracer trace.TracerProvider
	// GraphQL holds the request limits, the persisted documents and
	// whether introspection is on; its Auth and Extensions are filled in
	// here.
	GraphQL graph.Options
	// GraphiQL serves the GraphiQL page at /.
	GraphiQL bool
	// Events carries task changes to subscribers, on every instance; nil
	// is this process alone.
	Events broker.Broker
	// Draining reports that shutdown has begun: /readyz answers 503, so a
	// load balancer stops sending requests here.
	Draining func() bool
	// RateLimit spends each operation's cost from its user's budget, and
	// a client address's for requests refused for their credentials; nil
	// is no limit.
	RateLimit ratelimit.Limiter
	// ClientAddr finds each request's client address (for its budget and
	// the access log); nil is the TCP peer's.
	ClientAddr *clientaddr.Resolver
}

// newServer returns the whole HTTP surface.
func newServer(logger *slog.Logger, db *database.DB, authn auth.Authenticator, opts serverOptions) http.Handler {
	if opts.Events == nil {
		opts.Events = broker.NewLocal(broker.Options{Logger: logger})
	}
	graph.PublishChanges(db.Client, opts.Events, logger)
	mux := http.NewServeMux()
	addRoutes(mux, logger, db, authn, telemetry.NewMetrics(db.PoolStats()), opts)
	// Answers of a kilobyte or more are compressed for clients that ask:
	// zstd or gzip at their fastest levels, which cost less CPU than
	// sending the bytes saves on a mobile link.
	compress, err := gzhttp.NewWrapper(gzhttp.MinSize(gzhttp.DefaultMinSize), gzhttp.CompressionLevel(gzip.BestSpeed))
	if err != nil {
		panic("gzhttp: " + err.Error()) // the options are constants
	}
	h := telemetry.AccessLog(logger, opts.ClientAddr.Of, compress(mux))
	if opts.Tracer != nil {
		// Outside the access log, so its line can name the trace; the
		// request reaches the mux as otelhttp made it, which names the
		// span by the route the mux picked.
		h = telemetry.TraceHTTP(opts.Tracer, h)
	}
	if len(opts.CORSOrigins) > 0 {
		// Preflight requests are answered here, before auth sees them.
		h = cors.New(cors.Options{
			AllowedOrigins: opts.CORSOrigins,
			AllowedMethods: []string{http.MethodGet, http.MethodPost},
			AllowedHeaders: []string{"Authorization", "Content-Type", "Accept", "Apollographql-Client-Name", "Apollographql-Client-Version",
				"Apollo-Require-Preflight", "X-Apollo-Operation-Name", telemetry.RequestIDHeader, "Traceparent", "Tracestate"},
			ExposedHeaders: []string{"WWW-Authenticate", "Retry-After", telemetry.RequestIDHeader},
			MaxAge:         600,
		}).Handler(h)
	}
	// Outermost: every answer carries an id, a preflight's included.
	return telemetry.AssignRequestID(h)
}

func addRoutes(mux *http.ServeMux, logger *slog.Logger, db *database.DB, authn auth.Authenticator, metrics *telemetry.Metrics, opts serverOptions) {
	gql := opts.GraphQL
	gql.Auth = authn
	gql.Origins = opts.CORSOrigins
	gql.Events = opts.Events
	gql.RateLimit = metrics.RateLimit(opts.RateLimit)
	gql.ClientAddr = opts.ClientAddr.Of
	gql.Extensions = []graphql.HandlerExtension{metrics.GraphQL(graph.DocumentName)}
	if opts.Tracer != nil {
		gql.Extensions = append(gql.Extensions, graph.Tracing(opts.Tracer))
	}
	// One route for every method: graph.NewHandler owns the whole of
	// /query's answers, 405 and 401 included.
	mux.Handle("/query", metrics.Instrument("/query", graph.NewHandler(logger, db.Client, gql)))
	mux.Handle("GET /metrics", metrics.Handler())
	if opts.GraphiQL {
		mux.Handle("GET /{$}", loopbackOr(playground.Handler(opts.DevToken), playground.Handler("")))
		mux.Handle("GET "+playground.AssetsPath, playground.Assets())
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if opts.Draining != nil && opts.Draining() {
			http.Error(w, "shutting down", http.StatusServiceUnavailable)
			return
		}
		if err := auth.Ready(authn); err != nil {
			http.Error(w, "token signing keys not loaded", http.StatusServiceUnavailable)
			return
		}
		if err := opts.Events.Ready(); err != nil {
			logger.WarnContext(r.Context(), "readyz: the event broker is down", "error", err)
			http.Error(w, "event broker unavailable", http.StatusServiceUnavailable)
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := db.Ping(ctx); err != nil {
			logger.WarnContext(ctx, "readyz: database does not answer", "error", err)
			http.Error(w, "database unavailable", http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("ok\n"))
	})
}

// loopbackOr serves local to requests from this machine that name this
// machine, and other to the rest: the development token is for a browser on
// the developer's machine, not for whoever else can reach the port, nor for
// a page of another site whose name was rebound to 127.0.0.1 (the browser
// then sends that site's name as Host).
func loopbackOr(local, other http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if fromLoopback(r) && loopbackHost(r.Host) {
			local.ServeHTTP(w, r)
			return
		}
		other.ServeHTTP(w, r)
	})
}

func fromLoopback(r *http.Request) bool {
	host, _, _ := net.SplitHostPort(r.RemoteAddr)
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// loopbackHost reports whether a Host header names this machine by a name
// no other site can hold: localhost, 127.0.0.1 or [::1], with any port.
func loopbackHost(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	} else {
		host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	}
	switch strings.ToLower(host) {
	case "localhost", "127.0.0.1", "::1":
		return true
	}
	return false
}
