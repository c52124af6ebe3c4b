package ingest

import (
	"context"
	"time"

	"github.com/google/uuid"
)

// Store keeps the portal's state. Every method runs in one transaction, and every status change
// is a compare-and-set, so two racing callers can never both win a transition: the loser gets a
// *TransitionError, or EConflict when the row moved under it to a state from which its transition
// would have been allowed (retrying may then succeed). Implementations pass the behaviour suite
// in package storetest.
type Store interface {
	UserStore
	BatchStore
	UploadStore
	OutboxStore
	OutboxOps
	GrantStore
	ReconcileStore
}

// ReconcileStore tells the reconciler (ingest gc) which of the objects and temporary data a blob
// store holds (BlobInventory) a row still needs. Each method answers for at most MaxPageLimit at
// once.
type ReconcileStore interface {
	// ObjectsInUse returns, of objects (object keys, each with the id of the file it is the object
	// of, as ParseObjectKey reads it), the keys a row needs: the storage key of a STORED file, or
	// the object of a file still UPLOADING, which its upload makes before the file is recorded
	// STORED (and which a partial upload keeps while it is open).
	ObjectsInUse(ctx context.Context, objects map[string]uuid.UUID) (map[string]bool, error)
	// ActiveUploads returns, of ids, those that are the id of an upload session INIT or
	// IN_PROGRESS, or of such a session's file.
	ActiveUploads(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID]bool, error)
}

// UserStore keeps users and their API tokens.
type UserStore interface {
	// CreateUser inserts u, filling in its id and timestamps. It returns EValidation for a bad
	// username and EConflict when the username is taken.
	CreateUser(ctx context.Context, u *User) error
	// User returns the user with the id, or ENotFound.
	User(ctx context.Context, id uuid.UUID) (*User, error)
	// UserByUsername returns the user with the name, or ENotFound.
	UserByUsername(ctx context.Context, username string) (*User, error)
	// CountUsers returns how many users there are.
	CountUsers(ctx context.Context) (int, error)
	// CreateAPIToken inserts t, filling in its timestamps. It returns ENotFound when its user does
	// not exist and EConflict when its hash is already stored.
	CreateAPIToken(ctx context.Context, t *APIToken) error
	// Authenticate returns the user whose token has the hash, and records the token's use (at
	// most once a minute, so that requests do not each cost a write). It returns EUnauthenticated
	// for an unknown, revoked or expired token, saying nothing of which, and EForbidden for a valid
	// token of a disabled user: who is asking is known, but they may no longer.
	Authenticate(ctx context.Context, tokenHash string) (*User, error)
}

// BatchStore keeps upload batches.
type BatchStore interface {
	// CreateBatch inserts b as OPEN with zero counters, filling in its id and timestamps. It
	// returns ENotFound when its creator does not exist.
	CreateBatch(ctx context.Context, b *Batch) error
	// Batch returns the batch with the id, or ENotFound.
	Batch(ctx context.Context, id uuid.UUID) (*Batch, error)
	// SealBatch moves an OPEN batch to SEALED, and on to its outcome (COMPLETE, PARTIAL or FAILED)
	// in the same transaction when all its files have already ended. It returns ENotFound, or a
	// *TransitionError (BATCH_NOT_OPEN) when the batch is not OPEN.
	SealBatch(ctx context.Context, id uuid.UUID) (*Batch, error)
	// CancelBatch moves an OPEN or SEALED batch to CANCELLED, aborting its active upload sessions
	// and failing their files (BATCH_CANCELLED, "batch cancelled") in the same transaction, and
	// returns the batch and the sessions it aborted (whose temporary data the caller removes). It
	// returns ENotFound, or a *TransitionError (BATCH_NOT_OPEN) when the batch has already ended.
	CancelBatch(ctx context.Context, id uuid.UUID) (*Batch, []*UploadSession, error)
}

// UploadStore keeps ingest files, their upload sessions and parts.
type UploadStore interface {
	// CreateUpload inserts f as UPLOADING and s as INIT for it, and counts f in its batch, in one
	// transaction; it fills in ids (unless set), timestamps and statuses. It returns EValidation
	// (ValidateUpload, or no expiry), ENotFound for a missing uploader or batch, and EBatchNotOpen
	// when the batch is not OPEN. When the user already used the session's idempotency key it
	// returns EIdempotencyConflict; the caller finds that session with SessionByIdempotencyKey.
	// It returns EQuotaExceeded when the uploader's sessions in progress and reservations
	// (ReserveUpload), with this one, are more than q allows; racing creations of one user, from
	// any number of instances, are counted one after the other.
	CreateUpload(ctx context.Context, f *File, s *UploadSession, q UploadQuota) error
	// ReserveUpload holds, until until, a place for an upload of size bytes by the user that has no
	// session yet (a single-request upload whose body is streaming in) among what q allows: it counts
	// against q as a session in progress would, in CreateUpload and ReserveUpload alike, until it is
	// released or runs out. It returns the reservation's id, EQuotaExceeded and ENotFound.
	ReserveUpload(ctx context.Context, userID uuid.UUID, size int64, until time.Time, q UploadQuota) (uuid.UUID, error)
	// ReleaseReservation ends a reservation; ending one that ran out or was ended is no error.
	ReleaseReservation(ctx context.Context, id uuid.UUID) error
	// File returns the file with the id, or ENotFound.
	File(ctx context.Context, id uuid.UUID) (*File, error)
	// UploadSession returns the session with the id, or ENotFound.
	UploadSession(ctx context.Context, id uuid.UUID) (*UploadSession, error)
	// UploadSessionForPart returns the session with the id, its file and its part n, read
	// together, or ENotFound; the part is nil when it has no row.
	UploadSessionForPart(ctx context.Context, id uuid.UUID, n int) (*UploadSession, *File, *Part, error)
	// CountActiveSessions returns how many sessions are INIT or IN_PROGRESS.
	CountActiveSessions(ctx context.Context) (int, error)
	// ExpiredSessions returns up to limit active sessions whose expiry is before t, oldest first.
	ExpiredSessions(ctx context.Context, t time.Time, limit int) ([]*UploadSession, error)
	// SessionByIdempotencyKey returns the user's session with the key, or ENotFound.
	SessionByIdempotencyKey(ctx context.Context, userID uuid.UUID, key string) (*UploadSession, error)
	// BeginPart records that part p.PartNumber of session p.SessionID is being written to
	// p.TempKey: a new part is inserted PENDING, a FAILED one becomes PENDING again. A PENDING or
	// RECEIVED part is returned as it is, unchanged; the caller decides what a second writer
	// means. It returns ENotFound, EValidation for a part number outside 1..total_parts, and
	// a *TransitionError (SESSION_NOT_ACTIVE) when the session is not INIT or IN_PROGRESS.
	BeginPart(ctx context.Context, p *Part) (*Part, error)
	// ReceivePart moves a PENDING part to RECEIVED with its receipt, counts it in its session,
	// moves an INIT session to IN_PROGRESS and pushes the session's expiry to expiresAt. It
	// returns EValidation for a bad receipt, ENotFound, a *TransitionError (INVALID_TRANSITION)
	// when the part is not PENDING, and a *TransitionError (SESSION_NOT_ACTIVE) when the session is
	// not active.
	ReceivePart(ctx context.Context, sessionID uuid.UUID, partNumber int, r PartReceipt, expiresAt time.Time) (*Part, error)
	// ReceiveHashedPart is ReceivePart and, in the same transaction, AdvanceHash from
	// partNumber-1 to partNumber parts with hashState, if the session's hash is still at
	// partNumber-1; if it is not, the hash is left as it is, which is no error. Unlike
	// ReceivePart it also takes a part that was never begun: one with no row is inserted RECEIVED
	// (at the session's storage upload id, or its id), and a FAILED one, a retry whose begin was
	// not recorded, becomes RECEIVED as if through PENDING. It returns the part and its session
	// as they are after, and what ReceivePart returns, but ENotFound only for the session and
	// EValidation for a part number outside 1..total_parts.
	ReceiveHashedPart(ctx context.Context, sessionID uuid.UUID, partNumber int, r PartReceipt, expiresAt time.Time, hashState []byte) (*Part, *UploadSession, error)
	// FailPart moves a PENDING part to FAILED. It returns ENotFound or a *TransitionError.
	FailPart(ctx context.Context, sessionID uuid.UUID, partNumber int) (*Part, error)
	// Parts returns the session's parts in part-number order.
	Parts(ctx context.Context, sessionID uuid.UUID) ([]*Part, error)
	// PartsFrom returns the session's parts numbered from and above, in part-number order: what
	// follows a prefix already hashed, without reading the whole list again on every part.
	PartsFrom(ctx context.Context, sessionID uuid.UUID, from int) ([]*Part, error)
	// AdvanceHash records that the first hashedParts parts are folded into state, if the session
	// had folded fromParts parts (compare-and-set). It returns ENotFound, EConflict when another
	// caller advanced it first, and a *TransitionError when the session is not active.
	AdvanceHash(ctx context.Context, sessionID uuid.UUID, fromParts, hashedParts int, state []byte) error
	// StoreFile is the completing transaction: the session becomes COMPLETE, its file STORED with
	// obj, the batch counts it (and reaches its outcome if sealed and settled), and the file's
	// file.stored event is written to the outbox. It returns EValidation when obj breaks the
	// STORED invariant, EMissingParts (details: "missing": []int) when not every part is RECEIVED,
	// ENotFound, and a *TransitionError (SESSION_NOT_ACTIVE) when the session is not active.
	StoreFile(ctx context.Context, sessionID uuid.UUID, obj StoredObject) (*File, error)
	// RecordStoredUpload records, in one transaction, a whole upload whose bytes the blob store
	// already holds (the single-request upload): f as STORED with obj, s as COMPLETE with every
	// part received and hashed, its one part RECEIVED with r (none for an empty file), f counted
	// as stored in its batch, which must be OPEN, and the file.stored event. It fills in ids (unless
	// set), timestamps and statuses. It returns EValidation (ValidateUpload, the STORED invariant,
	// more than one part), ENotFound for a missing uploader or batch, EBatchNotOpen, and
	// EIdempotencyConflict when the user already used the session's idempotency key. flush, when
	// not nil, is the object's pending flush (DeferredPutter): the store waits for it in the
	// transaction, after its statements and before it commits; if it fails, nothing is recorded
	// and its error is returned.
	RecordStoredUpload(ctx context.Context, f *File, s *UploadSession, r PartReceipt, obj StoredObject, flush Pending) error
	// EndUpload moves an active session to ABORTED or FAILED and its file to FAILED with code and
	// reason ("upload aborted" or "upload failed" when empty), counting the failure in the batch.
	// It returns EValidation for another target status or a code CheckFailure refuses, ENotFound,
	// and a *TransitionError (SESSION_NOT_ACTIVE) when the session has already ended.
	EndUpload(ctx context.Context, sessionID uuid.UUID, to SessionStatus, code Code, reason string) (*UploadSession, error)

	StreamStore
}

// StreamStore keeps the progress of streamed uploads (tus), whose bytes arrive in order from one
// writer at a time. The writer holds a lease on the session, so that instances sharing the
// database never write one upload at once, and a writer that died is replaced once its lease
// has run out.
type StreamStore interface {
	// AcquireLease makes owner the session's one writer until until, provided the session's
	// offset is still offset, and returns the session as it is then. Owner renews its lease the
	// same way: the offset check stops a writer whose upload moved on without it from writing over
	// what others recorded. It returns ENotFound, EUploadLocked while another owner's lease has not
	// run out, and EOffsetMismatch (details: "offset") when the session is at another offset.
	AcquireLease(ctx context.Context, sessionID uuid.UUID, owner string, offset int64, until time.Time) (*UploadSession, error)
	// ReleaseLease ends owner's lease on the session; a lease owner no longer holds is left alone.
	ReleaseLease(ctx context.Context, sessionID uuid.UUID, owner string) error
	// RecordStream records the progress p of an active streamed session whose lease owner holds:
	// its offset moves from p.From to p.To, the parts p completed are RECEIVED and hashed, its
	// hash state and tail CRC are p's, a deferred length becomes p.Length, and its expiry and lease
	// are extended. It returns the session as recorded, ENotFound, EUploadLocked when owner no
	// longer holds the lease, EOffsetMismatch when the session is not at p.From, EValidation for
	// progress that does not fit the session, and a *TransitionError (SESSION_NOT_ACTIVE) when the
	// session has ended. A deferred length declared beyond what p.Quota allows the uploader
	// returns EQuotaExceeded.
	RecordStream(ctx context.Context, sessionID uuid.UUID, owner string, p StreamProgress) (*UploadSession, error)
}

// StreamProgress is what one write to a streamed upload added: the bytes between two offsets,
// the parts they completed, and the running hash and tail CRC after them.
type StreamProgress struct {
	From, To   int64
	Parts      []StreamedPart // completed by these bytes, in order
	HashState  []byte         // the SHA-256 state after To bytes
	TailCRC32C uint32         // the CRC32C of the bytes of the part in progress at To
	Length     *int64         // the upload's size, declared now; nil if it is not
	Quota      UploadQuota    // the uploader's, checked when Length is declared
	ExpiresAt  time.Time
	LeaseUntil time.Time
}

// StreamedPart is a part a streamed upload completed, with what was learned of its bytes.
type StreamedPart struct {
	Number int
	PartReceipt
}

// OutboxStore keeps the event outbox. Marking the result of a delivery is fenced by the attempt
// number returned by ClaimEvents, so a relay whose lease expired cannot overwrite a newer attempt:
// each Mark method returns ENotFound, a *TransitionError when the event is no longer SENDING, and
// EConflict when it is SENDING under a newer attempt.
type OutboxStore interface {
	// EnqueueEvent inserts e as PENDING. Only a STORED file may have events: otherwise it returns
	// EValidation. An event with the same type and idempotency key already stored returns
	// EConflict.
	EnqueueEvent(ctx context.Context, e *OutboxEvent) error
	// OutboxEvent returns the event with the id, or ENotFound.
	OutboxEvent(ctx context.Context, id uuid.UUID) (*OutboxEvent, error)
	// ClaimEvents moves up to limit due events (PENDING, or SENDING with a passed lease) to SENDING,
	// with a lease until now+lease and their attempt count increased, and returns them.
	ClaimEvents(ctx context.Context, limit int, lease time.Duration) ([]*OutboxEvent, error)
	// MarkDelivered moves a SENDING event claimed as attempt to DELIVERED.
	MarkDelivered(ctx context.Context, id uuid.UUID, attempt int) error
	// MarkRetry moves a SENDING event claimed as attempt back to PENDING, due at next, keeping
	// lastError.
	MarkRetry(ctx context.Context, id uuid.UUID, attempt int, next time.Time, lastError string) error
	// MarkFailed moves a SENDING event claimed as attempt to FAILED, keeping lastError.
	MarkFailed(ctx context.Context, id uuid.UUID, attempt int, lastError string) error
	// RetryEvent moves a FAILED event to PENDING, due now.
	RetryEvent(ctx context.Context, id uuid.UUID) error
}

// MaxPageLimit bounds a page; DefaultPageLimit is a page's size when none is asked.
const (
	MaxPageLimit     = 1000
	DefaultPageLimit = 100
)

// PartSizeStore keeps the part size of a streamed upload whose client sends numbered parts of a
// size it never announces (Uppy's multipart uploads, docs/browser.md): the first part fixes it,
// once, for every instance sharing the database.
type PartSizeStore interface {
	// FixPartSize records size as the session's part size unless one is recorded already, and
	// returns the one recorded. It returns ENotFound for an unknown session.
	FixPartSize(ctx context.Context, sessionID uuid.UUID, size int64) (int64, error)
	// PartSize returns the session's part size, or ENotFound while none is fixed.
	PartSize(ctx context.Context, sessionID uuid.UUID) (int64, error)
}
