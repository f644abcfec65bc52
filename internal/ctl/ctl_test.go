package ctl

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cometmq/comet/internal/adminwire"
	"github.com/cometmq/comet/internal/cluster"
	"github.com/cometmq/comet/internal/testutil"
	"github.com/cometmq/comet/netio/remoting"
)

// fixture is a running name server and broker plus a raw client.
type fixture struct {
	t      *testing.T
	env    *cluster.Cluster
	client *remoting.Client
}

func newFixture(t *testing.T) *fixture {
	env := cluster.StartTest(t, nil)
	c := remoting.NewClient(remoting.ClientOptions{DefaultTimeout: 5 * time.Second})
	t.Cleanup(func() { c.Close() })
	return &fixture{t: t, env: env, client: c}
}

// ctl runs cometctl against the fixture and returns stdout and the code.
func (f *fixture) ctl(args ...string) (string, string, int) {
	var out, errOut bytes.Buffer
	args = append(args, "-namesrv", f.env.NamesrvAddr, "-timeout", "3s")
	code := Run(args, &out, &errOut)
	return out.String(), errOut.String(), code
}

// ok runs cometctl and fails unless it exits 0.
func (f *fixture) ok(args ...string) string {
	f.t.Helper()
	out, errOut, code := f.ctl(args...)
	if code != ExitOK {
		f.t.Fatalf("cometctl %v: exit %d\nstdout: %s\nstderr: %s", args, code, out, errOut)
	}
	return out
}

// okJSON runs cometctl -json and decodes its output into v.
func (f *fixture) okJSON(v any, args ...string) {
	f.t.Helper()
	out := f.ok(append(args, "-json")...)
	if err := json.Unmarshal([]byte(out), v); err != nil {
		f.t.Fatalf("cometctl %v -json: %v\n%s", args, err, out)
	}
}

func (f *fixture) wantCode(want int, args ...string) string {
	f.t.Helper()
	out, errOut, code := f.ctl(args...)
	if code != want {
		f.t.Fatalf("cometctl %v: exit %d, want %d\nstdout: %s\nstderr: %s", args, code, want, out, errOut)
	}
	return errOut
}

func (f *fixture) invoke(cmd *remoting.Command) *remoting.Command {
	f.t.Helper()
	resp, err := f.client.Invoke(context.Background(), f.env.BrokerAddr, cmd)
	if err != nil {
		f.t.Fatal(err)
	}
	return resp
}

// send stores one message and returns its offset message id.
func (f *fixture) send(topic string, queue int32, body, key, tag string) string {
	f.t.Helper()
	props := remoting.AppendProperties(nil, map[string]string{remoting.PropertyKeys: key, remoting.PropertyTags: tag})
	h := remoting.SendHeader{ProducerGroup: "pg", Topic: topic, DefaultTopic: "TBW102", DefaultTopicQueueNums: 4,
		QueueID: queue, BornTimestamp: time.Now().UnixMilli(), Properties: string(props)}
	cmd := remoting.NewRequest(remoting.RequestSendMessage)
	h.Apply(cmd)
	cmd.Body = []byte(body)
	resp := f.invoke(cmd)
	if resp.Code != remoting.ResponseSuccess {
		f.t.Fatalf("send: %s %s", remoting.ResponseName(resp.Code), resp.Remark)
	}
	id, _ := resp.Ext.Get("msgId")
	return id
}

func (f *fixture) commit(group, topic string, queue int32, offset int64) {
	f.t.Helper()
	cmd := remoting.NewRequest(remoting.RequestUpdateConsumerOffset)
	cmd.Ext.Set("consumerGroup", group)
	cmd.Ext.Set("topic", topic)
	cmd.Ext.Set("queueId", strconv.Itoa(int(queue)))
	cmd.Ext.Set("commitOffset", strconv.FormatInt(offset, 10))
	if resp := f.invoke(cmd); resp.Code != remoting.ResponseSuccess {
		f.t.Fatalf("commit: %s", resp.Remark)
	}
}

// waitFor polls cond until it holds or the deadline passes.

func TestUsageAndUnreachable(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := Run([]string{"frobnicate"}, &out, &errOut); code != ExitUsage {
		t.Fatalf("unknown command: exit %d", code)
	}
	if code := Run([]string{"topic", "create"}, &out, &errOut); code != ExitUsage {
		t.Fatalf("missing argument: exit %d", code)
	}
	if code := Run([]string{"topic", "list", "-nosuchflag"}, &out, &errOut); code != ExitUsage {
		t.Fatalf("bad flag: exit %d", code)
	}
	errOut.Reset()
	code := Run([]string{"cluster", "list", "-namesrv", "127.0.0.1:1", "-timeout", "1s"}, &out, &errOut)
	if code != ExitUnreachable || !strings.Contains(errOut.String(), "127.0.0.1:1 did not answer") {
		t.Fatalf("unreachable name server: exit %d, stderr %q", code, errOut.String())
	}
	code = Run([]string{"broker", "status", "-broker", "127.0.0.1:1", "-timeout", "1s"}, &out, &errOut)
	if code != ExitUnreachable {
		t.Fatalf("unreachable broker: exit %d", code)
	}
}

func TestClusterAndBroker(t *testing.T) {
	f := newFixture(t)
	if out := f.ok("cluster", "list"); !strings.Contains(out, "broker-a") || !strings.Contains(out, f.env.BrokerAddr) {
		t.Fatalf("cluster list table:\n%s", out)
	}
	var rows []clusterRow
	f.okJSON(&rows, "cluster", "list")
	if len(rows) != 1 || !rows[0].Reachable || rows[0].Addr != f.env.BrokerAddr || rows[0].Cluster != "DefaultCluster" {
		t.Fatalf("cluster list json: %+v", rows)
	}
	if out := f.ok("broker", "status"); !strings.Contains(out, "msgPutTotalTodayNow") {
		t.Fatalf("broker status table:\n%s", out)
	}
	var status map[string]map[string]any
	f.okJSON(&status, "broker", "status", "-broker", f.env.BrokerAddr)
	if st := status[f.env.BrokerAddr]; !strings.HasPrefix(st["brokerVersionDesc"].(string), "comet ") || st["brokerVersion"] != 409.0 {
		t.Fatalf("broker status json: %v", status)
	}
	if out := f.ok("broker", "config"); !strings.Contains(out, "brokerClusterName") {
		t.Fatalf("broker config table:\n%s", out)
	}
	var cfg map[string]map[string]string
	f.okJSON(&cfg, "broker", "config")
	if cfg[f.env.BrokerAddr]["brokerName"] != "broker-a" || cfg[f.env.BrokerAddr]["flushDiskType"] != "SYNC_FLUSH" {
		t.Fatalf("broker config json: %v", cfg)
	}
}

func TestTopicCommands(t *testing.T) {
	f := newFixture(t)
	f.ok("topic", "create", "Orders", "-queues", "2")
	if out := f.ok("topic", "list"); !strings.Contains(out, "Orders") || strings.Contains(out, "TBW102") {
		t.Fatalf("topic list table:\n%s", out)
	}
	var all []topicRow
	f.okJSON(&all, "topic", "list", "-all")
	if !hasTopic(all, "Orders", 2, 6) || !hasTopic(all, "TBW102", 8, 7) {
		t.Fatalf("topic list -all json: %+v", all)
	}
	f.ok("topic", "update", "Orders", "-perm", "4", "-write", "1")
	var rows []topicRow
	f.okJSON(&rows, "topic", "list")
	if !slicesHas(rows, func(r topicRow) bool {
		return r.Topic == "Orders" && r.Perm == 4 && r.WriteQueues == 1 && r.ReadQueues == 2
	}) {
		t.Fatalf("after update: %+v", rows)
	}
	f.ok("topic", "update", "Orders", "-perm", "6", "-write", "2")
	f.wantCode(ExitNotFound, "topic", "update", "Nope", "-perm", "6")
	f.wantCode(ExitUsage, "topic", "create", "SCHEDULE_TOPIC_XXXX")
	f.wantCode(ExitBrokerError, "topic", "create", "SCHEDULE_TOPIC_XXXX", "-force")

	testutil.WaitFor(t, 10*time.Second, "route of Orders", func() bool { _, _, code := f.ctl("topic", "route", "Orders"); return code == ExitOK })
	if out := f.ok("topic", "route", "Orders"); !strings.Contains(out, f.env.BrokerAddr) {
		t.Fatalf("route table:\n%s", out)
	}
	var route struct {
		QueueDatas []struct {
			BrokerName    string `json:"brokerName"`
			ReadQueueNums int32  `json:"readQueueNums"`
		} `json:"queueDatas"`
	}
	f.okJSON(&route, "topic", "route", "Orders")
	if len(route.QueueDatas) != 1 || route.QueueDatas[0].ReadQueueNums != 2 {
		t.Fatalf("route json: %+v", route)
	}
	f.wantCode(ExitNotFound, "topic", "route", "Nope")

	for i := range 5 {
		f.send("Orders", int32(i%2), fmt.Sprintf("order-%d", i), "k", "t")
	}
	if out := f.ok("topic", "status", "Orders"); !strings.Contains(out, "LAST_UPDATED") || !strings.Contains(out, "broker-a") {
		t.Fatalf("topic status table:\n%s", out)
	}
	var stats []queueStatusRow
	f.okJSON(&stats, "topic", "status", "Orders")
	if len(stats) != 2 || stats[0].MaxOffset != 3 || stats[1].MaxOffset != 2 || stats[0].LastUpdateTimestamp == 0 {
		t.Fatalf("topic status json: %+v", stats)
	}
	f.wantCode(ExitNotFound, "topic", "status", "Nope", "-broker", f.env.BrokerAddr)

	var deleted []resultRow
	f.okJSON(&deleted, "topic", "delete", "Orders")
	if len(deleted) != 2 {
		t.Fatalf("delete json: %+v", deleted)
	}
	f.wantCode(ExitNotFound, "topic", "status", "Orders", "-broker", f.env.BrokerAddr)
	f.wantCode(ExitNotFound, "topic", "delete", "Orders")
}

func hasTopic(rows []topicRow, name string, queues, perm int32) bool {
	return slicesHas(rows, func(r topicRow) bool { return r.Topic == name && r.ReadQueues == queues && r.Perm == perm })
}

func slicesHas[T any](s []T, pred func(T) bool) bool {
	for _, v := range s {
		if pred(v) {
			return true
		}
	}
	return false
}

// onlineConsumer is a raw client that heartbeats as a consumer of group
// and records the RESET_CONSUMER_CLIENT_OFFSET requests it receives.
type onlineConsumer struct {
	client *remoting.Client
	mu     sync.Mutex
	resets []*remoting.Command
}

func (f *fixture) startConsumer(group, topic string) *onlineConsumer {
	f.t.Helper()
	oc := &onlineConsumer{client: remoting.NewClient(remoting.ClientOptions{})}
	f.t.Cleanup(func() { oc.client.Close() })
	oc.client.SetRequestHandler(func(_ string, req *remoting.Command) *remoting.Command {
		if req.Code == remoting.RequestResetConsumerClientOffset {
			oc.mu.Lock()
			oc.resets = append(oc.resets, req)
			oc.mu.Unlock()
		}
		return nil
	})
	hb := fmt.Sprintf(`{"clientID":"10.0.0.1@cli-1","producerDataSet":[],"consumerDataSet":[{"groupName":%q,`+
		`"consumeType":"CONSUME_PASSIVELY","messageModel":"CLUSTERING","consumeFromWhere":"CONSUME_FROM_FIRST_OFFSET",`+
		`"subscriptionDataSet":[{"topic":%q,"subString":"tagA || tagB","tagsSet":["tagA","tagB"],"subVersion":1,"expressionType":"TAG"}]}]}`,
		group, topic)
	cmd := remoting.NewRequest(remoting.RequestHeartbeat)
	cmd.Body = []byte(hb)
	resp, err := oc.client.Invoke(context.Background(), f.env.BrokerAddr, cmd)
	if err != nil || resp.Code != remoting.ResponseSuccess {
		f.t.Fatalf("heartbeat: %v %v", resp, err)
	}
	return oc
}

func (oc *onlineConsumer) lastReset() *remoting.Command {
	oc.mu.Lock()
	defer oc.mu.Unlock()
	if len(oc.resets) == 0 {
		return nil
	}
	return oc.resets[len(oc.resets)-1]
}

func TestGroupCommands(t *testing.T) {
	f := newFixture(t)
	f.ok("topic", "create", "Pay", "-queues", "2")
	testutil.WaitFor(t, 10*time.Second, "route of Pay", func() bool { _, _, code := f.ctl("topic", "route", "Pay"); return code == ExitOK })
	for i := range 6 {
		f.send("Pay", int32(i%2), fmt.Sprintf("pay-%d", i), "k", "t")
	}
	f.commit("billing", "Pay", 0, 1)
	f.commit("billing", "Pay", 1, 3)
	oc := f.startConsumer("live", "Pay")

	if out := f.ok("group", "list"); !strings.Contains(out, "billing") || !strings.Contains(out, "live") {
		t.Fatalf("group list table:\n%s", out)
	}
	var groups []groupRow
	f.okJSON(&groups, "group", "list")
	if !slicesHas(groups, func(g groupRow) bool { return g.Group == "billing" && !g.Online && len(g.Topics) == 1 }) ||
		!slicesHas(groups, func(g groupRow) bool { return g.Group == "live" && g.Online }) {
		t.Fatalf("group list json: %+v", groups)
	}

	if out := f.ok("group", "progress", "billing"); !strings.Contains(out, "TOTAL") {
		t.Fatalf("progress table:\n%s", out)
	}
	var progress progressReport
	f.okJSON(&progress, "group", "progress", "billing")
	if progress.TotalLag != 2 || len(progress.Queues) != 2 || progress.Queues[0].LastTimestamp == 0 {
		t.Fatalf("progress json: %+v", progress)
	}
	f.wantCode(ExitNotFound, "group", "progress", "nobody")

	if out := f.ok("group", "connections", "live"); !strings.Contains(out, "10.0.0.1@cli-1") || !strings.Contains(out, "tagA || tagB") {
		t.Fatalf("connections table:\n%s", out)
	}
	var conns map[string]adminwire.ConsumerConnection
	f.okJSON(&conns, "group", "connections", "live")
	cc := conns[f.env.BrokerAddr]
	if len(cc.ConnectionSet) != 1 || cc.MessageModel != "CLUSTERING" || cc.SubscriptionTable["Pay"].SubString != "tagA || tagB" {
		t.Fatalf("connections json: %+v", conns)
	}
	f.wantCode(ExitNotFound, "group", "connections", "billing")

	var reset []resetRow
	f.okJSON(&reset, "group", "reset", "billing", "-topic", "Pay", "-offset", "0")
	f.okJSON(&progress, "group", "progress", "billing")
	if len(reset) != 2 || progress.TotalLag != 6 {
		t.Fatalf("after reset to 0: %+v %+v", reset, progress)
	}
	f.ok("group", "reset", "billing", "-topic", "Pay", "-timestamp", "latest", "-force=false")
	f.okJSON(&progress, "group", "progress", "billing")
	if progress.TotalLag != 6 {
		t.Fatalf("a reset without force moved offsets forward: %+v", progress)
	}
	f.ok("group", "reset", "billing", "-topic", "Pay", "-timestamp", "latest")
	f.okJSON(&progress, "group", "progress", "billing")
	if progress.TotalLag != 0 {
		t.Fatalf("after reset to latest: %+v", progress)
	}
	f.ok("group", "reset", "billing", "-topic", "Pay", "-offset", "1", "-queue", "1")
	f.okJSON(&progress, "group", "progress", "billing")
	if progress.TotalLag != 2 {
		t.Fatalf("after reset of queue 1 to 1: %+v", progress)
	}
	f.wantCode(ExitUsage, "group", "reset", "billing", "-topic", "Pay")
	f.wantCode(ExitNotFound, "group", "reset", "billing", "-topic", "Nope", "-offset", "0", "-broker", f.env.BrokerAddr)

	if out := f.ok("group", "reset", "live", "-topic", "Pay", "-timestamp", "earliest"); !strings.Contains(out, "NEW_OFFSET") {
		t.Fatalf("reset table:\n%s", out)
	}
	testutil.WaitFor(t, 10*time.Second, "reset notification to the online consumer", func() bool { return oc.lastReset() != nil })
	req := oc.lastReset()
	body, err := adminwire.DecodeResetOffsetBody(req.Body)
	if err != nil || len(body.OffsetTable) != 2 || body.OffsetTable[0].Value != 0 {
		t.Fatalf("reset notification body %q: %+v %v", req.Body, body, err)
	}
	if g, _ := req.Ext.Get("group"); g != "live" {
		t.Fatalf("reset notification group %q", g)
	}
}

func TestMessageCommands(t *testing.T) {
	f := newFixture(t)
	var ids []string
	for i := range 5 {
		ids = append(ids, f.send("Mail", 0, fmt.Sprintf("mail-body-%d", i), fmt.Sprintf("key-%d", i), "tagM"))
	}
	testutil.WaitFor(t, 10*time.Second, "route of Mail", func() bool { _, _, code := f.ctl("topic", "route", "Mail"); return code == ExitOK })

	if out := f.ok("message", "view", ids[2]); !strings.Contains(out, "mail-body-2") || !strings.Contains(out, "key-2") {
		t.Fatalf("view table:\n%s", out)
	}
	var m messageOut
	f.okJSON(&m, "message", "view", ids[3])
	if m.Body != "mail-body-3" || m.Keys != "key-3" || m.QueueOffset != 3 || m.Topic != "Mail" || m.BodyEncoding != "utf8" {
		t.Fatalf("view json: %+v", m)
	}
	ip, port, off, _ := remoting.ParseOffsetMsgID(ids[4])
	beyond := remoting.OffsetMsgID(ip, port, off+1<<20)
	f.wantCode(ExitNotFound, "message", "view", beyond)
	f.wantCode(ExitUsage, "message", "view", "not-an-id")

	if out := f.ok("message", "query", "-topic", "Mail", "-key", "key-1"); !strings.Contains(out, "mail-body-1") {
		t.Fatalf("query table:\n%s", out)
	}
	var found []messageOut
	f.okJSON(&found, "message", "query", "-topic", "Mail", "-key", "key-4")
	if len(found) != 1 || found[0].Body != "mail-body-4" {
		t.Fatalf("query json: %+v", found)
	}
	f.wantCode(ExitNotFound, "message", "query", "-topic", "Mail", "-key", "missing")

	if out := f.ok("message", "print", "-topic", "Mail", "-queue", "0", "-offset", "1", "-count", "2"); !strings.Contains(out, "mail-body-1") ||
		!strings.Contains(out, "mail-body-2") || strings.Contains(out, "mail-body-3") {
		t.Fatalf("print table:\n%s", out)
	}
	var printed []messageOut
	f.okJSON(&printed, "message", "print", "-topic", "Mail", "-queue", "0")
	if len(printed) != 5 || printed[4].Body != "mail-body-4" {
		t.Fatalf("print json: %d messages", len(printed))
	}
	f.wantCode(ExitNotFound, "group", "progress", printGroup)
	f.wantCode(ExitUsage, "message", "print", "-topic", "Mail")
}
