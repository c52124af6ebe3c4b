package e2e_test

import (
	"context"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/ingest-portal/ingest/internal/testkit/testdb"
)

// nodeTestWait bounds one run of the tus-js-client tests; they take some seconds.
const nodeTestWait = 5 * time.Minute

// portalFlags are the serve flags of the tus tests: small parts, so that small files span several
// of them and uploads end inside one, and a short lease, so that an upload whose writer died is
// taken over soon.
var portalFlags = []string{"--chunk-size", "256KiB", "--stream-lease", "2s"}

// TestTusJSClient runs tus-js-client 4.3.1 from npm, unmodified, under node --test
// (tusjs/upload.test.mjs) against a real serve, as a user who is not an administrator.
func TestTusJSClient(t *testing.T) {
	t.Parallel()
	ensureNodeModules(t, "tusjs", "tus-js-client")
	bin := buildIngest(t)
	for _, dialect := range testdb.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			p := startPortal(t, bin, testdb.MigratedURL(t, dialect), portalFlags...)
			token := p.createUser("tus-client")
			runNodeTests(t, p, "tusjs", map[string]string{"INGEST_URL": p.URL, "INGEST_TOKEN": token})
		})
	}
}

// nodeSummary matches the counts node --test's spec reporter ends with.
var nodeSummary = regexp.MustCompile(`(?m)^ℹ (tests|pass|fail|skipped|todo|cancelled) (\d+)$`)

// runNodeTests runs node --test in dir with env and logs its report. It fails the test if a Node
// test failed, or was skipped, cancelled or left to do: each must run and pass.
func runNodeTests(t *testing.T, p *portal, dir string, env map[string]string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), nodeTestWait)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", "--test", "--test-reporter=spec")
	cmd.Dir = dir
	cmd.Env = os.Environ()
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	out, err := cmd.CombinedOutput()
	t.Logf("node --test in %s:\n%s", dir, out)
	if err != nil {
		t.Fatalf("node --test: %v\n--- server ---\n%s", err, p.Log())
	}
	counts := map[string]int{}
	for _, m := range nodeSummary.FindAllStringSubmatch(string(out), -1) {
		counts[m[1]], _ = strconv.Atoi(m[2])
	}
	if counts["tests"] == 0 || counts["pass"] != counts["tests"] {
		t.Fatalf("node --test: %v; want every test run and passed", counts)
	}
}
