// Package telemetry is what operators watch: Prometheus metrics, and
// OpenTelemetry traces when an OTLP endpoint is configured.
package telemetry

import (
	"context"
	"net/http"

	"github.com/99designs/gqlgen/graphql"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/taskapi/server/internal/ratelimit"
)

// Metrics holds the server's Prometheus registry and instruments. It has
// its own registry, so tests can make as many as they like.
type Metrics struct {
	reg        *prometheus.Registry
	requests   *prometheus.HistogramVec
	operations *prometheus.CounterVec
	refusals   *prometheus.CounterVec
}

// NewMetrics registers the Go runtime, the process, the database pool
// (pool, its statistics' collector) and the server's own instruments.
func NewMetrics(pool prometheus.Collector) *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "tasks_http_request_duration_seconds",
			Help:    "Time to answer an HTTP request, by route, method and status code.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"route", "method", "code"}),
		operations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tasks_graphql_operations_total",
			Help: "GraphQL operations, by type, by persisted document (its manifest name, or free-form for a document sent as text), and by outcome: ok, or the first error's code.",
		}, []string{"type", "document", "outcome"}),
		refusals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tasks_rate_limit_refusals_total",
			Help: "Requests refused by a rate limit, by key: user (an authenticated user's budget) or address (a client address's budget for requests without valid credentials).",
		}, []string{"key"}),
	}
	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		pool,
		m.requests,
		m.operations,
		m.refusals,
	)
	return m
}

// RateLimit returns l counting its refusals, and registers the gauge
// tasks_rate_limit_degraded: 1 while a shared limiter serves budgets per
// instance because its store (Redis) is away. A nil l stays nil.
func (m *Metrics) RateLimit(l ratelimit.Limiter) ratelimit.Limiter {
	if l == nil {
		return nil
	}
	degraded, _ := l.(interface{ Degraded() bool })
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "tasks_rate_limit_degraded",
		Help: "1 while rate limits are kept per instance because the store they share (Redis) does not answer; 0 otherwise.",
	}, func() float64 {
		if degraded != nil && degraded.Degraded() {
			return 1
		}
		return 0
	}))
	return countedLimiter{l, m.refusals.WithLabelValues("user"), m.refusals.WithLabelValues("address")}
}

type countedLimiter struct {
	ratelimit.Limiter
	user, address prometheus.Counter
}

func (c countedLimiter) Allow(ctx context.Context, key string, cost int) (ratelimit.Result, error) {
	res, err := c.Limiter.Allow(ctx, key, cost)
	if err == nil && !res.Allowed {
		if ratelimit.IsAddrKey(key) {
			c.address.Inc()
		} else {
			c.user.Inc()
		}
	}
	return res, err
}

// Handler serves the metrics in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// Instrument times every request to h under the fixed route label, so
// label values stay few whatever paths clients send.
func (m *Metrics) Instrument(route string, h http.Handler) http.Handler {
	return promhttp.InstrumentHandlerDuration(m.requests.MustCurryWith(prometheus.Labels{"route": route}), h)
}

// FreeForm is the document label of operations sent as text: one label
// for all of them, so that clients cannot add label values.
const FreeForm = "free-form"

// GraphQL returns a gqlgen extension that counts operations by outcome.
// documentName names the persisted document a request ran, "" for text;
// its names come from the server's manifests, so they are bounded too.
func (m *Metrics) GraphQL(documentName func(context.Context) string) graphql.HandlerExtension {
	return operationCounter{m.operations, documentName}
}

type operationCounter struct {
	c            *prometheus.CounterVec
	documentName func(context.Context) string
}

func (operationCounter) ExtensionName() string                   { return "OperationMetrics" }
func (operationCounter) Validate(graphql.ExecutableSchema) error { return nil }

func (o operationCounter) InterceptResponse(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
	resp := next(ctx)
	typ := "unknown"
	if oc := graphql.GetOperationContext(ctx); oc != nil && oc.Operation != nil {
		typ = string(oc.Operation.Operation)
	}
	if resp != nil && len(resp.Path) > 0 || resp == nil && typ == string(ast.Query) {
		// A @defer payload, or the end of a query's payloads (its deadline
		// came first): part of an operation already counted.
		return resp
	}
	outcome := "ok"
	if resp != nil && len(resp.Errors) > 0 {
		outcome = "error"
		if code, ok := resp.Errors[0].Extensions["code"].(string); ok {
			outcome = code
		}
	}
	doc := o.documentName(ctx)
	if doc == "" {
		doc = FreeForm
	}
	o.c.WithLabelValues(typ, doc, outcome).Inc()
	return resp
}
