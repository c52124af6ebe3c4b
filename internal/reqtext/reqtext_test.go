package reqtext

import (
	"net/http/httptest"
	"testing"
)

func TestHasEscapedNUL(t *testing.T) {
	for js, want := range map[string]bool{
		`{"a":"\u0000"}`:       true,
		`{"a":"x\u0000y"}`:     true,
		`{"a":"\\u0000"}`:      false, // a backslash, then the text u0000
		`{"a":"\\\u0000"}`:     true,  // a backslash, then a NUL
		`{"a":"u0000"}`:        false,
		`{"a":"\u00000"}`:      true,
		`{"a":"\\\\u0000"}`:    false,
		`{"u0000":"\u0001"}`:   false,
		`{"a":"\u0000","b":1}`: true,
	} {
		if got := HasEscapedNUL([]byte(js)); got != want {
			t.Errorf("HasEscapedNUL(%s) = %v, want %v", js, got, want)
		}
	}
}

func TestCheck(t *testing.T) {
	for target, ok := range map[string]bool{
		"/api/v1/files?q=abc&x=%C3%A9": true,
		"/api/v1/files?q=a%00b":        false,
		"/api/v1/files?q=%FF":          false,
		"/api/v1/files?%00=x":          false,
		"/api/v1/files/%00":            false,
		"/api/v1/files?q=%zz":          true, // unparsable: the handler says what it expected
	} {
		if err := Check(httptest.NewRequest("GET", target, nil)); (err == nil) != ok {
			t.Errorf("Check(%s) = %v, want ok %v", target, err, ok)
		}
	}
}
