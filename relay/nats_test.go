package relay_test

import (
	"context"
	"testing"
	"time"

	"github.com/ingest-portal/ingest"
	"github.com/ingest-portal/ingest/internal/testkit/natstest"
	"github.com/ingest-portal/ingest/internal/testkit/outboxseed"
	"github.com/ingest-portal/ingest/internal/testkit/testdb"
	"github.com/ingest-portal/ingest/readmodel"
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

func TestARelayThatDiesBetweenPublishAndMarkPublishesOnce(t *testing.T) {
	t.Parallel()
	srv := natstest.Start(t)
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
			stream := "RELAY_" + dialect
			sink, err := natssink.Open(ctx, srv.URL+"?stream="+stream+"&subject=relay."+dialect, "/test")
			if err != nil {
				t.Fatal(err)
			}
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
			if got := len(srv.Messages(t, stream)); got != 1 {
				t.Fatalf("the stream holds %d messages after the first publish, want 1", got)
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
			if got := len(srv.Messages(t, stream)); got != 1 {
				t.Errorf("the stream holds %d messages after the event was published twice, want 1", got)
			}
		})
	}
}
