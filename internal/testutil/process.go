package testutil

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"time"
)

// ProcessTB is the part of testing.TB the process helpers use.
type ProcessTB interface {
	TB
	Fatal(args ...any)
	Cleanup(func())
	TempDir() string
}

// BuildComet builds the comet binary into a temporary directory of t and
// returns its path.
func BuildComet(t ProcessTB) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "comet")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/cometmq/comet/cmd/comet").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// Process is a child comet process with its stderr captured. It is killed
// at the test's cleanup if it is still running.
type Process struct {
	Cmd    *exec.Cmd
	Stderr *LockedBuffer
	// Broker is the broker address the ready line names ("" when the
	// process serves no broker).
	Broker string
	done   chan struct{}
}

var readyRE = regexp.MustCompile(`msg="comet: ready"(?:.* broker=(\S+))?`)

// StartComet starts cmd and waits (up to timeout) for the ready line comet
// logs once it serves; the test fails if the process exits first.
func StartComet(t ProcessTB, cmd *exec.Cmd, timeout time.Duration) *Process {
	t.Helper()
	p := &Process{Cmd: cmd, Stderr: &LockedBuffer{}, done: make(chan struct{})}
	cmd.Stderr = p.Stderr
	cmd.Env = withoutFixedPorts(cmd.Env)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		if !p.Exited() {
			p.Cmd.Process.Kill()
			<-p.done
		}
	})
	WaitFor(t, timeout, "comet ready", func() bool {
		if p.Exited() {
			t.Fatalf("comet exited before it was ready:\n%s", p.Stderr.String())
		}
		if m := readyRE.FindStringSubmatch(p.Stderr.String()); m != nil {
			p.Broker = m[1]
			return true
		}
		return false
	})
	return p
}

// fixedPortDefaults are listeners whose defaults are fixed ports (MQTT
// 1883 and 8083, the VIP channel at the broker's port − 2): a test process
// leaves them off unless its flags or environment turn them on, so
// processes running side by side never collide on them.
var fixedPortDefaults = []string{"COMET_MQTT_LISTEN=", "COMET_MQTT_WS_LISTEN=", "COMET_VIP_LISTEN="}

func withoutFixedPorts(env []string) []string {
	if env == nil {
		env = os.Environ()
	}
	for _, kv := range fixedPortDefaults {
		key := kv[:len(kv)-1]
		if !slices.ContainsFunc(env, func(e string) bool { return strings.HasPrefix(e, key) }) {
			env = append(env, kv)
		}
	}
	return env
}

// Done is closed when the process has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// Exited reports whether the process has exited.
func (p *Process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Signal sends sig to the process.
func (p *Process) Signal(t ProcessTB, sig syscall.Signal) {
	t.Helper()
	if err := p.Cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
}

// Kill9 kills the process with SIGKILL and waits for it to be gone.
func (p *Process) Kill9(t ProcessTB) {
	t.Helper()
	if err := p.Cmd.Process.Kill(); err != nil && !p.Exited() {
		t.Fatal(err)
	}
	<-p.done
}

// Wait waits up to timeout for the process to exit and returns its exit
// code.
func (p *Process) Wait(t ProcessTB, timeout time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
		return p.Cmd.ProcessState.ExitCode()
	case <-time.After(timeout):
		t.Fatalf("comet did not exit within %v:\n%s", timeout, p.Stderr.String())
	}
	return -1
}
