package version

import (
	"runtime"
	"strings"
	"testing"
)

func TestGetDescribesTheBuild(t *testing.T) {
	i := Get()
	if i.Version == "" || i.GoVersion != runtime.Version() {
		t.Fatalf("Get() = %+v", i)
	}
	if s := i.String(); !strings.HasPrefix(s, i.Version+" (") || !strings.Contains(s, runtime.Version()) {
		t.Errorf("String() = %q", s)
	}
}

func TestStringShortensTheRevision(t *testing.T) {
	i := Info{Version: "v1.2.3", Revision: "0123456789abcdef0123", Modified: true, GoVersion: "go1.26.8"}
	if got, want := i.String(), "v1.2.3 (rev 0123456789ab, modified, go1.26.8)"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}

func TestLinkerVersionWins(t *testing.T) {
	defer func(v string) { version = v }(version)
	version = "v9.8.7"
	if got := read().Version; got != "v9.8.7" {
		t.Errorf("version set at link time: got %q", got)
	}
	version = ""
	if got := read().Version; got != "devel" { // a test binary is a local build
		t.Errorf("local build: got %q, want devel", got)
	}
}
