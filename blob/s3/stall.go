package s3

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"time"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/ingest-portal/ingest"
)

// DefaultTimeout is how long the store waits, when not told otherwise, for S3 to answer a request
// or to take or give the next bytes of a body.
const DefaultTimeout = 30 * time.Second

// errStalled is the cause of a request given up because S3 went silent for the store's timeout.
var errStalled = errors.New("s3: no answer and no bytes moving within the timeout")

// stallGuard cancels a request whose body makes no progress: its timer runs while S3 owes the
// next step (an answer, or taking or giving bytes) and stops while the other side of the body (the
// client uploading, or reading a download) has the turn, so that a long transfer that keeps moving
// has no time limit and a slow client is not blamed on S3.
type stallGuard struct {
	timer   *time.Timer
	timeout time.Duration
	ctx     context.Context
	cancel  context.CancelCauseFunc
}

// guard returns a guard whose context is ctx's, cancelled with errStalled once S3 has owed the
// next step for timeout; the timer runs from now.
func guard(ctx context.Context, timeout time.Duration) *stallGuard {
	g := &stallGuard{timeout: timeout}
	g.ctx, g.cancel = context.WithCancelCause(ctx)
	g.timer = time.AfterFunc(timeout, func() { g.cancel(errStalled) })
	return g
}

// waitS3 (re)starts the timer: S3 has the turn.
func (g *stallGuard) waitS3() { g.timer.Reset(g.timeout) }

// waitOther stops the timer: the other side of the body has the turn.
func (g *stallGuard) waitOther() { g.timer.Stop() }

// end stops the guard and releases its context.
func (g *stallGuard) end() {
	g.timer.Stop()
	g.cancel(nil)
}

// stalled tells whether the guard gave up on the request.
func (g *stallGuard) stalled() bool { return context.Cause(g.ctx) == errStalled }

// guardedBody is the body of a download, whose guard runs while a read waits for S3.
type guardedBody struct {
	io.ReadCloser
	g *stallGuard
}

func (b *guardedBody) Read(p []byte) (int, error) {
	b.g.waitS3()
	n, err := b.ReadCloser.Read(p)
	b.g.waitOther()
	if err != nil && err != io.EOF && b.g.stalled() {
		err = unavailable(err, "read object")
	}
	return n, err
}

func (b *guardedBody) Close() error {
	err := b.ReadCloser.Close()
	b.g.end()
	return err
}

// isUnavailable tells whether err, from a request whose caller still waits for it, says that S3
// failed or could not be reached after the client's retries, rather than refused the request: a
// 5xx answer, or no answer (a refused or broken connection, a timeout, a stall).
func isUnavailable(err error) bool {
	var resp *smithyhttp.ResponseError
	if errors.As(err, &resp) && resp.HTTPStatusCode() >= 500 {
		return true
	}
	var send *smithyhttp.RequestSendError
	var netErr net.Error
	return errors.As(err, &send) || errors.As(err, &netErr) || errors.Is(err, errStalled) ||
		errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// unavailable is err as EStorageUnavailable; what failed goes to the log only.
func unavailable(err error, what string) error {
	return &ingest.Error{Code: ingest.EStorageUnavailable, Message: "the storage is unavailable; try again later",
		Err: errors.Join(errors.New("s3: "+what), err)}
}

// withTimeout sets, on the HTTP client of an S3 client, how long it waits for an answer to a
// request once sent: per attempt, so the retries of a request stay bounded by the retryer's
// attempts. Bodies are guarded by stallGuard.
func withTimeout(timeout time.Duration) *awshttp.BuildableClient {
	return awshttp.NewBuildableClient().WithTransportOptions(func(tr *http.Transport) {
		tr.ResponseHeaderTimeout = timeout
	})
}
