// Package client is a typed Go client of Ingest Portal's HTTP API v1 (docs/api.md).
//
// It retries what is safe to repeat — reads, part uploads (a part is idempotent), completions,
// aborts and creations that carry an Idempotency-Key — on network errors, 5xx and 429 answers
// (but QUOTA_EXCEEDED), and any request answered 429 RATE_LIMITED or 503 STORAGE_UNAVAILABLE,
// which took no effect, with capped exponential backoff and jitter, honouring Retry-After. Every
// wait ends with the context. An error answer is returned as *Error with the server's code, message and details.
//
// The package depends on the portal's root package only, for its codes and statuses.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/ingest-portal/ingest"
)

// Client talks to one portal with one token. It is safe for concurrent use.
type Client struct {
	base  *url.URL
	token string
	hc    *http.Client
	retry Retry
}

// Retry is the retry policy: at most Attempts tries of a request that is safe to repeat, waiting
// Base, 2×Base, 4×Base… (at most Max, with jitter) between them, or what Retry-After asks for (at
// most MaxRetryAfter).
type Retry struct {
	Attempts      int
	Base, Max     time.Duration
	MaxRetryAfter time.Duration
}

// DefaultRetry returns the policy a Client starts with: it rides out a server restart of about
// half a minute.
func DefaultRetry() Retry {
	return Retry{Attempts: 10, Base: 250 * time.Millisecond, Max: 5 * time.Second, MaxRetryAfter: time.Minute}
}

// Option changes a Client.
type Option func(*Client)

// WithHTTPClient sends the requests through hc instead of the client's own.
func WithHTTPClient(hc *http.Client) Option { return func(c *Client) { c.hc = hc } }

// WithRetry sets the retry policy; Retry{Attempts: 1} never retries.
func WithRetry(r Retry) Option { return func(c *Client) { c.retry = r } }

// New returns a client of the portal at server (such as http://127.0.0.1:8080) with the API
// token. A token that cannot be an HTTP header value is refused here, rather than at the first
// request.
func New(server, token string, opts ...Option) (*Client, error) {
	u, err := url.Parse(strings.TrimRight(server, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("server %q is not an http:// or https:// URL", server)
	}
	for i := 0; i < len(token); i++ {
		// A bearer token is token68 (RFC 6750): printable ASCII without spaces.
		if c := token[i]; c < 0x21 || c > 0x7e {
			return nil, errors.New("the token has a character that cannot be sent in a header (a space, a newline, or a non-ASCII character)")
		}
	}
	c := &Client{base: u, token: token, retry: DefaultRetry(), hc: &http.Client{Transport: &http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		DialContext:         (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConnsPerHost: 64, // parallel parts keep their connections
		IdleConnTimeout:     90 * time.Second,
		TLSHandshakeTimeout: 10 * time.Second,
		DisableCompression:  true, // files are sent and fetched as they are
	}}}
	for _, o := range opts {
		o(c)
	}
	if c.retry.Attempts < 1 {
		c.retry.Attempts = 1
	}
	return c, nil
}

// reachTimeout bounds Reach: a portal that has not answered by then is as good as down.
const reachTimeout = 2 * time.Second

// Reach checks, with one request and no retry, that the portal answers at all (GET /healthz;
// any answer will do), so that a program can say at once that it is down or misaddressed
// instead of retrying for seconds.
func (c *Client) Reach(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, reachTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base.String()+"/healthz", nil)
	if err != nil {
		return err
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		var urlErr *url.Error
		if errors.As(err, &urlErr) {
			return urlErr.Err // the URL is the caller's to say
		}
		return err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	return resp.Body.Close()
}

// Close drops the client's idle connections.
func (c *Client) Close() { c.hc.CloseIdleConnections() }

// Server is the portal's base URL.
func (c *Client) Server() string { return c.base.String() }

// Error is an error answer of the portal.
type Error struct {
	Status  int            // the HTTP status
	Code    ingest.Code    // the portal's code, such as MISSING_PARTS
	Message string         // for people
	Details map[string]any // the code's details, such as the missing part numbers
}

// Error implements error.
func (e *Error) Error() string {
	return fmt.Sprintf("%s (HTTP %d): %s", e.Code, e.Status, e.Message)
}

// ErrorCode lets ingest.ErrorCode read the code.
func (e *Error) ErrorCode() ingest.Code { return e.Code }

// ErrorMessage lets ingest.ErrorMessage read the message.
func (e *Error) ErrorMessage() string { return e.Message }

// request is one API call.
type request struct {
	method, path string
	query        url.Values
	header       http.Header
	json         any                           // a JSON body, or nil
	body         func() (io.ReadCloser, error) // a raw body, reopened for each attempt
	size         int64                         // the raw body's length
	idempotent   bool                          // safe to repeat after an answer was lost
	want         []int                         // the success statuses; 200 when empty
}

// send sends req until it succeeds, fails for good or its attempts run out, and returns the
// answer (its body open, for the caller to close) or the error.
func (c *Client) send(ctx context.Context, req request) (*http.Response, error) {
	var jsonBody []byte
	if req.json != nil {
		var err error
		if jsonBody, err = json.Marshal(req.json); err != nil {
			return nil, err
		}
	}
	for attempt := 1; ; attempt++ {
		resp, err := c.attempt(ctx, req, jsonBody)
		if err == nil {
			return resp, nil
		}
		wait, retry := c.retryable(req, err, attempt)
		if !retry {
			var ra *retryAfterError
			if errors.As(err, &ra) {
				err = ra.api
			}
			return nil, err
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("%w (after: %w)", ctx.Err(), err)
		case <-t.C:
		}
	}
}

// retryAfterError is an error answer that said when to come back.
type retryAfterError struct {
	api   *Error
	after time.Duration
}

func (e *retryAfterError) Error() string { return e.api.Error() }
func (e *retryAfterError) Unwrap() error { return e.api }

// attempt sends req once.
func (c *Client) attempt(ctx context.Context, req request, jsonBody []byte) (*http.Response, error) {
	u := *c.base
	u.Path += req.path
	u.RawQuery = req.query.Encode()
	var body io.ReadCloser = http.NoBody
	size := int64(0)
	switch {
	case jsonBody != nil:
		body, size = io.NopCloser(bytes.NewReader(jsonBody)), int64(len(jsonBody))
	case req.body != nil:
		var err error
		if body, err = req.body(); err != nil {
			return nil, &permanentError{err}
		}
		size = req.size
	}
	hr, err := http.NewRequestWithContext(ctx, req.method, u.String(), body)
	if err != nil {
		body.Close()
		return nil, &permanentError{err}
	}
	hr.ContentLength = size
	if size == 0 {
		hr.Body = http.NoBody
		body.Close()
	}
	for k, v := range req.header {
		hr.Header[k] = v
	}
	if jsonBody != nil {
		hr.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		hr.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.hc.Do(hr)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", req.method, req.path, err)
	}
	want := req.want
	if len(want) == 0 {
		want = []int{http.StatusOK}
	}
	for _, w := range want {
		if resp.StatusCode == w {
			return resp, nil
		}
	}
	defer resp.Body.Close()
	apiErr := decodeError(resp)
	if after, ok := parseRetryAfter(resp.Header.Get("Retry-After"), time.Now()); ok {
		return nil, &retryAfterError{api: apiErr, after: after}
	}
	return nil, apiErr
}

// permanentError is a failure on this side that another attempt would repeat.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// decodeError reads an error answer; one that is not the API's JSON (a proxy's page) keeps the
// status and gets the code of its class.
func decodeError(resp *http.Response) *Error {
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var body struct {
		Error struct {
			Code    ingest.Code    `json:"code"`
			Message string         `json:"message"`
			Details map[string]any `json:"details"`
		} `json:"error"`
	}
	if json.Unmarshal(raw, &body) == nil && body.Error.Code != "" {
		return &Error{Status: resp.StatusCode, Code: body.Error.Code, Message: body.Error.Message, Details: body.Error.Details}
	}
	code := ingest.EInternal
	switch {
	case resp.StatusCode == http.StatusTooManyRequests:
		code = ingest.ERateLimited
	case resp.StatusCode == http.StatusNotFound:
		code = ingest.ENotFound
	case resp.StatusCode < 500:
		code = ingest.EValidation
	}
	return &Error{Status: resp.StatusCode, Code: code, Message: "the server answered " + resp.Status}
}

// retryable decides whether a failed attempt is tried again, and after how long. A 429 is
// retried, but for QUOTA_EXCEEDED: the rate limiter refused the request before doing anything. So
// is STORAGE_UNAVAILABLE: the storage failed before the request could take effect. Another 5xx or
// a network error is retried only for an idempotent request, since the first attempt may have done
// its work.
func (c *Client) retryable(req request, err error, attempt int) (time.Duration, bool) {
	if attempt >= c.retry.Attempts {
		return 0, false
	}
	var perm *permanentError
	if errors.As(err, &perm) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return 0, false
	}
	var apiErr *Error
	if errors.As(err, &apiErr) && apiErr.Code == ingest.EQuotaExceeded {
		// The user's own uploads in progress hold the quota; only their ending frees it, which no
		// wait of ours foresees.
		return 0, false
	}
	backoff := c.backoff(attempt)
	var ra *retryAfterError
	if errors.As(err, &ra) {
		if didNothing(ra.api) || (ra.api.Status >= 500 && req.idempotent) {
			return min(ra.after, c.retry.MaxRetryAfter), true
		}
		return 0, false
	}
	if errors.As(err, &apiErr) {
		switch {
		case didNothing(apiErr):
			return backoff, true
		case apiErr.Status >= 500 && req.idempotent:
			return backoff, true
		}
		return 0, false
	}
	return backoff, req.idempotent
}

// didNothing tells whether an error answer says that the request took no effect, but may later.
func didNothing(e *Error) bool {
	return e.Status == http.StatusTooManyRequests ||
		e.Status == http.StatusServiceUnavailable && e.Code == ingest.EStorageUnavailable
}

// backoff is the wait before attempt+1: Base doubled per attempt, capped at Max, the upper half
// jittered so that parallel senders do not come back together.
func (c *Client) backoff(attempt int) time.Duration {
	d := c.retry.Base << min(attempt-1, 30)
	if d <= 0 || d > c.retry.Max {
		d = c.retry.Max
	}
	half := d / 2
	return half + rand.N(half+1)
}

// parseRetryAfter reads a Retry-After header: seconds or an HTTP date.
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	if v == "" {
		return 0, false
	}
	if s, err := strconv.ParseFloat(v, 64); err == nil && s >= 0 {
		return time.Duration(s * float64(time.Second)), true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0), true
	}
	return 0, false
}

// do sends req and decodes the JSON answer into out, returning the status.
func (c *Client) do(ctx context.Context, req request, out any) (int, error) {
	resp, err := c.send(ctx, req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return 0, fmt.Errorf("%s %s: decode the answer: %w", req.method, req.path, err)
	}
	return resp.StatusCode, nil
}
