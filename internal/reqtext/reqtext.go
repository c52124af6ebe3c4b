// Package reqtext refuses, at the edge, text that the portal's two databases would not treat the
// same way: a NUL byte, which PostgreSQL refuses in text and SQLite keeps, and bytes that are not
// UTF-8. A request carrying such text gets VALIDATION_FAILED, on either database, before any
// query runs.
package reqtext

import (
	"bytes"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/ingest-portal/ingest"
)

// Valid reports whether s is UTF-8 without a NUL byte.
func Valid(s string) bool { return utf8.ValidString(s) && strings.IndexByte(s, 0) < 0 }

// Check returns EValidation when the request's path or a name or value of its query is not Valid.
// A query that does not parse is left to the handlers, which say what they expected.
func Check(r *http.Request) error {
	if !Valid(r.URL.Path) {
		return refused("the path")
	}
	query, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil
	}
	for name, values := range query {
		if !Valid(name) {
			return refused("a query parameter's name")
		}
		for _, v := range values {
			if !Valid(v) {
				return refused("query parameter " + name)
			}
		}
	}
	return nil
}

// HasEscapedNUL reports whether the JSON text js holds a NUL character, which JSON can only
// write as the escape \u0000 (a raw NUL byte is not JSON). An escaped backslash before "u0000"
// is text, not a NUL.
func HasEscapedNUL(js []byte) bool {
	for i := 0; ; {
		j := bytes.Index(js[i:], []byte(`u0000`))
		if j < 0 {
			return false
		}
		at := i + j
		backslashes := 0
		for k := at - 1; k >= 0 && js[k] == '\\'; k-- {
			backslashes++
		}
		if backslashes%2 == 1 {
			return true
		}
		i = at + 1
	}
}

// refused is the error for text of what.
func refused(what string) error {
	return ingest.Errorf(ingest.EValidation, "%s has a NUL byte or bytes that are not UTF-8", what)
}
