package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// cliGuide is the user's guide to the command line; its sh blocks are a script the test runs.
const cliGuide = "../../docs/cli.md"

// shBlocks returns the ```sh blocks of a markdown file as one script, each block after a comment
// naming the line it starts on, and how many blocks there are.
func shBlocks(t *testing.T, path string) (script string, blocks int) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	in := false
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		switch {
		case !in && strings.TrimSpace(line) == "```sh":
			in = true
			blocks++
			fmt.Fprintf(&b, "# %s:%d\n", path, n)
		case in && strings.TrimSpace(line) == "```":
			in = false
		case in:
			b.WriteString(line + "\n")
		}
	}
	if in || blocks == 0 {
		t.Fatalf("%s: an sh block is not closed, or there is none", path)
	}
	return b.String(), blocks
}

// TestCLIGuideRuns runs every sh block of docs/cli.md, in order, in one bash process, against a
// real "ingest serve", with the built ingest first on the PATH: the guide's examples work as
// written.
func TestCLIGuideRuns(t *testing.T) {
	t.Parallel()
	script, blocks := shBlocks(t, cliGuide)
	forEachServer(t, func(t *testing.T, bin string, r *serveRig) {
		cmd := exec.CommandContext(t.Context(), "bash", "-euo", "pipefail", "-c", script)
		cmd.Dir = t.TempDir()
		for _, kv := range os.Environ() {
			if !strings.HasPrefix(kv, "INGEST_") && !strings.HasPrefix(kv, "PATH=") {
				cmd.Env = append(cmd.Env, kv)
			}
		}
		cmd.Env = append(cmd.Env, cliEnv(r)...)
		cmd.Env = append(cmd.Env, "PATH="+filepath.Dir(bin)+string(os.PathListSeparator)+os.Getenv("PATH"))
		out, err := cmd.CombinedOutput()
		if err != nil {
			r.fatalf("the %d sh blocks of %s failed: %v\n%s", blocks, cliGuide, err, out)
		}
		for _, want := range []string{"3 of 3 files stored", "exit status 1", "files:    3 (3 stored, 0 failed)", "ACTIVE  1/2", "REVOKED  1/2", "revoked upload grant"} {
			if !strings.Contains(string(out), want) {
				t.Errorf("the guide's output does not show %q:\n%s", want, out)
			}
		}
	})
}
