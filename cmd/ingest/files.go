package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
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
				Usage: "list your files (every file, for an admin), newest first",
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
					&cli.StringFlag{Name: "output", Aliases: []string{"o"},
						Usage:   "write to `FILE` (default: the file's name, in the current directory); with --keep-paths, the directory to write under",
						Sources: cli.EnvVars("INGEST_FILES_OUTPUT"), TakesFile: true},
					&cli.BoolFlag{Name: "keep-paths", Usage: "write the file at its relative_path (recorded by \"ingest upload DIR\") under the output directory",
						Sources: cli.EnvVars("INGEST_FILES_KEEP_PATHS")},
					&cli.BoolFlag{Name: "force", Usage: "replace a file that exists at the destination", Sources: cli.EnvVars("INGEST_FILES_FORCE")},
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
	c, err := newClient(ctx, cmd)
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

// orDash is *s, or "-" for nil or "".
func orDash(s *string) string {
	if s == nil || *s == "" {
		return "-"
	}
	return *s
}

// getFile downloads a file into a temporary file next to the destination, checks its size and
// sha256, and only then moves it into place: a failed or corrupt download leaves no file, and an
// existing file is replaced only with --force.
func getFile(ctx context.Context, cmd *cli.Command) error {
	if cmd.NArg() != 1 {
		return ingest.Errorf(ingest.EValidation, "files get takes one file id")
	}
	id, err := uuid.Parse(cmd.Args().First())
	if err != nil {
		return ingest.Errorf(ingest.EValidation, "%q is not a file id", cmd.Args().First())
	}
	c, err := newClient(ctx, cmd)
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
	dir, name, err := destination(cmd, f)
	if err != nil {
		return err
	}
	if cmd.Bool("keep-paths") {
		// -o names the directory the paths are restored under: made if it is not there.
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer root.Close()
	force := cmd.Bool("force")
	shown := filepath.Join(dir, filepath.FromSlash(name))
	if !force {
		if _, err := root.Lstat(name); err == nil {
			return exists(shown)
		}
	}
	if err := download(ctx, c, f, root, name, force); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return exists(shown)
		}
		return fmt.Errorf("files get %s: %w", id, err)
	}
	fmt.Fprintf(cmd.Root().ErrWriter, "wrote %s (%d bytes, sha256 %s verified)\n", shown, f.SizeBytes, *f.SHA256)
	return nil
}

// exists is the error of a download that would replace the file at path.
func exists(path string) error {
	return ingest.Errorf(ingest.EConflict, "%s exists: not overwritten (--force replaces it)", path)
}

// destination returns the directory a download goes into and the file's path inside it, with
// forward slashes: --output, or the file's name in the current directory; with --keep-paths, the
// file's relative_path (its name when it has none) under --output, or the current directory.
func destination(cmd *cli.Command, f *client.File) (dir, name string, err error) {
	// original_filename is a display name the server cleaned of any path; Base makes sure.
	base := filepath.Base(f.OriginalFilename)
	out := cmd.String("output")
	if !cmd.Bool("keep-paths") {
		if out == "" {
			return ".", base, nil
		}
		return filepath.Dir(out), filepath.Base(out), nil
	}
	if out == "" {
		out = "."
	}
	rel, ok := f.Metadata[relativePathKey]
	if !ok {
		return out, base, nil
	}
	if err := checkRelativePath(rel); err != nil {
		return "", "", err
	}
	return out, path.Clean(rel), nil
}

// checkRelativePath refuses a relative_path that would put a file outside the output directory:
// an absolute path, or one with a ".." element. The metadata came from whoever uploaded the file.
func checkRelativePath(rel string) error {
	native := filepath.FromSlash(rel)
	if path.IsAbs(rel) || filepath.IsAbs(native) || slices.Contains(strings.Split(rel, "/"), "..") || !filepath.IsLocal(native) {
		return ingest.Errorf(ingest.EValidation, "refusing the file's relative_path %q: it is not a path inside the output directory", rel)
	}
	return nil
}

// download writes the file at name inside root, creating its directories: into a temporary file
// first, checked against the file's size and sha256, then linked into place (fs.ErrExist if
// something is there by then), or renamed over what is there when replace is set.
func download(ctx context.Context, c *client.Client, f *client.File, root *os.Root, name string, replace bool) (err error) {
	if dir := path.Dir(name); dir != "." {
		if err := root.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	}
	tmpName, tmp, err := createTemp(root, name)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			_ = root.Remove(tmpName)
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
	if replace {
		return root.Rename(tmpName, name)
	}
	// A hard link never replaces what is there, however late it appeared. A file system without
	// hard links gets a check and a rename, which a file created in between would lose to.
	err = root.Link(tmpName, name)
	if err != nil && !errors.Is(err, fs.ErrExist) {
		if _, statErr := root.Lstat(name); statErr == nil {
			return fs.ErrExist
		}
		return root.Rename(tmpName, name)
	}
	if err != nil {
		return err
	}
	return root.Remove(tmpName)
}

// createTemp creates a new temporary file beside name inside root.
func createTemp(root *os.Root, name string) (string, *os.File, error) {
	for {
		b := make([]byte, 6)
		_, _ = rand.Read(b)
		tmpName := path.Join(path.Dir(name), "."+path.Base(name)+"."+hex.EncodeToString(b)+".part")
		f, err := root.OpenFile(tmpName, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
		if !errors.Is(err, fs.ErrExist) {
			return tmpName, f, err
		}
	}
}
