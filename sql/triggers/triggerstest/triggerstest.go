// Package triggerstest writes rule folders for tests: the built-in rules, with edits.
package triggerstest

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/realtimed/realtimed/sql/triggers"
)

// Folder writes the built-in rule files into a new temporary folder and returns it. A file
// named in edits is written as edits[name] returns it from the built-in text ("" leaves it
// out); a name the built-in set lacks adds a file, written as edits[name]("").
func Folder(t testing.TB, edits map[string]func(string) string) string {
	t.Helper()
	dir := t.TempDir()
	builtin, err := triggers.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	texts := map[string]string{}
	for _, f := range builtin.Files {
		texts[f.Name] = f.SQL
	}
	for name, edit := range edits {
		texts[name] = edit(texts[name])
	}
	for name, text := range texts {
		if text == "" {
			continue
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}
