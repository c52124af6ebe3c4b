package client

import (
	"context"
	"net/http"
	"net/url"
	"strconv"

	"github.com/google/uuid"

	"github.com/ingest-portal/ingest"
)

// CreateBatch opens a batch. It is not retried after a network error or a 5xx, since the batch
// may exist already; a 429 is retried.
func (c *Client) CreateBatch(ctx context.Context, name string) (*Batch, error) {
	var b Batch
	_, err := c.do(ctx, request{method: http.MethodPost, path: "/api/v1/batches", json: map[string]string{"name": name},
		want: []int{http.StatusCreated}}, &b)
	return &b, err
}

// BatchFilter selects batches; the zero value is the first page of all of them.
type BatchFilter struct {
	Status ingest.BatchStatus // "" for any
	Cursor string             // a NextCursor; "" for the first page
	Limit  int                // 0 for the server's default
}

// Batches lists one page of the caller's batches (every batch, for an admin), newest first.
func (c *Client) Batches(ctx context.Context, f BatchFilter) (*List[Batch], error) {
	q := pageQuery(f.Cursor, f.Limit)
	if f.Status != "" {
		q.Set("status", string(f.Status))
	}
	var l List[Batch]
	_, err := c.do(ctx, request{method: http.MethodGet, path: "/api/v1/batches", query: q, idempotent: true}, &l)
	return &l, err
}

// Batch reads a batch.
func (c *Client) Batch(ctx context.Context, id uuid.UUID) (*Batch, error) {
	return c.batchCall(ctx, http.MethodGet, "/api/v1/batches/"+id.String(), true)
}

// SealBatch seals an OPEN batch: it takes no more files and ends when its files have. Sealing a
// batch that is no longer OPEN answers BATCH_NOT_OPEN; so the request is not repeated after a
// lost answer, and the caller reads the batch to learn what happened.
func (c *Client) SealBatch(ctx context.Context, id uuid.UUID) (*Batch, error) {
	return c.batchCall(ctx, http.MethodPost, "/api/v1/batches/"+id.String()+"/seal", false)
}

// CancelBatch cancels an OPEN or SEALED batch and aborts its unfinished uploads.
func (c *Client) CancelBatch(ctx context.Context, id uuid.UUID) (*Batch, error) {
	return c.batchCall(ctx, http.MethodPost, "/api/v1/batches/"+id.String()+"/cancel", false)
}

func (c *Client) batchCall(ctx context.Context, method, path string, idempotent bool) (*Batch, error) {
	var b Batch
	_, err := c.do(ctx, request{method: method, path: path, idempotent: idempotent}, &b)
	return &b, err
}

// pageQuery is the query of a page of a list.
func pageQuery(cursor string, limit int) url.Values {
	q := url.Values{}
	if cursor != "" {
		q.Set("cursor", cursor)
	}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	return q
}
