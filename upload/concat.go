package upload

import (
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"io"

	"github.com/google/uuid"

	"github.com/ingest-portal/ingest"
)

// Concatenate stores, as one new file, the bytes of complete partial uploads of the actor, in
// order (the tus concatenation extension, tus-js-client's parallelUploads). The object is made
// from the partials' objects by the storage itself where it can (ingest.ObjectConcatenator). The
// file's SHA-256 continues the first partial's running hash and reads the others back once; its
// CRC32C is combined from theirs. The partial uploads stay, to be concatenated again or to expire.
//
// It returns ENotFound for a partial upload that does not exist or is not the actor's own (an
// admin's included), EValidation for one that is not partial or not complete, EPayloadTooLarge
// beyond the maximum file size, EChecksumMismatch when req.SHA256 is not the hash of the bytes,
// and what CreateSession returns for the request's other fields.
func (s *Service) Concatenate(ctx context.Context, actor *ingest.User, req CreateRequest, partialIDs []uuid.UUID) (*ingest.File, *ingest.UploadSession, error) {
	if actor.Grant != nil {
		return nil, nil, errGrantConcat()
	}
	concat, ok := s.blobs.(ingest.ObjectConcatenator)
	if !ok {
		return nil, nil, ingest.Errorf(ingest.EValidation, "this portal's storage cannot concatenate uploads")
	}
	if len(partialIDs) == 0 {
		return nil, nil, ingest.Errorf(ingest.EValidation, "a concatenation names at least one partial upload")
	}
	partials, err := s.completePartials(ctx, actor, partialIDs)
	if err != nil {
		return nil, nil, err
	}
	for _, p := range partials {
		req.SizeBytes += p.file.SizeBytes
	}
	if err := s.clean(&req); err != nil {
		return nil, nil, err
	}
	if req.BatchID != nil {
		if _, err := s.batch(ctx, actor, *req.BatchID); err != nil {
			return nil, nil, err
		}
	}
	file := &ingest.File{ID: ingest.NewID(), SizeBytes: req.SizeBytes, OriginalFilename: req.Filename,
		ContentType: req.ContentType, UploadedByID: actor.ID, BatchID: req.BatchID, Metadata: req.Metadata}
	sess := &ingest.UploadSession{ID: ingest.NewID(), FileID: file.ID, ChunkSizeBytes: s.wholeChunk(req.SizeBytes),
		UploadedByID: actor.ID, ExpiresAt: s.now().Add(s.cfg.SessionTTL), DeclaredSHA256: req.SHA256,
		TusMetadata: req.Tus.Metadata, TusConcat: req.Tus.Concat}
	sess.TotalParts = ingest.TotalParts(file.SizeBytes, sess.ChunkSizeBytes)
	if err := ingest.ValidateUpload(file, sess); err != nil {
		return nil, nil, err
	}
	key := ingest.ObjectKey(s.blobs.Prefix(), file.ID, ingest.IDTime(file.ID))
	srcs, sizes := make([]string, len(partials)), make([]int64, len(partials))
	for i, p := range partials {
		srcs[i], sizes[i] = p.key, p.file.SizeBytes
	}
	if err := concat.ConcatObjects(ctx, key, srcs, sizes); err != nil {
		return nil, nil, fmt.Errorf("concatenate uploads: %w", err)
	}
	sum, crc, err := s.hashPartials(ctx, partials)
	if err != nil {
		s.deleteObject(ctx, key)
		return nil, nil, err
	}
	if req.SHA256 != "" && sum != req.SHA256 {
		s.deleteObject(ctx, key)
		return nil, nil, &ingest.Error{Code: ingest.EChecksumMismatch,
			Message: fmt.Sprintf("%s: declared sha256 %s, received bytes hash to %s", checksumMismatch, req.SHA256, sum),
			Details: map[string]any{"declared_sha256": req.SHA256, "computed_sha256": sum}}
	}
	obj := ingest.StoredObject{SHA256: sum, SizeBytes: file.SizeBytes, Backend: s.blobs.Backend(), Bucket: s.blobs.Bucket(), Key: key}
	receipt := ingest.PartReceipt{SizeBytes: file.SizeBytes, CRC32C: crc}
	if err := s.store.RecordStoredUpload(ctx, file, sess, receipt, obj, nil); err != nil {
		if !errors.Is(err, ingest.ErrOutcomeUnknown) { // else the file may be STORED: its object stays
			s.deleteObject(ctx, key)
		}
		return nil, nil, err
	}
	return file, sess, nil
}

// wholeChunk is the part size that makes an upload of size bytes one part.
func (s *Service) wholeChunk(size int64) int64 {
	chunk := max(size, 1)
	if l, ok := s.blobs.(ingest.PartLimiter); ok {
		lo, _ := l.PartSizeLimits()
		chunk = max(chunk, lo)
	}
	return chunk
}

// partialUpload is a complete partial upload about to be concatenated.
type partialUpload struct {
	sess *ingest.UploadSession
	file *ingest.File
	key  string
	crc  uint32 // of all its bytes
}

// completePartials returns the partial uploads, each the actor's own and complete, with its
// object made.
func (s *Service) completePartials(ctx context.Context, actor *ingest.User, ids []uuid.UUID) ([]partialUpload, error) {
	out := make([]partialUpload, len(ids))
	for i, id := range ids {
		sess, err := s.store.UploadSession(ctx, id)
		if err != nil {
			return nil, err
		}
		if sess.UploadedByID != actor.ID {
			return nil, notFound("upload", id)
		}
		file, err := s.store.File(ctx, sess.FileID)
		if err != nil {
			return nil, err
		}
		switch {
		case !sess.Partial:
			return nil, ingest.Errorf(ingest.EValidation, "upload %s is not a partial upload", id)
		case !sess.Status.Active() || sess.LengthDeferred || sess.OffsetBytes != file.SizeBytes:
			return nil, ingest.Errorf(ingest.EValidation, "partial upload %s is not complete", id)
		}
		if err := s.completePartial(ctx, sess, file); err != nil {
			return nil, err
		}
		parts, err := s.store.Parts(ctx, id)
		if err != nil {
			return nil, err
		}
		var crc uint32
		for _, p := range parts {
			if p.CRC32C != nil {
				crc = crc32cCombine(crc, *p.CRC32C, p.SizeBytes)
			}
		}
		out[i] = partialUpload{sess: sess, file: file, crc: crc,
			key: ingest.ObjectKey(s.blobs.Prefix(), file.ID, ingest.IDTime(file.ID))}
	}
	return out, nil
}

// hashPartials returns the SHA-256 and CRC32C of the partials' bytes in order. The first
// partial's running hash covers all its bytes already; the others are read back once.
func (s *Service) hashPartials(ctx context.Context, partials []partialUpload) (string, uint32, error) {
	h, err := resumeHash(partials[0].sess.HashState)
	if err != nil {
		return "", 0, err
	}
	crc := partials[0].crc
	for _, p := range partials[1:] {
		r, err := s.blobs.ReadObject(ctx, p.key, 0, -1)
		if err != nil {
			return "", 0, fmt.Errorf("read a partial upload back: %w", err)
		}
		_, err = io.Copy(h, r)
		r.Close()
		if err != nil {
			return "", 0, fmt.Errorf("read a partial upload back: %w", err)
		}
		crc = crc32cCombine(crc, p.crc, p.file.SizeBytes)
	}
	return h.Hex(), crc, nil
}

// crc32cCombine returns the CRC32C of a‖b from the CRC32C of a, that of b and b's length, without
// the bytes: appending lenB zero bits to a's CRC is a linear map over GF(2), applied by squaring
// the operator for one zero bit (the method of zlib's crc32_combine).
func crc32cCombine(crcA, crcB uint32, lenB int64) uint32 {
	if lenB <= 0 {
		return crcA
	}
	var even, odd [32]uint32
	odd[0] = crc32.Castagnoli // the operator for one zero bit
	for n, row := 1, uint32(1); n < 32; n, row = n+1, row<<1 {
		odd[n] = row
	}
	square(&even, &odd) // two zero bits
	square(&odd, &even) // four
	for {
		square(&even, &odd) // one zero byte, then two, four, …
		if lenB&1 != 0 {
			crcA = gf2Times(&even, crcA)
		}
		if lenB >>= 1; lenB == 0 {
			break
		}
		square(&odd, &even)
		if lenB&1 != 0 {
			crcA = gf2Times(&odd, crcA)
		}
		if lenB >>= 1; lenB == 0 {
			break
		}
	}
	return crcA ^ crcB
}

func gf2Times(mat *[32]uint32, vec uint32) uint32 {
	var sum uint32
	for i := 0; vec != 0; i, vec = i+1, vec>>1 {
		if vec&1 != 0 {
			sum ^= mat[i]
		}
	}
	return sum
}

func square(dst, mat *[32]uint32) {
	for n := range dst {
		dst[n] = gf2Times(mat, mat[n])
	}
}
