// Package sinktest is the behaviour suite every ingest.Sink passes: each implementation's tests
// call Run with a function that opens the sink against a real downstream (a file, an embedded NATS
// server, an HTTP test server) and reads back what that downstream received.
package sinktest

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/ingest-portal/ingest"
)

// Harness is one sink under test and its downstream.
type Harness struct {
	Sink ingest.Sink
	// Source is the CloudEvents source the sink was opened with.
	Source string
	// Received returns every CloudEvent the downstream has received so far, in any order.
	Received func(t *testing.T) []ingest.CloudEvent
	// Deduplicates says the downstream keeps one copy of an event that is sent twice (JetStream
	// does, by Nats-Msg-Id); otherwise a second copy is allowed, and the consumer deduplicates.
	Deduplicates bool
}

// Run runs the suite. open is called once per subtest and must return a fresh sink whose
// downstream has received nothing yet; the suite closes the sink.
func Run(t *testing.T, open func(t *testing.T) Harness) {
	t.Run("delivers each event as a CloudEvent", func(t *testing.T) {
		h := open(t)
		defer h.Sink.Close()
		events := []*ingest.OutboxEvent{Event(1), Event(2), Event(3)}
		mustSend(t, h.Sink, events...)
		assertReceived(t, h, events, 1)
	})

	t.Run("returns one result per event in order", func(t *testing.T) {
		h := open(t)
		defer h.Sink.Close()
		bad := Event(2)
		bad.Payload = json.RawMessage(`{"not json`)
		events := []*ingest.OutboxEvent{Event(1), bad, Event(3)}
		errs := h.Sink.Send(context.Background(), events)
		if len(errs) != len(events) {
			t.Fatalf("Send returned %d results for %d events", len(errs), len(events))
		}
		if errs[0] != nil || errs[2] != nil {
			t.Errorf("the good events failed: %v, %v", errs[0], errs[2])
		}
		if d := ingest.AsDeliveryError(errs[1]); d == nil || !d.Permanent {
			t.Errorf("an event that cannot be encoded: got %v, want a permanent *DeliveryError", errs[1])
		}
		assertReceived(t, h, []*ingest.OutboxEvent{events[0], events[2]}, 1)
	})

	t.Run("an empty batch has no results", func(t *testing.T) {
		h := open(t)
		defer h.Sink.Close()
		if errs := h.Sink.Send(context.Background(), nil); len(errs) != 0 {
			t.Errorf("Send(nil) = %v, want no results", errs)
		}
	})

	t.Run("sending an event again is no error", func(t *testing.T) {
		h := open(t)
		defer h.Sink.Close()
		e := Event(1)
		mustSend(t, h.Sink, e)
		mustSend(t, h.Sink, e)
		copies := 2
		if h.Deduplicates {
			copies = 1
		}
		assertReceived(t, h, []*ingest.OutboxEvent{e}, copies)
	})

	t.Run("concurrent sends all arrive", func(t *testing.T) {
		h := open(t)
		defer h.Sink.Close()
		const senders, perBatch = 4, 5
		var all []*ingest.OutboxEvent
		batches := make([][]*ingest.OutboxEvent, senders)
		for i := range batches {
			for j := range perBatch {
				batches[i] = append(batches[i], Event(i*perBatch+j))
			}
			all = append(all, batches[i]...)
		}
		var wg sync.WaitGroup
		for _, batch := range batches {
			wg.Go(func() {
				for i, err := range h.Sink.Send(context.Background(), batch) {
					if err != nil {
						t.Errorf("Send: event %d: %v", i, err)
					}
				}
			})
		}
		wg.Wait()
		assertReceived(t, h, all, 1)
	})

	t.Run("a cancelled context fails every event", func(t *testing.T) {
		h := open(t)
		defer h.Sink.Close()
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		for i, err := range h.Sink.Send(ctx, []*ingest.OutboxEvent{Event(1), Event(2)}) {
			if err == nil {
				t.Errorf("event %d: delivered with a cancelled context", i)
			}
		}
	})

	t.Run("close", func(t *testing.T) {
		h := open(t)
		if got := h.Sink.Name(); got == "" {
			t.Error("Name() is empty")
		}
		if err := h.Sink.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		for i, err := range h.Sink.Send(context.Background(), []*ingest.OutboxEvent{Event(1)}) {
			if err == nil {
				t.Errorf("event %d: delivered by a closed sink", i)
			}
		}
	})
}

// Benchmark sends batches of 500 new events, the size of a relay's batch, through sink, reports
// events/s, and closes the sink.
func Benchmark(b *testing.B, sink ingest.Sink) {
	defer sink.Close()
	const batch = 500
	events := make([]*ingest.OutboxEvent, batch)
	for b.Loop() {
		b.StopTimer()
		for i := range events {
			events[i] = Event(i)
		}
		b.StartTimer()
		for _, err := range sink.Send(context.Background(), events) {
			if err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "events/s")
}

// Event returns a file.stored event of a new file, numbered n in its original filename, as the
// store would hand it to a relay.
func Event(n int) *ingest.OutboxEvent {
	fileID, userID := uuid.Must(uuid.NewV7()), uuid.Must(uuid.NewV7())
	created := time.Now().UTC().Truncate(time.Microsecond)
	payload, err := json.Marshal(ingest.FileStoredData{
		FileID:           fileID,
		SHA256:           "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
		ContentType:      "text/plain",
		OriginalFilename: fmt.Sprintf("file-%d.txt", n),
		StorageBackend:   ingest.StorageLocal,
		StorageKey:       "2026/12/04/" + fileID.String(),
		UploadedByID:     userID,
		StoredAt:         created,
	})
	if err != nil {
		panic(err) // a FileStoredData always encodes
	}
	return &ingest.OutboxEvent{
		ID:             uuid.Must(uuid.NewV7()),
		CreatedAt:      created,
		UpdatedAt:      created,
		EventType:      ingest.EventFileStored,
		EventID:        uuid.Must(uuid.NewV7()),
		IdempotencyKey: fileID.String(),
		Payload:        payload,
		Status:         ingest.OutboxSending,
		AttemptCount:   1,
		FileID:         fileID,
	}
}

// Decode returns the CloudEvents of messages a downstream holds, each one a CloudEvent in
// structured JSON mode: what a Harness's Received reads back from a stream or a topic.
func Decode(t *testing.T, messages ...[]byte) []ingest.CloudEvent {
	t.Helper()
	got := make([]ingest.CloudEvent, len(messages))
	for i, m := range messages {
		if err := json.Unmarshal(m, &got[i]); err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
	}
	return got
}

// mustSend sends events and fails the test unless every one is delivered.
func mustSend(t *testing.T, sink ingest.Sink, events ...*ingest.OutboxEvent) {
	t.Helper()
	errs := sink.Send(context.Background(), events)
	if len(errs) != len(events) {
		t.Fatalf("Send returned %d results for %d events", len(errs), len(events))
	}
	for i, err := range errs {
		if err != nil {
			t.Fatalf("Send: event %d: %v", i, err)
		}
	}
}

// assertReceived fails the test unless the downstream received exactly the given events, each
// the given number of times, with the CloudEvent fields DESIGN.md §2 names.
func assertReceived(t *testing.T, h Harness, events []*ingest.OutboxEvent, copies int) {
	t.Helper()
	got := map[string][]ingest.CloudEvent{}
	for _, ce := range h.Received(t) {
		got[ce.ID] = append(got[ce.ID], ce)
	}
	if len(got) != len(events) {
		t.Errorf("the downstream received %d distinct events, want %d", len(got), len(events))
	}
	for _, e := range events {
		received := got[e.EventID.String()]
		if len(received) != copies {
			t.Errorf("event %s received %d times, want %d", e.EventID, len(received), copies)
			continue
		}
		for _, ce := range received {
			assertCloudEvent(t, ce, e, h.Source)
		}
	}
}

// assertCloudEvent fails the test unless ce is e as a CloudEvent from source.
func assertCloudEvent(t *testing.T, ce ingest.CloudEvent, e *ingest.OutboxEvent, source string) {
	t.Helper()
	want := ingest.NewCloudEvent(e, source)
	if ce.SpecVersion != "1.0" || ce.Source != source || ce.Type != "ingest.file.stored" ||
		ce.Subject != e.FileID.String() || ce.DataContentType != "application/json" || !ce.Time.Equal(want.Time) {
		t.Errorf("event %s: got %+v, want %+v", e.EventID, ce, want)
	}
	var gotData, wantData any
	if err := json.Unmarshal(ce.Data, &gotData); err != nil {
		t.Errorf("event %s: data %q: %v", e.EventID, ce.Data, err)
	}
	if err := json.Unmarshal(e.Payload, &wantData); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(gotData, wantData) {
		t.Errorf("event %s: data = %s, want %s", e.EventID, ce.Data, e.Payload)
	}
}
