package actors

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/cometmq/comet/internal/testutil"
	"github.com/cometmq/comet/netio/remoting"
)

// longPoll is a pull of an empty queue that asks to wait 20 s.
func longPoll(topic string, queueID int32) *remoting.Command {
	h := remoting.PullHeader{ConsumerGroup: "lp", Topic: topic, QueueID: queueID, MaxMsgNums: 32,
		SysFlag: remoting.PullFlagSuspend | remoting.PullFlagSubscription, SuspendTimeoutMillis: 20_000,
		Subscription: "*", ExpressionType: ExprTypeTag}
	req := remoting.NewRequest(remoting.RequestPullMessage)
	h.Apply(req)
	return req
}

// startLongPolls sends n long polls through c and returns the channel their
// answers arrive on (nil for a transport error).
func startLongPolls(c *remoting.Client, addr, topic string, n int) <-chan *remoting.Command {
	out := make(chan *remoting.Command, n)
	for i := range n {
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			resp, err := c.Invoke(ctx, addr, longPoll(topic, int32(1+i%3)))
			if err != nil {
				resp = nil
			}
			out <- resp
		}()
	}
	return out
}

func expectBusy(t *testing.T, answers <-chan *remoting.Command, what string) {
	t.Helper()
	select {
	case resp := <-answers:
		if resp == nil || resp.Code != remoting.ResponseSystemBusy || !strings.Contains(resp.Remark, "PULL_PARK_LIMIT") {
			t.Fatalf("%s: got %+v, want SYSTEM_BUSY", what, resp)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("%s: no answer within 5 s: the excess pull was parked", what)
	}
}

func TestParkedPullsAreBoundedPerConnectionAndBroker(t *testing.T) {
	b, logs := loggedBroker(t, func(o *BrokerOptions) { o.MaxParkedPulls, o.MaxParkedPullsPerConn = 6, 4 })
	producer := remoting.NewClient(remoting.ClientOptions{})
	defer producer.Close()
	sendRaw(t, producer, b.Addr(), "Parked", "x", "") // creates the topic; queues 1..3 stay empty

	first := remoting.NewClient(remoting.ClientOptions{})
	answers := startLongPolls(first, b.Addr(), "Parked", 5)
	expectBusy(t, answers, "fifth long poll on one connection")
	testutil.WaitFor(t, 5*time.Second, "4 parked pulls", func() bool { return b.hold.parked.Load() == 4 })

	second := remoting.NewClient(remoting.ClientOptions{})
	defer second.Close()
	more := startLongPolls(second, b.Addr(), "Parked", 3)
	expectBusy(t, more, "long poll beyond the broker's limit")
	testutil.WaitFor(t, 5*time.Second, "6 parked pulls", func() bool { return b.hold.parked.Load() == 6 })
	if got := [2]int64{b.hold.refused.perConn.Load(), b.hold.refused.total.Load()}; got != [2]int64{1, 1} {
		t.Fatalf("refusals per connection and broker-wide: %v, want [1 1]", got)
	}
	if !strings.Contains(logs.String(), "long polls refused") {
		t.Fatal("refused long polls were not logged")
	}

	// The pulls of a closed connection leave the hold.
	first.Close()
	testutil.WaitFor(t, 5*time.Second, "the closed connection's pulls to be dropped", func() bool { return b.hold.parked.Load() == 2 })
	// The parked ones are still answered when a message arrives.
	for q := int32(1); q <= 3; q++ {
		sendQueue(t, producer, b.Addr(), "Parked", q)
	}
	for range 2 {
		select {
		case resp := <-more:
			if resp == nil || resp.Code != remoting.ResponseSuccess {
				t.Fatalf("parked pull after a message arrived: %+v", resp)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("a parked pull was not answered when a message arrived")
		}
	}
	testutil.WaitFor(t, 5*time.Second, "an empty hold", func() bool { return b.hold.parked.Load() == 0 })
}

// sendQueue stores one message in a chosen queue.
func sendQueue(t *testing.T, c *remoting.Client, addr, topic string, queueID int32) {
	t.Helper()
	h := remoting.SendHeader{ProducerGroup: "pg", Topic: topic, DefaultTopic: "TBW102", DefaultTopicQueueNums: 4,
		QueueID: queueID, BornTimestamp: time.Now().UnixMilli()}
	req := remoting.NewRequest(remoting.RequestSendMessage)
	h.Apply(req)
	req.Body = []byte("wake")
	if resp := invokeBroker(t, c, addr, req); resp.Code != remoting.ResponseSuccess {
		t.Fatalf("send: %s %q", remoting.ResponseName(resp.Code), resp.Remark)
	}
}
