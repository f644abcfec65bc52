// Package version says which build of Comet is running: the release
// version (set at link time, or the module version `go install` records),
// the VCS revision and the Go toolchain. It owns nothing else and imports
// nothing of the module, so every layer may ask it.
//
// A release build sets the version with
//
//	go build -ldflags "-X github.com/cometmq/comet/internal/version.version=v1.2.3" ./cmd/comet
package version

import (
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
)

// version is set by the linker for release builds; empty otherwise.
var version string

// Info describes the running build.
type Info struct {
	Version   string `json:"version"`            // "v1.2.3", or "devel" for a local build
	Revision  string `json:"revision,omitempty"` // VCS commit, when the build recorded it
	Modified  bool   `json:"modified,omitempty"` // the tree had uncommitted changes
	GoVersion string `json:"goVersion"`
}

var get = sync.OnceValue(read)

// read describes the build from the linker's version and the build info.
func read() Info {
	info := Info{Version: version, GoVersion: runtime.Version()}
	bi, ok := debug.ReadBuildInfo()
	if ok && info.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		info.Version = bi.Main.Version
	}
	if ok {
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				info.Revision = s.Value
			case "vcs.modified":
				info.Modified = s.Value == "true"
			}
		}
	}
	if info.Version == "" {
		info.Version = "devel"
	}
	return info
}

// Get returns the running build's description.
func Get() Info { return get() }

// String is the one-line form: "v1.2.3 (rev 0123abcd, modified, go1.26.8)".
func (i Info) String() string {
	var details []string
	if i.Revision != "" {
		details = append(details, "rev "+i.Revision[:min(len(i.Revision), 12)])
	}
	if i.Modified {
		details = append(details, "modified")
	}
	details = append(details, i.GoVersion)
	return i.Version + " (" + strings.Join(details, ", ") + ")"
}
