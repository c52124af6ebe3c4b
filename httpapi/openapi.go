package httpapi

import (
	_ "embed"
	"net/http"

	"github.com/ingest-portal/ingest"
)

// openAPIDocument is the OpenAPI 3.1 description of this API; a test keeps it true to the routes.
//
//go:embed openapi.json
var openAPIDocument []byte

func (s *Server) openAPI(w http.ResponseWriter, r *http.Request, _ *ingest.User) error {
	w.Header().Set("Content-Type", "application/json")
	_, err := w.Write(openAPIDocument)
	return err
}
