package main

import (
	"context"
	"hash/crc32"
	"math/rand"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/apache/rocketmq-client-go/v2"
	"github.com/apache/rocketmq-client-go/v2/primitive"
	"github.com/apache/rocketmq-client-go/v2/producer"
	"github.com/apache/rocketmq-client-go/v2/rlog"

	"github.com/cometmq/comet/internal/testutil"
	"github.com/cometmq/comet/netio/remoting"
)

// TestKill9Replication runs a broker group as real processes (a name
// server, a master, a replica) and kills members with SIGKILL:
//
//   - sync replication, official client v2.1.2 SendSync, kill -9 of the
//     master: every acknowledged message is on the replica, at its queue
//     offset, byte-exact, with the offset message id the client got;
//   - async replication, kill -9 of the replica mid-stream: restarted, it
//     catches up and its commit-log segments are byte-identical to the
//     master's (whole-file checksums).
func TestKill9Replication(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills the comet binary")
	}
	rlog.SetLogLevel("error")
	bin := testutil.BuildComet(t)
	t.Run("sync/kill-master", func(t *testing.T) { kill9SyncMaster(t, bin) })
	t.Run("async/kill-replica", func(t *testing.T) { kill9Replica(t, bin) })
}

// haGroup is a name server and the addresses of one broker group.
type haGroup struct {
	bin, ns, masterAddr, replicaAddr, haAddr string
	masterDir, replicaDir                    string
}

func newHAGroup(t *testing.T, bin string) *haGroup {
	g := &haGroup{bin: bin, ns: freeLoopbackAddr(t), masterAddr: freeLoopbackAddr(t), replicaAddr: freeLoopbackAddr(t),
		haAddr: freeLoopbackAddr(t), masterDir: t.TempDir(), replicaDir: t.TempDir()}
	startNamesrvProcess(t, bin, g.ns)
	return g
}

func startNamesrvProcess(t *testing.T, bin, addr string) {
	t.Helper()
	cmd := exec.Command(bin, "namesrv", "--namesrv-listen", addr, "--http-listen", "")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() { cmd.Process.Kill(); <-done })
	testutil.WaitFor(t, 30*time.Second, "the name server to listen", func() bool {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
}

func (g *haGroup) startMaster(t *testing.T, args ...string) *cometProcess {
	t.Helper()
	base := []string{"--data-dir", g.masterDir, "--listen", g.masterAddr, "--namesrv-listen", "", "--namesrv", g.ns,
		"--http-listen", "", "--broker-id", "0", "--ha-listen", g.haAddr, "--replica-lag-max", "2s"}
	return runCometProcess(t, exec.Command(g.bin, append(base, args...)...))
}

func (g *haGroup) startReplica(t *testing.T, args ...string) *cometProcess {
	t.Helper()
	base := []string{"--data-dir", g.replicaDir, "--listen", g.replicaAddr, "--namesrv-listen", "", "--namesrv", g.ns,
		"--http-listen", "", "--broker-id", "1", "--ha-listen", ""}
	return runCometProcess(t, exec.Command(g.bin, append(base, args...)...))
}

// sendProbeUntilOK sends to the master until it acknowledges: with sync
// replication and min-insync 2 that is once the replica joined the set.
func sendProbeUntilOK(t *testing.T, addr string) {
	t.Helper()
	raw := newRawClient(t)
	testutil.WaitFor(t, 30*time.Second, "the master to take sends", func() bool {
		req := remoting.NewRequest(remoting.RequestSendMessageV2)
		h := remoting.SendHeader{ProducerGroup: "probe", Topic: kill9Topic, DefaultTopic: "TBW102", DefaultTopicQueueNums: 4,
			QueueID: -1, BornTimestamp: time.Now().UnixMilli()}
		h.Apply(req)
		req.Body = []byte("probe")
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		resp, err := raw.Invoke(ctx, addr, req)
		return err == nil && resp.Code == remoting.ResponseSuccess
	})
}

func kill9SyncMaster(t *testing.T, bin string) {
	g := newHAGroup(t, bin)
	master := g.startMaster(t, "--replication", "sync", "--min-insync-replicas", "2", "--flush", "sync")
	replica := g.startReplica(t, "--flush", "sync")
	sendProbeUntilOK(t, g.masterAddr)
	killAfter := time.Duration(300+rand.Intn(700)) * time.Millisecond
	acks := sendUntilKilled(t, master, g.ns, 0, killAfter)
	if len(acks) == 0 {
		t.Fatal("no send acknowledged before the kill")
	}
	// Probes are in the topic too: account for them as unverified extras.
	verifyAckedAmong(t, replica.Broker, acks)
	t.Logf("%d acknowledged messages, all on the replica after kill -9 of the master", len(acks))
}

// verifyAckedAmong is verifyAcked for a topic that also holds messages no
// test recorded (the probes): every acknowledged message must be at its
// queue offset, byte-exact, with its offset message id.
func verifyAckedAmong(t *testing.T, brokerAddr string, acked []kill9Ack) {
	t.Helper()
	raw := newRawClient(t)
	stored := map[[2]int64]*remoting.MessageExt{}
	for q := int32(0); q < 4; q++ {
		for _, m := range rawPullAll(t, raw, brokerAddr, uniqueName("verify"), kill9Topic, q, "*") {
			stored[[2]int64{int64(q), m.QueueOffset}] = m
		}
	}
	for _, a := range acked {
		m := stored[[2]int64{int64(a.queueID), a.queueOffset}]
		switch {
		case m == nil:
			t.Fatalf("acknowledged message %.20q (queue %d offset %d) is missing on the replica", a.body, a.queueID, a.queueOffset)
		case string(m.Body) != string(a.body):
			t.Fatalf("queue %d offset %d holds %.20q, acknowledged %.20q", a.queueID, a.queueOffset, m.Body, a.body)
		case m.OffsetMsgID != a.offsetMsgID:
			t.Fatalf("queue %d offset %d has offset msg id %s, the client was given %s", a.queueID, a.queueOffset, m.OffsetMsgID, a.offsetMsgID)
		}
	}
}

func kill9Replica(t *testing.T, bin string) {
	g := newHAGroup(t, bin)
	master := g.startMaster(t, "--flush", "async")
	replica := g.startReplica(t, "--flush", "async")
	p, err := rocketmq.NewProducer(producer.WithNameServer([]string{g.ns}), producer.WithGroupName(uniqueName("hak9")),
		producer.WithRetry(2), producer.WithSendMsgTimeout(3*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	defer p.Shutdown()
	ctx, cancel := context.WithCancel(context.Background())
	var mu sync.Mutex
	var acks []kill9Ack
	var wg sync.WaitGroup
	for s := 0; s < 4; s++ {
		wg.Add(1)
		go func(s int) {
			defer wg.Done()
			for seq := 0; ctx.Err() == nil; seq++ {
				body := kill9Body(1, s, seq)
				res, err := p.SendSync(ctx, primitive.NewMessage(kill9Topic, body))
				if err != nil || res.Status != primitive.SendOK {
					continue
				}
				mu.Lock()
				acks = append(acks, kill9Ack{queueID: res.MessageQueue.QueueId, queueOffset: res.QueueOffset,
					offsetMsgID: res.OffsetMsgID, body: body})
				mu.Unlock()
			}
		}(s)
	}
	time.Sleep(time.Duration(300+rand.Intn(500)) * time.Millisecond) // let the stream run
	if err := replica.Cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	replica.Wait(t, 10*time.Second)
	time.Sleep(300 * time.Millisecond) // the master keeps writing meanwhile
	replica = g.startReplica(t, "--flush", "async")
	time.Sleep(300 * time.Millisecond)
	cancel()
	wg.Wait()
	testutil.WaitFor(t, 30*time.Second, "the replica to catch up", func() bool {
		return equalMaxOffsets(t, g.masterAddr, replica.Broker)
	})
	verifyAcked(t, replica.Broker, acks)
	master.Cmd.Process.Signal(syscall.SIGTERM) // a clean stop syncs the master's files
	master.Wait(t, 30*time.Second)
	replica.Cmd.Process.Signal(syscall.SIGTERM)
	replica.Wait(t, 30*time.Second)
	requireIdenticalSegments(t, g.masterDir, g.replicaDir)
	t.Logf("%d acknowledged messages on the replica after its kill -9 and catch-up", len(acks))
}

// equalMaxOffsets compares the topic's queue max offsets on two brokers.
func equalMaxOffsets(t *testing.T, a, b string) bool {
	raw := newRawClient(t)
	for q := 0; q < 4; q++ {
		var ends [2]string
		for i, addr := range []string{a, b} {
			req := remoting.NewRequest(remoting.RequestGetMaxOffset)
			req.Ext.Set("topic", kill9Topic)
			req.Ext.Set("queueId", strconv.Itoa(q))
			resp := invoke(t, raw, addr, req)
			ends[i], _ = resp.Ext.Get("offset")
		}
		if ends[0] != ends[1] {
			return false
		}
	}
	return true
}

// requireIdenticalSegments compares the checksums of every whole
// commit-log segment file of two data dirs.
func requireIdenticalSegments(t *testing.T, masterDir, replicaDir string) {
	t.Helper()
	dir := func(d string) string { return filepath.Join(d, "store", "commitlog") }
	names, err := os.ReadDir(dir(masterDir))
	if err != nil {
		t.Fatal(err)
	}
	if len(names) == 0 {
		t.Fatal("the master has no segment")
	}
	for _, n := range names {
		want, err1 := os.ReadFile(filepath.Join(dir(masterDir), n.Name()))
		got, err2 := os.ReadFile(filepath.Join(dir(replicaDir), n.Name()))
		if err1 != nil || err2 != nil {
			t.Fatalf("segment %s: %v / %v", n.Name(), err1, err2)
		}
		if crc32.ChecksumIEEE(want) != crc32.ChecksumIEEE(got) || len(want) != len(got) {
			t.Fatalf("segment %s differs: master crc %08x (%d bytes), replica crc %08x (%d bytes)",
				n.Name(), crc32.ChecksumIEEE(want), len(want), crc32.ChecksumIEEE(got), len(got))
		}
	}
	t.Logf("%d commit-log segments byte-identical", len(names))
}
