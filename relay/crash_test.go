package relay_test

import (
	"context"
	"testing"
	"time"

	"github.com/ingest-portal/ingest"
	"github.com/ingest-portal/ingest/internal/testkit/kafkatest"
	"github.com/ingest-portal/ingest/internal/testkit/natstest"
	"github.com/ingest-portal/ingest/internal/testkit/outboxseed"
	"github.com/ingest-portal/ingest/internal/testkit/testdb"
	"github.com/ingest-portal/ingest/readmodel"
	kafkasink "github.com/ingest-portal/ingest/sink/kafka"
	natssink "github.com/ingest-portal/ingest/sink/nats"
	"github.com/ingest-portal/ingest/sqlstore"
	"github.com/ingest-portal/ingest/storetest"
)

// dyingSink closes its relay's store handle as soon as the sink has published: the relay dies
// between the publish and the mark, as a process killed at that instant would.
type dyingSink struct {
	ingest.Sink
	store *sqlstore.Store
}

func (s dyingSink) Send(ctx context.Context, events []*ingest.OutboxEvent) []error {
	errs := s.Sink.Send(ctx, events)
	s.store.Close()
	return errs
}

// openStore opens one more handle on the database at url, on clock.
func openStore(t *testing.T, url string, clock *storetest.Clock) *sqlstore.Store {
	t.Helper()
	s, err := sqlstore.Open(context.Background(), url, sqlstore.WithClock(clock.Now))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// downstream is a sink under a crashing relay and a count of the copies its downstream holds.
type downstream struct {
	sink   ingest.Sink
	copies func(t *testing.T) int
}

func TestARelayThatDiesBetweenPublishAndMarkPublishesOnce(t *testing.T) {
	t.Parallel()
	srv := natstest.Start(t)
	// JetStream drops the second copy: its Nats-Msg-Id is the event id.
	diesBetweenPublishAndMark(t, 1, func(t *testing.T, dialect string) downstream {
		stream := "RELAY_" + dialect
		sink, err := natssink.Open(context.Background(), srv.URL+"?stream="+stream+"&subject=relay."+dialect, "/test")
		if err != nil {
			t.Fatal(err)
		}
		return downstream{sink: sink, copies: func(t *testing.T) int { return len(srv.Messages(t, stream)) }}
	})
}

func TestARelayThatDiesBetweenProduceAndMarkProducesTwiceUnderOneKey(t *testing.T) {
	t.Parallel()
	// Kafka keeps no message ids across producers: the topic holds two records, both keyed by the
	// event id, for the consumer to deduplicate.
	diesBetweenPublishAndMark(t, 2, func(t *testing.T, dialect string) downstream {
		cluster := kafkatest.Start(t, "relay")
		sink, err := kafkasink.Open(context.Background(), "kafka://"+cluster.Addr+"/relay", "/test")
		if err != nil {
			t.Fatal(err)
		}
		return downstream{sink: sink, copies: func(t *testing.T) int {
			records := cluster.Records(t, "relay")
			for _, r := range records {
				if string(r.Key) != string(records[0].Key) {
					t.Errorf("record keys %q and %q differ; want the one event's id", r.Key, records[0].Key)
				}
			}
			return len(records)
		}}
	})
}

// diesBetweenPublishAndMark has a relay die after its sink published an event and before it
// marked it DELIVERED; another relay takes the event over once the lease has passed and delivers
// it again. The downstream then holds wantCopies copies.
func diesBetweenPublishAndMark(t *testing.T, wantCopies int, open func(t *testing.T, dialect string) downstream) {
	for _, dialect := range testdb.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			clock := storetest.NewClock()
			url := testdb.MigratedURL(t, dialect)
			survivor := openStore(t, url, clock)
			owner, err := outboxseed.Owner(ctx, survivor)
			if err != nil {
				t.Fatal(err)
			}
			file, err := outboxseed.Store(ctx, survivor, owner, clock.Now())
			if err != nil {
				t.Fatal(err)
			}
			down := open(t, dialect)
			sink := down.sink
			defer sink.Close()

			doomed := openStore(t, url, clock)
			dying, err := relayNew(doomed, dyingSink{Sink: sink, store: doomed}, clock)
			if err != nil {
				t.Fatal(err)
			}
			if n, err := dying.Poll(ctx); n != 1 || err == nil {
				t.Fatalf("the dying relay claimed %d events, err %v; want 1 and the error of its closed store", n, err)
			}
			events, err := survivor.FindEvents(ctx, readmodel.ListQuery{})
			if err != nil || len(events.Items) != 1 || events.Items[0].Status != ingest.OutboxSending || events.Items[0].FileID != file.ID {
				t.Fatalf("after the dying relay: %v, %v; want its event SENDING", events, err)
			}
			if got := down.copies(t); got != 1 {
				t.Fatalf("the downstream holds %d copies after the first publish, want 1", got)
			}

			clock.Advance(31 * time.Second) // the 30 s lease passes
			other, err := relayNew(survivor, sink, clock)
			if err != nil {
				t.Fatal(err)
			}
			if n, err := other.Poll(ctx); n != 1 || err != nil {
				t.Fatalf("the other relay claimed %d events, err %v; want 1", n, err)
			}
			got, err := survivor.OutboxEvent(ctx, events.Items[0].ID)
			if err != nil || got.Status != ingest.OutboxDelivered || got.AttemptCount != 2 {
				t.Fatalf("event = %+v, %v; want DELIVERED at attempt 2", got, err)
			}
			if got := down.copies(t); got != wantCopies {
				t.Errorf("the downstream holds %d copies after the event was published twice, want %d", got, wantCopies)
			}
		})
	}
}
