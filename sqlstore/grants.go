package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/google/uuid"

	"github.com/ingest-portal/ingest"
)

var _ ingest.GrantStore = (*Store)(nil)

const grantColumns = `id, created_at, updated_at, created_by_id, token_hash, prefix, batch_id, max_files, max_file_bytes,
	max_total_bytes, content_types, metadata, expires_at, revoked_at, files_used, bytes_used`

func scanGrant(row interface{ Scan(...any) error }) (*ingest.UploadGrant, error) {
	return scanGrantAnd(row)
}

// scanGrantAnd scans a grant's columns followed by more.
func scanGrantAnd(row interface{ Scan(...any) error }, more ...any) (*ingest.UploadGrant, error) {
	var g ingest.UploadGrant
	err := row.Scan(append([]any{&g.ID, timeCol{&g.CreatedAt}, timeCol{&g.UpdatedAt}, &g.CreatedByID, &g.TokenHash, &g.Prefix,
		&g.BatchID, &g.MaxFiles, &g.MaxFileBytes, &g.MaxTotalBytes, jsonCol[[]string]{&g.ContentTypes},
		metadataCol{&g.Metadata}, timeCol{&g.ExpiresAt}, nullTimeCol{&g.RevokedAt}, &g.FilesUsed, &g.BytesUsed}, more...)...)
	return &g, err
}

// CreateGrant implements ingest.GrantStore.
func (s *Store) CreateGrant(ctx context.Context, g *ingest.UploadGrant) error {
	if g.ID == uuid.Nil {
		g.ID = ingest.NewID()
	}
	if err := ingest.ValidateSHA256(g.TokenHash); err != nil {
		return ingest.Errorf(ingest.EValidation, "grant hash: %s", ingest.ErrorMessage(err))
	}
	meta, err := metadataJSON(g.Metadata)
	if err != nil {
		return err
	}
	if g.ContentTypes == nil {
		g.ContentTypes = []string{}
	}
	types, err := json.Marshal(g.ContentTypes)
	if err != nil {
		return fmt.Errorf("encode content types: %w", err)
	}
	now := s.clock()
	g.CreatedAt, g.UpdatedAt, g.FilesUsed, g.BytesUsed = now, now, 0, 0
	g.ExpiresAt = ingest.Timestamp(g.ExpiresAt)
	_, err = s.exec(ctx, `
		INSERT INTO upload_grants (id, created_at, updated_at, created_by_id, token_hash, prefix, batch_id, max_files,
		                           max_file_bytes, max_total_bytes, content_types, metadata, expires_at, revoked_at)
		VALUES ($1, $2, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
		g.ID, at(now), g.CreatedByID, g.TokenHash, g.Prefix, g.BatchID, g.MaxFiles, g.MaxFileBytes, g.MaxTotalBytes,
		string(types), meta, at(g.ExpiresAt), atOrNull(g.RevokedAt))
	switch violation(err) {
	case foreignKeyViolation:
		return ingest.Errorf(ingest.ENotFound, "user %s or batch not found", g.CreatedByID)
	case uniqueViolation:
		return &ingest.Error{Code: ingest.EConflict, Message: "an upload grant with the same hash exists", Err: err}
	}
	return s.translate(err)
}

// Grant implements ingest.GrantStore.
func (s *Store) Grant(ctx context.Context, id uuid.UUID) (*ingest.UploadGrant, error) {
	return s.grant(ctx, s.q(), id)
}

func (s *Store) grant(ctx context.Context, q querier, id uuid.UUID) (*ingest.UploadGrant, error) {
	g, err := scanGrant(q.QueryRowContext(ctx, `SELECT `+grantColumns+` FROM upload_grants WHERE id = $1`, id))
	if err != nil {
		return nil, s.notFound(err, "upload grant", id)
	}
	return g, nil
}

// Grants implements ingest.GrantStore.
func (s *Store) Grants(ctx context.Context, createdByID uuid.UUID, after *uuid.UUID, limit int) ([]*ingest.UploadGrant, error) {
	query, args := `SELECT `+grantColumns+` FROM upload_grants WHERE created_by_id = $1 ORDER BY id DESC LIMIT $2`, []any{createdByID, limit}
	if after != nil {
		query = `SELECT ` + grantColumns + ` FROM upload_grants WHERE created_by_id = $1 AND id < $3 ORDER BY id DESC LIMIT $2`
		args = append(args, *after)
	}
	rows, err := s.q().QueryContext(ctx, query, args...)
	if err != nil {
		return nil, s.translate(err)
	}
	defer rows.Close()
	var out []*ingest.UploadGrant
	for rows.Next() {
		g, err := scanGrant(rows)
		if err != nil {
			return nil, s.translate(err)
		}
		out = append(out, g)
	}
	return out, s.translate(rows.Err())
}

// RevokeGrant implements ingest.GrantStore.
func (s *Store) RevokeGrant(ctx context.Context, id uuid.UUID) (*ingest.UploadGrant, error) {
	var g *ingest.UploadGrant
	err := s.inTx(ctx, func(tx *txn) error {
		var err error
		g, err = stampOnce(ctx, s, tx, "upload_grants", "revoked_at", grantColumns, scanGrant, id,
			func() error {
				return s.refuseTwice(ctx, tx, "upload_grants", "upload grant", id, ingest.ErrGrantRevoked(id))
			})
		return err
	})
	return g, err
}

// AuthenticateGrant implements ingest.GrantStore.
func (s *Store) AuthenticateGrant(ctx context.Context, tokenHash string) (*ingest.UploadGrant, *ingest.User, error) {
	u := &ingest.User{}
	g, err := scanGrantAnd(s.q().QueryRowContext(ctx, `
		SELECT `+qualified("g", grantColumns)+`, `+qualified("u", userColumns)+`
		FROM upload_grants g JOIN users u ON u.id = g.created_by_id
		WHERE g.token_hash = $1 AND g.revoked_at IS NULL AND g.expires_at > $2`, tokenHash, at(s.clock())),
		&u.ID, timeCol{&u.CreatedAt}, timeCol{&u.UpdatedAt}, &u.Username, &u.IsAdmin, nullTimeCol{&u.DisabledAt})
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil, ingest.Errorf(ingest.EUnauthenticated, "the upload grant is unknown, revoked or expired")
	}
	if err != nil {
		return nil, nil, s.translate(err)
	}
	if u.DisabledAt != nil {
		return nil, nil, ingest.Errorf(ingest.EForbidden, "user %s is disabled", u.Username)
	}
	return g, u, nil
}

// ReserveGrant implements ingest.GrantStore. Every limit but the content type is a condition of
// one UPDATE, which PostgreSQL re-checks on the row it locked and SQLite runs alone, so racing
// reservations, from any number of instances, are counted one after the other and the one that
// would overshoot changes nothing; the table's CHECKs hold the counters within the limits anyway.
// The content types are a JSON list the domain reads: a grant that does not allow the file's type
// rolls its reservation back within the same transaction.
func (s *Store) ReserveGrant(ctx context.Context, id uuid.UUID, size int64, ct string) (*ingest.UploadGrant, error) {
	var g *ingest.UploadGrant
	err := s.inTx(ctx, func(tx *txn) error {
		now := s.clock()
		var err error
		g, err = scanGrant(tx.QueryRowContext(ctx, `
			UPDATE upload_grants SET files_used = files_used + 1, bytes_used = bytes_used + $1, updated_at = $2
			WHERE id = $3 AND revoked_at IS NULL AND expires_at > $2 AND files_used < max_files
			  AND (max_file_bytes IS NULL OR $1 <= max_file_bytes)
			  AND (max_total_bytes IS NULL OR bytes_used + $1 <= max_total_bytes)
			RETURNING `+grantColumns, size, at(now), id))
		if errors.Is(err, sql.ErrNoRows) {
			current, err := s.grant(ctx, tx, id)
			if err != nil {
				return err
			}
			if err := current.CheckReserve(size, ct, now); err != nil {
				return err
			}
			return ingest.Errorf(ingest.EConflict, "upload grant %s changed while it was reserved; retry", id)
		}
		if err != nil {
			return s.translate(err)
		}
		if !g.AllowsContentType(ct) {
			return g.CheckReserve(size, ct, now)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return g, nil
}

// ReleaseGrant implements ingest.GrantStore.
func (s *Store) ReleaseGrant(ctx context.Context, id uuid.UUID, size int64) error {
	return s.releaseGrant(ctx, id, 1, size)
}

// ReserveGrantBytes implements ingest.GrantStore, in one conditional UPDATE as ReserveGrant.
func (s *Store) ReserveGrantBytes(ctx context.Context, id uuid.UUID, size int64) (*ingest.UploadGrant, error) {
	var g *ingest.UploadGrant
	err := s.inTx(ctx, func(tx *txn) error {
		var err error
		g, err = scanGrant(tx.QueryRowContext(ctx, `
			UPDATE upload_grants SET bytes_used = bytes_used + $1, updated_at = $2
			WHERE id = $3 AND files_used >= 1
			  AND (max_file_bytes IS NULL OR $1 <= max_file_bytes)
			  AND (max_total_bytes IS NULL OR bytes_used + $1 <= max_total_bytes)
			RETURNING `+grantColumns, size, at(s.clock()), id))
		if errors.Is(err, sql.ErrNoRows) {
			current, err := s.grant(ctx, tx, id)
			if err != nil {
				return err
			}
			if err := current.CheckReserveBytes(size); err != nil {
				return err
			}
			if current.FilesUsed == 0 {
				return ingest.Errorf(ingest.EValidation, "upload grant %s holds no file to count bytes of", id)
			}
			return ingest.Errorf(ingest.EConflict, "upload grant %s changed while it was reserved; retry", id)
		}
		return s.translate(err)
	})
	if err != nil {
		return nil, err
	}
	return g, nil
}

// ReleaseGrantBytes implements ingest.GrantStore.
func (s *Store) ReleaseGrantBytes(ctx context.Context, id uuid.UUID, size int64) error {
	return s.releaseGrant(ctx, id, 0, size)
}

// releaseGrant gives back files and size bytes of the grant's reservations.
func (s *Store) releaseGrant(ctx context.Context, id uuid.UUID, files int, size int64) error {
	return s.inTx(ctx, func(tx *txn) error {
		res, err := tx.ExecContext(ctx, `
			UPDATE upload_grants SET files_used = files_used - $1, bytes_used = bytes_used - $2, updated_at = $3
			WHERE id = $4 AND files_used >= $1 AND bytes_used >= $2`, files, size, at(s.clock()), id)
		if err != nil {
			return s.translate(err)
		}
		if n, err := res.RowsAffected(); err != nil || n == 1 {
			return err
		}
		return s.refuseTwice(ctx, tx, "upload_grants", "upload grant", id,
			ingest.Errorf(ingest.EValidation, "upload grant %s holds no reservation of %d bytes", id, size))
	})
}
