package ingest

import (
	"time"

	"github.com/google/uuid"
)

// SessionStatus is the state of an upload session.
type SessionStatus string

// The states of an upload session. COMPLETE, FAILED and ABORTED are terminal.
const (
	SessionInit       SessionStatus = "INIT"
	SessionInProgress SessionStatus = "IN_PROGRESS"
	SessionComplete   SessionStatus = "COMPLETE"
	SessionFailed     SessionStatus = "FAILED"  // expired, checksum mismatch, unrecoverable storage error
	SessionAborted    SessionStatus = "ABORTED" // by the client, or by cancelling its batch
)

var sessionMachine = machine[SessionStatus]{
	entity: "upload session",
	code:   ESessionNotActive,
	states: []SessionStatus{SessionInit, SessionInProgress, SessionComplete, SessionFailed, SessionAborted},
	next: map[SessionStatus][]SessionStatus{
		SessionInit:       {SessionInProgress, SessionComplete, SessionAborted, SessionFailed},
		SessionInProgress: {SessionComplete, SessionAborted, SessionFailed},
	},
}

// SessionStatuses returns every session status.
func SessionStatuses() []SessionStatus { return sessionMachine.states }

// Valid reports whether s is a session status.
func (s SessionStatus) Valid() bool { return sessionMachine.valid(s) }

// Terminal reports whether nothing can follow s.
func (s SessionStatus) Terminal() bool { return sessionMachine.terminal(s) }

// Active reports whether the session still takes parts: INIT or IN_PROGRESS.
func (s SessionStatus) Active() bool { return s == SessionInit || s == SessionInProgress }

// CanBecome reports whether the session state machine allows s → to.
func (s SessionStatus) CanBecome(to SessionStatus) bool { return sessionMachine.allows(s, to) }

// SessionSources returns the states from which a session may become to.
func SessionSources(to SessionStatus) []SessionStatus { return sessionMachine.sources(to) }

// CheckSessionTransition returns a *TransitionError (code SESSION_NOT_ACTIVE) unless from → to is
// allowed.
func CheckSessionTransition(id uuid.UUID, from, to SessionStatus) error {
	return sessionMachine.check(id, from, to)
}

// MaxParts is the most parts one upload may have, as in S3 multipart upload.
const MaxParts = 10000

// UploadSession is the resumable upload of one file, in numbered parts of ChunkSizeBytes (the last
// part holds the remainder).
type UploadSession struct {
	ID                 uuid.UUID
	CreatedAt          time.Time
	UpdatedAt          time.Time
	FileID             uuid.UUID
	Status             SessionStatus
	ChunkSizeBytes     int64
	TotalParts         int
	ReceivedPartsCount int
	IdempotencyKey     string // per user; "" when the client sent none
	UploadedByID       uuid.UUID
	ExpiresAt          time.Time
	DeclaredSHA256     string // the client's whole-file hash, verified at completion; may be ""
	// HashState is the marshalled SHA-256 state after the first HashedParts parts, so that
	// completing an in-order upload reads nothing back (DESIGN.md §3).
	HashState   []byte
	HashedParts int
	// StorageUploadID is the blob store's handle on the upload in progress, such as an S3
	// multipart upload id.
	StorageUploadID string
	CompletedAt     *time.Time

	// Streamed is set for an upload whose bytes arrive as one stream, in order (tus): OffsetBytes
	// counts the durable bytes received, HashState covers exactly them, and TailCRC32C is the
	// CRC32C of the bytes of the part in progress (those after the last whole part).
	Streamed    bool
	OffsetBytes int64
	TailCRC32C  uint32
	// LengthDeferred is set while a streamed upload's size is not known yet: its file's size is
	// 0, its parts have ChunkSizeBytes each and TotalParts is MaxParts until the size is declared.
	LengthDeferred bool
	// Partial marks a streamed upload that is only ever a piece of another (tus concatenation):
	// its file is never STORED and never announced.
	Partial bool
	// TusMetadata and TusConcat are the tus Upload-Metadata and Upload-Concat (of a final upload)
	// headers as the client sent them, "" for none: tus answers them on HEAD as received. A session
	// with a TusConcat is the concatenation of others and takes no bytes of its own.
	TusMetadata string
	TusConcat   string
}

// TotalParts returns how many parts of chunk bytes a file of size bytes has: ceil(size/chunk),
// 0 for an empty file.
func TotalParts(size, chunk int64) int {
	return int((size + chunk - 1) / chunk)
}

// PartSize returns the size of part n (1-based) of a file of size bytes in parts of chunk bytes:
// chunk, or the remainder for the last part.
func PartSize(size, chunk int64, n int) int64 {
	return min(chunk, size-int64(n-1)*chunk)
}

// ValidateUpload checks a new file and its session against each other and the limits: sizes,
// part counts, hashes, names. It returns EValidation with the first problem found.
func ValidateUpload(f *File, s *UploadSession) error {
	switch {
	case s.LengthDeferred && (!s.Streamed || f.SizeBytes != 0):
		return Errorf(EValidation, "only a streamed upload of size 0 may defer its length")
	case s.Partial != f.Partial || (s.Partial && (!s.Streamed || f.BatchID != nil)):
		return Errorf(EValidation, "a partial upload is streamed and belongs to no batch")
	case f.SizeBytes < 0:
		return Errorf(EValidation, "size_bytes %d is negative", f.SizeBytes)
	case s.ChunkSizeBytes <= 0:
		return Errorf(EValidation, "chunk_size_bytes %d must be positive", s.ChunkSizeBytes)
	case s.TotalParts != s.plannedParts(f.SizeBytes):
		return Errorf(EValidation, "total_parts %d is not ceil(%d / %d)", s.TotalParts, f.SizeBytes, s.ChunkSizeBytes)
	case s.TotalParts > MaxParts:
		return Errorf(EValidation, "a file of %d bytes in parts of %d bytes has %d parts, more than %d", f.SizeBytes, s.ChunkSizeBytes, s.TotalParts, MaxParts)
	case f.OriginalFilename == "" || len(f.OriginalFilename) > MaxFilenameLength:
		return Errorf(EValidation, "the file name must have 1 to %d bytes", MaxFilenameLength)
	case len(f.ContentType) > MaxContentTypeLength:
		return Errorf(EValidation, "the content type must have at most %d bytes", MaxContentTypeLength)
	case len(s.IdempotencyKey) > MaxIdempotencyKeyLength:
		return Errorf(EValidation, "an idempotency key has at most %d bytes", MaxIdempotencyKeyLength)
	case len(s.TusMetadata) > MaxTusMetadataLength:
		return Errorf(EValidation, "Upload-Metadata has at most %d bytes", MaxTusMetadataLength)
	case len(s.TusConcat) > MaxTusConcatLength:
		return Errorf(EValidation, "Upload-Concat has at most %d bytes", MaxTusConcatLength)
	case s.DeclaredSHA256 != "":
		if err := ValidateSHA256(s.DeclaredSHA256); err != nil {
			return err
		}
	}
	return ValidateMetadata(f.Metadata)
}

// plannedParts is the part count a session of a file of size bytes must have.
func (s *UploadSession) plannedParts(size int64) int {
	if s.LengthDeferred {
		return MaxParts
	}
	return TotalParts(size, s.ChunkSizeBytes)
}

// MaxIdempotencyKeyLength bounds a client's idempotency key, in bytes.
const MaxIdempotencyKeyLength = 255

// MaxTusMetadataLength and MaxTusConcatLength bound the tus headers a session keeps, in bytes:
// metadata within the file metadata limits takes less than half, and a concatenation of hundreds
// of partial uploads fits.
const (
	MaxTusMetadataLength = 16 << 10
	MaxTusConcatLength   = 64 << 10
)
