package httpapi_test

import (
	"bytes"
	"net/http"
	"sync"
	"testing"
	"time"
)

// BenchmarkSingleRequestUpload measures POST /api/v1/files of 4 KiB bodies, 16 at once, over real
// HTTP on SQLite and local storage: the portal's small-file path end to end, in one process, so
// that it can be profiled (go test -run X -bench SingleRequest -cpuprofile cpu.out ./httpapi).
func BenchmarkSingleRequestUpload(b *testing.B) {
	t := &testing.T{}
	p := newPortal(t, "sqlite", portalOptions{authCache: time.Second}) // as ingest serve runs
	token := p.NewUser("bench", false)
	body := bytes.Repeat([]byte("x"), 4<<10)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	b.SetBytes(int64(len(body)))
	b.ResetTimer()
	var wg sync.WaitGroup
	work := make(chan struct{})
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range work {
				req, _ := http.NewRequest("POST", p.URL+"/api/v1/files?filename=f.bin", bytes.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+token)
				req.Header.Set("Content-Type", "application/octet-stream")
				resp, err := client.Do(req)
				if err != nil || resp.StatusCode != http.StatusCreated {
					b.Errorf("upload: %v %v", err, resp)
					return
				}
				resp.Body.Close()
			}
		}()
	}
	for range b.N {
		work <- struct{}{}
	}
	close(work)
	wg.Wait()
}
