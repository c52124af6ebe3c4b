package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/urfave/cli/v3"

	"github.com/ingest-portal/ingest"
	"github.com/ingest-portal/ingest/internal/testkit/kafkatest"
	"github.com/ingest-portal/ingest/internal/testkit/natstest"
	filesink "github.com/ingest-portal/ingest/sink/file"
	kafkasink "github.com/ingest-portal/ingest/sink/kafka"
	natssink "github.com/ingest-portal/ingest/sink/nats"
	"github.com/ingest-portal/ingest/sink/webhook"
	"github.com/ingest-portal/ingest/sinktest"
)

// openSinkWith runs a command that has the sink and database flags with args and returns what
// openSink made of them. The sink is closed when the test ends.
func openSinkWith(t *testing.T, args ...string) (ingest.Sink, error) {
	t.Helper()
	return openSinkWithEnv(t, "", args...)
}

// openSinkWithEnv is openSinkWith with INGEST_WEBHOOK_SECRET set to secrets, unless empty.
func openSinkWithEnv(t *testing.T, secrets string, args ...string) (ingest.Sink, error) {
	t.Helper()
	for _, key := range []string{"INGEST_EVENTS_SINK", "INGEST_EVENT_SOURCE", "INGEST_WEBHOOK_SECRET"} {
		t.Setenv(key, "")
		os.Unsetenv(key)
	}
	if secrets != "" {
		t.Setenv("INGEST_WEBHOOK_SECRET", secrets)
	}
	var sink ingest.Sink
	cmd := &cli.Command{
		Name:  "sinktest",
		Flags: append(databaseFlags(), sinkFlags()...),
		Action: func(ctx context.Context, cmd *cli.Command) error {
			flusher, err := newFlusher(cmd)
			if err != nil {
				return err
			}
			sink, err = openSink(ctx, sinkConfigFrom(cmd), flusher)
			return err
		},
	}
	err := cmd.Run(context.Background(), append([]string{"sinktest"}, args...))
	if sink != nil {
		t.Cleanup(func() { sink.Close() })
	}
	return sink, err
}

func TestOpenSinkDefaultsToEventsJSONLInTheDataDir(t *testing.T) {
	unsetIngestEnv(t)
	dir := filepath.Join(t.TempDir(), "data")
	sink, err := openSinkWith(t, "--data-dir", dir)
	if err != nil {
		t.Fatal(err)
	}
	fs, ok := sink.(*filesink.Sink)
	if !ok {
		t.Fatalf("sink is a %T, want a file sink", sink)
	}
	if got, want := fs.Path(), filepath.Join(dir, "events.jsonl"); got != want {
		t.Errorf("path = %q, want %q", got, want)
	}
	assertFile(t, filepath.Join(dir, "events.jsonl"))
}

func TestOpenSinkFileURL(t *testing.T) {
	unsetIngestEnv(t)
	path := filepath.Join(t.TempDir(), "out", "e.jsonl")
	sink, err := openSinkWith(t, "--events-sink", "file://"+path)
	if err != nil {
		t.Fatal(err)
	}
	if got := sink.(*filesink.Sink).Path(); got != path {
		t.Errorf("path = %q, want %q", got, path)
	}
}

func TestOpenSinkNATSURL(t *testing.T) {
	unsetIngestEnv(t)
	srv := natstest.Start(t)
	sink, err := openSinkWith(t, "--events-sink", srv.URL+"?stream=CLI&subject=cli.events", "--event-source", "/cli")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := sink.(*natssink.Sink); !ok {
		t.Fatalf("sink is a %T, want a NATS sink", sink)
	}
	if err := sink.Send(context.Background(), []*ingest.OutboxEvent{sinktest.Event(1)})[0]; err != nil {
		t.Errorf("Send: %v", err)
	}
}

func TestOpenSinkKafkaURL(t *testing.T) {
	unsetIngestEnv(t)
	cluster := kafkatest.Start(t, "cli-events")
	sink, err := openSinkWith(t, "--events-sink", "kafka://"+cluster.Addr+"/cli-events", "--event-source", "/cli")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := sink.(*kafkasink.Sink); !ok {
		t.Fatalf("sink is a %T, want a Kafka sink", sink)
	}
	if err := sink.Send(context.Background(), []*ingest.OutboxEvent{sinktest.Event(1)})[0]; err != nil {
		t.Errorf("Send: %v", err)
	}
	if got := len(cluster.Records(t, "cli-events")); got != 1 {
		t.Errorf("the topic holds %d records, want 1", got)
	}
}

func TestOpenSinkWebhookURLSignsWithEverySecret(t *testing.T) {
	unsetIngestEnv(t)
	var got http.Header
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got = r.Header.Clone() }))
	t.Cleanup(srv.Close)
	for name, tc := range map[string]struct {
		env  string
		args []string
	}{
		"flags":       {"", []string{"--events-sink", srv.URL, "--webhook-secret", "first", "--webhook-secret", "second"}},
		"environment": {"first,second", []string{"--events-sink", srv.URL}},
	} {
		t.Run(name, func(t *testing.T) {
			sink, err := openSinkWithEnv(t, tc.env, tc.args...)
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := sink.(*webhook.Sink); !ok {
				t.Fatalf("sink is a %T, want a webhook sink", sink)
			}
			if err := sink.Send(context.Background(), []*ingest.OutboxEvent{sinktest.Event(1)})[0]; err != nil {
				t.Fatalf("Send: %v", err)
			}
			if sigs := strings.Fields(got.Get("webhook-signature")); len(sigs) != 2 {
				t.Errorf("webhook-signature = %q, want two signatures", got.Get("webhook-signature"))
			}
		})
	}
}

func TestOpenSinkWebhookNeedsASecret(t *testing.T) {
	unsetIngestEnv(t)
	_, err := openSinkWith(t, "--events-sink", "https://example.com/hook")
	if ingest.ErrorCode(err) != ingest.EValidation || !strings.Contains(ingest.ErrorMessage(err), "--webhook-secret") {
		t.Errorf("openSink = %v, want VALIDATION_FAILED naming --webhook-secret", err)
	}
}

func TestOpenSinkRefusesABadURL(t *testing.T) {
	unsetIngestEnv(t)
	for _, raw := range []string{"ftp://example.com/x", "events.jsonl", "file://", "amqp://user:hunter2@host/", "nats://user:hunter2@host:4222?stream=", "kafka://user:hunter2@host:9092/t?sasl=kerberos", "http://"} {
		t.Run(raw, func(t *testing.T) {
			_, err := openSinkWith(t, "--events-sink", raw)
			if ingest.ErrorCode(err) != ingest.EValidation {
				t.Fatalf("openSink(%q) = %v, want VALIDATION_FAILED", raw, err)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("the error shows the password: %v", err)
			}
		})
	}
}
