package iobound_test

import (
	"flag"
	"os"
	"strconv"
	"testing"

	"github.com/ingest-portal/ingest/internal/testkit/iobound"
)

func TestMain(m *testing.M) { os.Exit(iobound.Main(m)) }

func TestMainRaisesParallel(t *testing.T) {
	n, err := strconv.Atoi(flag.Lookup("test.parallel").Value.String())
	if err != nil {
		t.Fatal(err)
	}
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == "test.parallel" })
	if !set && n < iobound.Parallel {
		t.Errorf("-parallel is %d without a -parallel flag, want at least %d", n, iobound.Parallel)
	}
}
