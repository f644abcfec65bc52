package main

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cometmq/comet/controller"
	"github.com/cometmq/comet/internal/adminwire"
	"github.com/cometmq/comet/internal/testutil"
	"github.com/cometmq/comet/netio/remoting"
	"github.com/cometmq/comet/routing"
)

// The failover tests run everything as real processes on 127.0.0.1: a
// quorum of three `comet controller` members, a name server, and broker
// groups of three members in controller mode with sync replication and
// min-insync 2. Every member reaches each controller and is reached by
// its replicas through a fault-injecting proxy of its own, so a test can
// cut one member off from the controllers and the other members while
// clients still reach it.

const (
	foCluster = "DefaultCluster"
	foTopic   = "FailoverTopic"
	foLease   = time.Second // the controllers' --election-timeout
)

// ctlQuorum is three controller processes.
type ctlQuorum struct {
	bin   string
	addrs []string
	peers string
	dirs  []string
	procs []*controllerProcess
}

func startQuorum(t *testing.T, bin string) *ctlQuorum {
	t.Helper()
	q := &ctlQuorum{bin: bin}
	var parts []string
	for i := range 3 {
		q.addrs = append(q.addrs, freeLoopbackAddr(t))
		parts = append(parts, fmt.Sprintf("n%d=%s", i, q.addrs[i]))
		q.dirs = append(q.dirs, filepath.Join(t.TempDir(), fmt.Sprintf("n%d", i)))
	}
	q.peers = strings.Join(parts, ",")
	q.procs = make([]*controllerProcess, 3)
	for i := range 3 {
		q.start(t, i)
	}
	return q
}

func (q *ctlQuorum) start(t *testing.T, i int) {
	t.Helper()
	q.procs[i] = startControllerProcess(t, q.bin, fmt.Sprintf("n%d", i), q.peers, q.addrs[i], q.dirs[i])
}

func (q *ctlQuorum) kill(t *testing.T, i int) {
	t.Helper()
	q.procs[i].Kill9(t)
}

// foMember is one broker of a group with its proxies.
type foMember struct {
	group, addr, haAddr, dir string
	haProxy                  *testutil.FaultProxy   // what replicas dial (--ha-advertise)
	ctlProxies               []*testutil.FaultProxy // this member's way to each controller
	proc                     *testutil.Process
}

// cut partitions the member from the controllers and the other members;
// clients still reach it.
func (m *foMember) cut() {
	m.haProxy.Cut()
	for _, p := range m.ctlProxies {
		p.Cut()
	}
}

func (m *foMember) heal() {
	m.haProxy.Heal()
	for _, p := range m.ctlProxies {
		p.Heal()
	}
}

// foCluster is a quorum, a name server and broker groups.
type foClusterEnv struct {
	t       *testing.T
	bin, ns string
	q       *ctlQuorum
	ctl     *controller.Client
	groups  map[string][]*foMember
	args    []string // broker flags every member gets
	raw     *remoting.Client
}

func startFailoverCluster(t *testing.T, bin string, groups []string, args ...string) *foClusterEnv {
	t.Helper()
	e := &foClusterEnv{t: t, bin: bin, ns: freeLoopbackAddr(t), q: startQuorum(t, bin), groups: map[string][]*foMember{},
		raw: newRawClient(t), args: args}
	startNamesrvProcess(t, bin, e.ns)
	ctl, err := controller.NewClient(controller.ClientOptions{Addrs: e.q.addrs, CallTimeout: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ctl.Close() })
	e.ctl = ctl
	testutil.WaitFor(t, 15*time.Second, "a controller leader", func() bool { return leaderIndex(t, ctl, e.q.addrs) >= 0 })
	for _, g := range groups {
		for range 3 {
			m := &foMember{group: g, addr: freeLoopbackAddr(t), haAddr: freeLoopbackAddr(t), dir: t.TempDir()}
			m.haProxy = testutil.StartFaultProxy(t, m.haAddr)
			for _, a := range e.q.addrs {
				m.ctlProxies = append(m.ctlProxies, testutil.StartFaultProxy(t, a))
			}
			e.groups[g] = append(e.groups[g], m)
			e.start(m) // in order: the first member of a group becomes its master
		}
	}
	for _, g := range groups {
		e.waitHealthy(g, 3)
	}
	return e
}

// start runs m's broker process (again, after a kill) on its ports and dir.
func (e *foClusterEnv) start(m *foMember) {
	e.t.Helper()
	var ctlAddrs []string
	for _, p := range m.ctlProxies {
		ctlAddrs = append(ctlAddrs, p.Addr())
	}
	args := []string{"--data-dir", m.dir, "--listen", m.addr, "--namesrv-listen", "", "--namesrv", e.ns, "--http-listen", "",
		"--broker-name", m.group, "--ha-listen", m.haAddr, "--ha-advertise", m.haProxy.Addr(),
		"--controller", strings.Join(ctlAddrs, ","), "--controller-heartbeat", "200ms",
		"--replication", "sync", "--min-insync-replicas", "2", "--flush", "sync", "--replica-lag-max", "2s",
		"--segment-size", strconv.Itoa(16 << 20)}
	m.proc = runCometProcess(e.t, exec.Command(e.bin, append(args, e.args...)...))
}

// info is the group as the controllers record it.
func (e *foClusterEnv) info(group string) *controller.ReplicaInfo {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	info, err := e.ctl.ReplicaInfo(ctx, foCluster, group)
	if err != nil {
		return nil
	}
	return info
}

// master is the member the controllers name master of group, or nil.
func (e *foClusterEnv) master(group string) *foMember {
	info := e.info(group)
	if info == nil || info.MasterID == 0 {
		return nil
	}
	for _, m := range e.groups[group] {
		if m.addr == info.MasterAddr {
			return m
		}
	}
	return nil
}

// waitHealthy waits until group has a master with an in-sync set of n
// that takes sends.
func (e *foClusterEnv) waitHealthy(group string, n int) *foMember {
	e.t.Helper()
	var m *foMember
	testutil.WaitFor(e.t, 20*time.Second, group+" healthy", func() bool {
		info := e.info(group)
		if info == nil || len(info.SyncStateSet) < n {
			return false
		}
		m = e.master(group)
		if m == nil {
			return false
		}
		resp, err := rawSendTo(e.raw, m.addr, "FailoverProbe", 0, []byte("probe"))
		return err == nil && resp.Code == remoting.ResponseSuccess
	})
	return m
}

// createTopic creates the topic on every group's master and waits for a
// route that names them all.
func (e *foClusterEnv) createTopic(topic string) {
	e.t.Helper()
	for g := range e.groups {
		if resp := invoke(e.t, e.raw, e.master(g).addr, createTopicRequest(topic, "6")); resp.Code != remoting.ResponseSuccess {
			e.t.Fatalf("create %s on %s: %d %s", topic, g, resp.Code, resp.Remark)
		}
	}
	testutil.WaitFor(e.t, 10*time.Second, "a route over every group", func() bool {
		r := routeOf(e.t, e.raw, e.ns, topic)
		return r != nil && len(r.QueueDatas) == len(e.groups)
	})
}

// rawSendTo sends one message to queue of topic at addr.
func rawSendTo(c *remoting.Client, addr, topic string, queue int32, body []byte) (*remoting.Command, error) {
	req := remoting.NewRequest(remoting.RequestSendMessageV2)
	h := remoting.SendHeader{ProducerGroup: "failover", Topic: topic, DefaultTopic: "TBW102", DefaultTopicQueueNums: 4,
		QueueID: queue, BornTimestamp: time.Now().UnixMilli()}
	h.Apply(req)
	req.Body = body
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return c.Invoke(ctx, addr, req)
}

// runtimeInfo is a broker's GET_BROKER_RUNTIME_INFO table (nil when it
// does not answer).
func runtimeInfo(c *remoting.Client, addr string) map[string]string {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	resp, err := c.Invoke(ctx, addr, remoting.NewRequest(remoting.RequestGetBrokerRuntimeInfo))
	if err != nil || resp.Code != remoting.ResponseSuccess {
		return nil
	}
	kv, err := adminwire.DecodeKVTable(resp.Body)
	if err != nil {
		return nil
	}
	return kv.Table
}

// waitSameLog waits until every member of group reports the same commit
// log end, then stops them all cleanly and compares their segment files.
func (e *foClusterEnv) waitSameLogAndCompare(group string) {
	e.t.Helper()
	members := e.groups[group]
	testutil.WaitFor(e.t, 20*time.Second, "every member of "+group+" at the same log end", func() bool {
		var ends []string
		for _, m := range members {
			info := runtimeInfo(e.raw, m.addr)
			if info == nil {
				return false
			}
			ends = append(ends, info["commitLogMaxOffset"])
		}
		return len(slices.Compact(ends)) == 1
	})
	for _, m := range members {
		m.proc.Signal(e.t, syscall.SIGTERM)
	}
	for _, m := range members {
		if code := m.proc.Wait(e.t, 30*time.Second); code != 0 {
			e.t.Fatalf("member %s exited %d after SIGTERM:\n%s", m.addr, code, m.proc.Stderr.String())
		}
	}
	for _, m := range members[1:] {
		requireIdenticalSegments(e.t, members[0].dir, m.dir)
	}
}

// foAck is one acknowledged send.
type foAck struct {
	group, body, offsetMsgID string
	queue                    int32
	offset                   int64
	by                       string // the broker that acknowledged it
	at                       time.Time
}

// foHistory records every send: its acknowledgement, or its failed
// attempts.
type foHistory struct {
	mu       sync.Mutex
	acks     []foAck
	attempts map[string]int // body -> attempts made
}

func newHistory() *foHistory { return &foHistory{attempts: map[string]int{}} }

func (h *foHistory) attempt(body string) {
	h.mu.Lock()
	h.attempts[body]++
	h.mu.Unlock()
}

func (h *foHistory) ack(a foAck) {
	h.mu.Lock()
	h.acks = append(h.acks, a)
	h.mu.Unlock()
}

func (h *foHistory) snapshot() []foAck {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.acks)
}

// finalLog reads every queue of the topic on addr: (queue, offset)
// -> message, and how often each body occurs.
func finalLog(t *testing.T, c *remoting.Client, addr, topic string) (map[[2]int64]*remoting.MessageExt, map[string]int) {
	t.Helper()
	stored := map[[2]int64]*remoting.MessageExt{}
	count := map[string]int{}
	for q := int32(0); q < 4; q++ {
		for i, m := range rawPullAll(t, c, addr, uniqueName("verify"), topic, q, "*") {
			if m.QueueOffset != int64(i) {
				t.Fatalf("%s queue %d: message %d at queue offset %d: not dense", addr, q, i, m.QueueOffset)
			}
			stored[[2]int64{int64(q), m.QueueOffset}] = m
			count[string(m.Body)]++
		}
	}
	return stored, count
}

// checkHistory compares acknowledged sends with a group's final log and
// returns what is wrong: acknowledged messages missing or different at
// their queue offset, and bodies stored twice that were sent only once.
func checkHistory(acks []foAck, attempts map[string]int, stored map[[2]int64]*remoting.MessageExt, count map[string]int) []string {
	var problems []string
	for _, a := range acks {
		m := stored[[2]int64{int64(a.queue), a.offset}]
		switch {
		case m == nil:
			problems = append(problems, fmt.Sprintf("acknowledged %.24q (queue %d offset %d, by %s) is missing", a.body, a.queue, a.offset, a.by))
		case string(m.Body) != a.body:
			problems = append(problems, fmt.Sprintf("queue %d offset %d holds %.24q, acknowledged %.24q", a.queue, a.offset, m.Body, a.body))
		case m.OffsetMsgID != a.offsetMsgID:
			problems = append(problems, fmt.Sprintf("queue %d offset %d has message id %s, acknowledged %s", a.queue, a.offset, m.OffsetMsgID, a.offsetMsgID))
		}
	}
	for body, n := range count {
		if n > 1 && attempts[body] < n {
			problems = append(problems, fmt.Sprintf("%.24q stored %d times, sent %d times", body, n, attempts[body]))
		}
	}
	return problems
}

func ackOf(group, body, addr string, resp *remoting.Command) foAck {
	q, _ := resp.ExtInt64("queueId")
	off, _ := resp.ExtInt64("queueOffset")
	id, _ := resp.Ext.Get("msgId")
	return foAck{group: group, body: body, offsetMsgID: id, queue: int32(q), offset: off, by: addr, at: time.Now()}
}

// routeOf asks the name server for topic's route (nil when it has none).
func routeOf(t *testing.T, c *remoting.Client, ns, topic string) *routing.TopicRouteData {
	t.Helper()
	req := remoting.NewRequest(remoting.RequestGetRouteInfoByTopic)
	req.Ext.Set(remoting.ExtTopic, topic)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	resp, err := c.Invoke(ctx, ns, req)
	if err != nil || resp.Code != remoting.ResponseSuccess {
		return nil
	}
	r, err := routing.DecodeTopicRouteData(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return r
}
