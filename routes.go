package main

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/rs/cors"

	"github.com/taskapi/server/graph"
	"github.com/taskapi/server/internal/auth"
	"github.com/taskapi/server/internal/database"
	"github.com/taskapi/server/internal/playground"
	"github.com/taskapi/server/internal/telemetry"
)

// serverOptions are the optional parts of the HTTP surface.
type serverOptions struct {
	// CORSOrigins are the browser origins allowed to call the API.
	CORSOrigins []string
	// DevToken, when set, is filled into GraphiQL's Authorization header.
	DevToken string
}

// newServer returns the whole HTTP surface.
func newServer(logger *slog.Logger, db *database.DB, verifier *auth.Verifier, opts serverOptions) http.Handler {
	mux := http.NewServeMux()
	addRoutes(mux, logger, db, verifier, telemetry.NewMetrics(db.SQL), opts.DevToken)
	var h http.Handler = mux
	if len(opts.CORSOrigins) > 0 {
		// Preflight requests are answered here, before auth sees them.
		h = cors.New(cors.Options{
			AllowedOrigins: opts.CORSOrigins,
			AllowedMethods: []string{http.MethodGet, http.MethodPost},
			AllowedHeaders: []string{"Authorization", "Content-Type", "Accept", "Apollographql-Client-Name", "Apollographql-Client-Version"},
			ExposedHeaders: []string{"WWW-Authenticate"},
			MaxAge:         600,
		}).Handler(h)
	}
	return h
}

func addRoutes(mux *http.ServeMux, logger *slog.Logger, db *database.DB, verifier *auth.Verifier, metrics *telemetry.Metrics, devToken string) {
	api := metrics.Instrument("/query", verifier.Middleware(graph.NewHandler(logger, db.Client, metrics.GraphQL())))
	mux.Handle("GET /query", api)
	mux.Handle("POST /query", api)
	// A GET route also takes HEAD; GraphQL has nothing to say to it.
	mux.HandleFunc("HEAD /query", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", "GET, POST")
		w.WriteHeader(http.StatusMethodNotAllowed)
	})
	mux.Handle("GET /metrics", metrics.Handler())
	mux.Handle("GET /{$}", playground.Handler(devToken))
	mux.Handle("GET "+playground.AssetsPath, playground.Assets())
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
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
