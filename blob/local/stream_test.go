package local_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"testing"
	"testing/iotest"
)

// TestWriteStream sends a file as a stream in pieces that start and end at every kind of place:
// on and off the 4 KiB alignment of direct writes, inside and across the read-ahead
// buffers, in reads of odd sizes, and checks that the data file holds exactly the file.
func TestWriteStream(t *testing.T) {
	const partSize = 3<<20 + 5000
	data := randomBytes(t, 2*partSize+777)
	for name, cuts := range map[string][]int64{
		"one piece per part": nil,
		"aligned pieces":     {4096, 1 << 20, 2<<20 + 8192},
		"unaligned pieces":   {1, 4095, 4097, 1<<20 + 3, partSize + 1, partSize + 4096 + 17},
		"tiny pieces":        {10, 20, 4000, 4100, 8191, 8192, 8193},
	} {
		t.Run(name, func(t *testing.T) {
			s, root := mustNew(t)
			u := mustCreate(t, s, int64(len(data)), partSize)
			u.Streamed = true
			offset := int64(0)
			for _, end := range append(cuts, int64(len(data))) {
				for offset < end {
					n := int(offset/partSize) + 1
					from := offset - u.PartOffset(n)
					body := iotest.OneByteReader(bytes.NewReader(data[offset:end]))
					if end-offset > 1<<20 {
						body = &oddReader{r: bytes.NewReader(data[offset:end])}
					}
					w, err := s.WriteStream(context.Background(), u, n, from, body, end-offset)
					if err != nil {
						t.Fatalf("WriteStream part %d from %d: %v", n, from, err)
					}
					want := min(end-offset, u.PartSize(n)-from)
					if w.Taken != want {
						t.Fatalf("WriteStream part %d from %d took %d bytes, want %d", n, from, w.Taken, want)
					}
					if full := from+w.Taken == u.PartSize(n); (w.Part != nil) != full {
						t.Fatalf("WriteStream part %d from %d: part %v, want one only when the part is full", n, from, w.Part)
					}
					offset += w.Taken
				}
			}
			got, err := os.ReadFile(dataPath(root, u))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, data) {
				t.Errorf("the data file differs from the stream (%d bytes, want %d)", len(got), len(data))
			}
		})
	}
}

// TestWriteStreamKeepsWhatCameBeforeAFailure checks that the bytes read before a body fails are
// written and counted, and that nothing past them is.
func TestWriteStreamKeepsWhatCameBeforeAFailure(t *testing.T) {
	const partSize = 8 << 20
	data := randomBytes(t, partSize)
	for _, cut := range []int{100, 4096, 1<<20 + 4096, 3<<20 + 123} {
		s, root := mustNew(t)
		u := mustCreate(t, s, int64(len(data)), partSize)
		u.Streamed = true
		broken := errors.New("client gone")
		body := io.MultiReader(bytes.NewReader(data[:cut]), iotest.ErrReader(broken))
		w, err := s.WriteStream(context.Background(), u, 1, 0, body, -1)
		if !errors.Is(err, broken) {
			t.Errorf("cut at %d: %v, want the body's error", cut, err)
		}
		if w.Taken != int64(cut) || w.Part != nil {
			t.Errorf("cut at %d: took %d bytes, part %v; want %d and no part", cut, w.Taken, w.Part, cut)
		}
		got, err := os.ReadFile(dataPath(root, u))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got[:cut], data[:cut]) {
			t.Errorf("cut at %d: the bytes before the failure differ", cut)
		}
	}
}

// oddReader returns at most 12,345 bytes per Read, so that buffers are filled by several reads
// that cross 4 KiB boundaries.
type oddReader struct{ r io.Reader }

func (o *oddReader) Read(p []byte) (int, error) { return o.r.Read(p[:min(len(p), 12345)]) }
