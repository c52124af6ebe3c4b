package filesink_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/ingest-portal/ingest"
	"github.com/ingest-portal/ingest/internal/durable"
	filesink "github.com/ingest-portal/ingest/sink/file"
	"github.com/ingest-portal/ingest/sinktest"
)

// TestSink runs the shared suite in each flush mode this OS has.
func TestSink(t *testing.T) {
	modes := []durable.Mode{durable.Files}
	if durable.FSSupported {
		modes = append(modes, durable.Filesystem)
	}
	for _, mode := range modes {
		t.Run(string(mode), func(t *testing.T) {
			flusher, err := durable.New(mode)
			if err != nil {
				t.Fatal(err)
			}
			sinktest.Run(t, func(t *testing.T) sinktest.Harness {
				path := filepath.Join(t.TempDir(), "events.jsonl")
				s, err := filesink.Open(path, "/suite", filesink.WithFlusher(flusher))
				if err != nil {
					t.Fatalf("Open: %v", err)
				}
				return sinktest.Harness{
					Sink:     s,
					Source:   "/suite",
					Received: func(t *testing.T) []ingest.CloudEvent { return readLines(t, path) },
				}
			})
		})
	}
}

func mustOpen(t *testing.T, path string) *filesink.Sink {
	t.Helper()
	s, err := filesink.Open(path, "/test")
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func mustSend(t *testing.T, s ingest.Sink, events ...*ingest.OutboxEvent) {
	t.Helper()
	for i, err := range s.Send(context.Background(), events) {
		if err != nil {
			t.Fatalf("Send: event %d: %v", i, err)
		}
	}
}

// readLines returns the file's lines, failing unless each is a whole CloudEvent.
func readLines(t *testing.T, path string) []ingest.CloudEvent {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(data) > 0 && data[len(data)-1] != '\n' {
		t.Fatalf("the file does not end with a newline: %q", data)
	}
	var got []ingest.CloudEvent
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		var ce ingest.CloudEvent
		if err := json.Unmarshal(sc.Bytes(), &ce); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		got = append(got, ce)
	}
	return got
}

func TestOpenCreatesTheDirectory(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a", "b", "events.jsonl")
	s := mustOpen(t, path)
	mustSend(t, s, sinktest.Event(1))
	if got := readLines(t, path); len(got) != 1 || got[0].Source != "/test" {
		t.Errorf("lines = %+v, want one event from /test", got)
	}
}

func TestATornLastLineIsCut(t *testing.T) {
	for name, reopen := range map[string]bool{
		// This sink crashed in the middle of an append; the restarted one opens the file.
		"on open": true,
		// Another process sharing the file crashed; this sink appends next.
		"before the next append": false,
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "events.jsonl")
			s := mustOpen(t, path)
			first := sinktest.Event(1)
			mustSend(t, s, first)

			f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
			if err != nil {
				t.Fatal(err)
			}
			f.WriteString(`{"specversion":"1.0","id":"torn`)
			f.Close()

			if reopen {
				s.Close()
				s = mustOpen(t, path)
			}
			second := sinktest.Event(2)
			mustSend(t, s, second)
			got := readLines(t, path)
			if len(got) != 2 || got[0].ID != first.EventID.String() || got[1].ID != second.EventID.String() {
				t.Errorf("lines = %+v, want the two acknowledged events only", got)
			}
		})
	}
}

func TestOpenCutsAFileWithoutAnyNewline(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.jsonl")
	if err := os.WriteFile(path, bytes.Repeat([]byte("x"), 100<<10), 0o600); err != nil {
		t.Fatal(err)
	}
	s := mustOpen(t, path)
	e := sinktest.Event(1)
	mustSend(t, s, e)
	if got := readLines(t, path); len(got) != 1 || got[0].ID != e.EventID.String() {
		t.Errorf("lines = %+v, want the one event", got)
	}
}

func TestOpenRefusesAnEmptyPath(t *testing.T) {
	if _, err := filesink.Open("", ""); ingest.ErrorCode(err) != ingest.EValidation {
		t.Errorf("Open(\"\") = %v, want VALIDATION_FAILED", err)
	}
}

func TestTwoSinksOnOneFileKeepEveryLine(t *testing.T) {
	// A server and an "ingest relay" on one data directory both append to events.jsonl.
	path := filepath.Join(t.TempDir(), "events.jsonl")
	sinks := []*filesink.Sink{mustOpen(t, path), mustOpen(t, path)}
	const batches, perBatch = 20, 10
	var wg sync.WaitGroup
	for _, s := range sinks {
		wg.Go(func() {
			for range batches {
				batch := make([]*ingest.OutboxEvent, perBatch)
				for i := range batch {
					batch[i] = sinktest.Event(i)
				}
				for _, err := range s.Send(context.Background(), batch) {
					if err != nil {
						t.Errorf("Send: %v", err)
					}
				}
			}
		})
	}
	wg.Wait()
	if got, want := len(readLines(t, path)), len(sinks)*batches*perBatch; got != want {
		t.Errorf("%d lines, want %d", got, want)
	}
}

// BenchmarkSend measures a relay-sized batch appended and fsynced: one fsync per batch is the
// file sink's cost.
func BenchmarkSend(b *testing.B) {
	s, err := filesink.Open(filepath.Join(b.TempDir(), "events.jsonl"), "")
	if err != nil {
		b.Fatal(err)
	}
	sinktest.Benchmark(b, s)
}
