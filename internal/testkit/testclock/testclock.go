// Package testclock is a clock for tests of servers over real HTTP: the real time, which leases
// and deadlines follow, moved forward (or back) by what the test asks, to reach an expiry at once.
package testclock

import (
	"sync"
	"time"
)

// Offset is the real time plus an offset; the zero value is the real time.
type Offset struct {
	mu  sync.Mutex
	off time.Duration
}

// Now returns the real time plus the offset.
func (c *Offset) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.off)
}

// Advance moves the clock by d.
func (c *Offset) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.off += d
}
