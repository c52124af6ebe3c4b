// Package iobound runs a package's tests with more of them at once than the machine has cores,
// for the packages whose tests mostly wait: on the processes they start, on database round trips,
// on flushes. go test's default, -parallel GOMAXPROCS, leaves such a package's cores idle.
package iobound

import (
	"flag"
	"strconv"
	"testing"
)

// Parallel is how many tests marked t.Parallel run at once under Main: several per core.
const Parallel = 8

// Main runs m with -parallel raised to at least Parallel, unless the command line sets -parallel
// (which then wins), and returns m.Run's exit code.
func Main(m *testing.M) int {
	flag.Parse()
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == "test.parallel" })
	if f := flag.Lookup("test.parallel"); !set && f != nil {
		if n, err := strconv.Atoi(f.Value.String()); err == nil && n < Parallel {
			_ = f.Value.Set(strconv.Itoa(Parallel))
		}
	}
	return m.Run()
}
