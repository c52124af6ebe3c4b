// Package httpapi is the portal's HTTP interface: routes, JSON, and the one place where error codes
// become HTTP statuses. Clients see an error's code and message; an unexpected error reaches them
// as INTERNAL with nothing more, and its detail goes to the log.
package httpapi

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"time"

	"github.com/ingest-portal/ingest"
)

// Check is one dependency that /readyz verifies, such as the database.
type Check struct {
	Name  string
	Probe func(ctx context.Context) error
}

// Server is the portal's HTTP handler.
type Server struct {
	mux    *http.ServeMux
	logger *slog.Logger
	checks []Check
}

// New returns the handler. checks are what /readyz verifies.
func New(logger *slog.Logger, checks ...Check) *Server {
	s := &Server{mux: http.NewServeMux(), logger: logger, checks: checks}
	s.mux.HandleFunc("GET /healthz", s.healthz)
	s.mux.HandleFunc("GET /readyz", s.readyz)
	return s
}

// ServeHTTP implements http.Handler. Requests no route matches get the API's JSON errors, not
// the mux's plain text.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// Routing twice is cheap; serving through the mux itself is what fills in r.PathValue.
	h, pattern := s.mux.Handler(r)
	if pattern != "" {
		s.mux.ServeHTTP(w, r)
		return
	}
	// The mux answers 405 with an Allow header when the path exists under another method.
	rec := &statusRecorder{header: http.Header{}}
	h.ServeHTTP(rec, r)
	if rec.status == http.StatusMethodNotAllowed {
		w.Header().Set("Allow", rec.header.Get("Allow"))
		s.writeError(w, r, &ingest.Error{Code: codeMethodNotAllowed, Message: r.Method + " is not allowed on " + r.URL.Path})
		return
	}
	s.writeError(w, r, ingest.Errorf(ingest.ENotFound, "no route for %s %s", r.Method, r.URL.Path))
}

// statusRecorder catches what the mux's fallback handler would answer, to answer it in JSON.
type statusRecorder struct {
	header http.Header
	status int
}

func (r *statusRecorder) Header() http.Header         { return r.header }
func (r *statusRecorder) Write(b []byte) (int, error) { return len(b), nil }
func (r *statusRecorder) WriteHeader(status int)      { r.status = status }

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// readyz answers 200 when every check passes and 503 otherwise, naming the failed checks but not
// why: the reason goes to the log.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	status, results := http.StatusOK, map[string]string{}
	for _, c := range s.checks {
		if err := c.Probe(ctx); err != nil {
			s.logger.Warn("readiness check failed", "check", c.Name, "err", err)
			status, results[c.Name] = http.StatusServiceUnavailable, "unavailable"
			continue
		}
		results[c.Name] = "ok"
	}
	state := "ok"
	if status != http.StatusOK {
		state = "unavailable"
	}
	writeJSON(w, status, map[string]any{"status": state, "checks": results})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
