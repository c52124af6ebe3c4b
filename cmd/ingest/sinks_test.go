package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/urfave/cli/v3"

	"github.com/ingest-portal/ingest"
	filesink "github.com/ingest-portal/ingest/sink/file"
)

// openSinkWith runs a command that has the sink and database flags with args and returns what
// openSink made of them. The sink is closed when the test ends.
func openSinkWith(t *testing.T, args ...string) (ingest.Sink, error) {
	t.Helper()
	for _, key := range []string{"INGEST_EVENTS_SINK", "INGEST_EVENT_SOURCE", "INGEST_WEBHOOK_SECRET"} {
		t.Setenv(key, "")
		os.Unsetenv(key)
	}
	var sink ingest.Sink
	cmd := &cli.Command{
		Name:  "sinktest",
		Flags: append(databaseFlags(), sinkFlags()...),
		Action: func(ctx context.Context, cmd *cli.Command) error {
			var err error
			sink, err = openSink(ctx, cmd)
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

func TestOpenSinkRefusesABadURL(t *testing.T) {
	unsetIngestEnv(t)
	for _, raw := range []string{"ftp://example.com/x", "events.jsonl", "file://", "amqp://user:hunter2@host/"} {
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
