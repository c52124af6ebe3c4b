package durable

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// TestBeforeSyncfsIsToldOfEachSyncfs: the seam of the power-cut tests hears of every syncfs before
// it runs, and of nothing else: a directory's fsync reaches a FUSE server by itself.
func TestBeforeSyncfsIsToldOfEachSyncfs(t *testing.T) {
	for _, mode := range Modes() {
		t.Run(string(mode), func(t *testing.T) {
			f, err := New(mode)
			if err != nil {
				t.Fatal(err)
			}
			var told int
			f.BeforeSyncfs = func() error { told++; return nil }
			dir := t.TempDir()
			v, err := f.Volume(dir)
			if err != nil {
				t.Fatal(err)
			}
			file, err := os.Create(filepath.Join(dir, "object"))
			if err != nil {
				t.Fatal(err)
			}
			pending, err := v.CloseNew(file)
			if err == nil && pending != nil {
				err = pending.Wait()
			}
			if err != nil {
				t.Fatal(err)
			}
			want := 0
			if mode == Filesystem {
				want = 1
			}
			if told != want {
				t.Errorf("a new file's flush was told %d times, want %d", told, want)
			}
			if err := v.SyncDir(dir); err != nil {
				t.Fatal(err)
			}
			if told != want {
				t.Errorf("after a directory's fsync BeforeSyncfs was told %d times, want %d still", told, want)
			}
		})
	}
}

// TestBeforeSyncfsFailsTheFlush: a seam that fails fails the flush it was told of, so that a
// harness which cannot make the writes durable never lets them be acknowledged.
func TestBeforeSyncfsFailsTheFlush(t *testing.T) {
	if !FSSupported {
		t.Skip("no syncfs(2) here")
	}
	f, err := New(Filesystem)
	if err != nil {
		t.Fatal(err)
	}
	refused := errors.New("refused")
	f.BeforeSyncfs = func() error { return refused }
	v, err := f.Volume(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := v.SharedFlush()(); !errors.Is(err, refused) {
		t.Errorf("the shared flush returned %v, want the seam's error", err)
	}
}

func TestNewRefusesAnUnknownMode(t *testing.T) {
	if _, err := New("sometimes"); err == nil {
		t.Error(`New("sometimes") succeeded`)
	}
	if f, err := New(""); err != nil || f.mode != DefaultMode() {
		t.Errorf(`New("") = %v, %v; want a flusher of the default mode`, f, err)
	}
}
