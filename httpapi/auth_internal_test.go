package httpapi

import (
	"fmt"
	"testing"
	"time"

	"github.com/ingest-portal/ingest"
)

func TestTokenCacheForgetsAfterItsLifetime(t *testing.T) {
	t.Parallel()
	c := newTokenCache(time.Second)
	u := &ingest.User{Username: "alice"}
	now := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	c.put("hash", u, now)
	if got := c.get("hash", now.Add(999*time.Millisecond)); got != u {
		t.Errorf("within its lifetime: %v, want the user", got)
	}
	if got := c.get("hash", now.Add(time.Second)); got != nil {
		t.Errorf("at the end of its lifetime: %v, want nothing", got)
	}
}

func TestTokenCacheIsBounded(t *testing.T) {
	t.Parallel()
	c := newTokenCache(time.Hour)
	now := time.Now()
	for i := range maxCachedTokens + 1 {
		c.put(fmt.Sprint(i), &ingest.User{}, now)
	}
	if n := len(c.entries); n > maxCachedTokens {
		t.Errorf("%d entries, want at most %d", n, maxCachedTokens)
	}
}

func TestNoTokenCacheWithoutALifetime(t *testing.T) {
	t.Parallel()
	c := newTokenCache(0)
	c.put("hash", &ingest.User{}, time.Now())
	if got := c.get("hash", time.Now()); got != nil {
		t.Errorf("got %v from a cache without a lifetime", got)
	}
}
