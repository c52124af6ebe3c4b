package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/google/uuid"
	"github.com/urfave/cli/v3"

	"github.com/ingest-portal/ingest"
	"github.com/ingest-portal/ingest/readmodel"
)

// outboxListCommand is "ingest outbox ls [--status S] [--json] [--limit N] [--after ID]".
func outboxListCommand() *cli.Command {
	return &cli.Command{
		Name:  "ls",
		Usage: "list events, newest first; the last line names the --after of the next page when there is one",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "status", Usage: "only events in `STATUS`: PENDING, SENDING, DELIVERED or FAILED"},
			&cli.BoolFlag{Name: "json", Usage: `print {"items": [...], "next_cursor": "…"} instead of a table`},
			&cli.IntFlag{Name: "limit", Usage: "at most `N` events", Value: ingest.DefaultPageLimit},
			&cli.StringFlag{Name: "after", Usage: "the page after the event with this `ID` (a previous page's next cursor)"},
		},
		Action: listOutbox,
	}
}

// outboxEventJSON is an event as "outbox ls --json" prints it: its columns, the payload as JSON.
type outboxEventJSON struct {
	ID             uuid.UUID           `json:"id"`
	CreatedAt      time.Time           `json:"created_at"`
	UpdatedAt      time.Time           `json:"updated_at"`
	EventType      string              `json:"event_type"`
	EventID        uuid.UUID           `json:"event_id"`
	IdempotencyKey string              `json:"idempotency_key"`
	Payload        json.RawMessage     `json:"payload"`
	Status         ingest.OutboxStatus `json:"status"`
	NextAttemptAt  time.Time           `json:"next_attempt_at"`
	AttemptCount   int                 `json:"attempt_count"`
	// RetryBaseAttempts is attempt_count at the last manual retry.
	RetryBaseAttempts int        `json:"retry_base_attempts"`
	FileID            uuid.UUID  `json:"file_id"`
	LastError         *string    `json:"last_error"`
	DeliveredAt       *time.Time `json:"delivered_at"`
}

func listOutbox(ctx context.Context, cmd *cli.Command) error {
	limit := int(cmd.Int("limit"))
	if limit < 1 || limit > ingest.MaxPageLimit {
		return ingest.Errorf(ingest.EValidation, "--limit must be 1 to %d", ingest.MaxPageLimit)
	}
	q := readmodel.ListQuery{Limit: limit}
	if s := cmd.String("status"); s != "" {
		status := ingest.OutboxStatus(strings.ToUpper(s))
		if !status.Valid() {
			return ingest.Errorf(ingest.EValidation, "--status must be PENDING, SENDING, DELIVERED or FAILED, not %q", s)
		}
		q.Status = string(status)
	}
	if s := cmd.String("after"); s != "" {
		id, err := uuid.Parse(s)
		if err != nil {
			return ingest.Errorf(ingest.EValidation, "--after must be an event id")
		}
		q.Cursor.After = &id
	}
	store, err := openMigratedStore(ctx, cmd)
	if err != nil {
		return fmt.Errorf("outbox ls: %w", err)
	}
	defer store.Close()
	page, err := store.FindEvents(ctx, q)
	if err != nil {
		return fmt.Errorf("outbox ls: %w", err)
	}
	events, next := page.Items, ""
	if page.More {
		next = events[len(events)-1].ID.String()
	}
	if cmd.Bool("json") {
		return printEventsJSON(cmd, events, next)
	}
	w := tabwriter.NewWriter(cmd.Root().Writer, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "ID\tEVENT ID\tTYPE\tSTATUS\tATTEMPTS\tNEXT ATTEMPT\tFILE\tLAST ERROR")
	for _, e := range events {
		next := "-" // a delivered or failed event has no next attempt
		if e.Status == ingest.OutboxPending || e.Status == ingest.OutboxSending {
			next = e.NextAttemptAt.Format(time.RFC3339)
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\n", e.ID, e.EventID, e.EventType, e.Status, e.AttemptCount,
			next, e.FileID, e.LastError)
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if next != "" {
		_, err = fmt.Fprintf(cmd.Root().Writer, "next page: --after %s\n", next)
	}
	return err
}

func printEventsJSON(cmd *cli.Command, events []*ingest.OutboxEvent, next string) error {
	page := struct {
		Items      []outboxEventJSON `json:"items"`
		NextCursor string            `json:"next_cursor,omitempty"`
	}{Items: make([]outboxEventJSON, len(events)), NextCursor: next}
	for i, e := range events {
		page.Items[i] = outboxEventJSON{ID: e.ID, CreatedAt: e.CreatedAt, UpdatedAt: e.UpdatedAt, EventType: e.EventType,
			EventID: e.EventID, IdempotencyKey: e.IdempotencyKey, Payload: e.Payload, Status: e.Status,
			NextAttemptAt: e.NextAttemptAt, AttemptCount: e.AttemptCount, RetryBaseAttempts: e.RetryBaseAttempts,
			FileID: e.FileID, DeliveredAt: e.DeliveredAt}
		if e.LastError != "" {
			page.Items[i].LastError = &e.LastError
		}
	}
	enc := json.NewEncoder(cmd.Root().Writer)
	enc.SetIndent("", "  ")
	return enc.Encode(page)
}
