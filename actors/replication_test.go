package actors

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cometmq/comet/namesrv"
	"github.com/cometmq/comet/netio/remoting"
	"github.com/cometmq/comet/routing"
)

func testLogger() *slog.Logger {
	var out io.Writer = io.Discard
	if os.Getenv("COMET_TEST_LOG") != "" {
		out = os.Stderr
	}
	return slog.New(slog.NewTextHandler(out, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func startNamesrv(t *testing.T) string {
	t.Helper()
	ns, err := namesrv.Serve("127.0.0.1:0", testLogger())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ns.Stop(context.Background()) })
	return ns.Addr()
}

// startGroupMember starts one broker of group "ha-a": id 0 is the master.
func startGroupMember(t *testing.T, ns string, id int64, dir string, mutate func(*BrokerOptions)) *Broker {
	t.Helper()
	opts := BrokerOptions{DataDir: dir, Listen: "127.0.0.1:0", NamesrvAddrs: []string{ns},
		BrokerName: "ha-a", AutoCreateTopic: true, SegmentSize: 1 << 20, CQEntriesPerFile: 4096,
		BrokerID: id, HAListen: "127.0.0.1:0", ReplicaLagMax: 500 * time.Millisecond, Logger: testLogger()}
	if mutate != nil {
		mutate(&opts)
	}
	b, err := NewBroker(opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Stop(context.Background()) })
	return b
}

func waitUntil(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func rawClient(t *testing.T) *remoting.Client {
	t.Helper()
	c := remoting.NewClient(remoting.ClientOptions{})
	t.Cleanup(func() { c.Close() })
	return c
}

func rawSend(t *testing.T, c *remoting.Client, addr, topic string, queueID int32, body string) *remoting.Command {
	t.Helper()
	req := remoting.NewRequest(remoting.RequestSendMessageV2)
	h := remoting.SendHeader{ProducerGroup: "ha-test", Topic: topic, DefaultTopic: "TBW102", DefaultTopicQueueNums: 4,
		QueueID: queueID, BornTimestamp: time.Now().UnixMilli(), Properties: "UNIQ_KEY\x01" + body}
	h.Apply(req)
	req.Body = []byte(body)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	resp, err := c.Invoke(ctx, addr, req)
	if err != nil {
		t.Fatalf("send: %v", err)
	}
	return resp
}

func rawPull(t *testing.T, c *remoting.Client, addr, topic string, queueID int32, offset int64) (*remoting.Command, []*remoting.MessageExt) {
	t.Helper()
	h := remoting.PullHeader{ConsumerGroup: "ha-test-group", Topic: topic, QueueID: queueID, QueueOffset: offset,
		MaxMsgNums: 64, SysFlag: remoting.PullFlagSubscription, Subscription: "*", ExpressionType: "TAG"}
	req := remoting.NewRequest(remoting.RequestPullMessage)
	h.Apply(req)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	resp, err := c.Invoke(ctx, addr, req)
	if err != nil {
		t.Fatalf("pull: %v", err)
	}
	if resp.Code != remoting.ResponseSuccess {
		return resp, nil
	}
	msgs, err := remoting.DecodeMessages(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, msgs
}

func routeOf(t *testing.T, c *remoting.Client, ns, topic string) *routing.TopicRouteData {
	t.Helper()
	req := remoting.NewRequest(remoting.RequestGetRouteInfoByTopic)
	req.Ext.Set("topic", topic)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
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

func TestReplicaFollowsMasterServesPullsRefusesSends(t *testing.T) {
	ns := startNamesrv(t)
	master := startGroupMember(t, ns, 0, t.TempDir(), nil)
	c := rawClient(t)
	for i := range 300 {
		if resp := rawSend(t, c, master.Advertise(), "ha-topic", int32(i%2), fmt.Sprintf("m%04d", i)); resp.Code != remoting.ResponseSuccess {
			t.Fatalf("send %d: %d %s", i, resp.Code, resp.Remark)
		}
	}
	master.offsets.commit("ha-topic", "ha-test-group", 0, 42)
	replica := startGroupMember(t, ns, 1, t.TempDir(), nil) // catches up from empty
	waitUntil(t, 10*time.Second, "the replica to catch up", func() bool {
		return replica.Store().WrittenOffset() == master.Store().WrittenOffset()
	})
	for i := 300; i < 400; i++ { // and follows
		rawSend(t, c, master.Advertise(), "ha-topic", int32(i%2), fmt.Sprintf("m%04d", i))
	}
	waitUntil(t, 10*time.Second, "the replica to follow", func() bool {
		return replica.Store().WrittenOffset() == master.Store().WrittenOffset()
	})
	if resp := rawSend(t, c, replica.Advertise(), "ha-topic", 0, "to-replica"); resp.Code != remoting.ResponseServiceNotAvailable {
		t.Fatalf("send to a replica: code %d %q, want SERVICE_NOT_AVAILABLE", resp.Code, resp.Remark)
	}
	_, fromMaster := rawPull(t, c, master.Advertise(), "ha-topic", 1, 0)
	_, fromReplica := rawPull(t, c, replica.Advertise(), "ha-topic", 1, 0)
	if len(fromReplica) == 0 || len(fromReplica) != len(fromMaster) {
		t.Fatalf("pulled %d messages from the replica, %d from the master", len(fromReplica), len(fromMaster))
	}
	for i := range fromMaster {
		if string(fromMaster[i].Body) != string(fromReplica[i].Body) || fromMaster[i].CommitLogOffset != fromReplica[i].CommitLogOffset {
			t.Fatalf("message %d differs between master and replica", i)
		}
	}
	waitUntil(t, 5*time.Second, "the topic and offsets on the replica", func() bool {
		_, ok := replica.topics.get("ha-topic")
		off, _ := replica.offsets.query("ha-topic", "ha-test-group", 0)
		return ok && off == 42
	})
	waitUntil(t, 5*time.Second, "a route with both members", func() bool {
		r := routeOf(t, c, ns, "ha-topic")
		return r != nil && len(r.BrokerDatas) == 1 && len(r.BrokerDatas[0].BrokerAddrs) == 2
	})
}

func syncMember(min int) func(*BrokerOptions) {
	return func(o *BrokerOptions) { o.Replication, o.MinInSyncReplicas = ReplicationSync, min }
}

func TestSyncReplicationAcksOnlyWhatTheReplicaHolds(t *testing.T) {
	ns := startNamesrv(t)
	master := startGroupMember(t, ns, 0, t.TempDir(), syncMember(2))
	c := rawClient(t)
	resp := rawSend(t, c, master.Advertise(), "sync-topic", 0, "too-early")
	if resp.Code != remoting.ResponseServiceNotAvailable || !strings.HasPrefix(resp.Remark, remarkNotEnoughReplicas) {
		t.Fatalf("send with the master alone: code %d %q", resp.Code, resp.Remark)
	}
	if master.Store().WrittenOffset() != 0 {
		t.Fatal("a refused send was stored")
	}
	replica := startGroupMember(t, ns, 1, t.TempDir(), syncMember(2))
	waitUntil(t, 10*time.Second, "the replica to join the in-sync set", func() bool { return master.repl.server.InSyncCount() == 2 })
	for i := range 50 {
		resp := rawSend(t, c, master.Advertise(), "sync-topic", 0, fmt.Sprintf("s%d", i))
		if resp.Code != remoting.ResponseSuccess {
			t.Fatalf("send %d: %d %s", i, resp.Code, resp.Remark)
		}
		if held := replica.Store().DurableOffset(); held < master.Store().MaxPhysicalOffset() {
			t.Fatalf("SEND_OK for a record the replica has not synced: replica durable %d, master published %d",
				held, master.Store().MaxPhysicalOffset())
		}
	}
	if got := gaugeValue(t, master, "comet_replication_in_sync_replicas"); got != 2 {
		t.Fatalf("in-sync gauge %v, want 2", got)
	}
	if got := gaugeValue(t, replica, "comet_replication_role", "role", "replica"); got != 1 {
		t.Fatalf("replica role gauge %v", got)
	}
}

// gaugeValue scrapes b's replication collector for one gauge (with one
// label pair, if given).
func gaugeValue(t *testing.T, b *Broker, name string, label ...string) float64 {
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
			if len(label) == 0 || (m.GetLabel()[0].GetName() == label[0] && m.GetLabel()[0].GetValue() == label[1]) {
				return m.GetGauge().GetValue()
			}
		}
	}
	t.Fatalf("no metric %s %v", name, label)
	return 0
}

// TestConsumersNeverSeeBeyondTheHighWaterMark stops the only replica of a
// sync-replicated master with min-insync 2: a send then waits for it,
// invisible to pulls, until the replica leaves the set; the batch is
// rolled back and refused, and no pull ever returned it.
func TestConsumersNeverSeeBeyondTheHighWaterMark(t *testing.T) {
	ns := startNamesrv(t)
	master := startGroupMember(t, ns, 0, t.TempDir(), syncMember(2))
	replica := startGroupMember(t, ns, 1, t.TempDir(), syncMember(2))
	waitUntil(t, 10*time.Second, "the replica to join", func() bool { return master.repl.server.InSyncCount() == 2 })
	c := rawClient(t)
	if resp := rawSend(t, c, master.Advertise(), "hwm-topic", 0, "held"); resp.Code != remoting.ResponseSuccess {
		t.Fatalf("send: %d %s", resp.Code, resp.Remark)
	}
	replica.Stop(context.Background())
	done := make(chan *remoting.Command, 1)
	go func() { done <- rawSend(t, c, master.Advertise(), "hwm-topic", 0, "never-held") }()
	for {
		resp, msgs := rawPull(t, c, master.Advertise(), "hwm-topic", 0, 1)
		if len(msgs) > 0 || resp.Code == remoting.ResponseSuccess {
			t.Fatalf("a pull saw a record the in-sync set does not hold (code %d, %d messages)", resp.Code, len(msgs))
		}
		select {
		case resp := <-done:
			if resp.Code != remoting.ResponseServiceNotAvailable || !strings.HasPrefix(resp.Remark, remarkNotEnoughReplicas) {
				t.Fatalf("send after the replica died: code %d %q", resp.Code, resp.Remark)
			}
			if q := master.Store().ConsumeQueue("hwm-topic", 0); q.MaxOffset() != 1 {
				t.Fatalf("the refused record is in the queue (max offset %d)", q.MaxOffset())
			}
			return
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func TestReplicaBecomesMasterAtRuntime(t *testing.T) {
	ns := startNamesrv(t)
	master := startGroupMember(t, ns, 0, t.TempDir(), nil)
	replica := startGroupMember(t, ns, 1, t.TempDir(), nil)
	c := rawClient(t)
	for i := range 20 {
		rawSend(t, c, master.Advertise(), "promote", 0, fmt.Sprintf("p%d", i))
	}
	waitUntil(t, 10*time.Second, "catch-up", func() bool {
		return replica.Store().WrittenOffset() == master.Store().WrittenOffset()
	})
	master.Stop(context.Background())
	if err := replica.BecomeMaster(1); err != nil {
		t.Fatal(err)
	}
	if r := replica.Role(); !r.Master || r.Epoch != 1 {
		t.Fatalf("role after BecomeMaster: %+v", r)
	}
	resp := rawSend(t, c, replica.Advertise(), "promote", 0, "after")
	if resp.Code != remoting.ResponseSuccess {
		t.Fatalf("send to the promoted replica: %d %s", resp.Code, resp.Remark)
	}
	if off, _ := resp.Ext.Get("queueOffset"); off != "20" {
		t.Fatalf("first queue offset on the new master %s, want 20", off)
	}
	waitUntil(t, 5*time.Second, "the route to name the new master as id 0", func() bool {
		r := routeOf(t, c, ns, "promote")
		return r != nil && len(r.BrokerDatas) == 1 && r.BrokerDatas[0].BrokerAddrs[0] == replica.Advertise()
	})
}
