// Package testbin builds a Go program once per test binary, for the tests that run the real
// thing: linking it takes seconds, and many tests run it.
package testbin

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// Program is a Go program built on first use into a temporary directory, which Remove deletes.
type Program struct {
	pkg  string
	once sync.Once
	dir  string
	path string
	err  error
}

// New returns the program of the package at pkg (a path as go build takes it, relative to the
// test's package directory).
func New(pkg string) *Program { return &Program{pkg: pkg} }

// Path returns the path of the built program, building it on the first call; it fails the test
// when the build fails.
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
		bin := filepath.Join(p.dir, filepath.Base(abs)) // "." in ./cmd/ingest builds "ingest"
		if out, err := exec.Command("go", "build", "-o", bin, p.pkg).CombinedOutput(); err != nil {
			p.err = fmt.Errorf("go build %s: %v\n%s", p.pkg, err, out)
			return
		}
		p.path = bin
	})
	if p.err != nil {
		t.Fatal(p.err)
	}
	return p.path
}

// Remove deletes what was built; TestMain calls it once the tests have run.
func (p *Program) Remove() {
	if p.dir != "" {
		os.RemoveAll(p.dir)
	}
}
