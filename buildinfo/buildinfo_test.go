package buildinfo

import (
	"runtime/debug"
	"strings"
	"testing"
)

func TestFromBuildInfo(t *testing.T) {
	for _, tc := range []struct {
		name   string
		bi     debug.BuildInfo
		linker Info
		want   Info
		line   []string
	}{
		{
			name: "git checkout with changes",
			bi: debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: "github.com/realtimed/realtimed", Version: "v0.0.0-20250102030405-0123456789ab+dirty"},
				Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "0123456789abcdef0123"}, {Key: "vcs.time", Value: "2025-01-02T03:04:05Z"}, {Key: "vcs.modified", Value: "true"}}},
			want: Info{Module: "github.com/realtimed/realtimed", Version: "v0.0.0-20250102030405-0123456789ab+dirty", Revision: "0123456789abcdef0123",
				Time: "2025-01-02T03:04:05Z", Modified: true, GoVersion: "go1.26.8"},
			line: []string{"realtimed v0.0.0-20250102030405-0123456789ab+dirty", "revision 0123456789ab", "modified", "2025-01-02T03:04:05Z", "go1.26.8"},
		},
		{
			name:   "no version control, revision from the linker",
			bi:     debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: "github.com/realtimed/realtimed", Version: "(devel)"}},
			linker: Info{Revision: "fedcba987654", Modified: true},
			want:   Info{Module: "github.com/realtimed/realtimed", Version: "(devel)", Revision: "fedcba987654", Modified: true, GoVersion: "go1.26.8"},
			line:   []string{"realtimed (devel)", "revision fedcba987654, modified;"},
		},
		{
			name: "nothing known",
			bi:   debug.BuildInfo{GoVersion: "go1.26.8"},
			want: Info{Version: "(devel)", GoVersion: "go1.26.8"},
			line: []string{"revision unknown"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := fromBuildInfo(&tc.bi, tc.linker)
			if got != tc.want {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
			for _, w := range tc.line {
				if !strings.Contains(got.String(), w) {
					t.Errorf("%q lacks %q", got.String(), w)
				}
			}
		})
	}
}

func TestGetNamesTheModule(t *testing.T) {
	if got := Get(); got.GoVersion == "" || got.Version == "" {
		t.Fatalf("Get() = %+v", got)
	}
}

func TestShort(t *testing.T) {
	for _, tc := range []struct {
		info Info
		want string
	}{
		{Info{Version: "v1.2.3", Revision: "0123456789abcdef"}, "v1.2.3"},
		{Info{Version: "(devel)", Revision: "0123456789abcdef"}, "devel 0123456789ab"},
		{Info{Version: "(devel)"}, "devel unknown"},
	} {
		if got := tc.info.Short(); got != tc.want {
			t.Errorf("%+v: Short() = %q, want %q", tc.info, got, tc.want)
		}
	}
}
