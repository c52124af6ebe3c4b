package bytesize_test

import (
	"testing"

	"github.com/ingest-portal/ingest/internal/bytesize"
)

func TestParse(t *testing.T) {
	for in, want := range map[string]int64{
		"0": 0, "4096": 4096, "12B": 12, "8MiB": 8 << 20, " 1 GiB ": 1 << 30, "2TiB": 2 << 40,
		"5KB": 5000, "3MB": 3e6, "1GB": 1e9, "1TB": 1e12, "7KiB": 7 << 10,
	} {
		if got, ok := bytesize.Parse(in); !ok || got != want {
			t.Errorf("Parse(%q) = %d, %v; want %d", in, got, ok, want)
		}
	}
	for _, in := range []string{"", "MiB", "-1", "1.5GiB", "8 megabytes", "4194305TiB", "9223372036854775807"} {
		if got, ok := bytesize.Parse(in); ok {
			t.Errorf("Parse(%q) = %d, true; want not a size", in, got)
		}
	}
}

func TestFormat(t *testing.T) {
	for n, want := range map[int64]string{0: "0B", 100: "100B", 1024: "1KiB", 1536 << 10: "1536KiB", 8 << 20: "8MiB", 1 << 30: "1GiB", 3 << 40: "3TiB"} {
		if got := bytesize.Format(n); got != want {
			t.Errorf("Format(%d) = %q, want %q", n, got, want)
		}
		if back, ok := bytesize.Parse(want); !ok || back != n {
			t.Errorf("Parse(Format(%d)) = %d, %v", n, back, ok)
		}
	}
}
