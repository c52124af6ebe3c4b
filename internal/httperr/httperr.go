// Package httperr is how the portal's HTTP adapters (httpapi, tus) answer an error: one map from
// the domain's codes to HTTP statuses and one JSON body, so that a code answers alike on every
// route.
package httperr

import (
	"encoding/json"
	"net/http"

	"github.com/ingest-portal/ingest"
)

// Codes of HTTP matters, which live here and not among the domain's codes.
const (
	// MethodNotAllowed answers a known path asked with a method it does not take.
	MethodNotAllowed ingest.Code = "METHOD_NOT_ALLOWED"
	// RangeNotSatisfiable answers a download range wholly outside the file.
	RangeNotSatisfiable ingest.Code = "RANGE_NOT_SATISFIABLE"
	// ClientClosed: the client went away, or stopped sending, before its request's body was read
	// (internal/idleread). Nobody reads the answer; logs and metrics see StatusClientClosed, and
	// it is no fault of the portal's.
	ClientClosed ingest.Code = "CLIENT_CLOSED"
)

// StatusClientClosed is the status of ClientClosed, nginx's 499.
const StatusClientClosed = 499

// statuses maps every code a client of the API may see to its HTTP status (DESIGN.md §4). tus
// adds its own (docs/tus.md).
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
	ingest.EGrantLimitReached:   http.StatusForbidden,
	ingest.EQuotaExceeded:       http.StatusTooManyRequests,
	ingest.EStorageUnavailable:  http.StatusServiceUnavailable,
	ingest.EDatabaseUnavailable: http.StatusServiceUnavailable,
	MethodNotAllowed:            http.StatusMethodNotAllowed,
	RangeNotSatisfiable:         http.StatusRequestedRangeNotSatisfiable,
}

// Status returns the HTTP status of code, and false for a code no client may see (INTERNAL,
// CONSTRAINT_VIOLATION, or none): a fault of ours, answered as INTERNAL.
func Status(code ingest.Code) (int, bool) {
	if code == ClientClosed {
		return StatusClientClosed, true
	}
	status, ok := statuses[code]
	return status, ok
}

// Statuses returns a copy of the map of Status, for tests that check a document against it.
func Statuses() map[ingest.Code]int {
	out := make(map[ingest.Code]int, len(statuses))
	for code, status := range statuses {
		out[code] = status
	}
	return out
}

// Body is the JSON of every error answer.
type Body struct {
	Error Fields `json:"error"`
}

// Fields are an error answer's code, its message for people, and details for some codes.
type Fields struct {
	Code    ingest.Code    `json:"code"`
	Message string         `json:"message"`
	Details map[string]any `json:"details,omitempty"`
}

// UnavailableRetryAfter is the Retry-After, in seconds, of an answer saying that a dependency of
// the portal is unavailable: long enough for a retried burst not to add to an outage, short
// enough for a client to notice its end soon.
const UnavailableRetryAfter = "5"

// Write answers an error with status and its JSON body; an answer to HEAD has no body. An answer
// saying that a dependency is unavailable tells the client when to try again.
func Write(w http.ResponseWriter, r *http.Request, status int, f Fields) {
	if status == http.StatusServiceUnavailable && w.Header().Get("Retry-After") == "" {
		w.Header().Set("Retry-After", UnavailableRetryAfter)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	if r.Method == http.MethodHead {
		return
	}
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false) // answers are JSON, never embedded in HTML: keep "<token>" readable
	_ = enc.Encode(Body{f})
}
