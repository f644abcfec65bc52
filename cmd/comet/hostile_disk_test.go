package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/apache/rocketmq-client-go/v2/consumer"
	"github.com/apache/rocketmq-client-go/v2/primitive"

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
	bin := testutil.BuildComet(t)
	dir := t.TempDir()
	args := []string{"--data-dir", dir, "--listen", freeLoopbackAddr(t), "--namesrv-listen", freeLoopbackAddr(t),
		"--http-listen", freeLoopbackAddr(t), "--ha-listen", ""}
	first := runCometProcess(t, exec.Command(bin, args...))
	raw := newRawClient(t)
	const topic, n = "LockedDir", 100
	for i := 0; i < n; i++ {
		if resp := sendTo(t, raw, first.Broker, topic, "m-"+strconv.Itoa(i), ""); resp.Code != remoting.ResponseSuccess {
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
	if want := "in use by process " + strconv.Itoa(first.Cmd.Process.Pid); !strings.Contains(stderr.String(), want) {
		t.Fatalf("second process did not name the holder (%q):\n%s", want, stderr.String())
	}
	if got := countMessages(t, raw, first.Broker, topic); got != n {
		t.Fatalf("first process serves %d messages after the refused start, want %d", got, n)
	}

	if err := first.Cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	first.Wait(t, 10*time.Second)
	third := startCometProcess(t, bin, dir, freeLoopbackAddr(t), freeLoopbackAddr(t))
	if got := countMessages(t, raw, third.Broker, topic); got != n {
		t.Fatalf("after kill -9 and restart: %d messages, want %d", got, n)
	}
	third.Cmd.Process.Signal(syscall.SIGTERM)
	if code := third.Wait(t, 30*time.Second); code != 0 {
		t.Fatalf("comet exited %d after SIGTERM:\n%s", code, third.Stderr.String())
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

// TestFullDiskRefusesSendsAndKeepsEveryAck runs the comet binary on a
// small real file system (a tmpfs; skipped where mounting is not
// permitted) and fills it with acknowledged sends. Sends past capacity
// must be refused with SERVICE_NOT_AVAILABLE naming the full disk while
// the broker keeps serving; /readyz must say the disk is full and /healthz
// must stay up with a "degraded" line; a retention pass over the full disk
// must delete nothing; freeing space must let sends resume and clear
// /readyz; after a kill -9 and a restart every acknowledged message must
// be there, byte for byte.
func TestFullDiskRefusesSendsAndKeepsEveryAck(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the comet binary on a tmpfs")
	}
	bin := testutil.BuildComet(t)
	root := testutil.SmallFilesystem(t, 64<<20)
	ballast := filepath.Join(root, "ballast")
	if err := os.WriteFile(ballast, make([]byte, 12<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, "data")
	args := []string{"--data-dir", dir, "--listen", freeLoopbackAddr(t), "--namesrv-listen", freeLoopbackAddr(t),
		"--http-listen", freeLoopbackAddr(t), "--segment-size", strconv.Itoa(8 << 20), "--ha-listen", ""}
	httpAddr := args[7]
	c := runCometProcess(t, exec.Command(bin, args...))
	raw := newRawClient(t)
	const topic = "DiskFull"
	var acked [][]byte
	send := func(i int) *remoting.Command {
		body := diskFullBody(i)
		resp := sendBody(t, raw, c.Broker, topic, body)
		if resp.Code == remoting.ResponseSuccess {
			acked = append(acked, body)
		}
		return resp
	}
	var refused *remoting.Command
	for i := 0; refused == nil; i++ {
		if i > 1000 {
			t.Fatalf("a 64 MiB file system took %d sends of 512 KiB", i)
		}
		if resp := send(i); resp.Code != remoting.ResponseSuccess {
			refused = resp
		}
	}
	if refused.Code != remoting.ResponseServiceNotAvailable || !strings.Contains(refused.Remark, "disk full") {
		t.Fatalf("send on a full disk: code %d %q, want %d naming the full disk", refused.Code, refused.Remark, remoting.ResponseServiceNotAvailable)
	}
	if len(acked) < 40 {
		t.Fatalf("only %d sends acknowledged before the disk was full", len(acked))
	}
	if code, body := httpGet(t, httpAddr, "/readyz"); code != 503 || !strings.Contains(body, "disk full") {
		t.Fatalf("/readyz on a full disk: %d %q", code, body)
	}
	if code, body := httpGet(t, httpAddr, "/healthz"); code != 200 || !strings.Contains(body, "degraded: persist: disk full") {
		t.Fatalf("/healthz on a full disk: %d %q", code, body)
	}
	// Retention runs every 10 s; its first pass over a disk this full
	// warns, and must delete nothing.
	testutil.WaitFor(t, 30*time.Second, "a retention pass over the full disk", func() bool {
		return strings.Contains(c.Stderr.String(), "persist: disk filling up")
	})
	if strings.Contains(c.Stderr.String(), "deleted commit log segment") {
		t.Fatalf("retention deleted a segment of young data:\n%s", c.Stderr.String())
	}
	checkBodies(t, raw, c.Broker, topic, acked)

	if err := os.Remove(ballast); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 10*time.Second, "/readyz after space was freed", func() bool {
		code, _ := httpGet(t, httpAddr, "/readyz")
		return code == 200
	})
	for i := 0; i < 5; i++ {
		if resp := send(1000 + i); resp.Code != remoting.ResponseSuccess {
			t.Fatalf("send after space was freed: code %d %s", resp.Code, resp.Remark)
		}
	}
	if err := c.Cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	c.Wait(t, 10*time.Second)
	c = runCometProcess(t, exec.Command(bin, args...))
	checkBodies(t, raw, c.Broker, topic, acked)
	t.Logf("%d messages of 512 KiB acknowledged; all there after kill -9 and restart", len(acked))
}

// diskFullBody is a 512 KiB body unique to i.
func diskFullBody(i int) []byte {
	b := make([]byte, 512<<10)
	copy(b, fmt.Sprintf("body-%d|", i))
	for j := 16; j < len(b); j += 4096 {
		b[j] = byte(i + j)
	}
	return b
}

// checkBodies pulls queue 0 of topic from offset 0 and requires exactly
// want, in order.
func checkBodies(t *testing.T, c *remoting.Client, addr, topic string, want [][]byte) {
	t.Helper()
	got := rawPullAll(t, c, addr, uniqueName("check"), topic, 0, "*")
	if len(got) != len(want) {
		t.Fatalf("queue holds %d messages, %d were acknowledged", len(got), len(want))
	}
	for i, m := range got {
		if !bytes.Equal(m.Body, want[i]) {
			t.Fatalf("message %d differs from the acknowledged body", i)
		}
	}
}

func httpGet(t *testing.T, addr, path string) (int, string) {
	t.Helper()
	resp, err := http.Get("http://" + addr + path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// TestOfficialConsumerGetsPastADamagedRecord flips a body byte of one
// stored message under a running broker (a bad sector, a stray write): an
// official push consumer receives every other message, never the damaged
// one, and its group's offsets reach the end of every queue: the damaged
// record neither reaches the client nor stalls the queue. A raw view of
// it is refused, and the refusals are counted.
func TestOfficialConsumerGetsPastADamagedRecord(t *testing.T) {
	dir := t.TempDir()
	nsAddr, b := startComet(t, dir)
	p := startProducer(t, nsAddr)
	const topic = "DamagedBody"
	var want []string
	var damagedID string
	for i := 0; i < 30; i++ {
		body := fmt.Sprintf("intact-%02d-body-%s", i, strings.Repeat("x", 64))
		res := sendSyncOK(t, p, primitive.NewMessage(topic, []byte(body)))
		if i == 13 {
			damagedID = res.OffsetMsgID
			continue
		}
		want = append(want, body)
	}
	flipInCommitLog(t, dir, "intact-13-body")

	group := uniqueName("damaged")
	sink := &collector{}
	startPushConsumer(t, nsAddr, group, topic, consumer.MessageSelector{}, sink)
	requireExactly(t, sink, want, 20*time.Second)
	raw := newRawClient(t)
	testutil.WaitFor(t, 20*time.Second, "the group's offsets at the end of every queue", func() bool {
		for q := int32(0); q < 4; q++ {
			cq := b.Store().ConsumeQueue(topic, q)
			resp := invoke(t, raw, b.Addr(), offsetRequest(remoting.RequestQueryConsumerOffset, group, topic, q))
			off, err := resp.ExtInt64(remoting.ExtOffset)
			if cq != nil && (err != nil || off < cq.MaxOffset()) {
				return false
			}
		}
		return true
	})
	_, _, phys, err := remoting.ParseOffsetMsgID(damagedID)
	if err != nil {
		t.Fatal(err)
	}
	view := remoting.NewRequest(remoting.RequestViewMessageByID)
	view.SetExtInt64("offset", phys)
	if resp := invoke(t, raw, b.Addr(), view); resp.Code == remoting.ResponseSuccess || !strings.Contains(resp.Remark, "damaged record") {
		t.Fatalf("view of the damaged record: code %d %q", resp.Code, resp.Remark)
	}
	if n := b.Store().Stats().CorruptRecords; n < 2 {
		t.Fatalf("%d refused reads counted", n)
	}
}

// flipInCommitLog flips one bit in the middle of the first occurrence of
// marker in the first commit-log segment of the broker in dir, through
// the file: the broker maps it shared and reads the flipped byte at once.
func flipInCommitLog(t *testing.T, dir, marker string) {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(dir, "store", "commitlog", "00000000000000000000"), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 1<<20)
	n, _ := f.ReadAt(buf, 0)
	at := bytes.Index(buf[:n], []byte(marker))
	if at < 0 {
		t.Fatalf("%q not found in the commit log", marker)
	}
	at += len(marker) / 2
	if _, err := f.WriteAt([]byte{buf[at] ^ 0x04}, int64(at)); err != nil {
		t.Fatal(err)
	}
}
