package upload

import (
	"context"
	"errors"
	"maps"
	"mime"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/ingest-portal/ingest"
)

// CreateRequest asks for a new upload session.
type CreateRequest struct {
	Filename       string
	ContentType    string
	SizeBytes      int64
	ChunkSizeBytes int64 // 0 lets the server choose
	BatchID        *uuid.UUID
	SHA256         string // the client's whole-file hash, verified at completion; "" for none
	IdempotencyKey string // per user; "" for none
	// Metadata is what the client says about the file (ingest.ValidateMetadata's limits); it is
	// stored on the file and carried in its file.stored event.
	Metadata map[string]string
	Tus      TusHeaders // set by the tus adapter only
}

// TusHeaders are the tus headers an upload answers back as they were received: Upload-Metadata,
// and a final upload's Upload-Concat.
type TusHeaders struct {
	Metadata, Concat string
}

// CreateSession registers a file and its upload session. With an idempotency key the user already
// used for the same request, it returns that session and created=false; for a different request
// it returns EIdempotencyConflict. It returns EValidation, EPayloadTooLarge beyond the maximum file
// size, ENotFound for a batch the actor cannot see and EBatchNotOpen for a batch that is not OPEN.
func (s *Service) CreateSession(ctx context.Context, actor *ingest.User, req CreateRequest) (sess *ingest.UploadSession, created bool, err error) {
	if err := s.clean(&req); err != nil {
		return nil, false, err
	}
	if err := withGrant(actor, &req); err != nil {
		return nil, false, err
	}
	chunk, err := s.planChunk(req.SizeBytes, req.ChunkSizeBytes)
	if err != nil {
		return nil, false, err
	}
	if req.IdempotencyKey != "" {
		existing, err := s.store.SessionByIdempotencyKey(ctx, actor.ID, req.IdempotencyKey)
		if err == nil {
			return s.replay(ctx, actor, existing, req)
		}
		if ingest.ErrorCode(err) != ingest.ENotFound {
			return nil, false, err
		}
	}
	if err := s.checkBatch(ctx, actor, req.BatchID); err != nil {
		return nil, false, err
	}
	release, err := s.reserve(ctx, actor, req)
	if err != nil {
		return nil, false, err
	}

	file := &ingest.File{
		ID:               ingest.NewID(),
		SizeBytes:        req.SizeBytes,
		OriginalFilename: req.Filename,
		ContentType:      req.ContentType,
		UploadedByID:     actor.ID,
		BatchID:          req.BatchID,
		GrantID:          grantID(actor),
		Metadata:         req.Metadata,
	}
	sess = &ingest.UploadSession{
		ID:             ingest.NewID(),
		FileID:         file.ID,
		ChunkSizeBytes: chunk,
		TotalParts:     ingest.TotalParts(req.SizeBytes, chunk),
		IdempotencyKey: req.IdempotencyKey,
		UploadedByID:   actor.ID,
		ExpiresAt:      s.now().Add(s.cfg.SessionTTL),
		DeclaredSHA256: req.SHA256,
	}
	if err := s.register(ctx, file, sess, s.quota(actor)); err != nil {
		if !errors.Is(err, ingest.ErrOutcomeUnknown) {
			release()
		}
		if ingest.ErrorCode(err) == ingest.EIdempotencyConflict {
			// Another request with the same key won the race: answer as if it had come first.
			if existing, lookupErr := s.store.SessionByIdempotencyKey(ctx, actor.ID, req.IdempotencyKey); lookupErr == nil {
				return s.replay(ctx, actor, existing, req)
			}
		}
		return nil, false, err
	}
	return sess, true, nil
}

// clean puts a request's names and hash in their normal form, and refuses a size this portal
// does not take and metadata beyond its limits.
func (s *Service) clean(req *CreateRequest) error {
	if err := ingest.ValidateMetadata(req.Metadata); err != nil {
		return err
	}
	var err error
	req.Filename = CleanFilename(req.Filename)
	if req.ContentType, err = cleanContentType(req.ContentType); err != nil {
		return err
	}
	req.SHA256 = strings.ToLower(req.SHA256)
	if req.SizeBytes < 0 {
		return ingest.Errorf(ingest.EValidation, "size_bytes must be 0 or more")
	}
	if req.SizeBytes > s.cfg.MaxFileSize {
		return &ingest.Error{Code: ingest.EPayloadTooLarge, Message: "the file is larger than this portal takes",
			Details: map[string]any{"max_file_size": s.cfg.MaxFileSize}}
	}
	return nil
}

// register validates a new file and its session, prepares the upload in the blob store and records
// both, within the uploader's quota q. When the record fails, the blob store's upload is discarded again.
func (s *Service) register(ctx context.Context, file *ingest.File, sess *ingest.UploadSession, q ingest.UploadQuota) error {
	if err := ingest.ValidateUpload(file, sess); err != nil {
		return err
	}
	u := s.blobUpload(sess, file.SizeBytes)
	var err error
	if sess.StorageUploadID, err = s.blobs.CreateUpload(ctx, u); err != nil {
		return err
	}
	if err := s.store.CreateUpload(ctx, file, sess, q); err != nil {
		if !errors.Is(err, ingest.ErrOutcomeUnknown) { // else the session may exist: its data stays
			u.StorageID = sess.StorageUploadID
			s.discard(ctx, u)
		}
		return err
	}
	return nil
}

// replay answers a repeated creation: the same session for the same request, a conflict for
// another one. An upload grant replays only what it uploaded, and learns nothing of the rest.
func (s *Service) replay(ctx context.Context, actor *ingest.User, existing *ingest.UploadSession, req CreateRequest) (*ingest.UploadSession, bool, error) {
	file, err := s.store.File(ctx, existing.FileID)
	if err != nil {
		return nil, false, err
	}
	if actor.Grant != nil && !uploadedWith(actor, file) {
		return nil, false, ingest.Errorf(ingest.EIdempotencyConflict, "the idempotency key was used for a different upload")
	}
	same := file.OriginalFilename == req.Filename && file.ContentType == req.ContentType &&
		file.SizeBytes == req.SizeBytes && existing.DeclaredSHA256 == req.SHA256 &&
		(req.ChunkSizeBytes == 0 || req.ChunkSizeBytes == existing.ChunkSizeBytes) && maps.Equal(file.Metadata, req.Metadata) &&
		((file.BatchID == nil && req.BatchID == nil) || (file.BatchID != nil && req.BatchID != nil && *file.BatchID == *req.BatchID))
	if !same {
		return nil, false, &ingest.Error{Code: ingest.EIdempotencyConflict,
			Message: "the idempotency key was used for a different upload",
			Details: map[string]any{"upload_id": existing.ID, "file_id": existing.FileID}}
	}
	return existing, false, nil
}

// discard removes an upload's blob data after its database rows could not be written; a failure
// is only logged, since the sweeper of temporary data would otherwise find nothing to clean.
func (s *Service) discard(ctx context.Context, u ingest.BlobUpload) {
	if err := s.blobs.AbortUpload(context.WithoutCancel(ctx), u); err != nil {
		s.logger.Warn("remove the temporary data of an upload", "session", u.SessionID, "err", err)
	}
}

// planChunk returns the part size for a file: the client's, if within the blob store's limits,
// else the default; raised, in whole MiB, until the file has at most MaxParts parts.
func (s *Service) planChunk(size, requested int64) (int64, error) {
	lo, hi := int64(1), int64(ingest.MaxPartSize)
	if l, ok := s.blobs.(ingest.PartLimiter); ok {
		lo, hi = l.PartSizeLimits()
	}
	chunk := requested
	switch {
	case requested == 0:
		chunk = min(max(s.cfg.DefaultChunk, lo), hi)
	case requested < lo || requested > hi:
		return 0, &ingest.Error{Code: ingest.EValidation, Message: "chunk_size_bytes is outside the storage's limits",
			Details: map[string]any{"min_chunk_size_bytes": lo, "max_chunk_size_bytes": hi}}
	}
	if ingest.TotalParts(size, chunk) > ingest.MaxParts {
		const mib = 1 << 20
		chunk = (size + ingest.MaxParts - 1) / ingest.MaxParts
		chunk = (chunk + mib - 1) / mib * mib
	}
	if chunk > hi {
		return 0, ingest.Errorf(ingest.EPayloadTooLarge, "a file of %d bytes needs more than %d parts of at most %d bytes", size, ingest.MaxParts, hi)
	}
	return chunk, nil
}

// cleanContentType returns a media type in its canonical form, application/octet-stream for none,
// and EValidation for something that is not a media type.
func cleanContentType(ct string) (string, error) {
	if strings.TrimSpace(ct) == "" {
		return "application/octet-stream", nil
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil {
		return "", ingest.Errorf(ingest.EValidation, "content type %q is not a media type such as text/csv", ct)
	}
	return mime.FormatMediaType(mt, params), nil
}

// CleanFilename makes a client's file name safe to display and to put in a Content-Disposition:
// the last path element only, cleaned as ingest.CleanName cleans a name (no control or invisible
// formatting characters, valid UTF-8), at most MaxFilenameLength bytes. A name with nothing left
// becomes "unnamed". The name is never used as a path: object keys come from ids.
func CleanFilename(name string) string {
	name = strings.ToValidUTF8(name, "\uFFFD")
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		name = name[i+1:]
	}
	name = ingest.CleanName(name)
	if name == "" || name == "." || name == ".." {
		return "unnamed"
	}
	for len(name) > ingest.MaxFilenameLength {
		_, size := utf8.DecodeLastRuneInString(name)
		name = name[:len(name)-size]
	}
	// A cut may end the name just after a space: trim it, as CleanName trims, so that cleaning a
	// cleaned name changes nothing.
	return strings.TrimRightFunc(name, unicode.IsSpace)
}
