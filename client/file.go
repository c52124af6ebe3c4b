package client

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"mime"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"

	"github.com/google/uuid"

	"github.com/ingest-portal/ingest"
)

// FileUpload is a local file to upload in parts, resumably.
type FileUpload struct {
	Path      string
	BatchID   *uuid.UUID
	ChunkSize int64 // 0 lets the server choose
	// Metadata is stored on the file (CreateUploadRequest.Metadata). It is part of the upload's
	// identity: the same file with other metadata is another upload.
	Metadata map[string]string
	// Parallel is how many parts of this file are in flight at once (default 4). Slots, when not
	// nil, is shared by several uploads to bound their parts in flight together: a part is sent
	// while it holds one of its places.
	Parallel int
	Slots    chan struct{}
	// Started, when not nil, is called once the upload's plan is known: the bytes the server
	// already has, of the file's size. Progress is then called with the size of each part the
	// server receives. Both may be called from several goroutines.
	Started  func(resumed, size int64)
	Progress func(n int64)
}

// FileResult is what UploadFile did.
type FileResult struct {
	File          *File // the STORED file
	UploadID      uuid.UUID
	ResumedParts  int // parts the server had before this run
	SentParts     int // parts this run sent
	AlreadyStored bool
}

// ErrFileChanged is the failure of an upload whose file changed while it was being sent.
var ErrFileChanged = errors.New("the file changed while it was being uploaded")

// maxRestarts bounds the new uploads started for a file whose earlier uploads ended unsuccessfully.
const maxRestarts = 3

// UploadFile uploads the file at u.Path in parts and returns it STORED, with its SHA-256 computed
// here in one sequential read while the parts go in parallel, and declared at completion for the
// server to verify. It is resumable: the upload's Idempotency-Key derives from the server, the
// file's absolute path, size and modification time and the batch, so a second call for an
// unchanged file continues the same upload and sends only the parts the server does not have. An
// upload that ended unsuccessfully (expired, aborted, failed) is followed by a new one, whose key
// derives from the ended one's, so that it too is resumed by the next call.
//
// Memory is bounded whatever the size: parts go from the file to the socket, and the hash reads
// through one small buffer.
func (c *Client) UploadFile(ctx context.Context, u FileUpload) (*FileResult, error) {
	abs, err := filepath.Abs(u.Path)
	if err != nil {
		return nil, err
	}
	info, err := os.Stat(abs)
	if err != nil {
		return nil, err
	}
	if !info.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", u.Path)
	}
	req := CreateUploadRequest{Filename: filepath.Base(abs), ContentType: mime.TypeByExtension(filepath.Ext(abs)),
		SizeBytes: info.Size(), ChunkSizeBytes: u.ChunkSize, BatchID: u.BatchID, Metadata: u.Metadata,
		IdempotencyKey: c.uploadKey(abs, info, u.BatchID, u.Metadata)}
	for restart := 0; ; restart++ {
		up, _, err := c.CreateUpload(ctx, req)
		if ingest.ErrorCode(err) == ingest.EIdempotencyConflict && req.ChunkSizeBytes != 0 {
			// An earlier run chose another part size: continue its upload, with its parts.
			req.ChunkSizeBytes = 0
			up, _, err = c.CreateUpload(ctx, req)
		}
		if err != nil {
			return nil, err
		}
		switch {
		case up.Status == ingest.SessionComplete:
			f, err := c.File(ctx, up.FileID)
			if err != nil {
				return nil, err
			}
			if u.Started != nil {
				u.Started(info.Size(), info.Size())
			}
			return &FileResult{File: f, UploadID: up.ID, ResumedParts: up.TotalParts, AlreadyStored: true}, nil
		case up.Status.Active():
			return c.sendFile(ctx, u, abs, info, up)
		case restart == maxRestarts:
			return nil, fmt.Errorf("upload %s of this file is %s, and so were the %d started after it", up.ID, up.Status, maxRestarts)
		}
		req.IdempotencyKey = derivedKey(req.IdempotencyKey, up.ID.String())
	}
}

// uploadKey is the Idempotency-Key of a file's upload. Metadata, when there is any, is part of
// it, so that the same file sent with other metadata (from another directory, say) is a new
// upload rather than a conflict with the earlier one.
func (c *Client) uploadKey(abs string, info os.FileInfo, batch *uuid.UUID, meta map[string]string) string {
	b := ""
	if batch != nil {
		b = batch.String()
	}
	parts := []string{c.Server(), abs, strconv.FormatInt(info.Size(), 10), strconv.FormatInt(info.ModTime().UnixNano(), 10), b}
	for _, k := range slices.Sorted(maps.Keys(meta)) {
		parts = append(parts, k, meta[k])
	}
	return derivedKey(parts...)
}

// derivedKey hashes its parts into an Idempotency-Key: the path stays private, and the key is
// short and printable whatever the path holds.
func derivedKey(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		fmt.Fprintf(h, "%d:%s\n", len(p), p)
	}
	return "ingest-cli-" + hex.EncodeToString(h.Sum(nil))
}

// sendFile sends the parts the server does not have, hashes the file meanwhile, and completes.
func (c *Client) sendFile(ctx context.Context, u FileUpload, abs string, info os.FileInfo, up *Upload) (*FileResult, error) {
	received := map[int]bool{}
	if up.ReceivedPartsCount > 0 {
		parts, err := c.Parts(ctx, up.ID)
		if err != nil {
			return nil, err
		}
		for _, p := range parts {
			if p.Status == ingest.PartReceived {
				received[p.PartNumber] = true
			}
		}
	}
	var todo []int
	var resumed int64
	for n := 1; n <= up.TotalParts; n++ {
		if received[n] {
			_, size := up.PartRange(n, info.Size())
			resumed += size
			continue
		}
		todo = append(todo, n)
	}
	if u.Started != nil {
		u.Started(resumed, info.Size())
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	hashed := make(chan hashResult, 1)
	go func() { hashed <- hashFile(ctx, abs, info.Size()) }()
	sendErr := c.sendParts(ctx, cancel, u, abs, info.Size(), up, todo)
	h := <-hashed
	if sendErr != nil {
		return nil, sendErr
	}
	if h.err != nil {
		return nil, h.err
	}
	if now, err := os.Stat(abs); err != nil || now.Size() != info.Size() || !now.ModTime().Equal(info.ModTime()) {
		// The parts may mix old and new bytes: drop the upload rather than complete a file that
		// never existed. (A change that keeps size and time is caught by the hash at completion.)
		if _, err := c.AbortUpload(context.WithoutCancel(ctx), up.ID); err != nil {
			return nil, fmt.Errorf("%w; and aborting its upload failed: %w", ErrFileChanged, err)
		}
		return nil, ErrFileChanged
	}
	f, err := c.Complete(ctx, up.ID, h.sum)
	if err != nil {
		if ingest.ErrorCode(err) == ingest.EChecksumMismatch {
			return nil, fmt.Errorf("%w: %w", ErrFileChanged, err)
		}
		return nil, err
	}
	return &FileResult{File: f, UploadID: up.ID, ResumedParts: up.TotalParts - len(todo), SentParts: len(todo)}, nil
}

// sendParts sends the parts in todo, at most u.Parallel at a time; the first failure cancels the
// others.
func (c *Client) sendParts(ctx context.Context, cancel context.CancelCauseFunc, u FileUpload, abs string, size int64, up *Upload, todo []int) error {
	parallel := u.Parallel
	if parallel < 1 {
		parallel = 4
	}
	slots := u.Slots
	if slots == nil {
		slots = make(chan struct{}, parallel)
	}
	next := make(chan int)
	var wg sync.WaitGroup
	var once sync.Once
	var first error
	fail := func(err error) {
		once.Do(func() { first = err; cancel(err) })
	}
	for range min(parallel, len(todo)) {
		wg.Go(func() {
			for n := range next {
				if err := c.sendPart(ctx, slots, u, abs, size, up, n); err != nil {
					fail(err)
				}
			}
		})
	}
feed:
	for _, n := range todo {
		select {
		case next <- n:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	if first != nil {
		return first
	}
	return ctx.Err()
}

func (c *Client) sendPart(ctx context.Context, slots chan struct{}, u FileUpload, abs string, size int64, up *Upload, n int) error {
	select {
	case slots <- struct{}{}:
	case <-ctx.Done():
		return context.Cause(ctx)
	}
	defer func() { <-slots }()
	if ctx.Err() != nil {
		return context.Cause(ctx)
	}
	off, length := up.PartRange(n, size)
	p, err := c.PutPart(ctx, up.ID, n, Body{Size: length, Open: FileSection(abs, off, length)})
	if err != nil {
		if ingest.ErrorCode(err) == ingest.EPartAlreadyReceived {
			return fmt.Errorf("%w: the server has other bytes for part %d: %w", ErrFileChanged, n, err)
		}
		return fmt.Errorf("part %d: %w", n, err)
	}
	if p.SizeBytes != length {
		return fmt.Errorf("part %d: the server received %d bytes, not %d", n, p.SizeBytes, length)
	}
	if u.Progress != nil {
		u.Progress(length)
	}
	return nil
}

// hashResult is the file's SHA-256 in hex, or why it could not be computed.
type hashResult struct {
	sum string
	err error
}

// hashBuffer is the hash's read size: big enough for few system calls, small enough to count for
// nothing in the memory bound.
const hashBuffer = 1 << 20

// hashFile computes the SHA-256 of the file in one sequential read, checking that it still has
// size bytes.
func hashFile(ctx context.Context, path string, size int64) hashResult {
	f, err := os.Open(path)
	if err != nil {
		return hashResult{err: err}
	}
	defer f.Close()
	h := sha256.New()
	buf := make([]byte, hashBuffer)
	var n int64
	for {
		if ctx.Err() != nil {
			return hashResult{err: context.Cause(ctx)}
		}
		m, err := f.Read(buf)
		h.Write(buf[:m])
		n += int64(m)
		if err == io.EOF {
			break
		}
		if err != nil {
			return hashResult{err: fmt.Errorf("hash %s: %w", path, err)}
		}
	}
	if n != size {
		return hashResult{err: fmt.Errorf("%w: it had %d bytes, it now has %d", ErrFileChanged, size, n)}
	}
	return hashResult{sum: hex.EncodeToString(h.Sum(nil))}
}
