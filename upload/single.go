package upload

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/google/uuid"

	"github.com/ingest-portal/ingest"
)

// Put is the single-request upload: req.SizeBytes bytes of body become a stored file in one call.
// The body streams straight to its object (BlobStore.PutObject) while its SHA-256 and CRC32C are
// computed, and one transaction then records the file, its session, its part, its batch count
// and its event: no session to create, no part to record, no upload to complete one by one.
//
// A SHA-256 digest of the body is the file's declared hash; a CRC32C digest is checked as the
// part's. With an idempotency key the user already used for the same request it answers that
// upload's outcome again (created=false): its file, or the error it ended with. It returns
// EPayloadTooLarge beyond the single-upload limit, EChecksumMismatch, and what CreateSession
// returns.
func (s *Service) Put(ctx context.Context, actor *ingest.User, req CreateRequest, body io.Reader, d Digest) (*ingest.File, bool, error) {
	f, _, created, err := s.put(ctx, actor, req, body, d)
	return f, created, err
}

// PutWhole is Put for a protocol adapter that names the upload by its session (tus, whose
// creation-with-upload may carry the whole file): it returns the file and its session's id.
func (s *Service) PutWhole(ctx context.Context, actor *ingest.User, req CreateRequest, body io.Reader) (*ingest.File, uuid.UUID, error) {
	f, id, _, err := s.put(ctx, actor, req, body, Digest{})
	return f, id, err
}

func (s *Service) put(ctx context.Context, actor *ingest.User, req CreateRequest, body io.Reader, d Digest) (*ingest.File, uuid.UUID, bool, error) {
	if req.SizeBytes > s.cfg.MaxSingleUpload {
		return nil, uuid.Nil, false, &ingest.Error{Code: ingest.EPayloadTooLarge, Message: "the body is larger than a single-request upload takes; upload it in parts",
			Details: map[string]any{"max_single_upload": s.cfg.MaxSingleUpload}}
	}
	if req.SizeBytes < 0 {
		return nil, uuid.Nil, false, ingest.Errorf(ingest.EValidation, "size_bytes must be 0 or more")
	}
	if err := ingest.ValidateMetadata(req.Metadata); err != nil {
		return nil, uuid.Nil, false, err
	}
	var err error
	req.Filename = CleanFilename(req.Filename)
	if req.ContentType, err = cleanContentType(req.ContentType); err != nil {
		return nil, uuid.Nil, false, err
	}
	req.SHA256 = strings.ToLower(req.SHA256)
	if err := withGrant(actor, &req); err != nil {
		return nil, uuid.Nil, false, err
	}
	if d.SHA256 != nil {
		declared := hex.EncodeToString(d.SHA256)
		if req.SHA256 != "" && req.SHA256 != declared {
			return nil, uuid.Nil, false, ingest.Errorf(ingest.EValidation, "the sha256 and the Content-Digest disagree")
		}
		req.SHA256 = declared
	}
	// One part holds the whole body, unless the store's minimum part is larger.
	req.ChunkSizeBytes = max(req.SizeBytes, 1)
	if l, ok := s.blobs.(ingest.PartLimiter); ok {
		lo, _ := l.PartSizeLimits()
		req.ChunkSizeBytes = max(req.ChunkSizeBytes, lo)
	}
	if req.IdempotencyKey != "" {
		existing, err := s.store.SessionByIdempotencyKey(ctx, actor.ID, req.IdempotencyKey)
		if err == nil {
			f, created, err := s.replayPut(ctx, actor, existing, req, body, d, "")
			return f, existing.ID, created, err
		}
		if ingest.ErrorCode(err) != ingest.ENotFound {
			return nil, uuid.Nil, false, err
		}
	}
	if err := s.checkBatch(ctx, actor, req.BatchID); err != nil {
		return nil, uuid.Nil, false, err
	}

	file := &ingest.File{ID: ingest.NewID(), SizeBytes: req.SizeBytes, OriginalFilename: req.Filename,
		ContentType: req.ContentType, UploadedByID: actor.ID, BatchID: req.BatchID, GrantID: grantID(actor), Metadata: req.Metadata}
	sess := &ingest.UploadSession{ID: ingest.NewID(), FileID: file.ID, ChunkSizeBytes: req.ChunkSizeBytes,
		TotalParts: ingest.TotalParts(req.SizeBytes, req.ChunkSizeBytes), IdempotencyKey: req.IdempotencyKey,
		UploadedByID: actor.ID, ExpiresAt: s.now().Add(s.cfg.SessionTTL), DeclaredSHA256: req.SHA256,
		TusMetadata: req.Tus.Metadata}
	if err := ingest.ValidateUpload(file, sess); err != nil {
		return nil, uuid.Nil, false, err
	}
	// The reservation comes before the body, so that a grant's bytes are counted before they are
	// taken in.
	release, err := s.reserve(ctx, actor, req)
	if err != nil {
		return nil, uuid.Nil, false, err
	}
	unhold, err := s.holdPlace(ctx, actor, req.SizeBytes)
	if err != nil {
		release()
		return nil, uuid.Nil, false, err
	}
	defer unhold()
	key := ingest.ObjectKey(s.blobs.Prefix(), file.ID, ingest.IDTime(file.ID))
	sums := newPartSums(Digest{CRC32C: d.CRC32C}, newRunningHash())
	flush, err := s.putObject(ctx, key, io.TeeReader(body, sums), req.SizeBytes)
	if err != nil {
		release()
		return nil, uuid.Nil, false, err
	}
	receipt, err := sums.verify(Digest{CRC32C: d.CRC32C}, req.SizeBytes)
	sum := sums.running.Hex()
	if err == nil && req.SHA256 != "" && sum != req.SHA256 {
		err = &ingest.Error{Code: ingest.EChecksumMismatch,
			Message: fmt.Sprintf("%s: declared sha256 %s, received bytes hash to %s", checksumMismatch, req.SHA256, sum),
			Details: map[string]any{"declared_sha256": req.SHA256, "computed_sha256": sum}}
	}
	if err != nil {
		s.deleteObject(ctx, key)
		if !s.recordFailure(ctx, file, sess, err) {
			release()
		}
		return nil, uuid.Nil, false, err
	}
	obj := ingest.StoredObject{SHA256: sum, SizeBytes: req.SizeBytes, Backend: s.blobs.Backend(), Bucket: s.blobs.Bucket(), Key: key}
	if err := s.store.RecordStoredUpload(ctx, file, sess, receipt, obj, flush); err != nil {
		if errors.Is(err, ingest.ErrOutcomeUnknown) {
			return nil, uuid.Nil, false, err // the file may be STORED: its object stays
		}
		s.deleteObject(ctx, key)
		release()
		if ingest.ErrorCode(err) == ingest.EIdempotencyConflict {
			// Another request with the same key won the race: answer as if it had come first.
			if existing, lookupErr := s.store.SessionByIdempotencyKey(ctx, actor.ID, req.IdempotencyKey); lookupErr == nil {
				f, created, err := s.replayPut(ctx, actor, existing, req, nil, d, sum)
				return f, existing.ID, created, err
			}
		}
		return nil, uuid.Nil, false, err
	}
	return file, sess.ID, true, nil
}

// replayPut answers a single-request upload repeated with its idempotency key: a different
// request conflicts; an upload that ended answers its outcome (its file or the error it ended
// with); one still in progress — begun in parts under the same key — is finished with this body.
// A repeat whose bytes differ from the stored file's is a different request too: bodySum is the
// body's SHA-256 when it was already read, "" to read it here.
func (s *Service) replayPut(ctx context.Context, actor *ingest.User, existing *ingest.UploadSession, req CreateRequest, body io.Reader, d Digest, bodySum string) (*ingest.File, bool, error) {
	if _, _, err := s.replay(ctx, actor, existing, req); err != nil {
		return nil, false, err
	}
	finished := !existing.Status.Active()
	if !finished && existing.TotalParts == 1 && body != nil {
		if _, err := s.PutPart(ctx, actor, existing.ID, 1, req.SizeBytes, body, Digest{CRC32C: d.CRC32C}); err != nil {
			return nil, false, err
		}
	}
	f, err := s.Complete(ctx, actor, existing.ID)
	if err != nil || !finished || req.SHA256 != "" { // a declared hash was compared by replay
		return f, false, err
	}
	if bodySum == "" && body != nil {
		h := newRunningHash()
		if _, err := io.Copy(h, body); err != nil {
			return nil, false, err
		}
		bodySum = h.Hex()
	}
	if bodySum != "" && bodySum != f.SHA256 {
		return nil, false, &ingest.Error{Code: ingest.EIdempotencyConflict,
			Message: "the idempotency key was used for an upload of other bytes",
			Details: map[string]any{"upload_id": existing.ID, "file_id": existing.FileID}}
	}
	return f, false, nil
}

// recordFailure records a failed single-request upload when the client sent an idempotency key,
// so that its retry answers the same error; without a key there is nothing to answer again. The
// cause's code becomes the file's failure code (a checksum mismatch is the one failure that gets
// here); a cause no failed file can carry is not recorded, and its retry starts afresh. It
// reports whether the file was recorded.
func (s *Service) recordFailure(ctx context.Context, file *ingest.File, sess *ingest.UploadSession, cause error) bool {
	code, reason := ingest.ErrorCode(cause), ingest.ErrorMessage(cause)
	if sess.IdempotencyKey == "" || ingest.CheckFailure(ingest.SessionFailed, code) != nil {
		return false
	}
	ctx = context.WithoutCancel(ctx)
	if err := s.store.CreateUpload(ctx, file, sess, ingest.UploadQuota{}); err != nil {
		s.logger.Warn("record a failed single-request upload", "file", file.ID, "err", err)
		return false
	}
	if code == ingest.EChecksumMismatch && !strings.HasPrefix(reason, checksumMismatch) {
		// The reason is the message the retry answers; it says what failed, as rejectChecksum's does.
		reason = checksumMismatch + ": " + reason
	}
	if _, err := s.store.EndUpload(ctx, sess.ID, ingest.SessionFailed, code, reason); err != nil {
		s.logger.Warn("record a failed single-request upload", "file", file.ID, "err", err)
	}
	return true
}

// holdPlace reserves a place in the actor's quota for a single-request upload of size bytes while
// its body streams in, and returns what gives it back. A reservation its process did not give
// back (a crash) holds its place for the session TTL, as an abandoned session would.
func (s *Service) holdPlace(ctx context.Context, actor *ingest.User, size int64) (release func(), err error) {
	q := s.quota(actor)
	if !q.Limited() {
		return func() {}, nil
	}
	id, err := s.store.ReserveUpload(ctx, actor.ID, size, s.now().Add(s.cfg.SessionTTL), q)
	if err != nil {
		return nil, err
	}
	return func() {
		if err := s.store.ReleaseReservation(context.WithoutCancel(ctx), id); err != nil {
			s.logger.Warn("give back a single-request upload's place in its user's quota", "user", actor.ID, "err", err)
		}
	}, nil
}

// putObject stores the body as the object at key. Where the blob store can, it leaves the flush
// to the transaction that records the file (ingest.DeferredPutter), and returns it pending.
func (s *Service) putObject(ctx context.Context, key string, body io.Reader, size int64) (ingest.Pending, error) {
	if d, ok := s.blobs.(ingest.DeferredPutter); ok {
		return d.PutObjectDeferred(ctx, key, body, size)
	}
	return nil, s.blobs.PutObject(ctx, key, body, size)
}

// deleteObject removes an object that will never be recorded; a failure leaves garbage only.
func (s *Service) deleteObject(ctx context.Context, key string) {
	if err := s.blobs.DeleteObject(context.WithoutCancel(ctx), key); err != nil {
		s.logger.Warn("delete an unrecorded object", "key", key, "err", err)
	}
}
