package s3_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/ingest-portal/ingest/internal/testkit/versitygw"
)

// errStalled is what a pacedReader returns when the bytes it gave out do not reach the server.
var errStalled = errors.New("the body was read but did not reach the server")

// pacedReader yields size bytes of pattern in small reads, but never more than window bytes ahead
// of what has arrived at the server: a store that held the body back, in memory or anywhere else,
// would make it wait until stall passes and fail.
type pacedReader struct {
	size, window int64
	stall        time.Duration
	arrived      func() int64

	read     int64
	maxAhead int64
}

func (r *pacedReader) Read(p []byte) (int, error) {
	if r.read == r.size {
		return 0, io.EOF
	}
	deadline := time.Now().Add(r.stall)
	for r.read-r.arrived() > r.window {
		if time.Now().After(deadline) {
			return 0, errStalled
		}
		time.Sleep(time.Millisecond)
	}
	r.maxAhead = max(r.maxAhead, r.read-r.arrived())
	n := int(min(int64(len(p)), 64<<10, r.size-r.read))
	for i := range n {
		p[i] = patternByte(r.read + int64(i))
	}
	r.read += int64(n)
	return n, nil
}

func patternByte(i int64) byte { return byte(i % 251) }

// pattern returns the first n bytes a pacedReader yields.
func pattern(n int64) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = patternByte(int64(i))
	}
	return b
}

// proxy forwards TCP connections to a server and counts and keeps the bytes clients send through
// it.
type proxy struct {
	listener net.Listener
	received atomic.Int64
	ended    atomic.Int64 // client connections that have ended

	mu    sync.Mutex
	sent  bytes.Buffer // what clients sent, all connections together
	conns []net.Conn
	wg    sync.WaitGroup
}

// startProxy forwards a port of its own to the server at endpoint until the test ends.
func startProxy(t *testing.T, endpoint string) *proxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{listener: l}
	target := strings.TrimPrefix(endpoint, "http://")
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			client, err := l.Accept()
			if err != nil {
				return
			}
			server, err := net.Dial("tcp", target)
			if err != nil {
				client.Close()
				continue
			}
			p.track(client, server)
			p.wg.Add(2)
			go func() {
				defer p.wg.Done()
				_, _ = io.Copy(server, io.TeeReader(countingReader{client, &p.received}, p))
				server.Close()
				p.ended.Add(1)
			}()
			go func() {
				defer p.wg.Done()
				_, _ = io.Copy(client, server)
				client.Close()
			}()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		p.mu.Lock()
		for _, c := range p.conns {
			c.Close()
		}
		p.mu.Unlock()
		p.wg.Wait()
	})
	return p
}

// Write keeps what a client sent.
func (p *proxy) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.sent.Write(b)
}

// requestBody waits until connections client connections have ended and returns how many bytes
// followed the head of the first request the proxy saw: the body of a request that was the only
// one sent through it.
func (p *proxy) requestBody(t *testing.T, connections int64) int {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for p.ended.Load() < connections {
		if time.Now().After(deadline) {
			t.Fatalf("the proxy saw %d of %d connections end", p.ended.Load(), connections)
		}
		time.Sleep(time.Millisecond)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	head := bytes.Index(p.sent.Bytes(), []byte("\r\n\r\n"))
	if head < 0 {
		t.Fatal("the proxy saw no request")
	}
	return p.sent.Len() - head - 4
}

func (p *proxy) track(conns ...net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.conns = append(p.conns, conns...)
}

// Endpoint is the proxy's base URL.
func (p *proxy) Endpoint() string { return "http://" + p.listener.Addr().String() }

// receivedSince returns a function that tells how many bytes clients have sent since now.
func (p *proxy) receivedSince() func() int64 {
	base := p.received.Load()
	return func() int64 { return p.received.Load() - base }
}

type countingReader struct {
	r io.Reader
	n *atomic.Int64
}

func (c countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// clientAt returns a client of srv's root user that connects to endpoint, with the SDK's default
// settings.
func clientAt(srv *versitygw.Server, endpoint string) *s3.Client {
	return s3.New(s3.Options{
		Region:       srv.Region,
		BaseEndpoint: aws.String(endpoint),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(srv.AccessKey, srv.SecretKey, ""),
	})
}

// bufferingClient reads every part into memory before it sends it: what the store must not do.
type bufferingClient struct{ *s3.Client }

func (c bufferingClient) UploadPart(ctx context.Context, in *s3.UploadPartInput, optFns ...func(*s3.Options)) (*s3.UploadPartOutput, error) {
	b, err := io.ReadAll(in.Body)
	if err != nil {
		return nil, err
	}
	in.Body = bytes.NewReader(b)
	return c.Client.UploadPart(ctx, in, optFns...)
}
