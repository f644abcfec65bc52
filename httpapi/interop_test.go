package httpapi

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	rocketmq "github.com/apache/rocketmq-client-go/v2"
	"github.com/apache/rocketmq-client-go/v2/consumer"
	"github.com/apache/rocketmq-client-go/v2/primitive"
	"github.com/apache/rocketmq-client-go/v2/producer"
	"github.com/apache/rocketmq-client-go/v2/rlog"

	"github.com/cometmq/comet/internal/admin"
	"github.com/cometmq/comet/internal/testutil"
)

func officialProducer(t *testing.T, ns string, opts ...producer.Option) rocketmq.Producer {
	t.Helper()
	rlog.SetLogLevel("error")
	opts = append([]producer.Option{producer.WithNameServer([]string{ns}), producer.WithRetry(2),
		producer.WithGroupName(fmt.Sprintf("official-pg-%d", time.Now().UnixNano()))}, opts...)
	p, err := rocketmq.NewProducer(opts...)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Shutdown() })
	return p
}

// received collects what an official push consumer got.
type received struct {
	mu   sync.Mutex
	msgs []*primitive.MessageExt
}

func (r *received) all() []*primitive.MessageExt {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.msgs)
}

func officialConsumer(t *testing.T, ns, group, topic string, opts ...consumer.Option) *received {
	t.Helper()
	opts = append([]consumer.Option{consumer.WithNameServer([]string{ns}), consumer.WithGroupName(group),
		consumer.WithConsumeFromWhere(consumer.ConsumeFromFirstOffset)}, opts...)
	c, err := rocketmq.NewPushConsumer(opts...)
	if err != nil {
		t.Fatal(err)
	}
	got := &received{}
	err = c.Subscribe(topic, consumer.MessageSelector{Type: consumer.TAG, Expression: "*"},
		func(_ context.Context, msgs ...*primitive.MessageExt) (consumer.ConsumeResult, error) {
			got.mu.Lock()
			got.msgs = append(got.msgs, msgs...)
			got.mu.Unlock()
			return consumer.ConsumeSuccess, nil
		})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Shutdown() })
	return got
}

// TestInteropWithOfficialClient: what the official Go client produces an
// HTTP fetch reads, and what HTTP produces the official consumer reads.
func TestInteropWithOfficialClient(t *testing.T) {
	e := newAPIEnv(t, nil)
	e.createTopic("Interop", 2)
	ns := e.cl.NamesrvAddr
	p := officialProducer(t, ns)
	for i := range 3 {
		m := primitive.NewMessage("Interop", fmt.Appendf(nil, "from-official-%d", i))
		m.WithTag("official")
		if res, err := p.SendSync(context.Background(), m); err != nil || res.Status != primitive.SendOK {
			t.Fatalf("official send: %v %v", res, err)
		}
	}
	var f fetched
	e.call("POST", "/groups/http-readers/fetch", map[string]any{"topic": "Interop", "tag": "official"}, &f)
	if len(f.Messages) != 3 || f.Messages[0].Tags != "official" {
		t.Fatalf("HTTP fetch of official sends: %+v", f.Messages)
	}

	sent := e.produce("Interop", map[string]any{"messages": []map[string]any{
		{"body": "from-http-0", "tag": "web", "keys": []string{"hk"}, "properties": map[string]string{"origin": "http"}},
		{"body": "from-http-1", "tag": "web"}}})
	got := officialConsumer(t, ns, "official-readers", "Interop")
	testutil.WaitFor(t, 30*time.Second, "the official consumer got all five", func() bool { return len(got.all()) == 5 })
	for _, m := range got.all() {
		if string(m.Body) == "from-http-0" {
			if m.GetTags() != "web" || m.GetKeys() != "hk" || m.GetProperty("origin") != "http" || m.MsgId != sent.Results[0].MsgID {
				t.Fatalf("HTTP message as the official client sees it: %+v", m)
			}
			return
		}
	}
	t.Fatal("the official consumer did not get from-http-0")
}

// TestTraceOfOfficialClients: the official clients' trace records and the
// broker's own copies show up in a message's trace.
func TestTraceOfOfficialClients(t *testing.T) {
	e := newAPIEnv(t, nil)
	e.createTopic("Traced", 1)
	ns := e.cl.NamesrvAddr
	trace := &primitive.TraceConfig{NamesrvAddrs: []string{ns}, Access: primitive.Local}
	p := officialProducer(t, ns, producer.WithTrace(trace))
	m := primitive.NewMessage("Traced", []byte("traced body"))
	m.WithKeys([]string{"tk"})
	res, err := p.SendSync(context.Background(), m)
	if err != nil || res.Status != primitive.SendOK {
		t.Fatalf("send: %v %v", res, err)
	}
	got := officialConsumer(t, ns, "traced-readers", "Traced", consumer.WithTrace(trace))
	testutil.WaitFor(t, 30*time.Second, "the traced message consumed", func() bool { return len(got.all()) == 1 })
	var tr traceAnswer
	defer func() {
		if t.Failed() {
			t.Logf("last trace: %+v", tr)
		}
	}()
	testutil.WaitFor(t, 15*time.Second, "producer and consumer trace records", func() bool {
		st := e.call("GET", "/messages/"+res.MsgID+"/trace?topic=Traced", nil, &tr)
		return st == http.StatusOK && len(tr.Produced) == 1 && len(tr.Consumed) == 1 && tr.Consumed[0].Result != "unknown"
	})
	if tr.Message == nil || tr.Message.Topic != "Traced" || tr.Produced[0].Group == "" || tr.Produced[0].Topic != "Traced" ||
		tr.Consumed[0].Group != "traced-readers" || tr.Consumed[0].Result != "success" {
		t.Fatalf("trace: %+v", tr)
	}
}

// TestDLQBrowseAndResend: a dead letter is listed, resent to its original
// topic, and found in that message's trace as a broker copy.
func TestDLQBrowseAndResend(t *testing.T) {
	e := newAPIEnv(t, nil)
	e.createTopic("Payments", 1)
	sent := e.produce("Payments", map[string]any{"body": "poison", "tag": "pay", "keys": []string{"pk"},
		"properties": map[string]string{"tenant": "t1"}})
	var f fetched
	e.call("POST", "/groups/payers/fetch", map[string]any{"topic": "Payments"}, &f)
	e.call("POST", "/groups/payers/commit", map[string]any{"offsets": f.Commit}, nil)
	sendBackToDLQ(t, e, "payers", f.Messages[0])

	var dead listing[[]admin.Message]
	testutil.WaitFor(t, 10*time.Second, "the dead letter listed", func() bool {
		return e.call("GET", "/groups/payers/dlq", nil, &dead) == 200 && len(dead.Items) == 1
	})
	d := dead.Items[0]
	if d.Body != "poison" || d.Properties["RETRY_TOPIC"] != "Payments" {
		t.Fatalf("dead letter: %+v", d)
	}
	var tr traceAnswer
	e.call("GET", "/messages/"+sent.Results[0].OffsetMsgID+"/trace", nil, &tr)
	if len(tr.Broker) != 1 || tr.Broker[0].Topic != "%DLQ%payers" {
		t.Fatalf("trace of the dead letter's original: %+v", tr.Broker)
	}
	var resent listing[[]resendResult]
	if st := e.call("POST", "/groups/payers/dlq/resend", map[string]any{"msgIds": []string{d.OffsetMsgID, "bogus"}}, &resent); st != http.StatusMultiStatus {
		t.Fatalf("resend: status %d %+v", st, resent)
	}
	if r := resent.Items[0].Resent; r == nil || r.Topic != "Payments" || resent.Items[1].Error == "" {
		t.Fatalf("resend results: %+v", resent.Items)
	}
	e.call("POST", "/groups/payers/fetch", map[string]any{"topic": "Payments"}, &f)
	if len(f.Messages) != 1 || f.Messages[0].Body != "poison" || f.Messages[0].Tags != "pay" || f.Messages[0].Keys != "pk" ||
		f.Messages[0].Properties["tenant"] != "t1" || f.Messages[0].Properties["ORIGIN_MESSAGE_ID"] != d.MsgID {
		t.Fatalf("resent copy: %+v", f.Messages)
	}
}
