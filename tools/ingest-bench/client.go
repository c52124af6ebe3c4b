package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// apiClient talks to one server, the portal's API or the reference, over keep-alive connections.
type apiClient struct {
	base  string // http://host:port
	token string // bearer token; "" for the reference
	hc    *http.Client
}

func newAPIClient(base, token string) *apiClient {
	return &apiClient{base: base, token: token, hc: &http.Client{Transport: &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        512,
		MaxIdleConnsPerHost: 512,
		IdleConnTimeout:     5 * time.Minute,
		DisableCompression:  true,
	}}}
}

// close drops the client's idle connections.
func (c *apiClient) close() { c.hc.CloseIdleConnections() }

// call is one request and the answer it expects.
type call struct {
	method, path string
	body         io.Reader // nil for none; closed by the client if it is an io.Closer
	size         int64     // the body's length
	contentType  string
	want         int // the expected status; anything else is an error
	out          any // the JSON answer is decoded into it, unless nil
}

// do sends the call and checks its answer: the status, and that the body decodes.
func (c *apiClient) do(ctx context.Context, cl call) error {
	what := cl.method + " " + cl.path
	body := cl.body
	if body == nil {
		body = http.NoBody
	}
	req, err := http.NewRequestWithContext(ctx, cl.method, c.base+cl.path, body)
	if err != nil {
		if closer, ok := cl.body.(io.Closer); ok {
			closer.Close()
		}
		return fmt.Errorf("%s: %w", what, err)
	}
	if cl.body != nil {
		req.ContentLength = cl.size
		req.Header.Set("Content-Type", cl.contentType)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	defer resp.Body.Close()
	// Read the answer whole, so that the connection goes back to the pool.
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("%s: read the answer: %w", what, err)
	}
	if resp.StatusCode != cl.want {
		return fmt.Errorf("%s: status %d, want %d: %s", what, resp.StatusCode, cl.want, bytes.TrimSpace(data[:min(len(data), 2048)]))
	}
	if cl.out != nil {
		if err := json.Unmarshal(data, cl.out); err != nil {
			return fmt.Errorf("%s: decode the answer: %w", what, err)
		}
	}
	return nil
}

// The portal's JSON, the fields the bench checks.
type (
	sessionJSON struct {
		ID                 string `json:"id"`
		Status             string `json:"status"`
		ChunkSizeBytes     int64  `json:"chunk_size_bytes"`
		TotalParts         int    `json:"total_parts"`
		ReceivedPartsCount int    `json:"received_parts_count"`
		HashedParts        int    `json:"hashed_parts"`
	}
	partJSON struct {
		PartNumber int    `json:"part_number"`
		Status     string `json:"status"`
		SizeBytes  int64  `json:"size_bytes"`
	}
	fileJSON struct {
		ID        string `json:"id"`
		Status    string `json:"status"`
		SHA256    string `json:"sha256"`
		SizeBytes int64  `json:"size_bytes"`
	}
)

// createSession opens an upload session for src with the given part size, declaring src's
// SHA-256 so that the portal checks it too, and checks the plan the portal answers.
func (c *apiClient) createSession(ctx context.Context, name string, src source, partSize int64) (*sessionJSON, error) {
	req, err := json.Marshal(map[string]any{
		"filename": name, "content_type": "application/octet-stream", "size_bytes": src.size,
		"chunk_size_bytes": partSize, "sha256": src.sha256,
	})
	if err != nil {
		return nil, err
	}
	var sess sessionJSON
	if err := c.do(ctx, call{method: http.MethodPost, path: "/api/v1/uploads", body: bytes.NewReader(req), size: int64(len(req)),
		contentType: "application/json", want: http.StatusCreated, out: &sess}); err != nil {
		return nil, err
	}
	if want := partCount(src.size, partSize); sess.ChunkSizeBytes != partSize || sess.TotalParts != want {
		return nil, fmt.Errorf("create upload: the portal planned %d parts of %d bytes, want %d of %d",
			sess.TotalParts, sess.ChunkSizeBytes, want, partSize)
	}
	return &sess, nil
}

// session reads an upload session.
func (c *apiClient) session(ctx context.Context, id string) (*sessionJSON, error) {
	var sess sessionJSON
	err := c.do(ctx, call{method: http.MethodGet, path: "/api/v1/uploads/" + id, want: http.StatusOK, out: &sess})
	return &sess, err
}

// putPart sends part n of src and checks the portal's receipt.
func (c *apiClient) putPart(ctx context.Context, sess *sessionJSON, src source, n int) error {
	off, size := partRange(src.size, sess.ChunkSizeBytes, n)
	body, err := src.data.section(src.offset+off, size)
	if err != nil {
		return err
	}
	var p partJSON
	if err := c.do(ctx, call{method: http.MethodPut, path: "/api/v1/uploads/" + sess.ID + "/parts/" + strconv.Itoa(n),
		body: body, size: size, contentType: "application/octet-stream", want: http.StatusOK, out: &p}); err != nil {
		return err
	}
	if p.PartNumber != n || p.SizeBytes != size || p.Status != "RECEIVED" {
		return fmt.Errorf("put part %d of %d bytes: the portal answered part %d of %d bytes, %s", n, size, p.PartNumber, p.SizeBytes, p.Status)
	}
	return nil
}

// complete completes the upload and checks that the stored file is src.
func (c *apiClient) complete(ctx context.Context, sess *sessionJSON, src source) error {
	var f fileJSON
	if err := c.do(ctx, call{method: http.MethodPost, path: "/api/v1/uploads/" + sess.ID + "/complete",
		want: http.StatusOK, out: &f}); err != nil {
		return err
	}
	return checkStored(f, src.size, src.sha256)
}

// putFile uploads data in one request and checks that it is stored.
func (c *apiClient) putFile(ctx context.Context, name string, data []byte, sum string) error {
	var f fileJSON
	if err := c.do(ctx, call{method: http.MethodPost, path: "/api/v1/files?filename=" + url.QueryEscape(name),
		body: bytes.NewReader(data), size: int64(len(data)), contentType: "application/octet-stream",
		want: http.StatusCreated, out: &f}); err != nil {
		return err
	}
	return checkStored(f, int64(len(data)), sum)
}

// checkStored checks that the portal stored a file of size bytes that hash to sum.
func checkStored(f fileJSON, size int64, sum string) error {
	if f.Status != "STORED" || f.SizeBytes != size || f.SHA256 != sum {
		return fmt.Errorf("file %s: the portal stored %s, %d bytes, sha256 %s; want STORED, %d bytes, sha256 %s",
			f.ID, f.Status, f.SizeBytes, f.SHA256, size, sum)
	}
	return nil
}

// referenceStore sends a body to the reference and checks the hash it answers.
func (c *apiClient) referenceStore(ctx context.Context, body io.Reader, size int64, sum string) error {
	var r referenceReply
	if err := c.do(ctx, call{method: http.MethodPost, path: "/files", body: body, size: size,
		contentType: "application/octet-stream", want: http.StatusCreated, out: &r}); err != nil {
		return err
	}
	if r.SizeBytes != size || r.SHA256 != sum {
		return fmt.Errorf("the reference stored %d bytes, sha256 %s; want %d bytes, sha256 %s", r.SizeBytes, r.SHA256, size, sum)
	}
	return nil
}

// metrics reads the portal's Prometheus metrics.
func (c *apiClient) metrics(ctx context.Context) ([]sample, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("GET /metrics: %w", err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("GET /metrics: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /metrics: status %d", resp.StatusCode)
	}
	return parseMetrics(string(data))
}

// awaitReady polls /readyz until it answers 200.
func (c *apiClient) awaitReady(ctx context.Context) error {
	deadline := time.Now().Add(startTimeout)
	for {
		err := c.do(ctx, call{method: http.MethodGet, path: "/readyz", want: http.StatusOK})
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the portal is not ready: %w", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// partCount is the number of parts of a file of size bytes in parts of partSize.
func partCount(size, partSize int64) int {
	return int((size + partSize - 1) / partSize)
}

// partRange is the offset and size of part n (from 1) of a file.
func partRange(size, partSize int64, n int) (off, length int64) {
	off = int64(n-1) * partSize
	return off, min(partSize, size-off)
}
