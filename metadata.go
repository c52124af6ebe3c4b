package ingest

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"unicode/utf8"
)

// Limits on a file's metadata (DESIGN.md §8). They keep a file's row, its event and a tus
// Upload-Metadata header small, whichever client sent them.
const (
	MaxMetadataKeys       = 32
	MaxMetadataKeyLength  = 64   // bytes
	MaxMetadataValueBytes = 1024 // bytes of UTF-8
	MaxMetadataBytes      = 8192 // every key and value together
)

var metadataKeyPattern = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// ValidateMetadata returns EValidation, naming the offending key and the limit it breaks, unless
// m has at most MaxMetadataKeys keys, each of 1 to 64 of the characters A-Z a-z 0-9 . _ -, each
// value valid UTF-8 of at most MaxMetadataValueBytes bytes, and at most MaxMetadataBytes of keys
// and values in all. A nil map is valid: no metadata.
func ValidateMetadata(m map[string]string) error {
	if len(m) > MaxMetadataKeys {
		return &Error{Code: EValidation, Message: fmt.Sprintf("metadata has %d keys, more than %d", len(m), MaxMetadataKeys),
			Details: map[string]any{"max_keys": MaxMetadataKeys}}
	}
	total := 0
	// In order, so that the same metadata is always refused for the same key.
	for _, k := range slices.Sorted(maps.Keys(m)) {
		v := m[k]
		switch {
		case !metadataKeyPattern.MatchString(k):
			return &Error{Code: EValidation, Message: fmt.Sprintf("metadata key %q is not 1 to %d of the characters A-Z a-z 0-9 . _ -", k, MaxMetadataKeyLength),
				Details: map[string]any{"key": k}}
		case !utf8.ValidString(v):
			return &Error{Code: EValidation, Message: fmt.Sprintf("the value of metadata key %q is not valid UTF-8", k),
				Details: map[string]any{"key": k}}
		case len(v) > MaxMetadataValueBytes:
			return &Error{Code: EValidation, Message: fmt.Sprintf("the value of metadata key %q has %d bytes, more than %d", k, len(v), MaxMetadataValueBytes),
				Details: map[string]any{"key": k, "max_value_bytes": MaxMetadataValueBytes}}
		}
		total += len(k) + len(v)
		if total > MaxMetadataBytes {
			return &Error{Code: EValidation, Message: fmt.Sprintf("metadata has more than %d bytes of keys and values in all (at key %q)", MaxMetadataBytes, k),
				Details: map[string]any{"key": k, "max_total_bytes": MaxMetadataBytes}}
		}
	}
	return nil
}
