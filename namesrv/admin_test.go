package namesrv

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/cometmq/comet/internal/adminwire"
	"github.com/cometmq/comet/netio/remoting"
	"github.com/cometmq/comet/routing"
)

// adminRequest builds a request as RocketMQ 4.9.8's MQClientAPIImpl does:
// the header class's fields as ext keys, the body as given.
func adminRequest(code int16, body string, kv ...string) *remoting.Command {
	req := remoting.NewRequest(code)
	for i := 0; i+1 < len(kv); i += 2 {
		req.Ext.Set(kv[i], kv[i+1])
	}
	if body != "" {
		req.Body = []byte(body)
	}
	return req
}

func TestKVConfigPutGetDeleteAndPersist(t *testing.T) {
	path := filepath.Join(t.TempDir(), "namesrv", "kvConfig.json")
	n, err := OpenRegistry(RegistryOptions{KVConfigPath: path})
	if err != nil {
		t.Fatal(err)
	}
	put := n.Handle("c", adminRequest(remoting.RequestPutKVConfig, "", "namespace", "ORDER_TOPIC_CONFIG", "key", "T", "value", "broker-a:4"))
	if put.Code != remoting.ResponseSuccess {
		t.Fatalf("put: %d %s", put.Code, put.Remark)
	}
	if r := n.Handle("c", adminRequest(remoting.RequestPutKVConfig, "", "key", "T")); r.Code != remoting.ResponseSystemError {
		t.Fatalf("put without namespace: %d, want SYSTEM_ERROR", r.Code)
	}
	again, err := OpenRegistry(RegistryOptions{KVConfigPath: path})
	if err != nil {
		t.Fatal(err)
	}
	get := again.Handle("c", adminRequest(remoting.RequestGetKVConfig, "", "namespace", "ORDER_TOPIC_CONFIG", "key", "T"))
	if v, _ := get.Ext.Get("value"); get.Code != remoting.ResponseSuccess || v != "broker-a:4" {
		t.Fatalf("get after reopening: %d %q, want the value put before", get.Code, v)
	}
	list := again.Handle("c", adminRequest(remoting.RequestGetKVListByNamespace, "", "namespace", "ORDER_TOPIC_CONFIG"))
	if list.Code != remoting.ResponseSuccess || string(list.Body) != `{"table":{"T":"broker-a:4"}}` {
		t.Fatalf("kv list: %d %s", list.Code, list.Body)
	}
	del := again.Handle("c", adminRequest(remoting.RequestDeleteKVConfig, "", "namespace", "ORDER_TOPIC_CONFIG", "key", "T"))
	if del.Code != remoting.ResponseSuccess {
		t.Fatalf("delete: %d", del.Code)
	}
	missing := again.Handle("c", adminRequest(remoting.RequestGetKVConfig, "", "namespace", "ORDER_TOPIC_CONFIG", "key", "T"))
	if missing.Code != remoting.ResponseQueryNotFound || !strings.Contains(missing.Remark, "No config item") {
		t.Fatalf("get after delete: %d %q, want QUERY_NOT_FOUND", missing.Code, missing.Remark)
	}
}

func TestWipeAndAddWritePermSurviveRegistrations(t *testing.T) {
	n := NewRegistry(RegistryOptions{})
	register := func() {
		t.Helper()
		body := &routing.RegisterBrokerBody{TopicConfigSerializeWrapper: routing.TopicConfigSerializeWrapper{
			TopicConfigTable: map[string]routing.TopicConfig{
				"A": {TopicName: "A", ReadQueueNums: 4, WriteQueueNums: 4, Perm: 6},
				"B": {TopicName: "B", ReadQueueNums: 4, WriteQueueNums: 4, Perm: 6}}}}
		n.register(registration{brokerName: "broker-a", brokerAddr: "127.0.0.1:10911", clusterName: "c", body: body})
	}
	perm := func(topic string) int32 {
		r, ok := n.Route(topic)
		if !ok {
			t.Fatalf("no route for %s", topic)
		}
		return r.QueueDatas[0].Perm
	}
	register()
	wipe := n.Handle("c", adminRequest(remoting.RequestWipeWritePermOfBroker, "", "brokerName", "broker-a"))
	if v, _ := wipe.Ext.Get("wipeTopicCount"); wipe.Code != remoting.ResponseSuccess || v != "2" {
		t.Fatalf("wipe: %d wipeTopicCount %q, want 2", wipe.Code, v)
	}
	register() // the broker's next heartbeat must not undo the wipe
	if perm("A") != 4 || perm("B") != 4 {
		t.Fatalf("perms after wipe and a registration: %d %d, want read only (4)", perm("A"), perm("B"))
	}
	add := n.Handle("c", adminRequest(remoting.RequestAddWritePermOfBroker, "", "brokerName", "broker-a"))
	if v, _ := add.Ext.Get("addTopicCount"); add.Code != remoting.ResponseSuccess || v != "2" || perm("A") != 6 {
		t.Fatalf("add: %d addTopicCount %q perm %d, want 2 and 6", add.Code, v, perm("A"))
	}
	register()
	if perm("A") != 6 {
		t.Fatalf("perm after add and a registration: %d, want 6", perm("A"))
	}
}

func TestNamesrvConfigGetAndUpdate(t *testing.T) {
	n := NewRegistry(RegistryOptions{})
	n.SetListenAddr("127.0.0.1:9876")
	props := adminwire.DecodeProperties(n.Handle("c", adminRequest(remoting.RequestGetNameSrvConfig, "")).Body)
	if props["listenPort"] != "9876" || props["orderMessageEnable"] != "false" || props["productEnvName"] != "center" {
		t.Fatalf("config: %v", props)
	}
	if r := n.Handle("c", adminRequest(remoting.RequestUpdateNameSrvConfig, "productEnvName=test\norderMessageEnable=true\n")); r.Code != remoting.ResponseSuccess {
		t.Fatalf("update: %d %s", r.Code, r.Remark)
	}
	props = adminwire.DecodeProperties(n.Handle("c", adminRequest(remoting.RequestGetNameSrvConfig, "")).Body)
	if props["productEnvName"] != "test" || props["orderMessageEnable"] != "true" {
		t.Fatalf("config after update: %v", props)
	}
	if r := n.Handle("c", adminRequest(remoting.RequestUpdateNameSrvConfig, "kvConfigPath=/tmp/x\n")); r.Code != remoting.ResponseNoPermission {
		t.Fatalf("black-listed key: %d, want NO_PERMISSION", r.Code)
	}
	if r := n.Handle("c", adminRequest(remoting.RequestUpdateNameSrvConfig, "listenPort=1\nproductEnvName=x\n")); r.Code != remoting.ResponseSystemError ||
		!strings.Contains(r.Remark, "listenPort") {
		t.Fatalf("restart-only key: %d %q, want SYSTEM_ERROR naming listenPort", r.Code, r.Remark)
	}
	if props := adminwire.DecodeProperties(n.Handle("c", adminRequest(remoting.RequestGetNameSrvConfig, "")).Body); props["productEnvName"] != "test" {
		t.Fatalf("a refused update changed productEnvName to %q", props["productEnvName"])
	}
}
