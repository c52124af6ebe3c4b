// Package sendctx starts a sink's Send the way the sinks that wait for acknowledgements do: a
// batch whose context has already ended fails whole, and one whose context has no deadline gets
// the sink's own bound, so that a lost acknowledgement fails its events instead of holding the
// relay's batch forever.
package sendctx

import (
	"context"
	"time"
)

// Start returns one result slot per event and the context to send n events under. When ctx has
// already ended, every slot holds its error and ended is true: nothing is to be sent. Otherwise
// the context is ctx, bounded by limit unless it has a deadline of its own; call cancel when the
// Send is over.
func Start(ctx context.Context, n int, limit time.Duration) (errs []error, send context.Context, cancel context.CancelFunc, ended bool) {
	errs = make([]error, n)
	if err := ctx.Err(); err != nil {
		for i := range errs {
			errs[i] = err
		}
		return errs, ctx, func() {}, true
	}
	if _, ok := ctx.Deadline(); ok {
		return errs, ctx, func() {}, false
	}
	send, cancel = context.WithTimeout(ctx, limit)
	return errs, send, cancel, false
}
