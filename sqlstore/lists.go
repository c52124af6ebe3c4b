package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ingest-portal/ingest"
)

// where builds the WHERE clause of a filtered, keyset-paged list: each condition is added only
// when its value is set, numbering its parameter in turn.
type where struct {
	conds []string
	args  []any
}

func (w *where) add(cond string, arg any) {
	w.args = append(w.args, arg)
	w.conds = append(w.conds, strings.ReplaceAll(cond, "?", fmt.Sprintf("$%d", len(w.args))))
}

// list runs a list query and scans every row.
func list[T any](ctx context.Context, s *Store, query string, args []any, scan func(interface{ Scan(...any) error }) (T, error)) ([]T, error) {
	rows, err := s.q().QueryContext(ctx, query, args...)
	if err != nil {
		return nil, s.translate(err)
	}
	items, err := scanRows(rows, scan)
	return items, s.translate(err)
}

// scanRows scans every row with scan and closes the rows.
func scanRows[T any](rows *sql.Rows, scan func(interface{ Scan(...any) error }) (T, error)) ([]T, error) {
	defer rows.Close()
	items := []T{}
	for rows.Next() {
		item, err := scan(rows)
		if err != nil {
			return nil, err
		}
		items = append(items, item)
	}
	return items, rows.Err()
}

// ExpiredSessions implements ingest.UploadStore.
func (s *Store) ExpiredSessions(ctx context.Context, t time.Time, limit int) ([]*ingest.UploadSession, error) {
	return list(ctx, s, `SELECT `+sessionColumns+` FROM upload_sessions
		WHERE status IN ('INIT', 'IN_PROGRESS') AND expires_at < $1 ORDER BY expires_at LIMIT $2`,
		[]any{at(t), limit}, scanSession)
}

// CountActiveSessions implements ingest.UploadStore.
func (s *Store) CountActiveSessions(ctx context.Context) (int, error) {
	var n int
	err := s.q().QueryRowContext(ctx, `SELECT count(*) FROM upload_sessions WHERE status IN ('INIT', 'IN_PROGRESS')`).Scan(&n)
	return n, s.translate(err)
}

// Authenticate implements ingest.UserStore.
func (s *Store) Authenticate(ctx context.Context, tokenHash string) (*ingest.User, error) {
	now := s.clock()
	var tokenID string
	var lastUsed *time.Time
	u, err := scanUserAnd(s.q().QueryRowContext(ctx, `
		SELECT u.id, u.created_at, u.updated_at, u.username, u.is_admin, u.disabled_at, t.id, t.last_used_at
		FROM api_tokens t JOIN users u ON u.id = t.user_id
		WHERE t.token_hash = $1 AND t.revoked_at IS NULL AND (t.expires_at IS NULL OR t.expires_at > $2)`,
		tokenHash, at(now)), &tokenID, nullTimeCol{&lastUsed})
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ingest.Errorf(ingest.EUnauthenticated, "the API token is unknown, revoked or expired")
	}
	if err != nil {
		return nil, s.translate(err)
	}
	if u.DisabledAt != nil {
		return nil, ingest.Errorf(ingest.EForbidden, "user %s is disabled", u.Username)
	}
	if lastUsed == nil || now.Sub(*lastUsed) >= time.Minute {
		if _, err := s.exec(ctx, `UPDATE api_tokens SET last_used_at = $1 WHERE id = $2`, at(now), tokenID); err != nil {
			return nil, s.translate(err)
		}
	}
	return u, nil
}
