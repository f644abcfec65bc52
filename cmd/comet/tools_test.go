package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/apache/rocketmq-client-go/v2"
	"github.com/apache/rocketmq-client-go/v2/consumer"
	"github.com/apache/rocketmq-client-go/v2/primitive"

	"github.com/cometmq/comet/internal/cluster"
	"github.com/cometmq/comet/internal/testutil"
	"github.com/cometmq/comet/netio/remoting"
)

// regionSink keeps the MSG_REGION and TRACE_ON properties of what it
// consumes.
type regionSink struct{ got chan [2]string }

func (s *regionSink) handle(_ context.Context, msgs ...*primitive.MessageExt) (consumer.ConsumeResult, error) {
	for _, m := range msgs {
		select {
		case s.got <- [2]string{m.GetProperty("MSG_REGION"), m.GetProperty("TRACE_ON")}:
		default:
		}
	}
	return consumer.ConsumeSuccess, nil
}

// TestStoredMessagesCarryRegionAndTraceSwitch: a consumer (and so its
// trace hook's SubBefore record) sees the broker's region and trace
// switch in every message, as RocketMQ stores them.
func TestStoredMessagesCarryRegionAndTraceSwitch(t *testing.T) {
	env := cluster.StartTest(t, nil)
	topic := uniqueName("RegionTopic")
	sendSyncOK(t, startProducer(t, env.NamesrvAddr), primitive.NewMessage(topic, []byte("r")))
	sink := &regionSink{got: make(chan [2]string, 1)}
	waitForRoute(t, env.NamesrvAddr, topic)
	c, err := rocketmq.NewPushConsumer(consumer.WithNameServer([]string{env.NamesrvAddr}),
		consumer.WithGroupName(uniqueName("regioncg")), consumer.WithConsumeFromWhere(consumer.ConsumeFromFirstOffset))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Subscribe(topic, consumer.MessageSelector{}, sink.handle); err != nil {
		t.Fatal(err)
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Shutdown() })
	select {
	case got := <-sink.got:
		if got != [2]string{"DefaultRegion", "true"} {
			t.Fatalf("MSG_REGION, TRACE_ON = %q, want DefaultRegion, true", got)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("nothing consumed")
	}
}

// TestConsumerRunningInfoIsForwardedToTheClient sends
// GET_CONSUMER_RUNNING_INFO as mqadmin consumerStatus does and gets the
// official client's own answer back through the broker.
func TestConsumerRunningInfoIsForwardedToTheClient(t *testing.T) {
	env := cluster.StartTest(t, nil)
	topic, group := uniqueName("RunInfoTopic"), uniqueName("runinfocg")
	sendSyncOK(t, startProducer(t, env.NamesrvAddr), primitive.NewMessage(topic, []byte("x")))
	startPushConsumer(t, env.NamesrvAddr, group, topic, consumer.MessageSelector{}, &collector{})
	raw := newRawClient(t)
	var clientID string
	testutil.WaitFor(t, 20*time.Second, "the consumer online", func() bool {
		req := remoting.NewRequest(remoting.RequestGetConsumerListByGroup)
		req.Ext.Set(remoting.ExtConsumerGroup, group)
		resp := invoke(t, raw, env.BrokerAddr, req)
		var body struct {
			ConsumerIDList []string `json:"consumerIdList"`
		}
		if resp.Code != remoting.ResponseSuccess || json.Unmarshal(resp.Body, &body) != nil || len(body.ConsumerIDList) == 0 {
			return false
		}
		clientID = body.ConsumerIDList[0]
		return true
	})
	req := remoting.NewRequest(remoting.RequestGetConsumerRunningInfo)
	req.Ext.Set("consumerGroup", group)
	req.Ext.Set("clientId", clientID)
	req.Ext.Set("jstackEnable", "false")
	resp := invoke(t, raw, env.BrokerAddr, req)
	if resp.Code != remoting.ResponseSuccess || !strings.Contains(string(resp.Body), topic) {
		t.Fatalf("running info: %s %q body %.300s, want the client's info naming %s", remoting.ResponseName(resp.Code),
			resp.Remark, resp.Body, topic)
	}
	req = remoting.NewRequest(remoting.RequestGetConsumerRunningInfo)
	req.Ext.Set("consumerGroup", group)
	req.Ext.Set("clientId", "10.9.9.9@nobody")
	if resp := invoke(t, raw, env.BrokerAddr, req); resp.Code != remoting.ResponseSystemError || !strings.Contains(resp.Remark, "not online") {
		t.Fatalf("unknown client: %d %q, want SYSTEM_ERROR not online", resp.Code, resp.Remark)
	}
}
