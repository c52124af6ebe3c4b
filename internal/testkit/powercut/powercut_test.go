package powercut_test

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/ingest-portal/ingest/internal/testkit/powercut"
)

func write(t *testing.T, path, content string, syncFile bool) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(content); err != nil {
		t.Fatal(err)
	}
	if syncFile {
		if err := f.Sync(); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

func syncPath(t *testing.T, path string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
}

// assertFile checks that path holds want after the cut, or is absent when want is nil.
func assertFile(t *testing.T, path string, want *string) {
	t.Helper()
	got, err := os.ReadFile(path)
	switch {
	case want == nil && errors.Is(err, os.ErrNotExist):
	case want == nil:
		t.Errorf("%s survived the cut (%q, %v), want it gone", filepath.Base(path), got, err)
	case err != nil:
		t.Errorf("%s: %v, want %q", filepath.Base(path), err, *want)
	case string(got) != *want:
		t.Errorf("%s holds %q after the cut, want %q", filepath.Base(path), got, *want)
	}
}

func ptr(s string) *string { return &s }

// TestACutKeepsOnlyWhatWasMadeDurable: the POSIX worst case, one rule per file.
func TestACutKeepsOnlyWhatWasMadeDurable(t *testing.T) {
	h := powercut.Mount(t, powercut.Options{})
	dir := h.Dir()
	sub := filepath.Join(dir, "sub")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	syncPath(t, dir) // sub's name is durable, its entries not yet

	write(t, filepath.Join(sub, "synced"), "data and name", true)
	write(t, filepath.Join(sub, "name-only"), "never fsynced", false)
	write(t, filepath.Join(sub, "removed"), "removed, but not durably", true)
	syncPath(t, sub)
	// Created after the directory's fsync: its own fsync does not make its name durable.
	write(t, filepath.Join(sub, "late"), "a name never made durable", true)
	if err := os.Remove(filepath.Join(sub, "removed")); err != nil {
		t.Fatal(err)
	}

	// Changed after it was made durable, then not fsynced: the old bytes come back.
	f, err := os.OpenFile(filepath.Join(sub, "synced"), os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("overwritten"); err != nil {
		t.Fatal(err)
	}
	f.Close()

	if err := h.Cut(); err != nil {
		t.Fatal(err)
	}
	assertFile(t, filepath.Join(sub, "synced"), ptr("data and name"))
	assertFile(t, filepath.Join(sub, "name-only"), ptr(""))
	assertFile(t, filepath.Join(sub, "removed"), ptr("removed, but not durably"))
	assertFile(t, filepath.Join(sub, "late"), nil)
}

// TestTheMarkerMakesEverythingDurable: an fsync of the marker is a syncfs.
func TestTheMarkerMakesEverythingDurable(t *testing.T) {
	for _, ignore := range []bool{false, true} {
		h := powercut.Mount(t, powercut.Options{IgnoreSyncfs: ignore})
		nested := filepath.Join(h.Dir(), "a", "b")
		if err := os.MkdirAll(nested, 0o755); err != nil {
			t.Fatal(err)
		}
		write(t, filepath.Join(nested, "file"), "kept by the syncfs", false)
		if err := os.Rename(filepath.Join(nested, "file"), filepath.Join(h.Dir(), "moved")); err != nil {
			t.Fatal(err)
		}
		syncPath(t, h.MarkerPath())
		write(t, filepath.Join(h.Dir(), "after"), "written after the syncfs", false)
		if err := h.Cut(); err != nil {
			t.Fatal(err)
		}
		var want *string
		if !ignore {
			want = ptr("kept by the syncfs")
		}
		assertFile(t, filepath.Join(h.Dir(), "moved"), want)
		assertFile(t, filepath.Join(nested, "file"), nil)
		assertFile(t, filepath.Join(h.Dir(), "after"), nil)
	}
}

// TestCutWhenFailsThatSync: the power goes off in the middle of the chosen flush, which then
// makes nothing durable.
func TestCutWhenFailsThatSync(t *testing.T) {
	h := powercut.Mount(t, powercut.Options{})
	var asked []string
	h.CutWhen(func(what string) bool {
		asked = append(asked, what)
		if len(asked) < 3 {
			return false
		}
		h.Freeze()
		return true
	})
	path := filepath.Join(h.Dir(), "file")
	write(t, path, "first", true)
	syncPath(t, h.Dir())
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("second"); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err == nil {
		t.Error("the fsync after the cut succeeded")
	}
	f.Close()
	if want := []string{"fsync file", "directory fsync ", "fsync file"}; !slices.Equal(asked, want) {
		t.Errorf("the cut was asked about %q, want %q", asked, want)
	}
	if err := h.Cut(); err != nil {
		t.Fatal(err)
	}
	assertFile(t, path, ptr("first"))
}
