package streambody_test

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/ingest-portal/ingest"
	"github.com/ingest-portal/ingest/internal/streambody"
)

func TestABodyOfTheDeclaredSizeReadsWhole(t *testing.T) {
	b := streambody.New(strings.NewReader("abcd"), 4, "part 1")
	got, err := io.ReadAll(b)
	if err != nil || string(got) != "abcd" || b.Failure() != nil {
		t.Errorf("ReadAll = %q, %v (failure %v); want abcd", got, err, b.Failure())
	}
}

func TestABodyOfAnotherSizeFailsBeforeItsLastByte(t *testing.T) {
	for _, src := range []string{"abc", "abcde"} {
		b := streambody.New(strings.NewReader(src), 4, "part 1")
		got, err := io.ReadAll(b)
		if ingest.ErrorCode(err) != ingest.EPartSizeMismatch || ingest.ErrorCode(b.Failure()) != ingest.EPartSizeMismatch {
			t.Errorf("%q for 4 bytes: %v, want PART_SIZE_MISMATCH", src, err)
		}
		if len(got) >= 4 {
			t.Errorf("%q for 4 bytes: handed over %d bytes, want fewer than 4", src, len(got))
		}
	}
}

func TestAFailingSourceFailsTheBody(t *testing.T) {
	cut := errors.New("connection reset by peer")
	b := streambody.New(io.MultiReader(bytes.NewReader([]byte("ab")), failing{cut}), 4, "part 1")
	if _, err := io.ReadAll(b); !errors.Is(err, cut) || !errors.Is(b.Failure(), cut) {
		t.Errorf("ReadAll = %v, want the source's error", err)
	}
}

func TestSeekTellsTheSizeAndRewindsOnlyUnreadBodies(t *testing.T) {
	b := streambody.New(strings.NewReader("abcd"), 4, "part 1")
	if n, err := b.Seek(0, io.SeekEnd); n != 4 || err != nil {
		t.Errorf("Seek to the end = %d, %v; want 4", n, err)
	}
	if n, err := b.Seek(0, io.SeekStart); n != 0 || err != nil {
		t.Errorf("Seek to the start before reading = %d, %v", n, err)
	}
	if _, err := b.Read(make([]byte, 1)); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Seek(0, io.SeekStart); !errors.Is(err, streambody.ErrNoRewind) {
		t.Errorf("Seek to the start after reading: %v, want ErrNoRewind", err)
	}
}

type failing struct{ err error }

func (f failing) Read([]byte) (int, error) { return 0, f.err }
