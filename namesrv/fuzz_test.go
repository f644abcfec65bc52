package namesrv

import (
	"strconv"
	"testing"

	"github.com/cometmq/comet/netio/remoting"
	"github.com/cometmq/comet/routing"
)

func FuzzRegisterBrokerBody(f *testing.F) {
	f.Add([]byte(`{"filterServerList":[],"topicConfigSerializeWrapper":{"dataVersion":{"counter":1,"timestamp":1700000000000},"topicConfigTable":{"T":{"order":false,"perm":6,"readQueueNums":4,"topicFilterType":"SINGLE_TAG","topicName":"T","topicSysFlag":0,"writeQueueNums":4}}}}`))
	f.Add([]byte(`{"topicConfigSerializeWrapper":{"topicConfigTable":{"A":{"readQueueNums":-1}}}}`))
	f.Add([]byte(``))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, body []byte) {
		n := NewRegistry(RegistryOptions{})
		req := remoting.NewRequest(remoting.RequestRegisterBroker)
		req.Ext.Set("brokerName", "broker-a")
		req.Ext.Set("brokerAddr", "127.0.0.1:10911")
		req.Ext.Set("clusterName", "c")
		req.Ext.Set("brokerId", "0")
		req.Ext.Set("bodyCrc32", strconv.FormatInt(int64(routing.BodyCRC32(body)), 10))
		req.Body = body
		resp := n.Handle("b:1", req)
		parsed, err := routing.DecodeRegisterBrokerBody(body)
		if (err == nil) != (resp.Code == remoting.ResponseSuccess) {
			t.Fatalf("decode error %v but response code %d", err, resp.Code)
		}
		if err != nil {
			return
		}
		for topic := range parsed.TopicConfigSerializeWrapper.TopicConfigTable {
			routeBody, ok := n.RouteBody(topic)
			if !ok {
				t.Fatalf("registered topic %q has no route", topic)
			}
			if _, err := routing.DecodeTopicRouteData(routeBody); err != nil {
				t.Fatalf("route of %q does not decode: %v", topic, err)
			}
		}
	})
}
