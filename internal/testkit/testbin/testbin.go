// Package testbin gives the tests that run a real Go program (the ingest binary) its executable,
// linked once for every test binary and every run rather than once per test binary: linking it
// costs seconds of CPU, and several packages run it.
//
// The program comes from "go run", which since Go 1.24 keeps the executables it links in the build
// cache, keyed by everything that goes into them: a change to any source of the program links it
// anew, and otherwise the cached executable serves cmd/ingest's tests, e2e's, and the next run's.
// "go build -o" would link it again every time.
package testbin

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// Program is a Go program copied on first use into a temporary directory, which Remove deletes.
type Program struct {
	pkg  string
	once sync.Once
	dir  string
	path string
	err  error
}

// New returns the program of the package at pkg (a path as go run takes it, relative to the
// test's package directory).
func New(pkg string) *Program { return &Program{pkg: pkg} }

// Path returns the path of the program's executable, building it on the first call; it fails the
// test when the build fails.
func (p *Program) Path(t testing.TB) string {
	t.Helper()
	p.once.Do(func() {
		if p.dir, p.err = os.MkdirTemp("", "ingest-test-bin-"); p.err != nil {
			return
		}
		abs, err := filepath.Abs(p.pkg)
		if err != nil {
			p.err = err
			return
		}
		bin := filepath.Join(p.dir, filepath.Base(abs)) // "." in ./cmd/ingest is "ingest"
		// go run runs "cp EXECUTABLE bin" instead of the program: a copy of the cached executable
		// (or of the one just linked, which go run caches), that no cache trim can take away.
		if out, err := exec.Command("go", "run", "-exec", "cp", p.pkg, bin).CombinedOutput(); err != nil {
			p.err = fmt.Errorf("go run -exec cp %s: %v\n%s", p.pkg, err, out)
			return
		}
		p.path = bin
	})
	if p.err != nil {
		t.Fatal(p.err)
	}
	return p.path
}

// Remove deletes the copy; TestMain calls it once the tests have run.
func (p *Program) Remove() {
	if p.dir != "" {
		os.RemoveAll(p.dir)
	}
}
