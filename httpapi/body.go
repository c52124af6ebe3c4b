package httpapi

import (
	"io"
	"net/http"
	"time"
)

// deadlineBody returns the request body with a deadline on each read: a client that stops
// sending for IdleReadTimeout loses its connection, so it cannot hold a part open forever,
// however large the part. The deadline is moved at most four times per timeout, not per read.
func (s *Server) deadlineBody(w http.ResponseWriter, r *http.Request) io.Reader {
	return &deadlineReader{body: r.Body, rc: http.NewResponseController(w), timeout: s.cfg.IdleReadTimeout}
}

type deadlineReader struct {
	body    io.Reader
	rc      *http.ResponseController
	timeout time.Duration
	set     time.Time
}

func (d *deadlineReader) Read(p []byte) (int, error) {
	if now := time.Now(); now.Sub(d.set) > d.timeout/4 {
		// Servers without deadlines (tests' recorders) answer ErrNotSupported: read on without.
		_ = d.rc.SetReadDeadline(now.Add(d.timeout))
		d.set = now
	}
	return d.body.Read(p)
}
