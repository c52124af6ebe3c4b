package upload

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"time"

	"github.com/google/uuid"

	"github.com/ingest-portal/ingest"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Digest is what a client claims about a part's bytes in a Content-Digest (RFC 9530); nil fields
// were not sent.
type Digest struct {
	SHA256 []byte
	CRC32C *uint32
}

// PutPart stores part n of a session from body, which must hold exactly the part's size, and
// records it RECEIVED once its bytes are durable. Sending a received part again with the same
// bytes answers the part again; with other bytes it answers EPartAlreadyReceived, and nothing
// stored changes. It returns EValidation for a part number outside the upload, EPartSizeMismatch
// when size is not the part's, EChecksumMismatch when the bytes contradict the digest,
// ESessionNotActive, ESessionExpired, and ENotFound.
//
// A part sent once, in order, and arriving within Config.PendingAfter costs one read (the session
// with its file and the part) and one write transaction: the part received with the running hash
// advanced. A part still streaming after that is recorded PENDING meanwhile, one write more.
func (s *Service) PutPart(ctx context.Context, actor *ingest.User, sessionID uuid.UUID, n int, size int64, body io.Reader, d Digest) (*ingest.Part, error) {
	sess, file, part, err := s.sessionForPart(ctx, actor, sessionID, n)
	if err != nil {
		return nil, err
	}
	if err := s.takesParts(ctx, sess, file); err != nil {
		return nil, err
	}
	if sess.Streamed {
		return nil, ingest.Errorf(ingest.EValidation, "upload %s takes its bytes as a stream (tus), not in numbered parts", sessionID)
	}
	if n < 1 || n > sess.TotalParts {
		return nil, &ingest.Error{Code: ingest.EValidation, Message: fmt.Sprintf("part %d is not a part of this upload", n),
			Details: map[string]any{"total_parts": sess.TotalParts}}
	}
	u := s.blobUpload(sess, file.SizeBytes)
	if want := u.PartSize(n); size != want {
		return nil, &ingest.Error{Code: ingest.EPartSizeMismatch, Message: fmt.Sprintf("part %d has %d bytes, not %d", n, want, size),
			Details: map[string]any{"expected_size_bytes": want}}
	}

	unlock, err := s.parts.Lock(ctx, partKey{sessionID, n})
	if err != nil {
		return nil, err
	}
	defer unlock()
	if part != nil && part.Status == ingest.PartReceived {
		return s.compareReceived(part, body, size, d)
	}
	// Holding the part's lock, any PENDING part is a writer that died: write over it. A part
	// received by another instance since the read is caught by ReceiveHashedPart's compare-and-set.
	begin := &ingest.Part{SessionID: sessionID, PartNumber: n, TempKey: u.StorageID, SizeBytes: size}

	// The running hash follows the part being streamed when it is the next one in order. The
	// session was read before the part was written: if the hash moved since, the compare-and-set
	// of ReceiveHashedPart leaves it be, and foldReceived catches up.
	var running *runningHash
	if sess.HashedParts == n-1 {
		if running, err = resumeHash(sess.HashState); err != nil {
			return nil, err
		}
	}
	sums := newPartSums(d, running)
	pending := s.pendingAfter(ctx, begin)
	written, err := s.blobs.WritePart(ctx, u, n, io.TeeReader(body, sums))
	pending.settle()
	if err != nil {
		s.failPart(ctx, begin)
		return nil, err
	}
	receipt, err := sums.verify(d, size)
	if err != nil {
		s.failPart(ctx, begin)
		return nil, err
	}
	receipt.ETag = written.ETag
	var hashState []byte
	if running != nil {
		hashState = running.State()
	}
	part, after, err := s.store.ReceiveHashedPart(ctx, sessionID, n, receipt, s.now().Add(s.cfg.SessionTTL), hashState)
	var te *ingest.TransitionError
	if errors.As(err, &te) && te.Code == ingest.EInvalidTransition {
		// Another instance recorded the part first: answer as a repeated send would.
		current, lookupErr := s.partOf(ctx, sessionID, n)
		if lookupErr != nil {
			return nil, lookupErr
		}
		return sameBytes(current, receipt)
	}
	if ingest.ErrorCode(err) == ingest.ESessionNotActive {
		// The session ended while the part streamed (it expired, say): answer why it ended.
		if now, file, _, lookupErr := s.store.UploadSessionForPart(ctx, sessionID, n); lookupErr == nil {
			if endErr := s.takesParts(ctx, now, file); endErr != nil {
				return nil, endErr
			}
		}
	}
	if err != nil {
		return nil, err
	}
	s.foldReceived(ctx, after, u)
	return part, nil
}

// sessionForPart returns the session with the id, its file and its part n (nil when the part has
// no row), read together, if actor may see them.
func (s *Service) sessionForPart(ctx context.Context, actor *ingest.User, id uuid.UUID, n int) (*ingest.UploadSession, *ingest.File, *ingest.Part, error) {
	sess, file, part, err := s.store.UploadSessionForPart(ctx, id, n)
	if err != nil {
		return nil, nil, nil, err
	}
	if !(visible(actor, sess.UploadedByID) || uploadedWith(actor, file)) {
		return nil, nil, nil, notFound("upload session", id)
	}
	return sess, file, part, nil
}

// pendingBegin records a part PENDING if its body is still streaming after Config.PendingAfter,
// so that the database shows a part in flight, without a write for a part that arrives sooner.
type pendingBegin struct {
	timer *time.Timer
	done  chan struct{}
}

func (s *Service) pendingAfter(ctx context.Context, p *ingest.Part) *pendingBegin {
	pb := &pendingBegin{done: make(chan struct{})}
	pb.timer = time.AfterFunc(s.cfg.PendingAfter, func() {
		defer close(pb.done)
		// A part another writer received meanwhile is returned unchanged; a refused begin (the
		// session ended) is for ReceiveHashedPart to answer.
		if _, err := s.store.BeginPart(context.WithoutCancel(ctx), p); err != nil {
			s.logger.Warn("record a streaming part pending", "session", p.SessionID, "part", p.PartNumber, "err", err)
		}
	})
	return pb
}

// settle stops the timer, or waits for the begin it started: the part is recorded PENDING, if at
// all, before anything records it RECEIVED or FAILED.
func (pb *pendingBegin) settle() {
	if !pb.timer.Stop() {
		<-pb.done
	}
}

// takesParts returns the error for a session that no longer takes parts.
func (s *Service) takesParts(ctx context.Context, sess *ingest.UploadSession, file *ingest.File) error {
	if !sess.Status.Active() {
		_, err := s.ended(sess, file)
		return err
	}
	return s.expired(ctx, sess)
}

// failPart records that a write of the part failed; the client's retry reopens it. A part not yet
// recorded PENDING is begun first, since only a PENDING part may fail.
func (s *Service) failPart(ctx context.Context, p *ingest.Part) {
	ctx = context.WithoutCancel(ctx)
	_, err := s.store.BeginPart(ctx, p)
	if err == nil {
		_, err = s.store.FailPart(ctx, p.SessionID, p.PartNumber)
	}
	if err != nil {
		s.logger.Warn("record a failed part", "session", p.SessionID, "part", p.PartNumber, "err", err)
	}
}

// compareReceived answers a part sent again: the bytes are read and summed, never stored.
func (s *Service) compareReceived(part *ingest.Part, body io.Reader, size int64, d Digest) (*ingest.Part, error) {
	sums := newPartSums(d, nil)
	if n, err := io.Copy(sums, io.LimitReader(body, size+1)); err != nil {
		return nil, err
	} else if n != size {
		return nil, ingest.Errorf(ingest.EPartSizeMismatch, "part %d: the body has %d bytes, not %d", part.PartNumber, n, size)
	}
	receipt, err := sums.verify(d, size)
	if err != nil {
		return nil, err
	}
	return sameBytes(part, receipt)
}

// sameBytes answers the received part if receipt describes the same bytes, and
// EPartAlreadyReceived otherwise.
func sameBytes(part *ingest.Part, receipt ingest.PartReceipt) (*ingest.Part, error) {
	same := part.CRC32C != nil && *part.CRC32C == receipt.CRC32C && part.SizeBytes == receipt.SizeBytes &&
		(part.SHA256 == "" || receipt.SHA256 == "" || part.SHA256 == receipt.SHA256)
	if !same {
		return nil, &ingest.Error{Code: ingest.EPartAlreadyReceived,
			Message: fmt.Sprintf("part %d was already received with other bytes", part.PartNumber),
			Details: map[string]any{"part_number": part.PartNumber}}
	}
	return part, nil
}

func (s *Service) partOf(ctx context.Context, sessionID uuid.UUID, n int) (*ingest.Part, error) {
	parts, err := s.store.PartsFrom(ctx, sessionID, n)
	if err != nil {
		return nil, err
	}
	if len(parts) > 0 && parts[0].PartNumber == n {
		return parts[0], nil
	}
	return nil, ingest.Errorf(ingest.ENotFound, "part %d not found", n)
}

// partSums computes what the service learns of a part's bytes as they stream: always the
// CRC32C, the SHA-256 of the part only when the client sent one to verify, and the running file
// hash when this part is next in order.
type partSums struct {
	crc     hash.Hash32
	sha     hash.Hash    // nil unless the client sent a SHA-256 digest
	running *runningHash // nil unless this part is folded into the file hash as it streams
	n       int64
}

func newPartSums(d Digest, running *runningHash) *partSums {
	p := &partSums{crc: crc32.New(castagnoli), running: running}
	if d.SHA256 != nil {
		p.sha = sha256.New()
	}
	return p
}

// Write implements io.Writer; hash writes never fail.
func (p *partSums) Write(b []byte) (int, error) {
	p.crc.Write(b)
	if p.sha != nil {
		p.sha.Write(b)
	}
	if p.running != nil {
		p.running.Write(b)
	}
	p.n += int64(len(b))
	return len(b), nil
}

// verify checks the sums against the client's digest and returns the part's receipt.
func (p *partSums) verify(d Digest, size int64) (ingest.PartReceipt, error) {
	r := ingest.PartReceipt{SizeBytes: size, CRC32C: p.crc.Sum32()}
	if d.CRC32C != nil && *d.CRC32C != r.CRC32C {
		return r, &ingest.Error{Code: ingest.EChecksumMismatch, Message: "the part's CRC32C differs from its Content-Digest"}
	}
	if p.sha != nil {
		sum := p.sha.Sum(nil)
		if !bytes.Equal(sum, d.SHA256) {
			return r, &ingest.Error{Code: ingest.EChecksumMismatch, Message: "the part's SHA-256 differs from its Content-Digest"}
		}
		r.SHA256 = hex.EncodeToString(sum)
	}
	return r, nil
}

// foldReceived folds parts that arrived out of order into the running hash as soon as the parts
// before them are in, reading them back from a store that can, so that completing a file sent in
// parallel has little left to read. Without the capability (S3) the rest is read from the
// finished object at completion. sess is the session as the part's receipt left it: when the
// hash covers every part received, as it does for a file sent in order, there is nothing to fold
// and nothing is read.
//
// One request of the process folds a session at a time, for all of them: a part received while
// another request folds is left to that one, which goes round again, and its own request answers
// at once instead of queueing for the hash to read parts the folder reads anyway. The fold
// outlives a folder whose client went away, for it folds the others' parts too.
func (s *Service) foldReceived(ctx context.Context, sess *ingest.UploadSession, u ingest.BlobUpload) {
	pr, ok := s.blobs.(ingest.PartReader)
	if !ok || sess.HashedParts == sess.ReceivedPartsCount || !s.folds.begin(sess.ID) {
		return
	}
	ctx = context.WithoutCancel(ctx)
	for {
		s.foldOnce(ctx, pr, sess, u)
		if !s.folds.again(sess.ID) {
			return
		}
	}
}

// foldOnce folds the received parts that follow the running hash into it.
func (s *Service) foldOnce(ctx context.Context, pr ingest.PartReader, sess *ingest.UploadSession, u ingest.BlobUpload) {
	unlock, err := s.hashes.Lock(ctx, sess.ID)
	if err != nil {
		s.logger.Warn("fold received parts into the running hash: wait for the hash", "session", sess.ID, "err", err)
		return
	}
	defer unlock()
	fresh, err := s.store.UploadSession(ctx, sess.ID)
	if err != nil {
		s.logger.Warn("fold received parts into the running hash: read the session", "session", sess.ID, "err", err)
		return
	}
	if !fresh.Status.Active() {
		return
	}
	parts, err := s.store.PartsFrom(ctx, sess.ID, fresh.HashedParts+1)
	if err != nil {
		s.logger.Warn("fold received parts into the running hash: read the parts", "session", sess.ID, "err", err)
		return
	}
	received := make(map[int]bool, len(parts))
	for _, p := range parts {
		received[p.PartNumber] = p.Status == ingest.PartReceived
	}
	next := fresh.HashedParts + 1
	if !received[next] {
		return
	}
	h, err := resumeHash(fresh.HashState)
	if err != nil {
		s.logger.Warn("fold received parts into the running hash", "session", sess.ID, "err", err)
		return
	}
	for ; next <= fresh.TotalParts && received[next]; next++ {
		if err := readPart(ctx, pr, u, next, h); err != nil {
			s.logger.Warn("fold a part into the running hash", "session", sess.ID, "part", next, "err", err)
			return
		}
	}
	// Losing the compare-and-set means another request advanced the hash first, which is fine:
	// the work is only wasted.
	if err := s.store.AdvanceHash(ctx, sess.ID, fresh.HashedParts, next-1, h.State()); err != nil && ingest.ErrorCode(err) != ingest.EConflict {
		s.logger.Warn("advance the running hash", "session", sess.ID, "err", err)
	}
}

func readPart(ctx context.Context, pr ingest.PartReader, u ingest.BlobUpload, n int, w io.Writer) error {
	r, err := pr.ReadPart(ctx, u, n)
	if err != nil {
		return err
	}
	defer r.Close()
	_, err = io.Copy(w, r)
	return err
}

// Parts returns the parts of a session the actor can see.
func (s *Service) Parts(ctx context.Context, actor *ingest.User, sessionID uuid.UUID) ([]*ingest.Part, error) {
	if _, err := s.session(ctx, actor, sessionID); err != nil {
		return nil, err
	}
	return s.store.Parts(ctx, sessionID)
}

// Session returns a session the actor can see.
func (s *Service) Session(ctx context.Context, actor *ingest.User, id uuid.UUID) (*ingest.UploadSession, error) {
	return s.session(ctx, actor, id)
}
