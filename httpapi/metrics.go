package httpapi

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/ingest-portal/ingest"
)

// Metrics are the portal's Prometheus metrics; every name starts with ingest_.
type Metrics struct {
	registry    *prometheus.Registry
	requests    *prometheus.CounterVec
	duration    *prometheus.HistogramVec
	bytes       prometheus.Counter
	parts       prometheus.Counter
	completions *prometheus.CounterVec
}

// NewMetrics returns a fresh set of metrics in a registry of their own, with the Go runtime's
// and the process's metrics beside them.
func NewMetrics() *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{
		registry: reg,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ingest_http_requests_total", Help: "HTTP requests by route, method, status and error code.",
		}, []string{"route", "method", "status", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "ingest_http_request_duration_seconds",
			Help:    "HTTP request latency by route: the part route is part latency, the complete route completion latency.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}, []string{"route", "method"}),
		bytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ingest_received_bytes_total", Help: "Bytes of parts received and stored durably.",
		}),
		parts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ingest_parts_received_total", Help: "Parts received and stored durably.",
		}),
		completions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ingest_completions_total", Help: "Upload completions by result: ok, or the error code.",
		}, []string{"result"}),
	}
	reg.MustRegister(m.requests, m.duration, m.bytes, m.parts, m.completions,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// WatchActiveSessions adds the gauge ingest_active_sessions, read from count at each scrape.
func (m *Metrics) WatchActiveSessions(count func(context.Context) (int, error)) {
	m.registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "ingest_active_sessions", Help: "Upload sessions that are INIT or IN_PROGRESS.",
	}, func() float64 {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		n, err := count(ctx)
		if err != nil {
			return -1
		}
		return float64(n)
	}))
}

// Registry is where the metrics are registered, for other parts of the process to add theirs.
func (m *Metrics) Registry() *prometheus.Registry { return m.registry }

func (m *Metrics) observeRequest(route, method string, status int, code ingest.Code, elapsed time.Duration) {
	m.requests.WithLabelValues(route, method, strconv.Itoa(status), string(code)).Inc()
	m.duration.WithLabelValues(route, method).Observe(elapsed.Seconds())
}

func (m *Metrics) partReceived(size int64) {
	m.parts.Inc()
	m.bytes.Add(float64(size))
}

func (m *Metrics) completion(code ingest.Code) {
	result := "ok"
	if code != "" {
		result = string(code)
	}
	m.completions.WithLabelValues(result).Inc()
}

func (s *Server) metrics(w http.ResponseWriter, r *http.Request, _ *ingest.User) error {
	promhttp.HandlerFor(s.cfg.Metrics.registry, promhttp.HandlerOpts{}).ServeHTTP(w, r)
	return nil
}
