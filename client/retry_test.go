package client

import (
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/ingest-portal/ingest"
)

// The waits themselves are not timed in tests; these check the decisions behind them.

func TestRetryAfterIsHonouredAndCapped(t *testing.T) {
	t.Parallel()
	c := &Client{retry: Retry{Attempts: 5, Base: time.Millisecond, Max: time.Second, MaxRetryAfter: 10 * time.Second}}
	busy := &retryAfterError{api: &Error{Status: http.StatusTooManyRequests}, after: 3 * time.Second}
	if got, ok := c.retryable(request{}, busy, 1); !ok || got != 3*time.Second {
		t.Errorf("429 with Retry-After 3 s: wait %v, retry %v; want 3s, true", got, ok)
	}
	long := &retryAfterError{api: &Error{Status: http.StatusServiceUnavailable}, after: time.Hour}
	if got, ok := c.retryable(request{idempotent: true}, long, 1); !ok || got != 10*time.Second {
		t.Errorf("503 with Retry-After 1 h: wait %v, retry %v; want the cap 10s, true", got, ok)
	}
	if _, ok := c.retryable(request{}, long, 1); ok {
		t.Error("a 503 of a request that is not idempotent is retried")
	}
	storage := &retryAfterError{api: &Error{Status: http.StatusServiceUnavailable, Code: ingest.EStorageUnavailable}, after: 5 * time.Second}
	if got, ok := c.retryable(request{}, storage, 1); !ok || got != 5*time.Second {
		t.Errorf("503 STORAGE_UNAVAILABLE with Retry-After 5 s of a request that is not idempotent: wait %v, retry %v; want 5s, true", got, ok)
	}
	if _, ok := c.retryable(request{}, storage.api, 1); !ok {
		t.Error("503 STORAGE_UNAVAILABLE without Retry-After of a request that is not idempotent is not retried")
	}
	if _, ok := c.retryable(request{}, busy, 5); ok {
		t.Error("retried after the last attempt")
	}
}

func TestAQuotaExceededIsNotRetried(t *testing.T) {
	t.Parallel()
	c := &Client{retry: Retry{Attempts: 5, Base: time.Millisecond, Max: time.Second, MaxRetryAfter: 10 * time.Second}}
	quota := &Error{Status: http.StatusTooManyRequests, Code: ingest.EQuotaExceeded}
	if _, ok := c.retryable(request{idempotent: true}, quota, 1); ok {
		t.Error("a 429 QUOTA_EXCEEDED is retried")
	}
	if _, ok := c.retryable(request{idempotent: true}, &retryAfterError{api: quota, after: time.Second}, 1); ok {
		t.Error("a 429 QUOTA_EXCEEDED with a Retry-After is retried")
	}
	if _, ok := c.retryable(request{}, &Error{Status: http.StatusTooManyRequests, Code: ingest.ERateLimited}, 1); !ok {
		t.Error("a 429 RATE_LIMITED is not retried")
	}
}

func TestBackoffGrowsUpToItsCap(t *testing.T) {
	t.Parallel()
	c := &Client{retry: Retry{Attempts: 20, Base: 100 * time.Millisecond, Max: time.Second}}
	for attempt, want := range map[int]time.Duration{1: 100 * time.Millisecond, 2: 200 * time.Millisecond,
		3: 400 * time.Millisecond, 5: time.Second, 40: time.Second} {
		for range 20 {
			if got := c.backoff(attempt); got < want/2 || got > want {
				t.Errorf("backoff(%d) = %v, want within [%v, %v]", attempt, got, want/2, want)
			}
		}
	}
	if _, ok := c.retryable(request{idempotent: true}, errors.New("connection reset"), 1); !ok {
		t.Error("a network error of an idempotent request is not retried")
	}
	if _, ok := c.retryable(request{}, errors.New("connection reset"), 1); ok {
		t.Error("a network error of a request that is not idempotent is retried")
	}
}

func TestParseRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for header, want := range map[string]time.Duration{
		"7":   7 * time.Second,
		"0.5": 500 * time.Millisecond,
		now.Add(time.Minute).Format(http.TimeFormat):  time.Minute,
		now.Add(-time.Minute).Format(http.TimeFormat): 0,
	} {
		if got, ok := parseRetryAfter(header, now); !ok || got != want {
			t.Errorf("parseRetryAfter(%q) = %v, %v; want %v, true", header, got, ok, want)
		}
	}
	for _, header := range []string{"", "soon", "-1"} {
		if _, ok := parseRetryAfter(header, now); ok {
			t.Errorf("parseRetryAfter(%q) accepted", header)
		}
	}
}
