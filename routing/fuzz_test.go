package routing

import (
	"bytes"
	"strconv"
	"testing"

	"github.com/cometmq/comet/netio/remoting"
)

func FuzzDecodeTopicRouteData(f *testing.F) {
	f.Add([]byte(`{"brokerDatas":[{"brokerAddrs":{"0":"192.168.1.10:10911"},"brokerName":"broker-a","cluster":"DefaultCluster"}],"filterServerTable":{},"queueDatas":[{"brokerName":"broker-a","perm":6,"readQueueNums":4,"topicSysFlag":0,"writeQueueNums":4}]}`))
	f.Add([]byte(`{"brokerDatas":[{"brokerAddrs":{0:"a:1",1:"b:2"},"brokerName":"b"}],"queueDatas":[]}`))
	f.Add([]byte(`{"queueDatas":[],"brokerDatas":[{"brokerAddrs":{-1:"x"}}]}`))
	f.Add([]byte(`{"a":"\"{0:","queueDatas":[]}`))
	f.Add([]byte(`]`))
	f.Fuzz(func(t *testing.T, body []byte) {
		route, err := DecodeTopicRouteData(body)
		if err != nil {
			return
		}
		encoded, err := route.Encode()
		if err != nil {
			return // e.g. invalid UTF-8 is still encodable; other failures are not panics
		}
		again, err := DecodeTopicRouteData(encoded)
		if err != nil {
			t.Fatalf("re-decoding our own encoding failed: %v\n%s", err, encoded)
		}
		reencoded, err := again.Encode()
		if err != nil || !bytes.Equal(encoded, reencoded) {
			t.Fatalf("encoding not stable:\n%s\n%s", encoded, reencoded)
		}
	})
}

func FuzzRegisterBrokerBody(f *testing.F) {
	f.Add([]byte(`{"filterServerList":[],"topicConfigSerializeWrapper":{"dataVersion":{"counter":1,"timestamp":1700000000000},"topicConfigTable":{"T":{"order":false,"perm":6,"readQueueNums":4,"topicFilterType":"SINGLE_TAG","topicName":"T","topicSysFlag":0,"writeQueueNums":4}}}}`))
	f.Add([]byte(`{"topicConfigSerializeWrapper":{"topicConfigTable":{"A":{"readQueueNums":-1}}}}`))
	f.Add([]byte(``))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, body []byte) {
		n := NewNamesrv(NamesrvOptions{})
		req := remoting.NewRequest(remoting.RequestRegisterBroker)
		req.Ext.Set("brokerName", "broker-a")
		req.Ext.Set("brokerAddr", "127.0.0.1:10911")
		req.Ext.Set("clusterName", "c")
		req.Ext.Set("brokerId", "0")
		req.Ext.Set("bodyCrc32", strconv.FormatInt(int64(BodyCRC32(body)), 10))
		req.Body = body
		resp := n.Handle("b:1", req)
		parsed, err := DecodeRegisterBrokerBody(body)
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
			if _, err := DecodeTopicRouteData(routeBody); err != nil {
				t.Fatalf("route of %q does not decode: %v", topic, err)
			}
		}
	})
}
