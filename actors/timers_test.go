package actors

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/cometmq/comet/internal/testutil"
	"github.com/cometmq/comet/netio/remoting"
	"github.com/cometmq/comet/persist"
)

func TestParseDelayLevels(t *testing.T) {
	got, err := ParseDelayLevels(DefaultDelayLevels)
	if err != nil || len(got) != 18 || got[0] != time.Second || got[17] != 2*time.Hour {
		t.Fatalf("default levels: %v %v", got, err)
	}
	if got, err := ParseDelayLevels("250ms 1d"); err != nil || got[0] != 250*time.Millisecond || got[1] != 24*time.Hour {
		t.Fatalf("ms and d units: %v %v", got, err)
	}
	for _, bad := range []string{"", "1x", "0s", "-1s", "s", "1.5s"} {
		if _, err := ParseDelayLevels(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestLadderNeverOvershootsAndTerminates(t *testing.T) {
	levels, _ := ParseDelayLevels(DefaultDelayLevels)
	l := newTimerLadder(levels, 36*time.Hour)
	if r, ok := l.rungFor(10_000); !ok || r.queue != 2 || r.ms != 10_000 {
		t.Fatalf("10 s should be delay level 3 (queue 2), got %+v %v", r, ok)
	}
	if _, ok := l.rungFor(15); ok {
		t.Fatal("15 ms fits no rung but rungFor said ok")
	}
	maxHops := 0
	for _, remaining := range []int64{16, 17, 999, 1001, 37_123, 3_599_999, 7_200_001, 36 * 3600 * 1000, 72 * 3600 * 1000} {
		hops := 0
		for {
			r, ok := l.rungFor(remaining)
			if !ok {
				break
			}
			if r.ms > remaining {
				t.Fatalf("rung %d ms overshoots %d ms", r.ms, remaining)
			}
			remaining -= r.ms
			hops++
		}
		if remaining >= 16 {
			t.Fatalf("stuck with %d ms left", remaining)
		}
		maxHops = max(maxHops, hops)
	}
	if maxHops > 12 {
		t.Fatalf("a delay took %d hops", maxHops)
	}
	for q, ms := range l.rungs {
		if ms > 36*3600*1000 && q >= maxDelayLevels {
			t.Fatalf("geometric rung %d of %d ms is longer than the cap", q, ms)
		}
	}
}

func persistMessage(topic string, props []byte) persist.Message {
	return persist.Message{Topic: topic, Body: []byte("x"), Properties: props}
}

func TestStripAndSetProperties(t *testing.T) {
	props := []byte("A\x011\x02DELAY\x013\x02\x02B\x012\x02")
	if got := stripProperties(props, "DELAY"); !bytes.Equal(got, []byte("A\x011\x02B\x012")) {
		t.Fatalf("strip: %q", got)
	}
	if got := setProperty([]byte("A\x011\x02B\x012"), "A", "9"); !bytes.Equal(got, []byte("B\x012\x02A\x019")) {
		t.Fatalf("set: %q", got)
	}
	if v, ok, err := propertyInt64([]byte("N\x01x"), "N"); !ok || err == nil || v != 0 {
		t.Fatalf("non-integer property: %v %v %v", v, ok, err)
	}
}

// startTestBroker runs a broker without a name server on a loopback port.
func startTestBroker(t testing.TB, dir string, mutate func(*BrokerOptions)) *Broker {
	t.Helper()
	var out io.Writer = io.Discard
	if os.Getenv("COMET_TEST_LOG") != "" {
		out = os.Stderr
	}
	opts := BrokerOptions{DataDir: dir, Listen: "127.0.0.1:0", AutoCreateTopic: true, SegmentSize: 16 << 20,
		Logger: slog.New(slog.NewTextHandler(out, &slog.HandlerOptions{Level: slog.LevelDebug}))}
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
	return b
}

// trySend is sendRaw for other goroutines: nil on a transport error.
func trySend(c *remoting.Client, addr, topic, body, props string) *remoting.Command {
	h := remoting.SendHeader{ProducerGroup: "pg", Topic: topic, DefaultTopic: "TBW102", DefaultTopicQueueNums: 4,
		QueueID: 0, BornTimestamp: time.Now().UnixMilli(), Properties: props}
	req := remoting.NewRequest(remoting.RequestSendMessage)
	h.Apply(req)
	req.Body = []byte(body)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := c.Invoke(ctx, addr, req)
	if err != nil {
		return nil
	}
	return resp
}

func sendRaw(t testing.TB, c *remoting.Client, addr, topic, body, props string) *remoting.Command {
	t.Helper()
	resp := trySend(c, addr, topic, body, props)
	if resp == nil {
		t.Fatalf("send to %s: transport error", topic)
	}
	return resp
}

// queueBodies reads every body stored in one queue.
func queueBodies(t testing.TB, b *Broker, topic string, queueID int32) []string {
	t.Helper()
	q := b.store.ConsumeQueue(topic, queueID)
	if q == nil {
		return nil
	}
	var out []string
	for off := q.MinOffset(); off < q.MaxOffset(); off++ {
		e, ok := q.Entry(off)
		if !ok {
			t.Fatalf("%s/%d: no entry at %d", topic, queueID, off)
		}
		rv, err := b.store.RecordAt(e.CommitLogOffset)
		if err != nil {
			t.Fatalf("%s/%d@%d: %v", topic, queueID, off, err)
		}
		out = append(out, string(rv.Body()))
	}
	return out
}

func timerProps(delay time.Duration) string {
	return string(remoting.AppendProperty(nil, remoting.PropertyTimerDelayMS, strconv.FormatInt(delay.Milliseconds(), 10)))
}

func TestTimerActorRestartsAfterPanicWithoutLosingTimers(t *testing.T) {
	b := startTestBroker(t, t.TempDir(), nil)
	defer b.Stop(context.Background())
	c := remoting.NewClient(remoting.ClientOptions{})
	defer c.Close()
	const n = 50
	for i := range n {
		resp := sendRaw(t, c, b.Addr(), "PanicT", "m"+strconv.Itoa(i), timerProps(time.Duration(200+10*i)*time.Millisecond))
		if resp.Code != remoting.ResponseSuccess {
			t.Fatalf("send: %d %s", resp.Code, resp.Remark)
		}
	}
	if !b.sendTimers(&injectPanic{}) || !b.sendTxns(&injectPanic{}) {
		t.Fatal("control plane not running")
	}
	testutil.WaitFor(t, 10*time.Second, "every timer delivered", func() bool { return len(queueBodies(t, b, "PanicT", 0)) >= n })
	got := queueBodies(t, b, "PanicT", 0)
	seen := map[string]bool{}
	for _, body := range got {
		seen[body] = true
	}
	if len(seen) != n {
		t.Fatalf("%d distinct of %d delivered", len(seen), n)
	}
	if b.TxnStats().Restarts.Load() == 0 {
		t.Fatal("transaction actor was not restarted after its panic")
	}
	// The counter moves when the actor applies the stored batch, just after
	// the messages became visible.
	testutil.WaitFor(t, 5*time.Second, "delivery counter", func() bool { return b.TimerStats().Delivered.Load() >= n })
}

func TestTimerLatenessUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("load test")
	}
	b := startTestBroker(t, t.TempDir(), nil)
	defer b.Stop(context.Background())
	c := remoting.NewClient(remoting.ClientOptions{})
	defer c.Close()
	var wg sync.WaitGroup
	start := time.Now()
	due := start.Add(1500 * time.Millisecond)
	const senders, each = 8, 250
	for s := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				props := string(remoting.AppendProperty(nil, remoting.PropertyTimerDeliverMS, strconv.FormatInt(due.UnixMilli(), 10)))
				if resp := trySend(c, b.Addr(), "LoadT", strconv.Itoa(s*each+i), props); resp == nil || resp.Code != remoting.ResponseSuccess {
					t.Errorf("send %d/%d failed: %v", s, i, resp)
					return
				}
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	if time.Now().After(due) {
		t.Skipf("machine too slow: scheduling took %v", time.Since(start))
	}
	testutil.WaitFor(t, 20*time.Second, "all due timers delivered", func() bool {
		q := b.store.ConsumeQueue("LoadT", 0)
		return q != nil && q.MaxOffset() == senders*each
	})
	q := b.store.ConsumeQueue("LoadT", 0)
	e, _ := q.Entry(0)
	first, _ := b.store.RecordAt(e.CommitLogOffset)
	e, _ = q.Entry(q.MaxOffset() - 1)
	last, _ := b.store.RecordAt(e.CommitLogOffset)
	early, late := first.StoreTimestamp()-due.UnixMilli(), last.StoreTimestamp()-due.UnixMilli()
	t.Logf("%d timers due at once: first stored %+d ms, last %+d ms after due", senders*each, early, late)
	if early < 0 {
		t.Fatalf("delivered %d ms early", -early)
	}
}

// FuzzTimerProperties feeds arbitrary delay-level strings and schedule
// properties: parsing never panics and a scheduled message never becomes
// due before the time it asked for or later than the maximum delay.
func FuzzTimerProperties(f *testing.F) {
	f.Add("1s 5s 10s", "3", "", "")
	f.Add("100ms 1d", "", "1700000000000", "")
	f.Add("1x", "-1", "", "99999999999")
	f.Fuzz(func(t *testing.T, levels, delay, deliverMs, delaySec string) {
		parsed, err := ParseDelayLevels(levels)
		if err != nil {
			return
		}
		svc := &timerService{ladder: newTimerLadder(parsed, time.Hour), maxDelay: 2 * time.Hour}
		var props []byte
		for _, kv := range [][2]string{{remoting.PropertyDelayLevel, delay}, {remoting.PropertyTimerDeliverMS, deliverMs},
			{remoting.PropertyTimerDelaySec, delaySec}} {
			if kv[1] != "" && !bytes.ContainsAny([]byte(kv[1]), "\x01\x02") {
				props = remoting.AppendProperty(props, kv[0], kv[1])
			}
		}
		const now = 1_700_000_000_000
		m := persistMessage("T", props)
		scheduled, err := svc.prepare(&m, now)
		if err != nil || !scheduled {
			return
		}
		out, _, perr := propertyInt64(m.Properties, PropertyTimerOutMS)
		if perr != nil || out <= now || out-now > (2*time.Hour).Milliseconds() && delay == "" {
			t.Fatalf("scheduled for %d (now %d) from %q", out, now, props)
		}
		if m.Topic != remoting.ScheduleTopic || !m.HasTagsCode || m.TagsCode > out+svc.ladder.byLen[0].ms || m.TagsCode <= now {
			t.Fatalf("rung entry: topic %s tags %d due %d", m.Topic, m.TagsCode, out)
		}
	})
}

func TestHasSpecialPropertyIsOnePassWithoutAllocation(t *testing.T) {
	plain := []byte("UNIQ_KEY\x01ABC\x02TAGS\x01t\x02KEYS\x01a b\x02CLUSTER\x01c")
	if hasSpecialProperty(plain) {
		t.Fatal("plain properties reported special")
	}
	for _, key := range specialKeys {
		if !hasSpecialProperty(remoting.AppendProperty(bytes.Clone(plain), key, "1")) {
			t.Fatalf("%s not detected", key)
		}
	}
	if hasSpecialProperty([]byte("XDELAY\x013\x02DELAYX\x013")) {
		t.Fatal("a key containing DELAY reported special")
	}
	if n := testing.AllocsPerRun(100, func() { hasSpecialProperty(plain) }); n != 0 {
		t.Fatalf("%v allocations per check", n)
	}
}
