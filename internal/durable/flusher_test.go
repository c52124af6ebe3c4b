package durable

import (
	"os"
	"path/filepath"
	"testing"
)

// modes returns the modes this OS has.
func modes() []Mode {
	if FSSupported {
		return []Mode{Files, Filesystem}
	}
	return []Mode{Files}
}

// TestBeforeFlushIsToldOfEachSharedFlush: the seam of the power-cut tests hears of every flush
// that a Flusher shares, before it runs, in every mode.
func TestBeforeFlushIsToldOfEachSharedFlush(t *testing.T) {
	for _, mode := range modes() {
		t.Run(string(mode), func(t *testing.T) {
			f, err := New(mode)
			if err != nil {
				t.Fatal(err)
			}
			var told int
			f.BeforeFlush = func() { told++ }
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
			if told != 1 {
				t.Errorf("a new file's flush was told %d times, want once", told)
			}
			if err := v.SyncDir(dir); err != nil {
				t.Fatal(err)
			}
			if told != 2 {
				t.Errorf("after a directory's flush BeforeFlush was told %d times, want 2", told)
			}
		})
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
