package e2e_test

// Faults of the parts the portal depends on (DESIGN.md §9, docs/durability.md "Cluster and
// faults"): NATS down then up, S3 failing and slow, PostgreSQL restarted, each under a running
// serve.

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/ingest-portal/ingest/internal/testkit/natstest"
	"github.com/ingest-portal/ingest/internal/testkit/testdb"
)

// outboxEvent is an event as "ingest outbox ls --json" prints it, the fields the tests read.
type outboxEvent struct {
	FileID       string  `json:"file_id"`
	Status       string  `json:"status"`
	AttemptCount int     `json:"attempt_count"`
	LastError    *string `json:"last_error"`
}

// outbox returns the portal's events by file id, through "ingest outbox ls --json".
func (p *portal) outbox() map[string]outboxEvent {
	p.t.Helper()
	var page struct {
		Items []outboxEvent `json:"items"`
	}
	out := p.ingest("outbox", "ls", "--json", "--limit", "1000")
	if err := json.Unmarshal([]byte(out), &page); err != nil {
		p.t.Fatalf("ingest outbox ls --json: %v\n%s", err, out)
	}
	events := map[string]outboxEvent{}
	for _, e := range page.Items {
		events[e.FileID] = e
	}
	return events
}

// storeSmall stores a small file in one request on the instance at, and returns it.
func (c *spread) storeSmall(at int, name string) sent {
	c.t.Helper()
	data := randomData(1000 + len(name))
	var file struct {
		ID     string `json:"id"`
		SHA256 string `json:"sha256"`
	}
	c.want(c.do(at, "POST", "/api/v1/files?filename="+name, data), http.StatusCreated, "store "+name, &file)
	if file.SHA256 != sha256Hex(data) {
		c.t.Fatalf("store %s: SHA-256 %s, want %s", name, file.SHA256, sha256Hex(data))
	}
	return sent{fileID: file.ID, data: data}
}

// TestNATSDownThenUpLosesNoEvent stops the NATS server under a running portal: files are still
// stored (2xx), their events wait in the outbox, never marked delivered, while the relay's
// attempts fail; once NATS is back on the same port and store, every event arrives, and the
// stream holds one message per file.
func TestNATSDownThenUpLosesNoEvent(t *testing.T) {
	t.Parallel()
	nats := natstest.Start(t)
	// An attempt lasts until its acknowledgement or the lease, a minute by default: a lease of 5s
	// lets the test see the attempts of the outage fail in seconds, and still outlasts the NATS
	// client's reconnection (every 2s), so that the attempts under way when NATS comes back
	// succeed instead of failing into the next, 16s, delay of the schedule.
	p := startPortal(t, buildIngest(t), testdb.MigratedURL(t, "postgres"), "--events-sink", natsSink(nats), "--relay-lease", "5s")
	c := newSpread(t, []*portal{p})
	files := []sent{c.storeSmall(0, "before.txt")}
	waitForEvents(t, nats, files)

	nats.Stop()
	down := time.Now()
	const during = 5
	for i := range during {
		files = append(files, c.storeSmall(0, fmt.Sprintf("during-%d.txt", i)))
	}
	// Events wait: the relay tries them, fails and records why, and delivers none.
	deadline := time.Now().Add(clusterWait)
	for failed := 0; failed == 0; {
		if time.Now().After(deadline) {
			t.Fatalf("no failed attempt recorded within %v of NATS going down\n%s", clusterWait, p.Log())
		}
		time.Sleep(100 * time.Millisecond)
		events := p.outbox()
		for _, f := range files[1:] {
			e := events[f.fileID]
			if e.Status == "DELIVERED" {
				t.Fatalf("the event of %s is DELIVERED while NATS is down: %+v", f.fileID, e)
			}
			if e.AttemptCount > 0 && e.LastError != nil {
				failed++
			}
		}
	}
	t.Logf("NATS down: %d files stored, their events waiting, the first failure recorded after %v; restarting NATS",
		during, time.Since(down).Round(time.Millisecond))

	nats.Restart(t)
	up := time.Now()
	files = append(files, c.storeSmall(0, "after.txt"))
	waitForEvents(t, nats, files)
	// The relay marks an event DELIVERED once the stream has acknowledged it: a moment later.
	for deadline := time.Now().Add(clusterWait); ; time.Sleep(100 * time.Millisecond) {
		events, waiting := p.outbox(), 0
		for _, f := range files {
			if events[f.fileID].Status != "DELIVERED" {
				waiting++
			}
		}
		if waiting == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d events in the stream are not DELIVERED in the outbox after %v", waiting, clusterWait)
		}
	}
	t.Logf("every event delivered %v after NATS came back", time.Since(up).Round(time.Millisecond))
}
