package reqtext

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/ingest-portal/ingest"
)

// FuzzHasEscapedNUL compares HasEscapedNUL with encoding/json on valid JSON: it reports a NUL
// exactly when a decoded string, key or value, holds one.
func FuzzHasEscapedNUL(f *testing.F) {
	for _, s := range []string{
		`{"a":"\u0000"}`, `{"a":"\\u0000"}`, `{"a":"\\\u0000"}`, `{"\u0000":1}`, `["u0000",{"b":["\u0000"]}]`,
		`"\\\\\u0000"`, `{"a":"\ud800\u0000"}`, `{"a":"\u00000"}`, `null`, `{"a":"\\"}`, `{"a":"\u0000`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, js []byte) {
		got := HasEscapedNUL(js)
		var v any
		if json.Unmarshal(js, &v) != nil {
			return // not JSON: refused whatever HasEscapedNUL says
		}
		if want := holdsNUL(v); got != want {
			t.Fatalf("HasEscapedNUL(%q) = %v, but the decoded JSON holding a NUL is %v", js, got, want)
		}
	})
}

// holdsNUL reports whether a decoded JSON value has a NUL in one of its strings or keys.
func holdsNUL(v any) bool {
	switch v := v.(type) {
	case string:
		return strings.IndexByte(v, 0) >= 0
	case []any:
		for _, e := range v {
			if holdsNUL(e) {
				return true
			}
		}
	case map[string]any:
		for k, e := range v {
			if holdsNUL(k) || holdsNUL(e) {
				return true
			}
		}
	}
	return false
}

// FuzzCheck checks Check on any path and query: it refuses with VALIDATION_FAILED exactly when
// the path, or a decoded name or value of a query that parses, is not UTF-8 or holds a NUL.
func FuzzCheck(f *testing.F) {
	for _, s := range [][2]string{
		{"/files", ""}, {"/files", "q=%00"}, {"/files", "q=%ff"}, {"/f\x00", ""}, {"/f\xff", ""},
		{"/files", "%00=1"}, {"/files", "q=%zz&r=%00"}, {"/files", "a=1;b=2"}, {"/é", "q=é&q=%C3%A9"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, path, rawQuery string) {
		err := Check(&http.Request{URL: &url.URL{Path: path, RawQuery: rawQuery}})
		bad := !utf8.ValidString(path) || strings.IndexByte(path, 0) >= 0
		if query, qerr := url.ParseQuery(rawQuery); qerr == nil {
			for name, values := range query {
				for _, s := range append(values, name) {
					bad = bad || !utf8.ValidString(s) || strings.IndexByte(s, 0) >= 0
				}
			}
		}
		if (err != nil) != bad {
			t.Fatalf("Check(%q, %q) = %v, but the text being bad is %v", path, rawQuery, err, bad)
		}
		if err != nil && ingest.ErrorCode(err) != ingest.EValidation {
			t.Fatalf("Check(%q, %q): code %s", path, rawQuery, ingest.ErrorCode(err))
		}
	})
}
