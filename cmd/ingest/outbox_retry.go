package main

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"github.com/urfave/cli/v3"

	"github.com/ingest-portal/ingest"
)

// outboxRetryCommand is "ingest outbox retry --id ID | --all-failed".
func outboxRetryCommand() *cli.Command {
	return &cli.Command{
		Name:  "retry",
		Usage: "send FAILED events again, from the start of their retry schedule",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "id", Usage: "retry the FAILED event with this `ID` (the id column of outbox ls)"},
			&cli.BoolFlag{Name: "all-failed", Usage: "retry every FAILED event"},
		},
		Action: retryOutbox,
	}
}

func retryOutbox(ctx context.Context, cmd *cli.Command) error {
	rawID, all := cmd.String("id"), cmd.Bool("all-failed")
	if (rawID == "") == !all {
		return ingest.Errorf(ingest.EValidation, "outbox retry takes either --id ID or --all-failed")
	}
	var id uuid.UUID
	if rawID != "" {
		var err error
		if id, err = uuid.Parse(rawID); err != nil {
			return ingest.Errorf(ingest.EValidation, "--id must be an event id")
		}
	}
	store, err := openMigratedStore(ctx, cmd)
	if err != nil {
		return fmt.Errorf("outbox retry: %w", err)
	}
	defer store.Close()
	if all {
		n, err := store.RetryFailedEvents(ctx)
		if err != nil {
			return fmt.Errorf("outbox retry: %w", err)
		}
		_, err = fmt.Fprintf(cmd.Root().Writer, "%d FAILED %s to deliver again\n", n, plural(n, "event", "events"))
		return err
	}
	if err := store.RetryEvent(ctx, id); err != nil {
		return fmt.Errorf("outbox retry: %w", err)
	}
	_, err = fmt.Fprintf(cmd.Root().Writer, "event %s to deliver again\n", id)
	return err
}
