package ingest

import (
	"context"
	"fmt"
	"io"
	"path"
	"time"

	"github.com/google/uuid"
)

// BlobStore keeps the bytes of files: uploads in progress, as the numbered parts of one upload per
// session, and finished objects under keys. Implementations pass the suite in package blobtest.
//
// Methods return ENotFound for an upload or object that does not exist, and EValidation for a part
// number outside the upload, a key the store refuses, or parts that are not every part in order;
// any other error is the store's own (a full disk, a network fault) and reaches clients as
// INTERNAL.
type BlobStore interface {
	// Backend and Bucket say where objects live; a STORED file records both.
	Backend() StorageBackend
	Bucket() string
	// Prefix is prepended to every object key this store makes ("" for none).
	Prefix() string

	// CreateUpload prepares the upload u and returns the store's handle on it, which the session
	// keeps as storage_upload_id and passes back in u.StorageID.
	CreateUpload(ctx context.Context, u BlobUpload) (string, error)
	// WritePart stores part n of u from r, which yields exactly u.PartSize(n) bytes, and returns
	// once those bytes are durable. It returns EPartSizeMismatch when r yields fewer or more bytes.
	// Writing a part again replaces it; after a refused or failed write the part's bytes are
	// undefined (local disk writes in place), so the caller writes it again before completing.
	// Writes of different parts may run at once; two writes of the same part at once are the
	// caller's to prevent (the local store has no way to, across processes sharing one root).
	WritePart(ctx context.Context, u BlobUpload, n int, r io.Reader) (WrittenPart, error)
	// CompleteUpload makes the object u.Key from parts, which are every part of u in order
	// (none for an empty file). Once it has succeeded, calling it again succeeds too, so that a
	// completion interrupted between the object and the database commit can be repeated.
	CompleteUpload(ctx context.Context, u BlobUpload, parts []WrittenPart) error
	// AbortUpload deletes whatever u left behind. Aborting twice, or after completion, is no error.
	AbortUpload(ctx context.Context, u BlobUpload) error

	// PutObject stores exactly size bytes of r as the object at key in one request, durably, with
	// no upload to create or complete: the single-request upload's path. It returns
	// EPartSizeMismatch when r yields fewer or more bytes, and then no object is made.
	PutObject(ctx context.Context, key string, r io.Reader, size int64) error
	// ReadObject streams length bytes of the object at key from offset; a negative length reads
	// to the end.
	ReadObject(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error)
	// StatObject returns the size of the object at key.
	StatObject(ctx context.Context, key string) (int64, error)
	// DeleteObject removes the object at key; removing a missing object is no error.
	DeleteObject(ctx context.Context, key string) error

	// Ping checks that the store can be reached with the portal's credentials, for /readyz.
	Ping(ctx context.Context) error
}

// CompletedBefore decides a completion of u whose upload the store no longer has: an earlier
// completion made the object when it is there with u's size, and CompletedBefore returns nil;
// otherwise the upload was aborted or never existed, and it returns ENotFound wrapping cause.
// Stores whose completion removes the upload use it to make completing again succeed.
func CompletedBefore(ctx context.Context, store BlobStore, u BlobUpload, cause error) error {
	size, err := store.StatObject(ctx, u.Key)
	switch {
	case err == nil && size == u.Size:
		return nil
	case err != nil && ErrorCode(err) != ENotFound:
		return err
	}
	return &Error{Code: ENotFound, Message: "upload not found", Err: cause}
}

// DeferredPutter is a BlobStore that can leave the flush of a put object to its caller.
// PutObjectDeferred is PutObject without the wait for durability: it returns the object's pending
// flush, nil if the object already is durable. The caller must see the flush succeed before it
// records the object; handing it to Store.RecordStoredUpload has the store wait for it in the
// recording transaction, where the flush overlaps the statements and serves every object of the
// moment at once.
type DeferredPutter interface {
	PutObjectDeferred(ctx context.Context, key string, r io.Reader, size int64) (Pending, error)
}

// Pending is a write waiting for its flush: Wait returns once it is durable, or with the error of
// a flush that may have lost it.
type Pending interface {
	Wait() error
}

// PartReader is the optional capability of reading a part back before its upload completes. The
// running file hash uses it to fold in parts that arrived out of order without waiting for
// completion; a store without it (S3) has them read back from the finished object instead.
type PartReader interface {
	ReadPart(ctx context.Context, u BlobUpload, n int) (io.ReadCloser, error)
}

// StreamWriter is the capability a BlobStore needs for streamed uploads (tus), whose bytes arrive
// in order and in pieces of any size: a piece may end inside a part, and the bytes of that part
// received so far (its tail) must be as durable as a whole part.
type StreamWriter interface {
	// WriteStream writes the bytes of part n of u from r, starting at byte from of the part: the
	// part's first from bytes were written by earlier calls. It stops when the part is full or r
	// ends; avail is how many bytes r holds, or -1 when that is unknown. It returns how many bytes
	// it took from r, durable, and the written part when the part is now full. from may be the
	// part's size: its bytes were all written by earlier calls before its size was known (a
	// deferred length declared where they ended), and the call completes it without reading r.
	//
	// When r fails, the bytes taken before the failure are returned with the error if they are
	// durable (Taken > 0); otherwise none of them count. Bytes of the part past from that a call
	// wrote but did not return are undefined until written again.
	WriteStream(ctx context.Context, u BlobUpload, n int, from int64, r io.Reader, avail int64) (StreamWrite, error)
}

// StreamWrite is what one WriteStream call made durable.
type StreamWrite struct {
	Taken int64
	Part  *WrittenPart // the part, when these bytes filled it
}

// ObjectConcatenator is the capability of making an object from other objects without sending
// their bytes through the portal where the backend allows (local: copy_file_range; S3:
// UploadPartCopy): tus concatenation.
type ObjectConcatenator interface {
	// ConcatObjects stores the objects at srcs, in order, as the object at dst, durably. sizes are
	// their sizes. It returns ENotFound when a source is missing.
	ConcatObjects(ctx context.Context, dst string, srcs []string, sizes []int64) error
}

// BlobUpload names one upload in a BlobStore.
type BlobUpload struct {
	SessionID uuid.UUID
	StorageID string // the store's handle, from CreateUpload; "" before it
	Key       string // the key of the object the upload becomes
	Size      int64
	ChunkSize int64
	// Streamed is set for an upload written with StreamWriter, which may hold the tails of its
	// parts apart until they are whole.
	Streamed bool
}

// CheckShape returns EValidation for an upload no store can hold: without an object key, of a
// negative size, or with a part size that is not positive (TotalParts would divide by zero). Each
// store adds its own limits.
func (u BlobUpload) CheckShape() error {
	switch {
	case u.Key == "":
		return Errorf(EValidation, "the upload has no object key")
	case u.Size < 0 || u.ChunkSize <= 0:
		return Errorf(EValidation, "the upload's size %d or chunk size %d is out of range", u.Size, u.ChunkSize)
	}
	return nil
}

// CheckCreated returns EValidation for an upload a store's CreateUpload cannot have returned: one
// without its storage id, or of a shape CheckShape refuses.
func (u BlobUpload) CheckCreated() error {
	if u.StorageID == "" {
		return Errorf(EValidation, "the upload has no storage id")
	}
	return u.CheckShape()
}

// TotalParts returns the number of parts of u.
func (u BlobUpload) TotalParts() int { return TotalParts(u.Size, u.ChunkSize) }

// PartSize returns the size of part n of u.
func (u BlobUpload) PartSize(n int) int64 { return PartSize(u.Size, u.ChunkSize, n) }

// PartOffset returns where part n of u starts in the file.
func (u BlobUpload) PartOffset(n int) int64 { return int64(n-1) * u.ChunkSize }

// WrittenPart is a part a blob store holds.
type WrittenPart struct {
	Number int
	Size   int64
	// ETag is the store's tag of the part's bytes (S3's ETag), which completion must present;
	// "" for a store that needs none.
	ETag string
}

// ObjectKey returns the key of a file's object: prefix/yyyy/mm/dd/file_id, dated by the file's
// creation. Keys come from ids, never from client file names (DESIGN.md §5).
func ObjectKey(prefix string, fileID uuid.UUID, created time.Time) string {
	created = created.UTC()
	return path.Join(prefix, fmt.Sprintf("%04d/%02d/%02d", created.Year(), created.Month(), created.Day()), fileID.String())
}

// ParseObjectKey returns the file id of key if it is the object key ObjectKey makes for that file
// under prefix, and false for any other key.
func ParseObjectKey(prefix, key string) (uuid.UUID, bool) {
	id, err := uuid.Parse(path.Base(key))
	if err != nil || id.Version() != 7 || ObjectKey(prefix, id, IDTime(id)) != key {
		return uuid.Nil, false
	}
	return id, true
}

// UploadPrefix returns the key prefix under which a session's temporary data lives:
// prefix/.uploads/session_id.
func UploadPrefix(prefix string, sessionID uuid.UUID) string {
	return path.Join(prefix, ".uploads", sessionID.String())
}

// BlobInventory is the optional capability of listing what a BlobStore holds, for the reconciler
// (ingest gc) that removes what no row points to. Listings may run while uploads go on: an entry
// may be gone, or new ones made, by the time the caller looks at it.
type BlobInventory interface {
	// ListObjects calls fn with every object under the store's prefix, outside the temporary data
	// of uploads, and the time it was last written. An error of fn stops the listing and is
	// returned.
	ListObjects(ctx context.Context, fn func(key string, modified time.Time) error) error
	// ListTemporary calls fn with every piece of temporary data of uploads the store holds (local:
	// a session's directory; S3: a multipart upload, the tails of a session's parts).
	ListTemporary(ctx context.Context, fn func(TemporaryData) error) error
	// RemoveTemporary removes a piece ListTemporary listed; one already gone is no error.
	RemoveTemporary(ctx context.Context, t TemporaryData) error
}

// TemporaryData is a piece of the temporary data of one upload in a blob store. It names its
// upload by its session (SessionID), or by the object key the upload becomes (Key), whichever
// the store knows.
type TemporaryData struct {
	SessionID uuid.UUID // uuid.Nil when the store knows the key instead
	Key       string    // "" when the store knows the session instead
	Handle    string    // the store's own name for it (an S3 multipart upload id)
	Modified  time.Time // when it was last written (an S3 multipart upload: begun)
}

// PartLimiter is the optional capability of a store that limits the size of parts (S3: 5 MiB to
// 5 GiB, the last part excepted). A store without it takes parts of 1 byte to MaxPartSize.
type PartLimiter interface {
	PartSizeLimits() (min, max int64)
}

// MaxPartSize is the largest part any store takes, as in S3.
const MaxPartSize = 5 << 30
