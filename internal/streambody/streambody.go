// Package streambody is the body of a request that streams one part or object of a declared size
// from a client's request to a storage service, read once and never held in memory. It fails,
// instead of handing over its last bytes, when the source holds fewer or more bytes than declared,
// and then resets the connection it was going out on: a server may take a connection closed
// normally in the middle of a body for the end of a shorter body and store that (versitygw and
// Azurite do), while a reset is an error to every server.
package streambody

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http/httptrace"
	"sync"

	"github.com/ingest-portal/ingest"
)

// ErrNoRewind fails a retry of a request whose body was already read: its bytes came from the
// client's request and cannot be read again; the client sends them again instead.
var ErrNoRewind = errors.New("a streamed body cannot be sent again")

// Body yields exactly Size bytes of a source. It is an io.ReadSeekCloser for SDKs that want one:
// seeking to the end tells the size, and seeking to the start works until the first read.
type Body struct {
	r    io.Reader
	size int64
	left int64
	what string // "write part 3", for errors

	mu   sync.Mutex // guards err, conn and read, which an SDK's goroutines and the caller share
	err  error
	conn net.Conn
	read bool
}

// New returns a body of size bytes from r; what names the write in errors.
func New(r io.Reader, size int64, what string) *Body {
	return &Body{r: r, size: size, left: size, what: what}
}

// Trace returns ctx with a hook that records the connection the body goes out on, so that a
// failing body can reset it. Send the request under the returned context.
func (b *Body) Trace(ctx context.Context) context.Context {
	return httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		GotConn: func(info httptrace.GotConnInfo) {
			b.mu.Lock()
			defer b.mu.Unlock()
			b.conn = info.Conn
		},
	})
}

// Failure is the body's verdict: nil, EPartSizeMismatch, or the source's read error. An SDK
// reports a failed body only as a failed request, so the caller asks the body first.
func (b *Body) Failure() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.err
}

func (b *Body) Read(p []byte) (int, error) {
	if err := b.Failure(); err != nil {
		return 0, err
	}
	b.mu.Lock()
	b.read = true
	b.mu.Unlock()
	if b.left == 0 {
		return 0, b.atEnd()
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.r.Read(p)
	b.left -= int64(n)
	switch {
	case err == io.EOF && b.left > 0:
		return 0, b.fail(ingest.Errorf(ingest.EPartSizeMismatch, "%s: %d bytes, want %d", b.what, b.size-b.left, b.size))
	case err != nil && err != io.EOF:
		return 0, b.fail(fmt.Errorf("%s: read body: %w", b.what, err))
	case b.left == 0:
		// These bytes complete the body; they go out only when nothing follows them.
		if err := b.atEnd(); err != io.EOF {
			return 0, err
		}
	}
	return n, nil
}

// atEnd returns io.EOF when the source has nothing more, and fails the body otherwise.
func (b *Body) atEnd() error {
	var one [1]byte
	for range 100 { // as bufio does, give up on a reader that keeps returning nothing
		n, err := b.r.Read(one[:])
		switch {
		case n > 0:
			return b.fail(ingest.Errorf(ingest.EPartSizeMismatch, "%s: more than %d bytes", b.what, b.size))
		case err == io.EOF:
			return io.EOF
		case err != nil:
			return b.fail(fmt.Errorf("%s: read body: %w", b.what, err))
		}
	}
	return b.fail(fmt.Errorf("%s: read body: %w", b.what, io.ErrNoProgress))
}

// fail records err as the body's verdict and arranges for the HTTP client, which closes the
// connection when the body fails, to reset it.
func (b *Body) fail(err error) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.err = err
	conn := b.conn
	if tc, ok := conn.(*tls.Conn); ok {
		conn = tc.NetConn()
	}
	if tcp, ok := conn.(*net.TCPConn); ok {
		_ = tcp.SetLinger(0) // closing now sends RST and drops what has not been sent
	}
	return err
}

// Seek tells the size (offset 0 from the end) and rewinds only a body not read yet.
func (b *Body) Seek(offset int64, whence int) (int64, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case offset == 0 && whence == io.SeekEnd:
		return b.size, nil
	case offset == 0 && (whence == io.SeekStart || whence == io.SeekCurrent) && !b.read:
		return 0, nil
	}
	return 0, ErrNoRewind
}

// Close does nothing: the source belongs to the caller.
func (b *Body) Close() error { return nil }
