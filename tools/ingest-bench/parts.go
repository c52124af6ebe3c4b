package main

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"
)

// partsRun is what one upload in parts measured.
type partsRun struct {
	elapsed        time.Duration // create, parts and complete, as the client saw them
	completeRTT    time.Duration // the complete request, as the client saw it
	completeServer time.Duration // the complete request, from the portal's own histogram
	hashedParts    int           // parts the running hash covered once the last part was in
	totalParts     int
}

// uploadInParts uploads src to the portal in parts, parallel at a time, completes it and checks
// the stored file. The portal's metrics are read before and after, outside the timed requests.
func uploadInParts(ctx context.Context, api *apiClient, name string, src source, partSize int64, parallel int) (partsRun, error) {
	before, err := api.metrics(ctx)
	if err != nil {
		return partsRun{}, err
	}
	start := time.Now()
	sess, err := api.createSession(ctx, name, src, partSize)
	if err != nil {
		return partsRun{}, err
	}
	if err := sendParts(ctx, api, sess, src, parallel); err != nil {
		return partsRun{}, err
	}
	sending := time.Since(start)
	// Untimed: how much of the file the running hash covers when completion begins.
	state, err := api.session(ctx, sess.ID)
	if err != nil {
		return partsRun{}, err
	}
	if state.ReceivedPartsCount != sess.TotalParts {
		return partsRun{}, fmt.Errorf("upload %s: %d of %d parts received after sending them all", sess.ID, state.ReceivedPartsCount, sess.TotalParts)
	}
	completeStart := time.Now()
	if err := api.complete(ctx, sess, src); err != nil {
		return partsRun{}, err
	}
	rtt := time.Since(completeStart)
	after, err := api.metrics(ctx)
	if err != nil {
		return partsRun{}, err
	}
	h0, h1 := routeHistogram(before, completeRoute), routeHistogram(after, completeRoute)
	if n := h1.count - h0.count; n != 1 {
		return partsRun{}, fmt.Errorf("the portal's histogram counted %v completions during one upload, want 1", n)
	}
	return partsRun{
		elapsed:        sending + rtt,
		completeRTT:    rtt,
		completeServer: time.Duration((h1.sum - h0.sum) * float64(time.Second)),
		hashedParts:    state.HashedParts,
		totalParts:     sess.TotalParts,
	}, nil
}

// sendParts sends every part of the session, parallel at a time; each sender takes the next part
// number, so with parallel = 1 the parts go in order, one at a time.
func sendParts(ctx context.Context, api *apiClient, sess *sessionJSON, src source, parallel int) error {
	var next atomic.Int64
	g, ctx := newGroup(ctx)
	for range min(parallel, sess.TotalParts) {
		g.Go(func() error {
			for n := int(next.Add(1)); n <= sess.TotalParts; n = int(next.Add(1)) {
				if err := api.putPart(ctx, sess, src, n); err != nil {
					return err
				}
			}
			return nil
		})
	}
	return g.Wait()
}

// referenceUpload streams src to the reference in one request.
func referenceUpload(ctx context.Context, api *apiClient, src source) error {
	body, err := src.data.section(src.offset, src.size)
	if err != nil {
		return err
	}
	return api.referenceStore(ctx, body, src.size, src.sha256)
}
