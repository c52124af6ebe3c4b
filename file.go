package ingest

import (
	"regexp"
	"time"

	"github.com/google/uuid"
)

// FileStatus is the state of an ingest file.
type FileStatus string

// The states of an ingest file. Nothing leaves STORED or FAILED.
const (
	FileUploading FileStatus = "UPLOADING"
	FileStored    FileStatus = "STORED"
	FileFailed    FileStatus = "FAILED"
)

var fileMachine = machine[FileStatus]{
	entity: "ingest file",
	code:   EInvalidTransition,
	states: []FileStatus{FileUploading, FileStored, FileFailed},
	next: map[FileStatus][]FileStatus{
		FileUploading: {FileStored, FileFailed},
	},
}

// FileStatuses returns every file status.
func FileStatuses() []FileStatus { return fileMachine.states }

// Valid reports whether s is a file status.
func (s FileStatus) Valid() bool { return fileMachine.valid(s) }

// Terminal reports whether nothing can follow s.
func (s FileStatus) Terminal() bool { return fileMachine.terminal(s) }

// CanBecome reports whether the file state machine allows s → to.
func (s FileStatus) CanBecome(to FileStatus) bool { return fileMachine.allows(s, to) }

// CheckFileTransition returns a *TransitionError (code INVALID_TRANSITION) unless from → to is
// allowed.
func CheckFileTransition(id uuid.UUID, from, to FileStatus) error {
	return fileMachine.check(id, from, to)
}

// StorageBackend names where a file's bytes live.
type StorageBackend string

// The storage backends.
const (
	StorageLocal StorageBackend = "local"
	StorageS3    StorageBackend = "s3"
	StorageGCS   StorageBackend = "gcs"   // Google Cloud Storage
	StorageAzure StorageBackend = "azure" // Azure Blob Storage
)

// InBucket tells whether the backend keeps objects in named buckets (S3 and GCS buckets, Azure
// containers), which a stored file must then name.
func (b StorageBackend) InBucket() bool {
	return b == StorageS3 || b == StorageGCS || b == StorageAzure
}

// File is one file a user sends: its metadata, and once STORED, where its verified bytes are.
type File struct {
	ID               uuid.UUID
	CreatedAt        time.Time
	UpdatedAt        time.Time
	Status           FileStatus
	SHA256           string // lower-case hex; set once STORED
	SizeBytes        int64  // declared at creation, verified when STORED
	StorageBackend   StorageBackend
	StorageBucket    string
	StorageKey       string
	OriginalFilename string // for display only, never used as a path
	ContentType      string
	UploadedByID     uuid.UUID
	BatchID          *uuid.UUID
	GrantID          *uuid.UUID // the upload grant it was uploaded with, if any
	StoredAt         *time.Time
	// FailureCode and FailureReason are set together when the file FAILED, and only then: the
	// code (one of FailureCodes) for programs, the reason for people.
	FailureCode   Code
	FailureReason string
	// Metadata is what the client said about the file, string to string, within the limits of
	// ValidateMetadata: a tus client's Upload-Metadata keys, a directory upload's relative_path.
	// A file read from a store has a non-nil map, empty when the client said nothing.
	Metadata map[string]string
	// Partial marks the file of a partial upload (tus concatenation): never STORED, never listed.
	Partial bool
}

// Codes that only a file's failure carries (File.FailureCode): no request answers with them.
const (
	// EAborted: the client aborted the upload.
	EAborted Code = "ABORTED"
	// EBatchCancelled: the file's batch was cancelled before the file was stored.
	EBatchCancelled Code = "BATCH_CANCELLED"
)

// FailureCodes returns every code a FAILED file can carry, which the database lists in a CHECK:
//
//   - CHECKSUM_MISMATCH: the bytes received contradict a hash the client declared;
//   - SESSION_EXPIRED: the upload passed its expiry;
//   - SESSION_NOT_ACTIVE: the storage no longer holds the upload's data;
//   - ABORTED: the client aborted the upload;
//   - BATCH_CANCELLED: the file's batch was cancelled.
//
// An upload ending with one of the first three leaves its session FAILED, with one of the last
// two ABORTED.
func FailureCodes() []Code {
	return []Code{EChecksumMismatch, ESessionExpired, ESessionNotActive, EAborted, EBatchCancelled}
}

// CheckFailure returns EValidation unless code is one of FailureCodes and an upload failing
// with it leaves its session in status to.
func CheckFailure(to SessionStatus, code Code) error {
	want := SessionFailed
	switch code {
	case EChecksumMismatch, ESessionExpired, ESessionNotActive:
	case EAborted, EBatchCancelled:
		want = SessionAborted
	default:
		return Errorf(EValidation, "%q is not the code of a failed file", code)
	}
	if to != want {
		return Errorf(EValidation, "an upload failing with %s ends %s, not %s", code, want, to)
	}
	return nil
}

// Limits on the metadata a client may give a file.
const (
	MaxFilenameLength    = 1024 // bytes, after cleaning
	MaxContentTypeLength = 255
)

// StoredObject is what makes a file STORED: its verified hash and size, and where its bytes are.
type StoredObject struct {
	SHA256    string
	SizeBytes int64
	Backend   StorageBackend
	Bucket    string
	Key       string
}

// Validate enforces the STORED invariant: sha256, size, backend and key set, and a bucket for s3.
// It returns EValidation otherwise.
func (o StoredObject) Validate() error {
	if err := ValidateSHA256(o.SHA256); err != nil {
		return err
	}
	switch {
	case o.SizeBytes < 0:
		return Errorf(EValidation, "size %d is negative", o.SizeBytes)
	case o.Backend != StorageLocal && !o.Backend.InBucket():
		return Errorf(EValidation, "storage backend %q is none of %q, %q, %q and %q", o.Backend, StorageLocal, StorageS3, StorageGCS, StorageAzure)
	case o.Key == "":
		return Errorf(EValidation, "a stored file needs a storage key")
	case o.Backend.InBucket() && o.Bucket == "":
		return Errorf(EValidation, "a file stored in %s needs a bucket", o.Backend)
	}
	return nil
}

var sha256Pattern = regexp.MustCompile(`^[0-9a-f]{64}$`)

// ValidateSHA256 returns EValidation unless s is 64 lower-case hex digits.
func ValidateSHA256(s string) error {
	if !sha256Pattern.MatchString(s) {
		return Errorf(EValidation, "sha256 %q is not 64 lower-case hex digits", s)
	}
	return nil
}
