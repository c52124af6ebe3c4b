package kafkasink_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ingest-portal/ingest"
	"github.com/ingest-portal/ingest/internal/testkit/kafkatest"
	kafkasink "github.com/ingest-portal/ingest/sink/kafka"
	"github.com/ingest-portal/ingest/sinktest"
)

const topic = "ingest-events"

// mustOpen opens a sink on rawURL, closed when the test ends.
func mustOpen(t *testing.T, rawURL string) *kafkasink.Sink {
	t.Helper()
	s, err := kafkasink.Open(context.Background(), rawURL, "/test")
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestSink(t *testing.T) {
	sinktest.Run(t, func(t *testing.T) sinktest.Harness {
		// A cluster of its own per subtest, so each topic starts empty.
		cluster := kafkatest.Start(t, topic)
		s, err := kafkasink.Open(context.Background(), "kafka://"+cluster.Addr+"/"+topic, "/suite")
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		return sinktest.Harness{
			Sink:   s,
			Source: "/suite",
			Received: func(t *testing.T) []ingest.CloudEvent {
				var values [][]byte
				for _, r := range cluster.Records(t, topic) {
					values = append(values, r.Value)
				}
				return sinktest.Decode(t, values...)
			},
		}
	})
}

func TestARecordIsKeyedByTheEventID(t *testing.T) {
	cluster := kafkatest.Start(t, topic)
	s := mustOpen(t, "kafka://"+cluster.Addr+"/"+topic)
	e := sinktest.Event(1)
	if err := s.Send(context.Background(), []*ingest.OutboxEvent{e})[0]; err != nil {
		t.Fatal(err)
	}
	records := cluster.Records(t, topic)
	if len(records) != 1 {
		t.Fatalf("the topic holds %d records, want 1", len(records))
	}
	r := records[0]
	if string(r.Key) != e.EventID.String() {
		t.Errorf("key = %q, want the event id %s", r.Key, e.EventID)
	}
	headers := map[string]string{}
	for _, h := range r.Headers {
		headers[h.Key] = string(h.Value)
	}
	if headers[kafkasink.EventIDHeader] != e.EventID.String() || headers["content-type"] != kafkasink.ContentType {
		t.Errorf("headers = %v, want %s = the event id and content-type = %s", headers, kafkasink.EventIDHeader, kafkasink.ContentType)
	}
}

// refuse makes the cluster answer the next n produce requests with code, then take them again.
func refuse(cluster *kafkatest.Cluster, n int32, code *kerr.Error) *atomic.Int32 {
	var refused atomic.Int32
	cluster.Fake.ControlKey(kmsg.Produce.Int16(), func(req kmsg.Request) (kmsg.Response, error, bool) {
		if refused.Load() >= n {
			cluster.Fake.DropControl()
			return nil, nil, false
		}
		cluster.Fake.KeepControl()
		refused.Add(1)
		return produceAnswer(req.(*kmsg.ProduceRequest), code.Code), nil, true
	})
	return &refused
}

// produceAnswer answers every partition of req with the error code.
func produceAnswer(req *kmsg.ProduceRequest, code int16) *kmsg.ProduceResponse {
	resp := req.ResponseKind().(*kmsg.ProduceResponse)
	for _, rt := range req.Topics {
		st := kmsg.NewProduceResponseTopic()
		st.Topic = rt.Topic
		st.TopicID = rt.TopicID
		for _, rp := range rt.Partitions {
			sp := kmsg.NewProduceResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.ErrorCode = code
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}

func TestABrokerThatRefusesOnceGetsEachEventOnce(t *testing.T) {
	cluster := kafkatest.Start(t, topic)
	s := mustOpen(t, "kafka://"+cluster.Addr+"/"+topic)
	// NOT_ENOUGH_REPLICAS: the broker cannot meet acks=all until its replicas catch up.
	refused := refuse(cluster, 1, kerr.NotEnoughReplicas)
	events := []*ingest.OutboxEvent{sinktest.Event(1), sinktest.Event(2)}
	for i, err := range s.Send(context.Background(), events) {
		if err != nil {
			t.Errorf("event %d: %v", i, err)
		}
	}
	if got := refused.Load(); got != 1 {
		t.Errorf("the broker refused %d produce requests, want 1", got)
	}
	got := cluster.Records(t, topic)
	if len(got) != 2 || string(got[0].Key) != events[0].EventID.String() || string(got[1].Key) != events[1].EventID.String() {
		t.Errorf("the topic holds %d records, want each event once, in order", len(got))
	}
}

func TestARecordTheBrokerCanNeverTakeFailsForGood(t *testing.T) {
	cluster := kafkatest.Start(t, topic)
	s := mustOpen(t, "kafka://"+cluster.Addr+"/"+topic)
	refuse(cluster, 1, kerr.MessageTooLarge)
	err := s.Send(context.Background(), []*ingest.OutboxEvent{sinktest.Event(1)})[0]
	if d := ingest.AsDeliveryError(err); d == nil || !d.Permanent {
		t.Fatalf("Send = %v, want a permanent *DeliveryError", err)
	}

	// The broker takes the next one: the producer recovered from the refusal.
	e := sinktest.Event(2)
	if err := s.Send(context.Background(), []*ingest.OutboxEvent{e})[0]; err != nil {
		t.Fatalf("Send after the refusal: %v", err)
	}
	got := cluster.Records(t, topic)
	if len(got) != 1 || string(got[0].Key) != e.EventID.String() {
		t.Errorf("the topic holds %d records, want the second event only", len(got))
	}
}

func TestABrokerThatKeepsRefusingFailsTheBatchUntilItRecovers(t *testing.T) {
	cluster := kafkatest.Start(t, topic)
	s := mustOpen(t, "kafka://"+cluster.Addr+"/"+topic)
	// The broker refuses every produce request; the relay gives up on the batch at its first
	// refusal (its context ends), and the broker recovers after that.
	ctx, cancel := context.WithCancel(context.Background())
	var refusing atomic.Bool
	refusing.Store(true)
	cluster.Fake.ControlKey(kmsg.Produce.Int16(), func(req kmsg.Request) (kmsg.Response, error, bool) {
		if !refusing.Load() {
			cluster.Fake.DropControl()
			return nil, nil, false
		}
		cluster.Fake.KeepControl()
		cancel()
		return produceAnswer(req.(*kmsg.ProduceRequest), kerr.NotEnoughReplicas.Code), nil, true
	})
	e := sinktest.Event(1)
	if err := s.Send(ctx, []*ingest.OutboxEvent{e})[0]; err == nil || ingest.AsDeliveryError(err) != nil {
		t.Fatalf("Send while the broker refuses = %v, want an error to retry on the schedule", err)
	}
	refusing.Store(false)
	// The relay sends the event again on its schedule.
	if err := s.Send(context.Background(), []*ingest.OutboxEvent{e})[0]; err != nil {
		t.Fatalf("Send after the broker recovered: %v", err)
	}
	got := cluster.Records(t, topic)
	if len(got) != 1 || string(got[0].Key) != e.EventID.String() {
		t.Errorf("the topic holds %d records, want the event once", len(got))
	}
}

func TestParseURL(t *testing.T) {
	got, err := kafkasink.ParseURL("kafka://alice:pw@k1.example:9092,k2.example:9093/events?sasl=SCRAM-SHA-512&tls=true&client_id=portal")
	if err != nil || strings.Join(got.Brokers, ",") != "k1.example:9092,k2.example:9093" || got.Topic != "events" ||
		got.SASL != "scram-sha-512" || got.User != "alice" || got.Password != "pw" || !got.TLS || got.ClientID != "portal" {
		t.Errorf("ParseURL = %+v, %v", got, err)
	}
	got, err = kafkasink.ParseURL("kafka://bob:pw@localhost:9092/events")
	if err != nil || got.SASL != "plain" || got.TLS || got.ClientID != kafkasink.DefaultClientID {
		t.Errorf("ParseURL with user information = %+v, %v; want sasl=plain and the defaults", got, err)
	}
	for _, bad := range []string{
		"kafka://", "nats://h:9092/t", "kafka://h:9092", "kafka://h:9092/a/b", "kafka://h/t", "kafka://h:9092,/t",
		"kafka://h:9092/t?sasl=plain", "kafka://u:p@h:9092/t?sasl=gssapi", "kafka://h:9092/t?tls=maybe",
		"kafka://h:9092/t?bogus=1", "kafka://h:9092/t?client_id=",
	} {
		if _, err := kafkasink.ParseURL(bad); ingest.ErrorCode(err) != ingest.EValidation {
			t.Errorf("ParseURL(%q) = %v, want VALIDATION_FAILED", bad, err)
		}
	}
	_, err = kafkasink.ParseURL("kafka://u:hunter2@h:9092/t?sasl=gssapi")
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("error = %v; want one without the password", err)
	}
}

func TestOpenFailsWhenNoBrokerAnswers(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // a broker that answered would have answered the request already in flight
	_, err := kafkasink.Open(ctx, "kafka://user:secret@127.0.0.1:1/t", "")
	if err == nil {
		t.Fatal("Open succeeded without a broker")
	}
	if strings.Contains(err.Error(), "secret") {
		t.Errorf("error = %q; want one without the password", err)
	}
}

// BenchmarkSend measures a relay-sized batch produced to the in-process cluster: the sink's share
// of draining the outbox into Kafka.
func BenchmarkSend(b *testing.B) {
	cluster := kafkatest.Start(b, topic)
	s, err := kafkasink.Open(context.Background(), "kafka://"+cluster.Addr+"/"+topic, "")
	if err != nil {
		b.Fatal(err)
	}
	sinktest.Benchmark(b, s)
}
