package relay

import (
	"context"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ingest-portal/ingest"
)

// metrics are the relay's Prometheus metrics, labelled with the sink's name.
type metrics struct {
	claimed prometheus.Counter
	results *prometheus.CounterVec
	latency prometheus.Observer
}

// newMetrics registers the relay's metrics with reg (none when reg is nil). The outbox's gauges
// are read from the store at scrape time.
func newMetrics(reg prometheus.Registerer, store ingest.OutboxOps, sink string, now func() time.Time) (*metrics, error) {
	labels := prometheus.Labels{"sink": sink}
	claimed := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "ingest_relay_claimed_total", Help: "Outbox events claimed for delivery.", ConstLabels: labels,
	})
	results := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "ingest_relay_results_total",
		Help: "Delivery results by outcome: delivered, retried, failed_permanent, failed_exhausted, " +
			"failed_disabled, lease_lost (recorded too late: the event was claimed again).",
		ConstLabels: labels,
	}, []string{"outcome"})
	latency := prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:        "ingest_relay_delivery_latency_seconds",
		Help:        "From the event's commit (the file stored) to its delivery being recorded.",
		ConstLabels: labels,
		Buckets:     []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, 3600},
	})
	m := &metrics{claimed: claimed, results: results, latency: latency}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{claimed, results, latency, newOutboxCollector(store, now)} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *metrics) result(outcome string) { m.results.WithLabelValues(outcome).Inc() }

// outboxCollector reports the outbox's undelivered rows by status and the age of its oldest due
// event, read from the store's partial indexes at most once per statsTTL however often it is
// scraped.
type outboxCollector struct {
	store  ingest.OutboxOps
	now    func() time.Time
	rows   *prometheus.Desc
	oldest *prometheus.Desc

	mu    sync.Mutex
	at    time.Time
	stats ingest.OutboxStats
	err   error
}

// statsTTL is how long the outbox's gauges are reused between scrapes.
const statsTTL = 5 * time.Second

func newOutboxCollector(store ingest.OutboxOps, now func() time.Time) *outboxCollector {
	return &outboxCollector{
		store: store, now: now,
		rows: prometheus.NewDesc("ingest_outbox_events",
			"Outbox events not yet delivered, by status (PENDING, SENDING, FAILED); delivered ones are counted by ingest_relay_results_total.",
			[]string{"status"}, nil),
		oldest: prometheus.NewDesc("ingest_outbox_oldest_due_age_seconds",
			"How long the oldest due event (PENDING, or SENDING past its lease) has been due; 0 when none is.", nil, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *outboxCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.rows
	ch <- c.oldest
}

// Collect implements prometheus.Collector.
func (c *outboxCollector) Collect(ch chan<- prometheus.Metric) {
	stats, err := c.read()
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.rows, err)
		return
	}
	for _, st := range []ingest.OutboxStatus{ingest.OutboxPending, ingest.OutboxSending, ingest.OutboxFailed} {
		ch <- prometheus.MustNewConstMetric(c.rows, prometheus.GaugeValue, float64(stats.Counts[st]), string(st))
	}
	age := 0.0
	if !stats.OldestDueAt.IsZero() {
		age = max(0, c.now().Sub(stats.OldestDueAt).Seconds())
	}
	ch <- prometheus.MustNewConstMetric(c.oldest, prometheus.GaugeValue, age)
}

func (c *outboxCollector) read() (ingest.OutboxStats, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if now := time.Now(); c.at.IsZero() || now.Sub(c.at) >= statsTTL {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		c.stats, c.err = c.store.OutboxStats(ctx)
		c.at = now
	}
	return c.stats, c.err
}
