package main

// Tests of the relative paths "ingest upload DIR" records and "ingest files get --keep-paths"
// restores, and of "files get" never replacing a file without --force: the real binary against a
// real "ingest serve" process, on SQLite and PostgreSQL.

import (
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestUploadRecordsRelativePathsThatGetRestores(t *testing.T) {
	t.Parallel()
	forEachServer(t, func(t *testing.T, bin string, r *serveRig) {
		dir := t.TempDir()
		rels := []string{"a.txt", "sub/b.txt", "sub/deeper/ü c.txt"}
		for _, rel := range rels {
			writeFile(t, filepath.Join(dir, filepath.FromSlash(rel)), []byte("content of "+rel))
		}
		single := filepath.Join(t.TempDir(), "alone.txt")
		writeFile(t, single, []byte("alone"))
		res := runBinary(t, bin, cliEnv(r), "upload", "--json", dir, single)
		if res.code != 0 {
			r.fatalf("upload: %v", res)
		}
		lines := uploadLines(t, res.stdout)
		var meta struct {
			Metadata map[string]string `json:"metadata"`
		}
		for _, rel := range rels {
			r.call("GET", "/api/v1/files/"+lines[filepath.Join(dir, filepath.FromSlash(rel))].FileID, nil, http.StatusOK, &meta)
			if meta.Metadata["relative_path"] != rel || len(meta.Metadata) != 1 {
				t.Errorf("%s: metadata %v, want relative_path %q", rel, meta.Metadata, rel)
			}
		}
		meta.Metadata = nil
		r.call("GET", "/api/v1/files/"+lines[single].FileID, nil, http.StatusOK, &meta)
		if len(meta.Metadata) != 0 {
			t.Errorf("a file named by itself has metadata %v, want none", meta.Metadata)
		}

		out := t.TempDir()
		deep := lines[filepath.Join(dir, "sub", "deeper", "ü c.txt")].FileID
		for _, rel := range rels {
			id := lines[filepath.Join(dir, filepath.FromSlash(rel))].FileID
			if get := runBinary(t, bin, cliEnv(r), "files", "get", id, "--keep-paths", "-o", out); get.code != 0 {
				t.Fatalf("files get --keep-paths %s: %v", rel, get)
			}
			if got, err := os.ReadFile(filepath.Join(out, filepath.FromSlash(rel))); err != nil || string(got) != "content of "+rel {
				t.Errorf("%s restored as %q, %v", rel, got, err)
			}
		}
		// Without a relative_path, --keep-paths writes the file under its name.
		if get := runBinary(t, bin, cliEnv(r), "files", "get", lines[single].FileID, "--keep-paths", "-o", out); get.code != 0 {
			t.Errorf("files get --keep-paths of a file without a path: %v", get)
		} else if got, _ := os.ReadFile(filepath.Join(out, "alone.txt")); string(got) != "alone" {
			t.Errorf("alone.txt holds %q", got)
		}

		// An existing file is replaced only with --force, and the refusal names it.
		target := filepath.Join(out, "sub", "deeper", "ü c.txt")
		if err := os.WriteFile(target, []byte("mine"), 0o644); err != nil {
			t.Fatal(err)
		}
		again := runBinary(t, bin, cliEnv(r), "files", "get", deep, "--keep-paths", "-o", out)
		if again.code == 0 || !strings.Contains(again.stderr, target) || !strings.Contains(again.stderr, "--force") {
			t.Errorf("files get over an existing file: %v", again)
		}
		if got, _ := os.ReadFile(target); string(got) != "mine" {
			t.Errorf("the existing file now holds %q", got)
		}
		if forced := runBinary(t, bin, cliEnv(r), "files", "get", deep, "--keep-paths", "--force", "-o", out); forced.code != 0 {
			t.Errorf("files get --force: %v", forced)
		}
		if got, _ := os.ReadFile(target); string(got) != "content of sub/deeper/ü c.txt" {
			t.Errorf("after --force the file holds %q", got)
		}
		copyPath := filepath.Join(out, "copy.txt")
		if err := os.WriteFile(copyPath, []byte("mine"), 0o644); err != nil {
			t.Fatal(err)
		}
		if plain := runBinary(t, bin, cliEnv(r), "files", "get", deep, "-o", copyPath); plain.code == 0 || !strings.Contains(plain.stderr, copyPath) {
			t.Errorf("files get -o over an existing file: %v", plain)
		}
		if got, _ := os.ReadFile(copyPath); string(got) != "mine" {
			t.Errorf("files get -o replaced the existing file without --force: %q", got)
		}
		entries, _ := os.ReadDir(filepath.Join(out, "sub", "deeper"))
		if len(entries) != 1 {
			t.Errorf("the refusals left files behind: %v", entries)
		}

		// A relative_path that leaves the output directory is refused, and nothing is written.
		for _, evil := range []string{"../escaped.txt", "sub/../../escaped.txt", "/tmp/escaped.txt"} {
			q := url.Values{"filename": {"escaped.txt"}, "metadata[relative_path]": {evil}}
			var f struct {
				ID string `json:"id"`
			}
			r.call("POST", "/api/v1/files?"+q.Encode(), []byte("evil"), http.StatusCreated, &f)
			parent := t.TempDir()
			inside := filepath.Join(parent, "out")
			if err := os.Mkdir(inside, 0o755); err != nil {
				t.Fatal(err)
			}
			get := runBinary(t, bin, cliEnv(r), "files", "get", f.ID, "--keep-paths", "-o", inside)
			if get.code == 0 || !strings.Contains(get.stderr, "refusing") || !strings.Contains(get.stderr, evil) {
				t.Errorf("files get --keep-paths of %q: %v", evil, get)
			}
			if entries, _ := os.ReadDir(parent); len(entries) != 1 {
				t.Errorf("%q: the refusal wrote %v", evil, entries)
			}
			if entries, _ := os.ReadDir(inside); len(entries) != 0 {
				t.Errorf("%q: the refusal wrote %v", evil, entries)
			}
		}

		// A symbolic link inside the output directory does not lead the file out of it.
		q := url.Values{"filename": {"x.txt"}, "metadata[relative_path]": {"link/x.txt"}}
		var f struct {
			ID string `json:"id"`
		}
		r.call("POST", "/api/v1/files?"+q.Encode(), []byte("x"), http.StatusCreated, &f)
		outside, inside := t.TempDir(), t.TempDir()
		if err := os.Symlink(outside, filepath.Join(inside, "link")); err != nil {
			t.Fatal(err)
		}
		if get := runBinary(t, bin, cliEnv(r), "files", "get", f.ID, "--keep-paths", "-o", inside); get.code == 0 {
			t.Errorf("files get --keep-paths through a symbolic link out of the directory: %v", get)
		}
		if entries, _ := os.ReadDir(outside); len(entries) != 0 {
			t.Errorf("files get wrote %v through a symbolic link", entries)
		}
	})
}
