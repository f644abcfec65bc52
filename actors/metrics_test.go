package actors

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cometmq/comet/internal/testutil"
	"github.com/cometmq/comet/netio/remoting"
)

func (m *brokerMetrics) putsOf(topic string) int64 {
	if c := (*m.topics.Load())[topic]; c != nil {
		return c.putMessages.Load()
	}
	return 0
}

func TestMetricsCountDelayedAndRetriedMessagesWhereTheyBecomeVisible(t *testing.T) {
	b, _ := loggedBroker(t, func(o *BrokerOptions) { o.DelayLevels = "50ms 50ms 50ms 50ms" })
	c := remoting.NewClient(remoting.ClientOptions{})
	defer c.Close()

	if resp := sendRaw(t, c, b.Addr(), "Later", "delayed", timerProps(200*time.Millisecond)); resp.Code != remoting.ResponseSuccess {
		t.Fatalf("delayed send: %s %q", remoting.ResponseName(resp.Code), resp.Remark)
	}
	// Puts are counted after the batch is published, which may follow the
	// acknowledgement: wait for the count rather than read it at once.
	testutil.WaitFor(t, 5*time.Second, remoting.ScheduleTopic+" to count the delayed message", func() bool {
		return b.metrics.putsOf(remoting.ScheduleTopic) == 1
	})
	testutil.WaitFor(t, 10*time.Second, "the delayed message to be delivered", func() bool { return b.TimerStats().Delivered.Load() == 1 })
	testutil.WaitFor(t, 5*time.Second, "the real topic to count it", func() bool { return b.metrics.putsOf("Later") == 1 })

	if resp := sendRaw(t, c, b.Addr(), "Failing", "fails", ""); resp.Code != remoting.ResponseSuccess {
		t.Fatalf("send: %s %q", remoting.ResponseName(resp.Code), resp.Remark)
	}
	e, ok := b.store.ConsumeQueue("Failing", 0).Entry(0)
	if !ok {
		t.Fatal("the sent message is not in queue 0")
	}
	back := remoting.NewRequest(remoting.RequestConsumerSendMsgBack)
	for k, v := range map[string]string{"group": "g", "offset": strconv.FormatInt(e.CommitLogOffset, 10), "delayLevel": "0",
		"maxReconsumeTimes": "16", "originTopic": "Failing"} {
		back.Ext.Set(k, v)
	}
	if resp := invokeBroker(t, c, b.Addr(), back); resp.Code != remoting.ResponseSuccess {
		t.Fatalf("send back: %s %q", remoting.ResponseName(resp.Code), resp.Remark)
	}
	testutil.WaitFor(t, 10*time.Second, "the retry to be delivered", func() bool { return b.metrics.retryMessages.Load() == 1 })
	testutil.WaitFor(t, 5*time.Second, "%RETRY%g to count the retry", func() bool {
		return b.metrics.putsOf(remoting.RetryGroupTopicPrefix+"g") == 1
	})
	if got := b.metrics.putsOf("Failing"); got != 1 {
		t.Fatalf("the original topic counted %d puts, want 1", got)
	}
}

func TestSendDuringStopIsToldTheBrokerIsStopping(t *testing.T) {
	b, _ := loggedBroker(t, nil)
	c := remoting.NewClient(remoting.ClientOptions{})
	defer c.Close()
	if resp := sendRaw(t, c, b.Addr(), "Stopping", "before", ""); resp.Code != remoting.ResponseSuccess {
		t.Fatalf("send: %s %q", remoting.ResponseName(resp.Code), resp.Remark)
	}
	// Broker.Stop drains the writer before it closes connections; a send
	// arriving in between meets a stopped writer.
	if err := b.writer.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	resp := sendRaw(t, c, b.Addr(), "Stopping", "during", "")
	if resp.Code != remoting.ResponseServiceNotAvailable || !strings.Contains(resp.Remark, "broker is stopping") {
		t.Fatalf("send during stop: %s %q, want SERVICE_NOT_AVAILABLE \"broker is stopping\"", remoting.ResponseName(resp.Code), resp.Remark)
	}
	if got := b.writer.Stats().Rejected.Load(); got != 0 {
		t.Fatalf("a send refused because the broker stops was counted as a full ring (%d)", got)
	}
}
