package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/urfave/cli/v3"

	"github.com/ingest-portal/ingest"
	"github.com/ingest-portal/ingest/client"
)

// uploadCommand is "ingest upload PATH... [--batch NAME | --batch-id ID] [--parallel N]
// [--chunk-size SIZE] [--json]" (docs/cli.md).
func uploadCommand() *cli.Command {
	return &cli.Command{
		Name:      "upload",
		Usage:     "upload files and directories, resumably: run the same command again to continue",
		ArgsUsage: "PATH...",
		Flags: append(remoteFlags(),
			&cli.StringFlag{Name: "batch", Usage: "upload into the OPEN batch of this `NAME` (created if there is none)",
				Sources: cli.EnvVars("INGEST_UPLOAD_BATCH")},
			&cli.StringFlag{Name: "batch-id", Usage: "upload into the batch of this `ID`", Sources: cli.EnvVars("INGEST_UPLOAD_BATCH_ID")},
			&cli.IntFlag{Name: "parallel", Usage: "parts (and files) in flight at once", Value: 4, Sources: cli.EnvVars("INGEST_UPLOAD_PARALLEL")},
			&cli.StringFlag{Name: "chunk-size", Usage: "the part `SIZE`, such as 8MiB (default: the server's)",
				Sources: cli.EnvVars("INGEST_UPLOAD_CHUNK_SIZE")},
			&cli.BoolFlag{Name: "keep-open", Usage: "do not seal the batch at the end", Sources: cli.EnvVars("INGEST_UPLOAD_KEEP_OPEN")},
			jsonOutputFlag("print one JSON object per file on standard output"),
		),
		Action: uploadFiles,
	}
}

// uploadPlan is what one run of "ingest upload" does.
type uploadPlan struct {
	files []string // absolute paths, each once
	// relPaths holds, for each file found in a directory, its path relative to that directory,
	// with forward slashes: the file's relative_path metadata, which "files get --keep-paths"
	// restores.
	relPaths  map[string]string
	skipped   []string // what the walk left out, and why
	several   bool     // a batch holds the files even without --batch
	parallel  int
	chunkSize int64
}

// outcome is what happened to one file; it is also the --json line.
type outcome struct {
	Path          string     `json:"path"`
	Status        string     `json:"status"` // STORED or FAILED
	FileID        *uuid.UUID `json:"file_id,omitempty"`
	UploadID      *uuid.UUID `json:"upload_id,omitempty"`
	SHA256        string     `json:"sha256,omitempty"`
	SizeBytes     int64      `json:"size_bytes"`
	ResumedParts  int        `json:"resumed_parts"`
	SentParts     int        `json:"sent_parts"`
	AlreadyStored bool       `json:"already_stored,omitempty"`
	Error         *errorJSON `json:"error,omitempty"`
}

// errorJSON is a failure in --json output.
type errorJSON struct {
	Code    ingest.Code `json:"code"`
	Message string      `json:"message"`
}

func uploadFiles(ctx context.Context, cmd *cli.Command) error {
	plan, err := planUpload(cmd)
	if err != nil {
		return err
	}
	c, err := newClient(ctx, cmd)
	if err != nil {
		return err
	}
	defer c.Close()
	stdout, stderr := cmd.Root().Writer, cmd.Root().ErrWriter
	for _, s := range plan.skipped {
		fmt.Fprintf(stderr, "skipped %s\n", s)
	}
	batch, err := chooseBatch(ctx, cmd, c, plan)
	if err != nil {
		return fmt.Errorf("upload: %w", err)
	}
	if batch != nil {
		fmt.Fprintf(stderr, "batch %s %q (%s)\n", batch.ID, batch.Name, batch.Status)
	}
	start := time.Now()
	progress := newUploadProgress(stderr, plan.sizes())
	lines := stdout
	if bars, ok := progress.(*barProgress); ok && isTerminal(stdout) {
		lines = bars.p // prints above the bars instead of through them
	}
	results, sent := runUploads(ctx, c, plan, batch, progress, func(o outcome) {
		if cmd.Bool(jsonFlag) {
			_ = writeJSONLine(lines, o)
		} else if o.Error == nil {
			fmt.Fprintf(lines, "stored %s  file %s  sha256 %s\n", o.Path, o.FileID, o.SHA256)
		} else {
			fmt.Fprintf(lines, "FAILED %s: %s\n", o.Path, o.Error.Message)
		}
	})
	progress.finish()
	return summarise(ctx, cmd, c, batch, results, sent, time.Since(start))
}

// planUpload reads the arguments and flags.
func planUpload(cmd *cli.Command) (*uploadPlan, error) {
	if cmd.NArg() == 0 {
		return nil, ingest.Errorf(ingest.EValidation, "name the files or directories to upload: ingest upload PATH...")
	}
	if cmd.String("batch") != "" && cmd.String("batch-id") != "" {
		return nil, ingest.Errorf(ingest.EValidation, "give --batch NAME or --batch-id ID, not both")
	}
	plan := &uploadPlan{parallel: int(cmd.Int("parallel")), several: cmd.NArg() > 1, relPaths: map[string]string{}}
	if plan.parallel < 1 || plan.parallel > 64 {
		return nil, ingest.Errorf(ingest.EValidation, "--parallel must be 1 to 64")
	}
	if s := cmd.String("chunk-size"); s != "" {
		var err error
		if plan.chunkSize, err = parseSize("chunk-size", s); err != nil {
			return nil, err
		}
	}
	seen := map[string]bool{}
	for _, arg := range cmd.Args().Slice() {
		if err := plan.add(arg, seen); err != nil {
			return nil, err
		}
	}
	if len(plan.files) == 0 {
		return nil, ingest.Errorf(ingest.EValidation, "no regular file to upload in %q", cmd.Args().Slice())
	}
	plan.several = plan.several || len(plan.files) > 1
	return plan, nil
}

// add adds a command-line path: a file (a symlink named here is followed: the user chose it), or
// a directory, walked in lexical order for its regular files. Inside a directory, symlinks are
// skipped, so that a walk never leaves the tree or loops, and so are devices, pipes and sockets.
func (p *uploadPlan) add(arg string, seen map[string]bool) error {
	abs, err := filepath.Abs(arg)
	if err != nil {
		return err
	}
	info, err := os.Stat(abs)
	if err != nil {
		return ingest.Errorf(ingest.EValidation, "%s", err)
	}
	if !info.IsDir() {
		if !info.Mode().IsRegular() {
			return ingest.Errorf(ingest.EValidation, "%s is not a regular file or a directory", arg)
		}
		p.addFile(abs, "", seen)
		return nil
	}
	p.several = true
	return filepath.WalkDir(abs, func(path string, d fs.DirEntry, err error) error {
		switch {
		case err != nil:
			return ingest.Errorf(ingest.EValidation, "%s", err)
		case d.Type()&fs.ModeSymlink != 0:
			p.skipped = append(p.skipped, path+": a symbolic link inside a directory")
		case d.Type().IsRegular():
			rel, err := filepath.Rel(abs, path)
			if err != nil {
				return err
			}
			p.addFile(path, filepath.ToSlash(rel), seen)
		case !d.IsDir():
			p.skipped = append(p.skipped, path+": not a regular file")
		}
		return nil
	})
}

// addFile adds a file once; rel is its path inside the directory named on the command line, ""
// for a file named itself.
func (p *uploadPlan) addFile(abs, rel string, seen map[string]bool) {
	if !seen[abs] {
		seen[abs] = true
		p.files = append(p.files, abs)
		if rel != "" {
			p.relPaths[abs] = rel
		}
	}
}

// metadata is what a file's upload records about it: its relative_path inside the directory it
// was found in, nil for a file named itself.
func (p *uploadPlan) metadata(abs string) map[string]string {
	if rel, ok := p.relPaths[abs]; ok {
		return map[string]string{relativePathKey: rel}
	}
	return nil
}

// sizes is each file's size now, before the upload starts.
func (p *uploadPlan) sizes() map[string]int64 {
	sizes := make(map[string]int64, len(p.files))
	for _, f := range p.files {
		if info, err := os.Stat(f); err == nil {
			sizes[f] = info.Size()
		}
	}
	return sizes
}

// relativePathKey is the metadata key of a file's path inside the uploaded directory.
const relativePathKey = "relative_path"

// chooseBatch returns the batch the files go into, or nil for a single file without one:
// --batch-id's; the caller's OPEN batch named --batch (created if there is none); for several
// files without either, the OPEN batch of a name derived from the server and the paths, so that
// running the same command again resumes into the same batch.
func chooseBatch(ctx context.Context, cmd *cli.Command, c *client.Client, plan *uploadPlan) (*client.Batch, error) {
	if s := cmd.String("batch-id"); s != "" {
		id, err := uuid.Parse(s)
		if err != nil {
			return nil, ingest.Errorf(ingest.EValidation, "--batch-id %q is not an id", s)
		}
		return c.Batch(ctx, id)
	}
	name := cmd.String("batch")
	if name == "" {
		if !plan.several {
			return nil, nil
		}
		name = defaultBatchName(c.Server(), plan.files)
	}
	return openBatchNamed(ctx, c, name)
}

// defaultBatchName names the batch of several files uploaded without --batch.
func defaultBatchName(server string, files []string) string {
	sorted := append([]string(nil), files...)
	sort.Strings(sorted)
	h := sha256.New()
	fmt.Fprintf(h, "%s\n%s", server, strings.Join(sorted, "\n"))
	return "upload-" + hex.EncodeToString(h.Sum(nil))[:12]
}

// openBatchNamed returns the caller's OPEN batch of that name, the newest if there are several,
// or a new one.
func openBatchNamed(ctx context.Context, c *client.Client, name string) (*client.Batch, error) {
	var found *client.Batch
	for cursor := ""; ; {
		page, err := c.Batches(ctx, client.BatchFilter{Status: ingest.BatchOpen, Cursor: cursor, Limit: ingest.MaxPageLimit})
		if err != nil {
			return nil, err
		}
		for i := range page.Items {
			if page.Items[i].Name == name {
				found = &page.Items[i]
			}
		}
		if cursor = page.NextCursor; cursor == "" {
			break
		}
	}
	if found != nil {
		return found, nil
	}
	return c.CreateBatch(ctx, name)
}

// runUploads uploads the plan's files, up to parallel at a time, with at most parallel parts in
// flight in all, and calls done as each file ends. It returns every file's outcome, in the plan's
// order, and the bytes it sent: not those the server already had.
func runUploads(ctx context.Context, c *client.Client, plan *uploadPlan, batch *client.Batch, progress uploadProgress,
	done func(outcome)) ([]outcome, int64) {
	var batchID *uuid.UUID
	if batch != nil {
		batchID = &batch.ID
	}
	slots := make(chan struct{}, plan.parallel)
	results := make([]outcome, len(plan.files))
	next := make(chan int)
	var mu sync.Mutex // done writes to the output
	var wg sync.WaitGroup
	var sent atomic.Int64
	for range min(plan.parallel, len(plan.files)) {
		wg.Go(func() {
			for i := range next {
				path := plan.files[i]
				res, err := c.UploadFile(ctx, client.FileUpload{Path: path, BatchID: batchID, ChunkSize: plan.chunkSize,
					Metadata: plan.metadata(path), Parallel: plan.parallel, Slots: slots,
					Started:  func(resumed, size int64) { progress.started(path, resumed, size) },
					Progress: func(n int64) { sent.Add(n); progress.sent(path, n) }})
				results[i] = fileOutcome(path, res, err)
				progress.ended(path, err == nil)
				mu.Lock()
				done(results[i])
				mu.Unlock()
			}
		})
	}
	for i := range plan.files {
		next <- i
	}
	close(next)
	wg.Wait()
	return results, sent.Load()
}

func fileOutcome(path string, res *client.FileResult, err error) outcome {
	o := outcome{Path: path, Status: string(ingest.FileFailed)}
	if info, statErr := os.Stat(path); statErr == nil {
		o.SizeBytes = info.Size()
	}
	if err != nil {
		o.Error = &errorJSON{Code: ingest.ErrorCode(err), Message: failureMessage(err)}
		return o
	}
	f := res.File
	o.Status, o.FileID, o.UploadID, o.SizeBytes = string(f.Status), &f.ID, &res.UploadID, f.SizeBytes
	o.ResumedParts, o.SentParts, o.AlreadyStored = res.ResumedParts, res.SentParts, res.AlreadyStored
	if f.SHA256 != nil {
		o.SHA256 = *f.SHA256
	}
	return o
}

// failureMessage says why a file failed, on one line.
func failureMessage(err error) string {
	msg := err.Error()
	var apiErr *client.Error
	if errors.As(err, &apiErr) && !errors.Is(err, client.ErrFileChanged) {
		msg = apiErr.Message
	}
	if errors.Is(err, context.Canceled) {
		msg = "interrupted; run the same command again to resume"
	}
	return strings.Join(strings.Fields(msg), " ")
}

// summarise prints the summary, seals the batch when every file is stored (unless --keep-open),
// and returns an error naming the failed files. Its rate is of the bytes sent, so that resuming
// a file is no speed.
func summarise(ctx context.Context, cmd *cli.Command, c *client.Client, batch *client.Batch, results []outcome, sent int64,
	took time.Duration) error {
	out := cmd.Root().Writer
	if cmd.Bool(jsonFlag) {
		out = cmd.Root().ErrWriter // standard output holds only the files' JSON
	}
	var stored, resumed int
	var bytes int64
	var failed []outcome
	for _, o := range results {
		if o.Error != nil {
			failed = append(failed, o)
			continue
		}
		stored++
		bytes += o.SizeBytes
		if o.ResumedParts > 0 {
			resumed++
		}
	}
	fmt.Fprintf(out, "%d of %d files stored (%s in %s, %s sent at %s; %d resumed), %d failed\n", stored, len(results),
		humanBytes(bytes), took.Round(time.Millisecond), humanBytes(sent), rate(sent, took), resumed, len(failed))
	for _, o := range failed {
		fmt.Fprintf(out, "  failed: %s: %s\n", o.Path, o.Error.Message)
	}
	if batch != nil {
		if err := finishBatch(ctx, cmd, c, batch, len(failed) == 0, out); err != nil {
			return err
		}
	}
	if len(failed) > 0 {
		names := make([]string, len(failed))
		for i, o := range failed {
			names[i] = o.Path + " (" + o.Error.Message + ")"
		}
		return fmt.Errorf("%d of %d files failed: %s", len(failed), len(results), strings.Join(names, "; "))
	}
	return nil
}

// finishBatch seals the batch when every file is stored, and says what became of it. With a
// failure it stays OPEN, so that the same command run again resumes into it.
func finishBatch(ctx context.Context, cmd *cli.Command, c *client.Client, batch *client.Batch, allStored bool, out io.Writer) error {
	switch {
	case !allStored:
		fmt.Fprintf(out, "batch %s left %s: run the same command again to finish it\n", batch.ID, batch.Status)
		return nil
	case cmd.Bool("keep-open") || batch.Status != ingest.BatchOpen:
		fmt.Fprintf(out, "batch %s %s\n", batch.ID, batch.Status)
		return nil
	}
	sealed, err := c.SealBatch(ctx, batch.ID)
	if err != nil {
		return fmt.Errorf("seal batch %s: %w", batch.ID, err)
	}
	fmt.Fprintf(out, "batch %s %s (%d stored, %d failed)\n", sealed.ID, sealed.Status, sealed.StoredCount, sealed.FailedCount)
	return nil
}

// humanBytes renders a size in binary units.
func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
