package actors

import (
	"context"
	"fmt"
	"hash/crc32"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cometmq/comet/controller"
	"github.com/cometmq/comet/netio/remoting"
)

// startTestController runs a one-member controller quorum in process on
// addr ("127.0.0.1:0" for a new one) and dir.
func startTestController(t *testing.T, addr, dir string) *controller.Controller {
	t.Helper()
	var ln net.Listener
	waitUntil(t, 5*time.Second, "the controller's port", func() bool {
		var err error
		ln, err = net.Listen("tcp", addr)
		return err == nil
	})
	c, err := controller.Start(controller.Options{ID: "n0", Listener: ln, Peers: []controller.Peer{{ID: "n0", Addr: ln.Addr().String()}},
		DataDir: dir, ElectionTimeout: time.Second, RaftTimeout: 100 * time.Millisecond, Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// controlled makes a group member take its role from the controller at
// addr, with sync replication and min-insync minInSync.
func controlled(addr string, minInSync int) func(*BrokerOptions) {
	return func(o *BrokerOptions) {
		o.BrokerID = 0
		o.Controller = ControllerOptions{Addrs: []string{addr}, HeartbeatInterval: 100 * time.Millisecond}
		o.Replication, o.MinInSyncReplicas = ReplicationSync, minInSync
		o.ReplicaLagMax = time.Second
	}
}

// masterOf returns the member that is master with a valid lease, or nil.
func masterOf(members ...*Broker) *Broker {
	for _, b := range members {
		if b != nil && b.Role().Master && b.repl.agent.leaseValid() {
			return b
		}
	}
	return nil
}

// sendAll sends n messages, in order, to queue 0 on the master; a send
// refused for now (SERVICE_NOT_AVAILABLE: a lease that lapsed on a loaded
// machine) is sent again, as a client would, for up to 10 s.
func sendAll(t *testing.T, c *remoting.Client, addr, topic, prefix string, n int) {
	t.Helper()
	for i := range n {
		body := fmt.Sprintf("%s-%03d", prefix, i)
		var resp *remoting.Command
		waitUntil(t, 10*time.Second, "send "+body, func() bool {
			resp = rawSend(t, c, addr, topic, 0, body)
			return resp.Code != remoting.ResponseServiceNotAvailable
		})
		if resp.Code != remoting.ResponseSuccess {
			t.Fatalf("send %s: %d %s", body, resp.Code, resp.Remark)
		}
	}
}

// logSums is the CRC of every whole segment's bytes up to the log end.
func logSums(t *testing.T, b *Broker) []uint32 {
	t.Helper()
	s := b.Store()
	seg := b.segmentSize()
	var out []uint32
	for off := s.MinPhysicalOffset(); off < s.WrittenOffset(); off += seg {
		h := crc32.NewIEEE()
		for pos := off; pos < min(off+seg, s.WrittenOffset()); {
			data, err := s.ReadRaw(pos, 1<<20)
			if err != nil {
				t.Fatal(err)
			}
			h.Write(data)
			if len(data) == 8 { // a segment's closing blank record
				pos = off + seg
			} else {
				pos += int64(len(data))
			}
		}
		out = append(out, h.Sum32())
	}
	return out
}

// TestControlledFailover runs a group of three members under a
// controller with sync replication and min-insync 2: the first member is
// master, the others join the in-sync set; when the master stops, its
// lease lapses, the controller elects another member, sends succeed
// there, and the old master restarts as a replica whose log ends
// byte-identical to the new master's, every acknowledged message in place.
func TestControlledFailover(t *testing.T) {
	ctl := startTestController(t, "127.0.0.1:0", t.TempDir())
	ns := startNamesrv(t)
	dirs := []string{t.TempDir(), t.TempDir(), t.TempDir()}
	members := make([]*Broker, 3)
	for i := range members {
		members[i] = startGroupMember(t, ns, 0, dirs[i], controlled(ctl.Addr(), 2))
	}
	c := rawClient(t)
	waitUntil(t, 10*time.Second, "the first member to be master with both replicas in sync", func() bool {
		m := masterOf(members...)
		return m == members[0] && m.repl.server.InSyncCount() == 3
	})
	sendAll(t, c, members[0].Advertise(), "failover", "a", 50)
	if got := members[1].Role(); got.Master || got.Epoch != 1 {
		t.Fatalf("second member's role %+v, want a replica at epoch 1", got)
	}

	members[0].Stop(context.Background())
	var next *Broker
	waitUntil(t, 10*time.Second, "a new master", func() bool { next = masterOf(members[1], members[2]); return next != nil })
	if next.Role().Epoch != 2 {
		t.Fatalf("new master at epoch %d, want 2", next.Role().Epoch)
	}
	waitUntil(t, 10*time.Second, "sends on the new master", func() bool {
		return rawSend(t, c, next.Advertise(), "failover", 0, "b-probe").Code == remoting.ResponseSuccess
	})
	sendAll(t, c, next.Advertise(), "failover", "b", 50)
	if got := counterValue(t, next, "comet_replication_controller_events_total", "event", "became_master"); got != 1 {
		t.Fatalf("became_master counter %v on the new master, want 1", got)
	}
	if got := gaugeValue(t, next, "comet_replication_in_sync_replicas"); got != 2 {
		t.Fatalf("in-sync gauge %v on the new master, want 2 (the old master left the set)", got)
	}

	old := startGroupMember(t, ns, 0, dirs[0], controlled(ctl.Addr(), 2))
	waitUntil(t, 10*time.Second, "the old master to catch up as a replica", func() bool {
		return !old.Role().Master && old.Store().WrittenOffset() == next.Store().WrittenOffset()
	})
	if old.repl.replicaID() != 1 {
		t.Fatalf("the restarted member has id %d, want its first id 1", old.repl.replicaID())
	}
	want, got := logSums(t, next), logSums(t, old)
	if fmt.Sprint(want) != fmt.Sprint(got) {
		t.Fatalf("segment checksums differ: new master %08x, old master %08x", want, got)
	}
	_, msgs := rawPull(t, c, old.Advertise(), "failover", 0, 0)
	for i, m := range msgs[:50] {
		if string(m.Body) != fmt.Sprintf("a-%03d", i) {
			t.Fatalf("queue offset %d holds %q on the old master", i, m.Body)
		}
	}
	entries := old.repl.epochs.file.Entries()
	if len(entries) != 2 || entries[0].Epoch != 1 || entries[1].Epoch != 2 {
		t.Fatalf("old master's epoch file %v, want epochs 1 and 2", entries)
	}
}

// TestControlledLeaseWithoutQuorum stops the only controller member: the
// master keeps taking sends only while its lease runs, then refuses them
// with [LEASE_EXPIRED]; the member restarts from its data and the master
// resumes at the same epoch, with no election.
func TestControlledLeaseWithoutQuorum(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ctl")
	ctl := startTestController(t, "127.0.0.1:0", dir)
	addr := ctl.Addr()
	ns := startNamesrv(t)
	b := startGroupMember(t, ns, 0, t.TempDir(), controlled(addr, 1))
	c := rawClient(t)
	waitUntil(t, 10*time.Second, "a master", func() bool { return masterOf(b) == b })
	sendAll(t, c, b.Advertise(), "lease", "x", 5)
	ctl.Close()
	stopped := time.Now()
	var refusal *remoting.Command
	waitUntil(t, 5*time.Second, "sends refused for a lapsed lease", func() bool {
		refusal = rawSend(t, c, b.Advertise(), "lease", 0, "late")
		return refusal.Code != remoting.ResponseSuccess
	})
	if lapsed := time.Since(stopped); lapsed > 1500*time.Millisecond {
		t.Fatalf("sends were taken %v after the quorum was lost; the lease is 1s", lapsed)
	}
	if refusal.Code != remoting.ResponseServiceNotAvailable || !strings.HasPrefix(refusal.Remark, remarkLeaseExpired) {
		t.Fatalf("refusal %d %q", refusal.Code, refusal.Remark)
	}
	waitUntil(t, 5*time.Second, "the lapse counted", func() bool {
		return counterValue(t, b, "comet_replication_controller_events_total", "event", "lease_lapses") == 1
	})
	startTestController(t, addr, dir)
	waitUntil(t, 10*time.Second, "sends again", func() bool {
		return rawSend(t, c, b.Advertise(), "lease", 0, "again").Code == remoting.ResponseSuccess
	})
	if r := b.Role(); !r.Master || r.Epoch != 1 {
		t.Fatalf("role after the quorum returned %+v, want master at epoch 1", r)
	}
}

// counterValue scrapes b's replication collector for one counter with
// one label pair.
func counterValue(t *testing.T, b *Broker, name, label, value string) float64 {
	t.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(b.ReplicationCollector())
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			if m.GetLabel()[0].GetName() == label && m.GetLabel()[0].GetValue() == value {
				return m.GetCounter().GetValue()
			}
		}
	}
	t.Fatalf("no metric %s{%s=%q}", name, label, value)
	return 0
}
