package relay_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ingest-portal/ingest"
	"github.com/ingest-portal/ingest/internal/testkit/outboxseed"
	"github.com/ingest-portal/ingest/internal/testkit/testdb"
	"github.com/ingest-portal/ingest/readmodel"
	"github.com/ingest-portal/ingest/relay"
	"github.com/ingest-portal/ingest/sqlstore"
	"github.com/ingest-portal/ingest/storetest"
)

// fakeSink records what it is sent and answers each event with result (nil: delivered).
type fakeSink struct {
	name   string
	result func(e *ingest.OutboxEvent) error
	// hold, when set, makes Send wait until it is closed, after saying so on holding.
	hold    chan struct{}
	holding chan struct{}

	mu      sync.Mutex
	sent    []uuid.UUID
	batches []int // the size of each Send
}

func (s *fakeSink) Name() string { return s.name }

func (s *fakeSink) Send(ctx context.Context, events []*ingest.OutboxEvent) []error {
	if s.hold != nil {
		close(s.holding)
		<-s.hold
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	errs := make([]error, len(events))
	s.batches = append(s.batches, len(events))
	for i, e := range events {
		s.sent = append(s.sent, e.ID)
		if s.result != nil {
			errs[i] = s.result(e)
		}
	}
	return errs
}

func (s *fakeSink) Close() error { return nil }

func (s *fakeSink) sends() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sent)
}

// rig is a migrated store on one database, its clock, and the relays' common configuration.
type rig struct {
	t     *testing.T
	ctx   context.Context
	store *sqlstore.Store
	clock *storetest.Clock
	owner *ingest.User
	reg   *prometheus.Registry
}

// eachDB runs test on SQLite and on PostgreSQL.
func eachDB(t *testing.T, test func(t *testing.T, r *rig)) {
	for _, dialect := range testdb.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			clock := storetest.NewClock()
			s := testdb.Store(t, dialect, sqlstore.WithClock(clock.Now))
			ctx := context.Background()
			owner, err := outboxseed.Owner(ctx, s)
			if err != nil {
				t.Fatal(err)
			}
			test(t, &rig{t: t, ctx: ctx, store: s, clock: clock, owner: owner, reg: prometheus.NewRegistry()})
		})
	}
}

// stored stores a file and returns its event.
func (r *rig) stored() *ingest.OutboxEvent {
	r.t.Helper()
	f, err := outboxseed.Store(r.ctx, r.store, r.owner, r.clock.Now())
	if err != nil {
		r.t.Fatal(err)
	}
	events, err := r.store.FindEvents(r.ctx, readmodel.ListQuery{FileID: &f.ID})
	if err != nil {
		r.t.Fatal(err)
	}
	if len(events.Items) == 0 {
		r.t.Fatalf("no event for file %s", f.ID)
	}
	return events.Items[0]
}

// testLease is the lease of the tests' relays.
const testLease = 30 * time.Second

// relayNew returns a relay of store to sink on clock, with the tests' lease.
func relayNew(store relay.Store, sink ingest.Sink, clock *storetest.Clock) (*relay.Relay, error) {
	return relay.New(store, sink, relay.Config{Now: clock.Now, Lease: testLease})
}

// relay returns a relay of the rig's store to sink, on the rig's clock, with metrics in reg.
func (r *rig) relay(sink ingest.Sink, reg prometheus.Registerer) *relay.Relay {
	r.t.Helper()
	rl, err := relay.New(r.store, sink, relay.Config{Now: r.clock.Now, Lease: testLease, Registerer: reg})
	if err != nil {
		r.t.Fatal(err)
	}
	return rl
}

func (r *rig) poll(rl *relay.Relay, want int) error {
	r.t.Helper()
	n, err := rl.Poll(r.ctx)
	if n != want {
		r.t.Fatalf("claimed %d events, want %d (%v)", n, want, err)
	}
	return err
}

func (r *rig) event(id uuid.UUID) *ingest.OutboxEvent {
	r.t.Helper()
	e, err := r.store.OutboxEvent(r.ctx, id)
	if err != nil {
		r.t.Fatal(err)
	}
	return e
}

// wantDueIn fails unless e is PENDING and due within ±10 % of d from now.
func (r *rig) wantDueIn(e *ingest.OutboxEvent, d time.Duration) {
	r.t.Helper()
	got := e.NextAttemptAt.Sub(r.clock.Now())
	lo, hi := time.Duration(float64(d)*(1-relay.Jitter)), time.Duration(float64(d)*(1+relay.Jitter))
	if e.Status != ingest.OutboxPending || got < lo || got > hi {
		r.t.Errorf("event is %s, due in %v; want PENDING, due in %v..%v", e.Status, got, lo, hi)
	}
}

// outcome reads ingest_relay_results_total for an outcome from reg.
func outcome(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != "ingest_relay_results_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "outcome" && l.GetValue() == name {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

var errRefused = errors.New("connection refused")

func TestDeliveredEventsAreMarked(t *testing.T) {
	t.Parallel()
	eachDB(t, func(t *testing.T, r *rig) {
		events := []*ingest.OutboxEvent{r.stored(), r.stored(), r.stored()}
		sink := &fakeSink{name: "file"}
		rl := r.relay(sink, r.reg)
		r.clock.Advance(250 * time.Millisecond)
		if err := r.poll(rl, 3); err != nil {
			t.Fatal(err)
		}
		for _, e := range events {
			got := r.event(e.ID)
			if got.Status != ingest.OutboxDelivered || got.AttemptCount != 1 || !got.DeliveredAt.Equal(r.clock.Now()) {
				t.Errorf("event = %s after %d attempts, delivered at %v", got.Status, got.AttemptCount, got.DeliveredAt)
			}
		}
		if got := outcome(t, r.reg, "delivered"); got != 3 {
			t.Errorf("delivered metric = %v, want 3", got)
		}
		if err := r.poll(rl, 0); err != nil || sink.sends() != 3 {
			t.Errorf("a second poll sent again: %d sends, %v", sink.sends(), err)
		}
	})
}

func TestRetryableFailuresFollowTheSchedule(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		sink   string
		delays []time.Duration // after attempts 1, 2, 3
	}{
		{"file", []time.Duration{time.Second, 16 * time.Second, 81 * time.Second}},
		{"nats", []time.Duration{time.Second, 16 * time.Second, 81 * time.Second}},
		{"webhook", []time.Duration{5 * time.Second, 5 * time.Minute, 30 * time.Minute}},
	} {
		t.Run(tc.sink, func(t *testing.T) {
			eachDB(t, func(t *testing.T, r *rig) {
				e := r.stored()
				rl := r.relay(&fakeSink{name: tc.sink, result: func(*ingest.OutboxEvent) error { return errRefused }}, nil)
				for i, d := range tc.delays {
					if err := r.poll(rl, 1); err != nil {
						t.Fatal(err)
					}
					got := r.event(e.ID)
					r.wantDueIn(got, d)
					if got.LastError != "connection refused" || got.AttemptCount != i+1 {
						t.Errorf("after attempt %d: last error %q, attempts %d", i+1, got.LastError, got.AttemptCount)
					}
					r.poll(rl, 0) // not due yet
					r.clock.Advance(got.NextAttemptAt.Sub(r.clock.Now()))
				}
			})
		})
	}
}

func TestPermanentFailuresFailAtOnce(t *testing.T) {
	t.Parallel()
	eachDB(t, func(t *testing.T, r *rig) {
		e := r.stored()
		sink := &fakeSink{name: "webhook", result: func(*ingest.OutboxEvent) error {
			return &ingest.DeliveryError{Permanent: true, Err: errors.New("webhook answered 400 Bad Request")}
		}}
		rl := r.relay(sink, r.reg)
		if err := r.poll(rl, 1); err != nil {
			t.Fatal(err)
		}
		if got := r.event(e.ID); got.Status != ingest.OutboxFailed || got.LastError != "webhook answered 400 Bad Request" {
			t.Errorf("event = %s, %q", got.Status, got.LastError)
		}
		if outcome(t, r.reg, "failed_permanent") != 1 {
			t.Error("the permanent failure was not counted")
		}
		r.stored()
		if err := r.poll(rl, 1); err != nil {
			t.Errorf("after a permanent failure the relay goes on: %v", err)
		}
	})
}

func TestADisabledSinkStopsTheRelay(t *testing.T) {
	t.Parallel()
	eachDB(t, func(t *testing.T, r *rig) {
		gone, next := r.stored(), r.stored()
		sink := &fakeSink{name: "webhook", result: func(e *ingest.OutboxEvent) error {
			if e.ID == gone.ID {
				return &ingest.DeliveryError{Disable: true, Err: errors.New("webhook answered 410 Gone")}
			}
			return nil
		}}
		rl := r.relay(sink, r.reg)
		if err := r.poll(rl, 2); !errors.Is(err, relay.ErrSinkDisabled) {
			t.Fatalf("poll = %v, want ErrSinkDisabled", err)
		}
		if got := r.event(gone.ID); got.Status != ingest.OutboxFailed || got.LastError != "webhook answered 410 Gone" {
			t.Errorf("the event answered 410 = %s, %q", got.Status, got.LastError)
		}
		if got := r.event(next.ID); got.Status != ingest.OutboxDelivered {
			t.Errorf("the event delivered in the same batch = %s", got.Status)
		}
		later := r.stored()
		if err := r.poll(rl, 0); !errors.Is(err, relay.ErrSinkDisabled) {
			t.Errorf("poll after disabling = %v", err)
		}
		ctx, cancel := context.WithTimeout(r.ctx, time.Minute)
		defer cancel()
		if err := rl.Run(ctx); !errors.Is(err, relay.ErrSinkDisabled) {
			t.Errorf("Run = %v, want ErrSinkDisabled", err)
		}
		if got := r.event(later.ID); got.Status != ingest.OutboxPending || sink.sends() != 2 {
			t.Errorf("a disabled relay sent again: %d sends, later event %s", sink.sends(), got.Status)
		}
	})
}

func TestRetryAfterIsHonoured(t *testing.T) {
	t.Parallel()
	eachDB(t, func(t *testing.T, r *rig) {
		e := r.stored()
		retryAfter := time.Hour
		rl := r.relay(&fakeSink{name: "webhook", result: func(*ingest.OutboxEvent) error {
			return &ingest.DeliveryError{RetryAfter: retryAfter, Err: errors.New("webhook answered 429")}
		}}, nil)
		if err := r.poll(rl, 1); err != nil {
			t.Fatal(err)
		}
		if got := r.event(e.ID); !got.NextAttemptAt.Equal(r.clock.Now().Add(time.Hour)) {
			t.Errorf("due in %v, want the hour the sink asked for", got.NextAttemptAt.Sub(r.clock.Now()))
		}
		// A Retry-After shorter than the schedule's delay does not shorten it.
		retryAfter = time.Second
		r.clock.Advance(time.Hour)
		if err := r.poll(rl, 1); err != nil {
			t.Fatal(err)
		}
		r.wantDueIn(r.event(e.ID), 5*time.Minute)
	})
}

// exhaust fails the event until its schedule ends, and returns how many attempts that took.
func (r *rig) exhaust(rl *relay.Relay, e *ingest.OutboxEvent) int {
	r.t.Helper()
	for attempts := 1; attempts <= 100; attempts++ {
		if err := r.poll(rl, 1); err != nil {
			r.t.Fatal(err)
		}
		got := r.event(e.ID)
		if got.Status == ingest.OutboxFailed {
			return attempts
		}
		r.clock.Advance(got.NextAttemptAt.Sub(r.clock.Now()))
	}
	r.t.Fatal("the event never failed")
	return 0
}

func TestExhaustedAttemptsFail(t *testing.T) {
	t.Parallel()
	for sink, want := range map[string]int{"webhook": 10, "nats": 25} {
		t.Run(sink, func(t *testing.T) {
			eachDB(t, func(t *testing.T, r *rig) {
				e := r.stored()
				rl := r.relay(&fakeSink{name: sink, result: func(*ingest.OutboxEvent) error { return errRefused }}, r.reg)
				if got := r.exhaust(rl, e); got != want {
					t.Errorf("failed after %d attempts, want %d", got, want)
				}
				if outcome(t, r.reg, "failed_exhausted") != 1 || outcome(t, r.reg, "retried") != float64(want-1) {
					t.Errorf("metrics: exhausted %v, retried %v", outcome(t, r.reg, "failed_exhausted"), outcome(t, r.reg, "retried"))
				}
			})
		})
	}
}

func TestAManualRetryRestartsTheSchedule(t *testing.T) {
	t.Parallel()
	eachDB(t, func(t *testing.T, r *rig) {
		e := r.stored()
		rl := r.relay(&fakeSink{name: "webhook", result: func(*ingest.OutboxEvent) error { return errRefused }}, nil)
		r.exhaust(rl, e)
		if err := r.store.RetryEvent(r.ctx, e.ID); err != nil {
			t.Fatal(err)
		}
		if err := r.poll(rl, 1); err != nil {
			t.Fatal(err)
		}
		got := r.event(e.ID)
		r.wantDueIn(got, 5*time.Second) // the schedule's first retry, not FAILED
		if got.AttemptCount != 11 {
			t.Errorf("attempts = %d, want 11: they only grow", got.AttemptCount)
		}
		r.clock.Advance(got.NextAttemptAt.Sub(r.clock.Now()))
		if n := r.exhaust(rl, e); n != 9 {
			t.Errorf("after a manual retry the event failed after %d more attempts, want 9 (10 in all)", n)
		}
	})
}

func TestAnExpiredLeaseIsClaimedAgainAndTheLateResultRefused(t *testing.T) {
	t.Parallel()
	eachDB(t, func(t *testing.T, r *rig) {
		e := r.stored()
		stuck := &fakeSink{name: "file", hold: make(chan struct{}), holding: make(chan struct{})}
		crashed := r.relay(stuck, r.reg)
		done := make(chan error, 1)
		go func() {
			_, err := crashed.Poll(r.ctx)
			done <- err
		}()
		<-stuck.holding
		r.clock.Advance(31 * time.Second) // past the 30 s lease
		healthy := &fakeSink{name: "file"}
		other := r.relay(healthy, nil)
		if err := r.poll(other, 1); err != nil {
			t.Fatal(err)
		}
		close(stuck.hold) // the stuck relay's sink answers at last: delivered, too late
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		got := r.event(e.ID)
		if got.Status != ingest.OutboxDelivered || got.AttemptCount != 2 {
			t.Errorf("event = %s after %d attempts, want DELIVERED after 2", got.Status, got.AttemptCount)
		}
		if outcome(t, r.reg, "lease_lost") != 1 || outcome(t, r.reg, "delivered") != 0 {
			t.Errorf("the stuck relay counted lease_lost %v, delivered %v; want 1 and 0",
				outcome(t, r.reg, "lease_lost"), outcome(t, r.reg, "delivered"))
		}
	})
}

func TestRunDeliversWhatIsStoredUntilStopped(t *testing.T) {
	t.Parallel()
	eachDB(t, func(t *testing.T, r *rig) {
		sink := &fakeSink{name: "file"}
		rl, err := relay.New(r.store, sink, relay.Config{})
		if err != nil {
			t.Fatal(err)
		}
		ctx, stop := context.WithCancel(r.ctx)
		ran := make(chan error, 1)
		go func() { ran <- rl.Run(ctx) }()
		e := r.stored()
		deadline := time.Now().Add(30 * time.Second)
		for r.event(e.ID).Status != ingest.OutboxDelivered {
			if time.Now().After(deadline) {
				t.Fatal("the event was not delivered within 30s")
			}
			time.Sleep(10 * time.Millisecond)
		}
		stop()
		if err := <-ran; err != nil {
			t.Errorf("Run = %v after being stopped", err)
		}
	})
}

// TestEventsCommittedWhileAWorkerLingersGoOutTogether: the first event after a quiet spell is
// claimed at once; the events committed within the linger after that claim wait for it to pass
// and go out in one batch, not one batch per commit.
func TestEventsCommittedWhileAWorkerLingersGoOutTogether(t *testing.T) {
	t.Parallel()
	eachDB(t, func(t *testing.T, r *rig) {
		sink := &fakeSink{name: "file"}
		rl, err := relay.New(r.store, sink, relay.Config{Workers: 1, Linger: relay.MaxLinger})
		if err != nil {
			t.Fatal(err)
		}
		ctx, stop := context.WithCancel(r.ctx)
		ran := make(chan error, 1)
		go func() { ran <- rl.Run(ctx) }()
		defer func() {
			stop()
			if err := <-ran; err != nil {
				t.Errorf("Run = %v after being stopped", err)
			}
		}()
		awaitSends := func(n int) {
			t.Helper()
			deadline := time.Now().Add(30 * time.Second)
			for sink.sends() < n {
				if time.Now().After(deadline) {
					t.Fatalf("%d events sent within 30s, want %d", sink.sends(), n)
				}
				time.Sleep(5 * time.Millisecond)
			}
		}
		r.stored()
		awaitSends(1)
		// The burst is stored at once, well within the worker's linger even on a loaded machine,
		// as several uploads completing together are.
		const burst = 5
		var wg sync.WaitGroup
		for range burst {
			wg.Go(func() {
				if _, err := outboxseed.Store(r.ctx, r.store, r.owner, r.clock.Now()); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		awaitSends(1 + burst)
		sink.mu.Lock()
		defer sink.mu.Unlock()
		if len(sink.batches) != 2 || sink.batches[0] != 1 || sink.batches[1] != burst {
			t.Errorf("batches sent: %v, want [1 %d]: the first event alone, the burst after it together", sink.batches, burst)
		}
	})
}

func TestConfigValidation(t *testing.T) {
	t.Parallel()
	for name, c := range map[string]relay.Config{
		"linger":    {Linger: relay.MaxLinger + 1},
		"batch":     {BatchSize: 10001},
		"lease":     {Lease: time.Millisecond},
		"workers":   {Workers: 65},
		"poll":      {PollInterval: -time.Second},
		"retention": {Retention: -time.Hour},
	} {
		if _, err := relay.New(nil, &fakeSink{name: "file"}, c); ingest.ErrorCode(err) != ingest.EValidation {
			t.Errorf("%s: New = %v, want VALIDATION_FAILED", name, err)
		}
	}
}

func TestLastErrorIsBoundedAndHidesCredentials(t *testing.T) {
	t.Parallel()
	long := errors.New("publish to nats://app:s3cret@nats.internal:4222 failed:\n" + strings.Repeat("é", 400))
	got := relay.LastError(long)
	if strings.Contains(got, "s3cret") || strings.Contains(got, "\n") || len(got) > 504 {
		t.Errorf("last error = %q (%d bytes)", got, len(got))
	}
	if !strings.HasPrefix(got, "publish to nats://REDACTED@nats.internal:4222 failed: éé") {
		t.Errorf("last error = %q", got[:60])
	}
}

func TestAWebhookRelayClaimsSmallerBatches(t *testing.T) {
	t.Parallel()
	eachDB(t, func(t *testing.T, r *rig) {
		for range relay.WebhookBatchSize + 4 {
			r.stored()
		}
		if err := r.poll(r.relay(&fakeSink{name: "webhook"}, nil), relay.WebhookBatchSize); err != nil {
			t.Fatal(err)
		}
		if err := r.poll(r.relay(&fakeSink{name: "file"}, nil), 4); err != nil {
			t.Fatal(err)
		}
	})
}

func TestDeliveredEventsPastTheRetentionAreDeleted(t *testing.T) {
	t.Parallel()
	eachDB(t, func(t *testing.T, r *rig) {
		old := r.stored()
		rl, err := relay.New(r.store, &fakeSink{name: "file"}, relay.Config{Now: r.clock.Now, Retention: 24 * time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		r.poll(rl, 1)
		r.clock.Advance(25 * time.Hour)
		recent := r.stored()
		r.poll(rl, 1)
		if n, err := rl.DeleteExpired(r.ctx); err != nil || n != 1 {
			t.Fatalf("deleted %d, %v; want the one delivered a day ago", n, err)
		}
		if _, err := r.store.OutboxEvent(r.ctx, old.ID); ingest.ErrorCode(err) != ingest.ENotFound {
			t.Errorf("the old event: %v, want NOT_FOUND", err)
		}
		if got := r.event(recent.ID); got.Status != ingest.OutboxDelivered {
			t.Errorf("the recent event = %s", got.Status)
		}
	})
}

func TestOutboxGaugesShowTheBacklog(t *testing.T) {
	t.Parallel()
	eachDB(t, func(t *testing.T, r *rig) {
		r.stored()
		r.clock.Advance(30 * time.Second)
		r.stored()
		r.relay(&fakeSink{name: "file"}, r.reg)
		got := map[string]float64{}
		families, err := r.reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range families {
			for _, m := range f.GetMetric() {
				name := f.GetName()
				for _, l := range m.GetLabel() {
					if l.GetName() == "status" {
						name += "/" + l.GetValue()
					}
				}
				got[name] = m.GetGauge().GetValue()
			}
		}
		want := map[string]float64{"ingest_outbox_events/PENDING": 2, "ingest_outbox_events/SENDING": 0,
			"ingest_outbox_events/FAILED": 0, "ingest_outbox_oldest_due_age_seconds": 30}
		for name, v := range want {
			if got[name] != v {
				t.Errorf("%s = %v, want %v", name, got[name], v)
			}
		}
	})
}

// slowSink delivers, but only once its context ends: a send that takes the whole lease.
type slowSink struct{ fakeSink }

func (s *slowSink) Send(ctx context.Context, events []*ingest.OutboxEvent) []error {
	<-ctx.Done()
	return make([]error, len(events))
}

func TestASendThatTookTheWholeLeaseIsStillRecorded(t *testing.T) {
	t.Parallel()
	eachDB(t, func(t *testing.T, r *rig) {
		e := r.stored()
		rl, err := relay.New(r.store, &slowSink{fakeSink{name: "file"}}, relay.Config{Now: r.clock.Now, Lease: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		if err := r.poll(rl, 1); err != nil {
			t.Fatal(err)
		}
		if got := r.event(e.ID); got.Status != ingest.OutboxDelivered {
			t.Errorf("event = %s, want DELIVERED: no one claimed it since", got.Status)
		}
	})
}
