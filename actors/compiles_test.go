package actors

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cometmq/comet/internal/testutil"
	"github.com/cometmq/comet/netio"
	"github.com/cometmq/comet/netio/remoting"
	"github.com/cometmq/comet/sqlfilter"
)

// syncBuffer is a log destination tests can read while the broker writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

// loggedBroker is startTestBroker with its log kept in a buffer.
func loggedBroker(t *testing.T, mutate func(*BrokerOptions)) (*Broker, *syncBuffer) {
	t.Helper()
	logs := &syncBuffer{}
	b := startTestBroker(t, t.TempDir(), func(o *BrokerOptions) {
		o.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
		if mutate != nil {
			mutate(o)
		}
	})
	t.Cleanup(func() { b.Stop(context.Background()) })
	return b, logs
}

// headerPull is a pull of queue 0 carrying its subscription in the header.
func headerPull(group, topic, exprType, expr string) *remoting.Command {
	h := remoting.PullHeader{ConsumerGroup: group, Topic: topic, MaxMsgNums: 32, SysFlag: remoting.PullFlagSubscription,
		Subscription: expr, ExpressionType: exprType, SubVersion: time.Now().UnixNano()}
	req := remoting.NewRequest(remoting.RequestPullMessage)
	h.Apply(req)
	return req
}

func invokeBroker(t *testing.T, c *remoting.Client, addr string, req *remoting.Command) *remoting.Command {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := c.Invoke(ctx, addr, req)
	if err != nil {
		t.Fatalf("%s: %v", remoting.RequestName(req.Code), err)
	}
	return resp
}

func freshExpr(prefix string) string {
	return fmt.Sprintf("%s = '%d'", prefix, time.Now().UnixNano())
}

func TestUncachedSQLIsCompiledByTheWorkerThenServedFromTheCache(t *testing.T) {
	b, _ := loggedBroker(t, nil)
	c := remoting.NewClient(remoting.ClientOptions{})
	defer c.Close()
	sendRaw(t, c, b.Addr(), "Compiled", "x", "")
	expr := freshExpr("a")
	resp := invokeBroker(t, c, b.Addr(), headerPull("g", "Compiled", ExprTypeSQL92, expr))
	if resp.Code != remoting.ResponsePullRetryImmediately && resp.Code != remoting.ResponsePullNotFound {
		t.Fatalf("pull with a new expression: %s %q", remoting.ResponseName(resp.Code), resp.Remark)
	}
	if got := b.compiles.jobs.Load(); got != 1 {
		t.Fatalf("%d compile jobs for one new expression, want 1", got)
	}
	compileCache().Wait()
	if _, known := cachedSQL(expr); !known {
		t.Skip("ristretto dropped the entry (allowed: the cache is a hint)")
	}
	invokeBroker(t, c, b.Addr(), headerPull("g", "Compiled", ExprTypeSQL92, expr))
	if got := b.compiles.jobs.Load(); got != 1 {
		t.Fatalf("a cached expression went to the compile worker again (%d jobs)", got)
	}
}

func TestFullCompileQueueAnswersSystemBusyAtOnce(t *testing.T) {
	b, _ := loggedBroker(t, nil)
	c := remoting.NewClient(remoting.ClientOptions{})
	defer c.Close()
	sendRaw(t, c, b.Addr(), "Busy", "x", "")
	// Hold the worker, then fill the ring behind it.
	release := make(chan struct{})
	holding := make(chan struct{})
	dummy := &netio.Request{}
	b.compiles.ring.TryPush(&compileJob{req: dummy, finish: func() { close(holding); <-release }})
	<-holding
	for b.compiles.ring.TryPush(&compileJob{req: dummy, finish: func() {}}) {
	}
	start := time.Now()
	resp := invokeBroker(t, c, b.Addr(), headerPull("g", "Busy", ExprTypeSQL92, freshExpr("b")))
	if resp.Code != remoting.ResponseSystemBusy || !strings.Contains(resp.Remark, "COMPILE_QUEUE_FULL") {
		t.Fatalf("pull with the compile queue full: %s %q", remoting.ResponseName(resp.Code), resp.Remark)
	}
	if waited := time.Since(start); waited > 2*time.Second {
		t.Fatalf("the refusal took %v", waited)
	}
	if b.compiles.busy.Load() != 1 {
		t.Fatalf("busy counter %d, want 1", b.compiles.busy.Load())
	}
	close(release)
	testutil.WaitFor(t, 5*time.Second, "the queue to drain", func() bool { return b.compiles.ring.Stats().Depth == 0 })
	resp = invokeBroker(t, c, b.Addr(), headerPull("g", "Busy", ExprTypeSQL92, freshExpr("b")))
	if resp.Code == remoting.ResponseSystemBusy {
		t.Fatalf("still busy after the queue drained: %q", resp.Remark)
	}
}

func TestOverlongExpressionsAreRefusedAndLoggedShort(t *testing.T) {
	b, logs := loggedBroker(t, nil)
	c := remoting.NewClient(remoting.ClientOptions{})
	defer c.Close()
	sendRaw(t, c, b.Addr(), "Long", "x", "")
	huge := strings.Repeat("(", 1<<20) + "a = 'x'"
	for _, tc := range []struct{ typ, expr string }{
		{ExprTypeSQL92, huge},
		{ExprTypeTag, strings.Repeat("t||", maxTagExpressionBytes)},
	} {
		for range 3 {
			resp := invokeBroker(t, c, b.Addr(), headerPull("long", "Long", tc.typ, tc.expr))
			if resp.Code != remoting.ResponseSubscriptionParseFailed || !strings.Contains(resp.Remark, "longer than") {
				t.Fatalf("%s pull with a %d-byte expression: %s %q", tc.typ, len(tc.expr), remoting.ResponseName(resp.Code), resp.Remark)
			}
		}
	}
	if b.compiles.jobs.Load() != 0 {
		t.Fatalf("an over-long expression went to the compile worker")
	}
	out := logs.String()
	if n := strings.Count(out, "subscription expression refused"); n != 2 {
		t.Fatalf("%d refusal lines for 2 expressions pulled 3 times each:\n%.2000s", n, out)
	}
	if len(out) > 8<<10 {
		t.Fatalf("refusals wrote %d bytes of log: expressions are logged whole", len(out))
	}
	if !strings.Contains(out, "expression.bytes=1048583") || !strings.Contains(out, "expression.xxhash=") {
		t.Fatalf("the refusal does not name the expression's length and hash:\n%.2000s", out)
	}
}

// heartbeatRequest registers group as a consumer of topic with one
// subscription.
func heartbeatRequest(t *testing.T, group, topic, typ, expr string) *remoting.Command {
	t.Helper()
	hb := heartbeatData{ClientID: "hb-client", ConsumerDataSet: []consumerData{{GroupName: group, ConsumeType: "CONSUME_PASSIVELY",
		MessageModel: "CLUSTERING", SubscriptionDataSet: []subscriptionData{{Topic: topic, SubString: expr, ExpressionType: typ}}}}}
	body, err := json.Marshal(hb)
	if err != nil {
		t.Fatal(err)
	}
	req := remoting.NewRequest(remoting.RequestHeartbeat)
	req.Body = body
	return req
}

func TestHeartbeatSQLIsCompiledOffTheLoopAndOverlongIsNotKept(t *testing.T) {
	b, _ := loggedBroker(t, nil)
	c := remoting.NewClient(remoting.ClientOptions{})
	defer c.Close()
	sendRaw(t, c, b.Addr(), "Beat", "x", "")
	expr := freshExpr("hb")
	if resp := invokeBroker(t, c, b.Addr(), heartbeatRequest(t, "hbg", "Beat", ExprTypeSQL92, expr)); resp.Code != remoting.ResponseSuccess {
		t.Fatalf("heartbeat: %s %q", remoting.ResponseName(resp.Code), resp.Remark)
	}
	if b.compiles.jobs.Load() != 1 {
		t.Fatalf("%d compile jobs for a heartbeat with a new expression, want 1", b.compiles.jobs.Load())
	}
	sub, ok := b.groups.subscription("hbg", "Beat")
	if !ok || sub.SQL == nil || sub.Expr != expr {
		t.Fatalf("registered subscription: %+v", sub)
	}
	// The same heartbeat again compiles nothing: the expression is registered.
	invokeBroker(t, c, b.Addr(), heartbeatRequest(t, "hbg", "Beat", ExprTypeSQL92, expr))
	if b.compiles.jobs.Load() != 1 {
		t.Fatalf("a repeated heartbeat went to the compile worker")
	}

	huge := strings.Repeat("a = 'x' OR ", 100_000) + "a = 'y'"
	if resp := invokeBroker(t, c, b.Addr(), heartbeatRequest(t, "hbg", "Beat", ExprTypeSQL92, huge)); resp.Code != remoting.ResponseSuccess {
		t.Fatalf("heartbeat with an over-long expression: %s %q", remoting.ResponseName(resp.Code), resp.Remark)
	}
	sub, _ = b.groups.subscription("hbg", "Beat")
	if sub.ParseErr == nil || len(sub.Expr) > 100 {
		t.Fatalf("over-long expression registered as %d bytes, err %v", len(sub.Expr), sub.ParseErr)
	}
	pull := pullRequestFor("hbg", "Beat")
	if resp := invokeBroker(t, c, b.Addr(), pull); resp.Code != remoting.ResponseSubscriptionParseFailed {
		t.Fatalf("pull of a group with an over-long expression: %s %q", remoting.ResponseName(resp.Code), resp.Remark)
	}
}

// pullRequestFor is a pull of queue 0 with the group's registered
// subscription.
func pullRequestFor(group, topic string) *remoting.Command {
	h := remoting.PullHeader{ConsumerGroup: group, Topic: topic, MaxMsgNums: 32}
	req := remoting.NewRequest(remoting.RequestPullMessage)
	h.Apply(req)
	return req
}

func TestCheckClientConfig(t *testing.T) {
	b, _ := loggedBroker(t, nil)
	c := remoting.NewClient(remoting.ClientOptions{})
	defer c.Close()
	cases := []struct {
		body string
		want int16
	}{
		{`{"clientId":"c","group":"g","subscriptionData":{"topic":"T","subString":"` + freshExpr("a") + `","expressionType":"SQL92"}}`, remoting.ResponseSuccess},
		{`{"clientId":"c","group":"g","subscriptionData":{"topic":"T","subString":"a >","expressionType":"SQL92"}}`, remoting.ResponseSubscriptionParseFailed},
		{`{"clientId":"c","group":"g","subscriptionData":{"topic":"T","subString":"` + strings.Repeat("x", sqlfilter.MaxExpressionBytes) +
			` = 1","expressionType":"SQL92"}}`, remoting.ResponseSubscriptionParseFailed},
		{`{"clientId":"c","group":"g","subscriptionData":{"topic":"T","subString":"a || b","expressionType":"TAG"}}`, remoting.ResponseSuccess},
		{`{not json`, remoting.ResponseSystemError},
	}
	for _, tc := range cases {
		req := remoting.NewRequest(remoting.RequestCheckClientConfig)
		req.Body = []byte(tc.body)
		if resp := invokeBroker(t, c, b.Addr(), req); resp.Code != tc.want {
			t.Errorf("%.80s: %s %q, want %s", tc.body, remoting.ResponseName(resp.Code), resp.Remark, remoting.ResponseName(tc.want))
		}
	}
}
