package httpapi_test

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ingest-portal/ingest/internal/testkit/syncbuf"
	"github.com/ingest-portal/ingest/internal/testkit/testdb"
)

// sendSteadily sends a part's body in pieces of step bytes, one every every, and returns the
// status of the answer and how many bytes of the body were sent when it came (or the connection
// ended).
func sendSteadily(t *testing.T, p *portal, token, path string, data []byte, step int, every time.Duration) (int, int) {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(p.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "PUT %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Length: %d\r\nConnection: close\r\n\r\n", path, token, len(data))
	answered := make(chan int, 1)
	go func() {
		// A safety bound, not an assertion: the answers come within a second or two.
		_ = conn.SetReadDeadline(time.Now().Add(60 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			answered <- 0 // the server hung up without an answer
			return
		}
		resp.Body.Close()
		answered <- resp.StatusCode
	}()
	sent := 0
	tick := time.NewTicker(every)
	defer tick.Stop()
	for sent < len(data) {
		select {
		case status := <-answered:
			return status, sent
		case <-tick.C:
		}
		n, err := conn.Write(data[sent:min(sent+step, len(data))])
		sent += n
		if err != nil {
			break
		}
	}
	return <-answered, sent
}

// TestATricklingPartIsCutAndStaysRetryable: only an idle deadline applied, so a byte now and then
// held a part (and its lock) forever. A body that brings less than the minimum rate over a
// window is cut as CLIENT_CLOSED, and the part can be sent again; a body above the rate is not.
func TestATricklingPartIsCutAndStaysRetryable(t *testing.T) {
	t.Parallel()
	for _, dialect := range testdb.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			// 8 KiB/s over 1 s windows, so that a client goroutine a loaded machine starves for a
			// few hundred milliseconds is not taken for a slow client. The idle deadline is far off.
			logs := &syncbuf.Buffer{}
			p := newPortal(t, dialect, portalOptions{idleTimeout: time.Minute, minRate: 8 << 10, rateWindow: time.Second, logs: logs})
			token := p.NewUser("alice", false)
			data := randomBytes(t, 48<<10)
			id, _ := p.session(token, data, nil)
			path := "/api/v1/uploads/" + id + "/parts/1"

			// 100 bytes every 50 ms (2 KB/s): the whole body would take 25 s.
			status, sent := sendSteadily(t, p, token, path, data, 100, 50*time.Millisecond)
			if sent >= len(data) {
				t.Fatalf("the trickling body was read whole (answer %d)", status)
			}
			if status != 0 && status != 499 && status/100 != 4 {
				t.Errorf("the trickling body was answered %d", status)
			}
			for !strings.Contains(logs.String(), "code=CLIENT_CLOSED") {
				if strings.Contains(logs.String(), "level=ERROR") {
					t.Fatalf("the trickling body was logged as the portal's error:\n%s", logs)
				}
				time.Sleep(10 * time.Millisecond) // the server logs once its handler returns
			}
			// 2 KiB every 50 ms (40 KiB/s, five times the rate) over 1.2 s, more than a window.
			if status, _ := sendSteadily(t, p, token, path, data, 2<<10, 50*time.Millisecond); status != http.StatusOK {
				t.Fatalf("a body above the minimum rate: status %d, want 200", status)
			}
			p.Do("POST", "/api/v1/uploads/"+id+"/complete", token, nil).must(t, http.StatusOK)
		})
	}
}
