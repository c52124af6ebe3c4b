package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"text/tabwriter"

	"github.com/google/uuid"
	"github.com/urfave/cli/v3"

	"github.com/ingest-portal/ingest"
	"github.com/ingest-portal/ingest/client"
)

// filesCommand is "ingest files ls|get".
func filesCommand() *cli.Command {
	return &cli.Command{
		Name:  "files",
		Usage: "list and download files",
		Flags: remoteFlags(),
		Commands: []*cli.Command{
			{
				Name:  "ls",
				Usage: "list your files (every file, for an admin), oldest first",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "batch-id", Usage: "only the files of the batch of this `ID`", Sources: cli.EnvVars("INGEST_FILES_BATCH_ID")},
					&cli.StringFlag{Name: "status", Usage: "only files of this `STATUS`: UPLOADING, STORED or FAILED", Sources: cli.EnvVars("INGEST_FILES_STATUS")},
					jsonOutputFlag("print one JSON object per file"),
				},
				Action: listFiles,
			},
			{
				Name:      "get",
				Usage:     "download a stored file, verifying its sha256",
				ArgsUsage: "ID",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "write to `FILE` (default: the file's name, in the current directory)",
						Sources: cli.EnvVars("INGEST_FILES_OUTPUT"), TakesFile: true},
				},
				Action: getFile,
			},
		},
	}
}

func listFiles(ctx context.Context, cmd *cli.Command) error {
	if cmd.NArg() != 0 {
		return ingest.Errorf(ingest.EValidation, "files ls takes no arguments; got %q", cmd.Args().Slice())
	}
	var f client.FileFilter
	if s := cmd.String("batch-id"); s != "" {
		id, err := uuid.Parse(s)
		if err != nil {
			return ingest.Errorf(ingest.EValidation, "--batch-id %q is not an id", s)
		}
		f.BatchID = &id
	}
	f.Status = ingest.FileStatus(cmd.String("status"))
	if f.Status != "" && !f.Status.Valid() {
		return ingest.Errorf(ingest.EValidation, "--status %q: want UPLOADING, STORED or FAILED", f.Status)
	}
	c, err := newClient(cmd)
	if err != nil {
		return err
	}
	defer c.Close()
	return printPages(cmd, func(cursor string) ([]client.File, string, error) {
		f.Cursor = cursor
		page, err := c.Files(ctx, f)
		if err != nil {
			return nil, "", err
		}
		return page.Items, page.NextCursor, nil
	}, "ID\tSTATUS\tSIZE\tSHA256\tBATCH\tNAME", func(f client.File) string {
		batch := "-"
		if f.BatchID != nil {
			batch = f.BatchID.String()
		}
		return fmt.Sprintf("%s\t%s\t%d\t%s\t%s\t%s", f.ID, f.Status, f.SizeBytes, orDash(f.SHA256), batch, f.OriginalFilename)
	})
}

// printPages prints every item of a paged list: one JSON object per line with --json, else a
// table with header and one row per item.
func printPages[T any](cmd *cli.Command, fetch func(cursor string) ([]T, string, error), header string, row func(T) string) error {
	out := cmd.Root().Writer
	asJSON := cmd.Bool(jsonFlag)
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	if !asJSON {
		fmt.Fprintln(tw, header)
	}
	for cursor := ""; ; {
		items, next, err := fetch(cursor)
		if err != nil {
			return err
		}
		for _, item := range items {
			if asJSON {
				if err := writeJSONLine(out, item); err != nil {
					return err
				}
				continue
			}
			fmt.Fprintln(tw, row(item))
		}
		if cursor = next; cursor == "" {
			break
		}
	}
	if asJSON {
		return nil
	}
	return tw.Flush()
}

// orDash is *s, or "-" for nil.
func orDash(s *string) string {
	if s == nil {
		return "-"
	}
	return *s
}

// getFile downloads a file into a temporary file next to the destination, checks its size and
// sha256, and only then renames it into place: a failed or corrupt download leaves no file.
func getFile(ctx context.Context, cmd *cli.Command) error {
	if cmd.NArg() != 1 {
		return ingest.Errorf(ingest.EValidation, "files get takes one file id")
	}
	id, err := uuid.Parse(cmd.Args().First())
	if err != nil {
		return ingest.Errorf(ingest.EValidation, "%q is not a file id", cmd.Args().First())
	}
	c, err := newClient(cmd)
	if err != nil {
		return err
	}
	defer c.Close()
	f, err := c.File(ctx, id)
	if err != nil {
		return err
	}
	if f.Status != ingest.FileStored || f.SHA256 == nil {
		return ingest.Errorf(ingest.ENotFound, "file %s is %s: it has no content", id, f.Status)
	}
	dest := cmd.String("output")
	if dest == "" {
		// original_filename is a display name the server cleaned of any path; Base makes sure.
		dest = filepath.Base(f.OriginalFilename)
	}
	if err := download(ctx, c, f, dest); err != nil {
		return fmt.Errorf("files get %s: %w", id, err)
	}
	fmt.Fprintf(cmd.Root().ErrWriter, "wrote %s (%d bytes, sha256 %s verified)\n", dest, f.SizeBytes, *f.SHA256)
	return nil
}

func download(ctx context.Context, c *client.Client, f *client.File, dest string) (err error) {
	tmp, err := os.CreateTemp(filepath.Dir(dest), "."+filepath.Base(dest)+".*.part")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	content, err := c.Download(ctx, f.ID, 0, -1)
	if err != nil {
		return err
	}
	defer content.Body.Close()
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(tmp, h), content.Body)
	if err != nil {
		return fmt.Errorf("download: %w", err)
	}
	if sum := hex.EncodeToString(h.Sum(nil)); n != f.SizeBytes || sum != *f.SHA256 {
		return fmt.Errorf("the download has %d bytes hashing to %s, but the file is %d bytes with sha256 %s; nothing was written",
			n, sum, f.SizeBytes, *f.SHA256)
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), dest)
}
