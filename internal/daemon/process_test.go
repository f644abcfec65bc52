package daemon

import (
	"bytes"
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/cometmq/comet/internal/testutil"

	"github.com/cometmq/comet/netio/remoting"
)

// startChild runs the comet binary with args and extra environment and
// waits for its ready line.
func startChild(t *testing.T, bin string, env []string, args ...string) *testutil.Process {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	return testutil.StartComet(t, cmd, 20*time.Second)
}

// fakeNotify is a NOTIFY_SOCKET that records datagrams.
type fakeNotify struct {
	path string
	mu   sync.Mutex
	got  string
}

func newFakeNotify(t *testing.T) *fakeNotify {
	f := &fakeNotify{path: filepath.Join(t.TempDir(), "notify")}
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: f.path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				return
			}
			f.mu.Lock()
			f.got += string(buf[:n]) + "\n"
			f.mu.Unlock()
		}
	}()
	return f
}

func (f *fakeNotify) has(s string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return strings.Contains(f.got, s)
}

// loadGenerator sends messages with acknowledgements from several
// goroutines, one connection each, and remembers every body the broker
// acknowledged.
type loadGenerator struct {
	addr  string
	stop  atomic.Bool
	wg    sync.WaitGroup
	mu    sync.Mutex
	acked map[string]bool
	count atomic.Int64
}

func startLoad(addr string, senders int) *loadGenerator {
	g := &loadGenerator{addr: addr, acked: map[string]bool{}}
	for s := range senders {
		g.wg.Add(1)
		go g.sendLoop(s)
	}
	return g
}

func (g *loadGenerator) sendLoop(sender int) {
	defer g.wg.Done()
	client := remoting.NewClient(remoting.ClientOptions{DefaultTimeout: 5 * time.Second})
	defer client.Close()
	for i := 0; !g.stop.Load(); i++ {
		body := "s" + strconv.Itoa(sender) + "-" + strconv.Itoa(i)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		resp, err := client.Invoke(ctx, g.addr, sendRequest("Durable", int32(i%4), body))
		cancel()
		if err != nil {
			return // the broker went away: nothing more can be acknowledged
		}
		if resp.Code == remoting.ResponseSuccess {
			g.mu.Lock()
			g.acked[body] = true
			g.mu.Unlock()
			g.count.Add(1)
		}
	}
}

func (g *loadGenerator) finish() map[string]bool {
	g.stop.Store(true)
	g.wg.Wait()
	return g.acked
}

// readAll pulls every message of the topic's four queues.
func readAll(t *testing.T, addr string) map[string]bool {
	t.Helper()
	c := remoting.NewClient(remoting.ClientOptions{})
	defer c.Close()
	got := map[string]bool{}
	for q := int32(0); q < 4; q++ {
		for off := int64(0); ; {
			resp := invokeOK(t, c, addr, pullRequest("verify", "Durable", q, off), remoting.ResponsePullNotFound,
				remoting.ResponsePullOffsetMoved, remoting.ResponsePullRetryImmediately)
			if resp.Code != remoting.ResponseSuccess {
				break
			}
			msgs, err := remoting.DecodeMessages(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range msgs {
				got[string(m.Body)] = true
				off = m.QueueOffset + 1
			}
		}
	}
	return got
}

// TestSIGTERMUnderLoadLosesNoAcknowledgedMessage runs the real binary as
// systemd would: it checks READY=1 and watchdog pings on a fake
// NOTIFY_SOCKET, a SIGHUP reload, then SIGTERM during acknowledged sends,
// STOPPING=1 and a clean exit, and after a restart that every acknowledged
// message is stored.
func TestSIGTERMUnderLoadLosesNoAcknowledgedMessage(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the comet binary")
	}
	bin := testutil.BuildComet(t)
	dataDir := t.TempDir()
	cfgPath := filepath.Join(t.TempDir(), "comet.toml")
	writeConfig := func(text string) {
		if err := os.WriteFile(cfgPath, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	writeConfig("log-level = \"info\"\nretention-hours = 72\n")
	args := []string{"-config", cfgPath, "-data-dir", dataDir, "-listen", "127.0.0.1:0",
		"-namesrv-listen", "127.0.0.1:0", "-http-listen", "127.0.0.1:0", "-ha-listen", "127.0.0.1:0"}
	sd := newFakeNotify(t)
	c := startChild(t, bin, []string{"NOTIFY_SOCKET=" + sd.path, "WATCHDOG_USEC=100000"}, args...)
	testutil.WaitFor(t, 5*time.Second, "READY=1 and WATCHDOG=1", func() bool { return sd.has("READY=1") && sd.has("WATCHDOG=1") })

	writeConfig("log-level = \"debug\"\nretention-hours = 5\n")
	c.Signal(t, syscall.SIGHUP)
	testutil.WaitFor(t, 5*time.Second, "reload log lines", func() bool {
		out := c.Stderr.String()
		return strings.Contains(out, `msg="comet: reloaded" applied=[log-level]`) &&
			strings.Contains(out, "keys=[retention-hours]")
	})

	load := startLoad(c.Broker, 4)
	testutil.WaitFor(t, 15*time.Second, "300 acknowledged sends", func() bool { return load.count.Load() >= 300 })
	c.Signal(t, syscall.SIGTERM)
	if code := c.Wait(t, 20*time.Second); code != 0 {
		t.Fatalf("exit code %d after SIGTERM:\n%s", code, c.Stderr.String())
	}
	acked := load.finish()
	if !sd.has("STOPPING=1") || !strings.Contains(c.Stderr.String(), "comet: stopped cleanly") {
		t.Fatalf("no STOPPING=1 or clean stop; notify %q\n%s", sd.got, c.Stderr.String())
	}

	again := startChild(t, bin, nil, args...)
	stored := readAll(t, again.Broker)
	for body := range acked {
		if !stored[body] {
			t.Errorf("acknowledged message %s lost", body)
		}
	}
	t.Logf("acknowledged %d, stored %d", len(acked), len(stored))
	again.Signal(t, syscall.SIGTERM)
	if code := again.Wait(t, 20*time.Second); code != 0 {
		t.Fatalf("second run exit code %d", code)
	}
}

func TestMainRejectsBadConfigNamingTheKey(t *testing.T) {
	var errOut bytes.Buffer
	if code := Main([]string{"-retention-hours", "0"}, &errOut); code != ExitConfig || !strings.Contains(errOut.String(), "retention-hours") {
		t.Fatalf("exit %d, stderr %q", code, errOut.String())
	}
	errOut.Reset()
	if code := Main([]string{"-h"}, &errOut); code != ExitOK || !strings.Contains(errOut.String(), "-http-listen") {
		t.Fatalf("-h: exit %d, stderr %q", code, errOut.String())
	}
}

// TestFirstLogLinesAreClear checks what a new user reads: a fresh data
// directory says it is new, the ready line is flat fields, each listener is
// announced once, and a clean shutdown logs no dead letters.
func TestFirstLogLinesAreClear(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the comet binary")
	}
	bin := testutil.BuildComet(t)
	dataDir := t.TempDir()
	args := []string{"-data-dir", dataDir, "-listen", "127.0.0.1:0", "-namesrv-listen", "127.0.0.1:0", "-http-listen", "", "-ha-listen", ""}
	run := func() string {
		c := startChild(t, bin, nil, args...)
		c.Signal(t, syscall.SIGTERM)
		if code := c.Wait(t, 20*time.Second); code != 0 {
			t.Fatalf("exit code %d:\n%s", code, c.Stderr.String())
		}
		return c.Stderr.String()
	}
	first := run()
	for _, want := range []string{`msg="persist: new store"`, ` store=new`, `msg="comet: stopped cleanly"`} {
		if !strings.Contains(first, want) {
			t.Errorf("first start: no %q in:\n%s", want, first)
		}
	}
	second := run()
	if !strings.Contains(second, " store=clean") {
		t.Errorf("second start after a clean stop: no store=clean in:\n%s", second)
	}
	for i, out := range []string{first, second} {
		for _, bad := range []string{"DeadLetter", `recovered="{`, "gnet:", "actor system started"} {
			if strings.Contains(out, bad) {
				t.Errorf("start %d logs %q:\n%s", i+1, bad, out)
			}
		}
		if n := strings.Count(out, "msg=listening server=broker"); n != 1 {
			t.Errorf("start %d: broker listener announced %d times:\n%s", i+1, n, out)
		}
	}
}
