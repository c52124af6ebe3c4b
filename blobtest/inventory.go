package blobtest

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ingest-portal/ingest"
)

// testInventory checks a store that lists what it holds (ingest.BlobInventory): objects and
// temporary data apart, each upload's temporary data named, and removed for good, the objects
// untouched. A store that cannot list says so by not implementing the interface.
func testInventory(t *testing.T, h Harness) {
	store := h.New(t)
	inv, ok := store.(ingest.BlobInventory)
	if !ok {
		return
	}
	ctx := context.Background()
	before := time.Now().Add(-time.Hour)
	done := stored(t, store, randomBytes(t, h.ChunkSize+3), h.ChunkSize, nil)
	put := ingest.ObjectKey(store.Prefix(), ingest.NewID(), time.Now())
	if err := store.PutObject(ctx, put, bytes.NewReader([]byte("put")), 3); err != nil {
		t.Fatal(err)
	}
	open := newUpload(t, store, 2*h.ChunkSize, h.ChunkSize)
	writeParts(t, store, open, randomBytes(t, 2*h.ChunkSize), []int{1})
	streamed := newUpload(t, store, 2*h.ChunkSize, h.ChunkSize)
	if w, ok := store.(ingest.StreamWriter); ok {
		streamed.Streamed = true
		if _, err := w.WriteStream(ctx, streamed, 1, 0, bytes.NewReader([]byte("a tail")), 6); err != nil {
			t.Fatal(err)
		}
	}

	var keys []string
	err := inv.ListObjects(ctx, func(key string, modified time.Time) error {
		keys = append(keys, key)
		if modified.Before(before) || modified.After(time.Now().Add(time.Hour)) {
			t.Errorf("object %s was last written at %v", key, modified)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{done.Key, put} {
		if !slices.Contains(keys, key) {
			t.Errorf("ListObjects = %v, without %s", keys, key)
		}
	}
	for _, key := range keys {
		if key == open.Key || key == streamed.Key || strings.Contains(key, ".uploads") || !strings.HasPrefix(key, store.Prefix()) {
			t.Errorf("ListObjects lists %s, which is no object of the store", key)
		}
	}

	for _, u := range []ingest.BlobUpload{open, streamed} {
		pieces := temporaryOf(t, inv, u)
		if len(pieces) == 0 {
			t.Fatalf("ListTemporary does not name the upload in progress %s", u.SessionID)
		}
		for _, p := range pieces {
			if p.Modified.Before(before) || p.Modified.After(time.Now().Add(time.Hour)) {
				t.Errorf("temporary data %+v was last written at %v", p, p.Modified)
			}
			for range 2 { // removing twice is no error
				if err := inv.RemoveTemporary(ctx, p); err != nil {
					t.Fatalf("RemoveTemporary(%+v): %v", p, err)
				}
			}
		}
		if left := temporaryOf(t, inv, u); len(left) != 0 {
			t.Errorf("after RemoveTemporary, ListTemporary still names %s: %+v", u.SessionID, left)
		}
	}
	for _, key := range []string{done.Key, put} {
		if _, err := store.StatObject(ctx, key); err != nil {
			t.Errorf("object %s after the temporary data was removed: %v", key, err)
		}
	}
}

// temporaryOf returns the pieces of temporary data ListTemporary names for u.
func temporaryOf(t *testing.T, inv ingest.BlobInventory, u ingest.BlobUpload) []ingest.TemporaryData {
	t.Helper()
	var out []ingest.TemporaryData
	err := inv.ListTemporary(context.Background(), func(p ingest.TemporaryData) error {
		if p.SessionID == u.SessionID || (p.Key != "" && p.Key == u.Key) {
			out = append(out, p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
