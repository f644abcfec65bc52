package main

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cometmq/comet/actors"
	"github.com/cometmq/comet/internal/testutil"
	"github.com/cometmq/comet/netio/remoting"
	"github.com/cometmq/comet/persist"
)

// The probes of this file act as a careless operator and an unlucky disk:
// a second broker on a data dir already in use, a full file system,
// flipped bytes in the commit log.

// TestSecondBrokerProcessRefusesALockedDataDir starts a comet process,
// stores acknowledged messages, then starts a second process on the same
// data dir and the same ports (an operator starting the same unit twice):
// it must exit at once naming the first one's pid, and leave the first
// serving every message. After the first is killed with
// SIGKILL, the kernel has dropped its lock and a new process starts on
// the directory and finds every message.
func TestSecondBrokerProcessRefusesALockedDataDir(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the comet binary")
	}
	bin := buildCometBinary(t)
	dir := t.TempDir()
	args := []string{"--data-dir", dir, "--listen", freeLoopbackAddr(t), "--namesrv-listen", freeLoopbackAddr(t),
		"--http-listen", freeLoopbackAddr(t)}
	first := runCometProcess(t, exec.Command(bin, args...))
	raw := newRawClient(t)
	const topic, n = "LockedDir", 100
	for i := 0; i < n; i++ {
		if resp := sendTo(t, raw, first.broker, topic, "m-"+strconv.Itoa(i), ""); resp.Code != remoting.ResponseSuccess {
			t.Fatalf("send %d: code %d %s", i, resp.Code, resp.Remark)
		}
	}

	second := exec.Command(bin, args...)
	stderr := &testutil.LockedBuffer{}
	second.Stderr = stderr
	done := make(chan error, 1)
	if err := second.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- second.Wait() }()
	select {
	case err := <-done:
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != 1 {
			t.Fatalf("second process: %v, want exit code 1\n%s", err, stderr.String())
		}
	case <-time.After(30 * time.Second):
		second.Process.Kill()
		t.Fatalf("second process on a locked data dir kept running:\n%s", stderr.String())
	}
	if want := "in use by process " + strconv.Itoa(first.proc.Pid); !strings.Contains(stderr.String(), want) {
		t.Fatalf("second process did not name the holder (%q):\n%s", want, stderr.String())
	}
	if got := countMessages(t, raw, first.broker, topic); got != n {
		t.Fatalf("first process serves %d messages after the refused start, want %d", got, n)
	}

	if err := first.proc.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	first.wait(t, 10*time.Second)
	third := startCometProcess(t, bin, dir, freeLoopbackAddr(t), freeLoopbackAddr(t))
	if got := countMessages(t, raw, third.broker, topic); got != n {
		t.Fatalf("after kill -9 and restart: %d messages, want %d", got, n)
	}
	third.proc.Signal(syscall.SIGTERM)
	if code := third.wait(t, 30*time.Second); code != 0 {
		t.Fatalf("comet exited %d after SIGTERM:\n%s", code, third.stderr.String())
	}
}

// TestSecondBrokerInProcessRefusesALockedDataDir: the lock is per open
// file, so even a second broker in the same process is refused, and a
// stopped broker's directory can be opened again.
func TestSecondBrokerInProcessRefusesALockedDataDir(t *testing.T) {
	dir := t.TempDir()
	opts := actors.BrokerOptions{DataDir: dir, Listen: "127.0.0.1:0"}
	b, err := actors.NewBroker(opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	_, err = actors.NewBroker(opts)
	if !errors.Is(err, persist.ErrLocked) {
		t.Fatalf("second broker on the same dir: %v, want ErrLocked", err)
	}
	if err := b.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	again, err := actors.NewBroker(opts)
	if err != nil {
		t.Fatalf("broker after the first stopped: %v", err)
	}
	if err := again.Start(); err != nil {
		t.Fatal(err)
	}
	again.Stop(context.Background())
}

// countMessages pulls every queue of topic from offset 0.
func countMessages(t *testing.T, c *remoting.Client, addr, topic string) int {
	t.Helper()
	n := 0
	for q := int32(0); q < 4; q++ {
		n += len(rawPullAll(t, c, addr, uniqueName("count"), topic, q, "*"))
	}
	return n
}

// sendBody sends body to queue 0 of topic and returns the response.
func sendBody(t *testing.T, c *remoting.Client, addr, topic string, body []byte) *remoting.Command {
	t.Helper()
	h := remoting.SendHeader{ProducerGroup: "disk-probe", Topic: topic, DefaultTopic: "TBW102", DefaultTopicQueueNums: 4,
		QueueID: 0, BornTimestamp: time.Now().UnixMilli()}
	req := remoting.NewRequest(remoting.RequestSendMessage)
	h.Apply(req)
	req.Body = body
	return invoke(t, c, addr, req)
}

var _ = fmt.Sprintf
