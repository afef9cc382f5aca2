package config

import (
	"fmt"
	"sort"
	"strings"
)

// ToolVars are REALTIME_* variables read by the scripts and tests around realtimed (not by
// realtimed itself): they are not reported as unknown.
var ToolVars = []string{"REALTIME_TEST_DATABASE_URL", "REALTIME_PG_DIR", "REALTIME_PG_OPTS"}

// UnknownVar is a REALTIME_* variable of the environment that no setting reads.
type UnknownVar struct {
	Name    string
	Closest string // the known setting whose name is nearest
}

// String is the warning: the variable and the setting it probably meant.
func (u UnknownVar) String() string {
	return fmt.Sprintf("%s is not a realtimed setting and is ignored (did you mean %s?)", u.Name, u.Closest)
}

// Unknown returns the REALTIME_* variables of environ ("NAME=value" entries, as os.Environ
// gives them) that are neither settings (Vars) nor ToolVars, in name order, each with the
// closest setting's name: a misspelt variable would otherwise be ignored without a word.
func Unknown(environ []string) []UnknownVar {
	known := map[string]bool{}
	for _, v := range Vars {
		known[v.Env] = true
	}
	for _, v := range ToolVars {
		known[v] = true
	}
	var out []UnknownVar
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(name, "REALTIME_") || known[name] {
			continue
		}
		out = append(out, UnknownVar{Name: name, Closest: closest(name)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// closest returns the setting whose name is the fewest edits away from name.
func closest(name string) string {
	best, bestDist := "", -1
	for _, v := range Vars {
		if d := editDistance(name, v.Env); bestDist < 0 || d < bestDist {
			best, bestDist = v.Env, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b (insertions, deletions and
// substitutions of bytes).
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
