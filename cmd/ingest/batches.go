package main

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"github.com/urfave/cli/v3"

	"github.com/ingest-portal/ingest"
	"github.com/ingest-portal/ingest/client"
)

// batchesCommand is "ingest batches ls|show".
func batchesCommand() *cli.Command {
	return &cli.Command{
		Name:  "batches",
		Usage: "list and show upload batches",
		Flags: remoteFlags(),
		Commands: []*cli.Command{
			{
				Name:  "ls",
				Usage: "list your batches (every batch, for an admin), newest first",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "status", Usage: "only batches of this `STATUS`", Sources: cli.EnvVars("INGEST_BATCHES_STATUS")},
					jsonOutputFlag("print one JSON object per batch"),
				},
				Action: listBatches,
			},
			{
				Name:      "show",
				Usage:     "show a batch and its counters",
				ArgsUsage: "ID",
				Flags:     []cli.Flag{jsonOutputFlag("print the batch as JSON")},
				Action:    showBatch,
			},
		},
	}
}

func listBatches(ctx context.Context, cmd *cli.Command) error {
	if cmd.NArg() != 0 {
		return ingest.Errorf(ingest.EValidation, "batches ls takes no arguments; got %q", cmd.Args().Slice())
	}
	f := client.BatchFilter{Status: ingest.BatchStatus(cmd.String("status"))}
	if f.Status != "" && !f.Status.Valid() {
		return ingest.Errorf(ingest.EValidation, "--status %q is not a batch status", f.Status)
	}
	c, err := newClient(ctx, cmd)
	if err != nil {
		return err
	}
	defer c.Close()
	return printPages(cmd, func(cursor string) ([]client.Batch, string, error) {
		f.Cursor = cursor
		page, err := c.Batches(ctx, f)
		if err != nil {
			return nil, "", err
		}
		return page.Items, page.NextCursor, nil
	}, "ID\tSTATUS\tFILES\tSTORED\tFAILED\tNAME", batchRow)
}

func batchRow(b client.Batch) string {
	return fmt.Sprintf("%s\t%s\t%d\t%d\t%d\t%s", b.ID, b.Status, b.TotalFiles, b.StoredCount, b.FailedCount, b.Name)
}

func showBatch(ctx context.Context, cmd *cli.Command) error {
	if cmd.NArg() != 1 {
		return ingest.Errorf(ingest.EValidation, "batches show takes one batch id")
	}
	id, err := uuid.Parse(cmd.Args().First())
	if err != nil {
		return ingest.Errorf(ingest.EValidation, "%q is not a batch id", cmd.Args().First())
	}
	c, err := newClient(ctx, cmd)
	if err != nil {
		return err
	}
	defer c.Close()
	b, err := c.Batch(ctx, id)
	if err != nil {
		return err
	}
	out := cmd.Root().Writer
	if cmd.Bool(jsonFlag) {
		return writeJSONLine(out, b)
	}
	sealed := "-"
	if b.SealedAt != nil {
		sealed = b.SealedAt.Format("2006-01-02T15:04:05Z07:00")
	}
	_, err = fmt.Fprintf(out, "id:       %s\nname:     %s\nstatus:   %s\nfiles:    %d (%d stored, %d failed)\ncreated:  %s\nsealed:   %s\n",
		b.ID, b.Name, b.Status, b.TotalFiles, b.StoredCount, b.FailedCount, b.CreatedAt.Format("2006-01-02T15:04:05Z07:00"), sealed)
	return err
}
