// Package idleread bounds how long a request body may stay silent: the protocol adapters (the
// native API, tus) read large bodies through it, so that a stalled client cannot hold an upload
// open forever, however large the body.
package idleread

import (
	"io"
	"net/http"
	"time"
)

// Body returns r's body with a deadline on each read: a client that sends nothing for timeout
// loses its connection. The deadline is moved at most four times per timeout, not per read.
func Body(w http.ResponseWriter, r *http.Request, timeout time.Duration) io.Reader {
	return &reader{body: r.Body, rc: http.NewResponseController(w), timeout: timeout}
}

type reader struct {
	body    io.Reader
	rc      *http.ResponseController
	timeout time.Duration
	set     time.Time
}

func (d *reader) Read(p []byte) (int, error) {
	if now := time.Now(); now.Sub(d.set) > d.timeout/4 {
		// Servers without deadlines (tests' recorders) answer ErrNotSupported: read on without.
		_ = d.rc.SetReadDeadline(now.Add(d.timeout))
		d.set = now
	}
	return d.body.Read(p)
}
