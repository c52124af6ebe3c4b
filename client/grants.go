package client

import (
	"context"
	"net/http"
	"time"

	"github.com/google/uuid"
)

// Grant is an upload grant (docs/api.md, "Upload grants").
type Grant struct {
	ID            uuid.UUID         `json:"id"`
	CreatedAt     time.Time         `json:"created_at"`
	UpdatedAt     time.Time         `json:"updated_at"`
	CreatedByID   uuid.UUID         `json:"created_by_id"`
	Prefix        string            `json:"prefix"`
	State         string            `json:"state"` // ACTIVE, EXPIRED or REVOKED
	BatchID       *uuid.UUID        `json:"batch_id"`
	MaxFiles      int               `json:"max_files"`
	MaxFileBytes  *int64            `json:"max_file_bytes"`
	MaxTotalBytes *int64            `json:"max_total_bytes"`
	ContentTypes  []string          `json:"content_types"`
	Metadata      map[string]string `json:"metadata"`
	ExpiresAt     time.Time         `json:"expires_at"`
	RevokedAt     *time.Time        `json:"revoked_at"`
	FilesUsed     int               `json:"files_used"`
	BytesUsed     int64             `json:"bytes_used"`
	// Token is the grant's secret, set only in the answer of CreateGrant.
	Token string `json:"token,omitempty"`
}

// GrantRequest asks for an upload grant; zero fields take the server's defaults (one file of any
// size and type, for an hour).
type GrantRequest struct {
	BatchID       *uuid.UUID        `json:"batch_id,omitempty"`
	MaxFiles      int               `json:"max_files,omitempty"`
	MaxFileBytes  *int64            `json:"max_file_bytes,omitempty"`
	MaxTotalBytes *int64            `json:"max_total_bytes,omitempty"`
	ContentTypes  []string          `json:"content_types,omitempty"`
	Metadata      map[string]string `json:"metadata,omitempty"`
	ExpiresIn     time.Duration     `json:"-"`
}

// CreateGrant makes an upload grant; its secret is in Token, shown this once. It is not retried
// after a network error or a 5xx, since the grant may exist already; a 429 is retried.
func (c *Client) CreateGrant(ctx context.Context, r GrantRequest) (*Grant, error) {
	body := struct {
		GrantRequest
		ExpiresIn int64 `json:"expires_in,omitempty"`
	}{r, int64(r.ExpiresIn / time.Second)}
	var g Grant
	_, err := c.do(ctx, request{method: http.MethodPost, path: "/api/v1/upload-grants", json: body,
		want: []int{http.StatusCreated}}, &g)
	return &g, err
}

// Grants lists one page of the caller's upload grants, newest first.
func (c *Client) Grants(ctx context.Context, cursor string, limit int) (*List[Grant], error) {
	var l List[Grant]
	_, err := c.do(ctx, request{method: http.MethodGet, path: "/api/v1/upload-grants", query: pageQuery(cursor, limit),
		idempotent: true}, &l)
	return &l, err
}

// Grant reads an upload grant.
func (c *Client) Grant(ctx context.Context, id uuid.UUID) (*Grant, error) {
	var g Grant
	_, err := c.do(ctx, request{method: http.MethodGet, path: "/api/v1/upload-grants/" + id.String(), idempotent: true}, &g)
	return &g, err
}

// RevokeGrant revokes an upload grant. Revoking it again answers INVALID_TRANSITION; so the
// request is not repeated after a lost answer, and the caller reads the grant to learn what
// happened.
func (c *Client) RevokeGrant(ctx context.Context, id uuid.UUID) error {
	resp, err := c.send(ctx, request{method: http.MethodDelete, path: "/api/v1/upload-grants/" + id.String(),
		want: []int{http.StatusNoContent}})
	if err != nil {
		return err
	}
	return resp.Body.Close()
}
