package httpapi

import (
	"net/http"

	"github.com/ingest-portal/ingest"
	"github.com/ingest-portal/ingest/internal/httperr"
)

// writeError answers err. A code with no status here (INTERNAL, CONSTRAINT_VIOLATION, or an
// error with no code at all) is a fault of ours: the client gets INTERNAL and nothing more, the
// log gets everything.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	code := ingest.ErrorCode(err)
	status, known := httperr.Status(code)
	if !known {
		s.logger.Error("internal error", "method", r.Method, "path", r.URL.Path, "err", err)
		httperr.Write(w, r, http.StatusInternalServerError, httperr.Fields{Code: ingest.EInternal, Message: "internal error"})
		return
	}
	switch {
	case code == httperr.ClientClosed:
		s.logger.Info("the client closed the request", "method", r.Method, "path", r.URL.Path, "code", code, "err", err)
	case status >= 500:
		s.logger.Error("request failed", "method", r.Method, "path", r.URL.Path, "code", code, "err", err)
	}
	httperr.Write(w, r, status, httperr.Fields{Code: code, Message: ingest.ErrorMessage(err), Details: ingest.ErrorDetails(err)})
}
