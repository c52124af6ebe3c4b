package httpapi

import (
	"github.com/ingest-portal/ingest/internal/httperr"

	"net/http"
)

// WriteError exposes writeError to the external tests.
func (s *Server) WriteError(w http.ResponseWriter, r *http.Request, err error) {
	s.writeError(w, r, err)
}

// Route is one entry of the routes table, for the tests that keep the OpenAPI document true.
type Route struct {
	Method, Pattern string
	Public          bool // no token needed
}

// Routes returns the routes table.
func Routes() []Route {
	out := make([]Route, len(routes))
	for i, rt := range routes {
		out[i] = Route{Method: rt.method, Pattern: rt.pattern, Public: rt.public}
	}
	return out
}

// Statuses returns every error code that answers with a status of its own, and that status. Any
// other code reaches the client as INTERNAL, 500.
func Statuses() map[string]int {
	out := map[string]int{}
	for code, status := range httperr.Statuses() {
		out[string(code)] = status
	}
	return out
}
