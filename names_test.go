package ingest

import "testing"

func TestCleanNameRemovesWhatHidesOrReordersText(t *testing.T) {
	for in, want := range map[string]string{
		"invoice\u202Efdp.exe": "invoicefdp.exe", // RIGHT-TO-LEFT OVERRIDE: would read "invoiceexe.pdf"
		"a\u200Bb":             "ab",             // ZERO WIDTH SPACE
		"\u2066x\u2069":        "x",              // LEFT-TO-RIGHT ISOLATE … POP DIRECTIONAL ISOLATE
		"\uFEFFname":           "name",           // BYTE ORDER MARK
		"tab\there\n":          "tabhere",
		"  padded  ":           "padded",
		"a\xffb":               "a\uFFFDb",
		"👩\u200D💻 and می\u200Cخواهم": "👩\u200D💻 and می\u200Cخواهم", // the joiners stay
		"plain name.txt": "plain name.txt",
	} {
		if got := CleanName(in); got != want {
			t.Errorf("CleanName(%q) = %q, want %q", in, got, want)
		}
	}
}
