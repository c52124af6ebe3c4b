package natssink_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/ingest-portal/ingest"
	"github.com/ingest-portal/ingest/internal/testkit/natstest"
	natssink "github.com/ingest-portal/ingest/sink/nats"
	"github.com/ingest-portal/ingest/sinktest"
)

// mustOpen opens a sink on rawURL, closed when the test ends.
func mustOpen(t *testing.T, rawURL string) *natssink.Sink {
	t.Helper()
	s, err := natssink.Open(context.Background(), rawURL, "/test")
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestSink(t *testing.T) {
	srv := natstest.Start(t)
	n := 0
	sinktest.Run(t, func(t *testing.T) sinktest.Harness {
		// A stream of its own per subtest, so each starts empty.
		n++
		stream := "SUITE" + string(rune('A'+n))
		subject := "suite." + stream
		s, err := natssink.Open(context.Background(), srv.URL+"?stream="+stream+"&subject="+subject, "/suite")
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		return sinktest.Harness{
			Sink:   s,
			Source: "/suite",
			Received: func(t *testing.T) []ingest.CloudEvent {
				var data [][]byte
				for _, m := range srv.Messages(t, stream) {
					data = append(data, m.Data)
				}
				return sinktest.Decode(t, data...)
			},
			Deduplicates: true,
		}
	})
}

func TestAnEventSentAgainByAnotherSinkIsStoredOnce(t *testing.T) {
	srv := natstest.Start(t)
	e := sinktest.Event(1)

	// The relay published, then crashed before marking the event DELIVERED; after the restart a
	// new sink publishes the event again.
	first := mustOpen(t, srv.URL)
	for _, err := range first.Send(context.Background(), []*ingest.OutboxEvent{e, e}) {
		if err != nil {
			t.Fatal(err)
		}
	}
	first.Close()
	second := mustOpen(t, srv.URL)
	for _, err := range second.Send(context.Background(), []*ingest.OutboxEvent{e}) {
		if err != nil {
			t.Fatal(err)
		}
	}

	msgs := srv.Messages(t, natssink.DefaultStream)
	if len(msgs) != 1 {
		t.Fatalf("the stream holds %d messages, want 1", len(msgs))
	}
	if got := msgs[0].Header.Get(jetstream.MsgIDHeader); got != e.EventID.String() {
		t.Errorf("Nats-Msg-Id = %q, want the event id %s", got, e.EventID)
	}
	if got := msgs[0].Header.Get("Content-Type"); got != natssink.ContentType {
		t.Errorf("Content-Type = %q, want %q", got, natssink.ContentType)
	}
	if got := msgs[0].Subject; got != natssink.DefaultSubject {
		t.Errorf("subject = %q, want %q", got, natssink.DefaultSubject)
	}
}

func TestOpenCreatesTheStreamWithADuplicateWindow(t *testing.T) {
	srv := natstest.Start(t)
	mustOpen(t, srv.URL+"?stream=EVENTS&subject=portal.events")
	info := streamInfo(t, srv, "EVENTS")
	if info.Config.Duplicates < 10*time.Minute {
		t.Errorf("duplicate window = %s, want at least 10m", info.Config.Duplicates)
	}
	if len(info.Config.Subjects) != 1 || info.Config.Subjects[0] != "portal.events" {
		t.Errorf("subjects = %v, want [portal.events]", info.Config.Subjects)
	}

	mustOpen(t, srv.URL+"?stream=LONGER&duplicate_window=1h")
	if got := streamInfo(t, srv, "LONGER").Config.Duplicates; got != time.Hour {
		t.Errorf("duplicate window = %s, want 1h", got)
	}
}

func TestOpenUsesAnExistingStreamAsItIs(t *testing.T) {
	srv := natstest.Start(t)
	js := srv.JetStream(t)
	_, err := js.CreateStream(context.Background(), jetstream.StreamConfig{
		Name: "OPS", Subjects: []string{"ops.>"}, Duplicates: time.Hour, Storage: jetstream.MemoryStorage,
	})
	if err != nil {
		t.Fatal(err)
	}
	s := mustOpen(t, srv.URL+"?stream=OPS&subject=ops.ingest")
	if err := s.Send(context.Background(), []*ingest.OutboxEvent{sinktest.Event(1)})[0]; err != nil {
		t.Fatal(err)
	}
	info := streamInfo(t, srv, "OPS")
	if info.Config.Storage != jetstream.MemoryStorage || info.Config.Duplicates != time.Hour || info.State.Msgs != 1 {
		t.Errorf("stream = %+v %+v, want the operator's settings and one message", info.Config, info.State)
	}
}

func TestOpenRefusesASubjectAnotherStreamCaptures(t *testing.T) {
	srv := natstest.Start(t)
	js := srv.JetStream(t)
	if _, err := js.CreateStream(context.Background(), jetstream.StreamConfig{Name: "OTHER", Subjects: []string{"shared.events"}}); err != nil {
		t.Fatal(err)
	}
	// INGEST does not exist, so Open creates it for the subject; the server refuses, since
	// OTHER already captures the subject.
	if _, err := natssink.Open(context.Background(), srv.URL+"?subject=shared.events", ""); err == nil {
		t.Error("Open succeeded with a subject another stream captures")
	}
}

func TestParseURL(t *testing.T) {
	got, err := natssink.ParseURL("nats://user:pw@nats.example:4222?stream=S&subject=a.b&duplicate_window=30m")
	want := natssink.Config{Server: "nats://user:pw@nats.example:4222", Stream: "S", Subject: "a.b", DuplicateWindow: 30 * time.Minute}
	if err != nil || got != want {
		t.Errorf("ParseURL = %+v, %v; want %+v", got, err, want)
	}
	got, err = natssink.ParseURL("nats://localhost:4222")
	want = natssink.Config{Server: "nats://localhost:4222", Stream: "INGEST", Subject: "ingest.events", DuplicateWindow: 10 * time.Minute}
	if err != nil || got != want {
		t.Errorf("ParseURL = %+v, %v; want %+v", got, err, want)
	}
	for _, bad := range []string{"nats://", "http://h:4222", "nats://h:4222?stream=", "nats://h:4222?duplicate_window=-1s", "nats://h:4222?bogus=1"} {
		if _, err := natssink.ParseURL(bad); ingest.ErrorCode(err) != ingest.EValidation {
			t.Errorf("ParseURL(%q) = %v, want VALIDATION_FAILED", bad, err)
		}
	}
}

func TestOpenFailsWhenNoServerListens(t *testing.T) {
	_, err := natssink.Open(context.Background(), "nats://user:secret@127.0.0.1:1", "")
	if err == nil {
		t.Fatal("Open succeeded without a server")
	}
	if got := err.Error(); strings.Contains(got, "secret") {
		t.Errorf("error = %q; want one without the password", got)
	}
}

func streamInfo(t *testing.T, srv *natstest.Server, name string) *jetstream.StreamInfo {
	t.Helper()
	stream, err := srv.JetStream(t).Stream(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	info, err := stream.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return info
}

// BenchmarkSend measures a relay-sized batch published to an embedded JetStream server with file
// storage: the sink's share of draining the outbox into NATS.
func BenchmarkSend(b *testing.B) {
	srv := natstest.Start(b)
	s, err := natssink.Open(context.Background(), srv.URL, "")
	if err != nil {
		b.Fatal(err)
	}
	sinktest.Benchmark(b, s)
}
