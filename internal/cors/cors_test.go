package cors_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/ingest-portal/ingest/internal/cors"
)

const origin = "http://app.example.test"

// clientHeaders are the request headers that tus-js-client 4.3.1 (under Uppy's @uppy/tus too)
// can send: a preflight that left one out would make the browser block that client's uploads.
// X-Request-ID is its addRequestId option.
var clientHeaders = []string{"Authorization", "Content-Type", "Tus-Resumable", "Upload-Length",
	"Upload-Defer-Length", "Upload-Metadata", "Upload-Concat", "Upload-Offset", "X-HTTP-Method-Override",
	"X-Request-ID"}

func preflight(t *testing.T, h http.Handler, origin, method string, headers []string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(http.MethodOptions, "/tus/", nil)
	req.Header.Set("Origin", origin)
	req.Header.Set("Access-Control-Request-Method", method)
	// As Chromium sends it: lower case, sorted, comma-separated.
	req.Header.Set("Access-Control-Request-Headers", strings.ToLower(strings.Join(headers, ",")))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w
}

// allows reports whether a comma-separated header list names h (header names are
// case-insensitive).
func allows(list, h string) bool {
	for item := range strings.SplitSeq(list, ",") {
		if strings.EqualFold(strings.TrimSpace(item), h) {
			return true
		}
	}
	return false
}

func TestPreflightAllowsEveryTusClientHeader(t *testing.T) {
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("a preflight reached the handler behind CORS: %s %s", r.Method, r.URL)
	})
	h := cors.Handler([]string{origin}, next)
	for _, method := range []string{"POST", "PATCH", "HEAD", "DELETE"} {
		w := preflight(t, h, origin, method, clientHeaders)
		if w.Code != http.StatusNoContent || w.Header().Get("Access-Control-Allow-Origin") != origin {
			t.Fatalf("preflight of %s: %d %v", method, w.Code, w.Header())
		}
		if !allows(w.Header().Get("Access-Control-Allow-Methods"), method) {
			t.Errorf("preflight of %s: Access-Control-Allow-Methods %q", method, w.Header().Get("Access-Control-Allow-Methods"))
		}
		for _, header := range clientHeaders {
			if !allows(w.Header().Get("Access-Control-Allow-Headers"), header) {
				t.Errorf("preflight of %s: Access-Control-Allow-Headers %q lacks %s", method, w.Header().Get("Access-Control-Allow-Headers"), header)
			}
		}
	}
}

func TestOtherOriginGetsNoAllowance(t *testing.T) {
	reached := false
	h := cors.Handler([]string{origin}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached = true
		w.WriteHeader(http.StatusNoContent)
	}))
	w := preflight(t, h, "http://other.example.test", "PATCH", clientHeaders)
	for _, name := range []string{"Access-Control-Allow-Origin", "Access-Control-Allow-Headers", "Access-Control-Allow-Methods"} {
		if v := w.Header().Get(name); v != "" {
			t.Errorf("another origin's preflight got %s: %q", name, v)
		}
	}
	if !reached {
		t.Error("another origin's OPTIONS did not reach the handler (tus discovery answers it)")
	}
}
