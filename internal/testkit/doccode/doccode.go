// Package doccode reads the fenced code blocks and the tables of the project's Markdown
// documents, so that tests can run the examples the documents show and check the facts they
// state, and neither can silently go stale.
package doccode

import (
	"os"
	"strings"
	"testing"
)

// Blocks returns the bodies of the code blocks fenced as ```lang in the section of the Markdown
// file at path that starts with the heading line (such as "## Verifying a webhook signature") and
// ends at the next heading of the same or a higher level. It fails the test when the file or the
// section is missing or the section holds no such block.
func Blocks(t testing.TB, path, heading, lang string) []string {
	t.Helper()
	var (
		blocks []string
		block  []string
		// inBlock: inside a fence of any language; keep: that fence is a wanted block.
		inBlock, keep bool
	)
	for _, line := range section(t, path, heading) {
		switch {
		case inBlock && line == "```":
			inBlock = false
			if keep {
				blocks = append(blocks, strings.Join(block, "\n")+"\n")
			}
		case inBlock:
			block = append(block, line)
		case strings.HasPrefix(line, "```"):
			inBlock, block = true, nil
			keep = strings.TrimPrefix(line, "```") == lang
		}
	}
	if len(blocks) == 0 {
		t.Fatalf("doccode: the section %q of %s has no ```%s block", heading, path, lang)
	}
	return blocks
}

// Table returns the first table of the section of the Markdown file at path that starts with the
// heading line: its header cells, and its rows' cells, trimmed. A "|" inside a `code span` or
// escaped as "\|" belongs to its cell. It fails the test when the file or the section is missing
// or the section holds no table.
func Table(t testing.TB, path, heading string) (header []string, rows [][]string) {
	t.Helper()
	var lines []string
	inBlock := false
	for _, line := range section(t, path, heading) {
		if strings.HasPrefix(line, "```") {
			inBlock = !inBlock
			continue
		}
		if !inBlock && strings.HasPrefix(strings.TrimSpace(line), "|") {
			lines = append(lines, strings.TrimSpace(line))
			continue
		}
		if len(lines) > 0 {
			break
		}
	}
	// A table is a header row, a delimiter row (|---|---|) and then its rows.
	if len(lines) < 2 {
		t.Fatalf("doccode: the section %q of %s has no table", heading, path)
	}
	for i, line := range lines {
		switch i {
		case 0:
			header = cells(line)
		case 1:
		default:
			rows = append(rows, cells(line))
		}
	}
	return header, rows
}

// cells splits a table row into its trimmed cells.
func cells(row string) []string {
	row = strings.TrimSuffix(strings.TrimPrefix(row, "|"), "|")
	var (
		out    []string
		cell   strings.Builder
		inCode bool
	)
	for i := 0; i < len(row); i++ {
		c := row[i]
		switch {
		case c == '\\' && i+1 < len(row) && row[i+1] == '|':
			cell.WriteByte('|')
			i++
		case c == '`':
			inCode = !inCode
			cell.WriteByte(c)
		case c == '|' && !inCode:
			out = append(out, strings.TrimSpace(cell.String()))
			cell.Reset()
		default:
			cell.WriteByte(c)
		}
	}
	return append(out, strings.TrimSpace(cell.String()))
}

// section returns the lines of the Markdown file at path from the heading line to the next
// heading of the same or a higher level, the heading excluded. A "#" line inside a fenced block
// is not taken for a heading. It fails the test when the file or the heading is missing.
func section(t testing.TB, path, heading string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("doccode: %v", err)
	}
	level := len(heading) - len(strings.TrimLeft(heading, "#"))
	var (
		lines                     []string
		inSection, found, inBlock bool
	)
	for line := range strings.SplitSeq(string(data), "\n") {
		switch {
		case inSection && !inBlock && isHeading(line, level):
			return lines
		case inSection:
			lines = append(lines, line)
			if strings.HasPrefix(line, "```") {
				inBlock = !inBlock
			}
		case line == heading && !inBlock:
			inSection, found = true, true
		case strings.HasPrefix(line, "```"):
			inBlock = !inBlock
		}
	}
	if !found {
		t.Fatalf("doccode: %s has no heading %q", path, heading)
	}
	return lines
}

// isHeading reports whether line is a Markdown heading of the given level or a higher one.
func isHeading(line string, level int) bool {
	n := len(line) - len(strings.TrimLeft(line, "#"))
	return n > 0 && n <= level && strings.HasPrefix(line[n:], " ")
}
