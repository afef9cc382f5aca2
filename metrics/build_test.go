package metrics

import (
	"strings"
	"testing"

	"github.com/realtimed/realtimed/buildinfo"
)

func TestBuildInfoNamesTheBuild(t *testing.T) {
	info := buildinfo.Get()
	out := gather(t, New(Sources{}), "realtimed_build_info")
	for _, want := range []string{`version="` + info.Version + `"`, `revision="` + info.Revision + `"`, `goversion="` + info.GoVersion + `"`} {
		if !strings.Contains(out, want) {
			t.Errorf("realtimed_build_info lacks %s:\n%s", want, out)
		}
	}
	if !strings.HasSuffix(strings.TrimSpace(out), "} 1") {
		t.Errorf("realtimed_build_info is not 1:\n%s", out)
	}
}
