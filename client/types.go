package client

import (
	"time"

	"github.com/google/uuid"

	"github.com/ingest-portal/ingest"
)

// Batch is an upload batch (docs/api.md, "Batches").
type Batch struct {
	ID          uuid.UUID          `json:"id"`
	CreatedAt   time.Time          `json:"created_at"`
	UpdatedAt   time.Time          `json:"updated_at"`
	Status      ingest.BatchStatus `json:"status"`
	Name        string             `json:"name"`
	CreatedByID uuid.UUID          `json:"created_by_id"`
	TotalFiles  int                `json:"total_files"`
	StoredCount int                `json:"stored_count"`
	FailedCount int                `json:"failed_count"`
	SealedAt    *time.Time         `json:"sealed_at"`
}

// File is an ingest file. The pointers are null until the file is STORED (or FAILED, for
// FailureReason).
type File struct {
	ID               uuid.UUID         `json:"id"`
	CreatedAt        time.Time         `json:"created_at"`
	UpdatedAt        time.Time         `json:"updated_at"`
	Status           ingest.FileStatus `json:"status"`
	SHA256           *string           `json:"sha256"`
	SizeBytes        int64             `json:"size_bytes"`
	StorageBackend   *string           `json:"storage_backend"`
	StorageBucket    *string           `json:"storage_bucket"`
	StorageKey       *string           `json:"storage_key"`
	OriginalFilename string            `json:"original_filename"`
	ContentType      string            `json:"content_type"`
	UploadedByID     uuid.UUID         `json:"uploaded_by_id"`
	BatchID          *uuid.UUID        `json:"batch_id"`
	StoredAt         *time.Time        `json:"stored_at"`
	FailureReason    *string           `json:"failure_reason"`
	// Metadata is what the uploader said about the file (docs/api.md, "File metadata").
	Metadata map[string]string `json:"metadata"`
}

// Upload is an upload session.
type Upload struct {
	ID                 uuid.UUID            `json:"id"`
	CreatedAt          time.Time            `json:"created_at"`
	UpdatedAt          time.Time            `json:"updated_at"`
	FileID             uuid.UUID            `json:"file_id"`
	Status             ingest.SessionStatus `json:"status"`
	ChunkSizeBytes     int64                `json:"chunk_size_bytes"`
	TotalParts         int                  `json:"total_parts"`
	ReceivedPartsCount int                  `json:"received_parts_count"`
	HashedParts        int                  `json:"hashed_parts"`
	IdempotencyKey     *string              `json:"idempotency_key"`
	UploadedByID       uuid.UUID            `json:"uploaded_by_id"`
	ExpiresAt          time.Time            `json:"expires_at"`
	DeclaredSHA256     *string              `json:"declared_sha256"`
	CompletedAt        *time.Time           `json:"completed_at"`
}

// PartRange is the offset and length of part n (from 1) of this upload's file.
func (u *Upload) PartRange(n int, fileSize int64) (offset, length int64) {
	offset = int64(n-1) * u.ChunkSizeBytes
	return offset, min(u.ChunkSizeBytes, fileSize-offset)
}

// Part is a part of an upload.
type Part struct {
	ID         uuid.UUID         `json:"id"`
	CreatedAt  time.Time         `json:"created_at"`
	UpdatedAt  time.Time         `json:"updated_at"`
	SessionID  uuid.UUID         `json:"session_id"`
	PartNumber int               `json:"part_number"`
	Status     ingest.PartStatus `json:"status"`
	SizeBytes  int64             `json:"size_bytes"`
	CRC32C     *uint32           `json:"crc32c"`
	SHA256     *string           `json:"sha256"`
}

// List is a page of a list; NextCursor is "" on the last page.
type List[T any] struct {
	Items      []T    `json:"items"`
	NextCursor string `json:"next_cursor"`
}
