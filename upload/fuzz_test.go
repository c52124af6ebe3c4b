package upload_test

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/ingest-portal/ingest"
	"github.com/ingest-portal/ingest/upload"
)

// FuzzCleanFilename checks that CleanFilename gives a name safe to show and to put in a
// Content-Disposition — valid UTF-8, no control character, no formatting character but the
// joiners, no path separator, 1 to MaxFilenameLength bytes — and that it is idempotent.
func FuzzCleanFilename(f *testing.F) {
	for _, s := range []string{
		"", " ", "report.csv", "../../etc/passwd", `C:\Users\me\report.csv`, "dir/", "a/..", "a\\.",
		"a\x00b", "\u202Egnp.exe", "a\u2066b\u2069", "\uFEFF", "👩\u200D💻.png", "\xff\xfe.bin",
		"\t\n", "\u00a0x\u00a0", strings.Repeat("é", 600), strings.Repeat("a", 1023) + " b",
		strings.Repeat("a", 1023) + "\u00a0b", strings.Repeat("a", 1022) + "é",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out := upload.CleanFilename(in)
		if out == "" || len(out) > ingest.MaxFilenameLength {
			t.Fatalf("CleanFilename(%q) = %q: %d bytes", in, out, len(out))
		}
		if !utf8.ValidString(out) {
			t.Fatalf("CleanFilename(%q) = %q: not UTF-8", in, out)
		}
		if strings.ContainsAny(out, `/\`) || out == "." || out == ".." {
			t.Fatalf("CleanFilename(%q) = %q: a path", in, out)
		}
		for _, r := range out {
			if unicode.IsControl(r) || (unicode.Is(unicode.Cf, r) && r != '\u200C' && r != '\u200D') {
				t.Fatalf("CleanFilename(%q) = %q: holds %U", in, out, r)
			}
		}
		if strings.TrimSpace(out) != out {
			t.Fatalf("CleanFilename(%q) = %q: surrounding space", in, out)
		}
		if again := upload.CleanFilename(out); again != out {
			t.Fatalf("CleanFilename(%q) = %q, but CleanFilename of that is %q", in, out, again)
		}
	})
}
