package storetest

import (
	"sync"
	"testing"

	"github.com/ingest-portal/ingest"
)

func testPartSizes(t *testing.T, open Opener) {
	t.Run("the first part size recorded is the session's, for every instance", func(t *testing.T) {
		f := newFixture(t, open)
		ps, ok := f.Store.(ingest.PartSizeStore)
		if !ok {
			t.Fatalf("%T does not keep part sizes", f.Store)
		}
		_, sess := f.upload(f.user(false), nil, 10, 5)
		if _, err := ps.PartSize(f.ctx, sess.ID); ingest.ErrorCode(err) != ingest.ENotFound {
			t.Fatalf("PartSize before any: %v, want NOT_FOUND", err)
		}
		second := f.OpenSecond().(ingest.PartSizeStore)
		sizes := []int64{5 << 20, 6 << 20}
		got := make([]int64, len(sizes))
		var wg sync.WaitGroup
		for i, store := range []ingest.PartSizeStore{ps, second} {
			wg.Go(func() {
				n, err := store.FixPartSize(f.ctx, sess.ID, sizes[i])
				if err != nil {
					t.Errorf("FixPartSize: %v", err)
				}
				got[i] = n
			})
		}
		wg.Wait()
		if got[0] != got[1] || (got[0] != sizes[0] && got[0] != sizes[1]) {
			t.Fatalf("racing FixPartSize answered %v; want one of %v for both", got, sizes)
		}
		if n, err := ps.PartSize(f.ctx, sess.ID); err != nil || n != got[0] {
			t.Fatalf("PartSize = %d, %v; want %d", n, err, got[0])
		}
		if n, err := ps.FixPartSize(f.ctx, sess.ID, 7<<20); err != nil || n != got[0] {
			t.Fatalf("FixPartSize again = %d, %v; want the first, %d", n, err, got[0])
		}
	})

	t.Run("an unknown session has no part size to fix", func(t *testing.T) {
		f := newFixture(t, open)
		ps := f.Store.(ingest.PartSizeStore)
		if _, err := ps.FixPartSize(f.ctx, ingest.NewID(), 5<<20); ingest.ErrorCode(err) != ingest.ENotFound {
			t.Fatalf("FixPartSize of an unknown session: %v, want NOT_FOUND", err)
		}
	})
}
