package tus_test

import (
	"io"
	"net/http"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ingest-portal/ingest/tus"
)

// trickle is a body that gives step bytes of data every every.
type trickle struct {
	data  []byte
	step  int
	every time.Duration
	sent  atomic.Int64
}

func (b *trickle) Read(p []byte) (int, error) {
	at := int(b.sent.Load())
	if at >= len(b.data) {
		return 0, io.EOF
	}
	time.Sleep(b.every)
	n := copy(p[:min(len(p), b.step)], b.data[at:])
	b.sent.Add(int64(n))
	return n, nil
}

// TestATricklingPatchIsCut: a PATCH that brings less than the minimum rate over a window is cut
// (what was made durable of it counts, as for any PATCH cut short) and the upload resumes from
// its offset; a PATCH above the rate is not cut.
func TestATricklingPatchIsCut(t *testing.T) {
	t.Parallel()
	for _, b := range []backend{{"sqlite", "local"}, {"postgres", "local"}} {
		t.Run(b.String(), func(t *testing.T) {
			t.Parallel()
			// 8 KiB/s over 1 s windows, so that a client goroutine a loaded machine starves for a
			// few hundred milliseconds is not taken for a slow client.
			p := newPortal(t, b, options{minRate: 8 << 10, rateWindow: time.Second})
			data := make([]byte, 48<<10)
			for i := range data {
				data[i] = byte(i * 7)
			}
			path := p.Create(p.Alice, int64(len(data)))

			// 100 bytes every 50 ms (2 KB/s): the whole body would take 25 s.
			slow := &trickle{data: data, step: 100, every: 50 * time.Millisecond}
			req, err := http.NewRequest("PATCH", p.URL+path, slow)
			if err != nil {
				t.Fatal(err)
			}
			req.ContentLength = int64(len(data))
			for k, v := range map[string]string{"Tus-Resumable": tus.Version, "Authorization": "Bearer " + p.Alice,
				"Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"} {
				req.Header.Set(k, v)
			}
			if resp, err := http.DefaultClient.Do(req); err == nil {
				resp.Body.Close()
			}
			if sent := slow.sent.Load(); sent >= int64(len(data)) {
				t.Fatalf("the trickling PATCH was read whole")
			}
			// What was made durable of it counts, as for any PATCH cut short; the rest resumes.
			offset := p.Do("HEAD", path, p.Alice, nil).Offset()
			if offset < 0 || offset >= int64(len(data)) {
				t.Fatalf("after the cut PATCH: offset %d, want in [0, %d)", offset, len(data))
			}
			// 2 KiB every 50 ms: five times the rate.
			steady := &trickle{data: data[offset:], step: 2 << 10, every: 50 * time.Millisecond}
			r := p.Do("PATCH", path, p.Alice, steady, "Upload-Offset", strconv.FormatInt(offset, 10),
				"Content-Type", "application/offset+octet-stream")
			if r.Status != http.StatusNoContent || r.Offset() != int64(len(data)) {
				t.Fatalf("a PATCH above the rate: %d, offset %d; want 204 at %d", r.Status, r.Offset(), len(data))
			}
		})
	}
}
