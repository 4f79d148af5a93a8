package telemetry

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestAssignRequestID(t *testing.T) {
	for _, tc := range []struct {
		name, sent string
		kept       bool
	}{
		{"none sent: one is made", "", false},
		{"a well-formed one is kept", "a1.B2_c3-d4", true},
		{"a newline is replaced", "a\nb", false},
		{"a non-ASCII letter is replaced", "café", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var inCtx string
			h := AssignRequestID(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				inCtx = RequestID(r.Context())
			}))
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			if tc.sent != "" {
				r.Header.Set(RequestIDHeader, tc.sent)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			got := w.Header().Get(RequestIDHeader)
			if got == "" || got != inCtx {
				t.Fatalf("header %q, context %q; want one id in both", got, inCtx)
			}
			if (got == tc.sent) != tc.kept {
				t.Errorf("sent %q, got %q; want it kept: %v", tc.sent, got, tc.kept)
			}
		})
	}
	if id := RequestID(t.Context()); id != "" {
		t.Errorf("RequestID outside a request = %q, want empty", id)
	}
}
