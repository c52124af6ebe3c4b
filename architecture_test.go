package ingest_test

import (
	"fmt"
	"maps"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/ingest-portal/ingest/internal/testkit/doccode"
)

// modulePath is this module's path: the root package's import path, and the prefix of every other.
const modulePath = "github.com/ingest-portal/ingest"

// TestArchitectureTable keeps docs/architecture.md's package table true: every package of the
// module has a row, every row is a package, and each row's "imports from the module" column names
// exactly the module's packages that the package imports (tests excluded).
func TestArchitectureTable(t *testing.T) {
	documented := architectureTable(t, "docs/architecture.md")
	actual := moduleImports(t)
	for _, problem := range architectureDiff(documented, actual) {
		t.Error("docs/architecture.md, ## Packages and imports: " + problem)
	}
}

// testSupport are the packages made for tests: the shared suites and internal/testkit's helpers.
// Only they, and tests, may import internal/testkit.
var testSupport = regexp.MustCompile(`^(storetest|blobtest|sinktest|internal/testkit/.+)$`)

// TestTheProductNeverImportsTestkit keeps the test-only helpers out of the product: no package but
// the test support imports a package under internal/testkit (tests excluded, as go list sees them).
func TestTheProductNeverImportsTestkit(t *testing.T) {
	for pkg, imports := range moduleImports(t) {
		if testSupport.MatchString(pkg) {
			continue
		}
		for _, imp := range imports {
			if strings.HasPrefix(imp, "internal/testkit/") {
				t.Errorf("%s imports %s, a helper for tests only", pkg, imp)
			}
		}
	}
}

// TestArchitectureDiffFindsEveryDifference shows that the check above can fail, and how.
func TestArchitectureDiffFindsEveryDifference(t *testing.T) {
	actual := map[string][]string{
		"ingest":    nil,
		"upload":    {"ingest"},
		"httpapi":   {"ingest", "upload"},
		"sink/file": {"ingest", "internal/durable"},
		"relay":     {"ingest"}, // has no row
	}
	documented := map[string][]string{
		"ingest":    nil,
		"upload":    {"ingest"},
		"httpapi":   {"ingest"},                                 // misses upload
		"sink/file": {"ingest", "internal/durable", "sqlstore"}, // sqlstore is not imported
		"gone":      {"ingest"},                                 // no such package
	}
	got := architectureDiff(documented, actual)
	want := []string{
		`"gone" has a row, but the module has no such package`,
		`"relay" is a package of the module (go list), but has no row`,
		`"httpapi" imports "upload", which its row does not list`,
		`"sink/file" does not import "sqlstore", which its row lists`,
	}
	if !slices.Equal(got, want) {
		t.Errorf("architectureDiff =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if got := architectureDiff(actual, actual); len(got) != 0 {
		t.Errorf("architectureDiff of a table with itself = %q, want nothing", got)
	}
}

// codeSpan is one `code span` of a Markdown cell.
var codeSpan = regexp.MustCompile("`([^`]+)`")

// architectureTable reads the package table of the architecture document at path: for each row,
// the package (the first code span of its first column, "ingest" for the root) and the code spans
// of its "imports from the module" column.
func architectureTable(t *testing.T, path string) map[string][]string {
	t.Helper()
	header, rows := doccode.Table(t, path, "## Packages and imports")
	col := slices.Index(header, "imports from the module")
	if col < 0 || header[0] != "package" {
		t.Fatalf("%s: the package table's header is %q; want a first column \"package\" and a column \"imports from the module\"", path, header)
	}
	table := map[string][]string{}
	for _, row := range rows {
		if len(row) != len(header) {
			t.Fatalf("%s: the row %q has %d cells, want %d", path, row, len(row), len(header))
		}
		name := codeSpan.FindStringSubmatch(row[0])
		if name == nil {
			t.Fatalf("%s: the row %q names no package in `code`", path, row)
		}
		if _, dup := table[name[1]]; dup {
			t.Fatalf("%s: two rows for %q", path, name[1])
		}
		var imports []string
		for _, m := range codeSpan.FindAllStringSubmatch(row[col], -1) {
			imports = append(imports, m[1])
		}
		table[name[1]] = imports
	}
	return table
}

// moduleImports asks go list for every package of the module and the module's packages each
// imports outside its tests, named as the table names them.
func moduleImports(t *testing.T) map[string][]string {
	t.Helper()
	out, err := exec.CommandContext(t.Context(), "go", "list", "-f", "{{.ImportPath}}{{range .Imports}} {{.}}{{end}}", "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	packages := map[string][]string{}
	for line := range strings.Lines(string(out)) {
		fields := strings.Fields(line)
		var imports []string
		for _, imp := range fields[1:] {
			if name, ok := tableName(imp); ok {
				imports = append(imports, name)
			}
		}
		name, _ := tableName(fields[0])
		packages[name] = imports
	}
	return packages
}

// tableName is how the table names the package at importPath ("ingest" for the root, the path
// within the module for the others), and whether the package is the module's.
func tableName(importPath string) (string, bool) {
	if importPath == modulePath {
		return "ingest", true
	}
	rel, ok := strings.CutPrefix(importPath, modulePath+"/")
	return rel, ok
}

// architectureDiff lists, in a stable order, how the documented table differs from the actual
// packages: rows without a package, packages without a row, then each package's imports that the
// row misses or lists wrongly.
func architectureDiff(documented, actual map[string][]string) []string {
	var problems []string
	for _, name := range slices.Sorted(maps.Keys(documented)) {
		if _, ok := actual[name]; !ok {
			problems = append(problems, fmt.Sprintf("%q has a row, but the module has no such package", name))
		}
	}
	for _, name := range slices.Sorted(maps.Keys(actual)) {
		if _, ok := documented[name]; !ok {
			problems = append(problems, fmt.Sprintf("%q is a package of the module (go list), but has no row", name))
		}
	}
	for _, name := range slices.Sorted(maps.Keys(actual)) {
		listed, ok := documented[name]
		if !ok {
			continue
		}
		for _, imp := range slices.Sorted(slices.Values(actual[name])) {
			if !slices.Contains(listed, imp) {
				problems = append(problems, fmt.Sprintf("%q imports %q, which its row does not list", name, imp))
			}
		}
		for _, imp := range slices.Sorted(slices.Values(listed)) {
			if !slices.Contains(actual[name], imp) {
				problems = append(problems, fmt.Sprintf("%q does not import %q, which its row lists", name, imp))
			}
		}
	}
	return problems
}
