package daemon

import (
	"bytes"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// busyAddr holds a loopback port for the test's lifetime.
func busyAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln.Addr().String()
}

// TestBusyPortNamesTheSetting: a port in use is reported with the setting
// that chose it and where its value came from, and nothing claims a clean
// stop before the error.
func TestBusyPortNamesTheSetting(t *testing.T) {
	busy := busyAddr(t)
	for _, key := range []string{"listen", "namesrv-listen", "http-listen", "ha-listen"} {
		t.Run(key, func(t *testing.T) {
			settings := map[string]string{"listen": "127.0.0.1:0", "namesrv-listen": "127.0.0.1:0", "http-listen": "127.0.0.1:0",
				"ha-listen": "127.0.0.1:0"}
			settings[key] = busy
			args := []string{"-data-dir", t.TempDir()}
			for k, v := range settings {
				args = append(args, "-"+k, v)
			}
			var stderr bytes.Buffer
			if code := Main(args, &stderr); code != ExitFailure {
				t.Fatalf("exit %d, want %d:\n%s", code, ExitFailure, stderr.String())
			}
			out := stderr.String()
			want := `cannot listen on ` + key + ` = \"` + busy + `\" (set by flag -` + key + `)`
			if !strings.Contains(out, want) {
				t.Errorf("stderr lacks %s:\n%s", want, out)
			}
			if strings.Contains(out, "stopped cleanly") {
				t.Errorf("a failed start logs a clean stop:\n%s", out)
			}
		})
	}
}

// TestDataDirCheckedBeforeListeners: an unusable data dir is the error,
// even when a port is busy too.
func TestDataDirCheckedBeforeListeners(t *testing.T) {
	notADir := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(notADir, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	code := Main([]string{"-data-dir", notADir, "-http-listen", busyAddr(t), "-listen", "127.0.0.1:0",
		"-namesrv-listen", "127.0.0.1:0", "-ha-listen", ""}, &stderr)
	if code != ExitFailure || !strings.Contains(stderr.String(), "data dir") || strings.Contains(stderr.String(), "http-listen") {
		t.Fatalf("exit %d:\n%s", code, stderr.String())
	}
}

// TestUnknownEnvironmentIsWarned: a misspelt COMET_* variable is named in
// a warning rather than ignored in silence.
func TestUnknownEnvironmentIsWarned(t *testing.T) {
	t.Setenv("COMET_DATADIR", "/srv/comet")
	var stderr bytes.Buffer
	Main([]string{"-data-dir", t.TempDir(), "-http-listen", busyAddr(t), "-listen", "127.0.0.1:0",
		"-namesrv-listen", "127.0.0.1:0", "-ha-listen", ""}, &stderr)
	if !strings.Contains(stderr.String(), "names no setting") || !strings.Contains(stderr.String(), "name=COMET_DATADIR") {
		t.Fatalf("no warning about COMET_DATADIR:\n%s", stderr.String())
	}
}
