package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/apache/rocketmq-client-go/v2/consumer"
	"github.com/apache/rocketmq-client-go/v2/primitive"
	"golang.org/x/sys/unix"

	"github.com/cometmq/comet/internal/cluster"
	"github.com/cometmq/comet/internal/testutil"
	"github.com/cometmq/comet/netio/remoting"
)

// idleClientsEnv makes this test binary, re-executed, a process that holds
// idle connections ("addr,n") until its stdin closes. The clients live in
// another process so that 10,000 client and 10,000 server sockets do not
// share one file-descriptor limit, and so the broker's memory is measured
// alone.
const idleClientsEnv = "COMET_IDLE_CLIENTS"

// TestIdleClientsChild is the client process of TestTenThousandIdleConnections.
func TestIdleClientsChild(t *testing.T) {
	spec := os.Getenv(idleClientsEnv)
	if spec == "" {
		t.Skip("runs only as the child of TestTenThousandIdleConnections")
	}
	addr, count, _ := strings.Cut(spec, ",")
	n, _ := strconv.Atoi(count)
	if err := raiseFileLimit(n + 64); err != nil {
		fmt.Println("ERROR", err)
		os.Exit(3)
	}
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		fmt.Println("ERROR", err)
		os.Exit(3)
	}
	sa := &unix.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().As4()}
	for i := 0; i < n; i++ {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err == nil {
			err = unix.Connect(fd, sa)
		}
		if err != nil {
			fmt.Printf("ERROR connection %d: %v\n", i, err)
			os.Exit(3)
		}
	}
	fmt.Println("READY", n)
	_, _ = io.Copy(io.Discard, os.Stdin) // hold the connections until the parent lets go
	os.Exit(0)
}

// raiseFileLimit raises the soft RLIMIT_NOFILE to the hard limit when it is
// below need, and fails when the hard limit is below need.
func raiseFileLimit(need int) error {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return err
	}
	if lim.Cur >= uint64(need) {
		return nil
	}
	if lim.Max < uint64(need) {
		return fmt.Errorf("RLIMIT_NOFILE hard limit %d is below the %d needed", lim.Max, need)
	}
	lim.Cur = lim.Max
	return syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
}

// memUse is the Go heap after a GC and the process's resident set.
type memUse struct{ heap, rss, rssAnon int64 }

func measureMem(t *testing.T) memUse {
	t.Helper()
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	m := memUse{heap: int64(ms.HeapAlloc)}
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		k, v, _ := strings.Cut(line, ":")
		kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		switch k {
		case "VmRSS":
			m.rss = kb << 10
		case "RssAnon":
			m.rssAnon = kb << 10
		}
	}
	return m
}

// TestTenThousandIdleConnections holds 10,000 idle connections to a broker
// and requires bounded memory per connection; the broker keeps serving.
func TestTenThousandIdleConnections(t *testing.T) {
	if testing.Short() {
		t.Skip("opens 10,000 connections")
	}
	const conns = 10_000
	if err := raiseFileLimit(conns + 1024); err != nil {
		t.Skipf("cannot hold %d server sockets: %v", conns, err)
	}
	env := cluster.StartTest(t, nil)
	p := startProducer(t, env.NamesrvAddr)
	sendSyncOK(t, p, primitive.NewMessage("IdleTopic", []byte("before")))
	base := env.Broker.Status().Connections
	before := measureMem(t)
	child := startIdleClients(t, env.BrokerAddr, conns)
	testutil.WaitFor(t, 60*time.Second, "10,000 connections accepted", func() bool {
		return env.Broker.Status().Connections >= base+conns
	})
	after := measureMem(t)
	heapPer := (after.heap - before.heap) / conns
	rssPer := (after.rss - before.rss) / conns
	t.Logf("%d idle connections: heap %d -> %d (%d B/conn), RSS %d -> %d (%d B/conn), RssAnon %d -> %d",
		conns, before.heap, after.heap, heapPer, before.rss, after.rss, rssPer, before.rssAnon, after.rssAnon)
	if heapPer > 16<<10 || rssPer > 32<<10 {
		t.Errorf("an idle connection costs %d B of heap and %d B of RSS, want at most 16 KiB and 32 KiB", heapPer, rssPer)
	}
	sendSyncOK(t, p, primitive.NewMessage("IdleTopic", []byte("during")))
	child.release()
	testutil.WaitFor(t, 30*time.Second, "idle connections closed", func() bool {
		return env.Broker.Status().Connections <= base
	})
	sendSyncOK(t, p, primitive.NewMessage("IdleTopic", []byte("after")))
}

type idleClients struct {
	cmd   *exec.Cmd
	stdin io.Closer
	once  sync.Once
}

// startIdleClients runs the child process and waits until it holds n
// connections.
func startIdleClients(t *testing.T, addr string, n int) *idleClients {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestIdleClientsChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s,%d", idleClientsEnv, addr, n))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &idleClients{cmd: cmd, stdin: stdin}
	t.Cleanup(c.release)
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if line := sc.Text(); strings.HasPrefix(line, "READY") || strings.HasPrefix(line, "ERROR") {
				ready <- line
			}
		}
		close(ready)
	}()
	select {
	case line := <-ready:
		if !strings.HasPrefix(line, "READY") {
			t.Fatalf("idle client process: %q", line)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("idle client process did not connect in 60 s")
	}
	return c
}

// release lets the child exit and reaps it, killing it (by its pid) if it
// does not exit in time.
func (c *idleClients) release() {
	c.once.Do(func() {
		c.stdin.Close()
		done := make(chan struct{})
		go func() { c.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			c.cmd.Process.Kill()
			<-done
		}
	})
}

// TestSlowConsumerCutOffWithoutStallingOthers sends pull requests for large
// messages on a raw connection that never reads, one at a time and as one
// burst of pipelined requests. The broker must close that connection once
// its unwritten replies pass the per-connection cap, while a producer's
// sends keep succeeding, each well within the time the slow consumer is
// served, and a push consumer keeps receiving.
func TestSlowConsumerCutOffWithoutStallingOthers(t *testing.T) {
	env := cluster.StartTest(t, nil)
	p := startProducer(t, env.NamesrvAddr)
	big := make([]byte, 512<<10)
	rand.Read(big)
	for i := 0; i < 16; i++ {
		sendSyncOK(t, p, primitive.NewMessage("SlowTopic", big))
	}
	sendSyncOK(t, p, primitive.NewMessage("LiveTopic", []byte("live-warmup")))
	sink := &collector{}
	startPushConsumer(t, env.NamesrvAddr, uniqueName("live"), "LiveTopic", consumer.MessageSelector{}, sink)
	testutil.WaitFor(t, 30*time.Second, "the live consumer's first message", func() bool { return sink.Distinct()["live-warmup"] == 1 })

	want := []string{"live-warmup"}
	for _, burst := range []int{1, 2000} {
		live := startLiveSender(p, "LiveTopic", fmt.Sprintf("burst%d-", burst))
		cut := slowPullUntilCut(t, env.BrokerAddr, "SlowTopic", burst)
		sent := live.stop()
		t.Logf("burst=%d: slow consumer cut off after %d pulls (%v); %d live sends meanwhile, slowest %v",
			burst, cut.pulls, cut.after, len(sent), time.Duration(live.maxLatency.Load()))
		if live.failed.Load() != nil {
			t.Fatalf("a live send failed while the slow consumer was served: %v", *live.failed.Load())
		}
		// A live send may wait for a pass or two of the slow consumer's on a
		// shared event loop, never for the whole burst: at most half of it,
		// with slack for a noisy machine (on two shared cores a pause of a
		// few hundred milliseconds happens without any help from the broker).
		limit := min(2*time.Second, cut.after/2+500*time.Millisecond)
		if max := time.Duration(live.maxLatency.Load()); max > limit {
			t.Fatalf("a live send took %v while the slow consumer was served for %v, want at most %v", max, cut.after, limit)
		}
		want = append(want, sent...)
	}
	requireExactly(t, sink, want, 30*time.Second)
}

// liveSender sends small messages back to back until stopped.
type liveSender struct {
	quit       chan struct{}
	done       chan []string
	once       sync.Once
	sent       []string
	failed     atomic.Pointer[error]
	maxLatency atomic.Int64
}

func startLiveSender(p interface {
	SendSync(context.Context, ...*primitive.Message) (*primitive.SendResult, error)
}, topic, prefix string) *liveSender {
	l := &liveSender{quit: make(chan struct{}), done: make(chan []string, 1)}
	go func() {
		var sent []string
		defer func() { l.done <- sent }()
		for i := 0; ; i++ {
			select {
			case <-l.quit:
				return
			default:
			}
			body := fmt.Sprintf("%s%d", prefix, i)
			start := time.Now()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			res, err := p.SendSync(ctx, primitive.NewMessage(topic, []byte(body)))
			cancel()
			if err == nil && res.Status != primitive.SendOK {
				err = fmt.Errorf("send status %d", res.Status)
			}
			if err != nil {
				l.failed.Store(&err)
				return
			}
			if d := int64(time.Since(start)); d > l.maxLatency.Load() {
				l.maxLatency.Store(d)
			}
			sent = append(sent, body)
			time.Sleep(2 * time.Millisecond)
		}
	}()
	return l
}

// stop ends the sender and returns the bodies it had acknowledged.
func (l *liveSender) stop() []string {
	l.once.Do(func() {
		close(l.quit)
		l.sent = <-l.done
	})
	return l.sent
}

type cutOff struct {
	pulls int
	after time.Duration
}

// slowPullUntilCut writes pull requests for every queue of topic from
// offset 0 on a connection it never reads, burst requests per write, until
// a write fails because the broker closed the connection.
func slowPullUntilCut(t *testing.T, addr, topic string, burst int) cutOff {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.(*net.TCPConn).SetReadBuffer(64 << 10); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	pulls := 0
	for time.Since(start) < 20*time.Second {
		var frames []byte
		for range burst {
			req := remoting.NewRequest(remoting.RequestPullMessage)
			h := remoting.PullHeader{ConsumerGroup: "slow", Topic: topic, QueueID: int32(pulls % 4), MaxMsgNums: 32,
				SysFlag: remoting.PullFlagSubscription, Subscription: "*", ExpressionType: "TAG"}
			h.Apply(req)
			req.Opaque = int32(pulls)
			frames = remoting.AppendFrame(frames, req)
			pulls++
		}
		conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
		if _, err := conn.Write(frames); err != nil {
			if !errors.Is(err, syscall.ECONNRESET) && !errors.Is(err, syscall.EPIPE) {
				t.Fatalf("slow consumer write after %d pulls: %v, want the broker to close the connection", pulls, err)
			}
			return cutOff{pulls: pulls, after: time.Since(start)}
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatal("the broker never cut off a consumer that does not read")
	return cutOff{}
}
