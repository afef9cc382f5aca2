package main

import (
	"os/exec"
	"strings"
	"testing"
)

// gitRevision is the commit the test binary was built from.
func gitRevision(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("git", "rev-parse", "HEAD").Output()
	if err != nil {
		t.Fatalf("git rev-parse HEAD: %v (the tests run in a git checkout)", err)
	}
	return strings.TrimSpace(string(out))
}

func TestVersionNamesTheBuild(t *testing.T) {
	rev := gitRevision(t)
	out, stderr, code := runCLI(t, nil, "version")
	if code != 0 || !strings.HasPrefix(out, "realtimed ") || !strings.Contains(out, "revision "+rev[:12]) || !strings.Contains(out, "go1.") {
		t.Fatalf("version: exit %d, out %q, stderr %q (want the revision %s)", code, out, stderr, rev[:12])
	}
	for _, flag := range []string{"--version", "-version"} {
		if again, _, code := runCLI(t, nil, flag); code != 0 || again != out {
			t.Fatalf("%s: exit %d, %q; want %q", flag, code, again, out)
		}
	}
}
