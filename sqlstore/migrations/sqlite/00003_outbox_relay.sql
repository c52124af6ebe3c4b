-- What the outbox relay needs (issue 4).
--
-- retry_base_attempts: attempt_count only grows, because it fences delivery results, so a manual
-- retry cannot reset it; it records attempt_count instead, and the retry schedule counts the
-- attempts since (attempt_count - retry_base_attempts).
--
-- portal_event_outbox_due_idx gains id: a claim takes the due rows in (next_attempt_at, id) order,
-- which the index now gives without sorting every due row (many share one next_attempt_at).
--
-- portal_event_outbox_failed_idx: `ingest outbox ls --status FAILED` and a retry of every FAILED
-- row find them, and the metrics count them, without reading the table. It is partial, so
-- the claims and marks of a healthy outbox never write to it.
--
-- SQLite has no NOTIFY: the store wakes the relay in-process after the inserting commit.

-- +goose Up
ALTER TABLE portal_event_outbox ADD COLUMN retry_base_attempts INTEGER NOT NULL DEFAULT 0
    CHECK (retry_base_attempts >= 0 AND retry_base_attempts <= attempt_count);

DROP INDEX portal_event_outbox_due_idx;
CREATE INDEX portal_event_outbox_due_idx ON portal_event_outbox (next_attempt_at, id)
    WHERE status IN ('PENDING', 'SENDING');
CREATE INDEX portal_event_outbox_failed_idx ON portal_event_outbox (id) WHERE status = 'FAILED';

-- +goose Down
DROP INDEX portal_event_outbox_failed_idx;
DROP INDEX portal_event_outbox_due_idx;
CREATE INDEX portal_event_outbox_due_idx ON portal_event_outbox (next_attempt_at)
    WHERE status IN ('PENDING', 'SENDING');
ALTER TABLE portal_event_outbox DROP COLUMN retry_base_attempts;
