package client

import (
	"context"
	"encoding/base64"
	"io"
	"net/http"
	"strconv"

	"github.com/google/uuid"
)

// CreateUploadRequest describes the file of a new upload.
type CreateUploadRequest struct {
	Filename       string     `json:"filename"`
	ContentType    string     `json:"content_type,omitempty"`
	SizeBytes      int64      `json:"size_bytes"`
	ChunkSizeBytes int64      `json:"chunk_size_bytes,omitempty"` // 0 lets the server choose
	BatchID        *uuid.UUID `json:"batch_id,omitempty"`
	SHA256         string     `json:"sha256,omitempty"` // the whole file's, when known before sending it
	// Metadata is stored on the file and carried in its file.stored event: at most 32 keys of
	// [A-Za-z0-9._-]{1,64}, values of at most 1 KiB of UTF-8, 8 KiB in all.
	Metadata map[string]string `json:"metadata,omitempty"`
	// IdempotencyKey makes the creation safe to repeat: the same key and request answer the same
	// upload. Without one, a creation is not retried after a network error or a 5xx.
	IdempotencyKey string `json:"-"`
}

// CreateUpload opens an upload session. created is false when the idempotency key named an
// upload that already existed (which may be in any state).
func (c *Client) CreateUpload(ctx context.Context, r CreateUploadRequest) (u *Upload, created bool, err error) {
	req := request{method: http.MethodPost, path: "/api/v1/uploads", json: r, want: []int{http.StatusCreated, http.StatusOK}}
	if r.IdempotencyKey != "" {
		req.header = http.Header{"Idempotency-Key": {r.IdempotencyKey}}
		req.idempotent = true
	}
	u = new(Upload)
	status, err := c.do(ctx, req, u)
	return u, status == http.StatusCreated, err
}

// Upload reads an upload session.
func (c *Client) Upload(ctx context.Context, id uuid.UUID) (*Upload, error) {
	var u Upload
	_, err := c.do(ctx, request{method: http.MethodGet, path: "/api/v1/uploads/" + id.String(), idempotent: true}, &u)
	return &u, err
}

// AbortUpload aborts an upload; aborting it again answers it again.
func (c *Client) AbortUpload(ctx context.Context, id uuid.UUID) (*Upload, error) {
	var u Upload
	_, err := c.do(ctx, request{method: http.MethodDelete, path: "/api/v1/uploads/" + id.String(), idempotent: true}, &u)
	return &u, err
}

// Body is a request body that can be sent again: Open is called for each attempt and must
// return the same Size bytes each time (for a file's part, see FileSection).
type Body struct {
	Size int64
	Open func() (io.ReadCloser, error)
	// SHA256, when set, is the body's SHA-256, sent as a Content-Digest for the server to check.
	SHA256 []byte
}

// PutPart uploads part n (from 1) of an upload. Sending a part the server already has, with the
// same bytes, succeeds again; so a lost answer is retried.
func (c *Client) PutPart(ctx context.Context, uploadID uuid.UUID, n int, b Body) (*Part, error) {
	var p Part
	_, err := c.do(ctx, request{method: http.MethodPut, path: "/api/v1/uploads/" + uploadID.String() + "/parts/" + strconv.Itoa(n),
		header: bodyHeader(b), body: b.Open, size: b.Size, idempotent: true}, &p)
	return &p, err
}

// bodyHeader is the header of a raw body: its type and, when known, its digest.
func bodyHeader(b Body) http.Header {
	h := http.Header{"Content-Type": {"application/octet-stream"}}
	if b.SHA256 != nil {
		h.Set("Content-Digest", "sha-256=:"+base64.StdEncoding.EncodeToString(b.SHA256)+":")
	}
	return h
}

// Parts lists an upload's parts by number.
func (c *Client) Parts(ctx context.Context, uploadID uuid.UUID) ([]Part, error) {
	var l List[Part]
	_, err := c.do(ctx, request{method: http.MethodGet, path: "/api/v1/uploads/" + uploadID.String() + "/parts", idempotent: true}, &l)
	return l.Items, err
}

// Complete completes an upload whose parts are all received and returns the STORED file. sha256,
// when not "", is the whole file's hash as the client computed it, which the server verifies
// (CHECKSUM_MISMATCH otherwise). Completing again answers the same file, so it is retried.
func (c *Client) Complete(ctx context.Context, uploadID uuid.UUID, sha256 string) (*File, error) {
	var body any
	if sha256 != "" {
		body = map[string]string{"sha256": sha256}
	}
	var f File
	_, err := c.do(ctx, request{method: http.MethodPost, path: "/api/v1/uploads/" + uploadID.String() + "/complete",
		json: body, idempotent: true}, &f)
	return &f, err
}
