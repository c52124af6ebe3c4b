package webhook_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ingest-portal/ingest"
	"github.com/ingest-portal/ingest/sink/webhook"
	"github.com/ingest-portal/ingest/sinktest"
)

// The secrets of the tests, in the Standard Webhooks form.
var (
	oldSecret = "whsec_" + base64.StdEncoding.EncodeToString([]byte("the old key of the test webhook"))
	newSecret = "whsec_" + base64.StdEncoding.EncodeToString([]byte("the new key of the test webhook"))
)

// tolerance is how far a webhook-timestamp may be from the receiver's clock, as Standard Webhooks
// recommends; it stops an attacker replaying an old request.
const tolerance = 5 * time.Minute

// verify checks a request the way a Standard Webhooks receiver does, written here from the
// specification rather than with the sink's own code.
func verify(secret string, h http.Header, body []byte, now time.Time) error {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		return err
	}
	id, timestamp := h.Get("webhook-id"), h.Get("webhook-timestamp")
	ts, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil {
		return fmt.Errorf("webhook-timestamp %q: %w", timestamp, err)
	}
	if d := now.Sub(time.Unix(ts, 0)); d > tolerance || d < -tolerance {
		return fmt.Errorf("webhook-timestamp %s is %s away", timestamp, d)
	}
	mac := hmac.New(sha256.New, key)
	fmt.Fprintf(mac, "%s.%s.%s", id, timestamp, body)
	want := mac.Sum(nil)
	for _, sig := range strings.Fields(h.Get("webhook-signature")) {
		version, encoded, _ := strings.Cut(sig, ",")
		got, err := base64.StdEncoding.DecodeString(encoded)
		if version == "v1" && err == nil && hmac.Equal(got, want) {
			return nil
		}
	}
	return errors.New("no signature verifies")
}

// receiver is a webhook endpoint that verifies every request with its secret (answering 401 when
// the signature fails) and then answers with respond.
type receiver struct {
	t       *testing.T
	secret  string
	now     func() time.Time
	respond http.HandlerFunc

	mu       sync.Mutex
	received []ingest.CloudEvent
	headers  []http.Header
}

func newReceiver(t *testing.T, secret string, respond http.HandlerFunc) (*receiver, *httptest.Server) {
	r := &receiver{t: t, secret: secret, now: time.Now, respond: respond}
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	return r, srv
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		rc.t.Errorf("read the body: %v", err)
		return
	}
	if err := verify(rc.secret, r.Header, body, rc.now()); err != nil {
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	at, err := time.Parse(time.RFC3339Nano, r.Header.Get("ce-time"))
	if err != nil {
		rc.t.Errorf("ce-time: %v", err)
	}
	rc.mu.Lock()
	rc.received = append(rc.received, ingest.CloudEvent{
		SpecVersion:     r.Header.Get("ce-specversion"),
		ID:              r.Header.Get("ce-id"),
		Source:          r.Header.Get("ce-source"),
		Type:            r.Header.Get("ce-type"),
		Subject:         r.Header.Get("ce-subject"),
		Time:            at,
		DataContentType: r.Header.Get("Content-Type"),
		Data:            body,
	})
	rc.headers = append(rc.headers, r.Header.Clone())
	rc.mu.Unlock()
	if rc.respond != nil {
		rc.respond(w, r)
	}
}

func (rc *receiver) events() []ingest.CloudEvent {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]ingest.CloudEvent(nil), rc.received...)
}

func answer(status int, headers ...string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		for i := 0; i+1 < len(headers); i += 2 {
			w.Header().Set(headers[i], headers[i+1])
		}
		w.WriteHeader(status)
	}
}

func mustNew(t *testing.T, url string, secrets []string, opts ...webhook.Option) *webhook.Sink {
	t.Helper()
	s, err := webhook.New(url, secrets, "/test", opts...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// sendOne sends one new event and returns its result.
func sendOne(s ingest.Sink) error {
	return s.Send(context.Background(), []*ingest.OutboxEvent{sinktest.Event(1)})[0]
}

func TestSink(t *testing.T) {
	sinktest.Run(t, func(t *testing.T) sinktest.Harness {
		rc, srv := newReceiver(t, newSecret, nil)
		s, err := webhook.New(srv.URL, []string{newSecret}, "/suite")
		if err != nil {
			t.Fatalf("New: %v", err)
		}
		return sinktest.Harness{
			Sink:     s,
			Source:   "/suite",
			Received: func(*testing.T) []ingest.CloudEvent { return rc.events() },
		}
	})
}

func TestSuccessSendsBinaryCloudEventAndStandardWebhookHeaders(t *testing.T) {
	clock := time.Date(2026, 12, 4, 18, 0, 0, 0, time.UTC)
	rc, srv := newReceiver(t, newSecret, answer(http.StatusNoContent))
	rc.now = func() time.Time { return clock }
	s := mustNew(t, srv.URL+"/hooks/ingest", []string{newSecret}, webhook.WithClock(func() time.Time { return clock }))
	e := sinktest.Event(1)
	if err := s.Send(context.Background(), []*ingest.OutboxEvent{e})[0]; err != nil {
		t.Fatal(err)
	}
	h := rc.headers[0]
	for name, want := range map[string]string{
		"ce-specversion":    "1.0",
		"ce-id":             e.EventID.String(),
		"ce-source":         "/test",
		"ce-type":           "ingest.file.stored",
		"ce-subject":        e.FileID.String(),
		"ce-time":           e.CreatedAt.Format(time.RFC3339Nano),
		"Content-Type":      "application/json",
		"webhook-id":        e.EventID.String(),
		"webhook-timestamp": strconv.FormatInt(clock.Unix(), 10),
	} {
		if got := h.Get(name); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	if got := string(rc.received[0].Data); got != string(e.Payload) {
		t.Errorf("body = %s, want the payload %s", got, e.Payload)
	}
}

func TestServerErrorsAreRetriedWithABoundedMessage(t *testing.T) {
	var calls int
	var mu sync.Mutex
	_, srv := newReceiver(t, newSecret, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		calls++
		first := calls == 1
		mu.Unlock()
		if first {
			w.WriteHeader(http.StatusInternalServerError)
			io.WriteString(w, "boom\x1b[31m "+strings.Repeat("é", 2000))
		}
	})
	s := mustNew(t, srv.URL, []string{newSecret})
	e := sinktest.Event(1)
	err := s.Send(context.Background(), []*ingest.OutboxEvent{e})[0]
	if err == nil || ingest.AsDeliveryError(err) != nil {
		t.Fatalf("a 500: got %#v, want a plain, retryable error", err)
	}
	if msg := err.Error(); !strings.Contains(msg, "500") || !strings.Contains(msg, "boom") || len(msg) > 700 || strings.ContainsRune(msg, '\x1b') {
		t.Errorf("error = %q (%d bytes); want the status and at most 512 clean bytes of the body", msg, len(msg))
	}
	if err := s.Send(context.Background(), []*ingest.OutboxEvent{e})[0]; err != nil {
		t.Errorf("the retry: %v", err)
	}
}

func TestGoneDisablesTheSink(t *testing.T) {
	_, srv := newReceiver(t, newSecret, answer(http.StatusGone))
	d := ingest.AsDeliveryError(sendOne(mustNew(t, srv.URL, []string{newSecret})))
	if d == nil || !d.Disable || !d.Permanent {
		t.Errorf("a 410: got %#v, want a *DeliveryError that disables", d)
	}
}

func TestRetryAfterIsHonoured(t *testing.T) {
	clock := time.Date(2026, 12, 4, 18, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name       string
		status     int
		retryAfter string
		want       time.Duration
	}{
		{"429 in seconds", http.StatusTooManyRequests, "120", 2 * time.Minute},
		{"503 in seconds", http.StatusServiceUnavailable, "7", 7 * time.Second},
		{"429 as an HTTP date", http.StatusTooManyRequests, clock.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{"a date in the past", http.StatusTooManyRequests, clock.Add(-time.Hour).Format(http.TimeFormat), 0},
		{"capped at a day", http.StatusServiceUnavailable, "99999999999", webhook.MaxRetryAfter},
		{"unreadable", http.StatusTooManyRequests, "soon", 0},
		{"absent", http.StatusServiceUnavailable, "", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rc, srv := newReceiver(t, newSecret, answer(tc.status, "Retry-After", tc.retryAfter))
			rc.now = func() time.Time { return clock }
			s := mustNew(t, srv.URL, []string{newSecret}, webhook.WithClock(func() time.Time { return clock }))
			err := sendOne(s)
			if err == nil {
				t.Fatal("delivered")
			}
			d := ingest.AsDeliveryError(err)
			if d == nil || d.Permanent || d.Disable || d.RetryAfter != tc.want {
				t.Errorf("got %#v, want a retryable *DeliveryError with RetryAfter %s", d, tc.want)
			}
		})
	}
}

func TestOtherClientErrorsArePermanent(t *testing.T) {
	for _, status := range []int{http.StatusBadRequest, http.StatusNotFound, http.StatusRequestEntityTooLarge, http.StatusUnprocessableEntity} {
		t.Run(strconv.Itoa(status), func(t *testing.T) {
			_, srv := newReceiver(t, newSecret, answer(status))
			d := ingest.AsDeliveryError(sendOne(mustNew(t, srv.URL, []string{newSecret})))
			if d == nil || !d.Permanent || d.Disable {
				t.Errorf("got %#v, want a permanent *DeliveryError", d)
			}
		})
	}
}

func TestATimeoutIsRetried(t *testing.T) {
	release := make(chan struct{})
	_, srv := newReceiver(t, newSecret, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	t.Cleanup(func() { close(release) }) // runs before srv.Close, which waits for the handler
	err := sendOne(mustNew(t, srv.URL, []string{newSecret}, webhook.WithTimeout(50*time.Millisecond)))
	if err == nil || ingest.AsDeliveryError(err) != nil || !strings.Contains(err.Error(), "no answer within 50ms") {
		t.Errorf("got %v, want a plain, retryable timeout error", err)
	}
}

func TestRedirectsAreNotFollowed(t *testing.T) {
	var followed sync.Mutex
	hits := 0
	mux := http.NewServeMux()
	mux.HandleFunc("/elsewhere", func(http.ResponseWriter, *http.Request) {
		followed.Lock()
		hits++
		followed.Unlock()
	})
	target := httptest.NewServer(mux)
	t.Cleanup(target.Close)
	for _, status := range []int{http.StatusFound, http.StatusPermanentRedirect} {
		t.Run(strconv.Itoa(status), func(t *testing.T) {
			_, srv := newReceiver(t, newSecret, answer(status, "Location", target.URL+"/elsewhere"))
			err := sendOne(mustNew(t, srv.URL, []string{newSecret}, webhook.WithClient(srv.Client())))
			if err == nil || ingest.AsDeliveryError(err) != nil || !strings.Contains(err.Error(), "/elsewhere") {
				t.Errorf("got %v, want a plain, retryable error naming the location", err)
			}
		})
	}
	followed.Lock()
	defer followed.Unlock()
	if hits != 0 {
		t.Errorf("the redirect target got %d requests, want none", hits)
	}
}

func TestSecretRotation(t *testing.T) {
	for _, tc := range []struct {
		name     string
		receiver string
		ok       bool
	}{
		{"the receiver knows only the new secret", newSecret, true},
		{"the receiver still knows only the old secret", oldSecret, true},
		{"the receiver knows neither", "whsec_" + base64.StdEncoding.EncodeToString([]byte("another key")), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, srv := newReceiver(t, tc.receiver, nil)
			err := sendOne(mustNew(t, srv.URL, []string{oldSecret, newSecret}))
			if tc.ok && err != nil {
				t.Errorf("got %v, want delivered", err)
			}
			if d := ingest.AsDeliveryError(err); !tc.ok && (d == nil || !d.Permanent) {
				t.Errorf("got %v, want a permanent 401", err)
			}
		})
	}
}

func TestARawSecretIsItsOwnKey(t *testing.T) {
	raw := "not-a-standard-secret"
	_, srv := newReceiver(t, "whsec_"+base64.StdEncoding.EncodeToString([]byte(raw)), nil)
	if err := sendOne(mustNew(t, srv.URL, []string{raw})); err != nil {
		t.Errorf("got %v, want delivered", err)
	}
}

func TestNewRefusesABadConfiguration(t *testing.T) {
	for name, tc := range map[string]struct {
		url     string
		secrets []string
	}{
		"no secret":          {"https://example.com/hook", nil},
		"only blank secrets": {"https://example.com/hook", []string{"", " "}},
		"whsec_ not base64":  {"https://example.com/hook", []string{"whsec_!!!"}},
		"not http":           {"ftp://example.com/hook", []string{newSecret}},
		"no host":            {"https:///hook", []string{newSecret}},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := webhook.New(tc.url, tc.secrets, ""); ingest.ErrorCode(err) != ingest.EValidation {
				t.Errorf("New = %v, want VALIDATION_FAILED", err)
			}
		})
	}
}

func TestErrorsShowOnlyTheEndpointsHost(t *testing.T) {
	_, answering := newReceiver(t, newSecret, answer(http.StatusInternalServerError))
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close() // a network error: nothing listens there any more
	for name, srv := range map[string]*httptest.Server{"an answer": answering, "a network error": closed} {
		t.Run(name, func(t *testing.T) {
			url := strings.Replace(srv.URL, "http://", "http://user:hunter2@", 1) + "/hooks/s3cr3t-path?token=s3cr3t-query"
			err := sendOne(mustNew(t, url, []string{newSecret}))
			if err == nil {
				t.Fatal("delivered")
			}
			for _, secret := range []string{"hunter2", "s3cr3t-path", "s3cr3t-query"} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("the error shows %q: %v", secret, err)
				}
			}
			if !strings.Contains(err.Error(), strings.TrimPrefix(srv.URL, "http://")) {
				t.Errorf("the error does not name the host: %v", err)
			}
		})
	}
}
