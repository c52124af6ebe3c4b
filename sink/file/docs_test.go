package filesink_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/uuid"

	"github.com/ingest-portal/ingest"
	"github.com/ingest-portal/ingest/internal/testkit/doccode"
	filesink "github.com/ingest-portal/ingest/sink/file"
)

// TestTheDocumentedLineIsWhatTheFileSinkWrites keeps the example of docs/events.md true: the event
// it shows, sent through the file sink, comes out as the same bytes.
func TestTheDocumentedLineIsWhatTheFileSinkWrites(t *testing.T) {
	blocks := doccode.Blocks(t, "../../docs/events.md", "## The event", "json")
	if len(blocks) != 1 {
		t.Fatalf("%d json blocks, want 1", len(blocks))
	}
	documented := blocks[0]
	var ce ingest.CloudEvent
	if err := json.Unmarshal([]byte(documented), &ce); err != nil {
		t.Fatal(err)
	}
	var data ingest.FileStoredData
	if err := json.Unmarshal(ce.Data, &data); err != nil {
		t.Fatal(err)
	}
	if ce.Type != "ingest.file.stored" || ce.Subject != data.FileID.String() {
		t.Errorf("the example: type %q, subject %q, data.file_id %s", ce.Type, ce.Subject, data.FileID)
	}

	e := &ingest.OutboxEvent{
		EventType: ingest.EventFileStored,
		EventID:   uuid.MustParse(ce.ID),
		CreatedAt: ce.Time,
		FileID:    uuid.MustParse(ce.Subject),
		Payload:   ce.Data,
	}
	// The default source, as a portal without --event-source has.
	path := filepath.Join(t.TempDir(), "events.jsonl")
	s, err := filesink.Open(path, "")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	mustSend(t, s, e)
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != documented {
		t.Errorf("the file sink wrote\n%s\nthe document shows\n%s", got, documented)
	}
}
