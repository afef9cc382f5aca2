package triggers

import (
	"strings"
	"testing"
)

func TestUnifiedDiff(t *testing.T) {
	lines := func(n int, change map[int]string) string {
		var b strings.Builder
		for i := 1; i <= n; i++ {
			if s, ok := change[i]; ok {
				b.WriteString(s)
			} else {
				b.WriteString("line " + string(rune('a'+i-1)))
			}
			b.WriteByte('\n')
		}
		return b.String()
	}
	for _, tc := range []struct {
		name string
		a, b string
		want string
	}{
		{"equal", lines(5, nil), lines(5, nil), ""},
		{"one line changed in the middle", lines(12, nil), lines(12, map[int]string{6: "changed"}),
			"@@ -3,7 +3,7 @@\n line c\n line d\n line e\n-line f\n+changed\n line g\n line h\n line i\n"},
		{"changes far apart make two hunks", lines(20, nil), lines(20, map[int]string{2: "two", 18: "eighteen"}),
			"@@ -1,5 +1,5 @@\n line a\n-line b\n+two\n line c\n line d\n line e\n" +
				"@@ -15,6 +15,6 @@\n line o\n line p\n line q\n-line r\n+eighteen\n line s\n line t\n"},
		{"a line added at the end", lines(3, nil), lines(3, nil) + "new\n", "@@ -1,3 +1,4 @@\n line a\n line b\n line c\n+new\n"},
		{"from nothing", "", "x\ny\n", "@@ -0,0 +1,2 @@\n+x\n+y\n"},
		{"to nothing", "x\n", "", "@@ -1,1 +0,0 @@\n-x\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := unifiedDiff(tc.a, tc.b); got != tc.want {
				t.Fatalf("got\n%s\nwant\n%s", got, tc.want)
			}
		})
	}
}
