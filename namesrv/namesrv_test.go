package namesrv

import (
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/cometmq/comet/netio/remoting"
	"github.com/cometmq/comet/routing"
)

var updateGolden = flag.Bool("update", false, "rewrite testdata golden files")

// fakeClock is a settable clock for expiry tests.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func newTestNamesrv(t *testing.T) (*Registry, *fakeClock) {
	t.Helper()
	clock := &fakeClock{now: time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)}
	return NewRegistry(RegistryOptions{Now: clock.Now}), clock
}

type brokerSpec struct {
	cluster, name, addr, haAddr string
	id                          int64
	topics                      []routing.TopicConfig
}

func topicConfig(name string, queues, perm int32) routing.TopicConfig {
	return routing.TopicConfig{TopicName: name, ReadQueueNums: queues, WriteQueueNums: queues, Perm: perm, TopicFilterType: "SINGLE_TAG"}
}

func registerRequest(t testing.TB, b brokerSpec) *remoting.Command {
	t.Helper()
	table := map[string]routing.TopicConfig{}
	for _, tc := range b.topics {
		table[tc.TopicName] = tc
	}
	body, err := (&routing.RegisterBrokerBody{TopicConfigSerializeWrapper: routing.TopicConfigSerializeWrapper{
		DataVersion: routing.DataVersion{Counter: 1, Timestamp: 1700000000000}, TopicConfigTable: table,
	}}).Encode()
	if err != nil {
		t.Fatal(err)
	}
	req := remoting.NewRequest(remoting.RequestRegisterBroker)
	req.Ext.Set("brokerName", b.name)
	req.Ext.Set("brokerAddr", b.addr)
	req.Ext.Set("clusterName", b.cluster)
	req.Ext.Set("haServerAddr", b.haAddr)
	req.Ext.Set("brokerId", strconv.FormatInt(b.id, 10))
	req.Ext.Set("compressed", "false")
	req.Ext.Set("bodyCrc32", strconv.FormatInt(int64(routing.BodyCRC32(body)), 10))
	req.Body = body
	return req
}

func mustRegister(t *testing.T, n *Registry, remote string, b brokerSpec) *remoting.Command {
	t.Helper()
	resp := n.Handle(remote, registerRequest(t, b))
	if resp == nil || resp.Code != remoting.ResponseSuccess {
		t.Fatalf("register %s: %+v", b.addr, resp)
	}
	return resp
}

func routeRequest(topic string) *remoting.Command {
	req := remoting.NewRequest(remoting.RequestGetRouteInfoByTopic)
	req.Ext.Set("topic", topic)
	return req
}

func routeCode(n *Registry, topic string) int16 {
	return n.Handle("client:1", routeRequest(topic)).Code
}

func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *updateGolden {
		if err := os.WriteFile(path, append(got, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(want) != string(got)+"\n" {
		t.Fatalf("%s mismatch\n got: %s\nwant: %s", name, got, want)
	}
}

var (
	brokerA = brokerSpec{cluster: "DefaultCluster", name: "broker-a", addr: "192.168.1.10:10911",
		haAddr: "192.168.1.10:10912", topics: []routing.TopicConfig{topicConfig("T", 4, 6), topicConfig(remoting.AutoCreateTopicKey, 8, 7)}}
	brokerASlave = brokerSpec{cluster: "DefaultCluster", name: "broker-a", addr: "192.168.1.11:10911",
		haAddr: "192.168.1.11:10912", id: 1, topics: []routing.TopicConfig{topicConfig("T", 4, 6), topicConfig("SLAVE_ONLY", 2, 6)}}
	brokerB = brokerSpec{cluster: "DefaultCluster", name: "broker-b", addr: "192.168.1.20:10911",
		haAddr: "192.168.1.20:10912", topics: []routing.TopicConfig{topicConfig("T", 2, 6), topicConfig(remoting.AutoCreateTopicKey, 8, 7)}}
)

func TestRouteGoldenSingleMaster(t *testing.T) {
	n, _ := newTestNamesrv(t)
	mustRegister(t, n, "b:1", brokerA)
	resp := n.Handle("client:1", routeRequest("T"))
	if resp.Code != remoting.ResponseSuccess {
		t.Fatalf("code %d remark %q", resp.Code, resp.Remark)
	}
	want := `{"brokerDatas":[{"brokerAddrs":{"0":"192.168.1.10:10911"},"brokerName":"broker-a","cluster":"DefaultCluster"}],"filterServerTable":{},"queueDatas":[{"brokerName":"broker-a","perm":6,"readQueueNums":4,"topicSysFlag":0,"writeQueueNums":4}]}`
	if string(resp.Body) != want {
		t.Fatalf("route body\n got: %s\nwant: %s", resp.Body, want)
	}
	if !resp.IsResponse() {
		t.Fatalf("response flag not set: %+v", resp)
	}
}

func TestRouteGoldenMasterSlaveAndTBW102(t *testing.T) {
	n, _ := newTestNamesrv(t)
	mustRegister(t, n, "b:2", brokerB)
	mustRegister(t, n, "b:1", brokerA)
	mustRegister(t, n, "b:3", brokerASlave)
	for _, topic := range []string{"T", remoting.AutoCreateTopicKey} {
		body, ok := n.RouteBody(topic)
		if !ok {
			t.Fatalf("no route for %s", topic)
		}
		checkGolden(t, "route_"+topic+".json", body)
		route, err := routing.DecodeTopicRouteData(body)
		if err != nil {
			t.Fatal(err)
		}
		if got := route.BrokerDatas[0].BrokerAddrs; got[0] != brokerA.addr || got[1] != brokerASlave.addr {
			t.Fatalf("broker-a addrs %v", got)
		}
	}
	if code := routeCode(n, "SLAVE_ONLY"); code != remoting.ResponseTopicNotExist {
		t.Fatalf("slave-only topic: code %d, want %d (slaves add no queue data)", code, remoting.ResponseTopicNotExist)
	}
}

func TestUnknownTopicIsTopicNotExistWithoutBody(t *testing.T) {
	n, _ := newTestNamesrv(t)
	resp := n.Handle("client:1", routeRequest("nope"))
	if resp.Code != remoting.ResponseTopicNotExist || len(resp.Body) != 0 {
		t.Fatalf("got code %d body %q", resp.Code, resp.Body)
	}
}

func TestReRegistrationReplacesTopicSet(t *testing.T) {
	n, _ := newTestNamesrv(t)
	mustRegister(t, n, "b:1", brokerA)
	mustRegister(t, n, "b:2", brokerB)
	before, _ := n.RouteBody("T")
	shrunk := brokerA
	shrunk.topics = []routing.TopicConfig{topicConfig("NEW", 3, 6), topicConfig(remoting.AutoCreateTopicKey, 8, 7)}
	mustRegister(t, n, "b:1", shrunk)
	route, ok := n.Route("T")
	if !ok || len(route.QueueDatas) != 1 || route.QueueDatas[0].BrokerName != "broker-b" {
		t.Fatalf("T should keep only broker-b: %+v", route)
	}
	after, _ := n.RouteBody("T")
	if string(before) == string(after) {
		t.Fatal("cached route not invalidated after re-registration")
	}
	if code := routeCode(n, "NEW"); code != remoting.ResponseSuccess {
		t.Fatalf("NEW: code %d", code)
	}
	gone := brokerB
	gone.topics = nil
	mustRegister(t, n, "b:2", gone)
	if code := routeCode(n, "T"); code != remoting.ResponseTopicNotExist {
		t.Fatalf("T after both brokers dropped it: code %d", code)
	}
}

func TestSlaveRegistrationGetsMasterAddrs(t *testing.T) {
	n, _ := newTestNamesrv(t)
	resp := mustRegister(t, n, "b:3", brokerASlave)
	if v, ok := resp.Ext.Get("masterAddr"); ok {
		t.Fatalf("no master yet, got masterAddr %q", v)
	}
	masterResp := mustRegister(t, n, "b:1", brokerA)
	if _, ok := masterResp.Ext.Get("masterAddr"); ok {
		t.Fatal("a master must not be told a masterAddr")
	}
	resp = mustRegister(t, n, "b:3", brokerASlave)
	master, _ := resp.Ext.Get("masterAddr")
	ha, _ := resp.Ext.Get("haServerAddr")
	if master != brokerA.addr || ha != brokerA.haAddr {
		t.Fatalf("masterAddr %q haServerAddr %q", master, ha)
	}
}

func TestExpireStale(t *testing.T) {
	n, clock := newTestNamesrv(t)
	mustRegister(t, n, "b:1", brokerA)
	mustRegister(t, n, "b:2", brokerB)
	clock.Advance(100 * time.Second)
	mustRegister(t, n, "b:2", brokerB)
	if got := n.ExpireStale(clock.Now()); len(got) != 0 {
		t.Fatalf("expired too early: %v", got)
	}
	clock.Advance(21 * time.Second)
	got := n.ExpireStale(clock.Now())
	if len(got) != 1 || got[0] != brokerA.addr {
		t.Fatalf("expired %v, want [%s]", got, brokerA.addr)
	}
	route, ok := n.Route("T")
	if !ok || len(route.BrokerDatas) != 1 || route.BrokerDatas[0].BrokerName != "broker-b" {
		t.Fatalf("route after expiry: %+v", route)
	}
	clock.Advance(200 * time.Second)
	n.ExpireStale(clock.Now())
	for _, topic := range []string{"T", remoting.AutoCreateTopicKey} {
		if code := routeCode(n, topic); code != remoting.ResponseTopicNotExist {
			t.Fatalf("%s with every broker expired: code %d", topic, code)
		}
	}
	if info := n.ClusterInfo(); len(info.BrokerAddrTable) != 0 || len(info.ClusterAddrTable) != 0 {
		t.Fatalf("cluster info after expiry: %+v", info)
	}
}

func TestConnectionClosedDropsItsBrokers(t *testing.T) {
	n, _ := newTestNamesrv(t)
	mustRegister(t, n, "b:1", brokerA)
	mustRegister(t, n, "b:3", brokerASlave)
	mustRegister(t, n, "b:2", brokerB)
	n.ConnectionClosed("b:1")
	route, ok := n.Route("T")
	if !ok {
		t.Fatal("T vanished")
	}
	// broker-a keeps its slave and queue data; its master is gone.
	for _, bd := range route.BrokerDatas {
		if bd.BrokerName == "broker-a" {
			if _, hasMaster := bd.BrokerAddrs[0]; hasMaster || bd.BrokerAddrs[1] != brokerASlave.addr {
				t.Fatalf("broker-a addrs after master closed: %v", bd.BrokerAddrs)
			}
		}
	}
	n.ConnectionClosed("b:3")
	route, _ = n.Route("T")
	if len(route.BrokerDatas) != 1 || route.QueueDatas[0].BrokerName != "broker-b" {
		t.Fatalf("route after broker-a fully gone: %+v", route)
	}
	if got := n.LiveBrokers(); len(got) != 1 || got[0] != brokerB.addr {
		t.Fatalf("live brokers %v", got)
	}
}

func TestUnregisterBroker(t *testing.T) {
	n, _ := newTestNamesrv(t)
	mustRegister(t, n, "b:1", brokerA)
	req := remoting.NewRequest(remoting.RequestUnregisterBroker)
	req.Ext.Set("brokerName", brokerA.name)
	req.Ext.Set("brokerAddr", brokerA.addr)
	req.Ext.Set("clusterName", brokerA.cluster)
	req.Ext.Set("brokerId", "0")
	if resp := n.Handle("b:1", req); resp.Code != remoting.ResponseSuccess {
		t.Fatalf("unregister: %+v", resp)
	}
	if code := routeCode(n, "T"); code != remoting.ResponseTopicNotExist {
		t.Fatalf("T after unregister: code %d", code)
	}
}

func TestRegisterCRCMismatch(t *testing.T) {
	n, _ := newTestNamesrv(t)
	req := registerRequest(t, brokerA)
	req.Body = append([]byte{}, req.Body...)
	req.Body[len(req.Body)-2] ^= 1
	resp := n.Handle("b:1", req)
	if resp.Code != remoting.ResponseSystemError || resp.Remark != "crc32 not match" {
		t.Fatalf("got code %d remark %q", resp.Code, resp.Remark)
	}
	if len(n.LiveBrokers()) != 0 {
		t.Fatal("a rejected registration was applied")
	}
	req = registerRequest(t, brokerA)
	req.Ext.Set("bodyCrc32", "0") // 0 skips the check, as Java does
	if resp := n.Handle("b:1", req); resp.Code != remoting.ResponseSuccess {
		t.Fatalf("bodyCrc32=0: %+v", resp)
	}
}

func TestRegisterRejectsBadRequests(t *testing.T) {
	cases := map[string]func(*remoting.Command){
		"missing brokerName": func(r *remoting.Command) { r.Ext.Set("brokerName", "") },
		"bad brokerId":       func(r *remoting.Command) { r.Ext.Set("brokerId", "x") },
		"addr with space":    func(r *remoting.Command) { r.Ext.Set("brokerAddr", "1.2.3.4: 10911") },
		"addr without port":  func(r *remoting.Command) { r.Ext.Set("brokerAddr", "1.2.3.4") },
		"compressed":         func(r *remoting.Command) { r.Ext.Set("compressed", "true") },
		"bad body": func(r *remoting.Command) {
			r.Body = []byte(`{"topicConfigSerializeWrapper":[]}`)
			r.Ext.Set("bodyCrc32", strconv.FormatInt(int64(routing.BodyCRC32(r.Body)), 10))
		},
	}
	for name, mutate := range cases {
		t.Run("case="+name, func(t *testing.T) {
			n, _ := newTestNamesrv(t)
			req := registerRequest(t, brokerA)
			mutate(req)
			if resp := n.Handle("b:1", req); resp.Code != remoting.ResponseSystemError {
				t.Fatalf("got code %d", resp.Code)
			}
			if len(n.LiveBrokers()) != 0 {
				t.Fatal("bad registration applied")
			}
		})
	}
}

func TestParseRegistrationErrorsAreClassified(t *testing.T) {
	req := registerRequest(t, brokerA)
	req.Ext.Set("brokerAddr", "a b:1")
	if _, err := parseRegistration(req); !errors.Is(err, ErrBadAddress) {
		t.Fatalf("got %v", err)
	}
	req = registerRequest(t, brokerA)
	req.Ext.Set("bodyCrc32", "12345")
	if _, err := parseRegistration(req); !errors.Is(err, routing.ErrCRCMismatch) {
		t.Fatalf("got %v", err)
	}
}

func TestDeleteTopic(t *testing.T) {
	n, _ := newTestNamesrv(t)
	mustRegister(t, n, "b:1", brokerA)
	if _, ok := n.RouteBody("T"); !ok { // warm the cache
		t.Fatal("no route")
	}
	req := remoting.NewRequest(remoting.RequestDeleteTopicInNameSrv)
	req.Ext.Set("topic", "T")
	if resp := n.Handle("admin:1", req); resp.Code != remoting.ResponseSuccess {
		t.Fatalf("delete: %+v", resp)
	}
	if code := routeCode(n, "T"); code != remoting.ResponseTopicNotExist {
		t.Fatalf("T after delete: code %d", code)
	}
	if code := routeCode(n, remoting.AutoCreateTopicKey); code != remoting.ResponseSuccess {
		t.Fatalf("TBW102 lost by deleting T: code %d", code)
	}
	mustRegister(t, n, "b:1", brokerA)
	if code := routeCode(n, "T"); code != remoting.ResponseSuccess {
		t.Fatalf("T not restored by re-registration: code %d", code)
	}
}

func TestTopicListBody(t *testing.T) {
	n, _ := newTestNamesrv(t)
	mustRegister(t, n, "b:1", brokerA)
	resp := n.Handle("admin:1", remoting.NewRequest(remoting.RequestGetAllTopicListFromNameServer))
	want := `{"topicList":["T","TBW102"],"brokerAddr":null}`
	if resp.Code != remoting.ResponseSuccess || string(resp.Body) != want {
		t.Fatalf("got %d %s", resp.Code, resp.Body)
	}
}

func TestClusterInfoBody(t *testing.T) {
	n, _ := newTestNamesrv(t)
	mustRegister(t, n, "b:2", brokerB)
	mustRegister(t, n, "b:1", brokerA)
	mustRegister(t, n, "b:3", brokerASlave)
	other := brokerSpec{cluster: "Other", name: "broker-c", addr: "10.0.0.3:10911"}
	mustRegister(t, n, "b:4", other)
	resp := n.Handle("admin:1", remoting.NewRequest(remoting.RequestGetBrokerClusterInfo))
	if resp.Code != remoting.ResponseSuccess {
		t.Fatalf("code %d", resp.Code)
	}
	checkGolden(t, "cluster_info.json", resp.Body)
	var info routing.ClusterInfo
	if err := json.Unmarshal(resp.Body, &info); err != nil {
		t.Fatal(err)
	}
	if got := info.ClusterAddrTable["DefaultCluster"]; len(got) != 2 || got[0] != "broker-a" || got[1] != "broker-b" {
		t.Fatalf("DefaultCluster %v", got)
	}
	if info.BrokerAddrTable["broker-a"].BrokerAddrs[1] != brokerASlave.addr {
		t.Fatalf("broker-a %+v", info.BrokerAddrTable["broker-a"])
	}
}

func TestQueryDataVersion(t *testing.T) {
	n, clock := newTestNamesrv(t)
	query := func(version routing.DataVersion) (*remoting.Command, routing.DataVersion) {
		req := remoting.NewRequest(remoting.RequestQueryDataVersion)
		req.Ext.Set("brokerAddr", brokerA.addr)
		req.Body, _ = json.Marshal(version)
		resp := n.Handle("b:1", req)
		var stored routing.DataVersion
		if len(resp.Body) > 0 {
			if err := json.Unmarshal(resp.Body, &stored); err != nil {
				t.Fatal(err)
			}
		}
		return resp, stored
	}
	current := routing.DataVersion{Counter: 1, Timestamp: 1700000000000}
	if resp, _ := query(current); mustExt(t, resp, "changed") != "true" {
		t.Fatal("unregistered broker must be told changed=true")
	}
	mustRegister(t, n, "b:1", brokerA)
	resp, stored := query(current)
	if mustExt(t, resp, "changed") != "false" || stored != current {
		t.Fatalf("same version: changed=%s stored=%+v", mustExt(t, resp, "changed"), stored)
	}
	if resp, _ := query(routing.DataVersion{Counter: 2, Timestamp: 1}); mustExt(t, resp, "changed") != "true" {
		t.Fatal("new version must be changed=true")
	}
	// An unchanged query counts as a heartbeat.
	clock.Advance(100 * time.Second)
	query(current)
	clock.Advance(100 * time.Second)
	if expired := n.ExpireStale(clock.Now()); len(expired) != 0 {
		t.Fatalf("query did not refresh liveness: %v", expired)
	}
}

func mustExt(t *testing.T, cmd *remoting.Command, key string) string {
	t.Helper()
	v, ok := cmd.Ext.Get(key)
	if !ok {
		t.Fatalf("missing ext %q in %+v", key, cmd)
	}
	return v
}

func TestUnsupportedCodeReturnsNil(t *testing.T) {
	n, _ := newTestNamesrv(t)
	if resp := n.Handle("c:1", remoting.NewRequest(34)); resp != nil {
		t.Fatalf("got %+v", resp)
	}
}

func TestConcurrentRegisterAndRoute(t *testing.T) {
	n, _ := newTestNamesrv(t)
	mustRegister(t, n, "b:1", brokerA)
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				if w%2 == 0 {
					b := brokerB
					if i%2 == 0 {
						b.topics = b.topics[:1]
					}
					n.Handle("b:2", registerRequest(t, b))
					continue
				}
				if code := routeCode(n, "T"); code != remoting.ResponseSuccess {
					t.Errorf("route T: code %d", code)
					return
				}
			}
		}()
	}
	wg.Wait()
}
