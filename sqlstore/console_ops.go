package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/google/uuid"

	"github.com/ingest-portal/ingest"
	"github.com/ingest-portal/ingest/readmodel"
)

const tokenColumns = `id, created_at, updated_at, user_id, name, token_hash, prefix, last_used_at, expires_at, revoked_at`

func scanToken(row interface{ Scan(...any) error }) (*ingest.APIToken, error) {
	var t ingest.APIToken
	err := row.Scan(&t.ID, timeCol{&t.CreatedAt}, timeCol{&t.UpdatedAt}, &t.UserID, &t.Name, &t.TokenHash, &t.Prefix,
		nullTimeCol{&t.LastUsedAt}, nullTimeCol{&t.ExpiresAt}, nullTimeCol{&t.RevokedAt})
	return &t, err
}

// APIToken implements readmodel.Store.
func (s *Store) APIToken(ctx context.Context, id uuid.UUID) (*ingest.APIToken, error) {
	t, err := scanToken(s.q().QueryRowContext(ctx, `SELECT `+tokenColumns+` FROM api_tokens WHERE id = $1`, id))
	if err != nil {
		return nil, s.notFound(err, "API token", id)
	}
	return t, nil
}

// SessionOfFile implements readmodel.Store.
func (s *Store) SessionOfFile(ctx context.Context, fileID uuid.UUID) (*ingest.UploadSession, error) {
	sess, err := scanSession(s.q().QueryRowContext(ctx, `SELECT `+sessionColumns+` FROM upload_sessions WHERE file_id = $1`, fileID))
	if err != nil {
		return nil, s.notFound(err, "upload session of file", fileID)
	}
	return sess, nil
}

// RevokeAPIToken implements ingest.AccessStore.
func (s *Store) RevokeAPIToken(ctx context.Context, id uuid.UUID) (*ingest.APIToken, error) {
	var t *ingest.APIToken
	err := s.inTx(ctx, func(tx *txn) error {
		var err error
		t, err = stampOnce(ctx, s, tx, "api_tokens", "revoked_at", tokenColumns, scanToken, id,
			func() error { return s.refuseTwice(ctx, tx, "api_tokens", "API token", id, ingest.ErrTokenRevoked(id)) })
		return err
	})
	return t, err
}

// DisableUser implements ingest.AccessStore.
func (s *Store) DisableUser(ctx context.Context, id uuid.UUID) (*ingest.User, error) {
	var u *ingest.User
	err := s.inTx(ctx, func(tx *txn) error {
		var err error
		u, err = stampOnce(ctx, s, tx, "users", "disabled_at", userColumns, scanUser, id,
			func() error { return s.refuseTwice(ctx, tx, "users", "user", id, ingest.ErrUserDisabled(id)) })
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM admin_sessions WHERE user_id = $1`, id)
		return s.translate(err)
	})
	return u, err
}

// stampOnce is the compare-and-set of a one-way change recorded as a time: it sets column to now
// where it is still NULL and returns the row, or the error refused gives when nothing changed.
func stampOnce[T any](ctx context.Context, s *Store, tx *txn, table, column, columns string,
	scan func(interface{ Scan(...any) error }) (T, error), id uuid.UUID, refused func() error) (T, error) {
	row, err := scan(tx.QueryRowContext(ctx, `UPDATE `+table+` SET `+column+` = $1, updated_at = $1
		WHERE id = $2 AND `+column+` IS NULL RETURNING `+columns, at(s.clock()), id))
	if errors.Is(err, sql.ErrNoRows) {
		return row, refused()
	}
	return row, s.translate(err)
}

// refuseTwice is the follow-up of a compare-and-set that found nothing to change: ENotFound when
// the row does not exist, else the refusal of doing the same thing twice.
func (s *Store) refuseTwice(ctx context.Context, q querier, table, entity string, id uuid.UUID, refusal error) error {
	var one int
	if err := q.QueryRowContext(ctx, `SELECT 1 FROM `+table+` WHERE id = $1`, id).Scan(&one); err != nil {
		return s.notFound(err, entity, id)
	}
	return refusal
}

// Dashboard implements readmodel.Store.
func (s *Store) Dashboard(ctx context.Context, since time.Time) (*readmodel.Dashboard, error) {
	now := s.clock()
	d := &readmodel.Dashboard{Backlog: map[ingest.OutboxStatus]int{}}
	var err error
	if d.Hours, err = s.hourlyIngest(ctx, since, now); err != nil {
		return nil, err
	}
	if d.ActiveSessions, err = s.CountActiveSessions(ctx); err != nil {
		return nil, err
	}
	for _, st := range []ingest.OutboxStatus{ingest.OutboxPending, ingest.OutboxSending, ingest.OutboxFailed} {
		// The backlog is counted in full (a short range of the status index when healthy): a
		// capped figure would hide how far behind the relay is.
		var n int
		if err := s.q().QueryRowContext(ctx, `SELECT count(*) FROM portal_event_outbox WHERE status = $1`, st).Scan(&n); err != nil {
			return nil, s.translate(err)
		}
		d.Backlog[st] = n
		// The oldest of each status is the first entry of its range of the (status, id) index;
		// one query over the three statuses would walk the primary key past every delivered event.
		e, err := scanEvent(s.q().QueryRowContext(ctx, `SELECT `+eventColumns+` FROM portal_event_outbox
			WHERE status = $1 ORDER BY id LIMIT 1`, st))
		if errors.Is(err, sql.ErrNoRows) {
			continue
		}
		if err != nil {
			return nil, s.translate(err)
		}
		if d.OldestUndelivered == nil || e.ID.String() < d.OldestUndelivered.ID.String() {
			d.OldestUndelivered = e
		}
	}
	recent := readmodel.ListQuery{Status: string(ingest.FileFailed), Limit: 10}
	files, err := s.FindFiles(ctx, recent)
	if err != nil {
		return nil, err
	}
	events, err := s.FindEvents(ctx, recent)
	if err != nil {
		return nil, err
	}
	d.RecentFailedFiles, d.RecentFailedEvents = files.Items, events.Items
	return d, nil
}

// hourlyIngest counts the files stored and their bytes in each hour from since's to now's, by the
// partial index on stored_at.
func (s *Store) hourlyIngest(ctx context.Context, since, now time.Time) ([]readmodel.HourlyIngest, error) {
	hour := s.dialect.hourOfStored
	rows, err := s.q().QueryContext(ctx, `SELECT `+hour+`, count(*), CAST(coalesce(sum(size_bytes), 0) AS BIGINT)
		FROM ingest_files WHERE stored_at >= $1 GROUP BY 1`, at(since.Truncate(time.Hour)))
	if err != nil {
		return nil, s.translate(err)
	}
	defer rows.Close()
	byHour := map[string]readmodel.HourlyIngest{}
	for rows.Next() {
		var key string
		var h readmodel.HourlyIngest
		if err := rows.Scan(&key, &h.Files, &h.Bytes); err != nil {
			return nil, s.translate(err)
		}
		byHour[key] = h
	}
	if err := rows.Err(); err != nil {
		return nil, s.translate(err)
	}
	var hours []readmodel.HourlyIngest
	for t := since.UTC().Truncate(time.Hour); !t.After(now); t = t.Add(time.Hour) {
		h := byHour[t.Format("2006-01-02T15")]
		h.Hour = t
		hours = append(hours, h)
	}
	return hours, nil
}

// SetPassword implements ingest.AccessStore.
func (s *Store) SetPassword(ctx context.Context, userID uuid.UUID, encodedHash string) error {
	res, err := s.exec(ctx, `UPDATE users SET password_hash = $1, updated_at = $2 WHERE id = $3`,
		textOrNull(encodedHash), at(s.clock()), userID)
	if err != nil {
		return s.translate(err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 1 {
		return err
	}
	return ingest.Errorf(ingest.ENotFound, "user %s not found", userID)
}

// UserPassword implements ingest.AccessStore.
func (s *Store) UserPassword(ctx context.Context, username string) (*ingest.User, string, error) {
	var hash string
	u, err := scanUserAnd(s.q().QueryRowContext(ctx, `SELECT `+userColumns+`, password_hash FROM users WHERE username = $1`,
		username), textCol[string]{&hash})
	if err != nil {
		return nil, "", s.notFound(err, "user", username)
	}
	return u, hash, nil
}

const consoleSessionColumns = `id, created_at, updated_at, user_id, secret_hash, csrf_token, expires_at`

// CreateConsoleSession implements ingest.AccessStore.
func (s *Store) CreateConsoleSession(ctx context.Context, cs *ingest.ConsoleSession) error {
	if err := ingest.ValidateSHA256(cs.SecretHash); err != nil {
		return ingest.Errorf(ingest.EValidation, "session secret hash: %s", ingest.ErrorMessage(err))
	}
	if cs.ID == uuid.Nil {
		cs.ID = ingest.NewID()
	}
	now := s.clock()
	cs.CreatedAt, cs.UpdatedAt, cs.ExpiresAt = now, now, ingest.Timestamp(cs.ExpiresAt)
	_, err := s.exec(ctx, `INSERT INTO admin_sessions (`+consoleSessionColumns+`) VALUES ($1, $2, $2, $3, $4, $5, $6)`,
		cs.ID, at(now), cs.UserID, cs.SecretHash, cs.CSRFToken, at(cs.ExpiresAt))
	if violation(err) == foreignKeyViolation {
		return ingest.Errorf(ingest.ENotFound, "user %s not found", cs.UserID)
	}
	return s.translate(err)
}

// ConsoleSession implements ingest.AccessStore.
func (s *Store) ConsoleSession(ctx context.Context, secretHash string) (*ingest.ConsoleSession, *ingest.User, error) {
	var cs ingest.ConsoleSession
	u, err := scanUserAnd(s.q().QueryRowContext(ctx, `
		SELECT u.id, u.created_at, u.updated_at, u.username, u.is_admin, u.disabled_at,
		       s.id, s.created_at, s.updated_at, s.user_id, s.secret_hash, s.csrf_token, s.expires_at
		FROM admin_sessions s JOIN users u ON u.id = s.user_id
		WHERE s.secret_hash = $1 AND s.expires_at > $2`, secretHash, at(s.clock())),
		&cs.ID, timeCol{&cs.CreatedAt}, timeCol{&cs.UpdatedAt}, &cs.UserID, &cs.SecretHash, &cs.CSRFToken, timeCol{&cs.ExpiresAt})
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil, ingest.Errorf(ingest.EUnauthenticated, "the console session is unknown or expired")
	}
	if err != nil {
		return nil, nil, s.translate(err)
	}
	return &cs, u, nil
}

// DeleteConsoleSession implements ingest.AccessStore. Expired sessions go at the same time, so
// the table holds only live sessions and those that expired since someone last signed out.
func (s *Store) DeleteConsoleSession(ctx context.Context, secretHash string) error {
	_, err := s.exec(ctx, `DELETE FROM admin_sessions WHERE secret_hash = $1 OR expires_at <= $2`, secretHash, at(s.clock()))
	return s.translate(err)
}
