-- What the outbox relay needs (issue 4).
--
-- retry_base_attempts: attempt_count only grows, because it fences delivery results, so a manual
-- retry cannot reset it; it records attempt_count instead, and the retry schedule counts the
-- attempts since (attempt_count - retry_base_attempts).
--
-- portal_event_outbox_status_id_idx: `ingest outbox ls --status S` pages by id within a status,
-- a manual retry of every FAILED row finds them, retention finds old DELIVERED rows and the
-- metrics count rows by status, all without reading the table.
--
-- SQLite has no NOTIFY: the store wakes the relay in-process after the inserting commit.

-- +goose Up
ALTER TABLE portal_event_outbox ADD COLUMN retry_base_attempts INTEGER NOT NULL DEFAULT 0
    CHECK (retry_base_attempts >= 0 AND retry_base_attempts <= attempt_count);

CREATE INDEX portal_event_outbox_status_id_idx ON portal_event_outbox (status, id);

-- +goose Down
DROP INDEX portal_event_outbox_status_id_idx;
ALTER TABLE portal_event_outbox DROP COLUMN retry_base_attempts;
