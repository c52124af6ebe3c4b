package attempts_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/ingest-portal/ingest/internal/attempts"
)

func TestWaitTakesNothingAndSaysWhenAnAttemptIsBack(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	l := attempts.New(2, time.Minute, 10)
	for range 5 {
		if w := l.Wait("a", now); w != 0 {
			t.Fatalf("Wait before any attempt = %v, want 0", w)
		}
	}
	l.Allow("a", now)
	l.Allow("a", now)
	if w := l.Wait("a", now); w != 30*time.Second {
		t.Errorf("Wait with the bucket empty = %v, want 30s (2 a minute)", w)
	}
	if w := l.Wait("a", now.Add(30*time.Second)); w != 0 {
		t.Errorf("Wait once an attempt is back = %v, want 0", w)
	}
	if w := l.Wait("b", now); w != 0 {
		t.Errorf("another key waits %v", w)
	}
}

func TestAFloodOfNewKeysSharesOneBucketOnceTheTableIsFull(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	l := attempts.New(1, time.Hour, 3)
	for i := range 3 {
		l.Allow(fmt.Sprint("key", i), now) // the table is full of empty buckets
	}
	if !l.Allow("new-1", now) {
		t.Fatal("the first key past the table has no attempt")
	}
	if l.Allow("new-2", now) || l.Wait("new-3", now) == 0 {
		t.Error("keys past the table do not share the overflow bucket")
	}
	if l.Wait("key0", now) == 0 {
		t.Error("a key in the table lost its count to the flood")
	}
}
