// Package doccode reads the fenced code blocks of the project's Markdown documents, so that tests
// can run the examples the documents show and the examples cannot silently go stale.
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
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("doccode: %v", err)
	}
	level := len(heading) - len(strings.TrimLeft(heading, "#"))
	var (
		blocks []string
		block  []string
		// inBlock: inside a fence of any language, so that a "#" line in it is not taken for a
		// heading; keep: that fence is a wanted block of the section.
		inSection, found, inBlock, keep bool
	)
	for line := range strings.SplitSeq(string(data), "\n") {
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
			keep = inSection && strings.TrimPrefix(line, "```") == lang
		case line == heading:
			inSection, found = true, true
		case inSection && isHeading(line, level):
			inSection = false
		}
	}
	if !found {
		t.Fatalf("doccode: %s has no heading %q", path, heading)
	}
	if len(blocks) == 0 {
		t.Fatalf("doccode: the section %q of %s has no ```%s block", heading, path, lang)
	}
	return blocks
}

// isHeading reports whether line is a Markdown heading of the given level or a higher one.
func isHeading(line string, level int) bool {
	n := len(line) - len(strings.TrimLeft(line, "#"))
	return n > 0 && n <= level && strings.HasPrefix(line[n:], " ")
}
