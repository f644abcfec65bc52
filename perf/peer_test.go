package perf

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// writeScript writes an executable shell script.
func writeScript(t *testing.T, path, body string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"+body), 0o755); err != nil {
		t.Fatal(err)
	}
}

// runPeerScript runs a perf/peer script the way `addr=$(script start)`
// does: it must return once the server is ready, not when the server's
// output closes.
func runPeerScript(t *testing.T, env []string, args ...string) string {
	t.Helper()
	cmd := exec.Command("sh", args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.WaitDelay = 3 * time.Second // the script exited; a server still holding stdout shows as ErrWaitDelay
	var stderr strings.Builder
	cmd.Stderr = &stderr
	start := time.Now()
	out, err := cmd.Output()
	if errors.Is(err, exec.ErrWaitDelay) {
		t.Fatalf("%v returned only after %v: the server it started still holds its stdout", args, time.Since(start))
	}
	if err != nil {
		t.Fatalf("%v: %v\nstderr: %s", args, err, stderr.String())
	}
	return strings.TrimSpace(string(out))
}

func TestCometScriptDetachesAndRebuildsStaleBinary(t *testing.T) {
	if _, err := exec.LookPath("find"); err != nil {
		t.Skip("find(1) is not installed")
	}
	cache, bin := t.TempDir(), t.TempDir()
	goLog := filepath.Join(cache, "go-invocations")
	// A stand-in `go` whose build writes a stand-in comet that chatters on
	// stdout, announces itself ready on stderr and keeps running.
	writeScript(t, filepath.Join(bin, "go"), `echo "$*" >>`+goLog+`
while [ $# -gt 0 ]; do [ "$1" = -o ] && out=$2; shift; done
printf '#!/bin/sh\necho chatter on stdout\necho "msg=\\"comet: ready\\"" >&2\nexec sleep 60\n' >"$out"
chmod +x "$out"
`)
	env := []string{"COMET_CACHE=" + cache, "TMPDIR=" + t.TempDir(), "PATH=" + bin + ":" + os.Getenv("PATH")}
	script := "peer/comet.sh"
	t.Cleanup(func() {
		c := exec.Command("sh", script, "stop")
		c.Env = append(os.Environ(), env...)
		c.Run()
	})

	cached := filepath.Join(cache, "comet")
	writeScript(t, cached, "exit 1\n")
	old := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	if err := os.Chtimes(cached, old, old); err != nil {
		t.Fatal(err)
	}
	if got := runPeerScript(t, env, script, "start", "async"); !strings.HasSuffix(got, ":19876") {
		t.Errorf("start printed %q, want the name server address", got)
	}
	if calls, _ := os.ReadFile(goLog); !strings.Contains(string(calls), "build") {
		t.Errorf("a binary older than the sources was not rebuilt (go calls: %q)", calls)
	}
	runPeerScript(t, env, script, "stop")

	os.Remove(goLog)
	future := time.Now().Add(time.Hour)
	if err := os.Chtimes(cached, future, future); err != nil {
		t.Fatal(err)
	}
	runPeerScript(t, env, script, "start")
	if calls, err := os.ReadFile(goLog); err == nil {
		t.Errorf("a binary newer than every source was rebuilt (go calls: %q)", calls)
	}
	runPeerScript(t, env, script, "stop")
}

func TestNATSScriptDetaches(t *testing.T) {
	cache := t.TempDir()
	writeScript(t, filepath.Join(cache, "nats-server-v2.15.2", "nats-server"), `while [ $# -gt 0 ]; do [ "$1" = -l ] && log=$2; shift; done
echo chatter on stdout
echo chatter on stderr >&2
echo "Server is ready" >>"$log"
exec sleep 60
`)
	env := []string{"NATS_CACHE=" + cache, "NATS_VERSION=v2.15.2", "TMPDIR=" + t.TempDir()}
	t.Cleanup(func() {
		c := exec.Command("sh", "peer/nats.sh", "stop")
		c.Env = append(os.Environ(), env...)
		c.Run()
	})
	if got := runPeerScript(t, env, "peer/nats.sh", "start"); got != "nats://127.0.0.1:4222" {
		t.Errorf("start printed %q, want only the URL", got)
	}
	runPeerScript(t, env, "peer/nats.sh", "stop")
}
