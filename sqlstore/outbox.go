package sqlstore

import (
	"context"
	"encoding/json"
	"time"

	"github.com/google/uuid"

	"github.com/ingest-portal/ingest"
)

const eventColumns = `id, created_at, updated_at, event_type, event_id, idempotency_key, payload, status,
	next_attempt_at, attempt_count, file_id, last_error, delivered_at, retry_base_attempts`

func scanEvent(row interface{ Scan(...any) error }) (*ingest.OutboxEvent, error) {
	var e ingest.OutboxEvent
	var payload []byte
	err := row.Scan(&e.ID, timeCol{&e.CreatedAt}, timeCol{&e.UpdatedAt}, &e.EventType, &e.EventID, &e.IdempotencyKey,
		&payload, &e.Status, timeCol{&e.NextAttemptAt}, &e.AttemptCount, &e.FileID, textCol[string]{&e.LastError},
		nullTimeCol{&e.DeliveredAt}, &e.RetryBaseAttempts)
	e.Payload = json.RawMessage(payload)
	return &e, err
}

// EnqueueEvent implements ingest.OutboxStore.
func (s *Store) EnqueueEvent(ctx context.Context, e *ingest.OutboxEvent) error {
	return s.inTx(ctx, func(tx *txn) error { return s.insertEvent(ctx, tx, e) })
}

// insertEvent writes e as PENDING if, and only if, its file is STORED: the service's half of the
// outbox guard (a trigger is the database's half).
func (s *Store) insertEvent(ctx context.Context, q querier, e *ingest.OutboxEvent) error {
	if e.EventType == "" || e.IdempotencyKey == "" || !json.Valid(e.Payload) {
		return ingest.Errorf(ingest.EValidation, "an outbox event needs a type, an idempotency key and a JSON payload")
	}
	if e.ID == uuid.Nil {
		e.ID = ingest.NewID()
	}
	if e.EventID == uuid.Nil {
		e.EventID = ingest.NewID()
	}
	now := s.clock()
	if e.NextAttemptAt.IsZero() {
		e.NextAttemptAt = now
	}
	e.CreatedAt, e.UpdatedAt, e.Status, e.AttemptCount, e.LastError, e.DeliveredAt = now, now, ingest.OutboxPending, 0, "", nil
	e.NextAttemptAt = ingest.Timestamp(e.NextAttemptAt)
	res, err := q.ExecContext(ctx, `
		INSERT INTO portal_event_outbox (id, created_at, updated_at, event_type, event_id, idempotency_key,
		                                 payload, status, next_attempt_at, attempt_count, file_id)
		SELECT $1, $2, $2, $3, $4, $5, $6, 'PENDING', $7, 0, $8
		WHERE EXISTS (SELECT 1 FROM ingest_files WHERE id = $8 AND status = 'STORED')`,
		e.ID, at(now), e.EventType, e.EventID, e.IdempotencyKey, string(e.Payload), at(e.NextAttemptAt), e.FileID)
	if violation(err) == uniqueViolation {
		return &ingest.Error{Code: ingest.EConflict, Message: "a " + e.EventType + " event with idempotency key " + e.IdempotencyKey + " exists", Err: err}
	}
	if err != nil {
		return s.translate(err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 1 {
		if t, ok := q.(*txn); ok && err == nil {
			t.enqueued = true
		}
		return err
	}
	return ingest.Errorf(ingest.EValidation, "ingest file %s is not STORED: only a STORED file has events", e.FileID)
}

// OutboxEvent implements ingest.OutboxStore.
func (s *Store) OutboxEvent(ctx context.Context, id uuid.UUID) (*ingest.OutboxEvent, error) {
	e, err := scanEvent(s.q().QueryRowContext(ctx, `SELECT `+eventColumns+` FROM portal_event_outbox WHERE id = $1`, id))
	if err != nil {
		return nil, s.notFound(err, "outbox event", id)
	}
	return e, nil
}

// ClaimEvents implements ingest.OutboxStore. On PostgreSQL, rows another relay is claiming are
// skipped rather than waited for, so several relays share the work; SQLite has one writer at a
// time anyway.
func (s *Store) ClaimEvents(ctx context.Context, limit int, lease time.Duration) ([]*ingest.OutboxEvent, error) {
	if limit < 1 || lease <= 0 {
		return nil, ingest.Errorf(ingest.EValidation, "claim at least one event, with a positive lease")
	}
	var events []*ingest.OutboxEvent
	err := s.inTx(ctx, func(tx *txn) error {
		now := s.clock()
		rows, err := tx.QueryContext(ctx, `
			UPDATE portal_event_outbox
			SET status = 'SENDING', attempt_count = attempt_count + 1, next_attempt_at = $1, updated_at = $2
			WHERE id IN (
				SELECT id FROM portal_event_outbox
				WHERE status IN (`+statusList(ingest.OutboxSources(ingest.OutboxSending))+`) AND next_attempt_at <= $2
				ORDER BY next_attempt_at, id
				LIMIT $3`+s.dialect.skipLocked+`)
			RETURNING `+eventColumns, at(now.Add(lease)), at(now), limit)
		if err != nil {
			return s.translate(err)
		}
		defer rows.Close()
		for rows.Next() {
			e, err := scanEvent(rows)
			if err != nil {
				return s.translate(err)
			}
			events = append(events, e)
		}
		return s.translate(rows.Err())
	})
	return events, err
}

// MarkDelivered implements ingest.OutboxStore.
func (s *Store) MarkDelivered(ctx context.Context, id uuid.UUID, attempt int) error {
	return s.markEvent(ctx, id, attempt, ingest.OutboxDelivered, `, delivered_at = $4, last_error = NULL`)
}

// MarkRetry implements ingest.OutboxStore.
func (s *Store) MarkRetry(ctx context.Context, id uuid.UUID, attempt int, next time.Time, lastError string) error {
	return s.markEvent(ctx, id, attempt, ingest.OutboxPending, `, next_attempt_at = $5, last_error = $6`, at(next), lastError)
}

// MarkFailed implements ingest.OutboxStore.
func (s *Store) MarkFailed(ctx context.Context, id uuid.UUID, attempt int, lastError string) error {
	return s.markEvent(ctx, id, attempt, ingest.OutboxFailed, `, last_error = $5`, lastError)
}

// markEvent is the fenced compare-and-set of a delivery's result: the event must still be SENDING
// under the same attempt. In set, $4 is the current time and $5 onwards are args.
func (s *Store) markEvent(ctx context.Context, id uuid.UUID, attempt int, to ingest.OutboxStatus, set string, args ...any) error {
	return s.inTx(ctx, func(tx *txn) error {
		res, err := tx.ExecContext(ctx, `
			UPDATE portal_event_outbox SET status = $1, updated_at = $4`+set+`
			WHERE id = $2 AND status = 'SENDING' AND attempt_count = $3`,
			append([]any{to, id, attempt, at(s.clock())}, args...)...)
		if err != nil {
			return s.translate(err)
		}
		if n, err := res.RowsAffected(); err != nil || n == 1 {
			return err
		}
		var current ingest.OutboxStatus
		var attempts int
		err = tx.QueryRowContext(ctx, `SELECT status, attempt_count FROM portal_event_outbox WHERE id = $1`, id).Scan(&current, &attempts)
		if err != nil {
			return s.notFound(err, "outbox event", id)
		}
		if current != ingest.OutboxSending || attempts == attempt {
			return refused(ingest.CheckOutboxResult(id, current, to))
		}
		return ingest.Errorf(ingest.EConflict, "outbox event %s was claimed again (attempt %d, not %d): the lease was lost", id, attempts, attempt)
	})
}

// RetryEvent implements ingest.OutboxStore. The attempt count is kept, not reset, because it also
// fences delivery results: a relay that lost an old lease must never match a new attempt. The
// schedule restarts from retry_base_attempts instead.
func (s *Store) RetryEvent(ctx context.Context, id uuid.UUID) error {
	return s.inTx(ctx, func(tx *txn) error {
		now := at(s.clock())
		res, err := tx.ExecContext(ctx, `
			UPDATE portal_event_outbox SET status = 'PENDING', next_attempt_at = $1, updated_at = $1,
				retry_base_attempts = attempt_count
			WHERE id = $2 AND status = 'FAILED'`, now, id)
		if err != nil {
			return s.translate(err)
		}
		if n, err := res.RowsAffected(); err != nil || n == 1 {
			if err != nil {
				return err
			}
			return s.announce(ctx, tx)
		}
		current, err := s.currentStatus(ctx, tx, "portal_event_outbox", "outbox event", id)
		if err != nil {
			return err
		}
		return refused(ingest.CheckOutboxRetry(id, ingest.OutboxStatus(current)))
	})
}
