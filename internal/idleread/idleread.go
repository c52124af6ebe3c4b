// Package idleread bounds how long a request body may stay silent, and how slowly it may come:
// the protocol adapters (the native API, tus, Uppy) read large bodies through it, so that a
// stalled or trickling client cannot hold an upload (and its part's lock) open forever, however
// large the body.
package idleread

import (
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/ingest-portal/ingest"
	"github.com/ingest-portal/ingest/internal/httperr"
)

// DefaultWindow is the span over which Limits.MinRate is measured unless Limits.Window says
// otherwise.
const DefaultWindow = 30 * time.Second

// Limits are what a client sending a body must keep up.
type Limits struct {
	// Idle is the longest a read may wait for a byte.
	Idle time.Duration
	// MinRate, in bytes per second, is the least a body must bring over each full Window: a body
	// that brings less than MinRate×Window in one is cut. 0 means no minimum rate.
	MinRate int64
	// Window is the span the rate is measured over; 0 means DefaultWindow.
	Window time.Duration
}

// Body returns r's body with a deadline on each read: a client that sends nothing for lim.Idle,
// or less than lim.MinRate×lim.Window in a window, loses its connection. A window counts only the
// time spent waiting for the client, not the time the portal spends on what it read (writing it,
// hashing it), so a slow disk is not blamed on the client. The deadline is moved at most four
// times per Idle, and on each read only while a window's quota is still unmet. A read that fails
// for the client's sake — it closed the connection, cut the body short, let a deadline pass or
// sent too slowly — fails with httperr.ClientClosed, so that the answer, the log and the metrics
// blame the client and not the portal; a body over a limit keeps its own error.
func Body(w http.ResponseWriter, r *http.Request, lim Limits) io.Reader {
	if lim.Window <= 0 {
		lim.Window = DefaultWindow
	}
	return &reader{body: r.Body, rc: http.NewResponseController(w), lim: lim,
		quota: int64(float64(lim.MinRate) * lim.Window.Seconds())}
}

type reader struct {
	body  io.Reader
	rc    *http.ResponseController
	lim   Limits
	set   time.Time // when the deadline was last moved
	moved bool      // the deadline must be moved before the next read
	// The current window of the rate: the client has been waited for for waited of it, and has
	// brought got bytes of quota.
	waited time.Duration
	got    int64
	quota  int64
	slow   error // the body came too slowly: every later read fails with it
}

func (d *reader) Read(p []byte) (int, error) {
	if d.slow != nil {
		return 0, d.slow
	}
	rated := d.quota > 0
	if rated && d.waited >= d.lim.Window {
		if d.got < d.quota {
			return 0, d.tooSlow(nil)
		}
		d.waited, d.got, d.moved = 0, 0, true
	}
	now := time.Now()
	if unmet := rated && d.got < d.quota; unmet || d.moved || now.Sub(d.set) > d.lim.Idle/4 {
		deadline := now.Add(d.lim.Idle)
		if left := now.Add(d.lim.Window - d.waited); unmet && left.Before(deadline) {
			deadline = left // the window must bring its quota by its end
		}
		// Servers without deadlines (tests' recorders) answer ErrNotSupported: read on without.
		_ = d.rc.SetReadDeadline(deadline)
		d.set, d.moved = now, false
	}
	n, err := d.body.Read(p)
	if rated {
		d.waited += time.Since(now)
		before := d.got
		d.got += int64(n)
		if before < d.quota && d.got >= d.quota {
			d.moved = true // the window's quota is met: the deadline goes back to Idle
		}
	}
	var tooLarge *http.MaxBytesError
	if err != nil && err != io.EOF && !errors.As(err, &tooLarge) {
		if rated && d.got < d.quota && d.waited >= d.lim.Window {
			return n, d.tooSlow(err)
		}
		err = &ingest.Error{Code: httperr.ClientClosed, Message: "the client stopped sending the request's body", Err: err}
	}
	return n, err
}

// tooSlow fails the body, now and on every later read, for coming slower than the minimum rate.
func (d *reader) tooSlow(cause error) error {
	d.slow = &ingest.Error{Code: httperr.ClientClosed, Message: "the client sent the request's body slower than the minimum rate", Err: cause}
	return d.slow
}
