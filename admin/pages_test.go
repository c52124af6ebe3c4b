package admin_test

import (
	"bytes"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/ingest-portal/ingest"
	"github.com/ingest-portal/ingest/readmodel"
	"github.com/ingest-portal/ingest/upload"
)

// world is a small portal: alice's OPEN batch with a stored file and an upload in progress, a
// stored file outside any batch whose event failed, and a second token of alice's.
type world struct {
	alice     *ingest.User
	batch     *ingest.Batch
	stored    *ingest.File // in batch
	loose     *ingest.File // no batch
	uploading *ingest.UploadSession
	event     *ingest.OutboxEvent // of stored, PENDING
	failed    *ingest.OutboxEvent // of loose, FAILED
	token     *ingest.APIToken
}

func (e *env) world() *world {
	e.t.Helper()
	w := &world{}
	w.alice, _ = e.user("alice", false)
	var err error
	if w.batch, err = e.svc.CreateBatch(e.ctx, w.alice, "monthly reports"); err != nil {
		e.t.Fatal(err)
	}
	w.stored = e.put(w.alice, "report.csv", []byte("a,b\n1,2\n"), &w.batch.ID)
	w.loose = e.put(w.alice, "photo.jpg", bytes.Repeat([]byte{0xff}, 3000), nil)
	if w.uploading, _, err = e.svc.CreateSession(e.ctx, w.alice, upload.CreateRequest{Filename: "big.bin",
		SizeBytes: 20 << 20, ChunkSizeBytes: 5 << 20, BatchID: &w.batch.ID}); err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.svc.PutPart(e.ctx, w.alice, w.uploading.ID, 2, 5<<20, bytes.NewReader(make([]byte, 5<<20)), upload.Digest{}); err != nil {
		e.t.Fatal(err)
	}
	w.event = e.eventOf(w.stored)
	w.failed = e.eventOf(w.loose)
	e.failEvent(w.failed)
	w.token, _ = ingest.NewAPIToken(w.alice.ID, "laptop")
	if err := e.store.CreateAPIToken(e.ctx, w.token); err != nil {
		e.t.Fatal(err)
	}
	return w
}

func (e *env) put(u *ingest.User, name string, data []byte, batch *uuid.UUID) *ingest.File {
	e.t.Helper()
	f, _, err := e.svc.Put(e.ctx, u, upload.CreateRequest{Filename: name, ContentType: "application/octet-stream",
		SizeBytes: int64(len(data)), BatchID: batch}, bytes.NewReader(data), upload.Digest{})
	if err != nil {
		e.t.Fatal(err)
	}
	return f
}

func (e *env) eventOf(f *ingest.File) *ingest.OutboxEvent {
	e.t.Helper()
	l, err := e.store.FindEvents(e.ctx, readmodel.ListQuery{FileID: &f.ID})
	if err != nil || len(l.Items) != 1 {
		e.t.Fatalf("events of %s: %v, %v", f.ID, l, err)
	}
	return l.Items[0]
}

// failEvent makes the relay's moves that end with an event FAILED.
func (e *env) failEvent(ev *ingest.OutboxEvent) {
	e.t.Helper()
	// Every due event is claimed; the others go back to PENDING, due now, as after a retryable
	// failure.
	claimed, err := e.store.ClaimEvents(e.ctx, 100, time.Minute)
	if err != nil {
		e.t.Fatal(err)
	}
	found := false
	for _, c := range claimed {
		if c.ID == ev.ID {
			found = true
			err = e.store.MarkFailed(e.ctx, c.ID, c.AttemptCount, "webhook answered 400")
		} else {
			err = e.store.MarkRetry(e.ctx, c.ID, c.AttemptCount, e.clock.Now(), "")
		}
		if err != nil {
			e.t.Fatal(err)
		}
	}
	if !found {
		e.t.Fatalf("event %s was not due", ev.ID)
	}
}

func TestEveryListPageRenders(t *testing.T) {
	t.Parallel()
	forEachDatabase(t, func(t *testing.T, e *env) {
		w := e.world()
		b := e.signedIn()
		b.get("/admin/batches").want(t, http.StatusOK).contains(t, "monthly reports", "/admin/batches/"+w.batch.ID.String())
		b.get("/admin/files").want(t, http.StatusOK).contains(t, "report.csv", "photo.jpg", "big.bin", ">alice<")
		b.get("/admin/sessions").want(t, http.StatusOK).contains(t, "/admin/sessions/"+w.uploading.ID.String(), "1 / 4")
		b.get("/admin/parts").want(t, http.StatusOK).contains(t, "/admin/sessions/"+w.uploading.ID.String())
		b.get("/admin/events").want(t, http.StatusOK).contains(t, "/admin/events/"+w.failed.ID.String(), "webhook answered 400",
			"Retry all FAILED events")
		b.get("/admin/users").want(t, http.StatusOK).contains(t, ">alice<", ">root<")
		b.get("/admin/tokens").want(t, http.StatusOK).contains(t, "laptop", w.token.Prefix)
	})
}

func TestListsFilterSearchSortAndPage(t *testing.T) {
	t.Parallel()
	forEachDatabase(t, func(t *testing.T, e *env) {
		w := e.world()
		b := e.signedIn()
		// Counts by status link to the filtered list.
		b.get("/admin/files").contains(t, `href="/admin/files?status=STORED"`)
		page := b.get("/admin/files?status=STORED").want(t, http.StatusOK)
		page.contains(t, "report.csv", "photo.jpg")
		if strings.Contains(page.body, "big.bin") {
			t.Errorf("the STORED filter shows an UPLOADING file")
		}
		for query, want := range map[string]string{
			"q=PHOTO":                      "photo.jpg",
			"q=" + w.stored.SHA256[:10]:    "report.csv",
			"q=" + w.loose.ID.String():     "photo.jpg",
			"batch=" + w.batch.ID.String(): "big.bin",
		} {
			page := b.get("/admin/files?"+query).want(t, http.StatusOK).contains(t, want)
			if n := strings.Count(page.body, `class="name"`); query != "batch="+w.batch.ID.String() && n != 1 {
				t.Errorf("%s: %d files listed, want 1", query, n)
			}
		}
		b.get("/admin/events?status=FAILED&event_type=file.stored").want(t, http.StatusOK).contains(t, w.failed.ID.String())
		b.get("/admin/files?from=2000-01-01&to=2000-01-02").want(t, http.StatusOK).contains(t, "Nothing matches.")
		b.get("/admin/files?file=not-an-id").want(t, http.StatusBadRequest).contains(t, `file &#34;not-an-id&#34; is not an id`)
		b.get("/admin/files?status=BOGUS").want(t, http.StatusBadRequest)

		// Sorted by size, largest first, one file a page: big.bin, photo.jpg, report.csv.
		first := b.get("/admin/files?sort=size&limit=1").want(t, http.StatusOK).contains(t, "big.bin")
		next := hrefOf(t, first.body, "rel=\"next\"")
		second := b.get(next).want(t, http.StatusOK).contains(t, "photo.jpg")
		third := b.get(hrefOf(t, second.body, "rel=\"next\"")).want(t, http.StatusOK).contains(t, "report.csv")
		if strings.Contains(third.body, `rel="next"`) {
			t.Errorf("the last page links to a next page")
		}
		b.get(hrefOf(t, third.body, "rel=\"prev\"")).want(t, http.StatusOK).contains(t, "photo.jpg")
		b.get("/admin/files?sort=size&order=asc&limit=1").want(t, http.StatusOK).contains(t, "report.csv")
		b.get("/admin/files?sort=size&limit=1&last=1").want(t, http.StatusOK).contains(t, "report.csv")
		b.get("/admin/files?sort=name").want(t, http.StatusBadRequest)
	})
}

// TestBatchesAndUsersGoByName: the files list and a file's page name its batch (the id is the
// link's title), and the batch and user filters take a name as well as an id.
func TestBatchesAndUsersGoByName(t *testing.T) {
	t.Parallel()
	forEachDatabase(t, func(t *testing.T, e *env) {
		w := e.world()
		b := e.signedIn()
		batchLink := `<a href="/admin/batches/` + w.batch.ID.String() + `" title="` + w.batch.ID.String() + `">monthly reports</a>`
		b.get("/admin/files").want(t, http.StatusOK).contains(t, batchLink)
		b.get("/admin/files?q=report").want(t, http.StatusOK).contains(t, batchLink)
		b.get("/admin/files/"+w.stored.ID.String()).want(t, http.StatusOK).contains(t, batchLink)

		for _, query := range []string{"batch=monthly+reports", "batch=" + w.batch.ID.String()} {
			page := b.get("/admin/files?"+query).want(t, http.StatusOK).contains(t, "report.csv", "big.bin")
			if strings.Contains(page.body, "photo.jpg") {
				t.Errorf("%s lists a file outside the batch", query)
			}
		}
		b.get("/admin/files?batch=weekly+reports").want(t, http.StatusOK).contains(t, "Nothing matches.")
		b.get("/admin/files?user=alice").want(t, http.StatusOK).contains(t, "report.csv", "photo.jpg")
		b.get("/admin/files?user=bob").want(t, http.StatusOK).contains(t, "Nothing matches.")
		b.get("/admin/batches?user=alice").want(t, http.StatusOK).contains(t, "monthly reports")
		b.get("/admin/tokens?user=alice").want(t, http.StatusOK).contains(t, "laptop")
		b.get("/admin/files").contains(t, `name="batch" value="" size="12" placeholder="name or id"`)
	})
}

var hrefPattern = regexp.MustCompile(`<a href="([^"]+)"[^>]*`)

// hrefOf returns the target of the first link whose tag contains marker.
func hrefOf(t *testing.T, body, marker string) string {
	t.Helper()
	for _, m := range hrefPattern.FindAllStringSubmatch(body, -1) {
		if strings.Contains(m[0], marker) {
			return html.UnescapeString(m[1])
		}
	}
	t.Fatalf("no link with %s in\n%s", marker, body)
	return ""
}

func TestDetailPagesLinkTheirRelationsBothWays(t *testing.T) {
	t.Parallel()
	forEachDatabase(t, func(t *testing.T, e *env) {
		w := e.world()
		b := e.signedIn()
		sessOfStored, err := e.store.SessionOfFile(e.ctx, w.stored.ID)
		if err != nil {
			t.Fatal(err)
		}
		path := func(kind string, id interface{ String() string }) string { return "/admin/" + kind + "/" + id.String() }
		// batch ↔ files
		b.get(path("batches", w.batch.ID)).want(t, http.StatusOK).contains(t, path("files", w.stored.ID), path("files", w.uploading.FileID), "monthly reports")
		// file → batch, session, event
		b.get(path("files", w.stored.ID)).want(t, http.StatusOK).contains(t, path("batches", w.batch.ID), path("sessions", sessOfStored.ID),
			path("events", w.event.ID), w.stored.SHA256)
		// session → file, parts, part map
		parts, err := e.store.Parts(e.ctx, w.uploading.ID)
		if err != nil {
			t.Fatal(err)
		}
		page := b.get(path("sessions", w.uploading.ID)).want(t, http.StatusOK).contains(t, path("files", w.uploading.FileID),
			path("parts", parts[0].ID), "Part map", `title="part 2: RECEIVED"`, `title="part 1: MISSING"`)
		if n := strings.Count(page.body, `<span class="p-`); n != 4 {
			t.Errorf("the part map has %d squares, want 4", n)
		}
		// part → session
		b.get(path("parts", parts[0].ID)).want(t, http.StatusOK).contains(t, path("sessions", w.uploading.ID))
		// event → file, with its payload
		b.get(path("events", w.event.ID)).want(t, http.StatusOK).contains(t, path("files", w.stored.ID), "&#34;original_filename&#34;: &#34;report.csv&#34;")
		// user → tokens, batches, files; token → user
		b.get(path("users", w.alice.ID)).want(t, http.StatusOK).contains(t, path("tokens", w.token.ID), path("batches", w.batch.ID), path("files", w.loose.ID))
		b.get(path("tokens", w.token.ID)).want(t, http.StatusOK).contains(t, path("users", w.alice.ID), "laptop")

		b.get(path("files", w.alice.ID)).want(t, http.StatusNotFound)
		b.get("/admin/files/nonsense").want(t, http.StatusNotFound)
	})
}

func TestAHostileFileNameIsEscaped(t *testing.T) {
	t.Parallel()
	forEachDatabase(t, func(t *testing.T, e *env) {
		w := e.world()
		hostile := `<img src=x onerror=alert(1)>"'&<script>.csv`
		f := e.put(w.alice, hostile, []byte("x"), &w.batch.ID)
		b := e.signedIn()
		for _, p := range []string{"/admin/files", "/admin/files/" + f.ID.String(), "/admin/batches/" + w.batch.ID.String(),
			"/admin/events/" + e.eventOf(f).ID.String(), "/admin/files?q=" + url.QueryEscape("<script>")} {
			page := b.get(p).want(t, http.StatusOK)
			if strings.Contains(page.body, "<img src=x") || strings.Contains(page.body, "&<script>") {
				t.Errorf("%s renders the file name as markup", p)
			}
			if !strings.Contains(page.body, "&lt;img src=x onerror=alert(1)&gt;") && !strings.Contains(page.body, `\u003cimg src=x`) {
				t.Errorf("%s does not show the escaped file name", p)
			}
		}
	})
}

func TestTheDashboard(t *testing.T) {
	t.Parallel()
	forEachDatabase(t, func(t *testing.T, e *env) {
		w := e.world()
		page := e.signedIn().get("/admin/").want(t, http.StatusOK)
		page.contains(t, "files stored in 24 h", ">2<", "active upload sessions", "<svg", `class="bar"`,
			"/admin/events/"+w.failed.ID.String(), "webhook answered 400", "oldest undelivered event")
		if n := strings.Count(page.body, `<rect class="bar"`); n != 2*24 {
			t.Errorf("the charts have %d bars, want 48 (24 hours each)", n)
		}
	})
}

func TestAFailedFileShowsItsCodeAndReason(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, e *env) {
		w := e.world()
		if _, err := e.svc.Abort(e.ctx, w.alice, w.uploading.ID); err != nil {
			t.Fatal(err)
		}
		b := e.signedIn()
		b.get("/admin/files/"+w.uploading.FileID.String()).want(t, http.StatusOK).contains(t,
			"Failure code", ">ABORTED<", "Failure reason", ">aborted by the client<")
		b.get("/admin/").want(t, http.StatusOK).contains(t, "Recent failed files", ">ABORTED<", ">aborted by the client<")
		page := b.get("/admin/files/"+w.stored.ID.String()).want(t, http.StatusOK)
		if strings.Contains(page.body, "ABORTED") {
			t.Error("a stored file's page shows a failure code")
		}
	})
}

func TestStaticAssetsAreServed(t *testing.T) {
	t.Parallel()
	forEachDatabase(t, func(t *testing.T, e *env) {
		b := e.browser()
		b.get("/admin/static/htmx.min.js").want(t, http.StatusOK).contains(t, "htmx")
		b.get("/admin/static/admin.css").want(t, http.StatusOK)
		b.get("/admin/static/favicon.svg").want(t, http.StatusOK).contains(t, "<svg")
		b.get("/admin/signin").want(t, http.StatusOK).contains(t, `<link rel="icon" href="/admin/static/favicon.svg"`)
		// The directory itself is listed to nobody.
		b.get("/admin/static/").want(t, http.StatusNotFound)
	})
}

func TestFileMetadataIsShownAndSearchable(t *testing.T) {
	t.Parallel()
	forEachDatabase(t, func(t *testing.T, e *env) {
		w := e.world()
		meta := map[string]string{"relative_path": "scans/2026/Größe <1>.tif", "source": "Scanner-7", "blank": ""}
		f, _, err := e.svc.Put(e.ctx, w.alice, upload.CreateRequest{Filename: "scan.tif", SizeBytes: 4, Metadata: meta},
			bytes.NewReader([]byte("tiff")), upload.Digest{})
		if err != nil {
			t.Fatal(err)
		}
		b := e.signedIn()
		page := b.get("/admin/files/"+f.ID.String()).want(t, http.StatusOK).contains(t, "<h2>Metadata</h2>",
			"relative_path", "scans/2026/Größe &lt;1&gt;.tif", "Scanner-7", "blank",
			`href="/admin/files?q=`+html.EscapeString(url.QueryEscape("source:Scanner-7"))+`"`)
		if strings.Contains(page.body, "Größe <1>") {
			t.Error("a metadata value is rendered as markup")
		}
		// Keys in order.
		if i, j := strings.Index(page.body, ">blank<"), strings.Index(page.body, ">source<"); i < 0 || j < i {
			t.Errorf("the metadata keys are not in order (blank at %d, source at %d)", i, j)
		}
		b.get("/admin/files/"+w.stored.ID.String()).want(t, http.StatusOK).contains(t, "<h2>Metadata</h2>")

		for _, q := range []string{"scanner-7", "Größe", "source:scanner", "relative_path:scans/2026"} {
			list := b.get("/admin/files?q="+url.QueryEscape(q)).want(t, http.StatusOK).contains(t, "/admin/files/"+f.ID.String())
			if n := strings.Count(list.body, `class="name"`); n != 1 {
				t.Errorf("q=%s: %d files listed, want 1", q, n)
			}
		}
		b.get("/admin/files?q="+url.QueryEscape("source:Größe")).want(t, http.StatusOK).contains(t, "Nothing matches.")
	})
}

// TestEventsOfferOnlyWhatCanHappen: "Retry all FAILED events" is offered only when some event
// FAILED, and an event that is FAILED (or DELIVERED) shows no next attempt.
func TestEventsOfferOnlyWhatCanHappen(t *testing.T) {
	t.Parallel()
	forEachDatabase(t, func(t *testing.T, e *env) {
		b := e.signedIn()
		carol, _ := e.user("carol", false)
		e.put(carol, "one.txt", []byte("one"), nil)
		if page := b.get("/admin/events").want(t, http.StatusOK); strings.Contains(page.body, "Retry all FAILED events") {
			t.Error("the events page offers to retry FAILED events when none failed")
		}
		w := e.world()
		b.get("/admin/events").want(t, http.StatusOK).contains(t, "Retry all FAILED events")
		b.get("/admin/events/"+w.failed.ID.String()).want(t, http.StatusOK).contains(t, "<dt>Next attempt</dt><dd><span>—</span></dd>")
	})
}
