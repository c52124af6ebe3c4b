package client

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/google/uuid"

	"github.com/ingest-portal/ingest"
)

// PutFileRequest is a file sent in one request.
type PutFileRequest struct {
	Filename       string
	ContentType    string
	BatchID        *uuid.UUID
	IdempotencyKey string            // makes the request safe to repeat; without one it is not retried after a lost answer
	Metadata       map[string]string // as CreateUploadRequest.Metadata
	Body           Body
}

// PutFile uploads a whole file in one request (up to the server's --max-single-upload) and
// returns it STORED.
func (c *Client) PutFile(ctx context.Context, r PutFileRequest) (*File, error) {
	q := url.Values{"filename": {r.Filename}}
	if r.BatchID != nil {
		q.Set("batch_id", r.BatchID.String())
	}
	for k, v := range r.Metadata {
		q.Set("metadata["+k+"]", v)
	}
	h := bodyHeader(r.Body)
	if r.ContentType != "" {
		h.Set("Content-Type", r.ContentType)
	}
	if r.IdempotencyKey != "" {
		h.Set("Idempotency-Key", r.IdempotencyKey)
	}
	var f File
	_, err := c.do(ctx, request{method: http.MethodPost, path: "/api/v1/files", query: q, header: h, body: r.Body.Open,
		size: r.Body.Size, idempotent: r.IdempotencyKey != "", want: []int{http.StatusCreated, http.StatusOK}}, &f)
	return &f, err
}

// FileFilter selects files; the zero value is the first page of all of them.
type FileFilter struct {
	BatchID *uuid.UUID
	Status  ingest.FileStatus // "" for any
	Cursor  string
	Limit   int
}

// Files lists one page of the caller's files (every file, for an admin), newest first.
func (c *Client) Files(ctx context.Context, f FileFilter) (*List[File], error) {
	q := pageQuery(f.Cursor, f.Limit)
	if f.Status != "" {
		q.Set("status", string(f.Status))
	}
	if f.BatchID != nil {
		q.Set("batch_id", f.BatchID.String())
	}
	var l List[File]
	_, err := c.do(ctx, request{method: http.MethodGet, path: "/api/v1/files", query: q, idempotent: true}, &l)
	return &l, err
}

// File reads a file.
func (c *Client) File(ctx context.Context, id uuid.UUID) (*File, error) {
	var f File
	_, err := c.do(ctx, request{method: http.MethodGet, path: "/api/v1/files/" + id.String(), idempotent: true}, &f)
	return &f, err
}

// Content is a download: the body (the caller closes it) and what the headers said.
type Content struct {
	Body   io.ReadCloser
	Length int64  // the body's length
	Offset int64  // where the body starts in the file
	Size   int64  // the whole file's size
	SHA256 string // the whole file's hash, from the ETag
}

// Download fetches a STORED file's content from offset: length bytes, or to the end when length
// is negative. Only the request is retried; a body that breaks off is the caller's to resume, with
// a download from where it stopped.
func (c *Client) Download(ctx context.Context, id uuid.UUID, offset, length int64) (*Content, error) {
	h := http.Header{}
	ranged := offset > 0 || length >= 0
	if ranged {
		end := ""
		if length >= 0 {
			if length == 0 {
				return nil, fmt.Errorf("download: a range of 0 bytes")
			}
			end = strconv.FormatInt(offset+length-1, 10)
		}
		h.Set("Range", "bytes="+strconv.FormatInt(offset, 10)+"-"+end)
	}
	resp, err := c.send(ctx, request{method: http.MethodGet, path: "/api/v1/files/" + id.String() + "/content", header: h,
		idempotent: true, want: []int{http.StatusOK, http.StatusPartialContent}})
	if err != nil {
		return nil, err
	}
	content := &Content{Body: resp.Body, Length: resp.ContentLength, Size: resp.ContentLength,
		SHA256: strings.Trim(resp.Header.Get("ETag"), `"`)}
	if resp.StatusCode == http.StatusPartialContent {
		var last int64
		if _, err := fmt.Sscanf(resp.Header.Get("Content-Range"), "bytes %d-%d/%d", &content.Offset, &last, &content.Size); err != nil {
			resp.Body.Close()
			return nil, fmt.Errorf("download: the server's Content-Range %q: %w", resp.Header.Get("Content-Range"), err)
		}
	}
	return content, nil
}
