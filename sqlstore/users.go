package sqlstore

import (
	"context"

	"github.com/google/uuid"

	"github.com/ingest-portal/ingest"
)

const userColumns = `id, created_at, updated_at, username, is_admin, disabled_at`

func scanUser(row interface{ Scan(...any) error }) (*ingest.User, error) {
	return scanUserAnd(row)
}

// scanUserAnd scans a user's columns followed by more.
func scanUserAnd(row interface{ Scan(...any) error }, more ...any) (*ingest.User, error) {
	var u ingest.User
	err := row.Scan(append([]any{&u.ID, timeCol{&u.CreatedAt}, timeCol{&u.UpdatedAt}, &u.Username, &u.IsAdmin,
		nullTimeCol{&u.DisabledAt}}, more...)...)
	return &u, err
}

// CreateUser implements ingest.UserStore.
func (s *Store) CreateUser(ctx context.Context, u *ingest.User) error {
	if err := ingest.ValidateUsername(u.Username); err != nil {
		return err
	}
	if u.ID == uuid.Nil {
		u.ID = ingest.NewID()
	}
	now := s.clock()
	u.CreatedAt, u.UpdatedAt = now, now
	_, err := s.exec(ctx, `
		INSERT INTO users (id, created_at, updated_at, username, is_admin, disabled_at)
		VALUES ($1, $2, $2, $3, $4, $5)`,
		u.ID, at(now), u.Username, u.IsAdmin, atOrNull(u.DisabledAt))
	if violation(err) == uniqueViolation {
		return &ingest.Error{Code: ingest.EConflict, Message: "username " + u.Username + " is taken", Err: err}
	}
	return s.translate(err)
}

// User implements ingest.UserStore.
func (s *Store) User(ctx context.Context, id uuid.UUID) (*ingest.User, error) {
	u, err := scanUser(s.q().QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE id = $1`, id))
	if err != nil {
		return nil, s.notFound(err, "user", id)
	}
	return u, nil
}

// UserByUsername implements ingest.UserStore.
func (s *Store) UserByUsername(ctx context.Context, username string) (*ingest.User, error) {
	u, err := scanUser(s.q().QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE username = $1`, username))
	if err != nil {
		return nil, s.notFound(err, "user", username)
	}
	return u, nil
}

// CountUsers implements ingest.UserStore.
func (s *Store) CountUsers(ctx context.Context) (int, error) {
	var n int
	err := s.q().QueryRowContext(ctx, `SELECT count(*) FROM users`).Scan(&n)
	return n, s.translate(err)
}

// CreateAPIToken implements ingest.UserStore.
func (s *Store) CreateAPIToken(ctx context.Context, t *ingest.APIToken) error {
	if t.ID == uuid.Nil {
		t.ID = ingest.NewID()
	}
	if err := ingest.ValidateSHA256(t.TokenHash); err != nil {
		return ingest.Errorf(ingest.EValidation, "token hash: %s", ingest.ErrorMessage(err))
	}
	now := s.clock()
	t.CreatedAt, t.UpdatedAt = now, now
	_, err := s.exec(ctx, `
		INSERT INTO api_tokens (id, created_at, updated_at, user_id, name, token_hash, prefix,
		                        last_used_at, expires_at, revoked_at)
		VALUES ($1, $2, $2, $3, $4, $5, $6, $7, $8, $9)`,
		t.ID, at(now), t.UserID, t.Name, t.TokenHash, t.Prefix,
		atOrNull(t.LastUsedAt), atOrNull(t.ExpiresAt), atOrNull(t.RevokedAt))
	switch violation(err) {
	case foreignKeyViolation:
		return ingest.Errorf(ingest.ENotFound, "user %s not found", t.UserID)
	case uniqueViolation:
		return &ingest.Error{Code: ingest.EConflict, Message: "an API token with the same hash exists", Err: err}
	}
	return s.translate(err)
}
