package relay_test

import (
	"context"
	"encoding/json"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/ingest-portal/ingest"
	"github.com/ingest-portal/ingest/internal/testkit/natstest"
	"github.com/ingest-portal/ingest/internal/testkit/outboxseed"
	"github.com/ingest-portal/ingest/internal/testkit/testdb"
	"github.com/ingest-portal/ingest/relay"
	natssink "github.com/ingest-portal/ingest/sink/nats"
	"github.com/ingest-portal/ingest/sqlstore"
)

// benchInt reads a benchmark's size from the environment, or returns def.
func benchInt(b *testing.B, name string, def int) int {
	b.Helper()
	if v := os.Getenv(name); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			b.Fatalf("%s=%q is not a positive number", name, v)
		}
		return n
	}
	return def
}

// benchNATS starts an embedded JetStream and opens a sink on it.
func benchNATS(b *testing.B, subject string) (*natstest.Server, ingest.Sink) {
	b.Helper()
	srv := natstest.Start(b)
	sink, err := natssink.Open(context.Background(), srv.URL+"?stream=BENCH&subject="+subject, "/bench")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { sink.Close() })
	return srv, sink
}

// runRelay runs a relay of store to sink until the benchmark ends.
func runRelay(b *testing.B, store *sqlstore.Store, sink ingest.Sink, cfg relay.Config) {
	b.Helper()
	rl, err := relay.New(store, sink, cfg)
	if err != nil {
		b.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); rl.Run(ctx) }()
	b.Cleanup(func() { stop(); <-done })
}

// BenchmarkDrainPostgresToNATS drains INGEST_BENCH_EVENTS (100,000) pending events from
// PostgreSQL into an embedded NATS JetStream and reports events/s. Run it once:
//
//	go test ./relay -run '^$' -bench DrainPostgresToNATS -benchtime 1x
func BenchmarkDrainPostgresToNATS(b *testing.B) {
	n := benchInt(b, "INGEST_BENCH_EVENTS", 100000)
	for range b.N {
		b.StopTimer()
		store := testdb.Store(b, "postgres")
		if _, err := outboxseed.Bulk(context.Background(), store.DB(), n); err != nil {
			b.Fatal(err)
		}
		_, sink := benchNATS(b, "bench.drain")
		b.StartTimer()
		started := time.Now()
		runRelay(b, store, sink, relay.Config{BatchSize: 1000, Workers: 4})
		for pending(b, store) {
			time.Sleep(5 * time.Millisecond)
		}
		elapsed := time.Since(started)
		b.ReportMetric(float64(n)/elapsed.Seconds(), "events/s")
		b.Logf("drained %d events in %v", n, elapsed.Round(time.Millisecond))
	}
}

// pending reports whether any event is still to deliver.
func pending(b *testing.B, store *sqlstore.Store) bool {
	b.Helper()
	var any bool
	err := store.DB().QueryRow(`SELECT EXISTS (SELECT 1 FROM portal_event_outbox WHERE status IN ('PENDING', 'SENDING'))`).Scan(&any)
	if err != nil {
		b.Fatal(err)
	}
	return any
}

// BenchmarkSteadyLatencyPostgresToNATS stores INGEST_BENCH_RATE (200) files a second for
// INGEST_BENCH_SECONDS (10) on PostgreSQL, each in its own transaction as an upload would, with a
// relay publishing to an embedded NATS JetStream, and reports the latency from each file's store
// call returning (its commit) to its event's arrival at a NATS subscriber: p50, p99 and max in
// milliseconds.
//
//	go test ./relay -run '^$' -bench SteadyLatencyPostgresToNATS -benchtime 1x
func BenchmarkSteadyLatencyPostgresToNATS(b *testing.B) {
	rate := benchInt(b, "INGEST_BENCH_RATE", 200)
	seconds := benchInt(b, "INGEST_BENCH_SECONDS", 10)
	for range b.N {
		b.StopTimer()
		ctx := context.Background()
		store := testdb.Store(b, "postgres")
		owner, err := outboxseed.Owner(ctx, store)
		if err != nil {
			b.Fatal(err)
		}
		srv, sink := benchNATS(b, "bench.steady")
		arrivals := subscribe(b, srv.URL, "bench.steady")
		runRelay(b, store, sink, relay.Config{})
		b.StartTimer()

		total := rate * seconds
		tick := time.NewTicker(time.Second / time.Duration(rate))
		var producers sync.WaitGroup
		for range total {
			<-tick.C
			producers.Add(1)
			go func() {
				defer producers.Done()
				f, err := outboxseed.Store(ctx, store, owner, time.Now())
				if err != nil {
					b.Error(err)
					return
				}
				arrivals.stored(f.ID.String(), time.Now())
			}()
		}
		tick.Stop()
		producers.Wait()
		latencies := arrivals.wait(b, total, time.Minute)
		b.StopTimer()
		slices.Sort(latencies)
		at := func(q float64) float64 {
			return float64(latencies[min(len(latencies)-1, int(q*float64(len(latencies))))]) / float64(time.Millisecond)
		}
		b.ReportMetric(at(0.50), "p50-ms")
		b.ReportMetric(at(0.99), "p99-ms")
		b.ReportMetric(at(1), "max-ms")
		b.Logf("%d files at %d/s: stored → published p50 %.1f ms, p99 %.1f ms, max %.1f ms", total, rate, at(0.5), at(0.99), at(1))
	}
}

// arrivals records when each file was stored (its store call returned, as the upload would answer)
// and when its event first reached a NATS subscriber.
type arrivals struct {
	mu       sync.Mutex
	storedAt map[string]time.Time // by file id
	arrived  map[string]time.Time // by file id, the first arrival
	complete chan struct{}
	want     int
}

func (a *arrivals) stored(fileID string, at time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.storedAt[fileID] = at
}

// subscribe listens on subject and records the latency of each event's first arrival.
func subscribe(b *testing.B, url, subject string) *arrivals {
	b.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(nc.Close)
	a := &arrivals{storedAt: map[string]time.Time{}, arrived: map[string]time.Time{}, complete: make(chan struct{})}
	_, err = nc.Subscribe(subject, func(m *nats.Msg) {
		now := time.Now()
		var ce ingest.CloudEvent
		if err := json.Unmarshal(m.Data, &ce); err != nil {
			return
		}
		a.mu.Lock()
		defer a.mu.Unlock()
		if _, ok := a.arrived[ce.Subject]; ok {
			return
		}
		a.arrived[ce.Subject] = now
		if a.want > 0 && len(a.arrived) == a.want {
			close(a.complete)
		}
	})
	if err != nil {
		b.Fatal(err)
	}
	return a
}

// wait returns the latencies from stored to arrived once n events arrived, failing after timeout.
// An event may arrive before its store call returned (the relay was that quick): its latency is 0.
func (a *arrivals) wait(b *testing.B, n int, timeout time.Duration) []time.Duration {
	b.Helper()
	a.mu.Lock()
	a.want = n
	done := len(a.arrived) >= n
	a.mu.Unlock()
	if !done {
		select {
		case <-a.complete:
		case <-time.After(timeout):
			b.Fatalf("only %d of %d events arrived within %v", len(a.arrived), n, timeout)
		}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	latencies := make([]time.Duration, 0, n)
	for id, stored := range a.storedAt {
		latencies = append(latencies, max(0, a.arrived[id].Sub(stored)))
	}
	return latencies
}

// BenchmarkPostgresNotifyCost stores files from 16 goroutines for INGEST_BENCH_SECONDS (4) and
// reports stored files/s, twice: with the store's NOTIFY after each commit (what the portal
// does), and with a trigger that also notifies inside each inserting transaction (what the
// portal does not do, because of this figure).
//
//	go test ./relay -run '^$' -bench PostgresNotifyCost -benchtime 1x
func BenchmarkPostgresNotifyCost(b *testing.B) {
	seconds := benchInt(b, "INGEST_BENCH_SECONDS", 4)
	for _, tc := range []struct{ name, trigger string }{
		{"after-commit", ""},
		{"in-transaction", `
			CREATE FUNCTION bench_notify() RETURNS trigger LANGUAGE plpgsql AS $$
			BEGIN PERFORM pg_notify('ingest_outbox', ''); RETURN NULL; END $$;
			CREATE TRIGGER bench_notify AFTER INSERT ON portal_event_outbox
				FOR EACH STATEMENT EXECUTE FUNCTION bench_notify();`},
	} {
		b.Run(tc.name, func(b *testing.B) {
			for range b.N {
				b.StopTimer()
				ctx := context.Background()
				store := testdb.Store(b, "postgres")
				if tc.trigger != "" {
					if _, err := store.DB().Exec(tc.trigger); err != nil {
						b.Fatal(err)
					}
				}
				owner, err := outboxseed.Owner(ctx, store)
				if err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				var stored sync.WaitGroup
				counts := make([]int, 16)
				end := time.Now().Add(time.Duration(seconds) * time.Second)
				for i := range counts {
					stored.Add(1)
					go func() {
						defer stored.Done()
						for time.Now().Before(end) {
							if _, err := outboxseed.Store(ctx, store, owner, time.Now()); err != nil {
								b.Error(err)
								return
							}
							counts[i]++
						}
					}()
				}
				stored.Wait()
				total := 0
				for _, n := range counts {
					total += n
				}
				b.ReportMetric(float64(total)/float64(seconds), "files/s")
			}
		})
	}
}
