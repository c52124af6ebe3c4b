package e2e_test

// The cluster test of DESIGN.md §9: three "ingest serve" on one PostgreSQL schema, S3 on
// versitygw and events to NATS JetStream, with no sticky sessions, and one of them killed mid-run.

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ingest-portal/ingest/internal/testkit/natstest"
	"github.com/ingest-portal/ingest/internal/testkit/testdb"
	"github.com/ingest-portal/ingest/internal/testkit/versitygw"
)

// clusterWait bounds each wait of the cluster and fault tests: for one request to succeed on some
// instance, and for the events to reach the stream.
const clusterWait = time.Minute

// s3Part is the part size of the S3 tests: S3's smallest part but the last.
const s3Part = 5 << 20

// clusterFlags are the serve flags of the cluster: S3's smallest part, and short leases, so that
// the uploads and events of a killed instance are taken over soon.
var clusterFlags = []string{"--chunk-size", "5MiB", "--stream-lease", "2s", "--relay-lease", "2s"}

// s3Storage returns what serve needs in its environment to reach the gateway, and the --storage of
// a new bucket on it, reached at endpoint (the gateway's, or a proxy's in front of it).
func s3Storage(t *testing.T, gw *versitygw.Server, endpoint string) ([]string, string) {
	t.Helper()
	env := []string{"AWS_ACCESS_KEY_ID=" + gw.AccessKey, "AWS_SECRET_ACCESS_KEY=" + gw.SecretKey}
	storage := fmt.Sprintf("s3://%s/ingest?endpoint=%s&region=%s", gw.NewBucket(t), url.QueryEscape(endpoint), gw.Region)
	return env, storage
}

// natsSink is the --events-sink of a stream named INGEST on the server.
func natsSink(srv *natstest.Server) string {
	return srv.URL + "?stream=INGEST&subject=ingest.events"
}

// startInstances runs n "ingest serve" on the database at dbURL, each on an address and data
// directory of its own; the first prints the admin token.
func startInstances(t *testing.T, n int, dbURL string, env []string, args ...string) []*portal {
	t.Helper()
	bin := buildIngest(t)
	var ps []*portal
	for i := range n {
		p := &portal{t: t, bin: bin, dbURL: dbURL, dataDir: t.TempDir(), addr: freeAddr(t), args: args, extraEnv: env}
		p.launch(i == 0)
		ps = append(ps, p)
	}
	return ps
}

// spread is a client of several instances with no affinity: each request goes to the instance the
// caller names, and one that fails for want of an instance (no connection, no answer, a 5xx, 423
// while a dead instance's lease runs out) is sent again to the next instance, until clusterWait.
type spread struct {
	t       *testing.T
	urls    []string // the instances'; fixed addresses, so that a restarted instance keeps its own
	token   string
	retries atomic.Int64
}

// newSpread returns a client of the instances, with a new user's token.
func newSpread(t *testing.T, instances []*portal) *spread {
	t.Helper()
	c := &spread{t: t, token: instances[0].createUser("spread")}
	for _, p := range instances {
		c.urls = append(c.urls, p.URL)
	}
	return c
}

// answer is a response with its body read.
type answer struct {
	status int
	header http.Header
	body   []byte
}

// retryable reports whether an answer means "try another instance": the one asked could not
// serve the request now.
func retryable(status int) bool {
	return status >= 500 || status == http.StatusLocked
}

// do sends the request to instance at (mod the instances), then to the next ones while the
// answer is retryable, and returns the first other answer.
func (c *spread) do(at int, method, path string, body []byte, headers ...string) answer {
	c.t.Helper()
	deadline := time.Now().Add(clusterWait)
	for try := 0; ; try++ {
		a, err := c.once(c.urls[(at+try)%len(c.urls)], method, path, body, headers...)
		if err == nil && !retryable(a.status) {
			return a
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("%s %s: no instance answered within %v; last: %v %d %s", method, path, clusterWait, err, a.status, a.body)
		}
		c.retries.Add(1)
		time.Sleep(50 * time.Millisecond)
	}
}

// once sends one request to one instance.
func (c *spread) once(base, method, path string, body []byte, headers ...string) (answer, error) {
	req, err := http.NewRequest(method, base+path, bytes.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := (&http.Client{Timeout: clusterWait}).Do(req)
	if err != nil {
		return answer{}, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return answer{}, err
	}
	return answer{status: resp.StatusCode, header: resp.Header, body: raw}, nil
}

// want fails the test unless a has the status; it decodes a JSON body into out.
func (c *spread) want(a answer, status int, what string, out any) {
	c.t.Helper()
	if a.status != status {
		c.t.Fatalf("%s: %d %s, want %d", what, a.status, a.body, status)
	}
	if out != nil {
		if err := json.Unmarshal(a.body, out); err != nil {
			c.t.Fatalf("%s: decode %q: %v", what, a.body, err)
		}
	}
}

// sent is a file a test uploaded and had acknowledged: its id and the bytes it sent.
type sent struct {
	fileID string
	data   []byte
}

// randomData returns n random bytes.
func randomData(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return b
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// uploadInParts sends data through the native API in parts of partSize: the session created on
// instance at, part n sent to instance at+n, the completion to the instance after the last part's.
func (c *spread) uploadInParts(at int, name string, data []byte, partSize int, afterPart func()) sent {
	c.t.Helper()
	req, _ := json.Marshal(map[string]any{
		"filename": name, "size_bytes": len(data), "chunk_size_bytes": partSize, "sha256": sha256Hex(data),
	})
	var session struct {
		ID         string `json:"id"`
		FileID     string `json:"file_id"`
		TotalParts int    `json:"total_parts"`
	}
	// The key makes a creation sent again, after an instance died before answering, the same one.
	a := c.do(at, "POST", "/api/v1/uploads", req, "Idempotency-Key", name, "Content-Type", "application/json")
	if a.status != http.StatusCreated && a.status != http.StatusOK {
		c.t.Fatalf("create %s: %d %s", name, a.status, a.body)
	}
	c.want(a, a.status, "create "+name, &session)
	for n := 1; n <= session.TotalParts; n++ {
		part := data[(n-1)*partSize : min(n*partSize, len(data))]
		path := fmt.Sprintf("/api/v1/uploads/%s/parts/%d", session.ID, n)
		c.want(c.do(at+n, "PUT", path, part), http.StatusOK, "PUT "+path, nil)
		if afterPart != nil {
			afterPart()
		}
	}
	var file struct {
		ID     string `json:"id"`
		Status string `json:"status"`
		SHA256 string `json:"sha256"`
	}
	c.want(c.do(at+session.TotalParts+1, "POST", "/api/v1/uploads/"+session.ID+"/complete", nil), http.StatusOK, "complete "+name, &file)
	if file.ID != session.FileID || file.Status != "STORED" || file.SHA256 != sha256Hex(data) {
		c.t.Fatalf("complete %s: %+v, want file %s STORED with SHA-256 %s", name, file, session.FileID, sha256Hex(data))
	}
	return sent{fileID: file.ID, data: data}
}

// tusUpload sends data over tus in PATCHes of piece bytes, each to the instance after the last
// one's: the upload created on one instance is resumed on the others. A PATCH that fails is not
// trusted: the offset is asked again (HEAD, on the next instance) and sending resumes from there.
func (c *spread) tusUpload(at int, name string, data []byte, piece int, afterPatch func()) sent {
	c.t.Helper()
	meta := "filename " + base64.StdEncoding.EncodeToString([]byte(name)) +
		",sha256 " + base64.StdEncoding.EncodeToString([]byte(sha256Hex(data)))
	tus := []string{"Tus-Resumable", "1.0.0"}
	a := c.do(at, "POST", "/tus/", nil, append(tus, "Upload-Length", strconv.Itoa(len(data)), "Upload-Metadata", meta)...)
	c.want(a, http.StatusCreated, "tus create "+name, nil)
	upload := a.header.Get("Location")
	var offset int64
	fileID := ""
	deadline := time.Now().Add(clusterWait)
	for fileID == "" {
		if time.Now().After(deadline) {
			c.t.Fatalf("tus %s: not complete after %v", name, clusterWait)
		}
		at++
		end := min(int(offset)+piece, len(data))
		base := c.urls[at%len(c.urls)]
		a, err := c.once(base, "PATCH", upload, data[offset:end], append(tus,
			"Upload-Offset", strconv.FormatInt(offset, 10), "Content-Type", "application/offset+octet-stream")...)
		if err == nil && a.status == http.StatusNoContent {
			offset, _ = strconv.ParseInt(a.header.Get("Upload-Offset"), 10, 64)
			fileID = a.header.Get("Ingest-File-Id")
			if afterPatch != nil {
				afterPatch()
			}
			continue
		}
		if err == nil && !retryable(a.status) && a.status != http.StatusConflict {
			c.t.Fatalf("tus PATCH %s at %d on %s: %d %s", name, offset, base, a.status, a.body)
		}
		// No answer, 5xx, 423 (the instance that held the upload died; its lease runs out) or
		// 409 (an earlier PATCH went further than its lost answer said): ask where it stands.
		c.retries.Add(1)
		time.Sleep(50 * time.Millisecond)
		head := c.do(at+1, "HEAD", upload, nil, tus...)
		c.want(head, http.StatusOK, "tus HEAD "+name, nil)
		offset, _ = strconv.ParseInt(head.header.Get("Upload-Offset"), 10, 64)
		fileID = head.header.Get("Ingest-File-Id")
	}
	if offset != int64(len(data)) {
		c.t.Fatalf("tus %s: complete at offset %d of %d", name, offset, len(data))
	}
	return sent{fileID: fileID, data: data}
}

// checkFiles checks, on every instance in turn, that each file is STORED with its bytes' SHA-256
// and holds them.
func (c *spread) checkFiles(files []sent) {
	c.t.Helper()
	for i, f := range files {
		var file struct {
			Status    string `json:"status"`
			SHA256    string `json:"sha256"`
			SizeBytes int    `json:"size_bytes"`
		}
		c.want(c.do(i, "GET", "/api/v1/files/"+f.fileID, nil), http.StatusOK, "GET file "+f.fileID, &file)
		if file.Status != "STORED" || file.SHA256 != sha256Hex(f.data) || file.SizeBytes != len(f.data) {
			c.t.Fatalf("file %s: %+v, want STORED with %d bytes of SHA-256 %s", f.fileID, file, len(f.data), sha256Hex(f.data))
		}
		content := c.do(i+1, "GET", "/api/v1/files/"+f.fileID+"/content", nil)
		c.want(content, http.StatusOK, "GET content "+f.fileID, nil)
		if !bytes.Equal(content.body, f.data) {
			c.t.Fatalf("file %s holds %d bytes that differ from the %d sent", f.fileID, len(content.body), len(f.data))
		}
	}
}

// wantOnlyStored fails unless the user's STORED files are files and no others: a request sent
// again to another instance made no second file.
func (c *spread) wantOnlyStored(files []sent) {
	c.t.Helper()
	var page struct {
		Items []struct {
			ID string `json:"id"`
		} `json:"items"`
	}
	c.want(c.do(0, "GET", "/api/v1/files?status=STORED&limit=100", nil), http.StatusOK, "list the files", &page)
	want := map[string]bool{}
	for _, f := range files {
		want[f.fileID] = true
	}
	for _, f := range page.Items {
		if !want[f.ID] {
			c.t.Errorf("file %s is STORED, and is none of the %d the test stored", f.ID, len(files))
		}
	}
	if len(page.Items) != len(files) {
		c.t.Fatalf("%d files are STORED, want the %d the test stored", len(page.Items), len(files))
	}
}

// waitForEvents waits until the stream INGEST holds a file.stored event of every file, then
// fails unless it holds exactly one message per file and nothing else.
func waitForEvents(t *testing.T, srv *natstest.Server, files []sent) {
	t.Helper()
	want := map[string]bool{}
	for _, f := range files {
		want[f.fileID] = true
	}
	deadline := time.Now().Add(clusterWait)
	for {
		msgs := srv.Messages(t, "INGEST")
		seen := map[string]int{}
		for _, m := range msgs {
			var e struct {
				Type    string `json:"type"`
				Subject string `json:"subject"`
			}
			if err := json.Unmarshal(m.Data, &e); err != nil {
				t.Fatalf("message %d is not a CloudEvent: %q", m.Sequence, m.Data)
			}
			if e.Type != "ingest.file.stored" || !want[e.Subject] {
				t.Fatalf("message %d is a %s event of %s, not the ingest.file.stored of a file the test stored", m.Sequence, e.Type, e.Subject)
			}
			seen[e.Subject]++
		}
		if len(seen) == len(want) {
			if len(msgs) != len(want) {
				t.Fatalf("the stream holds %d messages for %d files: %v", len(msgs), len(want), seen)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the stream holds the events of %d of %d files after %v", len(seen), len(want), clusterWait)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestClusterLosesNothingWhenAnInstanceIsKilled runs three instances on one PostgreSQL schema, S3
// and NATS. Native uploads send their parts round-robin over the instances and tus uploads resume
// on another instance at each PATCH; one instance is killed with SIGKILL once some parts are in,
// and started again a moment later. Every upload must complete with its SHA-256, on retries to
// another instance, and the stream must hold one file.stored per file.
func TestClusterLosesNothingWhenAnInstanceIsKilled(t *testing.T) {
	t.Parallel()
	gw := versitygw.Start(t)
	nats := natstest.Start(t)
	env, storage := s3Storage(t, gw, gw.Endpoint)
	instances := startInstances(t, 3, testdb.MigratedURL(t, "postgres"), env,
		append([]string{"--storage", storage, "--events-sink", natsSink(nats)}, clusterFlags...)...)
	c := newSpread(t, instances)

	// The kill comes when a few acknowledgements are in, while every worker is mid-upload.
	var acked atomic.Int64
	killAt := int64(4)
	killed := make(chan struct{})
	progress := func() {
		if acked.Add(1) == killAt {
			close(killed)
		}
	}
	restarted := make(chan struct{})
	var uploadsDone, killedLate atomic.Bool
	go func() {
		defer close(restarted)
		<-killed
		victim := instances[1]
		killedLate.Store(uploadsDone.Load())
		victim.kill()
		time.Sleep(time.Second) // the others take the traffic meanwhile
		victim.restart()
	}()

	began := time.Now()
	const nativeFiles, tusFiles = 6, 3
	files := make([]sent, nativeFiles+tusFiles)
	var wg sync.WaitGroup
	for i := range nativeFiles {
		wg.Add(1)
		go func() {
			defer wg.Done()
			data := randomData(2*s3Part + 1000*(i+1)) // three parts, the last short
			files[i] = c.uploadInParts(i, fmt.Sprintf("native-%d.bin", i), data, s3Part, progress)
		}()
	}
	for i := range tusFiles {
		wg.Add(1)
		go func() {
			defer wg.Done()
			data := randomData(2*s3Part + 777*(i+1))
			files[nativeFiles+i] = c.tusUpload(i, fmt.Sprintf("tus-%d.bin", i), data, 4<<20, progress)
		}()
	}
	wg.Wait()
	uploadsDone.Store(true)
	if t.Failed() {
		return
	}
	select {
	case <-restarted:
	case <-time.After(clusterWait):
		t.Fatal("the instance was not killed and restarted")
	}
	if killedLate.Load() || c.retries.Load() == 0 {
		t.Fatalf("the instance was killed after the uploads (%v), or no request found it dead (%d sent again): the kill proved nothing",
			killedLate.Load(), c.retries.Load())
	}
	t.Logf("%d files stored over 3 instances in %v, one killed after %d acknowledgements; %d requests sent again",
		len(files), time.Since(began).Round(time.Millisecond), killAt, c.retries.Load())
	c.checkFiles(files)
	c.wantOnlyStored(files)
	waitForEvents(t, nats, files)
	instances[0].waitDelivered(files)
	t.Logf("checked, with one event each, %v after the first upload began", time.Since(began).Round(time.Millisecond))
}
