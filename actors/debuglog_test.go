package actors

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/cometmq/comet/internal/testutil"
	"github.com/cometmq/comet/netio/remoting"
)

// TestDebugLinesWhileTrafficFlows: at debug level a person watching sees
// connections open and close and a traffic summary while messages move.
func TestDebugLinesWhileTrafficFlows(t *testing.T) {
	logs := &syncBuffer{}
	b := startTestBroker(t, t.TempDir(), func(o *BrokerOptions) {
		o.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	t.Cleanup(func() { b.Stop(context.Background()) })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go b.logTraffic(ctx, 20*time.Millisecond)

	c := remoting.NewClient(remoting.ClientOptions{})
	for i := range 5 {
		h := remoting.SendHeader{ProducerGroup: "pg", Topic: "Watched", DefaultTopic: remoting.AutoCreateTopicKey,
			DefaultTopicQueueNums: 4, QueueID: int32(i % 2), BornTimestamp: time.Now().UnixMilli()}
		req := remoting.NewRequest(remoting.RequestSendMessage)
		h.Apply(req)
		req.Body = []byte("payload")
		if resp := invokeBroker(t, c, b.Addr(), req); resp.Code != remoting.ResponseSuccess {
			t.Fatalf("send: %s", resp.Remark)
		}
	}
	testutil.WaitFor(t, 10*time.Second, "a traffic summary", func() bool {
		return strings.Contains(logs.String(), `msg="actors: traffic"`) && strings.Contains(logs.String(), "putPerSecond=")
	})
	if !strings.Contains(logs.String(), `msg="actors: connection opened"`) {
		t.Errorf("no connection opened line:\n%s", logs.String())
	}
	c.Close()
	testutil.WaitFor(t, 10*time.Second, "a connection closed line", func() bool {
		return strings.Contains(logs.String(), `msg="actors: connection closed"`)
	})
}

// TestNoDebugLinesAtInfo: the same traffic at info level logs none of them.
func TestNoDebugLinesAtInfo(t *testing.T) {
	b, logs := loggedBroker(t, nil)
	if b.debugEnabled() {
		t.Fatal("debug enabled at info level: the traffic summary would run")
	}
	c := remoting.NewClient(remoting.ClientOptions{})
	h := remoting.SendHeader{ProducerGroup: "pg", Topic: "Quiet", DefaultTopic: remoting.AutoCreateTopicKey,
		DefaultTopicQueueNums: 4, BornTimestamp: time.Now().UnixMilli()}
	req := remoting.NewRequest(remoting.RequestSendMessage)
	h.Apply(req)
	req.Body = []byte("x")
	invokeBroker(t, c, b.Addr(), req)
	c.Close()
	testutil.WaitFor(t, 10*time.Second, "the connection's close handled", func() bool { return b.server.Stats().Connections == 0 })
	for _, line := range []string{"connection opened", "connection closed"} {
		if strings.Contains(logs.String(), line) {
			t.Errorf("%q logged at info level:\n%s", line, logs.String())
		}
	}
}
