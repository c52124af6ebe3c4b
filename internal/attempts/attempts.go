// Package attempts limits attempts per key (a client address, a username) with token buckets in a
// table of bounded size: the admin console's sign-ins and the API's bad tokens share it.
package attempts

import (
	"container/heap"
	"math"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Limiter is a token bucket per key (a client address, a username): burst attempts, the
// bucket refilling at perSec. Its table holds at most size keys, so its memory is bounded without
// forgetting a key under attack: when the table is full, a new key takes the place of the key
// whose bucket refilled first, only if that bucket is full again (forgetting it loses nothing);
// otherwise every key not in the table shares one overflow bucket of the same size. A flood of
// new keys therefore never resets the count of a key in the table. The limiter lives in this
// instance's memory, so with several instances the limit applies on each.
type Limiter struct {
	mu       sync.Mutex
	perSec   float64
	burst    float64
	size     int
	keys     map[string]*attempts
	byFull   fullHeap // the keys in the order their buckets are full again
	overflow attempts
}

// attempts is one key's bucket: tokens left at at.
type attempts struct {
	key    string
	tokens float64
	at     time.Time
	full   time.Time // when the bucket holds burst tokens again
	index  int       // in byFull
}

// DefaultKeys bounds a limiter's table unless the configuration says otherwise.
const DefaultKeys = 100_000

// New returns a limiter of burst attempts per key refilling over refill, with a table of size
// keys.
func New(burst float64, refill time.Duration, size int) *Limiter {
	burst = math.Max(1, burst)
	return &Limiter{perSec: burst / refill.Seconds(), burst: burst, size: max(1, size), keys: map[string]*attempts{}}
}

// Wait returns how long key must wait at now before its bucket holds an attempt again, 0 if it
// holds one; it takes nothing and remembers no new key. A caller that counts only failed attempts
// asks it before the attempt, and Allow after a failure.
func (l *Limiter) Wait(key string, now time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.keys[key]
	if b == nil {
		if len(l.keys) < l.size || !l.byFull[0].full.After(now) || l.overflow.at.IsZero() {
			return 0
		}
		b = &l.overflow
	}
	tokens := math.Min(l.burst, b.tokens+max(0, now.Sub(b.at).Seconds())*l.perSec)
	if tokens >= 1 {
		return 0
	}
	return time.Duration((1 - tokens) / l.perSec * float64(time.Second))
}

// Allow takes one attempt of key's bucket at now, or reports that none is left.
func (l *Limiter) Allow(key string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.keys[key]
	if b == nil {
		if len(l.keys) >= l.size {
			if oldest := l.byFull[0]; oldest.full.After(now) {
				if l.overflow.at.IsZero() {
					l.overflow = attempts{tokens: l.burst, at: now}
				}
				return l.take(&l.overflow, now)
			}
			delete(l.keys, heap.Pop(&l.byFull).(*attempts).key)
		}
		b = &attempts{key: key, tokens: l.burst, at: now}
		l.keys[key] = b
		heap.Push(&l.byFull, b)
	}
	ok := l.take(b, now)
	heap.Fix(&l.byFull, b.index)
	return ok
}

// take refills b up to now and takes one token if there is one.
func (l *Limiter) take(b *attempts, now time.Time) bool {
	if now.After(b.at) {
		b.tokens = math.Min(l.burst, b.tokens+now.Sub(b.at).Seconds()*l.perSec)
		b.at = now
	}
	ok := b.tokens >= 1
	if ok {
		b.tokens--
	}
	b.full = b.at.Add(time.Duration((l.burst - b.tokens) / l.perSec * float64(time.Second)))
	return ok
}

// fullHeap orders buckets by the time they are full again, soonest first.
type fullHeap []*attempts

func (h fullHeap) Len() int           { return len(h) }
func (h fullHeap) Less(i, j int) bool { return h[i].full.Before(h[j].full) }
func (h fullHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *fullHeap) Push(x any) {
	b := x.(*attempts)
	b.index = len(*h)
	*h = append(*h, b)
}
func (h *fullHeap) Pop() any {
	old := *h
	b := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return b
}

// AddressKey is the limiter key of a client address: an IPv4 address, or the /64 network of an
// IPv6 address, since one host commonly holds a whole /64.
func AddressKey(addr string) string {
	ip := net.ParseIP(addr)
	if ip == nil || ip.To4() != nil {
		return addr
	}
	return ip.Mask(net.CIDRMask(64, 128)).String() + "/64"
}

// UsernameKey is the limiter key of a username, normalised once: trimmed and case-folded, so
// that "Root" and " root" share root's lockout.
func UsernameKey(username string) string {
	return strings.ToLower(strings.TrimSpace(username))
}

// ClientAddress is the address attempts are limited by: the connection's peer. A header
// naming another address (X-Forwarded-For) is not trusted, since any client can send one.
func ClientAddress(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
