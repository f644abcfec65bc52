package controller

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cometmq/comet/internal/testutil"
	"github.com/cometmq/comet/netio/remoting"
)

// setUpGroup registers brokers b[0..n) in group g (b[0] becomes master),
// starts their heartbeats and has the master put b[0..inSync) in the
// in-sync set.
func setUpGroup(t *testing.T, tc *testCluster, group string, n, inSync int) []*fakeBroker {
	t.Helper()
	var bs []*fakeBroker
	for i := range n {
		b := newFakeBroker(t, tc, group, i)
		resp := b.register()
		if i == 0 && (resp.MasterID != b.id || resp.MasterEpoch != 1) {
			t.Fatalf("first broker is not master at epoch 1: %+v", resp)
		}
		b.start()
		bs = append(bs, b)
	}
	testutil.WaitFor(t, 5*time.Second, "the master's lease", func() bool { return bs[0].role.Load() == RoleMaster && bs[0].leaseMs.Load() > 0 })
	var set []int64
	for _, b := range bs[:inSync] {
		set = append(set, b.id)
	}
	if inSync > 1 {
		testutil.WaitFor(t, 5*time.Second, "heartbeats of the joining members", func() bool {
			_, err := bs[0].client.AlterSyncStateSet(context.Background(), AlterSyncStateSetRequest{Cluster: "DefaultCluster",
				Group: group, MasterID: bs[0].id, MasterEpoch: 1, SyncStateSetEpoch: 1, SyncStateSet: set})
			return err == nil
		})
	}
	return bs
}

// TestControllerFailover: a group of three registers with a three-member
// quorum; the master heartbeats and holds a lease; once its heartbeats
// stop, the live in-sync member with the most data becomes master within
// the election timeout, at epoch+1; a member outside the in-sync set is
// never chosen although it holds more; the old master's in-sync set change
// is fenced, as is one at a stale set epoch; every member hears the news.
func TestControllerFailover(t *testing.T) {
	tc := newTestCluster(t, 3)
	tc.leader(10 * time.Second)
	bs := setUpGroup(t, tc, "broker-a", 4, 3)
	bs[1].offset.Store(1000)
	bs[2].offset.Store(2000)
	bs[3].offset.Store(9000) // not in the in-sync set
	c := tc.client(nil)
	testutil.WaitFor(t, 5*time.Second, "the offsets reported to the leader", func() bool {
		info, err := c.ReplicaInfo(context.Background(), "DefaultCluster", "broker-a")
		return err == nil && len(info.Members) == 4 && info.Members[3].ConfirmedOffset == 9000 && info.Members[3].Alive
	})

	stopped := time.Now()
	bs[0].halt()
	var info *ReplicaInfo
	testutil.WaitFor(t, testElectionTimeout+3*time.Second, "a new master", func() bool {
		var err error
		info, err = c.ReplicaInfo(context.Background(), "DefaultCluster", "broker-a")
		return err == nil && info.MasterID != bs[0].id
	})
	took := time.Since(stopped)
	t.Logf("new master %d at epoch %d after %v", info.MasterID, info.MasterEpoch, took)
	if info.MasterID != bs[2].id || info.MasterEpoch != 2 {
		t.Fatalf("elected %d at epoch %d, want %d (in sync, most data) at epoch 2: %+v", info.MasterID, info.MasterEpoch, bs[2].id, info)
	}
	if !slices.Equal(info.SyncStateSet, []int64{bs[1].id, bs[2].id}) {
		t.Fatalf("in-sync set %v, want the live members of the old set", info.SyncStateSet)
	}
	if took > testElectionTimeout+2*time.Second {
		t.Fatalf("failover took %v", took)
	}
	testutil.WaitFor(t, 3*time.Second, "the new master's lease", func() bool { return bs[2].role.Load() == RoleMaster && bs[2].leaseMs.Load() > 0 })
	testutil.WaitFor(t, 3*time.Second, "role-change notices", func() bool { return bs[1].notices.Load() > 0 && bs[3].notices.Load() > 0 })

	_, err := bs[0].client.AlterSyncStateSet(context.Background(), AlterSyncStateSetRequest{Cluster: "DefaultCluster",
		Group: "broker-a", MasterID: bs[0].id, MasterEpoch: 1, SyncStateSetEpoch: info.SyncStateSetEpoch, SyncStateSet: []int64{bs[0].id}})
	if !errors.Is(err, ErrFenced) {
		t.Fatalf("old master's set change: %v, want fenced", err)
	}
	_, err = bs[2].client.AlterSyncStateSet(context.Background(), AlterSyncStateSetRequest{Cluster: "DefaultCluster",
		Group: "broker-a", MasterID: bs[2].id, MasterEpoch: 2, SyncStateSetEpoch: info.SyncStateSetEpoch - 1, SyncStateSet: []int64{bs[2].id}})
	if !errors.Is(err, ErrFenced) {
		t.Fatalf("set change at a stale set epoch: %v, want fenced", err)
	}
	st := tc.members[tc.leader(time.Second)].Stats()
	if st.Elections < 1 || st.FencedAsks < 2 || len(st.Groups) != 1 || st.Groups[0].Epoch != 2 || st.Groups[0].SyncStateSetSize != 2 {
		t.Fatalf("stats: %+v", st)
	}
}

// TestControllerNeverElectsOutsideInSyncSet: when every in-sync member is
// gone, a live member outside the set is not elected; the group is left
// without a master until an in-sync member returns.
func TestControllerNeverElectsOutsideInSyncSet(t *testing.T) {
	tc := newTestCluster(t, 3)
	tc.leader(10 * time.Second)
	bs := setUpGroup(t, tc, "broker-b", 2, 1)
	bs[1].offset.Store(5000)
	bs[0].halt()
	c := tc.client(nil)
	testutil.WaitFor(t, testElectionTimeout+3*time.Second, "the lapsed lease", func() bool {
		info, err := c.ReplicaInfo(context.Background(), "DefaultCluster", "broker-b")
		return err == nil && info.MasterEpoch == 2
	})
	lead := tc.members[tc.leader(time.Second)]
	holdFor(t, 2*testElectionTimeout, "no master outside the in-sync set", func() bool {
		g := groupOn(lead, "broker-b")
		return g.MasterID == 0 && g.Epoch == 2
	})
	if _, err := c.ElectMaster(context.Background(), "DefaultCluster", "broker-b"); !errors.Is(err, ErrRefused) {
		t.Fatalf("explicit election with no live in-sync member: %v", err)
	}
	bs[0].start() // the old master returns: still in the set, it leads again
	testutil.WaitFor(t, 5*time.Second, "the returning in-sync member elected", func() bool {
		return bs[0].role.Load() == RoleMaster && bs[0].epoch.Load() == 3
	})
}

// TestControllerHandOver: an operator hands mastership to a live in-sync
// member; a member outside the set is refused.
func TestControllerHandOver(t *testing.T) {
	tc := newTestCluster(t, 3)
	tc.leader(10 * time.Second)
	bs := setUpGroup(t, tc, "broker-c", 3, 2)
	c := tc.client(nil)
	if _, err := c.HandOver(context.Background(), "DefaultCluster", "broker-c", bs[2].id); !errors.Is(err, ErrRefused) {
		t.Fatalf("hand-over outside the set: %v", err)
	}
	info, err := c.HandOver(context.Background(), "DefaultCluster", "broker-c", bs[1].id)
	if err != nil || info.MasterID != bs[1].id || info.MasterEpoch != 2 || !slices.Contains(info.SyncStateSet, bs[0].id) {
		t.Fatalf("hand-over: %+v %v", info, err)
	}
	testutil.WaitFor(t, 3*time.Second, "roles after the hand-over", func() bool {
		return bs[1].role.Load() == RoleMaster && bs[0].role.Load() == RoleReplica && bs[1].leaseMs.Load() > 0
	})
}

// TestControllerLeaderLoss: the raft leader member stops; the other two
// go on with the state intact, serve the client, and still fail a group
// over.
func TestControllerLeaderLoss(t *testing.T) {
	tc := newTestCluster(t, 3)
	old := tc.leader(10 * time.Second)
	bs := setUpGroup(t, tc, "broker-d", 3, 3)
	before, _ := json.Marshal(groupOn(tc.members[old], "broker-d").SyncStateSet)
	tc.stop(old)
	next := tc.leader(10 * time.Second)
	if next == old {
		t.Fatal("the stopped member leads")
	}
	after := groupOn(tc.members[next], "broker-d")
	if got, _ := json.Marshal(after.SyncStateSet); string(got) != string(before) || after.MasterID != bs[0].id || after.Epoch != 1 {
		t.Fatalf("state after leader loss: %+v (set before %s)", after, before)
	}
	// The master kept its mastership across the change of controller leader.
	testutil.WaitFor(t, 5*time.Second, "the master's lease from the new leader", func() bool {
		return bs[0].role.Load() == RoleMaster && bs[0].leaseMs.Load() > 0
	})
	if g := groupOn(tc.members[next], "broker-d"); g.Epoch != 1 {
		t.Fatalf("a change of controller leader changed the master epoch: %+v", g)
	}
	bs[0].halt()
	testutil.WaitFor(t, testElectionTimeout+5*time.Second, "a failover under the new leader", func() bool {
		g := groupOn(tc.members[next], "broker-d")
		return g.MasterID != bs[0].id && g.Epoch == 2 && g.InSync(g.MasterID)
	})
}

// TestControllerQuorumLossAndRestart: with two of three members stopped
// no election happens, whatever the brokers do; when they restart from
// their data directories the state is as it was and the quorum resumes
// (the master, silent meanwhile, is replaced). A full restart of all
// three restores the same state again.
func TestControllerQuorumLossAndRestart(t *testing.T) {
	tc := newTestCluster(t, 3)
	tc.leader(10 * time.Second)
	bs := setUpGroup(t, tc, "broker-e", 3, 3)
	survivor := (tc.leader(time.Second) + 1) % 3
	for i := range 3 {
		if i != survivor {
			tc.stop(i)
		}
	}
	bs[0].halt()
	want := groupOn(tc.members[survivor], "broker-e")
	c := tc.client(nil)
	ctx, cancel := context.WithTimeout(context.Background(), testElectionTimeout)
	_, err := c.ReplicaInfo(ctx, "DefaultCluster", "broker-e")
	cancel()
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("a call without quorum: %v", err)
	}
	holdFor(t, 2*testElectionTimeout, "no election without quorum", func() bool {
		got := groupOn(tc.members[survivor], "broker-e")
		return got.MasterID == want.MasterID && got.Epoch == want.Epoch && !tc.members[survivor].IsLeader()
	})

	for i := range 3 {
		if i != survivor {
			tc.start(i)
		}
	}
	tc.leader(10 * time.Second)
	testutil.WaitFor(t, testElectionTimeout+5*time.Second, "the silent master replaced", func() bool {
		g := groupOn(tc.members[tc.leader(time.Second)], "broker-e")
		return g.Epoch == want.Epoch+1 && g.MasterID != bs[0].id
	})
	for _, b := range bs[1:] {
		b.halt()
	}
	snapshot := electionState(tc.members[tc.leader(time.Second)])
	tc.stopAll()
	for i := range 3 {
		tc.start(i)
	}
	tc.leader(10 * time.Second)
	for _, m := range tc.members {
		testutil.WaitFor(t, 5*time.Second, "the state restored on every member", func() bool { return electionState(m) == snapshot })
	}
}

// electionState renders every group without lease expiries, which a new
// leader restarts on its own clock.
func electionState(c *Controller) string {
	gs := c.Groups()
	for _, g := range gs {
		g.LeaseExpiry = 0
	}
	b, _ := json.Marshal(gs)
	return string(b)
}

// TestControllerRedirect: a member that does not lead answers
// CONTROLLER_NOT_LEADER naming the leader; every member answers
// GET_METADATA_INFO.
func TestControllerRedirect(t *testing.T) {
	tc := newTestCluster(t, 3)
	lead := tc.leader(10 * time.Second)
	follower := (lead + 1) % 3
	rc := remoting.NewClient(remoting.ClientOptions{})
	defer rc.Close()
	req := remoting.NewRequest(remoting.RequestControllerGetReplicaInfo)
	req.Body = []byte(`{"clusterName":"DefaultCluster","brokerName":"x"}`)
	resp, err := rc.Invoke(context.Background(), tc.peers[follower].Addr, req)
	if err != nil {
		t.Fatal(err)
	}
	if addr, _ := resp.Ext.Get(ExtLeaderAddress); resp.Code != remoting.ResponseControllerNotLeader || addr != tc.peers[lead].Addr {
		t.Fatalf("follower answered %d %q leader %q, want NOT_LEADER naming %s", resp.Code, resp.Remark, addr, tc.peers[lead].Addr)
	}
	c := tc.client(nil)
	md, err := c.Metadata(context.Background(), tc.peers[follower].Addr)
	if err != nil || md.ID != tc.peers[follower].ID || md.LeaderAddr != tc.peers[lead].Addr || len(md.Peers) != 3 || md.State != "Follower" {
		t.Fatalf("metadata: %+v %v", md, err)
	}
	bad := remoting.NewRequest(remoting.RequestControllerRegisterBroker)
	bad.Body = []byte(`{"clusterName":"a/b"}`)
	if resp, err = rc.Invoke(context.Background(), tc.peers[lead].Addr, bad); err != nil || resp.Code != remoting.ResponseControllerInvalidRequest {
		t.Fatalf("invalid body: %+v %v", resp, err)
	}
}

// TestControllerStartErrors: bad options and a data directory another
// member holds are refused at start, leaving nothing running.
func TestControllerStartErrors(t *testing.T) {
	peers := []Peer{{ID: "n0", Addr: "127.0.0.1:1"}, {ID: "n1", Addr: "127.0.0.1:2"}}
	for _, o := range []Options{
		{ID: "n9", Peers: peers, DataDir: t.TempDir()},
		{ID: "n0", Peers: append(peers, Peer{ID: "n0", Addr: "127.0.0.1:3"}), DataDir: t.TempDir()},
		{ID: "n0", Peers: []Peer{{ID: "n0", Addr: "nohost"}}, DataDir: t.TempDir()},
		{ID: "n0", Peers: peers},
		{ID: "n0", Peers: peers, DataDir: t.TempDir(), ElectionTimeout: time.Second, RaftTimeout: time.Second},
	} {
		if _, err := Start(o); !errors.Is(err, ErrInvalidOptions) {
			t.Errorf("%+v: %v, want ErrInvalidOptions", o, err)
		}
	}
	tc := newTestCluster(t, 1)
	tc.leader(10 * time.Second)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, err = Start(Options{ID: "n0", Listener: ln, Peers: []Peer{{ID: "n0", Addr: ln.Addr().String()}}, DataDir: tc.dirs[0]})
	if err == nil || !strings.Contains(err.Error(), "raft.db") {
		t.Fatalf("a second member on a held data dir: %v", err)
	}
	if _, err := net.Dial("tcp", ln.Addr().String()); err == nil {
		t.Fatal("the failed member still listens")
	}
}
