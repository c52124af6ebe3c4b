// Package idleread bounds how long a request body may stay silent: the protocol adapters (the
// native API, tus) read large bodies through it, so that a stalled client cannot hold an upload
// open forever, however large the body.
package idleread

import (
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/ingest-portal/ingest"
	"github.com/ingest-portal/ingest/internal/httperr"
)

// Body returns r's body with a deadline on each read: a client that sends nothing for timeout
// loses its connection. The deadline is moved at most four times per timeout, not per read. A
// read that fails for the client's sake — it closed the connection, cut the body short, or let
// the deadline pass — fails with httperr.ClientClosed, so that the answer, the log and the
// metrics blame the client and not the portal; a body over a limit keeps its own error.
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
	n, err := d.body.Read(p)
	var tooLarge *http.MaxBytesError
	if err != nil && err != io.EOF && !errors.As(err, &tooLarge) {
		err = &ingest.Error{Code: httperr.ClientClosed, Message: "the client stopped sending the request's body", Err: err}
	}
	return n, err
}
