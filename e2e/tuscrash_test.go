package e2e_test

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/ingest-portal/ingest/internal/testkit/testdb"
)

// crashWait bounds each wait of the crash test: for the server to record progress, and for a
// restarted server to let the upload be written again.
const crashWait = 30 * time.Second

// TestTusCrashDuringPatch kills serve with SIGKILL while a PATCH is sending a large upload's bytes,
// starts it again on the same data directory, database and address, and resumes the upload from
// the offset HEAD then answers. Nothing the server acknowledged before the crash — a PATCH's 204
// or a HEAD's offset — may be lost, and the stored file must be the one sent, byte for byte.
func TestTusCrashDuringPatch(t *testing.T) {
	t.Parallel()
	bin := buildIngest(t)
	for _, dialect := range testdb.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			p := startPortalAt(t, bin, testdb.MigratedURL(t, dialect), freeAddr(t), portalFlags...)
			c := &tusProbe{t: t, p: p, token: p.createUser("crash-test")}
			data := make([]byte, 6<<20+12345)
			_, _ = rand.Read(data) // never fails (crypto/rand)

			upload := c.create(len(data))
			// A PATCH that ends inside a part, acknowledged with its offset.
			resp := c.do("PATCH", upload, data[:2<<20+777], "Upload-Offset", "0")
			c.want(resp, http.StatusNoContent)
			acknowledged := c.offset(resp)
			if acknowledged != 2<<20+777 {
				t.Fatalf("the first PATCH was acknowledged at offset %d, want %d", acknowledged, 2<<20+777)
			}

			// The rest, fed slowly, in a PATCH that serve does not live to answer. It dies once
			// HEAD shows that some of this PATCH's bytes have been recorded.
			body, feed := io.Pipe()
			go func() {
				const piece = 16 << 10 // every 10ms, about 1.6 MB/s: seconds for the rest
				for rest := data[acknowledged:]; len(rest) > 0; {
					n := min(len(rest), piece)
					if _, err := feed.Write(rest[:n]); err != nil {
						return
					}
					rest = rest[n:]
					time.Sleep(10 * time.Millisecond)
				}
			}()
			patched := make(chan *http.Response, 1)
			go func() {
				req := c.request("PATCH", upload, body, "Upload-Offset", strconv.FormatInt(acknowledged, 10))
				req.ContentLength = int64(len(data)) - acknowledged
				resp, _ := http.DefaultClient.Do(req)
				if resp != nil {
					resp.Body.Close()
				}
				patched <- resp
			}()
			seen := acknowledged
			for deadline := time.Now().Add(crashWait); seen == acknowledged; time.Sleep(20 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatalf("HEAD answered offset %d for %v while a PATCH was sending\n%s", seen, crashWait, p.Log())
				}
				seen = c.head(upload)
			}
			time.Sleep(50 * time.Millisecond) // into the next part: bytes written, not yet recorded
			p.kill()
			_ = feed.CloseWithError(errors.New("serve was killed"))
			if resp := <-patched; resp != nil {
				t.Fatalf("the PATCH was answered %s before serve was killed: the test killed nothing mid-PATCH", resp.Status)
			}

			p.restart()
			offset := c.head(upload)
			t.Logf("acknowledged by a 204: %d; by HEAD before the kill: %d; HEAD after the restart: %d of %d", acknowledged, seen, offset, len(data))
			if offset < seen || offset > int64(len(data)) {
				t.Fatalf("after the restart HEAD answers offset %d; before the kill the server had acknowledged %d", offset, seen)
			}
			// The dead server's lease on the upload runs out (--stream-lease); until then 423.
			resp, locked := c.patchWhenFree(upload, offset, data[offset:])
			c.want(resp, http.StatusNoContent)
			t.Logf("the rest was taken after %d answers of 423", locked)
			c.checkStored(resp.Header.Get("Ingest-File-Id"), data)
		})
	}
}

// tusProbe sends the test's own tus requests, with a user's token; it is no client, only the
// requests the crash test needs, each checked by the test.
type tusProbe struct {
	t     *testing.T
	p     *portal
	token string
}

func (c *tusProbe) request(method, target string, body io.Reader, headers ...string) *http.Request {
	c.t.Helper()
	u, err := url.JoinPath(c.p.URL, target)
	if err != nil {
		c.t.Fatal(err)
	}
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Tus-Resumable", "1.0.0")
	if method == "PATCH" {
		req.Header.Set("Content-Type", "application/offset+octet-stream")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	return req
}

// do sends a request with body and returns the answer, its body read.
func (c *tusProbe) do(method, target string, body []byte, headers ...string) *http.Response {
	c.t.Helper()
	resp, err := http.DefaultClient.Do(c.request(method, target, bytes.NewReader(body), headers...))
	if err != nil {
		c.t.Fatalf("%s %s: %v\n%s", method, target, err, c.p.Log())
	}
	raw, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		c.t.Fatal(err)
	}
	resp.Body = io.NopCloser(bytes.NewReader(raw))
	return resp
}

func (c *tusProbe) want(resp *http.Response, status int) {
	c.t.Helper()
	if resp.StatusCode != status {
		raw, _ := io.ReadAll(resp.Body)
		c.t.Fatalf("%s %s: %s %s, want %d\n%s", resp.Request.Method, resp.Request.URL.Path, resp.Status, raw, status, c.p.Log())
	}
}

func (c *tusProbe) offset(resp *http.Response) int64 {
	c.t.Helper()
	n, err := strconv.ParseInt(resp.Header.Get("Upload-Offset"), 10, 64)
	if err != nil {
		c.t.Fatalf("%s %s: Upload-Offset %q", resp.Request.Method, resp.Request.URL.Path, resp.Header.Get("Upload-Offset"))
	}
	return n
}

// create creates an upload of size bytes and returns its path.
func (c *tusProbe) create(size int) string {
	c.t.Helper()
	resp := c.do("POST", "/tus/", nil, "Upload-Length", strconv.Itoa(size))
	c.want(resp, http.StatusCreated)
	return resp.Header.Get("Location")
}

func (c *tusProbe) head(upload string) int64 {
	c.t.Helper()
	resp := c.do("HEAD", upload, nil)
	c.want(resp, http.StatusOK)
	return c.offset(resp)
}

// patchWhenFree sends body at offset, again while the upload answers 423 (as tus clients do),
// and returns the last answer and how many 423s came before it.
func (c *tusProbe) patchWhenFree(upload string, offset int64, body []byte) (*http.Response, int) {
	c.t.Helper()
	deadline := time.Now().Add(crashWait)
	for locked := 0; ; locked++ {
		resp := c.do("PATCH", upload, body, "Upload-Offset", strconv.FormatInt(offset, 10))
		if resp.StatusCode != http.StatusLocked || time.Now().After(deadline) {
			return resp, locked
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// checkStored checks through the API that the file is STORED with data's SHA-256 and size, and
// that its content is data.
func (c *tusProbe) checkStored(fileID string, data []byte) {
	c.t.Helper()
	resp := c.do("GET", "/api/v1/files/"+fileID, nil)
	c.want(resp, http.StatusOK)
	var f struct {
		Status    string `json:"status"`
		SHA256    string `json:"sha256"`
		SizeBytes int    `json:"size_bytes"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&f); err != nil {
		c.t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	if f.Status != "STORED" || f.SHA256 != hex.EncodeToString(sum[:]) || f.SizeBytes != len(data) {
		c.t.Fatalf("file %s: %+v, want STORED with %d bytes of SHA-256 %x", fileID, f, len(data), sum)
	}
	resp = c.do("GET", "/api/v1/files/"+fileID+"/content", nil)
	c.want(resp, http.StatusOK)
	if got, _ := io.ReadAll(resp.Body); !bytes.Equal(got, data) {
		c.t.Fatalf("file %s holds %d bytes that differ from the %d sent", fileID, len(got), len(data))
	}
}
