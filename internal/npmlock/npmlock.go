// Package npmlock reads the versions e2e/package-lock.json pins, for the tests that check that
// what the project vendors from npm (the console's client bundle, the Admin UI's files) is the
// pinned version.
package npmlock

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// Pinned returns the version of the npm package pkg that e2e/package-lock.json pins (empty
// when it pins none), reading the lock file of the repository the test runs in.
func Pinned(t testing.TB, pkg string) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "e2e", "package-lock.json"))
		if err == nil {
			var lock struct {
				Packages map[string]struct {
					Version string `json:"version"`
				} `json:"packages"`
			}
			if err := json.Unmarshal(b, &lock); err != nil {
				t.Fatalf("npmlock: e2e/package-lock.json: %v", err)
			}
			return lock.Packages["node_modules/"+pkg].Version
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("npmlock: no e2e/package-lock.json above the test's directory")
		}
		dir = parent
	}
}
