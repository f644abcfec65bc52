package httpapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cometmq/comet/internal/admin"
	"github.com/cometmq/comet/internal/testutil"
)

type produced struct {
	Results []sendResult `json:"results"`
}

// createTopic creates topic with queues queues and waits for its route.
func (e *apiEnv) createTopic(topic string, queues int) {
	e.t.Helper()
	if st := e.call("POST", "/topics", map[string]any{"topic": topic, "queues": queues}, nil); st != http.StatusCreated {
		e.t.Fatalf("create %s: status %d", topic, st)
	}
	testutil.WaitFor(e.t, 10*time.Second, "route of "+topic, func() bool {
		return e.call("GET", "/topics/"+topic+"/route", nil, nil) == http.StatusOK
	})
}

func (e *apiEnv) produce(topic string, body any) produced {
	e.t.Helper()
	var p produced
	if st := e.call("POST", "/topics/"+topic+"/messages", body, &p); st != http.StatusOK {
		e.t.Fatalf("produce to %s: status %d", topic, st)
	}
	return p
}

// queueTotal sums the messages of a topic's queues.
func (e *apiEnv) queueTotal(topic string) int64 {
	e.t.Helper()
	var l listing[[]admin.QueueStatus]
	if st := e.call("GET", "/topics/"+topic+"/queues", nil, &l); st != http.StatusOK {
		e.t.Fatalf("queues of %s: %d", topic, st)
	}
	var n int64
	for _, q := range l.Items {
		n += q.MaxOffset - q.MinOffset
	}
	return n
}

func TestAdminEndpoints(t *testing.T) {
	e := newAPIEnv(t, nil)
	e.createTopic("Orders", 4)
	var topics listing[[]admin.TopicRow]
	e.call("GET", "/topics", nil, &topics)
	if !slices.ContainsFunc(topics.Items, func(r admin.TopicRow) bool { return r.Topic == "Orders" && r.ReadQueues == 4 }) {
		t.Fatalf("topics: %+v", topics.Items)
	}
	var queues listing[[]admin.QueueStatus]
	if e.call("GET", "/topics/Orders/queues", nil, &queues); len(queues.Items) != 4 {
		t.Fatalf("queues: %+v", queues)
	}
	if st := e.call("PUT", "/topics/Orders", map[string]any{"queues": 6}, nil); st != http.StatusOK {
		t.Fatalf("update: %d", st)
	}
	testutil.WaitFor(t, 5*time.Second, "6 queues", func() bool {
		e.call("GET", "/topics/Orders/queues", nil, &queues)
		return len(queues.Items) == 6
	})
	var cluster listing[[]map[string]any]
	e.call("GET", "/cluster", nil, &cluster)
	if cluster.Items[0]["addr"] != e.cl.BrokerAddr || cluster.Items[0]["reachable"] != true {
		t.Fatalf("cluster: %+v", cluster.Items)
	}
	var cfgs listing[map[string]map[string]string]
	if e.call("GET", "/brokers/config", nil, &cfgs); cfgs.Items[e.cl.BrokerAddr]["brokerName"] == "" {
		t.Fatalf("broker config: %+v", cfgs)
	}
	var verify admin.VerifyResult
	if st := e.call("POST", "/brokers/"+e.cl.BrokerAddr+"/verify", map[string]any{}, &verify); st != http.StatusOK || verify.Broker != e.cl.BrokerAddr {
		t.Fatalf("verify: %d %+v", st, verify)
	}
	if st := e.call("DELETE", "/topics/Orders", nil, nil); st != http.StatusOK {
		t.Fatalf("delete: %d", st)
	}
	testutil.WaitFor(t, 5*time.Second, "Orders gone", func() bool {
		return e.call("GET", "/topics/Orders/queues", nil, nil) == http.StatusNotFound
	})
}

// TestTopicRulesSharedWithCometctl: the HTTP API creates topics with the
// broker's auto-create queue count, refuses reserved names unless forced
// and reports the cluster's counts as numbers, as cometctl does.
func TestTopicRulesSharedWithCometctl(t *testing.T) {
	e := newAPIEnv(t, nil)
	if st := e.call("POST", "/topics", map[string]any{"topic": "Plain"}, nil); st != http.StatusCreated {
		t.Fatalf("create without queues: %d", st)
	}
	var topics listing[[]admin.TopicRow]
	e.call("GET", "/topics", nil, &topics)
	if !slices.ContainsFunc(topics.Items, func(r admin.TopicRow) bool { return r.Topic == "Plain" && r.ReadQueues == 4 && r.WriteQueues == 4 }) {
		t.Fatalf("Plain does not have the auto-create queue count: %+v", topics.Items)
	}
	for _, name := range []string{"%RETRY%orders", "%DLQ%orders", "TBW102", "broker-a", "DefaultCluster"} {
		if p := e.mustProblem(400, "POST", "/topics", map[string]any{"topic": name}, "application/json"); !strings.Contains(p.Detail, "force") {
			t.Errorf("create %s: %q does not mention force", name, p.Detail)
		}
	}
	if st := e.call("POST", "/topics", map[string]any{"topic": "%DLQ%orders", "queues": 1, "force": true}, nil); st != http.StatusCreated {
		t.Fatalf("forced create: %d", st)
	}
	e.mustProblem(400, "DELETE", "/topics/%25DLQ%25orders", nil, "")
	if st := e.call("DELETE", "/topics/%25DLQ%25orders?force=true", nil, nil); st != http.StatusOK {
		t.Fatalf("forced delete: %d", st)
	}
	e.produce("Plain", map[string]any{"body": "counted"})
	var cluster listing[[]map[string]any]
	e.call("GET", "/cluster", nil, &cluster)
	if put, ok := cluster.Items[0]["putMessages"].(float64); !ok || put < 1 {
		t.Errorf("putMessages = %#v, want a number >= 1", cluster.Items[0]["putMessages"])
	}
	if up, ok := cluster.Items[0]["uptimeSeconds"].(float64); !ok || up < 0 {
		t.Errorf("uptimeSeconds = %#v, want seconds", cluster.Items[0]["uptimeSeconds"])
	}
}

func TestBadInputAnswersProblems(t *testing.T) {
	e := newAPIEnv(t, func(o *Options) { o.MaxBodyBytes = 64 << 10 })
	e.createTopic("Bad", 1)
	big := strings.Repeat("x", 100<<10)
	cases := []struct {
		name, method, path string
		body               any
		contentType        string
		status             int
	}{
		{"unknown topic queues", "GET", "/topics/NoSuchTopic/queues", nil, "", 404},
		{"unknown topic route", "GET", "/topics/NoSuchTopic/route", nil, "", 404},
		{"invalid topic name", "GET", "/topics/bad%20name/queues", nil, "", 400},
		{"produce to unknown topic", "POST", "/topics/NoSuchTopic/messages", `{"body":"x"}`, "application/json", 404},
		{"produce to a system topic", "POST", "/topics/SCHEDULE_TOPIC_XXXX/messages", `{"body":"x"}`, "application/json", 400},
		{"malformed JSON", "POST", "/topics/Bad/messages", `{"body":`, "application/json", 400},
		{"unknown field", "POST", "/topics/Bad/messages", `{"bodee":"x"}`, "application/json", 400},
		{"two values", "POST", "/topics/Bad/messages", `{"body":"x"} {}`, "application/json", 400},
		{"not JSON", "POST", "/topics/Bad/messages", `body=x`, "application/x-www-form-urlencoded", 415},
		{"oversized body", "POST", "/topics/Bad/messages", `{"body":"` + big + `"}`, "application/json", 413},
		{"empty message", "POST", "/topics/Bad/messages", `{"body":""}`, "application/json", 400},
		{"reserved property", "POST", "/topics/Bad/messages", `{"body":"x","properties":{"UNIQ_KEY":"1"}}`, "application/json", 400},
		{"bad base64", "POST", "/topics/Bad/messages", `{"body":"***","bodyEncoding":"base64"}`, "application/json", 400},
		{"one and a batch", "POST", "/topics/Bad/messages", `{"body":"x","messages":[{"body":"y"}]}`, "application/json", 400},
		{"bad queue counts", "POST", "/topics", `{"topic":"Q","queues":0}`, "application/json", 400},
		{"bad group", "POST", "/groups/bad%20group/fetch", `{"topic":"Bad"}`, "application/json", 400},
		{"fetch too long", "POST", "/groups/g/fetch", `{"topic":"Bad","waitMs":999999}`, "application/json", 400},
		{"reset without a time", "POST", "/groups/g/reset", `{"topic":"Bad"}`, "application/json", 400},
		{"reset bad time", "POST", "/groups/g/reset", `{"topic":"Bad","timestamp":"yesterday"}`, "application/json", 400},
		{"commit unknown queue", "POST", "/groups/g/commit", `{"offsets":[{"topic":"Bad","brokerName":"x","queueId":0,"offset":1}]}`, "application/json", 404},
		{"message not an id", "GET", "/messages/not-an-id", nil, "", 400},
		{"bad max", "GET", "/topics/Bad/messages?max=0", nil, "", 400},
		{"no such endpoint", "GET", "/nothing", nil, "", 404},
		{"verify unknown broker", "POST", "/brokers/127.0.0.1:1/verify", `{}`, "application/json", 400},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e.t = t
			e.mustProblem(c.status, c.method, c.path, c.body, c.contentType)
		})
	}
	e.t = t
	if n := e.queueTotal("Bad"); n != 0 {
		t.Fatalf("bad requests stored %d messages", n)
	}
}

func TestProduceAndLookups(t *testing.T) {
	e := newAPIEnv(t, nil)
	e.createTopic("Mail", 2)
	one := e.produce("Mail", map[string]any{"body": `{"n":1}`, "tag": "tA", "keys": []string{"k-1"},
		"properties": map[string]string{"color": "red"}})
	if len(one.Results) != 1 || one.Results[0].Status != "SEND_OK" || one.Results[0].MsgID == "" {
		t.Fatalf("single: %+v", one)
	}
	batch := e.produce("Mail", map[string]any{"messages": []map[string]any{
		{"body": "b0", "keys": []string{"k-b"}}, {"body": "AAEC/w==", "bodyEncoding": "base64"}, {"body": "b2"}}})
	if len(batch.Results) != 3 || batch.Results[1].QueueOffset != batch.Results[0].QueueOffset+1 {
		t.Fatalf("batch: %+v", batch)
	}
	if n := e.queueTotal("Mail"); n != 4 {
		t.Fatalf("stored %d, want 4", n)
	}

	var view listing[[]admin.Message]
	if st := e.call("GET", "/messages/"+one.Results[0].OffsetMsgID, nil, &view); st != 200 || view.Items[0].Body != `{"n":1}` ||
		view.Items[0].Properties["color"] != "red" || view.Items[0].Tags != "tA" {
		t.Fatalf("view: %d %+v", st, view)
	}
	if e.call("GET", "/messages/"+one.Results[0].MsgID+"?topic=Mail", nil, &view); len(view.Items) != 1 || view.Items[0].Keys != "k-1" {
		t.Fatalf("view by unique key: %+v", view)
	}
	if e.call("GET", "/messages/"+one.Results[0].MsgID, nil, &view); len(view.Items) != 1 || view.Items[0].Topic != "Mail" {
		t.Fatalf("view by unique key without a topic: %+v", view)
	}
	var found listing[[]admin.Message]
	testutil.WaitFor(t, 5*time.Second, "key k-b indexed", func() bool {
		e.call("GET", "/topics/Mail/messages?key=k-b", nil, &found)
		return len(found.Items) == 1 && found.Items[0].Body == "b0"
	})
	e.call("GET", "/topics/Mail/messages?begin=-1h", nil, &found)
	if len(found.Items) != 4 {
		t.Fatalf("by time: %d messages", len(found.Items))
	}
	bin := batch.Results[1]
	e.call("GET", fmt.Sprintf("/topics/Mail/messages?queue=%d&offset=%d&max=1", bin.QueueID, bin.QueueOffset), nil, &found)
	if len(found.Items) != 1 || found.Items[0].BodyEncoding != "base64" || found.Items[0].Body != "AAEC/w==" {
		t.Fatalf("queue range: %+v", found.Items)
	}
	e.call("GET", "/topics/Mail/messages?key=nothing", nil, &found)
	if len(found.Items) != 0 {
		t.Fatalf("missing key found %+v", found.Items)
	}
}

type fetched struct {
	Messages []admin.Message `json:"messages"`
	Commit   []queueOffset   `json:"commit"`
}

func TestFetchCommitAndReset(t *testing.T) {
	e := newAPIEnv(t, nil)
	e.createTopic("Jobs", 2)
	for i := range 5 {
		e.produce("Jobs", map[string]any{"body": fmt.Sprintf("job-%d", i)})
	}
	var f fetched
	if st := e.call("POST", "/groups/workers/fetch", map[string]any{"topic": "Jobs", "max": 10}, &f); st != 200 || len(f.Messages) != 5 {
		t.Fatalf("fetch: %d, %d messages", st, len(f.Messages))
	}
	var again fetched
	if e.call("POST", "/groups/workers/fetch", map[string]any{"topic": "Jobs"}, &again); len(again.Messages) != 0 {
		t.Fatalf("a second fetch got %d messages again", len(again.Messages))
	}
	if st := e.call("POST", "/groups/workers/commit", map[string]any{"offsets": f.Commit}, nil); st != 200 {
		t.Fatalf("commit: %d", st)
	}
	var progress admin.Progress
	testutil.WaitFor(t, 5*time.Second, "lag 0", func() bool {
		return e.call("GET", "/groups/workers?topic=Jobs", nil, &progress) == 200 && progress.TotalLag == 0 && len(progress.Queues) == 2
	})

	// Long poll: the fetch waits until a message arrives.
	done := make(chan fetched, 1)
	go func() {
		var lp fetched
		e.call("POST", "/groups/workers/fetch", map[string]any{"topic": "Jobs", "waitMs": 10000}, &lp)
		done <- lp
	}()
	start := time.Now()
	testutil.WaitFor(t, 5*time.Second, "the long poll parked", func() bool { return len(e.api.fetch.slots) == 1 })
	e.produce("Jobs", map[string]any{"body": "late"})
	lp := <-done
	if len(lp.Messages) != 1 || lp.Messages[0].Body != "late" || time.Since(start) > 9*time.Second {
		t.Fatalf("long poll: %+v after %v", lp.Messages, time.Since(start))
	}
	e.call("POST", "/groups/workers/commit", map[string]any{"offsets": lp.Commit}, nil)

	// Reset to the earliest: the preview says what moves, the reset moves it.
	var preview listing[[]admin.ResetMove]
	e.call("POST", "/groups/workers/reset", map[string]any{"topic": "Jobs", "timestamp": "earliest", "preview": true}, &preview)
	var back int64
	for _, m := range preview.Items {
		back += m.Delta
	}
	if back != -6 {
		t.Fatalf("preview moves %d, want -6: %+v", back, preview.Items)
	}
	if st := e.call("POST", "/groups/workers/reset", map[string]any{"topic": "Jobs", "timestamp": "earliest"}, nil); st != 200 {
		t.Fatalf("reset: %d", st)
	}
	e.call("POST", "/groups/workers/fetch", map[string]any{"topic": "Jobs", "max": 10}, &f)
	if len(f.Messages) != 6 {
		t.Fatalf("after reset fetched %d, want 6", len(f.Messages))
	}
}

func TestCrossOriginAndAuthorizer(t *testing.T) {
	e := newAPIEnv(t, func(o *Options) { o.Authorizer = adminOnly{} })
	h := http.Header{"Origin": {"http://evil.example"}, "Sec-Fetch-Site": {"cross-site"}}
	st, data, _ := e.raw("POST", "/topics", `{"topic":"X"}`, "application/json", h)
	if st != http.StatusForbidden || !strings.Contains(string(data), "cross-origin") {
		t.Fatalf("cross-site POST: %d %s", st, data)
	}
	if st, _, _ = e.raw("POST", "/topics", `{"topic":"X"}`, "application/json", http.Header{"X-Role": {"reader"}}); st != http.StatusForbidden {
		t.Fatalf("reader creating a topic: %d", st)
	}
	st, _, hdr := e.raw("GET", "/topics", nil, "", nil)
	if st != http.StatusUnauthorized || !strings.HasPrefix(hdr.Get("WWW-Authenticate"), "Basic") {
		t.Fatalf("anonymous: %d %v", st, hdr)
	}
	if st, _, _ = e.raw("GET", "/topics", nil, "", http.Header{"X-Role": {"reader"}}); st != http.StatusOK {
		t.Fatalf("reader listing: %d", st)
	}
}

// adminOnly admits X-Role: admin to everything and X-Role: reader to reads.
type adminOnly struct{}

func (adminOnly) Authorize(r *http.Request, op Operation) error {
	switch r.Header.Get("X-Role") {
	case "admin":
		return nil
	case "reader":
		if op.Access == AccessRead {
			return nil
		}
		return fmt.Errorf("%s needs %s", op.Name, op.Access)
	}
	return ErrUnauthenticated
}

func TestOpenAPIMatchesHandlers(t *testing.T) {
	var doc struct {
		Paths map[string]map[string]struct {
			OperationID string `json:"operationId"`
			Access      string `json:"x-comet-access"`
			Responses   map[string]json.RawMessage
		} `json:"paths"`
	}
	data, err := os.ReadFile("openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	a := &API{}
	documented := 0
	for _, rt := range a.table() {
		op, ok := doc.Paths[rt.path][strings.ToLower(rt.method)]
		if !ok {
			t.Errorf("%s %s is served but not in openapi.json", rt.method, rt.path)
			continue
		}
		if op.OperationID != rt.id || op.Access != rt.access.String() || op.Responses["400"] == nil {
			t.Errorf("%s %s: document says %s/%s, handler %s/%s (or no problem answers)", rt.method, rt.path,
				op.OperationID, op.Access, rt.id, rt.access)
		}
	}
	for path, ops := range doc.Paths {
		documented += len(ops)
		for method := range ops {
			if !slices.ContainsFunc(a.table(), func(rt route) bool { return rt.path == path && strings.EqualFold(rt.method, method) }) {
				t.Errorf("openapi.json documents %s %s, which nothing serves", method, path)
			}
		}
	}
	if documented != len(a.table()) {
		t.Errorf("openapi.json has %d operations, the table %d", documented, len(a.table()))
	}
	e := newAPIEnv(t, nil)
	st, served, _ := e.raw("GET", "/openapi.json", nil, "", nil)
	if st != 200 || string(served) != string(data) {
		t.Fatalf("served document differs (status %d)", st)
	}
}
