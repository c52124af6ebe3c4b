// Package fakegcs gives tests a Google Cloud Storage server of their own: fake-gcs-server's
// library, serving the JSON API over plain HTTP on a free port of 127.0.0.1 from memory, so that a
// store opened with ?endpoint= talks to it over the network as it would to GCS.
package fakegcs

import (
	"fmt"
	"io"
	"sync/atomic"
	"testing"

	"github.com/fsouza/fake-gcs-server/fakestorage"
)

// Server is a running fake GCS server.
type Server struct {
	// URL is the server's base URL, http://127.0.0.1:port, for a gs:// URL's endpoint.
	URL     string
	srv     *fakestorage.Server
	buckets atomic.Int64
}

// Start starts a server for the test and stops it when the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	srv, err := fakestorage.NewServerWithOptions(fakestorage.Options{
		Scheme: "http",
		Host:   "127.0.0.1",
		Writer: io.Discard,
	})
	if err != nil {
		t.Fatalf("fakegcs: start the server: %v", err)
	}
	t.Cleanup(srv.Stop)
	return &Server{URL: srv.URL(), srv: srv}
}

// Bucket creates an empty bucket of its own and returns its name.
func (s *Server) Bucket(t testing.TB) string {
	t.Helper()
	name := fmt.Sprintf("bucket-%d", s.buckets.Add(1))
	s.srv.CreateBucketWithOpts(fakestorage.CreateBucketOpts{Name: name})
	return name
}

// Objects returns the names of the objects in bucket under prefix.
func (s *Server) Objects(t testing.TB, bucket, prefix string) []string {
	t.Helper()
	list, err := s.srv.ListObjectsWithOptionsPaginated(bucket, fakestorage.ListOptions{Prefix: prefix})
	if err != nil {
		t.Fatalf("fakegcs: list %s/%s: %v", bucket, prefix, err)
	}
	names := make([]string, len(list.Objects))
	for i, o := range list.Objects {
		names[i] = o.Name
	}
	return names
}
