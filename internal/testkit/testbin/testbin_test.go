package testbin_test

import (
	"os"
	"os/exec"
	"testing"

	"github.com/ingest-portal/ingest/internal/testkit/testbin"
)

func TestPathIsTheProgramAndRemoveDeletesIt(t *testing.T) {
	p := testbin.New("./testdata/greet")
	bin := p.Path(t)
	out, err := exec.Command(bin, "tests").CombinedOutput()
	if err != nil || string(out) != "hello tests\n" {
		t.Fatalf("%s tests: %q, %v; want \"hello tests\\n\"", bin, out, err)
	}
	if again := p.Path(t); again != bin {
		t.Errorf("the second Path is %s, want %s, the first", again, bin)
	}
	p.Remove()
	if _, err := os.Stat(bin); !os.IsNotExist(err) {
		t.Errorf("after Remove, %s: %v; want it gone", bin, err)
	}
}
