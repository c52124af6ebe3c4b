package sqlstore

import (
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/ingest-portal/ingest/internal/testkit/doccode"
)

// TestDialectTableListsEveryField keeps the dialect table of docs/architecture.md true: one row
// per field of dialect, in its order, and a value for each database.
func TestDialectTableListsEveryField(t *testing.T) {
	header, rows := doccode.Table(t, "../docs/architecture.md", "### The dialect")
	if !slices.Equal(header, []string{"field", "SQLite", "PostgreSQL"}) {
		t.Fatalf("the dialect table's header is %q", header)
	}
	var documented []string
	for _, row := range rows {
		if len(row) != 3 || row[1] == "" || row[2] == "" {
			t.Errorf("the dialect table's row %q needs a field and a value for each database", row)
		}
		documented = append(documented, strings.Trim(row[0], "`"))
	}
	var fields []string
	typ := reflect.TypeFor[dialect]()
	for i := range typ.NumField() {
		if name := typ.Field(i).Name; name != "name" {
			fields = append(fields, name)
		}
	}
	if !slices.Equal(documented, fields) {
		t.Errorf("the dialect table lists %q; the fields of dialect (dialect.go) are %q", documented, fields)
	}
}

// asksForDialect is a comparison with a dialect's name: the question dialect.go answers once.
var asksForDialect = regexp.MustCompile(`(==|!=)\s*(SQLite|Postgres)\b|\b(SQLite|Postgres)\s*(==|!=)`)

// TestNoCodeAsksForTheDialect: outside dialect.go, the store reads the dialect's fields instead of
// asking which database it runs on.
func TestNoCodeAsksForTheDialect(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if f == "dialect.go" || strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, line := range strings.Split(string(src), "\n") {
			if asksForDialect.MatchString(line) {
				t.Errorf("%s:%d asks which database it runs on; make it a field of dialect (dialect.go): %s", f, i+1, strings.TrimSpace(line))
			}
		}
	}
}
