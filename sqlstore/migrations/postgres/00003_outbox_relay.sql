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
-- portal_event_outbox_notify: wakes the relays that LISTEN on ingest_outbox. NOTIFY is
-- transactional, so a relay hears of a row only once the transaction that inserted it commits,
-- and one notification per statement (not per row) keeps the cost per stored file small.

-- +goose Up
ALTER TABLE portal_event_outbox ADD COLUMN retry_base_attempts integer NOT NULL DEFAULT 0
    CONSTRAINT portal_event_outbox_retry_base_attempts_check CHECK (retry_base_attempts >= 0 AND retry_base_attempts <= attempt_count);

CREATE INDEX portal_event_outbox_status_id_idx ON portal_event_outbox (status, id);

-- +goose StatementBegin
CREATE FUNCTION portal_event_outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('ingest_outbox', '');
    RETURN NULL;
END
$$;
-- +goose StatementEnd

CREATE TRIGGER portal_event_outbox_notify
    AFTER INSERT ON portal_event_outbox
    FOR EACH STATEMENT EXECUTE FUNCTION portal_event_outbox_notify();

-- +goose Down
DROP TRIGGER portal_event_outbox_notify ON portal_event_outbox;
DROP FUNCTION portal_event_outbox_notify();
DROP INDEX portal_event_outbox_status_id_idx;
ALTER TABLE portal_event_outbox DROP COLUMN retry_base_attempts;
