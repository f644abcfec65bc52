package controller

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cometmq/comet/internal/testutil"
)

// Test timings: short enough for seconds-long tests, long enough that a
// busy two-core machine does not flap raft.
const (
	testRaftTimeout     = 250 * time.Millisecond
	testElectionTimeout = time.Second
	testHeartbeat       = 150 * time.Millisecond
)

// waitFor polls cond every 10 ms until it holds or timeout passes.

// holdFor checks that cond stays true for d, polling every 10 ms: how a
// test asserts that something does not happen.
func holdFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(d); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if !cond() {
			t.Fatalf("%s: broken after %v", what, d-time.Until(deadline))
		}
	}
}

func testLogger(t *testing.T) *slog.Logger {
	if os.Getenv("COMET_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// testCluster is n in-process members on loopback ports chosen once, so a
// stopped member restarts on its address and data directory.
type testCluster struct {
	t       *testing.T
	peers   []Peer
	dirs    []string
	members []*Controller // nil while stopped
}

func newTestCluster(t *testing.T, n int) *testCluster {
	t.Helper()
	tc := &testCluster{t: t, members: make([]*Controller, n)}
	lns := make([]net.Listener, n)
	for i := range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns[i] = ln
		tc.peers = append(tc.peers, Peer{ID: fmt.Sprintf("n%d", i), Addr: ln.Addr().String()})
		tc.dirs = append(tc.dirs, filepath.Join(t.TempDir(), fmt.Sprintf("n%d", i)))
	}
	for i := range n {
		tc.startWith(i, lns[i])
	}
	t.Cleanup(tc.stopAll)
	return tc
}

func (tc *testCluster) startWith(i int, ln net.Listener) {
	tc.t.Helper()
	c, err := Start(Options{ID: tc.peers[i].ID, Listener: ln, Peers: tc.peers, DataDir: tc.dirs[i],
		ElectionTimeout: testElectionTimeout, RaftTimeout: testRaftTimeout, Logger: testLogger(tc.t).With("member", i)})
	if err != nil {
		tc.t.Fatalf("start member %d: %v", i, err)
	}
	tc.members[i] = c
}

// start restarts a stopped member on its address and data directory.
func (tc *testCluster) start(i int) {
	tc.t.Helper()
	var ln net.Listener
	testutil.WaitFor(tc.t, 5*time.Second, "the member's port to be free", func() bool {
		var err error
		ln, err = net.Listen("tcp", tc.peers[i].Addr)
		return err == nil
	})
	tc.startWith(i, ln)
}

func (tc *testCluster) stop(i int) {
	tc.t.Helper()
	if err := tc.members[i].Close(); err != nil {
		tc.t.Logf("close member %d: %v", i, err)
	}
	tc.members[i] = nil
}

func (tc *testCluster) stopAll() {
	for i, c := range tc.members {
		if c != nil {
			tc.stop(i)
		}
	}
}

// leader waits until exactly one running member is in office and returns it.
func (tc *testCluster) leader(timeout time.Duration) int {
	tc.t.Helper()
	idx := -1
	testutil.WaitFor(tc.t, timeout, "one controller leader in office", func() bool {
		idx = -1
		for i, c := range tc.members {
			if c != nil && c.IsLeader() {
				if idx >= 0 {
					return false
				}
				idx = i
			}
		}
		return idx >= 0
	})
	return idx
}

func (tc *testCluster) addrs() []string {
	var out []string
	for _, p := range tc.peers {
		out = append(out, p.Addr)
	}
	return out
}

func (tc *testCluster) client(onRoleChange func(ReplicaInfo)) *Client {
	tc.t.Helper()
	c, err := NewClient(ClientOptions{Addrs: tc.addrs(), CallTimeout: 5 * time.Second, OnRoleChange: onRoleChange})
	if err != nil {
		tc.t.Fatal(err)
	}
	tc.t.Cleanup(func() { c.Close() })
	return c
}

// fakeBroker is the controller-facing half of a broker: it registers and
// heartbeats with its own client, as a real broker would, and keeps what
// the controller told it.
type fakeBroker struct {
	t       *testing.T
	cluster string
	group   string
	id      int64
	code    string
	addr    string
	client  *Client
	offset  atomic.Int64
	epoch   atomic.Int32 // newest master epoch it learned
	role    atomic.Value // string
	leaseMs atomic.Int64
	notices atomic.Int64 // role-change notices received
	stop    chan struct{}
	wg      sync.WaitGroup
}

func newFakeBroker(t *testing.T, tc *testCluster, group string, n int) *fakeBroker {
	b := &fakeBroker{t: t, cluster: "DefaultCluster", group: group, code: NewRegisterCode(),
		addr: fmt.Sprintf("127.0.0.1:%d", 20000+n)}
	b.client = tc.client(func(info ReplicaInfo) {
		b.notices.Add(1)
		b.learn(&info)
	})
	b.role.Store("")
	return b
}

func (b *fakeBroker) register() *RegisterResponse {
	b.t.Helper()
	resp, err := b.client.Register(context.Background(), RegisterRequest{Cluster: b.cluster, Group: b.group,
		BrokerID: b.id, Code: b.code, Addr: b.addr, HAAddr: b.addr})
	if err != nil {
		b.t.Fatalf("register %s: %v", b.addr, err)
	}
	b.id = resp.BrokerID
	b.learn(&resp.ReplicaInfo)
	return resp
}

func (b *fakeBroker) learn(info *ReplicaInfo) {
	for {
		old := b.epoch.Load()
		if info.MasterEpoch <= old || b.epoch.CompareAndSwap(old, info.MasterEpoch) {
			return
		}
	}
}

func (b *fakeBroker) heartbeat() (*HeartbeatResponse, error) {
	resp, err := b.client.Heartbeat(context.Background(), HeartbeatRequest{Cluster: b.cluster, Group: b.group,
		BrokerID: b.id, MasterEpoch: b.epoch.Load(), LastEpoch: b.epoch.Load(), ConfirmedOffset: b.offset.Load()})
	if err != nil {
		return nil, err
	}
	b.learn(&resp.ReplicaInfo)
	b.role.Store(resp.Role)
	b.leaseMs.Store(resp.LeaseMillis)
	return resp, nil
}

// start heartbeats every testHeartbeat until halt.
func (b *fakeBroker) start() {
	b.stop = make(chan struct{})
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		t := time.NewTicker(testHeartbeat)
		defer t.Stop()
		for {
			if _, err := b.heartbeat(); err != nil && !errors.Is(err, ErrUnavailable) {
				b.t.Logf("broker %d heartbeat: %v", b.id, err)
			}
			select {
			case <-b.stop:
				return
			case <-t.C:
			}
		}
	}()
	b.t.Cleanup(b.halt)
}

// halt stops heartbeating, as a killed broker does.
func (b *fakeBroker) halt() {
	if b.stop != nil {
		close(b.stop)
		b.wg.Wait()
		b.stop = nil
	}
}

// groupOn returns the group as member i has applied it.
func groupOn(c *Controller, group string) *Group {
	return c.fsm.group("DefaultCluster", group)
}
