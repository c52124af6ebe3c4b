package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/ingest-portal/ingest"
)

const fileColumns = `id, created_at, updated_at, status, sha256, size_bytes, storage_backend, storage_bucket,
	storage_key, original_filename, content_type, uploaded_by_id, batch_id, stored_at, failure_code, failure_reason, partial, metadata, grant_id`

func scanFile(row interface{ Scan(...any) error }) (*ingest.File, error) {
	var f ingest.File
	err := row.Scan(&f.ID, timeCol{&f.CreatedAt}, timeCol{&f.UpdatedAt}, &f.Status, textCol[string]{&f.SHA256},
		&f.SizeBytes, textCol[ingest.StorageBackend]{&f.StorageBackend}, textCol[string]{&f.StorageBucket},
		textCol[string]{&f.StorageKey}, &f.OriginalFilename, &f.ContentType, &f.UploadedByID, &f.BatchID,
		nullTimeCol{&f.StoredAt}, textCol[ingest.Code]{&f.FailureCode}, textCol[string]{&f.FailureReason}, &f.Partial, metadataCol{&f.Metadata}, &f.GrantID)
	return &f, err
}

const sessionColumns = `id, created_at, updated_at, file_id, status, chunk_size_bytes, total_parts,
	received_parts_count, idempotency_key, uploaded_by_id, expires_at, declared_sha256, hash_state,
	hashed_parts, storage_upload_id, completed_at, streamed, offset_bytes, tail_crc32c, length_deferred, partial,
	tus_metadata, tus_concat`

func scanSession(row interface{ Scan(...any) error }) (*ingest.UploadSession, error) {
	var s ingest.UploadSession
	err := row.Scan(&s.ID, timeCol{&s.CreatedAt}, timeCol{&s.UpdatedAt}, &s.FileID, &s.Status, &s.ChunkSizeBytes,
		&s.TotalParts, &s.ReceivedPartsCount, textCol[string]{&s.IdempotencyKey}, &s.UploadedByID,
		timeCol{&s.ExpiresAt}, textCol[string]{&s.DeclaredSHA256}, &s.HashState, &s.HashedParts,
		textCol[string]{&s.StorageUploadID}, nullTimeCol{&s.CompletedAt}, &s.Streamed, &s.OffsetBytes, crcCol{&s.TailCRC32C},
		&s.LengthDeferred, &s.Partial, textCol[string]{&s.TusMetadata}, textCol[string]{&s.TusConcat})
	return &s, err
}

const partColumns = `id, created_at, updated_at, session_id, part_number, status, temp_key, size_bytes, crc32c, sha256, etag`

func scanPart(row interface{ Scan(...any) error }) (*ingest.Part, error) {
	var p ingest.Part
	err := row.Scan(&p.ID, timeCol{&p.CreatedAt}, timeCol{&p.UpdatedAt}, &p.SessionID, &p.PartNumber, &p.Status,
		&p.TempKey, &p.SizeBytes, crc32cCol{&p.CRC32C}, textCol[string]{&p.SHA256}, textCol[string]{&p.ETag})
	return &p, err
}

// CreateUpload implements ingest.UploadStore.
func (s *Store) CreateUpload(ctx context.Context, f *ingest.File, sess *ingest.UploadSession, q ingest.UploadQuota) error {
	if err := ingest.ValidateUpload(f, sess); err != nil {
		return err
	}
	if sess.ExpiresAt.IsZero() {
		return ingest.Errorf(ingest.EValidation, "an upload session needs an expiry time")
	}
	if f.ID == uuid.Nil {
		f.ID = ingest.NewID()
	}
	if sess.ID == uuid.Nil {
		sess.ID = ingest.NewID()
	}
	meta, err := metadataJSON(f.Metadata)
	if err != nil {
		return err
	}
	now := s.clock()
	f.CreatedAt, f.UpdatedAt, f.Status = now, now, ingest.FileUploading
	f.SHA256, f.StorageBackend, f.StorageBucket, f.StorageKey, f.StoredAt = "", "", "", "", nil
	f.FailureCode, f.FailureReason = "", ""
	sess.CreatedAt, sess.UpdatedAt, sess.Status, sess.FileID, sess.UploadedByID = now, now, ingest.SessionInit, f.ID, f.UploadedByID
	sess.ReceivedPartsCount, sess.HashState, sess.HashedParts, sess.CompletedAt = 0, nil, 0, nil
	sess.OffsetBytes, sess.TailCRC32C = 0, 0
	sess.ExpiresAt = ingest.Timestamp(sess.ExpiresAt)

	return s.inTx(ctx, func(tx *txn) error {
		if err := s.checkQuota(ctx, tx, f.UploadedByID, uuid.Nil, f.SizeBytes, q, true); err != nil {
			return err
		}
		if f.BatchID != nil {
			if err := s.addToBatch(ctx, tx, *f.BatchID); err != nil {
				return err
			}
		}
		_, err := tx.ExecContext(ctx, `
			INSERT INTO ingest_files (id, created_at, updated_at, status, size_bytes, original_filename,
			                          content_type, uploaded_by_id, batch_id, partial, metadata, grant_id)
			VALUES ($1, $2, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
			f.ID, at(now), f.Status, f.SizeBytes, f.OriginalFilename, f.ContentType, f.UploadedByID, f.BatchID, f.Partial, meta, f.GrantID)
		if violation(err) == foreignKeyViolation {
			return ingest.Errorf(ingest.ENotFound, "user %s not found", f.UploadedByID)
		}
		if err != nil {
			return s.translate(err)
		}
		_, err = tx.ExecContext(ctx, `
			INSERT INTO upload_sessions (id, created_at, updated_at, file_id, status, chunk_size_bytes,
			                             total_parts, idempotency_key, uploaded_by_id, expires_at,
			                             declared_sha256, storage_upload_id, streamed, length_deferred, partial,
			                             tus_metadata, tus_concat)
			VALUES ($1, $2, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)`,
			sess.ID, at(now), sess.FileID, sess.Status, sess.ChunkSizeBytes, sess.TotalParts,
			textOrNull(sess.IdempotencyKey), sess.UploadedByID, at(sess.ExpiresAt),
			textOrNull(sess.DeclaredSHA256), textOrNull(sess.StorageUploadID), sess.Streamed, sess.LengthDeferred, sess.Partial,
			textOrNull(sess.TusMetadata), textOrNull(sess.TusConcat))
		if violation(err) == uniqueViolation && sess.IdempotencyKey != "" {
			return &ingest.Error{Code: ingest.EIdempotencyConflict, Message: "the idempotency key is already used by another upload", Err: err}
		}
		return s.translate(err)
	})
}

// RecordStoredUpload implements ingest.UploadStore.
func (s *Store) RecordStoredUpload(ctx context.Context, f *ingest.File, sess *ingest.UploadSession, r ingest.PartReceipt, obj ingest.StoredObject, flush ingest.Pending) error {
	if err := ingest.ValidateUpload(f, sess); err != nil {
		return err
	}
	if err := obj.Validate(); err != nil {
		return err
	}
	switch {
	case obj.SizeBytes != f.SizeBytes || (sess.TotalParts == 1 && r.SizeBytes != f.SizeBytes):
		return ingest.Errorf(ingest.EValidation, "the stored object has %d bytes, the file was declared with %d", obj.SizeBytes, f.SizeBytes)
	case sess.TotalParts > 1:
		return ingest.Errorf(ingest.EValidation, "an upload recorded at once has one part, not %d", sess.TotalParts)
	}
	if f.ID == uuid.Nil {
		f.ID = ingest.NewID()
	}
	if sess.ID == uuid.Nil {
		sess.ID = ingest.NewID()
	}
	meta, err := metadataJSON(f.Metadata)
	if err != nil {
		return err
	}
	now := s.clock()
	f.CreatedAt, f.UpdatedAt, f.Status, f.StoredAt, f.FailureCode, f.FailureReason = now, now, ingest.FileStored, &now, "", ""
	f.SHA256, f.StorageBackend, f.StorageBucket, f.StorageKey = obj.SHA256, obj.Backend, obj.Bucket, obj.Key
	sess.CreatedAt, sess.UpdatedAt, sess.Status, sess.FileID, sess.UploadedByID = now, now, ingest.SessionComplete, f.ID, f.UploadedByID
	sess.ReceivedPartsCount, sess.HashedParts, sess.HashState, sess.CompletedAt = sess.TotalParts, sess.TotalParts, nil, &now
	sess.ExpiresAt = now
	// The event is encoded before the transaction: SQLite runs one at a time (see groupCommit),
	// so the less each holds, the more files it stores per second.
	e, err := ingest.NewFileStoredEvent(f, now)
	if err != nil {
		return err
	}

	return s.inTx(ctx, func(tx *txn) error {
		if f.BatchID != nil {
			if err := s.addToBatch(ctx, tx, *f.BatchID); err != nil {
				return err
			}
			if err := s.countInBatch(ctx, tx, f.BatchID, true); err != nil {
				return err
			}
		}
		_, err := tx.ExecContext(ctx, `
			INSERT INTO ingest_files (id, created_at, updated_at, status, sha256, size_bytes, storage_backend,
			                          storage_bucket, storage_key, original_filename, content_type, uploaded_by_id,
			                          batch_id, stored_at, metadata, grant_id)
			VALUES ($1, $2, $2, 'STORED', $3, $4, $5, $6, $7, $8, $9, $10, $11, $2, $12, $13)`,
			f.ID, at(now), f.SHA256, f.SizeBytes, f.StorageBackend, textOrNull(f.StorageBucket), f.StorageKey,
			f.OriginalFilename, f.ContentType, f.UploadedByID, f.BatchID, meta, f.GrantID)
		if violation(err) == foreignKeyViolation {
			return ingest.Errorf(ingest.ENotFound, "user %s not found", f.UploadedByID)
		}
		if err != nil {
			return s.translate(err)
		}
		_, err = tx.ExecContext(ctx, `
			INSERT INTO upload_sessions (id, created_at, updated_at, file_id, status, chunk_size_bytes, total_parts,
			                             received_parts_count, idempotency_key, uploaded_by_id, expires_at,
			                             declared_sha256, hashed_parts, completed_at, tus_metadata, tus_concat)
			VALUES ($1, $2, $2, $3, 'COMPLETE', $4, $5, $5, $6, $7, $2, $8, $5, $2, $9, $10)`,
			sess.ID, at(now), f.ID, sess.ChunkSizeBytes, sess.TotalParts, textOrNull(sess.IdempotencyKey),
			sess.UploadedByID, textOrNull(sess.DeclaredSHA256), textOrNull(sess.TusMetadata), textOrNull(sess.TusConcat))
		if violation(err) == uniqueViolation && sess.IdempotencyKey != "" {
			return &ingest.Error{Code: ingest.EIdempotencyConflict, Message: "the idempotency key is already used by another upload", Err: err}
		}
		if err != nil {
			return s.translate(err)
		}
		if sess.TotalParts == 1 {
			_, err = tx.ExecContext(ctx, `
				INSERT INTO upload_parts (id, created_at, updated_at, session_id, part_number, status, temp_key,
				                          size_bytes, crc32c, sha256, etag)
				VALUES ($1, $2, $2, $3, 1, 'RECEIVED', $4, $5, $6, $7, $8)`,
				ingest.NewID(), at(now), sess.ID, f.StorageKey, r.SizeBytes, int64(r.CRC32C), textOrNull(r.SHA256), textOrNull(r.ETag))
			if err != nil {
				return s.translate(err)
			}
		}
		if err := s.insertEvent(ctx, tx, e); err != nil {
			return err
		}
		// The commit waits for the object, after the statements of every write of its group.
		tx.commitAfter(flush)
		return nil
	})
}

// addToBatch counts a new file in an OPEN batch, locking the batch row first.
func (s *Store) addToBatch(ctx context.Context, tx *txn, batchID uuid.UUID) error {
	res, err := tx.ExecContext(ctx, `
		UPDATE upload_batches SET total_files = total_files + 1, updated_at = $1
		WHERE id = $2 AND status = 'OPEN'`, at(s.clock()), batchID)
	if err != nil {
		return s.translate(err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 1 {
		return err
	}
	current, err := s.currentStatus(ctx, tx, "upload_batches", "upload batch", batchID)
	if err != nil {
		return err
	}
	return ingest.Errorf(ingest.EBatchNotOpen, "upload batch %s is %s: only an OPEN batch takes new files", batchID, current)
}

// File implements ingest.UploadStore.
func (s *Store) File(ctx context.Context, id uuid.UUID) (*ingest.File, error) {
	f, err := scanFile(s.q().QueryRowContext(ctx, `SELECT `+fileColumns+` FROM ingest_files WHERE id = $1`, id))
	if err != nil {
		return nil, s.notFound(err, "ingest file", id)
	}
	return f, nil
}

// UploadSession implements ingest.UploadStore.
func (s *Store) UploadSession(ctx context.Context, id uuid.UUID) (*ingest.UploadSession, error) {
	sess, err := scanSession(s.q().QueryRowContext(ctx, `SELECT `+sessionColumns+` FROM upload_sessions WHERE id = $1`, id))
	if err != nil {
		return nil, s.notFound(err, "upload session", id)
	}
	return sess, nil
}

// optionalPartColumns are partColumns of a part joined as p, read as a part numbered 0 when the
// join found none (a part number is at least 1).
const optionalPartColumns = `COALESCE(p.id, s.id), COALESCE(p.created_at, s.created_at), COALESCE(p.updated_at, s.updated_at),
	s.id, COALESCE(p.part_number, 0), COALESCE(p.status, ''), COALESCE(p.temp_key, ''), COALESCE(p.size_bytes, 0),
	p.crc32c, p.sha256, p.etag`

// UploadSessionForPart implements ingest.UploadStore: one statement reads the three.
func (s *Store) UploadSessionForPart(ctx context.Context, id uuid.UUID, n int) (*ingest.UploadSession, *ingest.File, *ingest.Part, error) {
	var cols scanned
	sess, _ := scanSession(&cols)
	file, _ := scanFile(&cols)
	part, _ := scanPart(&cols)
	err := s.q().QueryRowContext(ctx, `SELECT `+qualified("s", sessionColumns)+`, `+qualified("f", fileColumns)+`, `+optionalPartColumns+`
		FROM upload_sessions s JOIN ingest_files f ON f.id = s.file_id
		LEFT JOIN upload_parts p ON p.session_id = s.id AND p.part_number = $2
		WHERE s.id = $1`, id, n).Scan(cols...)
	if err != nil {
		return nil, nil, nil, s.notFound(err, "upload session", id)
	}
	if part.PartNumber == 0 {
		part = nil
	}
	return sess, file, part, nil
}

// SessionByIdempotencyKey implements ingest.UploadStore.
func (s *Store) SessionByIdempotencyKey(ctx context.Context, userID uuid.UUID, key string) (*ingest.UploadSession, error) {
	sess, err := scanSession(s.q().QueryRowContext(ctx, `
		SELECT `+sessionColumns+` FROM upload_sessions WHERE uploaded_by_id = $1 AND idempotency_key = $2`, userID, key))
	if err != nil {
		return nil, s.notFound(err, "upload session with idempotency key", key)
	}
	return sess, nil
}

// uploadState is what the upload transactions read before they lock anything.
type uploadState struct {
	status   ingest.SessionStatus
	total    int
	received int
	hashed   int
	fileID   uuid.UUID
	batchID  *uuid.UUID
	size     int64
}

func (s *Store) readUpload(ctx context.Context, q querier, sessionID uuid.UUID) (*uploadState, error) {
	var u uploadState
	err := q.QueryRowContext(ctx, `
		SELECT s.status, s.total_parts, s.received_parts_count, s.hashed_parts, s.file_id, f.batch_id, f.size_bytes
		FROM upload_sessions s JOIN ingest_files f ON f.id = s.file_id
		WHERE s.id = $1`, sessionID).Scan(&u.status, &u.total, &u.received, &u.hashed, &u.fileID, &u.batchID, &u.size)
	if err != nil {
		return nil, s.notFound(err, "upload session", sessionID)
	}
	return &u, nil
}

// notActive returns the error for a session that no longer takes parts, or nil when it does.
func notActive(sessionID uuid.UUID, status ingest.SessionStatus, to ingest.SessionStatus) error {
	if status.Active() {
		return nil
	}
	return ingest.CheckSessionTransition(sessionID, status, to)
}

// BeginPart implements ingest.UploadStore.
func (s *Store) BeginPart(ctx context.Context, p *ingest.Part) (*ingest.Part, error) {
	if p.TempKey == "" || p.SizeBytes < 0 {
		return nil, ingest.Errorf(ingest.EValidation, "a part needs a temporary key and a size of at least 0")
	}
	var out *ingest.Part
	err := s.inTx(ctx, func(tx *txn) error {
		u, err := s.readUpload(ctx, tx, p.SessionID)
		if err != nil {
			return err
		}
		if err := notActive(p.SessionID, u.status, ingest.SessionInProgress); err != nil {
			return err
		}
		if p.PartNumber < 1 || p.PartNumber > u.total {
			return ingest.Errorf(ingest.EValidation, "part number %d is outside 1..%d", p.PartNumber, u.total)
		}
		now := at(s.clock())
		out, err = scanPart(tx.QueryRowContext(ctx, `
			INSERT INTO upload_parts (id, created_at, updated_at, session_id, part_number, status, temp_key, size_bytes)
			VALUES ($1, $2, $2, $3, $4, 'PENDING', $5, $6)
			ON CONFLICT (session_id, part_number) DO NOTHING
			RETURNING `+partColumns, ingest.NewID(), now, p.SessionID, p.PartNumber, p.TempKey, p.SizeBytes))
		if !errors.Is(err, sql.ErrNoRows) {
			return s.translate(err)
		}
		out, err = s.movePart(ctx, tx, p.SessionID, p.PartNumber, ingest.PartPending,
			`, temp_key = $5, size_bytes = $6, crc32c = NULL, sha256 = NULL, etag = NULL`, p.TempKey, p.SizeBytes)
		var te *ingest.TransitionError
		if errors.As(err, &te) {
			// PENDING or RECEIVED already: the caller decides what a second writer means.
			out, err = scanPart(tx.QueryRowContext(ctx, `SELECT `+partColumns+`
				FROM upload_parts WHERE session_id = $1 AND part_number = $2`, p.SessionID, p.PartNumber))
			return s.translate(err)
		}
		return err
	})
	return out, err
}

// ReceivePart implements ingest.UploadStore.
func (s *Store) ReceivePart(ctx context.Context, sessionID uuid.UUID, n int, r ingest.PartReceipt, expiresAt time.Time) (*ingest.Part, error) {
	p, _, err := s.receivePart(ctx, sessionID, n, r, expiresAt, nil, false)
	return p, err
}

// ReceiveHashedPart implements ingest.UploadStore.
func (s *Store) ReceiveHashedPart(ctx context.Context, sessionID uuid.UUID, n int, r ingest.PartReceipt, expiresAt time.Time, hashState []byte) (*ingest.Part, *ingest.UploadSession, error) {
	return s.receivePart(ctx, sessionID, n, r, expiresAt, hashState, true)
}

// receivePart records part n RECEIVED: from PENDING, and when unbegun also from FAILED or from no
// row at all. The hash's compare-and-set is part of the statement that counts the part: with no
// state, its condition (a hash at -1 parts) never holds.
func (s *Store) receivePart(ctx context.Context, sessionID uuid.UUID, n int, r ingest.PartReceipt, expiresAt time.Time, hashState []byte, unbegun bool) (*ingest.Part, *ingest.UploadSession, error) {
	hashedFrom := n - 1
	if hashState == nil {
		hashedFrom = -1
	} else if len(hashState) == 0 {
		return nil, nil, ingest.Errorf(ingest.EValidation, "the hash of part %d needs a state", n)
	}
	if r.SizeBytes < 0 {
		return nil, nil, ingest.Errorf(ingest.EValidation, "a part's size is at least 0, not %d", r.SizeBytes)
	}
	if n < 1 {
		return nil, nil, ingest.Errorf(ingest.EValidation, "part number %d is not at least 1", n)
	}
	if r.SHA256 != "" {
		if err := ingest.ValidateSHA256(r.SHA256); err != nil {
			return nil, nil, err
		}
	}
	var (
		p    *ingest.Part
		sess *ingest.UploadSession
	)
	err := s.inTx(ctx, func(tx *txn) error {
		var err error
		sess, err = scanSession(tx.QueryRowContext(ctx, `
			UPDATE upload_sessions
			SET received_parts_count = received_parts_count + 1, status = 'IN_PROGRESS', expires_at = $1, updated_at = $2,
				hash_state = CASE WHEN hashed_parts = $4 THEN $5 ELSE hash_state END,
				hashed_parts = CASE WHEN hashed_parts = $4 THEN $6 ELSE hashed_parts END
			WHERE id = $3 AND status IN ('INIT', 'IN_PROGRESS') AND total_parts >= $6
			RETURNING `+sessionColumns, at(expiresAt), at(s.clock()), sessionID, hashedFrom, hashState, n))
		if errors.Is(err, sql.ErrNoRows) {
			u, err := s.readUpload(ctx, tx, sessionID)
			if err != nil {
				return err
			}
			if err := notActive(sessionID, u.status, ingest.SessionInProgress); err != nil {
				return refused(err)
			}
			return ingest.Errorf(ingest.EValidation, "part number %d is outside 1..%d", n, u.total)
		}
		if err != nil {
			return s.translate(err)
		}
		if !unbegun {
			p, err = s.movePart(ctx, tx, sessionID, n, ingest.PartReceived,
				`, size_bytes = $5, crc32c = $6, sha256 = $7, etag = $8`, r.SizeBytes, int64(r.CRC32C), textOrNull(r.SHA256), textOrNull(r.ETag))
			return err
		}
		// A part never begun is inserted RECEIVED, at the session's key as a streamed part is;
		// a FAILED one is a retry whose PENDING was never recorded.
		now := at(s.clock())
		p, err = scanPart(tx.QueryRowContext(ctx, `
			INSERT INTO upload_parts (id, created_at, updated_at, session_id, part_number, status, temp_key,
			                          size_bytes, crc32c, sha256, etag)
			VALUES ($1, $2, $2, $3, $4, 'RECEIVED', $5, $6, $7, $8, $9)
			ON CONFLICT (session_id, part_number) DO UPDATE
			SET status = 'RECEIVED', updated_at = $2, size_bytes = $6, crc32c = $7, sha256 = $8, etag = $9
			WHERE upload_parts.status IN (`+statusList([]ingest.PartStatus{ingest.PartPending, ingest.PartFailed})+`)
			RETURNING `+partColumns,
			ingest.NewID(), now, sessionID, n, textOrDefault(sess.StorageUploadID, sessionID.String()),
			r.SizeBytes, int64(r.CRC32C), textOrNull(r.SHA256), textOrNull(r.ETag)))
		if !errors.Is(err, sql.ErrNoRows) {
			return s.translate(err)
		}
		return s.partRefused(ctx, tx, sessionID, n, ingest.PartReceived)
	})
	if err != nil {
		return nil, nil, err
	}
	return p, sess, nil
}

// FailPart implements ingest.UploadStore.
func (s *Store) FailPart(ctx context.Context, sessionID uuid.UUID, n int) (*ingest.Part, error) {
	var p *ingest.Part
	err := s.inTx(ctx, func(tx *txn) error {
		var err error
		p, err = s.movePart(ctx, tx, sessionID, n, ingest.PartFailed, ``)
		return err
	})
	return p, err
}

// movePart is the compare-and-set of the part state machine. In set, extra assignments may use
// $5 onwards, bound to args.
func (s *Store) movePart(ctx context.Context, tx *txn, sessionID uuid.UUID, n int, to ingest.PartStatus, set string, args ...any) (*ingest.Part, error) {
	p, err := scanPart(tx.QueryRowContext(ctx, `
		UPDATE upload_parts SET status = $1, updated_at = $4`+set+`
		WHERE session_id = $2 AND part_number = $3 AND status IN (`+statusList(ingest.PartSources(to))+`)
		RETURNING `+partColumns, append([]any{to, sessionID, n, at(s.clock())}, args...)...))
	if !errors.Is(err, sql.ErrNoRows) {
		return p, s.translate(err)
	}
	return nil, s.partRefused(ctx, tx, sessionID, n, to)
}

// partRefused returns why part n could not become to: ENotFound or a *TransitionError.
func (s *Store) partRefused(ctx context.Context, tx *txn, sessionID uuid.UUID, n int, to ingest.PartStatus) error {
	var id uuid.UUID
	var current ingest.PartStatus
	err := tx.QueryRowContext(ctx, `SELECT id, status FROM upload_parts WHERE session_id = $1 AND part_number = $2`,
		sessionID, n).Scan(&id, &current)
	if err != nil {
		return s.notFound(err, "upload part", n)
	}
	return refused(ingest.CheckPartTransition(id, current, to))
}

// Parts implements ingest.UploadStore.
func (s *Store) Parts(ctx context.Context, sessionID uuid.UUID) ([]*ingest.Part, error) {
	return s.PartsFrom(ctx, sessionID, 1)
}

// PartsFrom implements ingest.UploadStore.
func (s *Store) PartsFrom(ctx context.Context, sessionID uuid.UUID, from int) ([]*ingest.Part, error) {
	return list(ctx, s, `SELECT `+partColumns+` FROM upload_parts WHERE session_id = $1 AND part_number >= $2
		ORDER BY part_number`, []any{sessionID, from}, scanPart)
}

// AdvanceHash implements ingest.UploadStore.
func (s *Store) AdvanceHash(ctx context.Context, sessionID uuid.UUID, fromParts, hashedParts int, state []byte) error {
	if fromParts < 0 || hashedParts <= fromParts || len(state) == 0 {
		return ingest.Errorf(ingest.EValidation, "the hash must advance from %d parts to more, with a state", fromParts)
	}
	return s.inTx(ctx, func(tx *txn) error {
		u, err := s.readUpload(ctx, tx, sessionID)
		if err != nil {
			return err
		}
		if err := notActive(sessionID, u.status, ingest.SessionInProgress); err != nil {
			return err
		}
		if hashedParts > u.received {
			return ingest.Errorf(ingest.EValidation, "cannot hash %d parts of upload session %s: %d received", hashedParts, sessionID, u.received)
		}
		res, err := tx.ExecContext(ctx, `
			UPDATE upload_sessions SET hash_state = $1, hashed_parts = $2, updated_at = $3
			WHERE id = $4 AND hashed_parts = $5 AND status IN ('INIT', 'IN_PROGRESS')`,
			state, hashedParts, at(s.clock()), sessionID, fromParts)
		if err != nil {
			return s.translate(err)
		}
		if n, err := res.RowsAffected(); err != nil || n == 1 {
			return err
		}
		return ingest.Errorf(ingest.EConflict, "the hash of upload session %s is at part %d, not %d", sessionID, u.hashed, fromParts)
	})
}

// StoreFile implements ingest.UploadStore.
func (s *Store) StoreFile(ctx context.Context, sessionID uuid.UUID, obj ingest.StoredObject) (*ingest.File, error) {
	if err := obj.Validate(); err != nil {
		return nil, err
	}
	var f *ingest.File
	err := s.inTx(ctx, func(tx *txn) error {
		u, err := s.readUpload(ctx, tx, sessionID)
		if err != nil {
			return err
		}
		if err := notActive(sessionID, u.status, ingest.SessionComplete); err != nil {
			return err
		}
		if obj.SizeBytes != u.size {
			return ingest.Errorf(ingest.EValidation, "the stored object has %d bytes, the file was declared with %d", obj.SizeBytes, u.size)
		}
		if u.received < u.total {
			return s.missingParts(ctx, tx, sessionID, u.total)
		}
		if err := s.lockBatch(ctx, tx, u.batchID); err != nil {
			return err
		}
		now := s.clock()
		res, err := tx.ExecContext(ctx, `
			UPDATE upload_sessions SET status = 'COMPLETE', completed_at = $1, updated_at = $1
			WHERE id = $2 AND status IN ('INIT', 'IN_PROGRESS') AND received_parts_count = total_parts`,
			at(now), sessionID)
		if err != nil {
			return s.translate(err)
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			if err != nil {
				return err
			}
			return s.whyNotComplete(ctx, tx, sessionID)
		}
		f, err = scanFile(tx.QueryRowContext(ctx, `
			UPDATE ingest_files
			SET status = 'STORED', sha256 = $1, size_bytes = $2, storage_backend = $3, storage_bucket = $4,
			    storage_key = $5, stored_at = $6, updated_at = $6
			WHERE id = $7 AND status = 'UPLOADING'
			RETURNING `+fileColumns,
			obj.SHA256, obj.SizeBytes, obj.Backend, textOrNull(obj.Bucket), obj.Key, at(now), u.fileID))
		if errors.Is(err, sql.ErrNoRows) {
			return s.fileTransitionError(ctx, tx, u.fileID, ingest.FileStored)
		}
		if err != nil {
			return s.translate(err)
		}
		if err := s.countInBatch(ctx, tx, u.batchID, true); err != nil {
			return err
		}
		e, err := ingest.NewFileStoredEvent(f, now)
		if err != nil {
			return err
		}
		return s.insertEvent(ctx, tx, e)
	})
	return f, err
}

// whyNotComplete explains a completion compare-and-set that changed nothing: the session ended
// meanwhile, or parts are missing.
func (s *Store) whyNotComplete(ctx context.Context, tx *txn, sessionID uuid.UUID) error {
	u, err := s.readUpload(ctx, tx, sessionID)
	if err != nil {
		return err
	}
	if err := notActive(sessionID, u.status, ingest.SessionComplete); err != nil {
		return err
	}
	if u.received == u.total {
		return refused(nil) // the last parts arrived between the update and this read
	}
	return s.missingParts(ctx, tx, sessionID, u.total)
}

// missingParts returns EMissingParts listing the parts of the session that are not RECEIVED.
func (s *Store) missingParts(ctx context.Context, q querier, sessionID uuid.UUID, total int) error {
	rows, err := q.QueryContext(ctx, `
		SELECT part_number FROM upload_parts WHERE session_id = $1 AND status = 'RECEIVED' ORDER BY part_number`, sessionID)
	if err != nil {
		return s.translate(err)
	}
	defer rows.Close()
	received := make(map[int]bool)
	for rows.Next() {
		var n int
		if err := rows.Scan(&n); err != nil {
			return s.translate(err)
		}
		received[n] = true
	}
	if err := rows.Err(); err != nil {
		return s.translate(err)
	}
	missing := []int{}
	for n := 1; n <= total; n++ {
		if !received[n] {
			missing = append(missing, n)
		}
	}
	return &ingest.Error{
		Code:    ingest.EMissingParts,
		Message: fmt.Sprintf("%d of %d parts are not received yet", len(missing), total),
		Details: map[string]any{"missing": missing},
	}
}

func (s *Store) fileTransitionError(ctx context.Context, q querier, fileID uuid.UUID, to ingest.FileStatus) error {
	current, err := s.currentStatus(ctx, q, "ingest_files", "ingest file", fileID)
	if err != nil {
		return err
	}
	return refused(ingest.CheckFileTransition(fileID, ingest.FileStatus(current), to))
}

// EndUpload implements ingest.UploadStore.
func (s *Store) EndUpload(ctx context.Context, sessionID uuid.UUID, to ingest.SessionStatus, code ingest.Code, reason string) (*ingest.UploadSession, error) {
	if to != ingest.SessionAborted && to != ingest.SessionFailed {
		return nil, ingest.Errorf(ingest.EValidation, "an upload ends as %s or %s, not %s", ingest.SessionAborted, ingest.SessionFailed, to)
	}
	if err := ingest.CheckFailure(to, code); err != nil {
		return nil, err
	}
	if reason == "" {
		reason = "upload " + strings.ToLower(string(to))
	}
	var sess *ingest.UploadSession
	err := s.inTx(ctx, func(tx *txn) error {
		u, err := s.readUpload(ctx, tx, sessionID)
		if err != nil {
			return err
		}
		if err := notActive(sessionID, u.status, to); err != nil {
			return err
		}
		if err := s.lockBatch(ctx, tx, u.batchID); err != nil {
			return err
		}
		now := at(s.clock())
		sess, err = scanSession(tx.QueryRowContext(ctx, `
			UPDATE upload_sessions SET status = $1, updated_at = $2
			WHERE id = $3 AND status IN ('INIT', 'IN_PROGRESS')
			RETURNING `+sessionColumns, to, now, sessionID))
		if errors.Is(err, sql.ErrNoRows) {
			current, err := s.currentStatus(ctx, tx, "upload_sessions", "upload session", sessionID)
			if err != nil {
				return err
			}
			return refused(ingest.CheckSessionTransition(sessionID, ingest.SessionStatus(current), to))
		}
		if err != nil {
			return s.translate(err)
		}
		res, err := tx.ExecContext(ctx, `
			UPDATE ingest_files SET status = 'FAILED', failure_code = $1, failure_reason = $2, updated_at = $3
			WHERE id = $4 AND status = 'UPLOADING'`, code, reason, now, u.fileID)
		if err != nil {
			return s.translate(err)
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			if err != nil {
				return err
			}
			return s.fileTransitionError(ctx, tx, u.fileID, ingest.FileFailed)
		}
		return s.countInBatch(ctx, tx, u.batchID, false)
	})
	return sess, err
}
