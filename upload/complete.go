package upload

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/ingest-portal/ingest"
)

// checksumMismatch begins the message of a CHECKSUM_MISMATCH, and the failure reason of a file
// that failed with it, which a repeated completion answers again.
const checksumMismatch = "checksum mismatch"

// reasonExpired is the failure reason of a file whose session expired.
const reasonExpired = "expired"

// Complete finishes an upload whose parts are all received: it makes the object, finishes the
// file's SHA-256 (reading back only what the running hash has not covered), checks it against the
// declared hash, and in one transaction stores the file, completes the session, counts the file in
// its batch and writes the file.stored event. Completing again returns the same file. A completion
// interrupted after the object was made is finished by the next one.
//
// It returns EMissingParts (details: "missing"), EChecksumMismatch (the session and file are then
// FAILED), ESessionNotActive, ESessionExpired and ENotFound.
func (s *Service) Complete(ctx context.Context, actor *ingest.User, sessionID uuid.UUID) (*ingest.File, error) {
	return s.CompleteDeclared(ctx, actor, sessionID, "")
}

// CompleteDeclared is Complete with one more whole-file SHA-256 declared by the client at
// completion: one it computed while it streamed the parts, when it could not know the hash before
// creating the session. Every hash the client declared, at creation and here, must be the hash
// of the bytes received; a mismatch fails the upload as Complete does. On an upload that is
// already COMPLETE, a sha256 other than the stored file's answers EChecksumMismatch and changes
// nothing: the file stays STORED. It also returns EValidation when sha256 is not 64 hex digits.
func (s *Service) CompleteDeclared(ctx context.Context, actor *ingest.User, sessionID uuid.UUID, sha256 string) (*ingest.File, error) {
	sha256 = strings.ToLower(sha256)
	if sha256 != "" {
		if err := ingest.ValidateSHA256(sha256); err != nil {
			return nil, err
		}
	}
	if _, err := s.session(ctx, actor, sessionID); err != nil {
		return nil, err
	}
	// One completion of a session at a time in this process; the store's compare-and-set decides
	// between processes. The session is read again under the lock.
	unlock, err := s.hashes.Lock(ctx, sessionID)
	if err != nil {
		return nil, err
	}
	defer unlock()
	sess, err := s.store.UploadSession(ctx, sessionID)
	if err != nil {
		return nil, err
	}
	file, err := s.store.File(ctx, sess.FileID)
	if err != nil {
		return nil, err
	}
	if done, err := s.ended(sess, file); done || err != nil {
		if err == nil && sha256 != "" && sha256 != file.SHA256 {
			return nil, &ingest.Error{Code: ingest.EChecksumMismatch,
				Message: fmt.Sprintf("%s: the file is stored with sha256 %s, not the declared %s", checksumMismatch, file.SHA256, sha256),
				Details: map[string]any{"declared_sha256": sha256, "computed_sha256": file.SHA256}}
		}
		return file, err
	}
	if err := s.expired(ctx, sess); err != nil {
		return nil, err
	}
	written, err := s.writtenParts(ctx, sess)
	if err != nil {
		return nil, err
	}
	u := s.blobUpload(sess, file.SizeBytes)
	if err := s.blobs.CompleteUpload(ctx, u, written); err != nil {
		if ingest.ErrorCode(err) == ingest.ENotFound {
			if file, done, err := s.endedMeanwhile(ctx, sess); done {
				return file, err
			}
			return nil, s.lostData(ctx, sess, err)
		}
		return nil, fmt.Errorf("complete the object: %w", err)
	}
	sum, err := s.finishHash(ctx, sess, u)
	if err != nil {
		return nil, err
	}
	for _, declared := range []string{sess.DeclaredSHA256, sha256} {
		if declared != "" && sum != declared {
			return nil, s.rejectChecksum(ctx, sess, u, declared, sum)
		}
	}
	stored, err := s.store.StoreFile(ctx, sessionID, ingest.StoredObject{
		SHA256: sum, SizeBytes: file.SizeBytes, Backend: s.blobs.Backend(), Bucket: s.blobs.Bucket(), Key: u.Key,
	})
	var te *ingest.TransitionError
	if errors.As(err, &te) {
		// Another process completed (or ended) the session meanwhile: answer what it decided.
		if again, againErr := s.store.UploadSession(ctx, sessionID); againErr == nil {
			if f, fileErr := s.store.File(ctx, sess.FileID); fileErr == nil {
				if done, endErr := s.ended(again, f); done {
					return f, endErr
				}
			}
		}
	}
	return stored, err
}

// ended answers a request on a session that has already ended: the stored file for a complete
// one, CHECKSUM_MISMATCH again for one that failed on its hash, SESSION_EXPIRED again for an
// expired one, SESSION_NOT_ACTIVE otherwise.
func (s *Service) ended(sess *ingest.UploadSession, file *ingest.File) (bool, error) {
	switch {
	case sess.Status == ingest.SessionComplete:
		return true, nil
	case sess.Status.Active():
		return false, nil
	case file.FailureCode == ingest.EChecksumMismatch:
		return true, &ingest.Error{Code: ingest.EChecksumMismatch, Message: file.FailureReason}
	case file.FailureCode == ingest.ESessionExpired:
		return true, ingest.Errorf(ingest.ESessionExpired, "upload session %s expired", sess.ID)
	}
	return true, ingest.CheckSessionTransition(sess.ID, sess.Status, ingest.SessionComplete)
}

// writtenParts returns every part of the session as the blob store wrote it, or EMissingParts.
func (s *Service) writtenParts(ctx context.Context, sess *ingest.UploadSession) ([]ingest.WrittenPart, error) {
	parts, err := s.store.Parts(ctx, sess.ID)
	if err != nil {
		return nil, err
	}
	byNumber := make(map[int]*ingest.Part, len(parts))
	for _, p := range parts {
		if p.Status == ingest.PartReceived {
			byNumber[p.PartNumber] = p
		}
	}
	written := make([]ingest.WrittenPart, 0, sess.TotalParts)
	missing := []int{}
	for n := 1; n <= sess.TotalParts; n++ {
		p, ok := byNumber[n]
		if !ok {
			missing = append(missing, n)
			continue
		}
		written = append(written, ingest.WrittenPart{Number: n, Size: p.SizeBytes, ETag: p.ETag})
	}
	if len(missing) > 0 {
		return nil, &ingest.Error{Code: ingest.EMissingParts,
			Message: fmt.Sprintf("%d of %d parts are not received yet", len(missing), sess.TotalParts),
			Details: map[string]any{"missing": missing}}
	}
	return written, nil
}

// finishHash completes the running hash with the bytes it has not covered, read from the object.
func (s *Service) finishHash(ctx context.Context, sess *ingest.UploadSession, u ingest.BlobUpload) (string, error) {
	h, err := resumeHash(sess.HashState)
	if err != nil {
		return "", err
	}
	if offset := u.PartOffset(sess.HashedParts + 1); offset < u.Size {
		r, err := s.blobs.ReadObject(ctx, u.Key, offset, -1)
		if err != nil {
			return "", fmt.Errorf("read the object back: %w", err)
		}
		defer r.Close()
		if _, err := io.Copy(h, r); err != nil {
			return "", fmt.Errorf("read the object back: %w", err)
		}
	}
	return h.Hex(), nil
}

// endedMeanwhile reports whether another request ended the upload while this one completed it
// (an abort that won the race removes the data this one found missing), and answers as a
// completion of the ended upload would: its file, or the error of its end.
func (s *Service) endedMeanwhile(ctx context.Context, sess *ingest.UploadSession) (*ingest.File, bool, error) {
	now, err := s.store.UploadSession(ctx, sess.ID)
	if err != nil || now.Status.Active() {
		return nil, false, nil
	}
	file, err := s.store.File(ctx, now.FileID)
	if err != nil {
		return nil, false, nil
	}
	if _, err := s.ended(now, file); err != nil {
		return nil, true, err
	}
	return file, true, nil
}

// reasonLost is the failure reason of a file whose upload data the storage no longer holds.
const reasonLost = "the storage no longer holds the upload's data"

// lostData fails an upload whose data the storage no longer holds — removed behind the portal's
// back, or an S3 multipart upload ended by a bucket lifecycle rule — so that the client learns to
// start again instead of being told the upload it is completing does not exist.
func (s *Service) lostData(ctx context.Context, sess *ingest.UploadSession, cause error) error {
	s.logger.Error("the storage lost an upload's data", "session", sess.ID, "err", cause)
	if _, err := s.store.EndUpload(ctx, sess.ID, ingest.SessionFailed, ingest.ESessionNotActive, reasonLost); err != nil {
		return err
	}
	return ingest.Errorf(ingest.ESessionNotActive, "upload session %s failed: %s; upload the file again", sess.ID, reasonLost)
}

// rejectChecksum fails an upload whose bytes are not what the client declared, and deletes them.
func (s *Service) rejectChecksum(ctx context.Context, sess *ingest.UploadSession, u ingest.BlobUpload, declared, sum string) error {
	reason := fmt.Sprintf("%s: declared sha256 %s, received bytes hash to %s", checksumMismatch, declared, sum)
	if _, err := s.store.EndUpload(ctx, sess.ID, ingest.SessionFailed, ingest.EChecksumMismatch, reason); err != nil {
		return err
	}
	if err := s.blobs.DeleteObject(context.WithoutCancel(ctx), u.Key); err != nil {
		s.logger.Warn("delete the object of a file that failed its checksum", "session", sess.ID, "err", err)
	}
	return &ingest.Error{Code: ingest.EChecksumMismatch, Message: reason,
		Details: map[string]any{"declared_sha256": declared, "computed_sha256": sum}}
}

// Abort ends an upload at the client's request: the session becomes ABORTED, its file FAILED and
// counted in its batch, and its temporary data is deleted. Aborting an aborted session answers it
// again. It returns ESessionNotActive for a session that completed or failed, and ENotFound.
func (s *Service) Abort(ctx context.Context, actor *ingest.User, sessionID uuid.UUID) (*ingest.UploadSession, error) {
	sess, err := s.session(ctx, actor, sessionID)
	if err != nil {
		return nil, err
	}
	if sess.Status == ingest.SessionAborted {
		return sess, nil
	}
	ended, err := s.store.EndUpload(ctx, sessionID, ingest.SessionAborted, ingest.EAborted, "aborted by the client")
	if err != nil {
		return nil, err
	}
	s.removeTemporary(ctx, ended)
	return ended, nil
}

// removeTemporary deletes the blob data of a session that ended without its file being stored:
// the upload's temporary data, and the object itself if a completion made it before the process
// died (the key belongs to this file alone, and the file will never be STORED). The database
// change came first, so a failure here leaves only garbage, never a session without its data;
// it is logged.
func (s *Service) removeTemporary(ctx context.Context, sess *ingest.UploadSession) {
	file, err := s.store.File(ctx, sess.FileID)
	if err != nil {
		s.logger.Warn("find the file of an ended session", "session", sess.ID, "err", err)
		return
	}
	u := s.blobUpload(sess, file.SizeBytes)
	s.discard(ctx, u)
	if err := s.blobs.DeleteObject(context.WithoutCancel(ctx), u.Key); err != nil {
		s.logger.Warn("delete the object of an ended session", "session", sess.ID, "err", err)
	}
}

// expire fails an expired session and removes its temporary data. It reports whether the session
// has ended, by this call or another.
func (s *Service) expire(ctx context.Context, sess *ingest.UploadSession) bool {
	ended, err := s.store.EndUpload(context.WithoutCancel(ctx), sess.ID, ingest.SessionFailed, ingest.ESessionExpired, reasonExpired)
	if err != nil {
		if ingest.ErrorCode(err) == ingest.ESessionNotActive {
			return true
		}
		s.logger.Warn("expire an upload session", "session", sess.ID, "err", err)
		return false
	}
	s.logger.Info("upload session expired", "session", sess.ID, "file", sess.FileID)
	s.removeTemporary(ctx, ended)
	return true
}

// Sweep fails every session past its expiry and removes its temporary data, and returns how many
// it ended. It stops early when a round ends none (the failures are logged).
func (s *Service) Sweep(ctx context.Context) (int, error) {
	const round = 100
	total := 0
	for {
		due, err := s.store.ExpiredSessions(ctx, s.now(), round)
		if err != nil {
			return total, err
		}
		ended := 0
		for _, sess := range due {
			if s.expire(ctx, sess) {
				ended++
			}
		}
		total += ended
		if len(due) < round || ended == 0 {
			return total, nil
		}
	}
}

// RunSweeper sweeps every interval until ctx ends.
func (s *Service) RunSweeper(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if _, err := s.Sweep(ctx); err != nil && ctx.Err() == nil {
			s.logger.Warn("sweep expired upload sessions", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
