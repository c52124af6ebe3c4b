package main

// Power-cut tests (DESIGN.md §9, docs/durability.md): the real "ingest serve" runs on SQLite,
// local storage and the JSONL sink, all in the FUSE file system of internal/testkit/powercut,
// under a load of native multi-part uploads, single-request uploads and tus PATCHes. At a random
// moment — after a random time, or in the middle of a random fsync or syncfs, so inside
// completions and group commits — the power goes off: the process is killed and everything not
// durable is thrown away. The portal restarts on what is left, and every answer it gave before
// the cut must still hold.

import (
	"bufio"
	"bytes"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ingest-portal/ingest/internal/durable"
	"github.com/ingest-portal/ingest/internal/testkit/powercut"
)

// powerCutChunk is the part size of the load's native uploads: small, so that a cut finds many
// uploads in flight.
const powerCutChunk = 32 << 10

// powerCutCuts returns how many cuts a mode gets: INGEST_POWERCUT_CUTS, or 20.
func powerCutCuts(t *testing.T) int {
	s := os.Getenv("INGEST_POWERCUT_CUTS")
	if s == "" {
		return 20
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		t.Fatalf("INGEST_POWERCUT_CUTS=%q: want a positive number", s)
	}
	return n
}

// TestPowerCut: in every flush mode that can be the default, nothing acknowledged is lost at a
// power cut, and every upload the cut interrupted can be finished.
func TestPowerCut(t *testing.T) {
	for _, mode := range durable.Modes() {
		t.Run(string(mode), func(t *testing.T) {
			t.Parallel()
			pc := newPowerCutRig(t, mode, powercut.Options{})
			cuts := powerCutCuts(t)
			for i := range cuts {
				lost := pc.cycle()
				if testing.Verbose() {
					t.Logf("cut %d (%s): %d lost", i+1, pc.how, len(lost))
				}
				if len(lost) > 0 {
					t.Fatalf("cut %d of %d (%s) lost what the portal had acknowledged:\n%s\n--- server logs ---\n%s",
						i+1, cuts, pc.how, strings.Join(lost, "\n"), pc.r.log())
				}
			}
			t.Logf("%d cuts (%v): %d files, %d parts and %d tus offsets acknowledged before a cut, all kept; %d interrupted uploads finished after it, %d failed cleanly",
				cuts, pc.stats.cuts, pc.stats.files, pc.stats.parts, pc.stats.offsets, pc.stats.resumed, pc.stats.failed)
		})
	}
}

// TestPowerCutFindsWhatASkippedFlushLoses: the harness can fail. With syncfs made to do nothing,
// the default mode acknowledges what a cut then loses, and the test sees it.
func TestPowerCutFindsWhatASkippedFlushLoses(t *testing.T) {
	if !durable.FSSupported {
		t.Skip("the filesystem mode needs syncfs(2)")
	}
	t.Parallel()
	pc := newPowerCutRig(t, durable.Filesystem, powercut.Options{IgnoreSyncfs: true})
	for range 5 {
		if lost := pc.cycle(); len(lost) > 0 {
			t.Logf("found, as it should: %s", lost[0])
			return
		}
	}
	t.Fatal("5 cuts with syncfs doing nothing lost nothing acknowledged: the harness cannot see a loss")
}

// powerCutRig is a portal on a power-cut file system, and what the test knows of it.
type powerCutRig struct {
	t        *testing.T
	fs       *powercut.FS
	r        *serveRig
	how      string            // how the last cut came
	verified map[string]string // STORED files checked since: id → sha256
	stats    struct {
		files, parts, offsets, resumed, failed int
		cuts                                   map[string]int // by powerCutKind
	}
}

func newPowerCutRig(t *testing.T, mode durable.Mode, opts powercut.Options) *powerCutRig {
	h := powercut.Mount(t, opts)
	// Short leases, so that the restarted portal takes over at once the tus uploads and the events
	// that the killed one held.
	r := newServeRig(t, buildIngest(t), "sqlite", "", "--flush", string(mode), "--stream-lease", "2s", "--relay-lease", "2s")
	r.dataDir = filepath.Join(h.Dir(), "data")
	r.storage = filepath.Join(h.Dir(), "blobs")
	r.env = append(r.env, powerCutMarkerEnv+"="+h.MarkerPath())
	r.start()
	// What the first start wrote (the schema, the admin and its token) is durable before the
	// load, as an installation would be.
	if err := h.Sync(); err != nil {
		t.Fatal(err)
	}
	pc := &powerCutRig{t: t, fs: h, r: r, verified: map[string]string{}}
	pc.stats.cuts = map[string]int{}
	return pc
}

// cycle runs the load, cuts the power, restarts the portal and returns what was lost.
func (pc *powerCutRig) cycle() []string {
	l := &powerCutLedger{}
	srv := pc.r.srv
	var once sync.Once
	cut := func(how string) {
		once.Do(func() {
			l.mu.Lock()
			l.cut, l.how = true, how
			l.mu.Unlock()
			pc.fs.Freeze()
			_ = srv.cmd.Process.Kill()
		})
	}
	pc.fs.CutWhen(powerCutAtFlush(cut))

	load := &powerCutLoad{t: pc.t, client: pc.r.client, url: srv.url, token: pc.r.token, l: l}
	var workers sync.WaitGroup
	for w := range 4 {
		workers.Add(1)
		go func() {
			defer workers.Done()
			load.run(w)
		}()
	}
	after := time.Duration(100+rand.IntN(1400)) * time.Millisecond
	select {
	case <-time.After(after):
		cut(fmt.Sprintf("after %v, between flushes", after))
	case <-srv.done:
	}
	workers.Wait()
	pc.r.wait("SIGKILL")
	pc.r.srv = nil
	l.mu.Lock()
	pc.how = l.how
	l.mu.Unlock()
	pc.stats.cuts[powerCutKind(pc.how)]++
	if err := pc.fs.Cut(); err != nil {
		pc.t.Fatalf("cut: %v", err)
	}
	unsound := pc.integrity()
	pc.r.start()
	return append(unsound, pc.check(l)...)
}

// powerCutAtFlush returns what cuts the power in the middle of a flush chosen at random: the
// n-th of any kind, or the n-th that makes SQLite commits durable (a syncfs, or an fsync of the
// WAL), which is inside a group commit and often a completion.
func powerCutAtFlush(cut func(how string)) func(what string) bool {
	commitsOnly := rand.IntN(2) == 0
	n := 1 + rand.IntN(200)
	if commitsOnly {
		n = 1 + rand.IntN(40)
	}
	var mu sync.Mutex
	return func(what string) bool {
		if commitsOnly && what != "syncfs" && !strings.HasSuffix(what, "ingest.db-wal") {
			return false
		}
		mu.Lock()
		n--
		now := n == 0
		mu.Unlock()
		if now {
			cut("in " + what)
		}
		return now
	}
}

// powerCutKind sorts the cuts for the test's summary: when no flush ran, or inside which one.
func powerCutKind(how string) string {
	switch {
	case strings.HasPrefix(how, "after"):
		return "between flushes"
	case how == "in syncfs":
		return "in a syncfs"
	case strings.HasPrefix(how, "in directory fsync"):
		return "in a directory fsync"
	case strings.Contains(how, "ingest.db"):
		return "in an SQLite fsync"
	case strings.Contains(how, "events.jsonl"):
		return "in an event log fsync"
	case strings.Contains(how, "/.uploads/"):
		return "in an upload's fsync"
	}
	return "in an object's fsync"
}

// powerCutLedger is what the portal acknowledged before the cut.
type powerCutLedger struct {
	mu      sync.Mutex
	cut     bool
	how     string            // how the power was cut
	files   map[string][]byte // file id → its bytes
	natives []*powerCutNative
	tuses   []*powerCutTus
}

type powerCutNative struct {
	session, file string
	data          []byte
	parts         map[int]bool // the parts acknowledged
	completed     bool
}

type powerCutTus struct {
	location string
	data     []byte
	offset   int64 // the last Upload-Offset answered
}

// ack runs record unless the power is already cut: an answer that comes after the cut proves
// nothing, since the harness made nothing durable since. It says whether it ran.
func (l *powerCutLedger) ack(record func()) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.cut {
		return false
	}
	record()
	return true
}

func (l *powerCutLedger) isCut() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.cut
}

// powerCutLoad sends the uploads of one cycle.
type powerCutLoad struct {
	t      *testing.T
	client *http.Client
	url    string
	token  string
	l      *powerCutLedger
}

// run uploads until the power is cut, each upload of a kind chosen at random.
func (p *powerCutLoad) run(worker int) {
	for n := 0; !p.l.isCut(); n++ {
		data := make([]byte, 1+rand.IntN(5*powerCutChunk))
		for i := range data {
			data[i] = byte(rand.Uint32())
		}
		var ok bool
		switch (worker + n) % 3 {
		case 0:
			ok = p.native(data)
		case 1:
			ok = p.single(data)
		default:
			ok = p.tus(data)
		}
		if !ok {
			return
		}
	}
}

// answer is a response with its body read.
type answer struct {
	status int
	header http.Header
	body   []byte
}

func (p *powerCutLoad) do(method, path string, body []byte, headers ...string) (answer, error) {
	return powerCutRequest(p.client, p.url, p.token, method, path, body, headers...)
}

func powerCutRequest(c *http.Client, base, token, method, path string, body []byte, headers ...string) (answer, error) {
	req, err := http.NewRequest(method, base+path, bytes.NewReader(body))
	if err != nil {
		return answer{}, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		return answer{}, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	return answer{resp.StatusCode, resp.Header, raw}, err
}

// expect says whether a answered want; an unexpected answer before the cut fails the test.
func (p *powerCutLoad) expect(a answer, err error, want int, what string) bool {
	if err == nil && a.status == want {
		return true
	}
	if !p.l.isCut() {
		p.t.Errorf("%s before the cut: %v %d %s", what, err, a.status, a.body)
	}
	return false
}

// native uploads data in parts in a random order, and completes it most of the time.
func (p *powerCutLoad) native(data []byte) bool {
	body, _ := json.Marshal(map[string]any{"filename": "cut.bin", "size_bytes": len(data), "chunk_size_bytes": powerCutChunk})
	a, err := p.do("POST", "/api/v1/uploads", body, "Content-Type", "application/json")
	if !p.expect(a, err, http.StatusCreated, "create a session") {
		return false
	}
	var sess struct {
		ID         string `json:"id"`
		FileID     string `json:"file_id"`
		TotalParts int    `json:"total_parts"`
	}
	if err := json.Unmarshal(a.body, &sess); err != nil {
		p.t.Error(err)
		return false
	}
	u := &powerCutNative{session: sess.ID, file: sess.FileID, data: data, parts: map[int]bool{}}
	if !p.l.ack(func() { p.l.natives = append(p.l.natives, u) }) {
		return false
	}
	for _, n := range rand.Perm(sess.TotalParts) {
		part := powerCutPart(data, n+1)
		a, err := p.do("PUT", fmt.Sprintf("/api/v1/uploads/%s/parts/%d", sess.ID, n+1), part)
		if !p.expect(a, err, http.StatusOK, "upload a part") || !p.l.ack(func() { u.parts[n+1] = true }) {
			return false
		}
	}
	if rand.IntN(5) == 0 {
		return true // left for the check to finish after the cut
	}
	a, err = p.do("POST", "/api/v1/uploads/"+sess.ID+"/complete", nil)
	if !p.expect(a, err, http.StatusOK, "complete") {
		return false
	}
	return p.ackFile(a, data, func() { u.completed = true })
}

// ackFile records the file an answer describes as acknowledged, after checking its hash.
func (p *powerCutLoad) ackFile(a answer, data []byte, also func()) bool {
	var f struct {
		ID     string `json:"id"`
		SHA256 string `json:"sha256"`
	}
	if err := json.Unmarshal(a.body, &f); err != nil {
		p.t.Error(err)
		return false
	}
	if f.SHA256 != crashSHA256(data) && !p.l.isCut() {
		p.t.Errorf("file %s answered sha256 %s, want %s", f.ID, f.SHA256, crashSHA256(data))
	}
	return p.l.ack(func() {
		if p.l.files == nil {
			p.l.files = map[string][]byte{}
		}
		p.l.files[f.ID] = data
		if also != nil {
			also()
		}
	})
}

// single uploads data in one request.
func (p *powerCutLoad) single(data []byte) bool {
	a, err := p.do("POST", "/api/v1/files?filename=cut.bin", data, "Content-Type", "application/octet-stream")
	if !p.expect(a, err, http.StatusCreated, "a single-request upload") {
		return false
	}
	return p.ackFile(a, data, nil)
}

// tus uploads data with tus, in PATCHes of random sizes.
func (p *powerCutLoad) tus(data []byte) bool {
	a, err := p.do("POST", "/tus/", nil, "Tus-Resumable", "1.0.0", "Upload-Length", strconv.Itoa(len(data)))
	if !p.expect(a, err, http.StatusCreated, "create a tus upload") {
		return false
	}
	u := &powerCutTus{location: a.header.Get("Location"), data: data}
	if !p.l.ack(func() { p.l.tuses = append(p.l.tuses, u) }) {
		return false
	}
	for off := int64(0); off < int64(len(data)); {
		end := min(off+1+rand.Int64N(2*powerCutChunk), int64(len(data)))
		a, err := p.do("PATCH", u.location, data[off:end], "Tus-Resumable", "1.0.0",
			"Content-Type", "application/offset+octet-stream", "Upload-Offset", strconv.FormatInt(off, 10))
		if !p.expect(a, err, http.StatusNoContent, "a tus PATCH") {
			return false
		}
		off = end
		if !p.l.ack(func() { u.offset = end }) {
			return false
		}
		if id := a.header.Get("Ingest-File-Id"); id != "" {
			return p.l.ack(func() {
				if p.l.files == nil {
					p.l.files = map[string][]byte{}
				}
				p.l.files[id] = data
			})
		}
	}
	return true
}

// check returns what the restarted portal lost of what the ledger holds, finishes the uploads
// the cut interrupted, and checks every STORED file and its event.
func (pc *powerCutRig) check(l *powerCutLedger) []string {
	c := &powerCutChecker{pc: pc}
	for id, data := range l.files {
		c.stored(id, data, "acknowledged")
		pc.stats.files++
	}
	for _, u := range l.natives {
		if !u.completed {
			c.native(u)
		}
	}
	for _, u := range l.tuses {
		c.tus(u)
	}
	c.allStored()
	c.events()
	return c.lost
}

// powerCutChecker collects what was lost.
type powerCutChecker struct {
	pc   *powerCutRig
	lost []string
}

func (c *powerCutChecker) lose(format string, args ...any) {
	c.lost = append(c.lost, fmt.Sprintf(format, args...))
}

func (c *powerCutChecker) do(method, path string, body []byte, headers ...string) answer {
	r := c.pc.r
	a, err := powerCutRequest(r.client, r.srv.url, r.token, method, path, body, headers...)
	if err != nil {
		// A download cut short: the object is shorter than its row says.
		c.lose("%s %s after the cut: %v", method, path, err)
	}
	return a
}

// integrity returns what SQLite finds wrong with the database left by the cut, before the
// portal opens it: a copy is checked, made with reads, because this process serves the file system
// and must not map its files into memory (SQLite maps the WAL's index), as a page fault on its own
// mount could stop it for good.
func (pc *powerCutRig) integrity() []string {
	dir := pc.t.TempDir()
	for _, name := range []string{"ingest.db", "ingest.db-wal"} {
		raw, err := os.ReadFile(filepath.Join(pc.r.dataDir, name))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err == nil {
			err = os.WriteFile(filepath.Join(dir, name), raw, 0o644)
		}
		if err != nil {
			pc.t.Fatal(err)
		}
	}
	db, err := sql.Open("sqlite", filepath.Join(dir, "ingest.db"))
	if err != nil {
		pc.t.Fatal(err)
	}
	defer db.Close()
	var result string
	if err := db.QueryRow("PRAGMA integrity_check").Scan(&result); err != nil || result != "ok" {
		return []string{fmt.Sprintf("the database is not sound after the cut: %q %v", result, err)}
	}
	if err := db.QueryRow("SELECT count(*) FROM users").Scan(new(int)); err != nil {
		return []string{fmt.Sprintf("the database lost its schema at the cut: %v", err)}
	}
	return nil
}

// stored checks that the file is STORED with data, and remembers it as checked.
func (c *powerCutChecker) stored(id string, data []byte, what string) {
	a := c.do("GET", "/api/v1/files/"+id, nil)
	var f struct {
		Status    string `json:"status"`
		SHA256    string `json:"sha256"`
		SizeBytes int64  `json:"size_bytes"`
	}
	_ = json.Unmarshal(a.body, &f)
	want := crashSHA256(data)
	if a.status != http.StatusOK || f.Status != "STORED" || f.SHA256 != want || f.SizeBytes != int64(len(data)) {
		c.lose("%s file %s: %d %s, want STORED with sha256 %s and %d bytes", what, id, a.status, a.body, want, len(data))
		return
	}
	if got := c.do("GET", "/api/v1/files/"+id+"/content", nil); !bytes.Equal(got.body, data) {
		c.lose("%s file %s: its content has %d bytes (sha256 %s), want %d (sha256 %s)",
			what, id, len(got.body), crashSHA256(got.body), len(data), want)
		return
	}
	c.pc.verified[id] = want
}

// native checks that the acknowledged parts of an upload not acknowledged as complete are
// RECEIVED with their bytes, and finishes it.
func (c *powerCutChecker) native(u *powerCutNative) {
	a := c.do("GET", "/api/v1/uploads/"+u.session+"/parts", nil)
	var list struct {
		Items []struct {
			PartNumber int     `json:"part_number"`
			Status     string  `json:"status"`
			SizeBytes  int64   `json:"size_bytes"`
			CRC32C     *uint32 `json:"crc32c"`
		} `json:"items"`
	}
	if a.status != http.StatusOK || json.Unmarshal(a.body, &list) != nil {
		c.lose("session %s: its parts answer %d %s", u.session, a.status, a.body)
		return
	}
	received := map[int]bool{}
	for _, p := range list.Items {
		if p.Status != "RECEIVED" {
			continue
		}
		received[p.PartNumber] = true
		part := powerCutPart(u.data, p.PartNumber)
		if p.SizeBytes != int64(len(part)) || p.CRC32C == nil || *p.CRC32C != crc32.Checksum(part, crc32.MakeTable(crc32.Castagnoli)) {
			c.lose("session %s: part %d is RECEIVED with %d bytes and crc32c %v, not the bytes sent", u.session, p.PartNumber, p.SizeBytes, p.CRC32C)
		}
	}
	for n := range u.parts {
		if !received[n] {
			c.lose("session %s: part %d was acknowledged, and is not RECEIVED after the cut", u.session, n)
		}
	}
	c.pc.stats.parts += len(u.parts)
	var sess struct {
		Status     string `json:"status"`
		TotalParts int    `json:"total_parts"`
	}
	a = c.do("GET", "/api/v1/uploads/"+u.session, nil)
	if a.status != http.StatusOK || json.Unmarshal(a.body, &sess) != nil {
		c.lose("session %s: %d %s", u.session, a.status, a.body)
		return
	}
	switch sess.Status {
	case "COMPLETE":
	case "FAILED":
		c.pc.stats.failed++
		return
	default:
		for n := 1; n <= sess.TotalParts; n++ {
			if !received[n] {
				if a := c.do("PUT", fmt.Sprintf("/api/v1/uploads/%s/parts/%d", u.session, n), powerCutPart(u.data, n)); a.status != http.StatusOK {
					c.lose("session %s: part %d cannot be uploaded after the cut: %d %s", u.session, n, a.status, a.body)
					return
				}
			}
		}
		if a := c.do("POST", "/api/v1/uploads/"+u.session+"/complete", nil); a.status != http.StatusOK {
			c.lose("session %s cannot be completed after the cut: %d %s", u.session, a.status, a.body)
			return
		}
		c.pc.stats.resumed++
	}
	c.stored(u.file, u.data, "resumed")
}

// tus checks that a tus upload kept at least the offset it answered, and finishes it.
func (c *powerCutChecker) tus(u *powerCutTus) {
	a := c.do("HEAD", u.location, nil, "Tus-Resumable", "1.0.0")
	offset, err := strconv.ParseInt(a.header.Get("Upload-Offset"), 10, 64)
	if a.status != http.StatusOK || err != nil {
		if a.status == http.StatusGone || a.status == http.StatusNotFound {
			c.lose("tus upload %s (acknowledged offset %d) is gone after the cut: %d", u.location, u.offset, a.status)
		} else {
			c.lose("tus upload %s: HEAD %d, Upload-Offset %q", u.location, a.status, a.header.Get("Upload-Offset"))
		}
		return
	}
	if offset < u.offset {
		c.lose("tus upload %s answered Upload-Offset %d before the cut and %d after it", u.location, u.offset, offset)
		return
	}
	c.pc.stats.offsets++
	id := a.header.Get("Ingest-File-Id")
	if offset < int64(len(u.data)) {
		// The killed portal's lock on the upload holds until its lease ends: wait, as a tus
		// client does.
		for deadline := time.Now().Add(serveWait); ; time.Sleep(200 * time.Millisecond) {
			a = c.do("PATCH", u.location, u.data[offset:], "Tus-Resumable", "1.0.0",
				"Content-Type", "application/offset+octet-stream", "Upload-Offset", strconv.FormatInt(offset, 10))
			if a.status != http.StatusLocked || time.Now().After(deadline) {
				break
			}
		}
		if id = a.header.Get("Ingest-File-Id"); a.status != http.StatusNoContent || id == "" {
			c.lose("tus upload %s cannot be finished from offset %d after the cut: %d %s", u.location, offset, a.status, a.body)
			return
		}
		c.pc.stats.resumed++
	}
	c.stored(id, u.data, "tus")
}

// allStored checks that every STORED file not checked before has its object with its bytes,
// and that those checked before are still STORED with the same hash.
func (c *powerCutChecker) allStored() {
	seen := map[string]bool{}
	for cursor := ""; ; {
		a := c.do("GET", "/api/v1/files?status=STORED&limit=100&cursor="+cursor, nil)
		var page struct {
			Items []struct {
				ID        string `json:"id"`
				SHA256    string `json:"sha256"`
				SizeBytes int64  `json:"size_bytes"`
			} `json:"items"`
			NextCursor string `json:"next_cursor"`
		}
		if a.status != http.StatusOK || json.Unmarshal(a.body, &page) != nil {
			c.pc.t.Fatalf("list STORED files: %d %s", a.status, a.body)
		}
		for _, f := range page.Items {
			seen[f.ID] = true
			if sha, ok := c.pc.verified[f.ID]; ok {
				if sha != f.SHA256 {
					c.lose("file %s changed its sha256 from %s to %s", f.ID, sha, f.SHA256)
				}
				continue
			}
			got := c.do("GET", "/api/v1/files/"+f.ID+"/content", nil)
			if got.status != http.StatusOK || crashSHA256(got.body) != f.SHA256 || int64(len(got.body)) != f.SizeBytes {
				c.lose("file %s is STORED with sha256 %s and %d bytes, but its object answers %d with %d bytes (sha256 %s)",
					f.ID, f.SHA256, f.SizeBytes, got.status, len(got.body), crashSHA256(got.body))
				continue
			}
			c.pc.verified[f.ID] = f.SHA256
		}
		if page.NextCursor == "" {
			break
		}
		cursor = page.NextCursor
	}
	for id := range c.pc.verified {
		if !seen[id] {
			c.lose("file %s was STORED before the cut and is not after it", id)
		}
	}
}

// events waits until the relay of the restarted portal has written every STORED file's event to
// the JSONL sink.
func (c *powerCutChecker) events() {
	deadline := time.Now().Add(serveWait)
	for {
		missing := c.missingEvents()
		if len(missing) == 0 {
			return
		}
		if time.Now().After(deadline) {
			slices.Sort(missing)
			c.lose("%d STORED files have no event in events.jsonl %v after the restart, e.g. %s", len(missing), serveWait, missing[0])
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (c *powerCutChecker) missingEvents() []string {
	delivered := map[string]bool{}
	f, err := os.Open(filepath.Join(c.pc.r.dataDir, "events.jsonl"))
	if err == nil {
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			var e struct {
				Subject string `json:"subject"`
			}
			if json.Unmarshal(sc.Bytes(), &e) == nil {
				delivered[e.Subject] = true
			}
		}
		f.Close()
	}
	var missing []string
	for id := range c.pc.verified {
		if !delivered[id] {
			missing = append(missing, id)
		}
	}
	return missing
}

func powerCutPart(data []byte, n int) []byte {
	from := (n - 1) * powerCutChunk
	return data[from:min(from+powerCutChunk, len(data))]
}
