package tus

import (
	"encoding/base64"
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/ingest-portal/ingest"
	"github.com/ingest-portal/ingest/upload"
)

// checkRefusal fails t unless err is VALIDATION_FAILED or one of also.
func checkRefusal(t *testing.T, what string, err error, also ...ingest.Code) {
	t.Helper()
	code := ingest.ErrorCode(err)
	if code != ingest.EValidation && !slices.Contains(also, code) {
		t.Fatalf("%s: code %s (%v)", what, code, err)
	}
	if ingest.ErrorMessage(err) == "" {
		t.Fatalf("%s: a refusal without a message", what)
	}
}

// FuzzParseMetadata checks Upload-Metadata parsing: a refusal is VALIDATION_FAILED, an accepted
// key is non-empty without a space, tab or comma, and the pairs written back as the header parse
// to the same metadata; what fromMetadata makes of them is refused only as bad input.
func FuzzParseMetadata(f *testing.F) {
	for _, s := range []string{
		"", " ", "filename cmVwb3J0LmNzdg==", "filename cmVwb3J0LmNzdg==,filetype dGV4dC9jc3Y=",
		"is_confidential", "a YQ==, b", "my key YQ==", "k not-base64", "k YQ==,k YQ==", ",", "k ,",
		"batch_id bm90IGEgdXVpZA==", "sha256 YWJj", "k\tYQ==", " k   YQ== ", "k YQ", "k =",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, header string) {
		meta, err := parseMetadata(header)
		if err != nil {
			checkRefusal(t, "parseMetadata("+strconv.Quote(header)+")", err)
			return
		}
		var pairs []string
		for _, k := range slices.Sorted(maps.Keys(meta)) {
			if k == "" || strings.ContainsAny(k, " \t,") {
				t.Fatalf("parseMetadata(%q) accepted the key %q", header, k)
			}
			pair := k
			if meta[k] != "" {
				pair += " " + base64.StdEncoding.EncodeToString([]byte(meta[k]))
			}
			pairs = append(pairs, pair)
		}
		again := strings.Join(pairs, ",")
		meta2, err := parseMetadata(again)
		if err != nil || !maps.Equal(meta, meta2) {
			t.Fatalf("parseMetadata(%q) = %q, but %q gives %q, %v", header, meta, again, meta2, err)
		}
		var req upload.CreateRequest
		if err := fromMetadata(meta, &req); err != nil {
			checkRefusal(t, "fromMetadata", err)
		}
	})
}

// FuzzParseChecksum checks Upload-Checksum parsing: a refusal is VALIDATION_FAILED, an accepted
// checksum has its algorithm's length, and written back it parses to the same sum.
func FuzzParseChecksum(f *testing.F) {
	for _, s := range []string{
		"sha1 2jmj7l5rSw0yVb/vlWAYkK/YBwk=", "sha256 47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=",
		"md5 1B2M2Y8AsgTpgAmY7PhCfg==", "crc32c AAAAAA==", "sha1", "sha1 ", "sha512 AAAA", "sha1 AAAA",
		"SHA1 2jmj7l5rSw0yVb/vlWAYkK/YBwk=", " md5  1B2M2Y8AsgTpgAmY7PhCfg== ", "md5 not base64",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, header string) {
		c, err := parseChecksum(header)
		if err != nil {
			checkRefusal(t, "parseChecksum("+strconv.Quote(header)+")", err)
			return
		}
		if len(c.Sum) != c.Hash.Size() {
			t.Fatalf("parseChecksum(%q): a sum of %d bytes for a hash of %d", header, len(c.Sum), c.Hash.Size())
		}
		alg, _, _ := strings.Cut(strings.TrimSpace(header), " ")
		again := alg + " " + base64.StdEncoding.EncodeToString(c.Sum)
		c2, err := parseChecksum(again)
		if err != nil || string(c2.Sum) != string(c.Sum) {
			t.Fatalf("parseChecksum(%q) = %x, but %q gives %v, %v", header, c.Sum, again, c2, err)
		}
	})
}

// FuzzParseSize checks the parser of Upload-Length and Upload-Offset: what it accepts is a
// non-negative decimal number in its one spelling (no sign, no leading zero).
func FuzzParseSize(f *testing.F) {
	for _, s := range []string{"0", "1", "00", "01", "-1", "-0", "+1", " 1", "1 ", "", "9223372036854775807",
		"9223372036854775808", "1e3", "0x10"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		n, err := parseSize(v)
		if err != nil {
			return
		}
		if n < 0 || strconv.FormatInt(n, 10) != v {
			t.Fatalf("parseSize(%q) = %d", v, n)
		}
	})
}

// FuzzUploadConcat checks the reading of the upload URLs of Upload-Concat: a refusal is
// VALIDATION_FAILED or NOT_FOUND, and an accepted id written back as its location reads as itself.
func FuzzUploadConcat(f *testing.F) {
	id := uuid.MustParse("0b5c2d63-3a0e-4a4e-9d7e-3d6c3d1f2a11")
	for _, s := range []string{
		Prefix + id.String(), "https://portal.example" + Prefix + id.String(), Prefix + "not-an-id", "/files/" + id.String(),
		Prefix, "", "%zz", Prefix + id.String() + "?x=1", Prefix + "a/" + id.String(), "http://[::1", Prefix + "../" + id.String(),
	} {
		f.Add(s)
	}
	s := &Server{}
	f.Fuzz(func(t *testing.T, ref string) {
		got, err := s.uploadID(ref)
		if err != nil {
			checkRefusal(t, "uploadID("+strconv.Quote(ref)+")", err, ingest.ENotFound)
			return
		}
		again, err := s.uploadID(Prefix + got.String())
		if err != nil || again != got {
			t.Fatalf("uploadID(%q) = %s, but its location gives %s, %v", ref, got, again, err)
		}
	})
}
