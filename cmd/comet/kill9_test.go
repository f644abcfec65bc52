package main

import (
	"bytes"
	"context"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cometmq/comet/internal/testutil"

	"github.com/apache/rocketmq-client-go/v2"
	"github.com/apache/rocketmq-client-go/v2/primitive"
	"github.com/apache/rocketmq-client-go/v2/producer"
	"github.com/apache/rocketmq-client-go/v2/rlog"

	"github.com/cometmq/comet/netio/remoting"
)

// TestKill9WithClientAcks builds the comet binary and runs it as a child
// process on fixed loopback ports, with sync flush and with async flush
// (where an idle broker appends sends on its event loop: a kill -9 keeps
// what is in the page cache, so every acknowledged message must survive
// it too). Several goroutines send
// with the official client and record every acknowledged message; the
// child is killed with SIGKILL at a random moment and restarted on the
// same data dir and ports. After every restart each acknowledged message
// must be readable at its queue offset, byte-identical, with the offset
// message id the client was given, and every queue must be dense.
// COMET_KILL9_CYCLES sets the number of kills per flush mode (default 5).
func TestKill9WithClientAcks(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills the comet binary")
	}
	rlog.SetLogLevel("error")
	cycles := 5
	if v, err := strconv.Atoi(os.Getenv("COMET_KILL9_CYCLES")); err == nil && v > 0 {
		cycles = v
	}
	bin := testutil.BuildComet(t)
	for _, flush := range []string{"sync", "async"} {
		t.Run("flush="+flush, func(t *testing.T) { kill9WithClientAcks(t, bin, flush, cycles) })
	}
}

func kill9WithClientAcks(t *testing.T, bin, flush string, cycles int) {
	dir := t.TempDir()
	brokerAddr, nsAddr := freeLoopbackAddr(t), freeLoopbackAddr(t)
	rng := rand.New(rand.NewSource(time.Now().UnixNano()))
	var acked []kill9Ack
	for cycle := 0; cycle < cycles; cycle++ {
		c := startCometProcessFlush(t, bin, dir, brokerAddr, nsAddr, flush)
		verifyAcked(t, c.Broker, acked)
		killAfter := time.Duration(100+rng.Intn(600)) * time.Millisecond
		acks := sendUntilKilled(t, c, nsAddr, cycle, killAfter)
		if len(acks) == 0 {
			t.Fatalf("cycle %d: no send acknowledged before the kill", cycle)
		}
		acked = append(acked, acks...)
	}
	c := startCometProcessFlush(t, bin, dir, brokerAddr, nsAddr, flush)
	verifyAcked(t, c.Broker, acked)
	c.Cmd.Process.Signal(syscall.SIGTERM)
	if code := c.Wait(t, 30*time.Second); code != 0 {
		t.Fatalf("comet exited %d after SIGTERM:\n%s", code, c.Stderr.String())
	}
	t.Logf("%d kills, %d acknowledged messages verified after each restart", cycles, len(acked))
}

// freeLoopbackAddr returns a loopback address whose port was free a moment
// ago; the child binds it on every restart.
func freeLoopbackAddr(t *testing.T) string {
	t.Helper()
	return testutil.FreeLoopbackAddr(t)
}

// cometProcess is a running comet child.
type cometProcess = testutil.Process

func startCometProcess(t *testing.T, bin, dir, brokerAddr, nsAddr string) *cometProcess {
	t.Helper()
	return startCometProcessFlush(t, bin, dir, brokerAddr, nsAddr, "sync")
}

func startCometProcessFlush(t *testing.T, bin, dir, brokerAddr, nsAddr, flush string) *cometProcess {
	t.Helper()
	cmd := exec.Command(bin, "--data-dir", dir, "--listen", brokerAddr, "--namesrv-listen", nsAddr,
		"--flush", flush, "--http-listen", "", "--ha-listen", "")
	return runCometProcess(t, cmd)
}

// runCometProcess starts cmd and waits for its ready line.
func runCometProcess(t *testing.T, cmd *exec.Cmd) *cometProcess {
	t.Helper()
	return testutil.StartComet(t, cmd, 30*time.Second)
}

// kill9Ack is one acknowledged send.
type kill9Ack struct {
	queueID     int
	queueOffset int64
	offsetMsgID string
	body        []byte
}

const kill9Topic = "Kill9Topic"

// kill9Body is the body of message seq of sender g in a cycle: unique and
// of varying size.
func kill9Body(cycle, g, seq int) []byte {
	head := fmt.Sprintf("c%d-g%d-s%d|", cycle, g, seq)
	b := make([]byte, 32+(cycle*131+g*17+seq*29)%1500)
	copy(b, head)
	for i := len(head); i < len(b); i++ {
		b[i] = byte('A' + (i*7+seq)%26)
	}
	return b
}

// sendUntilKilled sends from 8 goroutines, kills the child with SIGKILL
// killAfter the first acknowledgement, and returns every acknowledgement.
func sendUntilKilled(t *testing.T, c *cometProcess, nsAddr string, cycle int, killAfter time.Duration) []kill9Ack {
	t.Helper()
	p, err := rocketmq.NewProducer(producer.WithNameServer([]string{nsAddr}),
		producer.WithGroupName(uniqueName("kill9")), producer.WithRetry(0),
		producer.WithSendMsgTimeout(3*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	defer p.Shutdown()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var mu sync.Mutex
	var acks []kill9Ack
	firstAck := make(chan struct{})
	var once sync.Once
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for seq := 0; ; seq++ {
				body := kill9Body(cycle, g, seq)
				res, err := p.SendSync(ctx, primitive.NewMessage(kill9Topic, body))
				if err != nil || res.Status != primitive.SendOK {
					return // the broker is gone
				}
				mu.Lock()
				acks = append(acks, kill9Ack{queueID: res.MessageQueue.QueueId, queueOffset: res.QueueOffset,
					offsetMsgID: res.OffsetMsgID, body: body})
				mu.Unlock()
				once.Do(func() { close(firstAck) })
			}
		}(g)
	}
	select {
	case <-firstAck:
	case <-time.After(30 * time.Second):
		c.Cmd.Process.Kill()
		t.Fatalf("cycle %d: no acknowledgement in 30 s:\n%s", cycle, c.Stderr.String())
	}
	time.Sleep(killAfter)
	if err := c.Cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	c.Wait(t, 10*time.Second)
	cancel() // sends in flight can no longer be acknowledged
	wg.Wait()
	return acks
}

// verifyAcked pulls every queue of the topic from offset 0 and checks each
// acknowledged message and the density of the queues.
func verifyAcked(t *testing.T, brokerAddr string, acked []kill9Ack) {
	t.Helper()
	if len(acked) == 0 {
		return
	}
	raw := newRawClient(t)
	stored := map[[2]int64]*remoting.MessageExt{}
	for q := int32(0); q < 4; q++ {
		msgs := rawPullAll(t, raw, brokerAddr, uniqueName("verify"), kill9Topic, q, "*")
		for i, m := range msgs {
			if m.QueueOffset != int64(i) {
				t.Fatalf("queue %d: message %d has queue offset %d: offsets are not dense from 0", q, i, m.QueueOffset)
			}
			stored[[2]int64{int64(q), m.QueueOffset}] = m
		}
	}
	for _, a := range acked {
		m := stored[[2]int64{int64(a.queueID), a.queueOffset}]
		switch {
		case m == nil:
			t.Fatalf("acknowledged message %.20q (queue %d offset %d) is missing", a.body, a.queueID, a.queueOffset)
		case !bytes.Equal(m.Body, a.body):
			t.Fatalf("queue %d offset %d holds %.20q, acknowledged %.20q", a.queueID, a.queueOffset, m.Body, a.body)
		case m.OffsetMsgID != a.offsetMsgID:
			t.Fatalf("queue %d offset %d has offset msg id %s, the client was given %s", a.queueID, a.queueOffset, m.OffsetMsgID, a.offsetMsgID)
		}
	}
}
