package routing

import (
	"bytes"
	"testing"
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
