package ctl

import (
	"context"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cometmq/comet/actors"
	"github.com/cometmq/comet/controller"
	"github.com/cometmq/comet/internal/cluster"
	"github.com/cometmq/comet/internal/testutil"
)

// TestClusterListAndHandover runs a group of two brokers in controller
// mode: cluster list shows the master and the replica with role, epoch,
// in-sync state and lag; cluster handover makes the replica master.
func TestClusterListAndHandover(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctl, err := controller.Start(controller.Options{ID: "n0", Listener: ln, Peers: []controller.Peer{{ID: "n0", Addr: ln.Addr().String()}},
		DataDir: t.TempDir(), ElectionTimeout: time.Second, RaftTimeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ctl.Close() })
	controlled := func(o *actors.BrokerOptions) {
		o.BrokerName, o.HAListen, o.Replication, o.MinInSyncReplicas = "hg", "127.0.0.1:0", actors.ReplicationSync, 2
		o.Controller = actors.ControllerOptions{Addrs: []string{ctl.Addr()}, HeartbeatInterval: 100 * time.Millisecond}
	}
	env := cluster.StartTest(t, controlled)
	opts := actors.BrokerOptions{DataDir: t.TempDir(), Listen: "127.0.0.1:0", NamesrvAddrs: []string{env.NamesrvAddr}, SegmentSize: 64 << 20}
	controlled(&opts)
	replica, err := actors.NewBroker(opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := replica.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { replica.Stop(context.Background()) })
	f := &fixture{t: t, env: env}

	var rows []clusterListRow
	testutil.WaitFor(t, 10*time.Second, "the replica in sync in cluster list", func() bool {
		rows = nil
		f.okJSON(&rows, "cluster", "list")
		return len(rows) == 2 && rows[1].InSync == "yes"
	})
	m, r := rows[0], rows[1]
	if m.ID != 0 || m.Role != "master" || m.Epoch != "1" || m.InSync != "yes (set of 2)" ||
		r.ID != 2 || r.Role != "replica" || r.Epoch != "1" || r.LagBytes != "0" || r.LagSeconds == "" {
		t.Fatalf("cluster list: %+v", rows)
	}
	if out := f.ok("cluster", "list"); !strings.Contains(out, "LAG-BYTES") || !strings.Contains(out, "replica") {
		t.Fatalf("cluster list table:\n%s", out)
	}

	errOut := f.wantCode(ExitUsage, "cluster", "handover", "-broker-name", "hg", "-broker-id", "2")
	if !strings.Contains(errOut, "-controller") {
		t.Fatalf("handover without -controller: %s", errOut)
	}
	var info controller.ReplicaInfo
	f.okJSON(&info, "cluster", "handover", "-controller", ctl.Addr(), "-broker-name", "hg", "-broker-id", strconv.Itoa(int(r.ID)))
	if info.MasterID != 2 || info.MasterEpoch != 2 {
		t.Fatalf("handover answer: %+v", info)
	}
	testutil.WaitFor(t, 10*time.Second, "the replica to become master", func() bool {
		role := replica.Role()
		return role.Master && role.Epoch == 2
	})
	f.wantCode(ExitBrokerError, "cluster", "handover", "-controller", ctl.Addr(), "-broker-name", "hg", "-broker-id", "9")
}
