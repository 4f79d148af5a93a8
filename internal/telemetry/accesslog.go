package telemetry

import (
	"log/slog"
	"net/http"
	"net/netip"
	"time"
)

// AccessLog logs one line per request at info level, and probes'
// (/healthz, /readyz, /metrics) at debug, since an orchestrator and a
// scraper call them every few seconds: LOG_LEVEL=warn turns it off. It
// never logs headers or bodies: they carry tokens and tasks.
//
// client is the request's client address (behind trusted proxies, the one
// they forwarded); remote stays the TCP peer's.
func AccessLog(logger *slog.Logger, client func(*http.Request) netip.Addr, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		level := slog.LevelInfo
		if isProbe(r.URL.Path) {
			level = slog.LevelDebug
		}
		if !logger.Enabled(r.Context(), level) {
			next.ServeHTTP(w, r)
			return
		}
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(rec, r)
		logger.LogAttrs(r.Context(), level, "request",
			slog.String("method", r.Method),
			slog.String("path", r.URL.Path),
			slog.Int("status", rec.status),
			slog.Int("bytes", rec.bytes),
			slog.Duration("duration", time.Since(start)),
			slog.String("remote", r.RemoteAddr),
			slog.String("client", client(r).String()),
			slog.String("request_id", RequestID(r.Context())),
		)
	})
}

// isProbe reports whether path is one of the paths machines poll.
func isProbe(path string) bool {
	switch path {
	case "/healthz", "/readyz", "/metrics":
		return true
	}
	return false
}

// statusRecorder notes what a handler answered.
type statusRecorder struct {
	http.ResponseWriter
	status int
	bytes  int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	n, err := s.ResponseWriter.Write(b)
	s.bytes += n
	return n, err
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }
