// Package buildinfo says which realtimed is running: the module version and the version
// control revision the binary was built from, as the Go toolchain records them
// (runtime/debug.ReadBuildInfo). `go build` in a git clone records the commit, its time and
// whether the tree had uncommitted changes. Where the toolchain cannot (GOFLAGS=-buildvcs=false,
// a git worktree, a container build whose context leaves .git out), scripts/build.sh and the
// Dockerfile pass the revision to the linker:
// -ldflags "-X github.com/realtimed/realtimed/buildinfo.revision=<commit> -X …buildinfo.modified=true".
package buildinfo

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
)

// revision and modified are set by the linker (-X) for builds without version control
// information; the toolchain's, when there is some, win.
var revision, modified string

// Info describes the running binary.
type Info struct {
	// Module is the main module's path (github.com/realtimed/realtimed).
	Module string
	// Version is the main module's version: a tag, a pseudo-version derived from the commit,
	// or "(devel)" when the toolchain knew neither.
	Version string
	// Revision is the commit the binary was built from ("" when unknown).
	Revision string
	// Time is the commit's time, RFC 3339 ("" when unknown).
	Time string
	// Modified reports uncommitted changes in the tree the binary was built from.
	Modified bool
	// GoVersion is the toolchain that built the binary.
	GoVersion string
}

// Get returns the running binary's build information.
func Get() Info {
	linker := Info{Revision: revision, Modified: modified == "true"}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		bi = &debug.BuildInfo{GoVersion: runtime.Version()}
	}
	return fromBuildInfo(bi, linker)
}

// fromBuildInfo reads bi; linker holds what the linker was told.
func fromBuildInfo(bi *debug.BuildInfo, linker Info) Info {
	info := Info{Module: bi.Main.Path, Version: bi.Main.Version, GoVersion: bi.GoVersion, Revision: linker.Revision, Modified: linker.Modified}
	if info.Version == "" {
		info.Version = "(devel)"
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			info.Revision = s.Value
		case "vcs.time":
			info.Time = s.Value
		case "vcs.modified":
			info.Modified = s.Value == "true"
		}
	}
	return info
}

// ShortRevision is the revision's first 12 characters, or "unknown".
func (i Info) ShortRevision() string {
	switch {
	case i.Revision == "":
		return "unknown"
	case len(i.Revision) > 12:
		return i.Revision[:12]
	}
	return i.Revision
}

// String is one line for humans: "realtimed v1.2.3 (revision 0123456789ab, modified, 2025-01-02T03:04:05Z; go1.26.8 linux/amd64)".
func (i Info) String() string {
	details := []string{"revision " + i.ShortRevision()}
	if i.Modified {
		details = append(details, "modified")
	}
	if i.Time != "" {
		details = append(details, i.Time)
	}
	return fmt.Sprintf("realtimed %s (%s; %s %s/%s)", i.Version, strings.Join(details, ", "), i.GoVersion, runtime.GOOS, runtime.GOARCH)
}

// Short names the build in a few characters: the module version, or for a development build
// without one, "devel" and the revision.
func (i Info) Short() string {
	if i.Version != "(devel)" && i.Version != "" {
		return i.Version
	}
	return "devel " + i.ShortRevision()
}
