package main

import (
	"fmt"
	"testing"
	"time"

	"github.com/apache/rocketmq-client-go/v2/consumer"
	"github.com/apache/rocketmq-client-go/v2/primitive"

	"github.com/cometmq/comet/actors"
	"github.com/cometmq/comet/internal/cluster"
	"github.com/cometmq/comet/netio/remoting"
)

// TestVIPChannelServesTheOfficialClient points every client request at
// the VIP port (the broker advertises it, so routes name it) and checks
// that sends, consumer heartbeats, offsets and pulls all work there, while
// the main port keeps serving too.
func TestVIPChannelServesTheOfficialClient(t *testing.T) {
	vip := freeLoopbackAddr(t)
	env := cluster.StartTest(t, func(o *actors.BrokerOptions) { o.VIPListen, o.Advertise = vip, vip })
	if env.Broker.VIPAddr() != vip {
		t.Fatalf("VIPAddr() = %q, want %q", env.Broker.VIPAddr(), vip)
	}
	topic, group := uniqueName("VipTopic"), uniqueName("vipcg")
	p := startProducer(t, env.NamesrvAddr)
	var want []string
	for i := range 20 {
		body := fmt.Sprintf("vip-%d", i)
		res := sendSyncOK(t, p, primitive.NewMessage(topic, []byte(body)))
		if res.OffsetMsgID == "" {
			t.Fatalf("send %d: no offset message id", i)
		}
		want = append(want, body)
	}
	sink := &collector{}
	startPushConsumer(t, env.NamesrvAddr, group, topic, consumer.MessageSelector{}, sink)
	requireExactly(t, sink, want, 30*time.Second)

	raw := newRawClient(t)
	for _, addr := range []string{env.Broker.Addr(), vip} {
		req := remoting.NewRequest(remoting.RequestGetConsumerListByGroup)
		req.Ext.Set(remoting.ExtConsumerGroup, group)
		if resp := invoke(t, raw, addr, req); resp.Code != remoting.ResponseSuccess {
			t.Fatalf("consumer list via %s: %d %s", addr, resp.Code, resp.Remark)
		}
	}
}
