package triggers

import (
	"fmt"
	"strings"

	"github.com/kylelemons/godebug/diff"
)

// diffContext is how many unchanged lines a hunk shows around a change.
const diffContext = 3

type edit struct {
	op   byte // ' ', '-' or '+'
	line string
}

// unifiedDiff returns the differences from a to b as unified diff hunks ("@@ -l,n +l,n @@"
// and lines prefixed with ' ', '-' or '+'), without file headers; "" when they are equal.
func unifiedDiff(a, b string) string {
	var edits []edit
	for _, c := range diff.DiffChunks(splitLines(a), splitLines(b)) {
		for _, l := range c.Deleted {
			edits = append(edits, edit{'-', l})
		}
		for _, l := range c.Added {
			edits = append(edits, edit{'+', l})
		}
		for _, l := range c.Equal {
			edits = append(edits, edit{' ', l})
		}
	}
	var out strings.Builder
	for start := 0; start < len(edits); {
		first := nextChange(edits, start)
		if first < 0 {
			break
		}
		from := max(first-diffContext, start)
		to := hunkEnd(edits, first)
		writeHunk(&out, edits, from, to)
		start = to
	}
	return out.String()
}

func splitLines(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(strings.TrimSuffix(s, "\n"), "\n")
}

// nextChange returns the index of the first edit at or after i that is not an equal line.
func nextChange(edits []edit, i int) int {
	for ; i < len(edits); i++ {
		if edits[i].op != ' ' {
			return i
		}
	}
	return -1
}

// hunkEnd returns where the hunk that has a change at i ends: after the last change that is
// at most 2*diffContext equal lines from the previous one, plus diffContext lines.
func hunkEnd(edits []edit, i int) int {
	end := i
	for j := i; j < len(edits); j++ {
		if edits[j].op != ' ' {
			end = j
		} else if j-end > 2*diffContext {
			break
		}
	}
	return min(end+1+diffContext, len(edits))
}

// writeHunk writes edits[from:to] with its header, counting lines in a and b.
func writeHunk(out *strings.Builder, edits []edit, from, to int) {
	aLine, bLine := 1, 1
	for _, e := range edits[:from] {
		if e.op != '+' {
			aLine++
		}
		if e.op != '-' {
			bLine++
		}
	}
	aCount, bCount := 0, 0
	for _, e := range edits[from:to] {
		if e.op != '+' {
			aCount++
		}
		if e.op != '-' {
			bCount++
		}
	}
	// An empty side is numbered by the line before it, as diff -u does.
	if aCount == 0 {
		aLine--
	}
	if bCount == 0 {
		bLine--
	}
	fmt.Fprintf(out, "@@ -%d,%d +%d,%d @@\n", aLine, aCount, bLine, bCount)
	for _, e := range edits[from:to] {
		out.WriteByte(e.op)
		out.WriteString(e.line)
		out.WriteByte('\n')
	}
}
