package sqlstore_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"testing"
	"time"

	"github.com/ingest-portal/ingest"
	"github.com/ingest-portal/ingest/blob/local"
	"github.com/ingest-portal/ingest/internal/testkit/testdb"
	"github.com/ingest-portal/ingest/sqlstore"
	"github.com/ingest-portal/ingest/upload"
)

// TestAPartCostsOneReadAndOneWrite counts the store's transactions while parts are sent in order,
// each once: the common case of the part hot path. A part costs one read (the session with its
// file and the part, which tells a repeated send) and one write transaction: the part received
// with the running hash advanced. A part still streaming after Config.PendingAfter is recorded
// PENDING meanwhile; these arrive sooner.
func TestAPartCostsOneReadAndOneWrite(t *testing.T) {
	for _, dialect := range testdb.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			store := testdb.Store(t, dialect)
			blobs, err := local.New(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			cfg := upload.DefaultConfig()
			cfg.DefaultChunk = 1 << 10
			cfg.PendingAfter = time.Hour
			svc, err := upload.New(store, blobs, cfg)
			if err != nil {
				t.Fatal(err)
			}
			alice := &ingest.User{Username: "alice"}
			if err := store.CreateUser(ctx, alice); err != nil {
				t.Fatal(err)
			}
			data := make([]byte, 3*cfg.DefaultChunk)
			if _, err := rand.Read(data); err != nil {
				t.Fatal(err)
			}
			sess, _, err := svc.CreateSession(ctx, alice, upload.CreateRequest{Filename: "data.bin",
				ContentType: "application/octet-stream", SizeBytes: int64(len(data))})
			if err != nil {
				t.Fatal(err)
			}
			count := sqlstore.CountTransactions(store)
			for n := 1; n <= sess.TotalParts; n++ {
				reads, writes := count()
				p := data[int64(n-1)*sess.ChunkSizeBytes : int64(n)*sess.ChunkSizeBytes]
				if _, err := svc.PutPart(ctx, alice, sess.ID, n, int64(len(p)), bytes.NewReader(p), upload.Digest{}); err != nil {
					t.Fatalf("PutPart %d: %v", n, err)
				}
				afterReads, afterWrites := count()
				if r, w := afterReads-reads, afterWrites-writes; r > 1 || w > 1 {
					t.Errorf("part %d took %d reads and %d write transactions, want at most 1 and 1", n, r, w)
				}
			}
			// The parts were hashed as they came: completing reads nothing back.
			got, err := store.UploadSession(ctx, sess.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.HashedParts != sess.TotalParts {
				t.Errorf("the running hash covers %d of %d parts", got.HashedParts, sess.TotalParts)
			}
			file, err := svc.Complete(ctx, alice, sess.ID)
			if err != nil {
				t.Fatal(err)
			}
			if sum := sha256.Sum256(data); file.SHA256 != hex.EncodeToString(sum[:]) {
				t.Errorf("stored file's SHA-256 = %s, want %x", file.SHA256, sum)
			}
		})
	}
}
