package httpapi

import (
	"math"
	"strconv"
	"sync"
	"time"

	"github.com/google/uuid"
)

// rateLimiter is a token bucket per user: rate tokens a second, bursts of twice that. A nil
// limiter allows everything.
type rateLimiter struct {
	mu      sync.Mutex
	rate    float64
	burst   float64
	buckets map[uuid.UUID]*bucket
}

type bucket struct {
	tokens float64
	at     time.Time
}

func newRateLimiter(rate float64) *rateLimiter {
	if rate <= 0 {
		return nil
	}
	return &rateLimiter{rate: rate, burst: math.Max(1, 2*rate), buckets: map[uuid.UUID]*bucket{}}
}

// allow takes a token of user's bucket at now, or says how long until one is there.
func (l *rateLimiter) allow(user uuid.UUID, now time.Time) (time.Duration, bool) {
	if l == nil {
		return 0, true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[user]
	if b == nil {
		b = &bucket{tokens: l.burst, at: now}
		l.buckets[user] = b
	}
	b.tokens = math.Min(l.burst, b.tokens+now.Sub(b.at).Seconds()*l.rate)
	b.at = now
	if b.tokens >= 1 {
		b.tokens--
		return 0, true
	}
	return time.Duration((1 - b.tokens) / l.rate * float64(time.Second)), false
}

// retryAfter renders a wait as a Retry-After header: whole seconds, at least 1.
func retryAfter(wait time.Duration) string {
	return strconv.Itoa(max(1, int(math.Ceil(wait.Seconds()))))
}
