// Package buildinfo carries the version and commit stamped into the binary at
// link time (see the Makefile's LDFLAGS).
package buildinfo

import (
	"runtime"
	"runtime/debug"
)

// Set by -ldflags "-X …" at build time.
var (
	Version = "dev"
	Commit  = ""
)

// Info describes this binary.
type Info struct {
	Version   string `json:"version"`
	Commit    string `json:"commit"`
	GoVersion string `json:"goVersion"`
}

// Get returns the build information, falling back to the VCS data Go embeds
// when the binary was built without the Makefile.
func Get() Info {
	i := Info{Version: Version, Commit: Commit, GoVersion: runtime.Version()}
	if i.Commit == "" {
		if bi, ok := debug.ReadBuildInfo(); ok {
			for _, s := range bi.Settings {
				if s.Key == "vcs.revision" && len(s.Value) >= 7 {
					i.Commit = s.Value[:7]
				}
			}
		}
	}
	if i.Commit == "" {
		i.Commit = "unknown"
	}
	return i
}
