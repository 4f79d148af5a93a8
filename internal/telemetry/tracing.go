package telemetry

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// ServiceName is the service.name of traces, unless OTEL_SERVICE_NAME says otherwise.
const ServiceName = "tasks-api"

// NewTracerProvider exports traces over OTLP/HTTP when
// OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is set;
// the exporter and the SDK read the other standard OTEL_* variables
// (OTEL_TRACES_SAMPLER included) themselves. Without an endpoint it returns
// nil and nothing is traced. Otherwise it also installs, process-wide, the
// provider, the W3C propagators and an error handler that sends the SDK's
// own errors (an exporter that cannot reach its collector) to logger.
// Shutdown flushes the provider.
func NewTracerProvider(ctx context.Context, getenv func(string) string, logger *slog.Logger) (*sdktrace.TracerProvider, error) {
	if getenv("OTEL_EXPORTER_OTLP_ENDPOINT") == "" && getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") == "" {
		return nil, nil
	}
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) {
		logger.Warn("opentelemetry", "error", err)
	}))
	exp, err := otlptracehttp.New(ctx)
	if err != nil {
		return nil, fmt.Errorf("creating OTLP trace exporter: %w", err)
	}
	res, err := resource.New(ctx,
		resource.WithAttributes(attribute.String("service.name", ServiceName)),
		resource.WithFromEnv(),
		resource.WithTelemetrySDK(),
	)
	if err != nil {
		return nil, fmt.Errorf("describing the service for traces: %w", err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(Propagator())
	return tp, nil
}

// Propagator reads and writes W3C trace context (traceparent, tracestate)
// and baggage: a client's traceparent continues its trace here.
func Propagator() propagation.TextMapPropagator {
	return propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})
}

// TraceHTTP gives each request a server span in tp, continuing the trace of
// a client's traceparent. The span is named by the ServeMux pattern that
// served it ("POST /query"), never by the raw path, so next must hand the
// request it was given to the mux unchanged (r.WithContext would hide the
// pattern). Attributes are otelhttp's: method, route, path, status, peer
// and user agent; no header other than User-Agent, no query string, no
// body.
//
// WebSocket upgrades get no span: a socket lives for hours, and each
// operation over it is a trace of its own (graph.Tracing's operation span).
func TraceHTTP(tp trace.TracerProvider, next http.Handler) http.Handler {
	return otelhttp.NewHandler(next, "http",
		otelhttp.WithTracerProvider(tp),
		otelhttp.WithPropagators(Propagator()),
		otelhttp.WithFilter(func(r *http.Request) bool {
			return !strings.EqualFold(r.Header.Get("Upgrade"), "websocket")
		}),
	)
}

// TraceID is the id of the trace ctx is part of, or "" when it is in none
// (tracing is off).
func TraceID(ctx context.Context) string {
	sc := trace.SpanContextFromContext(ctx)
	if !sc.IsValid() {
		return ""
	}
	return sc.TraceID().String()
}
