package sqlstore

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/ingest-portal/ingest"
)

// timeLayout is how times travel to the database: UTC with a fixed six-digit fraction. SQLite
// keeps the text, which then sorts as the times compare; PostgreSQL parses it into timestamptz.
const timeLayout = "2006-01-02T15:04:05.000000Z"

// at encodes a time for a query parameter.
func at(t time.Time) string { return ingest.Timestamp(t).Format(timeLayout) }

// atOrNull encodes an optional time; nil becomes NULL.
func atOrNull(t *time.Time) any {
	if t == nil {
		return nil
	}
	return at(*t)
}

// textOrNull encodes an optional string; "" becomes NULL.
func textOrNull(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// timeCol scans a NOT NULL time column: a time.Time from PostgreSQL, text from SQLite.
type timeCol struct{ t *time.Time }

func (c timeCol) Scan(src any) error {
	t, err := parseTime(src)
	if err != nil {
		return err
	}
	*c.t = t
	return nil
}

// nullTimeCol scans a nullable time column into a *time.Time.
type nullTimeCol struct{ t **time.Time }

func (c nullTimeCol) Scan(src any) error {
	if src == nil {
		*c.t = nil
		return nil
	}
	t, err := parseTime(src)
	if err != nil {
		return err
	}
	*c.t = &t
	return nil
}

func parseTime(src any) (time.Time, error) {
	switch v := src.(type) {
	case time.Time:
		return ingest.Timestamp(v), nil
	case string:
		t, err := time.Parse(time.RFC3339Nano, v)
		return ingest.Timestamp(t), err
	case []byte:
		t, err := time.Parse(time.RFC3339Nano, string(v))
		return ingest.Timestamp(t), err
	}
	return time.Time{}, fmt.Errorf("scan time: unexpected %T", src)
}

// textCol scans a nullable text column into a string type, NULL becoming "".
type textCol[T ~string] struct{ s *T }

func (c textCol[T]) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		*c.s = ""
	case string:
		*c.s = T(v)
	case []byte:
		*c.s = T(v)
	default:
		return fmt.Errorf("scan text: unexpected %T", src)
	}
	return nil
}

// crc32cCol scans a nullable CRC32C column, stored as a 64-bit integer because PostgreSQL has no
// unsigned 32-bit type.
type crc32cCol struct{ c **uint32 }

func (c crc32cCol) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		*c.c = nil
	case int64:
		u := uint32(v)
		*c.c = &u
	default:
		return fmt.Errorf("scan crc32c: unexpected %T", src)
	}
	return nil
}

// crcCol scans a NOT NULL CRC32C column.
type crcCol struct{ c *uint32 }

func (c crcCol) Scan(src any) error {
	v, ok := src.(int64)
	if !ok {
		return fmt.Errorf("scan crc32c: unexpected %T", src)
	}
	*c.c = uint32(v)
	return nil
}

// metadataJSON encodes a file's metadata for its JSON column (jsonb on PostgreSQL); nil is {}.
func metadataJSON(m map[string]string) (string, error) {
	if len(m) == 0 {
		return "{}", nil
	}
	b, err := json.Marshal(m)
	if err != nil {
		return "", fmt.Errorf("encode metadata: %w", err)
	}
	return string(b), nil
}

// metadataCol scans the metadata column into a map, empty (never nil) when there is none.
type metadataCol struct{ m *map[string]string }

func (c metadataCol) Scan(src any) error {
	m := map[string]string{}
	if err := (jsonCol[map[string]string]{&m}).Scan(src); err != nil {
		return err
	}
	*c.m = m
	return nil
}

// jsonCol scans a NOT NULL JSON column (text on SQLite, jsonb on PostgreSQL) into a T.
type jsonCol[T any] struct{ v *T }

func (c jsonCol[T]) Scan(src any) error {
	var b []byte
	switch v := src.(type) {
	case string:
		b = []byte(v)
	case []byte:
		b = v
	default:
		return fmt.Errorf("scan json: unexpected %T", src)
	}
	if err := json.Unmarshal(b, c.v); err != nil {
		return fmt.Errorf("scan json: %w", err)
	}
	return nil
}

// scanned collects the destinations a scan function asks for instead of scanning, so that one row
// can hold the columns of several scan functions, in order (see qualified).
type scanned []any

func (c *scanned) Scan(dest ...any) error {
	*c = append(*c, dest...)
	return nil
}

// qualified prefixes each column of a column list with the table alias.
func qualified(alias, columns string) string {
	cols := strings.Split(columns, ",")
	for i, c := range cols {
		cols[i] = alias + "." + strings.TrimSpace(c)
	}
	return strings.Join(cols, ", ")
}
