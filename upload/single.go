package upload

import (
	"context"
	"encoding/hex"
	"io"

	"github.com/ingest-portal/ingest"
)

// Put is the single-request upload: req.SizeBytes bytes of body become a stored file in one call.
// A SHA-256 digest of the body is the file's declared hash (so the bytes are still hashed once);
// a CRC32C digest is checked as the part's. With an idempotency key already used for the same
// request it finishes or returns that upload (created=false). It returns EPayloadTooLarge beyond
// the single-upload limit and whatever CreateSession, PutPart and Complete return.
func (s *Service) Put(ctx context.Context, actor *ingest.User, req CreateRequest, body io.Reader, d Digest) (*ingest.File, bool, error) {
	if req.SizeBytes > s.cfg.MaxSingleUpload {
		return nil, false, &ingest.Error{Code: ingest.EPayloadTooLarge, Message: "the body is larger than a single-request upload takes; upload it in parts",
			Details: map[string]any{"max_single_upload": s.cfg.MaxSingleUpload}}
	}
	if d.SHA256 != nil {
		declared := hex.EncodeToString(d.SHA256)
		if req.SHA256 != "" && req.SHA256 != declared {
			return nil, false, ingest.Errorf(ingest.EValidation, "the sha256 and the Content-Digest disagree")
		}
		req.SHA256 = declared
	}
	// One part holds the whole body, unless the store's minimum part is larger.
	req.ChunkSizeBytes = max(req.SizeBytes, 1)
	if l, ok := s.blobs.(ingest.PartLimiter); ok {
		lo, _ := l.PartSizeLimits()
		req.ChunkSizeBytes = max(req.ChunkSizeBytes, lo)
	}
	sess, created, err := s.CreateSession(ctx, actor, req)
	if err != nil {
		return nil, false, err
	}
	if sess.TotalParts == 1 && sess.Status.Active() {
		if _, err := s.PutPart(ctx, actor, sess.ID, 1, req.SizeBytes, body, Digest{CRC32C: d.CRC32C}); err != nil {
			s.abandon(ctx, actor, sess, req.IdempotencyKey)
			return nil, false, err
		}
	}
	// For a replayed upload that has ended, Complete answers its outcome: the stored file, or
	// the error it ended with.
	f, err := s.Complete(ctx, actor, sess.ID)
	if err != nil {
		return nil, false, err
	}
	return f, created, nil
}

// abandon aborts a single-request upload whose body did not arrive, unless the client can resume
// it with its idempotency key.
func (s *Service) abandon(ctx context.Context, actor *ingest.User, sess *ingest.UploadSession, key string) {
	if key != "" {
		return
	}
	if _, err := s.Abort(context.WithoutCancel(ctx), actor, sess.ID); err != nil {
		s.logger.Warn("abort an abandoned single-request upload", "session", sess.ID, "err", err)
	}
}
