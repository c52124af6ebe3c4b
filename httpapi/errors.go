package httpapi

import (
	"net/http"

	"github.com/ingest-portal/ingest"
)

// codeMethodNotAllowed answers a known path asked with a method it does not take. It is an HTTP
// matter, so it lives here and not among the domain's codes.
const codeMethodNotAllowed ingest.Code = "METHOD_NOT_ALLOWED"

// codeRangeNotSatisfiable answers a download range wholly outside the file.
const codeRangeNotSatisfiable ingest.Code = "RANGE_NOT_SATISFIABLE"

// statuses maps every code a client may see to its HTTP status (DESIGN.md §4).
var statuses = map[ingest.Code]int{
	ingest.EUnauthenticated:     http.StatusUnauthorized,
	ingest.EForbidden:           http.StatusForbidden,
	ingest.ENotFound:            http.StatusNotFound,
	ingest.EValidation:          http.StatusBadRequest,
	ingest.EPartSizeMismatch:    http.StatusBadRequest,
	ingest.EPayloadTooLarge:     http.StatusRequestEntityTooLarge,
	ingest.EIdempotencyConflict: http.StatusConflict,
	ingest.EPartAlreadyReceived: http.StatusConflict,
	ingest.ESessionNotActive:    http.StatusConflict,
	ingest.EMissingParts:        http.StatusConflict,
	ingest.EBatchNotOpen:        http.StatusConflict,
	ingest.ESessionExpired:      http.StatusGone,
	ingest.EChecksumMismatch:    http.StatusUnprocessableEntity,
	ingest.ERateLimited:         http.StatusTooManyRequests,
	ingest.EConflict:            http.StatusConflict,
	ingest.EInvalidTransition:   http.StatusConflict,
	codeMethodNotAllowed:        http.StatusMethodNotAllowed,
	codeRangeNotSatisfiable:     http.StatusRequestedRangeNotSatisfiable,
}

// errorBody is the JSON of every error answer.
type errorBody struct {
	Error errorFields `json:"error"`
}

type errorFields struct {
	Code    ingest.Code    `json:"code"`
	Message string         `json:"message"`
	Details map[string]any `json:"details,omitempty"`
}

// writeError answers err. A code with no status here (INTERNAL, CONSTRAINT_VIOLATION, or an
// error with no code at all) is a fault of ours: the client gets INTERNAL and nothing more, the
// log gets everything.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	code := ingest.ErrorCode(err)
	status, known := statuses[code]
	if !known {
		s.logger.Error("internal error", "method", r.Method, "path", r.URL.Path, "err", err)
		writeJSON(w, http.StatusInternalServerError, errorBody{errorFields{Code: ingest.EInternal, Message: "internal error"}})
		return
	}
	if status >= 500 {
		s.logger.Error("request failed", "method", r.Method, "path", r.URL.Path, "code", code, "err", err)
	}
	writeJSON(w, status, errorBody{errorFields{Code: code, Message: ingest.ErrorMessage(err), Details: ingest.ErrorDetails(err)}})
}
