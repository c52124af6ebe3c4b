package e2e_test

// What the browser test needs outside Go — Chromium, Node.js and playwright-core — is installed
// here when it is missing, so that the README's "go test ./..." passes on a fresh machine instead
// of skipping: Chromium and Node.js from Debian's packages, playwright-core with "npm ci" from the
// committed package-lock.json. .ci/run installs them up front.

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// chromiumPath is Debian's Chromium; playwright's own browser downloads are not used.
const chromiumPath = "/usr/bin/chromium"

// installWait bounds each install step.
const installWait = 10 * time.Minute

var aptUpdate sync.Once

// installing makes the installs of tests running side by side take turns: two apt-gets at once,
// or two "npm ci" in one directory, would fail.
var installing sync.Mutex

// aptWaitForLock makes apt-get wait for another process's apt-get or dpkg (another test binary,
// the machine's own updates) instead of failing at once on its lock.
var aptWaitForLock = []string{"-o", "DPkg::Lock::Timeout=600"}

// aptInstall installs Debian packages, refreshing the package lists once first.
func aptInstall(t *testing.T, packages ...string) {
	t.Helper()
	installing.Lock()
	defer installing.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), installWait)
	defer cancel()
	aptUpdate.Do(func() { run(t, ctx, "", "apt-get", append(aptWaitForLock, "update", "-qq")...) })
	run(t, ctx, "", "apt-get", append(append(aptWaitForLock, "install", "-y", "-qq"), packages...)...)
}

// ensureTools installs what is missing of Chromium, Node.js with npm, and e2e/node_modules.
func ensureTools(t *testing.T) {
	t.Helper()
	ensureChromium(t)
	ensureNodeModules(t, ".", "playwright-core")
}

// ensureChromium installs Debian's Chromium when it is missing.
func ensureChromium(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Log("installing chromium")
		aptInstall(t, "chromium")
	}
}

// ensureNode installs Node.js with npm when either is missing.
func ensureNode(t *testing.T) {
	t.Helper()
	for _, tool := range []string{"node", "npm"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Log("installing nodejs and npm")
			aptInstall(t, "nodejs", "npm")
			return
		}
	}
}

// ensureNodeModules installs Node.js when missing, then the packages of the npm project in dir
// with "npm ci" from its committed package-lock.json, unless pkg is there already.
func ensureNodeModules(t *testing.T, dir, pkg string) {
	t.Helper()
	ensureNode(t)
	installing.Lock()
	defer installing.Unlock()
	if _, err := os.Stat(filepath.Join(dir, "node_modules", pkg, "package.json")); err == nil {
		return
	}
	t.Logf("installing %s's packages (npm ci)", dir)
	ctx, cancel := context.WithTimeout(context.Background(), installWait)
	defer cancel()
	run(t, ctx, dir, "npm", "ci", "--no-audit", "--no-fund")
}

// run runs a command in dir and fails the test with its output if it fails.
func run(t *testing.T, ctx context.Context, dir, name string, args ...string) {
	t.Helper()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
}
