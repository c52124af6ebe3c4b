package httpapi

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/ingest-portal/ingest"
	"github.com/ingest-portal/ingest/internal/reqtext"
)

// FuzzParseRange checks the Range parser on any header and file size: an accepted range lies
// within the file, a refused one is never also said to be unsatisfiable-and-ok, and an accepted
// range written back as "bytes=start-end" parses to itself.
func FuzzParseRange(f *testing.F) {
	for _, s := range []struct {
		header string
		size   int64
	}{
		{"bytes=0-99", 1000}, {"bytes=100-", 1000}, {"bytes=-100", 1000}, {"bytes=-0", 1000},
		{"bytes=0-0", 0}, {"bytes=-5", 0}, {"bytes=0-99999999999999999999", 10},
		{"bytes=99999999999999999999-", 10}, {"bytes=-99999999999999999999", 10},
		{"bytes=5-4", 10}, {"bytes= 1-2 ", 10}, {"bytes=1-2,3-4", 10}, {"bytes=+1-2", 10},
		{"bytes=1--2", 10}, {"items=0-1", 10}, {"bytes=-", 10}, {"bytes=0x1-2", 10},
		{"bytes=9223372036854775807-", 9223372036854775807},
	} {
		f.Add(s.header, s.size)
	}
	f.Fuzz(func(t *testing.T, header string, size int64) {
		if size < 0 {
			size = -(size + 1) // a file's size is never negative
		}
		start, end, ok, satisfiable := parseRange(header, size)
		if ok && !satisfiable {
			t.Fatalf("parseRange(%q, %d): ok but not satisfiable", header, size)
		}
		if !ok {
			if start != 0 || end != 0 {
				t.Fatalf("parseRange(%q, %d): refused but gave %d-%d", header, size, start, end)
			}
			return
		}
		if start < 0 || start > end || end >= size {
			t.Fatalf("parseRange(%q, %d) = %d-%d: outside the file", header, size, start, end)
		}
		again := fmt.Sprintf("bytes=%d-%d", start, end)
		s2, e2, ok2, sat2 := parseRange(again, size)
		if !ok2 || !sat2 || s2 != start || e2 != end {
			t.Fatalf("parseRange(%q, %d) = %d-%d, but %q gives %d-%d ok=%v satisfiable=%v",
				header, size, start, end, again, s2, e2, ok2, sat2)
		}
	})
}

// FuzzBytePos checks that a byte position is decimal digits only and that what it accepts is a
// non-negative number that formats back to the same digits (less leading zeros) or, past an
// int64, to the largest.
func FuzzBytePos(f *testing.F) {
	for _, s := range []string{"0", "007", "123", "", "-1", "+1", " 1", "1_000", "9223372036854775807",
		"9223372036854775808", "99999999999999999999999999", "١٢٣"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, ok := bytePos(s)
		digits := s != "" && strings.Trim(s, "0123456789") == ""
		if ok != digits {
			t.Fatalf("bytePos(%q): ok=%v, but digits only is %v", s, ok, digits)
		}
		if !ok {
			return
		}
		if n < 0 {
			t.Fatalf("bytePos(%q) = %d: negative", s, n)
		}
		trimmed := strings.TrimLeft(s, "0")
		if trimmed == "" {
			trimmed = "0"
		}
		if got := fmt.Sprint(n); got != trimmed && (len(trimmed) < len(got) || n != 1<<63-1) {
			t.Fatalf("bytePos(%q) = %d", s, n)
		}
	})
}

// FuzzParseContentDigest checks the Content-Digest parser: a refusal is VALIDATION_FAILED, an
// accepted sha-256 has 32 bytes, and a digest written back as the header parses to itself.
func FuzzParseContentDigest(f *testing.F) {
	sha := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{0xab}, 32))
	for _, s := range []string{
		"", "   ", "sha-256=:" + sha + ":", "SHA-256=:" + sha + ":", "crc32c=:AAAAAA==:",
		"sha-256=:" + sha + ":, crc32c=:3q2+7w==:", "md5=:1B2M2Y8AsgTpgAmY7PhCfg==:", "sha-256=:AAAA:",
		"sha-256=" + sha, "sha-256=::", "sha-256=:not base64:", ",", "=", ":", "sha-256=:" + sha + ":,",
		"unixsum=:AAAA:, sha-256=:" + sha + ":",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, header string) {
		d, err := parseContentDigest(header)
		if err != nil {
			if code := ingest.ErrorCode(err); code != ingest.EValidation {
				t.Fatalf("parseContentDigest(%q): code %s, want %s (%v)", header, code, ingest.EValidation, err)
			}
			return
		}
		if d.SHA256 != nil && len(d.SHA256) != 32 {
			t.Fatalf("parseContentDigest(%q): a sha-256 of %d bytes", header, len(d.SHA256))
		}
		var members []string
		if d.SHA256 != nil {
			members = append(members, "sha-256=:"+base64.StdEncoding.EncodeToString(d.SHA256)+":")
		}
		if d.CRC32C != nil {
			members = append(members, "crc32c=:"+base64.StdEncoding.EncodeToString(binary.BigEndian.AppendUint32(nil, *d.CRC32C))+":")
		}
		again := strings.Join(members, ", ")
		d2, err := parseContentDigest(again)
		if err != nil {
			t.Fatalf("parseContentDigest(%q) = %+v, but %q is refused: %v", header, d, again, err)
		}
		if !bytes.Equal(d2.SHA256, d.SHA256) || (d2.CRC32C == nil) != (d.CRC32C == nil) ||
			(d.CRC32C != nil && *d2.CRC32C != *d.CRC32C) {
			t.Fatalf("parseContentDigest(%q) = %+v, but %q gives %+v", header, d, again, d2)
		}
	})
}

// FuzzDecodeJSON checks decodeJSON on any body: a refusal is VALIDATION_FAILED or
// PAYLOAD_TOO_LARGE with a message that names no Go type, and an accepted body is JSON without
// a NUL (or empty, where that is allowed).
func FuzzDecodeJSON(f *testing.F) {
	for _, s := range []string{
		`{"filename":"a.csv","size_bytes":3,"metadata":{"k":"v"}}`, `{"filename":1}`, `{"size_bytes":"3"}`,
		`{"batch_id":"not-a-uuid"}`, `{"batch_id":12}`, `{"metadata":{"k":1}}`, `{"metadata":[]}`, `[]`, `"x"`, `1`,
		`null`, ``, ` `, `{}{}`, `{} `, `{"x":1}`, `{"filename":"\u0000"}`, `{"filename":"\\u0000"}`, `{"size_bytes":1e400}`,
		`{"size_bytes":-1}`, `{"size_bytes":1.5}`, `{"max_files":99999999999999999999}`, `{"content_types":"a"}`,
		`{"expires_in":true}`, "{\"filename\":\"\xff\"}", `{"FileName":"a"}`, `{"filename":"a",}`,
	} {
		f.Add([]byte(s), byte(0), false)
	}
	f.Add([]byte(`{"content_types":["text/csv"],"max_file_bytes":10}`), byte(2), true)
	f.Fuzz(func(t *testing.T, body []byte, target byte, allowEmpty bool) {
		var v any
		switch target % 3 {
		case 0:
			v = &createUploadRequest{}
		case 1:
			v = &completeUploadRequest{}
		default:
			v = &createGrantRequest{}
		}
		r := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
		err := decodeJSON(r, v, allowEmpty)
		if err != nil {
			code := ingest.ErrorCode(err)
			if code != ingest.EValidation && code != ingest.EPayloadTooLarge {
				t.Fatalf("decodeJSON(%q): code %s (%v)", body, code, err)
			}
			// The message may quote a field the client sent; the rest is the portal's words.
			msg := quoted.ReplaceAllString(ingest.ErrorMessage(err), `""`)
			for _, goWord := range []string{"Go ", "struct", "httpapi", "map[", "int64", "uuid.", "*", "reflect"} {
				if strings.Contains(msg, goWord) {
					t.Fatalf("decodeJSON(%q): the message %q names a Go type", body, msg)
				}
			}
			return
		}
		if len(body) == 0 {
			if !allowEmpty {
				t.Fatal("decodeJSON accepted an empty body where one is not allowed")
			}
			return
		}
		if !json.Valid(body) || reqtext.HasEscapedNUL(body) {
			t.Fatalf("decodeJSON accepted %q", body)
		}
	})
}

// quoted matches a Go-quoted string.
var quoted = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)
