package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/ingest-portal/ingest"
)

// AcquireLease implements ingest.StreamStore.
func (s *Store) AcquireLease(ctx context.Context, sessionID uuid.UUID, owner string, offset int64, until time.Time) (*ingest.UploadSession, error) {
	if owner == "" {
		return nil, ingest.Errorf(ingest.EValidation, "a lease needs an owner")
	}
	var sess *ingest.UploadSession
	err := s.inTx(ctx, func(tx *txn) error {
		now := at(s.clock())
		var err error
		sess, err = scanSession(tx.QueryRowContext(ctx, `
			UPDATE upload_sessions SET lease_owner = $1, lease_expires_at = $2
			WHERE id = $3 AND offset_bytes = $4 AND (lease_owner IS NULL OR lease_owner = $1 OR lease_expires_at < $5)
			RETURNING `+sessionColumns, owner, at(until), sessionID, offset, now))
		if errors.Is(err, sql.ErrNoRows) {
			return s.leaseRefused(ctx, tx, sessionID, owner, now)
		}
		return s.translate(err)
	})
	return sess, err
}

// leaseRefused explains a lease compare-and-set that changed nothing: the session is missing,
// another owner holds it, or it is at another offset.
func (s *Store) leaseRefused(ctx context.Context, q querier, sessionID uuid.UUID, owner, now string) error {
	var offset int64
	var holder sql.NullString
	var until *time.Time
	err := q.QueryRowContext(ctx, `SELECT offset_bytes, lease_owner, lease_expires_at FROM upload_sessions WHERE id = $1`, sessionID).
		Scan(&offset, &holder, nullTimeCol{&until})
	if err != nil {
		return s.notFound(err, "upload session", sessionID)
	}
	if holder.Valid && holder.String != owner && until != nil && at(*until) >= now {
		return &ingest.Error{Code: ingest.EUploadLocked, Message: fmt.Sprintf("upload %s is being written by another request", sessionID),
			Details: map[string]any{"locked_until": until.Format(time.RFC3339)}}
	}
	return &ingest.Error{Code: ingest.EOffsetMismatch, Message: fmt.Sprintf("upload %s is at offset %d", sessionID, offset),
		Details: map[string]any{"offset": offset}}
}

// ReleaseLease implements ingest.StreamStore.
func (s *Store) ReleaseLease(ctx context.Context, sessionID uuid.UUID, owner string) error {
	_, err := s.exec(ctx, `UPDATE upload_sessions SET lease_owner = NULL, lease_expires_at = NULL
		WHERE id = $1 AND lease_owner = $2`, sessionID, owner)
	return s.translate(err)
}

// RecordStream implements ingest.StreamStore.
func (s *Store) RecordStream(ctx context.Context, sessionID uuid.UUID, owner string, p ingest.StreamProgress) (*ingest.UploadSession, error) {
	if p.To < p.From || p.From < 0 || len(p.HashState) == 0 {
		return nil, ingest.Errorf(ingest.EValidation, "a stream moves forward from offset %d, with a hash state", p.From)
	}
	var sess *ingest.UploadSession
	err := s.inTx(ctx, func(tx *txn) error {
		cur, err := scanSession(tx.QueryRowContext(ctx, `SELECT `+sessionColumns+` FROM upload_sessions WHERE id = $1`, sessionID))
		if err != nil {
			return s.notFound(err, "upload session", sessionID)
		}
		if err := s.checkProgress(ctx, tx, cur, owner, p); err != nil {
			return err
		}
		now := at(s.clock())
		for _, part := range p.Parts {
			_, err := tx.ExecContext(ctx, `
				INSERT INTO upload_parts (id, created_at, updated_at, session_id, part_number, status, temp_key,
				                          size_bytes, crc32c, sha256, etag)
				VALUES ($1, $2, $2, $3, $4, 'RECEIVED', $5, $6, $7, NULL, $8)
				ON CONFLICT (session_id, part_number) DO UPDATE
				SET status = 'RECEIVED', updated_at = $2, temp_key = $5, size_bytes = $6, crc32c = $7, sha256 = NULL, etag = $8`,
				ingest.NewID(), now, sessionID, part.Number, textOrDefault(cur.StorageUploadID, sessionID.String()),
				part.SizeBytes, int64(part.CRC32C), textOrNull(part.ETag))
			if err != nil {
				return s.translate(err)
			}
		}
		length, total, deferred := int64(-1), cur.TotalParts, cur.LengthDeferred
		if p.Length != nil {
			if err := s.checkQuota(ctx, tx, cur.UploadedByID, cur.ID, *p.Length, p.Quota, false); err != nil {
				return err
			}
			length, total, deferred = *p.Length, ingest.TotalParts(*p.Length, cur.ChunkSizeBytes), false
			if _, err := tx.ExecContext(ctx, `UPDATE ingest_files SET size_bytes = $1, updated_at = $2 WHERE id = $3`,
				length, now, cur.FileID); err != nil {
				return s.translate(err)
			}
		}
		received := cur.ReceivedPartsCount + len(p.Parts)
		sess, err = scanSession(tx.QueryRowContext(ctx, `
			UPDATE upload_sessions
			SET offset_bytes = $1, hash_state = $2, tail_crc32c = $3, received_parts_count = $4, hashed_parts = $4,
			    total_parts = $5, length_deferred = $6, status = 'IN_PROGRESS', expires_at = $7,
			    lease_expires_at = $8, updated_at = $9
			WHERE id = $10 AND offset_bytes = $11 AND lease_owner = $12 AND status IN ('INIT', 'IN_PROGRESS')
			RETURNING `+sessionColumns,
			p.To, p.HashState, int64(p.TailCRC32C), received, total, deferred, at(p.ExpiresAt), at(p.LeaseUntil), now,
			sessionID, p.From, owner))
		if errors.Is(err, sql.ErrNoRows) {
			return refused(nil) // checkProgress saw the row as it was; a writer can only race itself
		}
		return s.translate(err)
	})
	return sess, err
}

// checkProgress refuses progress that the session, as read in the recording transaction, cannot
// take.
func (s *Store) checkProgress(ctx context.Context, q querier, cur *ingest.UploadSession, owner string, p ingest.StreamProgress) error {
	if err := notActive(cur.ID, cur.Status, ingest.SessionInProgress); err != nil {
		return err
	}
	var leaseOwner sql.NullString
	if err := q.QueryRowContext(ctx, `SELECT lease_owner FROM upload_sessions WHERE id = $1`, cur.ID).Scan(&leaseOwner); err != nil {
		return s.translate(err)
	}
	switch {
	case !cur.Streamed:
		return ingest.Errorf(ingest.EValidation, "upload session %s takes numbered parts, not a stream", cur.ID)
	case leaseOwner.String != owner:
		return ingest.Errorf(ingest.EUploadLocked, "upload %s is being written by another request", cur.ID)
	case cur.OffsetBytes != p.From:
		return &ingest.Error{Code: ingest.EOffsetMismatch, Message: fmt.Sprintf("upload %s is at offset %d, not %d", cur.ID, cur.OffsetBytes, p.From),
			Details: map[string]any{"offset": cur.OffsetBytes}}
	case p.Length != nil && !cur.LengthDeferred:
		return ingest.Errorf(ingest.EValidation, "the length of upload %s is already known", cur.ID)
	case p.Length != nil && (*p.Length < p.To || ingest.TotalParts(*p.Length, cur.ChunkSizeBytes) > ingest.MaxParts):
		return ingest.Errorf(ingest.EValidation, "a length of %d bytes does not fit upload %s", *p.Length, cur.ID)
	case cur.ReceivedPartsCount+len(p.Parts) > cur.TotalParts && p.Length == nil:
		return ingest.Errorf(ingest.EValidation, "upload %s has %d parts", cur.ID, cur.TotalParts)
	}
	for i, part := range p.Parts {
		if part.Number != cur.ReceivedPartsCount+i+1 {
			return ingest.Errorf(ingest.EValidation, "part %d of upload %s does not follow part %d", part.Number, cur.ID, cur.ReceivedPartsCount+i)
		}
	}
	return nil
}

// textOrDefault returns s, or def when s is "".
func textOrDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
