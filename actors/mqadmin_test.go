package actors

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cometmq/comet/internal/adminwire"
	"github.com/cometmq/comet/internal/testutil"
	"github.com/cometmq/comet/netio/remoting"
)

// The requests below are built as RocketMQ 4.9.8's MQAdminExt builds them
// (MQClientAPIImpl: request code, the header class's field names as ext
// keys, the body), and the answers are read as its sub-commands read them.

// adminFixture is a broker without a name server and a raw client.
type adminFixture struct {
	t *testing.T
	b *Broker
	c *remoting.Client
}

func newAdminFixture(t *testing.T, dir string) *adminFixture {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	b := startTestBroker(t, dir, nil)
	t.Cleanup(func() { b.Stop(context.Background()) })
	c := remoting.NewClient(remoting.ClientOptions{})
	t.Cleanup(func() { c.Close() })
	return &adminFixture{t: t, b: b, c: c}
}

// call sends a request with ext fields given as key, value pairs.
func (f *adminFixture) call(code int16, body []byte, kv ...string) *remoting.Command {
	f.t.Helper()
	req := remoting.NewRequest(code)
	for i := 0; i+1 < len(kv); i += 2 {
		req.Ext.Set(kv[i], kv[i+1])
	}
	req.Body = body
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	resp, err := f.c.Invoke(ctx, f.b.Addr(), req)
	if err != nil {
		f.t.Fatalf("%s: %v", remoting.RequestName(code), err)
	}
	return resp
}

// ok is call that fails the test unless the answer is SUCCESS.
func (f *adminFixture) ok(code int16, body []byte, kv ...string) *remoting.Command {
	f.t.Helper()
	resp := f.call(code, body, kv...)
	if resp.Code != remoting.ResponseSuccess {
		f.t.Fatalf("%s: %s %q", remoting.RequestName(code), remoting.ResponseName(resp.Code), resp.Remark)
	}
	return resp
}

// send stores n messages in queue 0 of topic.
func (f *adminFixture) send(topic string, n int) {
	f.t.Helper()
	for i := range n {
		if r := sendRaw(f.t, f.c, f.b.Addr(), topic, "m"+strconv.Itoa(i), "TAGS\x01tagA\x02"); r.Code != remoting.ResponseSuccess {
			f.t.Fatalf("send: %d %s", r.Code, r.Remark)
		}
	}
}

// pull pulls queue 0 of topic for group from offset with a heartbeat-free
// subscription and returns the response.
func (f *adminFixture) pull(group, topic string, offset int64) *remoting.Command {
	f.t.Helper()
	h := remoting.PullHeader{ConsumerGroup: group, Topic: topic, QueueOffset: offset, MaxMsgNums: 32,
		SysFlag: remoting.PullFlagSubscription, Subscription: "*", ExpressionType: "TAG"}
	req := remoting.NewRequest(remoting.RequestPullMessage)
	h.Apply(req)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	resp, err := f.c.Invoke(ctx, f.b.Addr(), req)
	if err != nil {
		f.t.Fatal(err)
	}
	return resp
}

// heartbeat registers a Go client (language GO, version 317) with one
// producer group and one consumer group subscribed to topic.
func (f *adminFixture) heartbeat(clientID, producerGroup, consumerGroup, topic, model string) {
	f.t.Helper()
	req := remoting.NewRequest(remoting.RequestHeartbeat)
	req.Language, req.Version = remoting.LanguageGo, 317
	req.Body = []byte(`{"clientID":"` + clientID + `","producerDataSet":[{"groupName":"` + producerGroup + `"}],` +
		`"consumerDataSet":[{"groupName":"` + consumerGroup + `","consumeType":"CONSUME_PASSIVELY","messageModel":"` + model + `",` +
		`"consumeFromWhere":"CONSUME_FROM_LAST_OFFSET","subscriptionDataSet":[{"topic":"` + topic + `","subString":"*","expressionType":"TAG"}]}]}`)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if resp, err := f.c.Invoke(ctx, f.b.Addr(), req); err != nil || resp.Code != remoting.ResponseSuccess {
		f.t.Fatalf("heartbeat: %v %v", resp, err)
	}
}

// clusterListKeys are the runtime-info keys ClusterListSubCommand reads
// (with and without -m).
var clusterListKeys = []string{"putTps", "getTransferedTps", "sendThreadPoolQueueSize", "pullThreadPoolQueueSize",
	"sendThreadPoolQueueHeadWaitTimeMills", "pullThreadPoolQueueHeadWaitTimeMills", "pageCacheLockTimeMills",
	"earliestMessageTimeStamp", "commitLogDiskRatio", "brokerVersionDesc",
	"msgPutTotalYesterdayMorning", "msgPutTotalTodayMorning", "msgPutTotalTodayNow",
	"msgGetTotalYesterdayMorning", "msgGetTotalTodayMorning", "msgGetTotalTodayNow"}

func TestRuntimeInfoCarriesWhatClusterListReads(t *testing.T) {
	f := newAdminFixture(t, "")
	testutil.WaitFor(t, 10*time.Second, "the first per-second sample", func() bool {
		f.b.metrics.book.mu.Lock()
		defer f.b.metrics.book.mu.Unlock()
		return len(f.b.metrics.book.mu.seconds) > 0
	})
	before := time.Now().UnixMilli()
	f.send("RtTopic", 5)
	if r := f.pull("rtg", "RtTopic", 0); r.Code != remoting.ResponseSuccess {
		t.Fatalf("pull: %d %s", r.Code, r.Remark)
	}
	kv, err := adminwire.DecodeKVTable(f.ok(remoting.RequestGetBrokerRuntimeInfo, nil).Body)
	if err != nil {
		t.Fatal(err)
	}
	table := kv.Table
	for _, k := range clusterListKeys {
		if _, ok := table[k]; !ok {
			t.Errorf("runtime info lacks %q", k)
		}
	}
	// printClusterBaseInfo: the first of the space-separated TPS figures.
	for _, k := range []string{"putTps", "getTransferedTps"} {
		parts := strings.Split(table[k], " ")
		if len(parts) != 3 {
			t.Fatalf("%s = %q, want three figures", k, table[k])
		}
		for _, p := range parts {
			if _, err := strconv.ParseFloat(p, 64); err != nil {
				t.Fatalf("%s = %q: %v", k, table[k], err)
			}
		}
		if v, _ := strconv.ParseFloat(parts[0], 64); v <= 0 {
			t.Errorf("%s = %q after traffic, want a positive 10 s rate", k, table[k])
		}
	}
	// printClusterMoreStats: longs, today's deltas.
	for k, want := range map[string]int64{"msgPutTotalTodayNow": 5, "msgGetTotalTodayNow": 5,
		"msgPutTotalTodayMorning": 0, "msgGetTotalYesterdayMorning": 0} {
		if got, err := strconv.ParseInt(table[k], 10, 64); err != nil || got != want {
			t.Errorf("%s = %q, want %d", k, table[k], want)
		}
	}
	earliest, err := strconv.ParseInt(table["earliestMessageTimeStamp"], 10, 64)
	if err != nil || earliest < before || earliest > time.Now().UnixMilli() {
		t.Errorf("earliestMessageTimeStamp = %q, want the first message's store time", table["earliestMessageTimeStamp"])
	}
	if ratio, err := strconv.ParseFloat(table["commitLogDiskRatio"], 64); err != nil || ratio < 0 || ratio > 1 {
		t.Errorf("commitLogDiskRatio = %q, want a fraction", table["commitLogDiskRatio"])
	}
	if table["brokerVersion"] != "409" || table["putMessageTimesTotal"] != "5" {
		t.Errorf("brokerVersion %q putMessageTimesTotal %q", table["brokerVersion"], table["putMessageTimesTotal"])
	}
}

func TestViewBrokerStatsDataPerTopicAndGroup(t *testing.T) {
	f := newAdminFixture(t, "")
	f.send("StTopic", 4)
	if r := f.pull("stg", "StTopic", 0); r.Code != remoting.ResponseSuccess {
		t.Fatalf("pull: %d %s", r.Code, r.Remark)
	}
	for _, tc := range []struct{ name, key string }{{StatsTopicPutNums, "StTopic"}, {StatsGroupGetNums, "StTopic@stg"}} {
		data, err := adminwire.DecodeBrokerStatsData(f.ok(remoting.RequestViewBrokerStatsData, nil,
			"statsName", tc.name, "statsKey", tc.key).Body)
		if err != nil {
			t.Fatal(err)
		}
		for window, it := range map[string]adminwire.BrokerStatsItem{"minute": data.StatsMinute, "hour": data.StatsHour, "day": data.StatsDay} {
			if it.Sum != 4 || it.Tps <= 0 {
				t.Errorf("%s %s %s: sum %d tps %v, want 4 and a positive rate", tc.name, tc.key, window, it.Sum, it.Tps)
			}
		}
	}
	if data, err := adminwire.DecodeBrokerStatsData(f.ok(remoting.RequestViewBrokerStatsData, nil,
		"statsName", StatsTopicPutSize, "statsKey", "StTopic").Body); err != nil || data.StatsMinute.Sum <= 4*91 {
		t.Errorf("TOPIC_PUT_SIZE: %+v %v, want the stored bytes", data, err)
	}
	if r := f.call(remoting.RequestViewBrokerStatsData, nil, "statsName", StatsTopicPutNums, "statsKey", "NoSuchTopic"); r.Code != remoting.ResponseSystemError {
		t.Errorf("unknown stats item: %d %q, want SYSTEM_ERROR", r.Code, r.Remark)
	}
}

func TestConnectionListsCarryLanguageVersionAndConsumeFromWhere(t *testing.T) {
	f := newAdminFixture(t, "")
	f.heartbeat("10.0.0.1@1", "clpg", "clcg", "ClTopic", "CLUSTERING")
	pc, err := adminwire.DecodeProducerConnection(f.ok(remoting.RequestGetProducerConnectionList, nil, "producerGroup", "clpg").Body)
	if err != nil || len(pc.ConnectionSet) != 1 {
		t.Fatalf("producer connections: %+v %v", pc, err)
	}
	if c := pc.ConnectionSet[0]; c.ClientID != "10.0.0.1@1" || c.Language != "GO" || c.Version != 317 || c.ClientAddr == "" {
		t.Errorf("producer connection %+v, want the heartbeat's client id, GO and 317", c)
	}
	cc, err := adminwire.DecodeConsumerConnection(f.ok(remoting.RequestGetConsumerConnectionList, nil, "consumerGroup", "clcg").Body)
	if err != nil || len(cc.ConnectionSet) != 1 {
		t.Fatalf("consumer connections: %+v %v", cc, err)
	}
	if c := cc.ConnectionSet[0]; c.Language != "GO" || c.Version != 317 {
		t.Errorf("consumer connection %+v, want GO and 317", c)
	}
	if cc.ConsumeFromWhere != "CONSUME_FROM_LAST_OFFSET" || cc.ConsumeType != "CONSUME_PASSIVELY" || cc.MessageModel != "CLUSTERING" {
		t.Errorf("consumer connection %+v", cc)
	}
	if r := f.call(remoting.RequestGetProducerConnectionList, nil, "producerGroup", "nobody"); r.Code != remoting.ResponseSystemError {
		t.Errorf("unknown producer group: %d, want SYSTEM_ERROR", r.Code)
	}
}

func TestTopicConsumeByWhoAndBrokerConsumeStats(t *testing.T) {
	f := newAdminFixture(t, "")
	f.send("WhoTopic", 3)
	f.heartbeat("10.0.0.2@1", "whopg", "online", "WhoTopic", "CLUSTERING")
	f.ok(remoting.RequestUpdateConsumerOffset, nil, "topic", "WhoTopic", "queueId", "0", "consumerGroup", "committed", "commitOffset", "1")
	gl, err := adminwire.DecodeGroupList(f.ok(remoting.RequestQueryTopicConsumeByWho, nil, "topic", "WhoTopic").Body)
	if err != nil || strings.Join(gl.GroupList, ",") != "committed,online" {
		t.Fatalf("consumers of WhoTopic: %+v %v, want committed and online", gl, err)
	}
	list, err := adminwire.DecodeConsumeStatsList(f.ok(remoting.RequestGetBrokerConsumeStats, nil, "isOrder", "false").Body)
	if err != nil {
		t.Fatal(err)
	}
	if list.BrokerAddr != f.b.Advertise() || list.TotalDiff != 2 {
		t.Errorf("broker consume stats: addr %q totalDiff %d, want %q and 2", list.BrokerAddr, list.TotalDiff, f.b.Advertise())
	}
	found := false
	for _, g := range list.Groups {
		if g.Group == "committed" && len(g.Stats) == 1 {
			found = true
			if w := g.Stats[0].OffsetTable[0].Value; w.BrokerOffset != 3 || w.ConsumerOffset != 1 {
				t.Errorf("committed's queue 0: %+v, want broker 3, consumer 1", w)
			}
		}
	}
	if !found {
		t.Errorf("broker consume stats lack group committed: %+v", list.Groups)
	}
}

func TestQueryConsumeQueueAndCleanExpired(t *testing.T) {
	f := newAdminFixture(t, "")
	f.send("CqTopic", 3)
	body, err := adminwire.DecodeQueryConsumeQueueResponse(f.ok(remoting.RequestQueryConsumeQueue, nil,
		"topic", "CqTopic", "queueId", "0", "index", "1", "count", "10").Body)
	if err != nil {
		t.Fatal(err)
	}
	if body.MaxQueueIndex != 3 || body.MinQueueIndex != 0 || len(body.QueueData) != 2 {
		t.Fatalf("queryCq: %+v, want max 3, min 0 and entries 1..2", body)
	}
	e, _ := f.b.store.ConsumeQueue("CqTopic", 0).Entry(1)
	if d := body.QueueData[0]; d.PhysicOffset != e.CommitLogOffset || d.PhysicSize != e.Size || d.TagsCode != e.TagsCode {
		t.Errorf("entry 1: %+v, want %+v", d, e)
	}
	if r := f.call(remoting.RequestQueryConsumeQueue, nil, "topic", "CqTopic", "queueId", "5", "index", "0"); r.Code != remoting.ResponseSystemError {
		t.Errorf("missing queue: %d, want SYSTEM_ERROR", r.Code)
	}
	f.ok(remoting.RequestCleanExpiredConsumeQueue, nil)
	if f.b.store.ConsumeQueue("CqTopic", 0) == nil {
		t.Errorf("CLEAN_EXPIRED_CONSUMEQUEUE removed a live topic's queue")
	}
}

// subGroupBody is an UPDATE_AND_CREATE_SUBSCRIPTIONGROUP body as
// MQAdminExt encodes a SubscriptionGroupConfig (fastjson).
func subGroupBody(name string, mutate func(*SubscriptionGroupConfig)) []byte {
	c := DefaultSubscriptionGroup(name)
	if mutate != nil {
		mutate(&c)
	}
	body, _ := json.Marshal(c)
	return body
}

func TestSubscriptionGroupConfigIsKeptPersistedAndHonoured(t *testing.T) {
	dir := t.TempDir()
	f := newAdminFixture(t, dir)
	f.send("SgTopic", 2)
	f.ok(remoting.RequestUpdateAndCreateSubscriptionGroup, subGroupBody("sg", func(c *SubscriptionGroupConfig) {
		c.ConsumeEnable, c.RetryQueueNums, c.RetryMaxTimes = false, 3, 0
	}))
	if r := f.pull("sg", "SgTopic", 0); r.Code != remoting.ResponseNoPermission {
		t.Fatalf("pull of a disabled group: %d %q, want NO_PERMISSION", r.Code, r.Remark)
	}
	if r := f.pull("other", "SgTopic", 0); r.Code != remoting.ResponseSuccess {
		t.Fatalf("pull of another group: %d %q", r.Code, r.Remark)
	}
	f.heartbeat("10.0.0.3@1", "sgpg", "sg", "SgTopic", "CLUSTERING")
	if c, ok := f.b.topics.get("%RETRY%sg"); !ok || c.WriteQueueNums != 3 {
		t.Errorf("retry topic %+v, want retryQueueNums (3) queues", c)
	}
	// retryMaxTimes 0 bounds the client's 16: the first send-back is dead.
	e, _ := f.b.store.ConsumeQueue("SgTopic", 0).Entry(0)
	f.ok(remoting.RequestConsumerSendMsgBack, nil, "group", "sg", "offset", itoa(e.CommitLogOffset), "delayLevel", "0",
		"originTopic", "SgTopic", "maxReconsumeTimes", "16")
	testutil.WaitFor(t, 5*time.Second, "the message in %DLQ%sg", func() bool {
		q := f.b.store.ConsumeQueue("%DLQ%sg", 0)
		return q != nil && q.MaxOffset() == 1
	})
	all := f.ok(remoting.RequestGetAllSubscriptionGroupConfig, nil)
	var table subGroupFile
	if err := json.Unmarshal(all.Body, &table); err != nil || table.SubscriptionGroupTable["sg"].ConsumeEnable ||
		table.SubscriptionGroupTable["sg"].RetryQueueNums != 3 {
		t.Fatalf("GET_ALL_SUBSCRIPTIONGROUP_CONFIG: %s %v", all.Body, err)
	}
	f.b.Stop(context.Background())

	g := newAdminFixture(t, dir)
	if r := g.pull("sg", "SgTopic", 0); r.Code != remoting.ResponseNoPermission {
		t.Fatalf("after a restart: pull %d, want NO_PERMISSION (config persisted)", r.Code)
	}
	g.ok(remoting.RequestUpdateConsumerOffset, nil, "topic", "SgTopic", "queueId", "0", "consumerGroup", "sg", "commitOffset", "1")
	g.ok(remoting.RequestDeleteSubscriptionGroup, nil, "groupName", "sg", "removeOffset", "true")
	if r := g.pull("sg", "SgTopic", 0); r.Code != remoting.ResponseSuccess {
		t.Fatalf("after deleteSubGroup: pull %d %q, want the default config", r.Code, r.Remark)
	}
	if _, ok := g.b.offsets.query("SgTopic", "sg", 0); ok {
		t.Errorf("deleteSubGroup with removeOffset kept the group's offsets")
	}
	if r := g.call(remoting.RequestUpdateAndCreateSubscriptionGroup, subGroupBody("CID_RMQ_SYS_TRANS", nil)); r.Code != remoting.ResponseNoPermission {
		t.Errorf("configuring the broker's own group: %d, want NO_PERMISSION", r.Code)
	}
	if r := g.call(remoting.RequestUpdateAndCreateSubscriptionGroup, []byte("{")); r.Code != remoting.ResponseSystemError {
		t.Errorf("bad body: %d, want SYSTEM_ERROR", r.Code)
	}
}

func TestBroadcastingRefusedWhenTheGroupForbidsIt(t *testing.T) {
	f := newAdminFixture(t, "")
	f.send("BcTopic", 1)
	f.heartbeat("10.0.0.4@1", "bcpg", "bc", "BcTopic", "BROADCASTING")
	f.ok(remoting.RequestUpdateAndCreateSubscriptionGroup, subGroupBody("bc", func(c *SubscriptionGroupConfig) {
		c.ConsumeBroadcastEnable = false
	}))
	if r := f.pull("bc", "BcTopic", 0); r.Code != remoting.ResponseNoPermission {
		t.Fatalf("broadcast pull: %d %q, want NO_PERMISSION", r.Code, r.Remark)
	}
}

func TestUpdateBrokerConfigAppliesRuntimeSettingsAllOrNone(t *testing.T) {
	f := newAdminFixture(t, "")
	config := func() map[string]string {
		return adminwire.DecodeProperties(f.ok(remoting.RequestGetBrokerConfig, nil).Body)
	}
	// One runtime key and one that needs a restart: refused whole.
	r := f.call(remoting.RequestUpdateBrokerConfig, []byte("autoCreateTopicEnable=false\nflushDiskType=ASYNC_FLUSH\n"))
	if r.Code != remoting.ResponseSystemError || !strings.Contains(r.Remark, "flushDiskType") || !strings.Contains(r.Remark, "restart") {
		t.Fatalf("update with a restart key: %d %q, want SYSTEM_ERROR naming flushDiskType", r.Code, r.Remark)
	}
	if config()["autoCreateTopicEnable"] != "true" {
		t.Fatalf("a refused update changed autoCreateTopicEnable")
	}
	if r := f.call(remoting.RequestUpdateBrokerConfig, []byte("noSuchKey=1\n")); r.Code != remoting.ResponseSystemError || !strings.Contains(r.Remark, "unknown keys: noSuchKey") {
		t.Fatalf("unknown key: %d %q", r.Code, r.Remark)
	}
	if r := f.call(remoting.RequestUpdateBrokerConfig, []byte("defaultTopicQueueNums=0\n")); r.Code != remoting.ResponseSystemError {
		t.Fatalf("bad value: %d %q", r.Code, r.Remark)
	}
	f.ok(remoting.RequestUpdateBrokerConfig, []byte("autoCreateTopicEnable=false\ndefault-queue-nums=2\n"))
	if c := config(); c["autoCreateTopicEnable"] != "false" || c["defaultTopicQueueNums"] != "2" || c["default-queue-nums"] != "2" {
		t.Fatalf("GET_BROKER_CONFIG after the update: autoCreateTopicEnable %q defaultTopicQueueNums %q",
			c["autoCreateTopicEnable"], c["defaultTopicQueueNums"])
	}
	if r := sendRaw(t, f.c, f.b.Addr(), "NotAutoCreated", "x", ""); r.Code != remoting.ResponseTopicNotExist {
		t.Fatalf("send to a new topic with auto-create off: %d %q, want TOPIC_NOT_EXIST", r.Code, r.Remark)
	}
	f.ok(remoting.RequestUpdateBrokerConfig, []byte("autoCreateTopicEnable=true\n"))
	if r := sendRaw(t, f.c, f.b.Addr(), "AutoCreated", "x", ""); r.Code != remoting.ResponseSuccess {
		t.Fatalf("send with auto-create back on: %d %q", r.Code, r.Remark)
	}
	if c, ok := f.b.topics.get("AutoCreated"); !ok || c.WriteQueueNums != 2 {
		t.Fatalf("auto-created topic %+v, want defaultTopicQueueNums (2) queues", c)
	}
}
