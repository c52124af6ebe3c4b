package ingest

import (
	"strings"
	"unicode"
)

// CleanName makes text a person typed fit to show as a name (a file's, a batch's): bytes that are
// not UTF-8 become U+FFFD, and control characters and invisible formatting characters —
// bidirectional overrides and isolates (U+202A–U+202E, U+2066–U+2069), zero-width spaces, byte
// order marks — are removed, so that a name reads as what it is; the joiners that some scripts
// and emoji need stay. Surrounding space is trimmed.
func CleanName(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || (unicode.Is(unicode.Cf, r) && r != zeroWidthNonJoiner && r != zeroWidthJoiner) {
			return -1
		}
		return r
	}, s)
	return strings.TrimSpace(s)
}

const (
	zeroWidthNonJoiner = '\u200C'
	zeroWidthJoiner    = '\u200D'
)
