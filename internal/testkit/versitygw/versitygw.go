// Package versitygw gives tests a real S3-compatible server of their own: the Versity S3 Gateway
// with its posix backend on a temporary directory, listening on a free port of 127.0.0.1.
//
// The gateway is a Go tool dependency of the module (the tool directive in go.mod), so
// `go tool versitygw` builds the pinned version from the module cache: a clean clone needs nothing
// installed. The first build takes about a minute on two cores; later ones come from the build
// cache.
//
// There is deliberately no way to skip: when the gateway cannot be built or started the test
// fails and says why, so a green run always means a real S3 server was tested against.
package versitygw

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/ingest-portal/ingest/internal/testkit/syncbuf"
)

// The credentials and region every test server uses. They guard nothing: the server listens on
// the loopback interface only and lives as long as one test.
const (
	AccessKey = "ingest-test-access"
	SecretKey = "ingest-test-secret"
	Region    = "us-east-1"
)

// startTimeout bounds how long a started gateway may take to answer; it usually takes well under
// a second.
const startTimeout = 20 * time.Second

// Server is a running gateway.
type Server struct {
	// Endpoint is the base URL of the S3 API, http://127.0.0.1:port.
	Endpoint  string
	AccessKey string
	SecretKey string
	Region    string

	client *s3.Client
}

// binary caches the path of the built gateway for the whole test binary.
var binary struct {
	once sync.Once
	path string
	err  error
}

// buildBinary builds the gateway pinned in go.mod, or finds it in the build cache, and returns its
// path. It must run inside the module, which is where go test runs a package's tests.
func buildBinary() (string, error) {
	binary.once.Do(func() {
		var stderr bytes.Buffer
		cmd := exec.Command("go", "tool", "-n", "versitygw")
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			binary.err = fmt.Errorf("go tool -n versitygw: %v: %s", err, strings.TrimSpace(stderr.String()))
			return
		}
		binary.path = strings.TrimSpace(string(out))
	})
	return binary.path, binary.err
}

// Start runs a gateway on an empty temporary directory for the rest of the test and returns it
// once it answers S3 requests. The gateway is killed when the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	path, err := buildBinary()
	if err != nil {
		t.Fatalf("versitygw: cannot build the gateway pinned in go.mod: %v", err)
	}
	// A port found free may be taken before the gateway binds it; another try settles that.
	var lastErr error
	for range 3 {
		s, err := start(t, path)
		if err == nil {
			return s
		}
		lastErr = err
	}
	t.Fatalf("versitygw: the gateway did not start: %v (its posix backend needs a temporary "+
		"directory on a filesystem with user extended attributes: ext4, xfs, btrfs, tmpfs since "+
		"Linux 6.6; set TMPDIR to one)", lastErr)
	return nil
}

// start runs the gateway once. On success the process is stopped by t.Cleanup; on failure it is
// already stopped.
func start(t testing.TB, path string) (*Server, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	out := &syncbuf.Buffer{}
	cmd := exec.Command(path,
		"--access", AccessKey, "--secret", SecretKey, "--region", Region,
		"--port", addr, "--keep-alive", "--quiet",
		"posix", t.TempDir())
	// The gateway reads its settings from VGW_* and ROOT_* variables as well as from flags: an
	// empty environment keeps the developer's shell out of the test.
	cmd.Env = []string{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("run %s: %w", path, err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	stop := func() {
		_ = cmd.Process.Kill()
		<-exited
	}

	s := &Server{Endpoint: "http://" + addr, AccessKey: AccessKey, SecretKey: SecretKey, Region: Region}
	s.client = s3.New(s3.Options{
		Region:       s.Region,
		BaseEndpoint: aws.String(s.Endpoint),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(s.AccessKey, s.SecretKey, ""),
	})
	if err := s.waitReady(exited); err != nil {
		stop()
		return nil, fmt.Errorf("%w; gateway output: %s", err, strings.TrimSpace(out.String()))
	}
	t.Cleanup(stop)
	return s, nil
}

// waitReady polls the gateway with an authenticated request until it answers, it exits or
// startTimeout passes.
func (s *Server) waitReady(exited <-chan struct{}) error {
	deadline := time.Now().Add(startTimeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := s.client.ListBuckets(ctx, &s3.ListBucketsInput{}, func(o *s3.Options) {
			o.Retryer = aws.NopRetryer{}
		})
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-exited:
			return errors.New("the gateway exited")
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no answer at %s within %s: %w", s.Endpoint, startTimeout, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// freeAddr returns a loopback address whose port is free right now.
func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// bucketSeq makes bucket names unique within the test binary; the random part keeps them apart
// from anything a previous run left.
var bucketSeq atomic.Int64

// NewBucket creates an empty bucket with a name of its own and returns the name.
func (s *Server) NewBucket(t testing.TB) string {
	t.Helper()
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	name := fmt.Sprintf("test-%d-%s", bucketSeq.Add(1), hex.EncodeToString(b))
	if _, err := s.client.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		t.Fatalf("versitygw: create bucket %s: %v", name, err)
	}
	return name
}

// Client returns an S3 client of the gateway's root user, with the SDK's default settings but for
// path-style addressing, which a server on an IP address needs.
func (s *Server) Client() *s3.Client { return s.client }
