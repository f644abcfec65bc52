package actors

import (
	"flag"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/cometmq/comet/netio/remoting"
	"github.com/cometmq/comet/persist"
)

var filterBacklog = flag.Int("filter-backlog", 1_000_000, "messages in the backlog of BenchmarkFilteredPull")

// BenchmarkFilteredPull measures how fast a consumer works through a
// backlog when the broker filters: each iteration pulls one queue holding
// the whole backlog from its first to its last offset in batches of 32,
// as a push consumer catching up does. Property a of message i is i%100,
// so "a < 1" matches 1% and "a < 50" half. entries/s is the backlog
// traversal rate; ratio is entries/s relative to filter=none, run first.
// The backlog (1M messages, about 250 MB on disk) is built once; run with
// -benchtime=1x or 3x.
func BenchmarkFilteredPull(b *testing.B) {
	n := *filterBacklog
	br := pullBroker(b, persist.Options{SegmentSize: 512 << 20, IndexSlotsPerFile: 1 << 20, IndexEntriesPerFile: 1 << 21})
	start := time.Now()
	appendBacklog(b, br.store, "Backlog", n)
	b.Logf("built a backlog of %d messages in %v", n, time.Since(start).Round(time.Millisecond))
	// One unmeasured pass maps every page, so the first case is not
	// charged for page faults.
	all := NewTagSubscription("Backlog", "*")
	for q := (pullQuery{topic: "Backlog", maxMsgs: maxPullBatch, sub: all}); ; {
		res := br.pullOnce(&q)
		if res.waitsForMessages() {
			break
		}
		q.offset = res.next
	}
	cases := []struct {
		name string
		sub  *Subscription
		want int
	}{
		{"filter=none", NewTagSubscription("Backlog", "*"), n},
		{"filter=tag/match=1pct", NewTagSubscription("Backlog", "t0"), n / 100},
		{"filter=sql/match=1pct", NewSQLSubscription("Backlog", "a < 1"), n / 100},
		{"filter=sql/match=50pct", NewSQLSubscription("Backlog", "a < 50"), n / 2},
		{"filter=sql-complex/match=50pct", NewSQLSubscription("Backlog",
			"(TAGS IN ('t0', 't1', 't2') OR a < 50) AND region = 'eu' AND a BETWEEN 0 AND 49"), n / 2},
	}
	var baseline float64
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			rate := benchPullBacklog(b, br, c.sub, n, c.want)
			if c.name == "filter=none" {
				baseline = rate
			} else if baseline > 0 {
				b.ReportMetric(rate/baseline, "ratio")
			}
		})
	}
}

func benchPullBacklog(b *testing.B, br *Broker, sub *Subscription, n, want int) (entriesPerSec float64) {
	b.ReportAllocs()
	var delivered, pulls int
	start := time.Now()
	for b.Loop() {
		q := pullQuery{topic: "Backlog", maxMsgs: 32, sub: sub}
		got := 0
		for {
			res := br.pullOnce(&q)
			pulls++
			got += res.found
			if res.waitsForMessages() {
				break
			}
			q.offset = res.next
		}
		if got != want {
			b.Fatalf("delivered %d messages, want %d", got, want)
		}
		delivered += got
	}
	el := time.Since(start).Seconds()
	passes := float64(delivered) / float64(want)
	b.SetBytes(0)
	b.ReportMetric(passes*float64(n)/el, "entries/s")
	b.ReportMetric(float64(delivered)/el, "msgs/s")
	b.ReportMetric(float64(pulls)/passes, "pulls/pass")
	return passes * float64(n) / el
}

// appendBacklog stores n messages with the properties a producer sets
// (UNIQ_KEY, WAIT, TAGS) plus a (i%100) and region.
func appendBacklog(b *testing.B, st *persist.Store, topic string, n int) {
	body := make([]byte, 128)
	for i := range n {
		props := map[string]string{remoting.PropertyUniqKey: fmt.Sprintf("AC110001000018B4AAC2%012X", i),
			remoting.PropertyWaitStoreMsgOK: "true", remoting.PropertyTags: "t" + strconv.Itoa(i%100),
			"a": strconv.Itoa(i % 100), "region": "eu"}
		m := persist.Message{Topic: topic, Body: body, Properties: remoting.AppendProperties(nil, props),
			BornHost: persist.Host{IP: []byte{127, 0, 0, 1}, Port: 1}}
		if _, err := st.Append(&m, int64(i)); err != nil {
			b.Fatal(err)
		}
		if i%1024 == 1023 || i == n-1 {
			if _, err := st.Publish(); err != nil {
				b.Fatal(err)
			}
		}
	}
}

func TestSQLMatchOnStoredRecordDoesNotAllocate(t *testing.T) {
	b := pullBroker(t, persist.Options{})
	appendMessages(t, b.store, "T", []map[string]string{{"a": "5", "TAGS": "t", remoting.PropertyUniqKey: "K"}})
	cq := b.store.ConsumeQueue("T", 0)
	e, _ := cq.Entry(0)
	raw, err := b.store.ReadRecord(e.CommitLogOffset, e.Size)
	if err != nil {
		t.Fatal(err)
	}
	for _, sub := range []*Subscription{NewSQLSubscription("T", "a BETWEEN 0 AND 9 AND TAGS IN ('t', 'u')"),
		NewTagSubscription("T", "t")} {
		q := pullQuery{sub: sub}
		if !q.matchesRecord(raw, e.CommitLogOffset) {
			t.Fatalf("%s: record does not match", sub.Expr)
		}
		if n := testing.AllocsPerRun(100, func() { q.matchesRecord(raw, e.CommitLogOffset) }); n != 0 {
			t.Errorf("%s: %v allocations per record", sub.Expr, n)
		}
	}
}
