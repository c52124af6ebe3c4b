package ingest

import (
	"maps"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// nameSeeds are names a person or a hostile client could send: invisible and bidirectional
// characters, joiners, bytes that are not UTF-8, and surrounding space.
var nameSeeds = []string{
	"", " ", "report.csv", "  spaced  ", "a\x00b", "a\x1bb", "\u202Egnp.exe", "a\u2066b\u2069",
	"\uFEFFbom", "zero\u200Bwidth", "👩\u200D💻", "क्\u200Cष", "\xff\xfe", "a\xc3", "\u0085next",
	"\t\n\r", "\u00a0nbsp\u00a0", "\u3000", "dir/file", `dir\file`, "..", ".", "\u200D",
	strings.Repeat("é", 600), strings.Repeat("a", 1023) + " b",
}

// checkCleaned fails t unless s is a cleaned name: valid UTF-8, no control character, no
// formatting character but the joiners, no surrounding space.
func checkCleaned(t *testing.T, in, s string) {
	t.Helper()
	if !utf8.ValidString(s) {
		t.Fatalf("cleaning %q gave %q: not UTF-8", in, s)
	}
	for _, r := range s {
		if unicode.IsControl(r) || (unicode.Is(unicode.Cf, r) && r != zeroWidthJoiner && r != zeroWidthNonJoiner) {
			t.Fatalf("cleaning %q gave %q: holds %U", in, s, r)
		}
	}
	if strings.TrimSpace(s) != s {
		t.Fatalf("cleaning %q gave %q: surrounding space", in, s)
	}
}

// FuzzCleanName checks that CleanName gives a cleaned name, is idempotent, and keeps text that
// needs no cleaning as it is.
func FuzzCleanName(f *testing.F) {
	for _, s := range nameSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out := CleanName(in)
		checkCleaned(t, in, out)
		if again := CleanName(out); again != out {
			t.Fatalf("CleanName(%q) = %q, but CleanName of that is %q", in, out, again)
		}
		if len(out) > 3*len(in) { // only a byte that is not UTF-8 grows, to U+FFFD's 3 bytes
			t.Fatalf("CleanName(%q) = %q: grew past its replacements", in, out)
		}
		if utf8.ValidString(in) && strings.IndexFunc(in, unicode.IsControl) < 0 && strings.IndexFunc(in, func(r rune) bool {
			return unicode.Is(unicode.Cf, r) && r != zeroWidthJoiner && r != zeroWidthNonJoiner
		}) < 0 && strings.TrimSpace(in) == in && out != in {
			t.Fatalf("CleanName(%q) = %q: changed a clean name", in, out)
		}
	})
}

// FuzzValidateMetadata checks ValidateMetadata on metadata built from arbitrary text: it never
// fails with a code other than VALIDATION_FAILED, and what it accepts keeps the documented limits.
func FuzzValidateMetadata(f *testing.F) {
	f.Add("k", "v", "", "", 1)
	f.Add("k", "\xff", "", "", 1)
	f.Add("a key", "v", "", "", 1)
	f.Add(strings.Repeat("k", 64), strings.Repeat("v", 1024), "x", "y", 8)
	f.Add(strings.Repeat("k", 65), "v", "", "", 1)
	f.Add("k", strings.Repeat("v", 1025), "", "", 1)
	f.Add("k.-_9", "ünï", "K", "", 40)
	f.Add("", "", "", "", 0)
	f.Fuzz(func(t *testing.T, k1, v1, k2, v2 string, copies int) {
		// Up to 40 copies of the two pairs under numbered keys reach the key and byte limits.
		copies = min(max(copies, 0), 40)
		m := map[string]string{}
		if copies == 0 {
			m[k1] = v1
			if k2 != "" {
				m[k2] = v2
			}
		}
		for i := range copies {
			m[k1+string(rune('a'+i%26))+strings.Repeat("z", i/26)] = v1
			m[k2+string(rune('A'+i%26))] = v2
		}
		err := ValidateMetadata(m)
		if err != nil {
			if code := ErrorCode(err); code != EValidation {
				t.Fatalf("ValidateMetadata: code %s, want %s (%v)", code, EValidation, err)
			}
			if ErrorMessage(err) == "" {
				t.Fatal("ValidateMetadata: a refusal without a message")
			}
			return
		}
		if len(m) > MaxMetadataKeys {
			t.Fatalf("ValidateMetadata accepted %d keys", len(m))
		}
		total := 0
		for k, v := range maps.All(m) {
			if k == "" || len(k) > MaxMetadataKeyLength || strings.Trim(k, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") != "" {
				t.Fatalf("ValidateMetadata accepted the key %q", k)
			}
			if !utf8.ValidString(v) || len(v) > MaxMetadataValueBytes {
				t.Fatalf("ValidateMetadata accepted the value %q of %d bytes", v, len(v))
			}
			total += len(k) + len(v)
		}
		if total > MaxMetadataBytes {
			t.Fatalf("ValidateMetadata accepted %d bytes of keys and values", total)
		}
	})
}
