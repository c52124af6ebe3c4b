package storetest

import (
	"testing"

	"github.com/google/uuid"

	"github.com/ingest-portal/ingest"
)

func testReconcile(t *testing.T, open Opener) {
	t.Run("objects in use are those of stored files at their key and of files still uploading", func(t *testing.T) {
		f := newFixture(t, open)
		u := f.user(false)
		storedFile, storedSess := f.upload(u, nil, 10, 10)
		f.receiveAll(storedSess, 10)
		obj := object(10)
		if _, err := f.Store.StoreFile(f.ctx, storedSess.ID, obj); err != nil {
			t.Fatal(err)
		}
		uploading, _ := f.upload(u, nil, 10, 10)
		failed, failedSess := f.upload(u, nil, 10, 10)
		if _, err := f.Store.EndUpload(f.ctx, failedSess.ID, ingest.SessionAborted, ingest.EAborted, "client"); err != nil {
			t.Fatal(err)
		}
		objects := map[string]uuid.UUID{
			obj.Key:              storedFile.ID, // the stored file's object
			"blobs/stale-copy":   storedFile.ID, // another key of the stored file's id
			"blobs/uploading":    uploading.ID,
			"blobs/failed":       failed.ID,
			"blobs/no-such-file": ingest.NewID(),
		}
		got, err := f.Store.ObjectsInUse(f.ctx, objects)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]bool{obj.Key: true, "blobs/uploading": true}
		if len(got) != len(want) || !got[obj.Key] || !got["blobs/uploading"] {
			t.Errorf("ObjectsInUse = %v, want %v", got, want)
		}
		if got, err := f.Store.ObjectsInUse(f.ctx, nil); err != nil || len(got) != 0 {
			t.Errorf("ObjectsInUse of nothing = %v, %v", got, err)
		}
	})

	t.Run("active uploads are named by their session or their file", func(t *testing.T) {
		f := newFixture(t, open)
		u := f.user(false)
		activeFile, activeSess := f.upload(u, nil, 10, 10)
		endedFile, endedSess := f.upload(u, nil, 10, 10)
		if _, err := f.Store.EndUpload(f.ctx, endedSess.ID, ingest.SessionFailed, ingest.ESessionExpired, "expired"); err != nil {
			t.Fatal(err)
		}
		gone := ingest.NewID()
		got, err := f.Store.ActiveUploads(f.ctx, []uuid.UUID{activeSess.ID, activeFile.ID, endedSess.ID, endedFile.ID, gone})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 || !got[activeSess.ID] || !got[activeFile.ID] {
			t.Errorf("ActiveUploads = %v, want the active session %s and its file %s", got, activeSess.ID, activeFile.ID)
		}
	})
}
