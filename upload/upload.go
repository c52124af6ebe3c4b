// Package upload is the portal's upload service: it creates upload sessions, takes their parts,
// completes, aborts and expires them, and manages batches, talking only to the root package's
// Store and BlobStore. Every method takes the acting user: a user sees only what they own (another
// user's resource is "not found"), an admin sees everything.
package upload

import (
	"context"
	"log/slog"
	"time"

	"github.com/google/uuid"

	"github.com/ingest-portal/ingest"
	"github.com/ingest-portal/ingest/readmodel"
)

// Config holds the service's limits.
type Config struct {
	SessionTTL      time.Duration // a session expires this long after its last activity
	DefaultChunk    int64         // the part size when the client asks for none
	MaxFileSize     int64         // the largest file a session may declare
	MaxSingleUpload int64         // the largest body of a single-request upload
	// StreamLease is how long a writer of a streamed upload (tus) holds it without showing signs
	// of life; another instance takes the upload over after that. A writer renews it as it goes.
	StreamLease time.Duration
	// StreamRecordInterval is how often, at most, a streamed upload's progress is recorded while
	// its bytes keep coming: the first part an Append fills is recorded, then the first that
	// fills this long after the last record. A slow stream is recorded part by part; a fast one
	// does not wait for a database commit every part. The end of every Append is recorded
	// whatever this says, and every part is durable before it counts. 0 records every part.
	StreamRecordInterval time.Duration
	// PendingAfter is how long a part's body may take before the part is recorded PENDING while
	// it streams. A part that arrives sooner is recorded once, RECEIVED; a crash before that
	// loses nothing the client was answered, and it sends the part again.
	PendingAfter time.Duration
	// MaxOpenSessions and MaxBytesInFlight are the quota of every user but admins
	// (ingest.UploadQuota): how many uploads one user may have in progress at once, and how many
	// bytes they may declare in all. 0 is no cap.
	MaxOpenSessions  int
	MaxBytesInFlight int64
}

// DefaultConfig returns the defaults of DESIGN.md §3 and §6.
func DefaultConfig() Config {
	return Config{
		SessionTTL:      24 * time.Hour,
		DefaultChunk:    8 << 20,
		MaxFileSize:     1 << 40,
		MaxSingleUpload: 64 << 20,
		StreamLease:     5 * time.Second,
		// A commit waits for a flush of the database, which costs 1–15 ms on a busy filesystem
		// (and the whole filesystem's dirty data under --flush filesystem): every 8 MiB part of a
		// 1 GiB PATCH cost it 2 s in all. A crash costs the client at most this long of sending
		// and one part again; nothing it was answered is lost.
		StreamRecordInterval: time.Second,
		PendingAfter:         time.Second,
		MaxOpenSessions:      100,
		MaxBytesInFlight:     4 << 40,
	}
}

// Validate returns EValidation for a configuration the service cannot run with.
func (c Config) Validate() error {
	switch {
	case c.SessionTTL <= 0:
		return ingest.Errorf(ingest.EValidation, "the session TTL must be positive")
	case c.DefaultChunk <= 0:
		return ingest.Errorf(ingest.EValidation, "the default part size must be positive")
	case c.MaxFileSize < 0 || c.MaxSingleUpload < 0:
		return ingest.Errorf(ingest.EValidation, "size limits cannot be negative")
	case c.StreamLease < time.Second:
		return ingest.Errorf(ingest.EValidation, "the stream lease must be at least a second")
	case c.StreamRecordInterval < 0:
		return ingest.Errorf(ingest.EValidation, "the stream record interval cannot be negative")
	case c.PendingAfter < 0:
		return ingest.Errorf(ingest.EValidation, "the delay before a part is recorded pending cannot be negative")
	case c.MaxOpenSessions < 0 || c.MaxBytesInFlight < 0:
		return ingest.Errorf(ingest.EValidation, "a user's upload quota cannot be negative")
	}
	return nil
}

// Store is what the service keeps its state in, the store methods it calls and no others:
// batches, files with their sessions and parts, the leases and progress of streamed sessions, and
// the lists of batches and files it pages through. sqlstore implements it.
type Store interface {
	ingest.BatchStore
	ingest.StreamStore
	ingest.GrantStore

	CreateUpload(ctx context.Context, f *ingest.File, s *ingest.UploadSession, q ingest.UploadQuota) error
	ReserveUpload(ctx context.Context, userID uuid.UUID, size int64, until time.Time, q ingest.UploadQuota) (uuid.UUID, error)
	ReleaseReservation(ctx context.Context, id uuid.UUID) error
	File(ctx context.Context, id uuid.UUID) (*ingest.File, error)
	UploadSession(ctx context.Context, id uuid.UUID) (*ingest.UploadSession, error)
	UploadSessionForPart(ctx context.Context, id uuid.UUID, n int) (*ingest.UploadSession, *ingest.File, *ingest.Part, error)
	ExpiredSessions(ctx context.Context, t time.Time, limit int) ([]*ingest.UploadSession, error)
	SessionByIdempotencyKey(ctx context.Context, userID uuid.UUID, key string) (*ingest.UploadSession, error)
	BeginPart(ctx context.Context, p *ingest.Part) (*ingest.Part, error)
	ReceiveHashedPart(ctx context.Context, sessionID uuid.UUID, partNumber int, r ingest.PartReceipt, expiresAt time.Time, hashState []byte) (*ingest.Part, *ingest.UploadSession, error)
	FailPart(ctx context.Context, sessionID uuid.UUID, partNumber int) (*ingest.Part, error)
	Parts(ctx context.Context, sessionID uuid.UUID) ([]*ingest.Part, error)
	PartsFrom(ctx context.Context, sessionID uuid.UUID, from int) ([]*ingest.Part, error)
	AdvanceHash(ctx context.Context, sessionID uuid.UUID, fromParts, hashedParts int, state []byte) error
	StoreFile(ctx context.Context, sessionID uuid.UUID, obj ingest.StoredObject) (*ingest.File, error)
	RecordStoredUpload(ctx context.Context, f *ingest.File, s *ingest.UploadSession, r ingest.PartReceipt, obj ingest.StoredObject, flush ingest.Pending) error
	EndUpload(ctx context.Context, sessionID uuid.UUID, to ingest.SessionStatus, code ingest.Code, reason string) (*ingest.UploadSession, error)

	FindBatches(ctx context.Context, q readmodel.ListQuery) (*readmodel.Listing[*ingest.Batch], error)
	FindFiles(ctx context.Context, q readmodel.ListQuery) (*readmodel.Listing[*ingest.File], error)
}

// Service is the upload service.
type Service struct {
	store  Store
	blobs  ingest.BlobStore
	cfg    Config
	now    func() time.Time
	logger *slog.Logger
	// parts serialises writers of one part, and hashes writers of one session's running hash,
	// within this process. The local backend writes every part of a session into one file, so
	// two writers of a part must never overlap; across processes S3's ETags fence instead.
	parts  keyedMutex[partKey]
	hashes keyedMutex[uuid.UUID]
	// folds are the sessions whose received parts a request of this process is folding into
	// the running hash (foldReceived).
	folds handoff[uuid.UUID]
}

type partKey struct {
	session uuid.UUID
	number  int
}

// Option configures a Service.
type Option func(*Service)

// WithClock makes the service read the time from now.
func WithClock(now func() time.Time) Option { return func(s *Service) { s.now = now } }

// WithLogger makes the service log to logger.
func WithLogger(logger *slog.Logger) Option { return func(s *Service) { s.logger = logger } }

// New returns the service over store and blobs.
func New(store Store, blobs ingest.BlobStore, cfg Config, opts ...Option) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Service{store: store, blobs: blobs, cfg: cfg, now: time.Now, logger: slog.New(slog.DiscardHandler)}
	for _, o := range opts {
		o(s)
	}
	return s, nil
}

// Config returns the service's configuration.
func (s *Service) Config() Config { return s.cfg }

// visible reports whether actor may see a resource of owner. An actor acting through an upload
// grant sees nothing this way: only the files the grant uploaded (uploadedWith).
func visible(actor *ingest.User, owner uuid.UUID) bool {
	return actor.Grant == nil && (actor.IsAdmin || actor.ID == owner)
}

// notFound is the answer for a resource that does not exist or that actor may not see: the two
// must be indistinguishable.
func notFound(entity string, id uuid.UUID) error {
	return ingest.Errorf(ingest.ENotFound, "%s %s not found", entity, id)
}

// session returns the session with the id, if actor may see it.
func (s *Service) session(ctx context.Context, actor *ingest.User, id uuid.UUID) (*ingest.UploadSession, error) {
	sess, err := s.store.UploadSession(ctx, id)
	if err != nil {
		return nil, err
	}
	if actor.Grant != nil {
		f, err := s.store.File(ctx, sess.FileID)
		if err != nil {
			return nil, err
		}
		if !uploadedWith(actor, f) {
			return nil, notFound("upload session", id)
		}
		return sess, nil
	}
	if !visible(actor, sess.UploadedByID) {
		return nil, notFound("upload session", id)
	}
	return sess, nil
}

// quota is what actor may have in flight: admins are not held to the users' quota (operators
// moving data in bulk, who can change it anyway); anyone else, through an upload grant too, is.
func (s *Service) quota(actor *ingest.User) ingest.UploadQuota {
	if actor.IsAdmin && actor.Grant == nil {
		return ingest.UploadQuota{}
	}
	return ingest.UploadQuota{MaxOpenSessions: s.cfg.MaxOpenSessions, MaxBytesInFlight: s.cfg.MaxBytesInFlight}
}

// blobUpload names the session's upload in the blob store. The object key follows from the file
// id alone (ObjectKey dated by the id's time), so nothing else needs storing.
func (s *Service) blobUpload(sess *ingest.UploadSession, size int64) ingest.BlobUpload {
	return ingest.BlobUpload{
		SessionID: sess.ID,
		StorageID: sess.StorageUploadID,
		Key:       ingest.ObjectKey(s.blobs.Prefix(), sess.FileID, ingest.IDTime(sess.FileID)),
		Size:      size,
		ChunkSize: sess.ChunkSizeBytes,
		Streamed:  sess.Streamed,
	}
}

// expired reports whether an active session is past its expiry, and if so fails it (as the
// sweeper would) and returns ESessionExpired.
func (s *Service) expired(ctx context.Context, sess *ingest.UploadSession) error {
	if !sess.Status.Active() || s.now().Before(sess.ExpiresAt) {
		return nil
	}
	s.expire(ctx, sess)
	return ingest.Errorf(ingest.ESessionExpired, "upload session %s expired at %s", sess.ID, sess.ExpiresAt.Format(time.RFC3339))
}
