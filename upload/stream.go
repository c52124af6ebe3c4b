package upload

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"time"

	"github.com/google/uuid"

	"github.com/ingest-portal/ingest"
)

// StreamRequest asks for a streamed upload: one whose bytes arrive in order, as one stream sent in
// pieces of any size (the tus protocol's uploads).
type StreamRequest struct {
	CreateRequest
	// LengthDeferred leaves the size unknown until a later Append declares it; SizeBytes is
	// ignored.
	LengthDeferred bool
	// Partial makes an upload that is only ever a piece of another (Concatenate): it is never
	// stored as a file nor announced, and belongs to no batch.
	Partial bool
	// FileID is the id the file takes, chosen by the caller (Uppy's form POST names it before
	// the upload exists); the zero value makes a new one. An id already taken answers EConflict.
	FileID uuid.UUID
}

// CreateStream registers a file and its streamed upload session. It returns what CreateSession
// returns, and EPayloadTooLarge for a size beyond the maximum file size.
func (s *Service) CreateStream(ctx context.Context, actor *ingest.User, req StreamRequest) (*ingest.UploadSession, error) {
	if actor.Grant != nil && req.Partial {
		return nil, errGrantConcat()
	}
	if req.LengthDeferred {
		req.SizeBytes = 0
	}
	if req.Partial {
		req.BatchID = nil
	}
	if err := s.clean(&req.CreateRequest); err != nil {
		return nil, err
	}
	if err := withGrant(actor, &req.CreateRequest); err != nil {
		return nil, err
	}
	chunk, err := s.streamChunk(req.SizeBytes, req.LengthDeferred)
	if err != nil {
		return nil, err
	}
	if err := s.checkBatch(ctx, actor, req.BatchID); err != nil {
		return nil, err
	}
	// A deferred length reserves the file with no bytes: they are counted when it is declared
	// (grantLength).
	release, err := s.reserve(ctx, actor, req.CreateRequest)
	if err != nil {
		return nil, err
	}
	fileID := req.FileID
	if fileID == uuid.Nil {
		fileID = ingest.NewID()
	}
	file := &ingest.File{ID: fileID, SizeBytes: req.SizeBytes, OriginalFilename: req.Filename,
		ContentType: req.ContentType, UploadedByID: actor.ID, BatchID: req.BatchID, GrantID: grantID(actor),
		Partial: req.Partial, Metadata: req.Metadata}
	sess := &ingest.UploadSession{ID: ingest.NewID(), FileID: file.ID, ChunkSizeBytes: chunk,
		TotalParts: ingest.TotalParts(req.SizeBytes, chunk), UploadedByID: actor.ID,
		ExpiresAt: s.now().Add(s.cfg.SessionTTL), DeclaredSHA256: req.SHA256,
		Streamed: true, LengthDeferred: req.LengthDeferred, Partial: req.Partial, TusMetadata: req.Tus.Metadata}
	if req.LengthDeferred {
		sess.TotalParts = ingest.MaxParts
	}
	if err := s.register(ctx, file, sess, s.quota(actor)); err != nil {
		if !errors.Is(err, ingest.ErrOutcomeUnknown) {
			release()
		}
		return nil, err
	}
	return sess, nil
}

// streamChunk is the part size of a streamed upload. Parts cost a database write each; a stream
// may end anywhere inside one. A deferred length takes the part size that lets the largest file
// fit, except where parts have a maximum useful size (S3, whose tails are rewritten until whole):
// there it is the default, and the deferred size may be at most MaxParts of them.
func (s *Service) streamChunk(size int64, deferred bool) (int64, error) {
	if !deferred {
		return s.planChunk(size, 0)
	}
	if _, limited := s.blobs.(ingest.PartLimiter); limited {
		return s.planChunk(0, 0)
	}
	return s.planChunk(s.cfg.MaxFileSize, 0)
}

// ErrAppendChecksum is the cause of the EChecksumMismatch of an Append whose bytes differ from its
// Checksum: nothing of it counted and the upload goes on, unlike a whole file that differs from its
// declared SHA-256, which fails the upload.
var ErrAppendChecksum = errors.New("the bytes of an append differ from their checksum")

// Checksum is a client's checksum of the bytes of one Append, checked before any of them count.
type Checksum struct {
	Hash hash.Hash // fresh, of the client's algorithm
	Sum  []byte
}

// AppendRequest is one piece of a streamed upload.
type AppendRequest struct {
	Offset int64 // where the client says these bytes start
	Body   io.Reader
	// Length is how many bytes Body holds, -1 when unknown. Body is read no further than the
	// upload's size.
	Length int64
	// DeclaredLength is the upload's size, for one whose length was deferred; nil if not sent.
	DeclaredLength *int64
	Checksum       *Checksum
}

// StreamState is a streamed upload as it stands: its session, and its file once stored.
type StreamState struct {
	Session *ingest.UploadSession
	File    *ingest.File
}

// Offset returns how many bytes the upload holds durably.
func (st *StreamState) Offset() int64 {
	if st.Session.Status == ingest.SessionComplete {
		return st.File.SizeBytes
	}
	return st.Session.OffsetBytes
}

// Stream returns a streamed upload the actor can see. A session that completed, streamed or not,
// is one too (its offset is its size). It returns ENotFound for an upload that does not exist,
// is not streamed, or was aborted; ESessionExpired for one that expired and ESessionNotActive for
// one that failed. An upload that holds all its bytes but whose file was not stored (its portal
// stopped in between) is completed first, as Complete does, and returns what Complete returns.
func (s *Service) Stream(ctx context.Context, actor *ingest.User, id uuid.UUID) (*StreamState, error) {
	sess, err := s.session(ctx, actor, id)
	if err != nil {
		return nil, err
	}
	file, err := s.store.File(ctx, sess.FileID)
	if err != nil {
		return nil, err
	}
	switch {
	case sess.Status == ingest.SessionAborted || (!sess.Streamed && sess.Status != ingest.SessionComplete):
		return nil, notFound("upload", id)
	case sess.Status.Active():
		if err := s.expired(ctx, sess); err != nil {
			return nil, err
		}
		// A portal stopped between making an upload's last bytes durable and storing its file
		// (a crash, a power cut, a failed commit) leaves an upload whose offset is its size. A tus
		// client takes such an upload for complete and sends nothing more: finish it here, or
		// its file would never be stored.
		st := &StreamState{Session: sess, File: file}
		if !sess.Partial {
			if err := s.finishStream(ctx, actor, st); err != nil {
				return nil, err
			}
		}
		return st, nil
	case sess.Status != ingest.SessionComplete:
		if _, err := s.ended(sess, file); err != nil {
			return nil, err
		}
	}
	return &StreamState{Session: sess, File: file}, nil
}

// Append writes the bytes of req at req.Offset, which must be the upload's offset, and counts
// those that are durable: the offset moves only past bytes the storage holds. Without a checksum
// the progress is recorded part by part, so a client that goes away mid-way keeps what arrived;
// with one, nothing counts unless the whole body matches it. When the offset reaches the size, the
// upload completes as Complete does (a partial one only makes its object, for Concatenate).
//
// One Append at a time writes an upload, across instances: it returns EUploadLocked while another
// holds it. It also returns EOffsetMismatch, EChecksumMismatch (nothing counted), EPayloadTooLarge
// for bytes past the size, EValidation for a declared length that does not fit, EForbidden for a
// concatenation (which takes no bytes of its own), and what Stream returns. A body that fails
// after some bytes counted returns the state with the error.
func (s *Service) Append(ctx context.Context, actor *ingest.User, id uuid.UUID, req AppendRequest) (*StreamState, error) {
	st, err := s.Stream(ctx, actor, id)
	if err != nil {
		return nil, err
	}
	if st.Session.TusConcat != "" {
		return nil, ingest.Errorf(ingest.EForbidden, "upload %s is the concatenation of other uploads: it takes no bytes of its own", id)
	}
	if st.Session.Status == ingest.SessionComplete {
		if err := s.appendToComplete(st, req); err != nil {
			return nil, err
		}
		return st, nil
	}
	// The lease comes first: while another request writes, the offset moves under us, and the
	// answer that tells a client to wait (423) must not turn into one that tells it to HEAD (409).
	owner := ingest.NewID().String()
	sess, err := s.store.AcquireLease(ctx, id, owner, req.Offset, s.now().Add(s.cfg.StreamLease))
	if err != nil {
		return nil, err
	}
	defer func() {
		if err := s.store.ReleaseLease(context.WithoutCancel(ctx), id, owner); err != nil {
			s.logger.Warn("release the lease of a streamed upload", "session", id, "err", err)
		}
	}()
	st.Session = sess
	if err := s.checkAppend(st, req); err != nil {
		return nil, err
	}
	release, err := s.grantLength(ctx, st, &req)
	if err != nil {
		return nil, err
	}
	w, err := s.newStreamWrite(ctx, st, owner, req, s.quota(actor))
	if err != nil {
		release()
		return nil, err
	}
	err = w.run(ctx)
	if w.length != nil && !errors.Is(err, ingest.ErrOutcomeUnknown) {
		release() // the declared length was not recorded
	}
	if err != nil {
		if st.Session.OffsetBytes == req.Offset {
			return nil, err
		}
		return st, err
	}
	if err := s.finishStream(ctx, actor, st); err != nil {
		return nil, err
	}
	return st, nil
}

// appendToComplete answers an Append to an upload that is complete: a repeat of the last piece, or
// an empty one at its end, succeeds without writing; anything else is past its size.
func (s *Service) appendToComplete(st *StreamState, req AppendRequest) error {
	if req.Offset != st.File.SizeBytes {
		return offsetMismatch(st.Session.ID, st.File.SizeBytes, req.Offset)
	}
	if req.Length > 0 {
		return ingest.Errorf(ingest.EPayloadTooLarge, "upload %s is complete: it takes no more bytes", st.Session.ID)
	}
	return nil
}

// checkAppend refuses a piece the upload cannot take as it stands.
func (s *Service) checkAppend(st *StreamState, req AppendRequest) error {
	sess, size := st.Session, st.File.SizeBytes
	if !sess.Status.Active() {
		return ingest.CheckSessionTransition(sess.ID, sess.Status, ingest.SessionInProgress)
	}
	if req.Offset != sess.OffsetBytes {
		return offsetMismatch(sess.ID, sess.OffsetBytes, req.Offset)
	}
	if req.DeclaredLength != nil {
		l := *req.DeclaredLength
		switch {
		case !sess.LengthDeferred && l != size:
			return ingest.Errorf(ingest.EValidation, "upload %s has a length of %d bytes, not %d", sess.ID, size, l)
		case !sess.LengthDeferred:
		case l > s.cfg.MaxFileSize || ingest.TotalParts(l, sess.ChunkSizeBytes) > ingest.MaxParts:
			return &ingest.Error{Code: ingest.EPayloadTooLarge, Message: "the file is larger than this portal takes",
				Details: map[string]any{"max_file_size": min(s.cfg.MaxFileSize, sess.ChunkSizeBytes*ingest.MaxParts)}}
		case l < sess.OffsetBytes || (req.Length >= 0 && l < sess.OffsetBytes+req.Length):
			return ingest.Errorf(ingest.EValidation, "a length of %d bytes is less than what upload %s holds and is sent", l, sess.ID)
		}
		size = l
	}
	if req.Length >= 0 && !sess.LengthDeferred && req.Offset+req.Length > size {
		return ingest.Errorf(ingest.EPayloadTooLarge, "upload %s has %d bytes; %d at offset %d go past its end", sess.ID, size, req.Length, req.Offset)
	}
	if sess.LengthDeferred && req.DeclaredLength == nil && req.Length >= 0 &&
		req.Offset+req.Length > sess.ChunkSizeBytes*ingest.MaxParts {
		return ingest.Errorf(ingest.EPayloadTooLarge, "upload %s takes at most %d bytes", sess.ID, sess.ChunkSizeBytes*ingest.MaxParts)
	}
	return nil
}

func offsetMismatch(id uuid.UUID, offset, sent int64) error {
	return &ingest.Error{Code: ingest.EOffsetMismatch, Message: fmt.Sprintf("upload %s is at offset %d, not %d", id, offset, sent),
		Details: map[string]any{"offset": offset}}
}

// finishStream completes an upload whose offset has reached its size: through Complete for a
// file, or by making the object of a partial upload.
func (s *Service) finishStream(ctx context.Context, actor *ingest.User, st *StreamState) error {
	sess := st.Session
	if sess.LengthDeferred || sess.OffsetBytes < st.File.SizeBytes {
		return nil
	}
	if sess.Partial {
		return s.completePartial(ctx, sess, st.File)
	}
	file, err := s.Complete(ctx, actor, sess.ID)
	if err != nil {
		return err
	}
	st.File = file
	st.Session, err = s.store.UploadSession(ctx, sess.ID)
	return err
}

// completePartial makes the object of a partial upload that holds all its bytes, so that a final
// upload can be made from it. Its session stays open: the upload may be concatenated again.
func (s *Service) completePartial(ctx context.Context, sess *ingest.UploadSession, file *ingest.File) error {
	written, err := s.writtenParts(ctx, sess)
	if err != nil {
		return err
	}
	if err := s.blobs.CompleteUpload(ctx, s.blobUpload(sess, file.SizeBytes), written); err != nil {
		return fmt.Errorf("complete a partial upload: %w", err)
	}
	return nil
}

// streamWrite is one Append under way: the upload as recorded, and what its bytes have added.
type streamWrite struct {
	s       *Service
	st      *StreamState
	owner   string
	writer  ingest.StreamWriter
	u       ingest.BlobUpload
	req     AppendRequest
	running *runningHash // the file's SHA-256, over every byte up to offset
	crc     uint32       // the CRC32C of the bytes of the part in progress
	check   hash.Hash    // the client's checksum of this piece, or nil
	// pending is what was written and not yet recorded: from the recorded offset to offset.
	offset  int64
	pending []ingest.StreamedPart
	length  *int64 // a declared length not yet recorded
	// renewed is when the lease was last extended, recorded when this Append last recorded its
	// progress (never, at first: its first whole part is recorded at once, so that a HEAD soon
	// shows the upload moving).
	renewed, recorded time.Time
	// quota is the uploader's, which a deferred length declared by this Append must fit.
	quota ingest.UploadQuota
}

func (s *Service) newStreamWrite(_ context.Context, st *StreamState, owner string, req AppendRequest, q ingest.UploadQuota) (*streamWrite, error) {
	writer, ok := s.blobs.(ingest.StreamWriter)
	if !ok {
		return nil, ingest.Errorf(ingest.EValidation, "this portal's storage does not take streamed uploads")
	}
	running, err := resumeHash(st.Session.HashState)
	if err != nil {
		return nil, err
	}
	size := st.File.SizeBytes
	switch {
	case req.DeclaredLength != nil:
		size = *req.DeclaredLength
	case st.Session.LengthDeferred:
		size = st.Session.ChunkSizeBytes * ingest.MaxParts // every part whole until the size is known
	}
	w := &streamWrite{s: s, st: st, owner: owner, writer: writer, u: s.blobUpload(st.Session, size), req: req,
		running: running, crc: st.Session.TailCRC32C, offset: st.Session.OffsetBytes, length: req.DeclaredLength,
		renewed: s.now(), quota: q}
	if req.Checksum != nil {
		w.check = req.Checksum.Hash
	}
	return w, nil
}

// run writes the body part by part until it ends or the upload is full, recording progress as it
// goes (or, with a checksum, once at the end), and returns why it stopped early, if it did.
func (w *streamWrite) run(ctx context.Context) error {
	avail := w.req.Length
	body := &leasedReader{r: w.req.Body, w: w, ctx: ctx}
	if w.length != nil && w.offset == w.u.Size && w.offset%w.u.ChunkSize != 0 {
		// The length is declared where the bytes already sent end, inside a part whose size was
		// not known when they were written: the part is whole now.
		return w.finishLastPart(ctx)
	}
	for w.offset < w.u.Size && avail != 0 {
		n := int(w.offset/w.u.ChunkSize) + 1
		from := w.offset - w.u.PartOffset(n)
		out, err := w.writer.WriteStream(ctx, w.u, n, from, io.TeeReader(body, w), avail)
		if out.Taken == 0 && err != nil {
			return err
		}
		w.offset += out.Taken
		if avail >= 0 {
			avail -= out.Taken
		}
		if out.Part != nil {
			w.pending = append(w.pending, ingest.StreamedPart{Number: n,
				PartReceipt: ingest.PartReceipt{SizeBytes: out.Part.Size, CRC32C: w.crc, ETag: out.Part.ETag}})
			w.crc = 0
			if w.check == nil && w.s.now().Sub(w.recorded) >= w.s.cfg.StreamRecordInterval {
				if rerr := w.record(ctx); rerr != nil {
					return rerr
				}
			}
		}
		if err != nil {
			return errors.Join(err, w.recordUnchecked(ctx))
		}
		if out.Part == nil {
			break // the body ended inside the part
		}
	}
	if w.check != nil && !bytes.Equal(w.check.Sum(nil), w.req.Checksum.Sum) {
		return &ingest.Error{Code: ingest.EChecksumMismatch, Message: "the bytes sent differ from their Upload-Checksum; none of them were kept",
			Err: ErrAppendChecksum}
	}
	return w.record(ctx)
}

// finishLastPart completes the part in which the upload's bytes end, every byte of which was
// written before its size was known, and records it with the declared length.
func (w *streamWrite) finishLastPart(ctx context.Context) error {
	n := int((w.offset-1)/w.u.ChunkSize) + 1
	out, err := w.writer.WriteStream(ctx, w.u, n, w.offset-w.u.PartOffset(n), eofReader{}, 0)
	if err != nil {
		return err
	}
	if out.Part == nil {
		return fmt.Errorf("part %d of upload %s is not whole at its end", n, w.st.Session.ID)
	}
	w.pending = append(w.pending, ingest.StreamedPart{Number: n,
		PartReceipt: ingest.PartReceipt{SizeBytes: out.Part.Size, CRC32C: w.crc, ETag: out.Part.ETag}})
	w.crc = 0
	return w.record(ctx)
}

// eofReader is a body with nothing in it.
type eofReader struct{}

func (eofReader) Read([]byte) (int, error) { return 0, io.EOF }

// Write feeds the hashes with the bytes the storage is being given.
func (w *streamWrite) Write(p []byte) (int, error) {
	w.running.Write(p)
	w.crc = crc32.Update(w.crc, castagnoli, p)
	if w.check != nil {
		w.check.Write(p)
	}
	return len(p), nil
}

// recordUnchecked records the progress of a piece that stopped early, unless it had a checksum,
// which can no longer be verified.
func (w *streamWrite) recordUnchecked(ctx context.Context) error {
	if w.check != nil {
		return nil
	}
	return w.record(ctx)
}

// record makes the pending progress the upload's, in one transaction.
func (w *streamWrite) record(ctx context.Context) error {
	sess := w.st.Session
	if w.offset == sess.OffsetBytes && w.length == nil {
		return nil
	}
	now := w.s.now()
	p := ingest.StreamProgress{From: sess.OffsetBytes, To: w.offset, Parts: w.pending, HashState: w.running.State(),
		TailCRC32C: w.crc, Length: w.length, Quota: w.quota, ExpiresAt: now.Add(w.s.cfg.SessionTTL), LeaseUntil: now.Add(w.s.cfg.StreamLease)}
	recorded, err := w.s.store.RecordStream(context.WithoutCancel(ctx), sess.ID, w.owner, p)
	if err != nil {
		return err
	}
	w.st.Session, w.pending, w.length, w.renewed, w.recorded = recorded, nil, nil, now, now
	if p.Length != nil {
		w.st.File.SizeBytes = *p.Length
	}
	return nil
}

// renew extends the lease when a third of it has passed since it was last extended, so that a
// slow but live writer keeps its upload, and stops the writer that lost it before it writes more.
func (w *streamWrite) renew(ctx context.Context) error {
	now := w.s.now()
	if now.Sub(w.renewed) < w.s.cfg.StreamLease/3 {
		return nil
	}
	if _, err := w.s.store.AcquireLease(ctx, w.st.Session.ID, w.owner, w.st.Session.OffsetBytes, now.Add(w.s.cfg.StreamLease)); err != nil {
		return err
	}
	w.renewed = now
	return nil
}

// leasedReader reads the body, renewing the writer's lease before handing over bytes that came
// after a long wait.
type leasedReader struct {
	r   io.Reader
	w   *streamWrite
	ctx context.Context
}

func (l *leasedReader) Read(p []byte) (int, error) {
	n, err := l.r.Read(p)
	if n > 0 {
		if rerr := l.w.renew(l.ctx); rerr != nil {
			return 0, rerr
		}
	}
	return n, err
}
