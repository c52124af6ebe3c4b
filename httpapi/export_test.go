package httpapi

import (
	"net/http"
)

// WriteError exposes writeError to the external tests.
func (s *Server) WriteError(w http.ResponseWriter, r *http.Request, err error) {
	s.writeError(w, r, err)
}
