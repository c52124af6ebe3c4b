// Package webhook delivers outbox events to an HTTP endpoint: one POST per event in CloudEvents
// binary mode (the event's attributes in ce-* headers, its data as the JSON body), signed the
// Standard Webhooks way (webhook-id, webhook-timestamp and webhook-signature headers), so that a
// receiver can check that the portal sent it and when.
package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/ingest-portal/ingest"
)

const (
	// DefaultTimeout bounds one delivery: connecting, sending, and reading the answer's headers.
	DefaultTimeout = 15 * time.Second
	// DefaultConcurrency is how many events of one Send are in flight at once. Webhook receivers
	// are slow compared with the portal; a few requests at a time hide their latency without
	// overwhelming them.
	DefaultConcurrency = 8
	// MaxRetryAfter caps the delay a Retry-After header may ask for: the longest step of the
	// webhook retry schedule. A receiver that asks for a year would otherwise park events for a
	// year.
	MaxRetryAfter = 24 * time.Hour
	// maxErrorBody is how much of a failed answer's body goes into the error, which the relay keeps
	// as the event's last_error.
	maxErrorBody = 512
	// maxDrain is how much of an answer's body is read to let its connection be reused.
	maxDrain = 64 << 10
	// secretPrefix marks a Standard Webhooks secret: the base64 of the key follows it.
	secretPrefix = "whsec_"
)

// Sink posts events to a webhook. It is safe for concurrent use.
type Sink struct {
	url string
	// shownURL names the endpoint in errors, which the relay keeps in last_error and logs: the
	// scheme and host only, since webhook URLs often carry a secret in their path or query.
	shownURL    string
	secrets     [][]byte
	source      string
	client      *http.Client
	timeout     time.Duration
	concurrency int
	now         func() time.Time
	closed      atomic.Bool
}

var _ ingest.Sink = (*Sink)(nil)

// Option changes a Sink made by New.
type Option func(*Sink)

// WithClient makes the sink send through c (a test server's client, a proxy's). The sink uses a
// copy of c that never follows redirects.
func WithClient(c *http.Client) Option { return func(s *Sink) { s.client = c } }

// WithTimeout bounds one delivery by d instead of DefaultTimeout.
func WithTimeout(d time.Duration) Option { return func(s *Sink) { s.timeout = d } }

// WithClock makes the sink read the time from now: the signature's timestamp and the end of a
// Retry-After date.
func WithClock(now func() time.Time) Option { return func(s *Sink) { s.now = now } }

// WithConcurrency lets n events of one Send be in flight at once instead of DefaultConcurrency.
func WithConcurrency(n int) Option { return func(s *Sink) { s.concurrency = n } }

// New returns a Sink that posts events, with the given CloudEvents source (ingest's default when
// empty), to rawURL, an http or https URL, signing each with every one of secrets. A secret is
// either a Standard Webhooks secret, "whsec_" followed by the base64 of the key, or any other
// string, whose bytes are the key. Several secrets let a receiver move from one to the next: it
// accepts a request when any signature verifies. It returns EValidation for a bad URL or secret
// and when no secret is given, since an unsigned webhook lets anyone forge events.
func New(rawURL string, secrets []string, source string, opts ...Option) (*Sink, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, ingest.Errorf(ingest.EValidation, "want an http:// or https:// webhook URL")
	}
	keys, err := parseSecrets(secrets)
	if err != nil {
		return nil, err
	}
	if source == "" {
		source = ingest.DefaultEventSource
	}
	s := &Sink{
		url:      rawURL,
		shownURL: u.Scheme + "://" + u.Host,
		secrets:  keys,
		source:   source,
		// A transport of its own, so that Close drops only this sink's idle connections.
		client:      &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()},
		timeout:     DefaultTimeout,
		concurrency: DefaultConcurrency,
		now:         time.Now,
	}
	for _, opt := range opts {
		opt(s)
	}
	if s.timeout <= 0 || s.concurrency <= 0 {
		return nil, ingest.Errorf(ingest.EValidation, "the webhook timeout and concurrency must be positive")
	}
	client := *s.client
	// A redirect answers the delivery: following it would post signed events to wherever the
	// endpoint points, which the operator never chose.
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	s.client = &client
	return s, nil
}

// parseSecrets returns the HMAC keys of the configured secrets.
func parseSecrets(secrets []string) ([][]byte, error) {
	var keys [][]byte
	for i, secret := range secrets {
		secret = strings.TrimSpace(secret)
		if secret == "" {
			continue
		}
		if encoded, ok := strings.CutPrefix(secret, secretPrefix); ok {
			key, err := base64.StdEncoding.DecodeString(encoded)
			if err != nil || len(key) == 0 {
				return nil, ingest.Errorf(ingest.EValidation, "webhook secret %d starts with %s but the rest is not base64", i+1, secretPrefix)
			}
			secret = string(key)
		}
		keys = append(keys, []byte(secret))
	}
	if len(keys) == 0 {
		return nil, ingest.Errorf(ingest.EValidation, "a webhook needs at least one signing secret (--webhook-secret)")
	}
	return keys, nil
}

// Name implements ingest.Sink.
func (s *Sink) Name() string { return "webhook" }

// Send implements ingest.Sink: one POST per event, up to the sink's concurrency at once.
func (s *Sink) Send(ctx context.Context, events []*ingest.OutboxEvent) []error {
	errs := make([]error, len(events))
	turns := make(chan struct{}, s.concurrency)
	var wg sync.WaitGroup
	for i, e := range events {
		if err := ctx.Err(); err != nil {
			errs[i] = err
			continue
		}
		turns <- struct{}{}
		wg.Go(func() {
			defer func() { <-turns }()
			errs[i] = s.deliver(ctx, e)
		})
	}
	wg.Wait()
	return errs
}

// deliver posts one event and judges the answer.
func (s *Sink) deliver(ctx context.Context, e *ingest.OutboxEvent) error {
	if s.closed.Load() {
		return fmt.Errorf("webhook %s: the sink is closed", s.shownURL)
	}
	if !json.Valid(e.Payload) {
		return &ingest.DeliveryError{Permanent: true, Err: fmt.Errorf("event %s: its data is not JSON", e.EventID)}
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	req, err := s.request(ctx, e)
	if err != nil {
		return &ingest.DeliveryError{Permanent: true, Err: err}
	}
	resp, err := s.client.Do(req)
	if ue := (*url.Error)(nil); errors.As(err, &ue) {
		err = ue.Err // its text repeats the whole URL, secrets in the path or query included
	}
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() != nil {
			return fmt.Errorf("webhook %s: no answer within %s: %w", s.shownURL, s.timeout, err)
		}
		return fmt.Errorf("webhook %s: %w", s.shownURL, err)
	}
	defer resp.Body.Close()
	return s.judge(resp)
}

// request builds the signed POST of e.
func (s *Sink) request(ctx context.Context, e *ingest.OutboxEvent) (*http.Request, error) {
	ce := ingest.NewCloudEvent(e, s.source)
	body := []byte(e.Payload)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("webhook %s: %w", s.shownURL, err)
	}
	h := req.Header
	h.Set("Content-Type", ce.DataContentType)
	h.Set("User-Agent", "ingest-portal")
	h.Set("ce-specversion", ce.SpecVersion)
	h.Set("ce-id", ce.ID)
	h.Set("ce-source", ce.Source)
	h.Set("ce-type", ce.Type)
	h.Set("ce-subject", ce.Subject)
	h.Set("ce-time", ce.Time.Format(time.RFC3339Nano))
	timestamp := strconv.FormatInt(s.now().Unix(), 10)
	h.Set("webhook-id", ce.ID)
	h.Set("webhook-timestamp", timestamp)
	h.Set("webhook-signature", Sign(s.secrets, ce.ID, timestamp, body))
	return req, nil
}

// Sign returns the value of a webhook-signature header: for each key, "v1," and the base64 of the
// HMAC-SHA256 of "id.timestamp.body", separated by spaces.
func Sign(keys [][]byte, id, timestamp string, body []byte) string {
	sigs := make([]string, len(keys))
	for i, key := range keys {
		mac := hmac.New(sha256.New, key)
		mac.Write([]byte(id + "." + timestamp + "."))
		mac.Write(body)
		sigs[i] = "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
	}
	return strings.Join(sigs, " ")
}

// judge turns the endpoint's answer into the delivery's result.
func (s *Sink) judge(resp *http.Response) error {
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		io.Copy(io.Discard, io.LimitReader(resp.Body, maxDrain))
		return nil
	}
	err := fmt.Errorf("webhook %s answered %s%s", s.shownURL, resp.Status, excerpt(resp))
	switch code := resp.StatusCode; {
	case code == http.StatusGone:
		return &ingest.DeliveryError{Disable: true, Permanent: true, Err: err}
	case code == http.StatusTooManyRequests || code == http.StatusServiceUnavailable:
		return &ingest.DeliveryError{RetryAfter: retryAfter(resp.Header.Get("Retry-After"), s.now()), Err: err}
	case code >= 300 && code < 400:
		// Retried on the schedule, not failed: a redirect is as often a receiver's passing state
		// (maintenance, a login wall during a deploy) as a moved endpoint, and the schedule gives
		// the operator days to fix the URL without retrying FAILED events by hand.
		return fmt.Errorf("%w (redirects are not followed; location %q)", err, resp.Header.Get("Location"))
	case code >= 400 && code < 500:
		return &ingest.DeliveryError{Permanent: true, Err: err}
	}
	return err
}

// excerpt returns ": " and the start of resp's body on one line, or "" when it is empty. The body
// goes into the event's last_error, so it is capped and stripped of control characters.
func excerpt(resp *http.Response) string {
	data, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	io.Copy(io.Discard, io.LimitReader(resp.Body, maxDrain))
	for len(data) > 0 && !utf8.Valid(data) {
		data = data[:len(data)-1] // a rune cut in half by the cap
	}
	text := strings.Join(strings.FieldsFunc(string(data), func(r rune) bool {
		return r < ' ' || r == 0x7f || r == ' ' || r == utf8.RuneError
	}), " ")
	if text == "" {
		return ""
	}
	return ": " + text
}

// retryAfter reads a Retry-After header, in seconds or an HTTP date, as a delay from now, capped at
// MaxRetryAfter. It returns 0 when the header is absent or unreadable.
func retryAfter(value string, now time.Time) time.Duration {
	value = strings.TrimSpace(value)
	if value == "" {
		return 0
	}
	var d time.Duration
	if secs, err := strconv.ParseInt(value, 10, 64); err == nil {
		if secs <= 0 {
			return 0
		}
		d = MaxRetryAfter
		if secs < int64(MaxRetryAfter/time.Second) {
			d = time.Duration(secs) * time.Second
		}
	} else if at, err := http.ParseTime(value); err == nil {
		d = at.Sub(now)
	}
	return max(0, min(d, MaxRetryAfter))
}

// Close implements ingest.Sink. Events sent afterwards fail.
func (s *Sink) Close() error {
	s.closed.Store(true)
	s.client.CloseIdleConnections()
	return nil
}
