package doccode_test

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/ingest-portal/ingest/internal/testkit/doccode"
)

func TestBlocksReadsOnlyTheSectionsBlocksOfTheLanguage(t *testing.T) {
	path := filepath.Join(t.TempDir(), "doc.md")
	doc := "# Doc\n\n## Before\n\n```sh\necho before\n```\n\n" +
		"## Wanted\n\n```sh\necho one\n```\n\n```go\npackage main\n```\n\n" +
		"### A subsection still belongs\n\n```sh\n# a comment, not a heading\necho two\n```\n\n" +
		"## After\n\n```sh\necho after\n```\n"
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	got := doccode.Blocks(t, path, "## Wanted", "sh")
	want := []string{"echo one\n", "# a comment, not a heading\necho two\n"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Blocks = %q, want %q", got, want)
	}
}

func TestTableReadsTheSectionsFirstTable(t *testing.T) {
	path := filepath.Join(t.TempDir(), "doc.md")
	doc := "# Doc\n\n## Before\n\n| a | b |\n|---|---|\n| before | x |\n\n" +
		"## Wanted\n\nText.\n\n```md\n| in | a fence |\n```\n\n" +
		"| name | value |\n|---|---|\n| `a|b` | one \\| two |\n|  spaced  | `x` and `y` |\n\n" +
		"| second | table |\n|---|---|\n| no | no |\n\n## After\n"
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	header, rows := doccode.Table(t, path, "## Wanted")
	if want := []string{"name", "value"}; !reflect.DeepEqual(header, want) {
		t.Errorf("header = %q, want %q", header, want)
	}
	want := [][]string{{"`a|b`", "one | two"}, {"spaced", "`x` and `y`"}}
	if !reflect.DeepEqual(rows, want) {
		t.Errorf("rows = %q, want %q", rows, want)
	}
}
