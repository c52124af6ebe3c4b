package relay_test

import (
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ingest-portal/ingest"
	"github.com/ingest-portal/ingest/sink/webhook"
)

// TestWebhookRetriesOnTheScheduleUntilDelivered runs the relay against a real webhook sink and
// HTTP server: a 503 puts the event back on the webhook schedule, the next attempt succeeds; a 410
// fails the event and stops the relay.
func TestWebhookRetriesOnTheScheduleUntilDelivered(t *testing.T) {
	t.Parallel()
	eachDB(t, func(t *testing.T, r *rig) {
		var answers atomic.Value
		answers.Store([]int{http.StatusServiceUnavailable, http.StatusNoContent, http.StatusGone})
		var calls atomic.Int32
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			codes := answers.Load().([]int)
			w.WriteHeader(codes[min(int(calls.Add(1))-1, len(codes)-1)])
		}))
		defer srv.Close()
		sink, err := webhook.New(srv.URL, []string{"whsec_c2VjcmV0c2VjcmV0c2VjcmV0"}, "/test", webhook.WithClock(r.clock.Now))
		if err != nil {
			t.Fatal(err)
		}
		defer sink.Close()
		rl := r.relay(sink, r.reg)

		e := r.stored()
		if err := r.poll(rl, 1); err != nil {
			t.Fatal(err)
		}
		got := r.event(e.ID)
		r.wantDueIn(got, 5*time.Second)
		if got.LastError == "" {
			t.Error("the 503 left no last_error")
		}
		r.clock.Advance(got.NextAttemptAt.Sub(r.clock.Now()))
		if err := r.poll(rl, 1); err != nil {
			t.Fatal(err)
		}
		if got := r.event(e.ID); got.Status != ingest.OutboxDelivered || got.AttemptCount != 2 {
			t.Errorf("after the 204: %s after %d attempts", got.Status, got.AttemptCount)
		}

		gone := r.stored()
		if _, err := rl.Poll(r.ctx); err == nil {
			t.Error("a 410 did not stop the relay")
		}
		if got := r.event(gone.ID); got.Status != ingest.OutboxFailed {
			t.Errorf("after the 410: %s", got.Status)
		}
		if calls.Load() != 3 || outcome(t, r.reg, "failed_disabled") != 1 {
			t.Errorf("calls %d, failed_disabled %v", calls.Load(), outcome(t, r.reg, "failed_disabled"))
		}
	})
}
