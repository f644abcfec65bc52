package main

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apache/rocketmq-client-go/v2"
	"github.com/apache/rocketmq-client-go/v2/consumer"
	"github.com/apache/rocketmq-client-go/v2/primitive"

	"github.com/cometmq/comet/internal/testutil"
	"github.com/cometmq/comet/netio/remoting"
)

const sqlBetween = "a BETWEEN 0 AND 3"

// sendSQLMix sends n messages to topic: message i carries a = i%8, except
// every fifth has no property a and every seventh has a = "x" (which
// cannot be compared with a number). It returns the bodies that
// sqlBetween matches.
func sendSQLMix(t *testing.T, p rocketmq.Producer, topic, prefix string, n int) []string {
	t.Helper()
	var want []string
	for i := range n {
		body := fmt.Sprintf("%s-%d", prefix, i)
		m := primitive.NewMessage(topic, []byte(body))
		switch {
		case i%5 == 4:
		case i%7 == 6:
			m.WithProperty("a", "x")
		default:
			m.WithProperty("a", strconv.Itoa(i%8))
			if i%8 <= 3 {
				want = append(want, body)
			}
		}
		sendSyncOK(t, p, m)
	}
	return want
}

func TestSQL92PushConsumerReceivesExactlyTheMatches(t *testing.T) {
	nsAddr, b := startComet(t, t.TempDir())
	p := startProducer(t, nsAddr)
	const topic = "SQLFiltered"
	want := sendSQLMix(t, p, topic, "m", 80)
	group := uniqueName("sqlg")
	sink := &collector{}
	startPushConsumer(t, nsAddr, group, topic, consumer.MessageSelector{Type: consumer.SQL92, Expression: sqlBetween}, sink)
	requireExactly(t, sink, want, 30*time.Second)

	// The broker filters with the subscription the push consumer
	// registered in its heartbeat: pulling every queue as that group,
	// without a subscription in the header, returns only the matches.
	raw := newRawClient(t)
	var pulled []string
	for q := int32(0); q < 4; q++ {
		for _, m := range pullQueue(t, raw, b.Addr(), pullSpec{group: group, topic: topic, queueID: q}) {
			pulled = append(pulled, string(m.Body))
		}
	}
	if got, exp := strings.Join(sortedCopy(pulled), ","), strings.Join(sortedCopy(want), ","); got != exp {
		t.Fatalf("broker-side filter returned %v\nwant %v", pulled, want)
	}

	// Messages sent while the consumer runs are filtered the same way.
	more := sendSQLMix(t, p, topic, "late", 40)
	requireExactly(t, sink, append(want, more...), 30*time.Second)
}

func TestSQL92FilterInPullHeader(t *testing.T) {
	nsAddr, b := startComet(t, t.TempDir())
	p := startProducer(t, nsAddr)
	const topic = "SQLHeader"
	want := sendSQLMix(t, p, topic, "h", 60)
	for i := range 4 {
		m := primitive.NewMessage(topic, []byte("tagged-"+strconv.Itoa(i))).WithTag("TagA")
		m.WithKeys([]string{"k" + strconv.Itoa(i), "shared"})
		sendSyncOK(t, p, m)
	}
	raw := newRawClient(t)
	pullAllQueues := func(expr string) []string {
		var out []string
		for q := int32(0); q < 4; q++ {
			spec := pullSpec{group: uniqueName("hdr"), topic: topic, queueID: q, expr: expr, exprType: "SQL92"}
			for _, m := range pullQueue(t, raw, b.Addr(), spec) {
				out = append(out, string(m.Body))
			}
		}
		return sortedCopy(out)
	}
	if got, exp := pullAllQueues(sqlBetween), sortedCopy(want); strings.Join(got, ",") != strings.Join(exp, ",") {
		t.Fatalf("pull with an SQL92 header returned %v\nwant %v", got, exp)
	}
	tagged := pullAllQueues("TAGS = 'TagA' AND KEYS CONTAINS 'shared'")
	if strings.Join(tagged, ",") != "tagged-0,tagged-1,tagged-2,tagged-3" {
		t.Fatalf("TAGS/KEYS filter returned %v", tagged)
	}
}

func TestSQL92BadExpressionIsRefusedWithoutDisturbingOthers(t *testing.T) {
	nsAddr, b := startComet(t, t.TempDir())
	p := startProducer(t, nsAddr)
	const topic = "SQLBad"
	warmUp := primitive.NewMessage(topic, []byte("warm-up"))
	warmUp.WithProperty("a", "9")
	sendSyncOK(t, p, warmUp)

	badGroup := uniqueName("bad")
	badSink := &collector{}
	startPushConsumer(t, nsAddr, badGroup, topic, consumer.MessageSelector{Type: consumer.SQL92, Expression: "a > 'x'"}, badSink)
	raw := newRawClient(t)
	// Its pulls (which carry no subscription) are refused with
	// SUBSCRIPTION_PARSE_FAILED once its heartbeat registered it.
	var resp *remoting.Command
	testutil.WaitFor(t, 10*time.Second, "the bad subscription to be registered", func() bool {
		resp = invoke(t, raw, b.Addr(), pullRequest(pullSpec{group: badGroup, topic: topic}, 0))
		return resp.Code != remoting.ResponseSubscriptionNotExist
	})
	if resp.Code != remoting.ResponseSubscriptionParseFailed || !strings.Contains(resp.Remark, badGroup) {
		t.Fatalf("pull of the bad group: code %d %q", resp.Code, resp.Remark)
	}
	// A pull carrying a bad expression in its header is refused too.
	resp = invoke(t, raw, b.Addr(), pullRequest(pullSpec{group: uniqueName("hdr"), topic: topic, expr: "a = 'x' garbage", exprType: "SQL92"}, 0))
	if resp.Code != remoting.ResponseSubscriptionParseFailed {
		t.Fatalf("pull with a bad header expression: code %d %q", resp.Code, resp.Remark)
	}

	goodSink := &collector{}
	startPushConsumer(t, nsAddr, uniqueName("good"), topic, consumer.MessageSelector{Type: consumer.SQL92, Expression: sqlBetween}, goodSink)
	want := sendSQLMix(t, p, topic, "g", 40)
	requireExactly(t, goodSink, want, 30*time.Second)
	if bodies, _ := badSink.Snapshot(); len(bodies) != 0 {
		t.Fatalf("the consumer with a bad expression received %v", bodies)
	}
}

// pullSpec says what a raw pull asks for.
type pullSpec struct {
	group, topic   string
	queueID        int32
	expr, exprType string // when exprType is set the header carries the subscription
}

func pullRequest(s pullSpec, offset int64) *remoting.Command {
	h := remoting.PullHeader{ConsumerGroup: s.group, Topic: s.topic, QueueID: s.queueID, QueueOffset: offset,
		MaxMsgNums: 32, SysFlag: remoting.PullFlagSuspend, SuspendTimeoutMillis: 200, ExpressionType: "TAG"}
	if s.exprType != "" {
		h.SysFlag |= remoting.PullFlagSubscription
		h.Subscription, h.ExpressionType, h.SubVersion = s.expr, s.exprType, time.Now().UnixNano()
	}
	req := remoting.NewRequest(remoting.RequestPullMessage)
	h.Apply(req)
	return req
}

// pullQueue pulls one queue from offset 0 to its max offset and returns
// every message delivered.
func pullQueue(t *testing.T, c *remoting.Client, addr string, s pullSpec) []*remoting.MessageExt {
	t.Helper()
	var out []*remoting.MessageExt
	offset := int64(0)
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		resp := invoke(t, c, addr, pullRequest(s, offset))
		rh, err := remoting.ParsePullResponseHeader(resp)
		if err != nil {
			t.Fatalf("pull: code %d %q: %v", resp.Code, resp.Remark, err)
		}
		switch resp.Code {
		case remoting.ResponseSuccess:
			msgs, err := remoting.DecodeMessages(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, msgs...)
		case remoting.ResponsePullNotFound, remoting.ResponsePullRetryImmediately:
		default:
			t.Fatalf("pull: code %d %q", resp.Code, resp.Remark)
		}
		if rh.NextBeginOffset < offset {
			t.Fatalf("pull at %d answered next offset %d", offset, rh.NextBeginOffset)
		}
		offset = rh.NextBeginOffset
		if offset >= rh.MaxOffset {
			return out
		}
	}
	t.Fatalf("pull of %s/%d did not reach the max offset", s.topic, s.queueID)
	return nil
}

func sortedCopy(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return out
}
