package ingest

import (
	"errors"
	"fmt"
)

// Code is a stable, machine-readable error code. Clients branch on codes, never on messages, so
// a code, once published, is never renamed. Only the HTTP layer maps codes to status codes.
type Code string

// The error codes of the portal. DESIGN.md §4 lists the ones the HTTP API answers with; CONFLICT,
// INVALID_TRANSITION and CONSTRAINT_VIOLATION are documented additions (docs/models.md).
const (
	EUnauthenticated     Code = "UNAUTHENTICATED"
	EForbidden           Code = "FORBIDDEN"
	ENotFound            Code = "NOT_FOUND"
	EValidation          Code = "VALIDATION_FAILED"
	EPartSizeMismatch    Code = "PART_SIZE_MISMATCH"
	EPayloadTooLarge     Code = "PAYLOAD_TOO_LARGE"
	EIdempotencyConflict Code = "IDEMPOTENCY_CONFLICT"
	EPartAlreadyReceived Code = "PART_ALREADY_RECEIVED"
	ESessionNotActive    Code = "SESSION_NOT_ACTIVE"
	EMissingParts        Code = "MISSING_PARTS"
	EBatchNotOpen        Code = "BATCH_NOT_OPEN"
	ESessionExpired      Code = "SESSION_EXPIRED"
	EChecksumMismatch    Code = "CHECKSUM_MISMATCH"
	ERateLimited         Code = "RATE_LIMITED"
	EInternal            Code = "INTERNAL"

	// EOffsetMismatch: bytes sent to a streamed upload (tus) at an offset other than the one it
	// has reached.
	EOffsetMismatch Code = "OFFSET_MISMATCH"
	// EUploadLocked: another request is writing to the streamed upload now; retry later.
	EUploadLocked Code = "UPLOAD_LOCKED"

	// EStorageUnavailable: the blob storage failed, or did not answer in time, after the retries
	// its client makes; nothing of the request was recorded, so the client sends it again later.
	EStorageUnavailable Code = "STORAGE_UNAVAILABLE"
	// EDatabaseUnavailable: the database server refused, or did not answer, a new connection. The
	// statement that needed it did not run, but others of the same request may have committed.
	EDatabaseUnavailable Code = "DATABASE_UNAVAILABLE"

	// EGrantLimitReached: an upload grant has no file, or not enough bytes, left for the upload.
	EGrantLimitReached Code = "GRANT_LIMIT_REACHED"

	// EQuotaExceeded: the user already has as many uploads in progress, or as many bytes declared
	// by them, as the portal lets one user have at once (UploadQuota); it passes as they finish.
	EQuotaExceeded Code = "QUOTA_EXCEEDED"

	// EConflict: a unique value (a username, a token hash) is already taken, or a fenced update
	// lost its lease to a newer attempt.
	EConflict Code = "CONFLICT"
	// EInvalidTransition: a state machine refused a transition that no more specific code covers.
	EInvalidTransition Code = "INVALID_TRANSITION"
	// EConstraintViolation: the database itself refused a row (CHECK, trigger, foreign key). The
	// service validates first, so reaching the database with such a row is a bug; clients see
	// INTERNAL.
	EConstraintViolation Code = "CONSTRAINT_VIOLATION"
)

// Error is the portal's error: a code for programs, a message for people, optional details (for
// example the missing part numbers) and optionally the underlying cause, which is logged but never
// shown to a client.
type Error struct {
	Code    Code
	Message string
	Details map[string]any
	Err     error
}

// Errorf returns an *Error with the given code and a formatted message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Error implements the error interface. It includes the cause, so it is for logs only.
func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Err)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// coded is what ErrorCode looks for: any error that knows its own code.
type coded interface {
	error
	ErrorCode() Code
	ErrorMessage() string
}

// ErrorCode implements coded.
func (e *Error) ErrorCode() Code { return e.Code }

// ErrorMessage implements coded.
func (e *Error) ErrorMessage() string { return e.Message }

// ErrOutcomeUnknown marks the error of a write that committed but could not be made durable (the
// disk failed to flush): readers may have seen it, yet it may be gone after a power cut. Its
// caller must not undo what the write recorded, such as deleting the object of a stored file.
var ErrOutcomeUnknown = errors.New("the write committed but may not be durable")

// ErrorCode returns the code of the first coded error in err's chain, EInternal for any other
// non-nil error and "" for nil.
func ErrorCode(err error) Code {
	if err == nil {
		return ""
	}
	var c coded
	if errors.As(err, &c) {
		return c.ErrorCode()
	}
	return EInternal
}

// ErrorMessage returns the client-safe message of err: the message of its coded error, or
// "internal error" for anything else, whose text may hold internals.
func ErrorMessage(err error) string {
	var c coded
	if errors.As(err, &c) {
		return c.ErrorMessage()
	}
	return "internal error"
}

// ErrorDetails returns the details of the first *Error in err's chain, or nil.
func ErrorDetails(err error) map[string]any {
	var e *Error
	if errors.As(err, &e) {
		return e.Details
	}
	return nil
}
