package client

import (
	"context"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/cometmq/comet/actors"
	"github.com/cometmq/comet/internal/cluster"
	"github.com/cometmq/comet/internal/testutil"
	"github.com/cometmq/comet/netio/remoting"
)

// TestProducerFollowsANewMasterAtOnce moves the master of a broker group
// twice while an SDK producer with the default 30 s route refresh sends:
// first the master becomes a replica and its replica the master (sends to
// the old address are answered SERVICE_NOT_AVAILABLE), then the new
// master stops and the first becomes master again (sends to its address
// find no connection). Each time the producer must send to the new master
// within a second, not at its next periodic refresh.
func TestProducerFollowsANewMasterAtOnce(t *testing.T) {
	group := func(id int64) func(*actors.BrokerOptions) {
		return func(o *actors.BrokerOptions) {
			o.BrokerName, o.BrokerID, o.HAListen = "fo", id, "127.0.0.1:0"
		}
	}
	env := cluster.StartTest(t, group(0))
	a := env.Broker
	opts := actors.BrokerOptions{DataDir: t.TempDir(), Listen: "127.0.0.1:0", NamesrvAddrs: []string{env.NamesrvAddr},
		AutoCreateTopic: true, Logger: testLogger(), SegmentSize: 64 << 20}
	group(1)(&opts)
	b, err := actors.NewBroker(opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Stop(context.Background()) })

	c := newTestClient(t, env)
	topic := uniqueTopic(t)
	createTopic(t, c, topic, 2)
	p := newProducer(t, c)
	sendN(t, p, topic, "before", 5)
	testutil.WaitFor(t, 10*time.Second, "the replica to catch up", func() bool {
		return b.Store().WrittenOffset() == a.Store().WrittenOffset()
	})

	requireSendsTo := func(what string, master *actors.Broker) {
		t.Helper()
		start := time.Now()
		testutil.WaitFor(t, 5*time.Second, what, func() bool {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			res, err := p.SendSync(ctx, NewMessage(topic, []byte("probe")))
			return err == nil && storedBy(res.OffsetMsgID) == master.Advertise()
		})
		if took := time.Since(start); took > time.Second {
			t.Fatalf("%s took %v; the route refresh is 30 s, a failure must trigger one at once", what, took)
		}
	}

	if err := a.BecomeReplica(b.HAAddr(), 1); err != nil {
		t.Fatal(err)
	}
	if err := b.BecomeMaster(1); err != nil {
		t.Fatal(err)
	}
	requireSendsTo("sends on the promoted replica", b)

	b.Stop(context.Background())
	if err := a.BecomeMaster(2); err != nil {
		t.Fatal(err)
	}
	requireSendsTo("sends on the first broker, master again", a)
}

// storedBy is the ip:port of the broker that stored a message, from its
// offset message id.
func storedBy(offsetMsgID string) string {
	ip, port, _, err := remoting.ParseOffsetMsgID(offsetMsgID)
	if err != nil {
		return ""
	}
	return net.JoinHostPort(ip.String(), strconv.Itoa(int(port)))
}
