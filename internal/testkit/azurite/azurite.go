// Package azurite gives tests an Azure Blob Storage service of their own: Azurite, the Azure
// Storage emulator from npm (pinned by package-lock.json beside this file; `npm ci --prefix
// internal/testkit/azurite` installs it, as .ci/run does, and the first test to need it does when
// it is missing), run in memory on a free port of 127.0.0.1 and stopped when the test ends.
package azurite

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	"golang.org/x/sys/unix"
)

// Azurite's well-known development account, which every Azurite accepts.
const (
	Account = "devstoreaccount1"
	Key     = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)

// startTimeout bounds how long Azurite may take to listen; it usually takes about a second.
const startTimeout = 60 * time.Second

var listening = regexp.MustCompile(`successfully listens on (http://\S+)`)

// Server is a running Azurite blob service.
type Server struct {
	// Endpoint is the account's blob service URL, http://127.0.0.1:port/devstoreaccount1.
	Endpoint   string
	containers atomic.Int64
}

// Start starts Azurite for the test and stops it when the test ends. It fails the test when
// Azurite is not installed or does not start.
func Start(t testing.TB) *Server {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	dir := filepath.Dir(file)
	bin := filepath.Join(dir, "node_modules", ".bin", "azurite-blob")
	install(t, dir, bin)
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, "--blobHost", "127.0.0.1", "--blobPort", "0",
		"--inMemoryPersistence", "--skipApiVersionCheck", "--loose")
	// Azurite writes its debug log and the like to the working directory.
	cmd.Dir = t.TempDir()
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.StdoutPipe()
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("azurite: start %s: %v (install it with npm ci --prefix internal/testkit/azurite)", bin, err)
	}
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
	})
	found := make(chan string, 1)
	go func() {
		lines := bufio.NewScanner(out)
		for lines.Scan() {
			if m := listening.FindStringSubmatch(lines.Text()); m != nil {
				found <- m[1]
			}
		}
	}()
	select {
	case base := <-found:
		return &Server{Endpoint: base + "/" + Account}
	case <-time.After(startTimeout):
		t.Fatalf("azurite: not listening after %s", startTimeout)
	}
	return nil
}

// Container creates an empty container of its own and returns its name.
func (s *Server) Container(t testing.TB) string {
	t.Helper()
	name := fmt.Sprintf("container-%d", s.containers.Add(1))
	c, err := s.Client(t, name)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Create(context.Background(), nil); err != nil {
		t.Fatalf("azurite: create container %s: %v", name, err)
	}
	return name
}

// Client returns a client of the named container with the development account's key.
func (s *Server) Client(t testing.TB, name string) (*container.Client, error) {
	t.Helper()
	cred, err := container.NewSharedKeyCredential(Account, Key)
	if err != nil {
		return nil, err
	}
	return container.NewClientWithSharedKeyCredential(s.Endpoint+"/"+name, cred, nil)
}

// Blobs returns the names of the blobs of the container under prefix, with those that have
// uncommitted blocks only.
func (s *Server) Blobs(t testing.TB, name, prefix string) []string {
	t.Helper()
	c, err := s.Client(t, name)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	pager := c.NewListBlobsFlatPager(&container.ListBlobsFlatOptions{
		Prefix:  &prefix,
		Include: container.ListBlobsInclude{UncommittedBlobs: true},
	})
	for pager.More() {
		page, err := pager.NextPage(context.Background())
		if err != nil {
			t.Fatalf("azurite: list %s/%s: %v", name, prefix, err)
		}
		for _, b := range page.Segment.BlobItems {
			names = append(names, *b.Name)
		}
	}
	return names
}

// install runs npm ci in dir when bin is missing, so that go test ./... needs nothing installed by
// hand. The test binaries of several packages may need Azurite at once: a lock file takes them in
// turn, and those after the first find it installed.
func install(t testing.TB, dir, bin string) {
	t.Helper()
	if _, err := os.Stat(bin); err == nil {
		return
	}
	lock, err := os.OpenFile(filepath.Join(os.TempDir(), "ingest-azurite-install.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		t.Fatalf("azurite: install: %v", err)
	}
	defer lock.Close()
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX); err != nil {
		t.Fatalf("azurite: install: %v", err)
	}
	defer unix.Flock(int(lock.Fd()), unix.LOCK_UN)
	if _, err := os.Stat(bin); err == nil {
		return
	}
	t.Logf("azurite: installing it (npm ci in %s)", dir)
	cmd := exec.Command("npm", "ci", "--no-audit", "--no-fund")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("azurite: npm ci in %s: %v\n%s", dir, err, out)
	}
}
