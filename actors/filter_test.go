package actors

import (
	"fmt"
	"log/slog"
	"strconv"
	"testing"
	"time"

	"github.com/cometmq/comet/netio/remoting"
	"github.com/cometmq/comet/persist"
	"github.com/cometmq/comet/sqlfilter"
)

// pullBroker is a broker with only what the pull path reads: the store,
// the group registry and a logger.
func pullBroker(t testing.TB, opts persist.Options) *Broker {
	t.Helper()
	if opts.Dir == "" {
		opts.Dir = t.TempDir()
	}
	if opts.SegmentSize == 0 {
		opts.SegmentSize = 8 << 20
	}
	if opts.IndexSlotsPerFile == 0 {
		opts.IndexSlotsPerFile, opts.IndexEntriesPerFile = 1<<12, 1<<14
	}
	st, err := persist.Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return &Broker{store: st, log: slog.New(slog.DiscardHandler), groups: newGroupRegistry(time.Minute, time.Minute)}
}

// appendMessages stores messages on topic queue 0, props[i] as the
// properties of message i, and publishes them.
func appendMessages(t testing.TB, st *persist.Store, topic string, props []map[string]string) {
	t.Helper()
	for i, p := range props {
		m := persist.Message{Topic: topic, Body: []byte(fmt.Sprintf("%s-%d", topic, i)),
			Properties: remoting.AppendProperties(nil, p), BornHost: persist.Host{IP: []byte{127, 0, 0, 1}, Port: 1}}
		if _, err := st.Append(&m, time.Now().UnixMilli()); err != nil {
			t.Fatal(err)
		}
		if i%1000 == 999 || i == len(props)-1 {
			if _, err := st.Publish(); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// setSubscriptions registers subs for group as a heartbeat would.
func setSubscriptions(g *groupRegistry, group string, subs ...*Subscription) {
	g.mu.Lock()
	defer g.mu.Unlock()
	cg := &consumerGroup{name: group, channels: map[uint64]*clientChannel{}, subs: map[string]*Subscription{}}
	for _, s := range subs {
		cg.subs[s.Topic] = s
	}
	g.mu.consumers[group] = cg
}

// pullAll pulls queue 0 of q.topic from offset 0 to its end and returns
// the bodies delivered and the number of pulls it took.
func pullAll(t testing.TB, b *Broker, q pullQuery) (bodies []string, pulls int) {
	t.Helper()
	for {
		res := b.pullOnce(&q)
		pulls++
		switch res.code {
		case remoting.ResponseSuccess:
			msgs, err := remoting.DecodeMessages(res.body)
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range msgs {
				bodies = append(bodies, string(m.Body))
			}
		case remoting.ResponsePullRetryImmediately, remoting.ResponsePullNotFound:
		default:
			t.Fatalf("pull at %d: code %d", q.offset, res.code)
		}
		if res.next < q.offset || res.code != remoting.ResponseSuccess && res.found != 0 {
			t.Fatalf("pull at %d: next %d, code %d, found %d", q.offset, res.next, res.code, res.found)
		}
		if res.waitsForMessages() {
			return bodies, pulls
		}
		q.offset = res.next
	}
}

func numbered(n int, f func(i int) map[string]string) []map[string]string {
	out := make([]map[string]string, n)
	for i := range out {
		out[i] = f(i)
	}
	return out
}

func TestSQLPullDeliversExactlyTheMatches(t *testing.T) {
	b := pullBroker(t, persist.Options{})
	appendMessages(t, b.store, "T", numbered(100, func(i int) map[string]string {
		if i%10 == 9 {
			return map[string]string{"TAGS": "x"} // no property a
		}
		return map[string]string{"a": strconv.Itoa(i % 10), "TAGS": "t" + strconv.Itoa(i%2)}
	}))
	sub := NewSQLSubscription("T", "a BETWEEN 0 AND 3 AND TAGS = 't0'")
	if sub.ParseErr != nil {
		t.Fatal(sub.ParseErr)
	}
	bodies, _ := pullAll(t, b, pullQuery{topic: "T", maxMsgs: 7, sub: sub})
	var want []string
	for i := range 100 {
		if a := i % 10; a <= 3 && a%2 == 0 {
			want = append(want, fmt.Sprintf("T-%d", i))
		}
	}
	if fmt.Sprint(bodies) != fmt.Sprint(want) {
		t.Fatalf("delivered %v\nwant      %v", bodies, want)
	}
}

func TestTagPullChecksTheTagString(t *testing.T) {
	b := pullBroker(t, persist.Options{})
	// "Aa" and "BB" have the same Java hash code.
	appendMessages(t, b.store, "T", numbered(6, func(i int) map[string]string {
		return map[string]string{"TAGS": []string{"Aa", "BB", "C"}[i%3]}
	}))
	bodies, _ := pullAll(t, b, pullQuery{topic: "T", maxMsgs: 32, sub: NewTagSubscription("T", "Aa || C")})
	if fmt.Sprint(bodies) != "[T-0 T-2 T-3 T-5]" {
		t.Fatalf("delivered %v", bodies)
	}
}

func TestFilteredPullScansABoundedWindow(t *testing.T) {
	b := pullBroker(t, persist.Options{})
	n := minFilterScan*2 + 100
	appendMessages(t, b.store, "T", numbered(n, func(i int) map[string]string {
		if i == n-1 {
			return map[string]string{"a": "hit"}
		}
		return map[string]string{"a": "miss"}
	}))
	q := pullQuery{topic: "T", maxMsgs: 32, sub: NewSQLSubscription("T", "a = 'hit'")}
	res := b.pullOnce(&q)
	if res.code != remoting.ResponsePullRetryImmediately || res.next != int64(filterScanLimit(32)) || res.waitsForMessages() {
		t.Fatalf("first window: code %d next %d", res.code, res.next)
	}
	bodies, pulls := pullAll(t, b, q)
	if len(bodies) != 1 || bodies[0] != fmt.Sprintf("T-%d", n-1) || pulls != 4 {
		t.Fatalf("delivered %v in %d pulls", bodies, pulls)
	}
	q.offset = int64(n)
	if res := b.pullOnce(&q); res.code != remoting.ResponsePullNotFound || res.next != int64(n) {
		t.Fatalf("pull at the end: code %d next %d", res.code, res.next)
	}
}

func TestFilteredPullThatReachesTheEndWaits(t *testing.T) {
	b := pullBroker(t, persist.Options{})
	appendMessages(t, b.store, "T", numbered(10, func(int) map[string]string { return map[string]string{"a": "1"} }))
	q := pullQuery{topic: "T", maxMsgs: 32, sub: NewSQLSubscription("T", "a = '2'")}
	res := b.pullOnce(&q)
	if res.code != remoting.ResponsePullRetryImmediately || res.next != 10 || !res.waitsForMessages() {
		t.Fatalf("code %d next %d waits %v", res.code, res.next, res.waitsForMessages())
	}
}

func TestRetryTopicIsFilteredWithTheOriginalExpression(t *testing.T) {
	b := pullBroker(t, persist.Options{})
	retry := remoting.RetryGroupTopicPrefix + "g"
	appendMessages(t, b.store, retry, []map[string]string{
		{"a": "1", remoting.PropertyRetryTopic: "T"},
		{"a": "2", remoting.PropertyRetryTopic: "T"},
		{"a": "2", remoting.PropertyRetryTopic: "U"}, // U has a tag subscription
		{"a": "2", remoting.PropertyRetryTopic: "V"}, // no subscription
		{"a": "2"}, // no RETRY_TOPIC
	})
	setSubscriptions(b.groups, "g", NewSQLSubscription("T", "a = '1'"), NewTagSubscription("U", "x"),
		NewTagSubscription(retry, "*"))
	sub, _ := b.groups.subscription("g", retry)
	q := pullQuery{group: "g", topic: retry, maxMsgs: 32, sub: sub, retry: b.retryFilters("g", retry)}
	bodies, _ := pullAll(t, b, q)
	want := fmt.Sprintf("[%[1]s-0 %[1]s-2 %[1]s-3 %[1]s-4]", retry)
	if fmt.Sprint(bodies) != want {
		t.Fatalf("delivered %v, want %s", bodies, want)
	}
	if b.retryFilters("other", retry) != nil || b.retryFilters("g", "T") != nil {
		t.Fatal("retry filters apply only to the group's own retry topic")
	}
}

func TestHeaderSubscription(t *testing.T) {
	b := pullBroker(t, persist.Options{})
	reg := NewSQLSubscription("T", "a = '1'")
	setSubscriptions(b.groups, "g", reg)
	h := remoting.PullHeader{ConsumerGroup: "g", Topic: "T", Subscription: "a = '1'", ExpressionType: "TAG"}
	if got := b.headerSubscription(&h); got != reg {
		t.Fatalf("a TAG-labelled header with the registered SQL text did not reuse the SQL92 subscription: %+v", got)
	}
	h.Subscription, h.ExpressionType = "a = '2'", "sql92"
	if got := b.headerSubscription(&h); got == reg || got.SQL == nil || got.SQL.String() != "a = '2'" {
		t.Fatalf("header SQL92 subscription: %+v", got)
	}
	h.Subscription, h.ExpressionType = "a ||", ""
	if got := b.headerSubscription(&h); got.Type != ExprTypeTag || !got.Tags["a"] {
		t.Fatalf("header with an empty type: %+v", got)
	}
	h.Subscription, h.ExpressionType = "a >", "SQL92"
	if got := b.headerSubscription(&h); got.ParseErr == nil || got.SQL != nil {
		t.Fatalf("bad expression compiled: %+v", got)
	}
}

func TestCompileSQLCachesOutcomes(t *testing.T) {
	expr := fmt.Sprintf("cache_probe = '%d'", time.Now().UnixNano())
	first := compileSQL(expr)
	if first.err != nil {
		t.Fatal(first.err)
	}
	compileCache().Wait()
	if again := compileSQL(expr); again != first {
		t.Log("ristretto dropped the entry (allowed: the cache is a hint)")
	}
	bad := compileSQL("a > 'x'")
	if bad.err == nil || bad.expr != nil {
		t.Fatalf("bad expression compiled: %+v", bad)
	}
}

func TestMatchesRecordSkipsUnparsableRecords(t *testing.T) {
	q := pullQuery{sub: NewSQLSubscription("T", "a IS NULL")}
	if q.matchesRecord([]byte("not a record"), 0) {
		t.Fatal("an unparsable record matched")
	}
	all := pullQuery{sub: NewTagSubscription("T", "*")}
	if !all.matchesRecord(nil, 0) {
		t.Fatal("an unfiltered pull looked at the record")
	}
}

// The sqlfilter property look-up must agree with the broker's property
// parser on every encoding quirk.
func TestLookupPropertyAgreesWithRemoting(t *testing.T) {
	props := "a\x01first\x02ab\x01x\x02\x02b\x01\x02c\x01v\x01w\x02a\x01last\x02noval\x02TAGS\x01t\x02"
	for _, name := range []string{"a", "ab", "b", "c", "noval", "TAGS", "x", "t"} {
		v1, ok1 := remoting.PropertyValue(props, name)
		v2, ok2 := sqlfilter.LookupProperty([]byte(props), name)
		if v1 != v2 || ok1 != ok2 {
			t.Errorf("%q: remoting %q %v, sqlfilter %q %v", name, v1, ok1, v2, ok2)
		}
	}
}

func TestLogLimiter(t *testing.T) {
	l := &logLimiter{every: time.Hour, max: 2}
	if !l.due(1) || l.due(1) || !l.due(2) {
		t.Fatal("a key is logged once per period")
	}
	if !l.due(3) || !l.due(1) {
		t.Fatal("a full limiter forgets and logs again")
	}
}
