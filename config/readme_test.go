package config_test

import (
	"os"
	"strings"
	"testing"

	"github.com/realtimed/realtimed/config"
)

// TestREADMEListsEveryVariable keeps the README's configuration table true: every setting is
// documented with its flag and default, and the README documents no setting that does not exist.
func TestREADMEListsEveryVariable(t *testing.T) {
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	documented := map[string]bool{}
	for _, line := range strings.Split(readme, "\n") {
		if strings.HasPrefix(line, "| `DATABASE_URL`") || strings.HasPrefix(line, "| `REALTIME_") {
			name := strings.Trim(strings.SplitN(line, "|", 3)[1], " `")
			documented[name] = true
		}
	}
	for _, v := range config.Vars {
		row := "| `" + v.Env + "` | `--" + v.Flag + "` | "
		if v.Default != "" {
			row += "`" + v.Default + "` |"
		} else {
			row += "|"
		}
		if !strings.Contains(readme, row) {
			t.Errorf("README's configuration table lacks the row for %s starting %q", v.Env, row)
		}
		delete(documented, v.Env)
	}
	for name := range documented {
		t.Errorf("README documents %s, which config.Vars does not define", name)
	}
}
