// Package relay delivers the outbox: it claims due events in batches under a lease, hands them to
// the deployment's sink, and records each result fenced by the attempt it claimed, so that a relay
// whose lease passed cannot overwrite a newer attempt (DESIGN.md §1, §2). Delivery is at least
// once: an event is marked DELIVERED only after the sink said it is durable, and a relay that dies
// in between leaves the event to be claimed, and sent, again once the lease passes.
package relay

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ingest-portal/ingest"
)

// Store is what the relay needs of the portal's store.
type Store interface {
	ingest.OutboxStore
	ingest.OutboxOps
}

// ErrSinkDisabled is what Run returns once the sink said its endpoint is gone for good (a webhook
// answered 410): the relay stopped sending, and an operator must fix the endpoint and retry the
// FAILED events.
var ErrSinkDisabled = errors.New("the events sink is disabled: its endpoint is gone (410); fix --events-sink, restart, and retry the FAILED events")

// Config is the relay's configuration. Zero fields take the defaults of DefaultConfig.
type Config struct {
	// BatchSize is how many events one claim takes; 0 takes the sink's default (DefaultBatchSize,
	// or WebhookBatchSize for a webhook).
	BatchSize int
	// Lease is how long a claim holds its events: a relay that has not recorded a result by then
	// is presumed dead, and its events are claimed again.
	Lease time.Duration
	// PollInterval is how often the relay looks for due events when nothing woke it: the fallback
	// of the database's wake-ups, and what finds events whose retry came due.
	PollInterval time.Duration
	// Workers is how many batches the relay has in flight at once.
	Workers int
	// Linger is the least time between the starts of two claims of one worker, unless the first
	// claim filled its batch: events committed meanwhile then go out in one batch, with one claim,
	// one send and one record, instead of a batch per commit. A worker idle for longer claims at
	// once. 0 takes DefaultLinger; NoLinger (any negative value) claims at every wake-up.
	Linger time.Duration
	// Retention is how long DELIVERED events are kept; 0 keeps them forever.
	Retention time.Duration
	// RetentionInterval is how often DELIVERED events past the retention are deleted.
	RetentionInterval time.Duration
	// Schedule says when failed deliveries are tried again; nil picks the sink's (ScheduleFor).
	Schedule Schedule
	// ID names the relay in logs; "" makes one of the host name and process id.
	ID string
	// Now is the relay's clock; nil is time.Now.
	Now func() time.Time
	// Logger receives the relay's logs; nil discards them.
	Logger *slog.Logger
	// Registerer receives the relay's metrics; nil registers none.
	Registerer prometheus.Registerer
}

// The defaults of a relay.
const (
	DefaultBatchSize = 200
	// WebhookBatchSize is smaller because a webhook sink posts one event at a time (8 at once) and
	// each may take its 15 s timeout: 16 events then take 30 s, within the default lease.
	WebhookBatchSize         = 16
	DefaultLease             = time.Minute
	DefaultPollInterval      = time.Second
	DefaultWorkers           = 2
	DefaultRetention         = 7 * 24 * time.Hour
	DefaultRetentionInterval = 10 * time.Minute
	DefaultLinger            = 5 * time.Millisecond
	// NoLinger turns lingering off: a worker claims at every wake-up.
	NoLinger = time.Duration(-1)
	// MaxLinger bounds Linger: a longer wait would only delay events.
	MaxLinger = time.Second
)

// DefaultConfig returns the default configuration. Its batch size is 0: the sink's default.
func DefaultConfig() Config {
	return Config{
		Lease: DefaultLease, PollInterval: DefaultPollInterval, Workers: DefaultWorkers, Linger: DefaultLinger,
		Retention: DefaultRetention, RetentionInterval: DefaultRetentionInterval,
	}
}

// Validate returns EValidation for a configuration the relay cannot run with. Zero fields are
// valid: they take the defaults.
func (c Config) Validate() error {
	switch {
	case c.BatchSize < 0 || c.BatchSize > 10000:
		return ingest.Errorf(ingest.EValidation, "the relay's batch size must be 1 to 10000 (0: the sink's default), not %d", c.BatchSize)
	case c.Lease != 0 && c.Lease < time.Second:
		return ingest.Errorf(ingest.EValidation, "the relay's lease must be at least 1s, not %v", c.Lease)
	case c.PollInterval < 0:
		return ingest.Errorf(ingest.EValidation, "the relay's poll interval cannot be negative")
	case c.Workers < 0 || c.Workers > 64:
		return ingest.Errorf(ingest.EValidation, "the relay needs 1 to 64 workers, not %d", c.Workers)
	case c.Linger > MaxLinger:
		return ingest.Errorf(ingest.EValidation, "the relay's linger must be at most %v, not %v", MaxLinger, c.Linger)
	case c.Retention < 0:
		return ingest.Errorf(ingest.EValidation, "the outbox retention cannot be negative")
	case c.RetentionInterval < 0:
		return ingest.Errorf(ingest.EValidation, "the retention interval cannot be negative")
	}
	return nil
}

// withDefaults fills the zero fields of c.
func (c Config) withDefaults(sink ingest.Sink) Config {
	d := DefaultConfig()
	if c.BatchSize == 0 {
		c.BatchSize = DefaultBatchSize
		if sink.Name() == "webhook" {
			c.BatchSize = WebhookBatchSize
		}
	}
	if c.Lease == 0 {
		c.Lease = d.Lease
	}
	if c.PollInterval == 0 {
		c.PollInterval = d.PollInterval
	}
	if c.Workers == 0 {
		c.Workers = d.Workers
	}
	if c.Linger == 0 {
		c.Linger = d.Linger
	}
	if c.RetentionInterval == 0 {
		c.RetentionInterval = d.RetentionInterval
	}
	if c.Schedule == nil {
		c.Schedule = ScheduleFor(sink.Name())
	}
	if c.ID == "" {
		host, _ := os.Hostname()
		c.ID = fmt.Sprintf("%s-%d", host, os.Getpid())
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return c
}

// Relay delivers the outbox to one sink.
type Relay struct {
	store    Store
	sink     ingest.Sink
	cfg      Config
	log      *slog.Logger
	metrics  *metrics
	disabled atomic.Bool
}

// New returns a relay of store's events to sink. It returns EValidation for a bad configuration.
func New(store Store, sink ingest.Sink, cfg Config) (*Relay, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults(sink)
	r := &Relay{store: store, sink: sink, cfg: cfg, log: cfg.Logger.With("relay", cfg.ID, "sink", sink.Name())}
	m, err := newMetrics(cfg.Registerer, store, sink.Name(), cfg.Now)
	if err != nil {
		return nil, err
	}
	r.metrics = m
	return r, nil
}

// Run delivers events until ctx ends, then finishes the batches in flight and returns nil; or
// until the sink is disabled, returning ErrSinkDisabled. Between batches it waits for a wake-up
// from the store or the poll interval, whichever comes first.
func (r *Relay) Run(ctx context.Context) error {
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	wake, err := r.store.WatchOutbox(runCtx)
	if err != nil {
		r.log.Warn("no wake-ups from the database; polling only", "interval", r.cfg.PollInterval, "err", err)
	}
	workers := make([]chan struct{}, r.cfg.Workers)
	var wg sync.WaitGroup
	for i := range workers {
		workers[i] = make(chan struct{}, 1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.work(runCtx, workers[i], stop)
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		r.keepRetention(runCtx)
	}()
	r.log.Info("relay started", "workers", r.cfg.Workers, "batch", r.cfg.BatchSize, "lease", r.cfg.Lease)
	for running := true; running; {
		select {
		case <-wake:
			for _, w := range workers {
				signal(w)
			}
		case <-runCtx.Done():
			running = false
		}
	}
	wg.Wait()
	if r.disabled.Load() {
		return ErrSinkDisabled
	}
	r.log.Info("relay stopped")
	return nil
}

// work runs batches until ctx ends: at once again after a full batch, else after a wake-up or the
// poll interval, and never sooner than the linger after the start of its previous claim.
func (r *Relay) work(ctx context.Context, wake <-chan struct{}, stopAll func()) {
	timer := time.NewTimer(0)
	defer timer.Stop()
	var lastClaim time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-wake:
		case <-timer.C:
		}
		if !r.linger(ctx, lastClaim) {
			return
		}
		for ctx.Err() == nil {
			lastClaim = time.Now()
			n, err := r.Poll(ctx)
			if errors.Is(err, ErrSinkDisabled) {
				stopAll()
				return
			}
			if err != nil && ctx.Err() == nil {
				r.log.Error("relay batch failed", "err", err)
			}
			if err != nil || n < r.cfg.BatchSize {
				break
			}
		}
		timer.Reset(r.cfg.PollInterval)
	}
}

// linger waits until the linger has passed since lastClaim; it returns false if ctx ended first.
// It measures real time, not the configured clock: it paces the claims, it dates nothing.
func (r *Relay) linger(ctx context.Context, lastClaim time.Time) bool {
	wait := r.cfg.Linger - time.Since(lastClaim)
	if r.cfg.Linger <= 0 || wait <= 0 {
		return true
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// Poll claims one batch of due events, sends it and records the results, and returns how many
// events it claimed. A batch already claimed is finished even when ctx ends meanwhile, within its
// lease, so that a stopping relay leaves no event to wait for its lease. It returns
// ErrSinkDisabled once the sink is disabled.
func (r *Relay) Poll(ctx context.Context) (int, error) {
	if r.disabled.Load() {
		return 0, ErrSinkDisabled
	}
	events, err := r.store.ClaimEvents(ctx, r.cfg.BatchSize, r.cfg.Lease)
	if err != nil || len(events) == 0 {
		return 0, err
	}
	r.metrics.claimed.Add(float64(len(events)))
	if r.log.Enabled(ctx, slog.LevelDebug) { // a line per event is worth building only when shown
		for _, e := range events {
			r.log.Debug("claimed", "event", e.ID, "attempt", e.AttemptCount,
				"claimed_at", e.NextAttemptAt.Add(-r.cfg.Lease), "lease_until", e.NextAttemptAt)
		}
	}
	// The send may take the batch's lease, no longer: after it, another relay may claim the events
	// and send them too.
	sendCtx, cancelSend := context.WithTimeout(context.WithoutCancel(ctx), r.cfg.Lease)
	defer cancelSend()
	errs := r.sink.Send(sendCtx, events)
	// The results are recorded even when the send took the whole lease: the fence refuses them
	// only if another relay has claimed the events since.
	recordCtx, cancelRecord := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
	defer cancelRecord()
	if len(errs) != len(events) {
		err := fmt.Errorf("the %s sink returned %d results for %d events", r.sink.Name(), len(errs), len(events))
		errs = make([]error, len(events))
		for i := range errs {
			errs[i] = err
		}
	}
	var delivered []*ingest.OutboxEvent
	var failures []error
	for i, e := range events {
		if errs[i] == nil {
			delivered = append(delivered, e)
			continue
		}
		if err := r.recordFailure(recordCtx, e, errs[i]); err != nil {
			failures = append(failures, err)
		}
	}
	if err := r.recordDelivered(recordCtx, delivered); err != nil {
		failures = append(failures, err)
	}
	if r.disabled.Load() {
		return len(events), ErrSinkDisabled
	}
	return len(events), errors.Join(failures...)
}

// recordTimeout bounds the recording of one batch's results.
const recordTimeout = 30 * time.Second

// recordDelivered marks the delivered events in one transaction.
func (r *Relay) recordDelivered(ctx context.Context, events []*ingest.OutboxEvent) error {
	if len(events) == 0 {
		return nil
	}
	claims := make([]ingest.Claim, len(events))
	for i, e := range events {
		claims[i] = ingest.Claim{ID: e.ID, Attempt: e.AttemptCount}
	}
	marked, err := r.store.MarkEventsDelivered(ctx, claims)
	if err != nil {
		return fmt.Errorf("mark %d events delivered: %w", len(events), err)
	}
	now := r.cfg.Now()
	debug := r.log.Enabled(ctx, slog.LevelDebug)
	done := make(map[uuid.UUID]bool, len(marked))
	for _, id := range marked {
		done[id] = true
	}
	for _, e := range events {
		if !done[e.ID] {
			r.leaseLost(e)
			continue
		}
		r.metrics.result("delivered")
		r.metrics.latency.Observe(now.Sub(e.CreatedAt).Seconds())
		if debug {
			r.log.Debug("delivered", "event", e.ID, "attempt", e.AttemptCount)
		}
	}
	return nil
}

// recordFailure records a failed delivery: FAILED when it is permanent, disabling or the last
// attempt of the schedule, else PENDING again after the schedule's delay (with jitter), or later
// when the sink asked for a later retry.
func (r *Relay) recordFailure(ctx context.Context, e *ingest.OutboxEvent, sendErr error) error {
	reason := LastError(sendErr)
	d := ingest.AsDeliveryError(sendErr)
	outcome := ""
	var err error
	switch {
	case d != nil && d.Disable:
		outcome = "failed_disabled"
		err = r.store.MarkFailed(ctx, e.ID, e.AttemptCount, reason)
		if !r.disabled.Swap(true) {
			r.log.Error("THE EVENTS SINK IS DISABLED: the relay stops sending; fix the sink, restart, "+
				`and retry the FAILED events with "ingest outbox retry --all-failed"`, "event", e.ID, "err", reason)
		}
	case d != nil && d.Permanent:
		outcome = "failed_permanent"
		err = r.store.MarkFailed(ctx, e.ID, e.AttemptCount, reason)
	default:
		delay, again := r.cfg.Schedule.Next(e.ScheduledAttempt())
		if !again {
			outcome = "failed_exhausted"
			err = r.store.MarkFailed(ctx, e.ID, e.AttemptCount, reason)
			break
		}
		delay = jitter(delay)
		if d != nil && d.RetryAfter > delay {
			delay = d.RetryAfter
		}
		outcome = "retried"
		err = r.store.MarkRetry(ctx, e.ID, e.AttemptCount, r.cfg.Now().Add(delay), reason)
	}
	if err != nil {
		if code := ingest.ErrorCode(err); code == ingest.EConflict || code == ingest.EInvalidTransition {
			r.leaseLost(e)
			return nil
		}
		return fmt.Errorf("record the failed delivery of event %s: %w", e.ID, err)
	}
	r.metrics.result(outcome)
	level := slog.LevelWarn
	if outcome == "retried" {
		level = slog.LevelInfo
	}
	r.log.Log(ctx, level, "delivery failed", "event", e.ID, "attempt", e.AttemptCount, "outcome", outcome, "err", reason)
	return nil
}

// leaseLost counts a result that came too late: the event was claimed again after this relay's
// lease, and its result belongs to the newer attempt.
func (r *Relay) leaseLost(e *ingest.OutboxEvent) {
	r.metrics.result("lease_lost")
	r.log.Warn("the lease passed before the result was recorded; the event was claimed again",
		"event", e.ID, "attempt", e.AttemptCount)
}

// keepRetention deletes DELIVERED events past the retention now and every RetentionInterval.
func (r *Relay) keepRetention(ctx context.Context) {
	if r.cfg.Retention == 0 {
		return
	}
	ticker := time.NewTicker(r.cfg.RetentionInterval)
	defer ticker.Stop()
	for {
		if n, err := r.DeleteExpired(ctx); err != nil && ctx.Err() == nil {
			r.log.Error("outbox retention", "err", err)
		} else if n > 0 {
			r.log.Info("deleted delivered events past the retention", "events", n, "retention", r.cfg.Retention)
		}
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
	}
}

// retentionChunk is how many events one retention transaction deletes.
const retentionChunk = 1000

// DeleteExpired deletes the DELIVERED events older than the retention, a chunk per transaction,
// and returns how many it deleted.
func (r *Relay) DeleteExpired(ctx context.Context) (int, error) {
	before := r.cfg.Now().Add(-r.cfg.Retention)
	total := 0
	for {
		n, err := r.store.DeleteDeliveredEvents(ctx, before, retentionChunk)
		total += n
		if err != nil || n < retentionChunk {
			return total, err
		}
	}
}

// maxLastError bounds the error kept on an event.
const maxLastError = 500

// userinfo finds the credentials of a URL in an error message.
var userinfo = regexp.MustCompile(`(://)[^/@\s]+@`)

// LastError renders a delivery error for the event's last_error: one line, at most 500 bytes,
// with the credentials of any URL in it removed.
func LastError(err error) string {
	msg := strings.Join(strings.Fields(err.Error()), " ")
	msg = userinfo.ReplaceAllString(msg, "${1}REDACTED@")
	if len(msg) > maxLastError {
		cut := maxLastError
		for cut > 0 && !utf8.RuneStart(msg[cut]) {
			cut--
		}
		msg = msg[:cut] + "…"
	}
	return msg
}

// signal sends a wake-up unless one is already waiting.
func signal(c chan<- struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}
