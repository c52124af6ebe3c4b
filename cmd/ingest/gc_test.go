package main

import (
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// singleUpload is a single-request upload whose body the test sends piece by piece.
type singleUpload struct {
	body     *io.PipeWriter
	answered chan int // the status, 0 when the request failed
}

// beginSingleUpload starts POST /api/v1/files of size bytes and sends its first half.
func (r *serveRig) beginSingleUpload(name string, data []byte) *singleUpload {
	r.t.Helper()
	pr, pw := io.Pipe()
	r.t.Cleanup(func() { pw.CloseWithError(errTestClosedBody) })
	req, err := http.NewRequest("POST", r.srv.url+"/api/v1/files?filename="+name, pr)
	if err != nil {
		r.t.Fatal(err)
	}
	req.ContentLength = int64(len(data))
	req.Header.Set("Authorization", "Bearer "+r.token)
	u := &singleUpload{body: pw, answered: make(chan int, 1)}
	go func() {
		resp, err := (&http.Client{Transport: &http.Transport{}}).Do(req)
		if err != nil {
			u.answered <- 0
			return
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		u.answered <- resp.StatusCode
	}()
	if _, err := pw.Write(data[:len(data)/2]); err != nil {
		r.fatalf("send half of %s: %v", name, err)
	}
	return u
}

// objects returns the files of the local storage outside the uploads' directory, by key.
func (r *serveRig) objects() map[string]string {
	r.t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(r.storage, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == ".uploads" {
			return filepath.SkipDir
		}
		if d.Type().IsRegular() {
			rel, _ := filepath.Rel(r.storage, p)
			out[filepath.ToSlash(rel)] = p
		}
		return nil
	})
	if err != nil {
		r.t.Fatal(err)
	}
	return out
}

// age makes the file or directory at p look last written two hours ago, past the grace period.
func age(t *testing.T, p string) {
	t.Helper()
	old := time.Now().Add(-2 * time.Hour)
	if err := os.Chtimes(p, old, old); err != nil {
		t.Fatal(err)
	}
}

func TestGCRemovesTheOrphanOfAKilledSingleRequestUploadAndNothingInFlight(t *testing.T) {
	t.Parallel()
	bin := buildIngest(t)
	forEachDialect(t, func(t *testing.T, dialect, url string) {
		r := newServeRig(t, bin, dialect, url, "--gc-interval", "0")
		r.start()
		data := crashInput(2 << 20)
		r.beginSingleUpload("killed.bin", data)
		r.waitFor("the killed upload's object to be written", func() bool { return len(r.objects()) == 1 })
		r.kill()
		var orphan, orphanPath string
		for key, p := range r.objects() {
			orphan, orphanPath = key, p
		}
		var files int
		if err := r.database().QueryRow(`SELECT count(*) FROM ingest_files`).Scan(&files); err != nil {
			t.Fatal(err)
		}
		if files != 0 {
			r.fatalf("%d files were recorded; the killed upload should have left an object and no row", files)
		}
		age(t, orphanPath)

		// After a restart: an upload in parts in progress, its data older than the grace period,
		// and a single-request upload in flight.
		r.start()
		sess := r.createSession(int64(len(data)), nil)
		r.putPart(sess, 1, data)
		temp := filepath.Join(r.storage, ".uploads", sess.ID.String())
		age(t, filepath.Join(temp, "data"))
		age(t, temp)
		inFlight := r.beginSingleUpload("in-flight.bin", data)
		r.waitFor("the upload in flight's object to be written", func() bool { return len(r.objects()) == 2 })

		gc := func(args ...string) string {
			t.Helper()
			res := runBinary(t, bin, []string{"INGEST_DATABASE_URL=" + url},
				append([]string{"gc", "--storage", "file://" + r.storage}, args...)...)
			if res.code != 0 {
				r.fatalf("ingest gc %v exited %d: %s%s", args, res.code, res.stdout, res.stderr)
			}
			return res.stdout
		}
		out := gc("--dry-run")
		if !strings.Contains(out, "would remove object "+orphan) || !strings.Contains(out, "would remove 1 objects and the temporary data of 0 uploads") {
			t.Errorf("ingest gc --dry-run printed %q, want the orphan %s and nothing else", out, orphan)
		}
		if _, ok := r.objects()[orphan]; !ok {
			t.Fatalf("the dry run removed the orphan")
		}

		out = gc()
		if !strings.Contains(out, "removed object "+orphan) || !strings.Contains(out, "removed 1 objects and the temporary data of 0 uploads") {
			t.Errorf("ingest gc printed %q, want the orphan %s removed and nothing else", out, orphan)
		}
		if _, ok := r.objects()[orphan]; ok {
			t.Errorf("the orphan %s is still there after ingest gc", orphan)
		}
		if _, err := os.Stat(filepath.Join(temp, "data")); err != nil {
			t.Errorf("the data of the upload in progress: %v", err)
		}

		if _, err := inFlight.body.Write(data[len(data)/2:]); err != nil {
			r.fatalf("send the rest of the upload in flight: %v", err)
		}
		inFlight.body.Close()
		if status := <-inFlight.answered; status != http.StatusCreated {
			r.fatalf("the upload in flight answered %d, want 201", status)
		}
		var list struct{ Items []crashFile }
		r.call("GET", "/api/v1/files?status=STORED", nil, http.StatusOK, &list)
		if len(list.Items) != 1 {
			r.fatalf("%d files are STORED, want the upload in flight's", len(list.Items))
		}
		got := r.call("GET", fmt.Sprintf("/api/v1/files/%s/content", list.Items[0].ID), nil, http.StatusOK, nil)
		if !bytes.Equal(got, data) {
			t.Errorf("the upload in flight stored %d bytes that differ from the %d sent", len(got), len(data))
		}
		r.putPart(sess, 2, data)
		r.call("POST", fmt.Sprintf("/api/v1/uploads/%s/complete", sess.ID), nil, http.StatusOK, nil)
	})
}
