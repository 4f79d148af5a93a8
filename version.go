package main

import (
	"fmt"
	"log/slog"
	"runtime"
	"runtime/debug"
)

// buildInfo is what the binary knows about its own build: the module
// version, and the commit it was built from when the go command stamped it.
type buildInfo struct {
	Module   string
	Version  string
	Revision string
	// Time is the commit's time (vcs.time): Go records no build time,
	// which keeps builds reproducible.
	Time     string
	Modified bool
	Go       string
}

// unknown stands in for what the build did not record: go test and go run
// binaries, or builds with -buildvcs=false.
const unknown = "unknown"

// readBuildInfo reads runtime/debug.ReadBuildInfo, with a fallback for
// each part it lacks.
func readBuildInfo() buildInfo {
	b := buildInfo{Module: "github.com/taskapi/server", Version: unknown, Revision: unknown, Time: unknown, Go: runtime.Version()}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return b
	}
	if bi.Main.Path != "" {
		b.Module = bi.Main.Path
	}
	if v := bi.Main.Version; v != "" {
		b.Version = v // "(devel)" for a build outside version control
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			b.Revision = s.Value
		case "vcs.time":
			b.Time = s.Value
		case "vcs.modified":
			b.Modified = s.Value == "true"
		}
	}
	return b
}

// String is the version command's line.
func (b buildInfo) String() string {
	rev := b.Revision
	if b.Modified {
		rev += " (modified)"
	}
	return fmt.Sprintf("%s %s\nrevision: %s\ncommit time: %s\ngo: %s\n", b.Module, b.Version, rev, b.Time, b.Go)
}

// attrs are the start-up log line's fields.
func (b buildInfo) attrs() []any {
	return []any{slog.String("version", b.Version), slog.String("revision", b.Revision),
		slog.String("commit_time", b.Time), slog.Bool("modified", b.Modified)}
}
