package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/urfave/cli/v3"

	"github.com/ingest-portal/ingest"
	"github.com/ingest-portal/ingest/client"
	"github.com/ingest-portal/ingest/internal/bytesize"
)

// grantCommand is "ingest grant create|ls|revoke".
func grantCommand() *cli.Command {
	return &cli.Command{
		Name:  "grant",
		Usage: "make, list and revoke upload grants, which let a browser upload for you",
		Flags: remoteFlags(),
		Commands: []*cli.Command{
			{
				Name:  "create",
				Usage: "make an upload grant and print its secret, once, alone on the last line",
				Flags: []cli.Flag{
					&cli.IntFlag{Name: "max-files", Usage: "how many `FILES` it may upload", Value: 1, Sources: cli.EnvVars("INGEST_GRANT_MAX_FILES")},
					&cli.StringFlag{Name: "max-file-size", Usage: "the largest `SIZE` of one file, such as 10MiB (default: any)", Sources: cli.EnvVars("INGEST_GRANT_MAX_FILE_SIZE")},
					&cli.StringFlag{Name: "max-total-size", Usage: "the `SIZE` of all its files together (default: any)", Sources: cli.EnvVars("INGEST_GRANT_MAX_TOTAL_SIZE")},
					&cli.StringSliceFlag{Name: "content-type", Usage: "a media `TYPE` its files may have, such as image/* (repeat; default: any)", Sources: cli.EnvVars("INGEST_GRANT_CONTENT_TYPE")},
					&cli.StringFlag{Name: "batch-id", Usage: "the `ID` of an OPEN batch every file goes into", Sources: cli.EnvVars("INGEST_GRANT_BATCH_ID")},
					&cli.StringSliceFlag{Name: "metadata", Usage: "`KEY=VALUE` merged into every file's metadata (repeat)", Sources: cli.EnvVars("INGEST_GRANT_METADATA")},
					&cli.DurationFlag{Name: "expires-in", Usage: "how long it lasts, at most 168h", Value: time.Hour, Sources: cli.EnvVars("INGEST_GRANT_EXPIRES_IN")},
					jsonOutputFlag("print the grant, with its token, as JSON"),
				},
				Action: createGrant,
			},
			{
				Name:   "ls",
				Usage:  "list your upload grants, newest first",
				Flags:  []cli.Flag{jsonOutputFlag("print one JSON object per grant")},
				Action: listGrants,
			},
			{
				Name:      "revoke",
				Usage:     "revoke an upload grant: it uploads nothing more",
				ArgsUsage: "ID",
				Action:    revokeGrant,
			},
		},
	}
}

func createGrant(ctx context.Context, cmd *cli.Command) error {
	if cmd.NArg() != 0 {
		return ingest.Errorf(ingest.EValidation, "grant create takes no arguments; got %q", cmd.Args().Slice())
	}
	req := client.GrantRequest{MaxFiles: int(cmd.Int("max-files")), ContentTypes: cmd.StringSlice("content-type"),
		ExpiresIn: cmd.Duration("expires-in")}
	if err := optionalSize(cmd, "max-file-size", &req.MaxFileBytes); err != nil {
		return err
	}
	if err := optionalSize(cmd, "max-total-size", &req.MaxTotalBytes); err != nil {
		return err
	}
	if s := cmd.String("batch-id"); s != "" {
		id, err := uuid.Parse(s)
		if err != nil {
			return ingest.Errorf(ingest.EValidation, "--batch-id %q is not a batch id", s)
		}
		req.BatchID = &id
	}
	for _, kv := range cmd.StringSlice("metadata") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return ingest.Errorf(ingest.EValidation, "--metadata %q is not KEY=VALUE", kv)
		}
		if req.Metadata == nil {
			req.Metadata = map[string]string{}
		}
		req.Metadata[k] = v
	}
	c, err := newClient(ctx, cmd)
	if err != nil {
		return err
	}
	defer c.Close()
	g, err := c.CreateGrant(ctx, req)
	if err != nil {
		return err
	}
	out := cmd.Root().Writer
	if cmd.Bool(jsonFlag) {
		return writeJSONLine(out, g)
	}
	fmt.Fprintf(out, "created upload grant %s (prefix %s), expires %s\n", g.ID, g.Prefix, g.ExpiresAt.Format(time.RFC3339))
	// Like "ingest token create": the secret alone on the last line, for tail -n 1.
	if _, err := fmt.Fprintln(out, g.Token); err != nil {
		return fmt.Errorf("grant create: grant %s was created but its secret could not be printed, so it is unusable: %w", g.ID, err)
	}
	fmt.Fprintln(cmd.Root().ErrWriter, "the secret above is shown once; hand it to the uploader now")
	return nil
}

// optionalSize reads an optional size flag such as 10MiB into *into, left nil when it is not set.
func optionalSize(cmd *cli.Command, name string, into **int64) error {
	s := cmd.String(name)
	if s == "" {
		return nil
	}
	n, err := parseSize(name, s)
	*into = &n
	return err
}

func listGrants(ctx context.Context, cmd *cli.Command) error {
	if cmd.NArg() != 0 {
		return ingest.Errorf(ingest.EValidation, "grant ls takes no arguments; got %q", cmd.Args().Slice())
	}
	c, err := newClient(ctx, cmd)
	if err != nil {
		return err
	}
	defer c.Close()
	return printPages(cmd, func(cursor string) ([]client.Grant, string, error) {
		page, err := c.Grants(ctx, cursor, 0)
		if err != nil {
			return nil, "", err
		}
		return page.Items, page.NextCursor, nil
	}, "ID\tSTATE\tFILES\tBYTES\tEXPIRES\tPREFIX", grantRow)
}

func grantRow(g client.Grant) string {
	return fmt.Sprintf("%s\t%s\t%d/%d\t%s\t%s\t%s", g.ID, g.State, g.FilesUsed, g.MaxFiles, bytesize.Format(g.BytesUsed),
		g.ExpiresAt.Format(time.RFC3339), g.Prefix)
}

func revokeGrant(ctx context.Context, cmd *cli.Command) error {
	if cmd.NArg() != 1 {
		return ingest.Errorf(ingest.EValidation, "grant revoke takes one grant id")
	}
	id, err := uuid.Parse(cmd.Args().First())
	if err != nil {
		return ingest.Errorf(ingest.EValidation, "%q is not a grant id", cmd.Args().First())
	}
	c, err := newClient(ctx, cmd)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.RevokeGrant(ctx, id); err != nil {
		return err
	}
	_, err = fmt.Fprintf(cmd.Root().Writer, "revoked upload grant %s\n", id)
	return err
}
