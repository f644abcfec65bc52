package routing

import (
	"errors"
	"testing"
)

func TestRegisterBrokerBodyEncoding(t *testing.T) {
	body := RegisterBrokerBody{TopicConfigSerializeWrapper: TopicConfigSerializeWrapper{
		DataVersion:      DataVersion{Counter: 3, Timestamp: 1700000000000},
		TopicConfigTable: map[string]TopicConfig{"T": topicConfig("T", 4, 6)},
	}}
	got, err := body.Encode()
	if err != nil {
		t.Fatal(err)
	}
	want := `{"filterServerList":[],"topicConfigSerializeWrapper":{"dataVersion":{"counter":3,"timestamp":1700000000000},"topicConfigTable":{"T":{"order":false,"perm":6,"readQueueNums":4,"topicFilterType":"SINGLE_TAG","topicName":"T","topicSysFlag":0,"writeQueueNums":4}}}}`
	if string(got) != want {
		t.Fatalf("\n got: %s\nwant: %s", got, want)
	}
	decoded, err := DecodeRegisterBrokerBody(got)
	if err != nil {
		t.Fatal(err)
	}
	if decoded.TopicConfigSerializeWrapper.TopicConfigTable["T"] != topicConfig("T", 4, 6) {
		t.Fatalf("round trip: %+v", decoded)
	}
}

func TestDecodeRegisterBrokerBodyRejects(t *testing.T) {
	for name, body := range map[string]string{
		"not json":       `{`,
		"key mismatch":   `{"topicConfigSerializeWrapper":{"topicConfigTable":{"A":{"topicName":"B"}}}}`,
		"negative queue": `{"topicConfigSerializeWrapper":{"topicConfigTable":{"A":{"readQueueNums":-1}}}}`,
		"string perm":    `{"topicConfigSerializeWrapper":{"topicConfigTable":{"A":{"perm":"6"}}}}`,
	} {
		if _, err := DecodeRegisterBrokerBody([]byte(body)); !errors.Is(err, ErrBadBody) {
			t.Errorf("%s: got %v", name, err)
		}
	}
	if b, err := DecodeRegisterBrokerBody(nil); err != nil || len(b.TopicConfigSerializeWrapper.TopicConfigTable) != 0 {
		t.Fatalf("empty body: %v %v", b, err)
	}
}

func TestDecodeTopicRouteDataForms(t *testing.T) {
	standard := `{"brokerDatas":[{"brokerAddrs":{"0":"10.0.0.1:10911","1":"10.0.0.2:10911"},"brokerName":"b","cluster":"c"}],"filterServerTable":{},"queueDatas":[{"brokerName":"b","perm":6,"readQueueNums":4,"topicSysFlag":0,"writeQueueNums":4}]}`
	fast := `{"brokerDatas":[{"brokerAddrs":{0:"10.0.0.1:10911",1:"10.0.0.2:10911"},"brokerName":"b","cluster":"c"}],"filterServerTable":{},"queueDatas":[{"brokerName":"b","perm":6,"readQueueNums":4,"topicSysFlag":0,"writeQueueNums":4}]}`
	spaced := "{\"queueDatas\": [], \"brokerDatas\": [{\"brokerName\": \"x,y\", \"brokerAddrs\": { 0 : \"a:1\" , 12:\"b:2\"}}]}"
	for name, text := range map[string]string{"standard": standard, "fastjson": fast} {
		route, err := DecodeTopicRouteData([]byte(text))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		addrs := route.BrokerDatas[0].BrokerAddrs
		if addrs[0] != "10.0.0.1:10911" || addrs[1] != "10.0.0.2:10911" || route.QueueDatas[0].WriteQueueNums != 4 {
			t.Fatalf("%s: %+v", name, route)
		}
		again, err := route.Encode()
		if err != nil || string(again) != standard {
			t.Fatalf("%s: re-encode %s %v", name, again, err)
		}
	}
	route, err := DecodeTopicRouteData([]byte(spaced))
	if err != nil || route.BrokerDatas[0].BrokerAddrs[12] != "b:2" || route.BrokerDatas[0].BrokerName != "x,y" {
		t.Fatalf("spaced fastjson: %+v %v", route, err)
	}
}

func TestDecodeTopicRouteDataRejects(t *testing.T) {
	for name, text := range map[string]string{
		"empty":             ``,
		"no queueDatas":     `{"brokerDatas":[]}`,
		"string perm":       `{"queueDatas":[{"perm":"6"}],"brokerDatas":[]}`,
		"unterminated":      `{"queueDatas":[{"brokerName":"b`,
		"unbalanced":        `}{`,
		"bare key not addr": `{"queueDatas":[],"brokerDatas":[{"brokerAddrs":{x:"a"}}]}`,
	} {
		if _, err := DecodeTopicRouteData([]byte(text)); !errors.Is(err, ErrBadBody) {
			t.Errorf("%s: got %v", name, err)
		}
	}
}

func TestEncodeNeverEmitsNull(t *testing.T) {
	route := TopicRouteData{BrokerDatas: []BrokerData{{BrokerName: "b"}}}
	got, err := route.Encode()
	if err != nil {
		t.Fatal(err)
	}
	want := `{"brokerDatas":[{"brokerAddrs":{},"brokerName":"b","cluster":""}],"filterServerTable":{},"queueDatas":[]}`
	if string(got) != want {
		t.Fatalf("\n got: %s\nwant: %s", got, want)
	}
}

func TestBodyCRC32MatchesJavaMask(t *testing.T) {
	// crc32("123456789") = 0xCBF43926; Java masks the sign bit off.
	if got := BodyCRC32([]byte("123456789")); got != 0x4BF43926 {
		t.Fatalf("got %#x", got)
	}
}

func topicConfig(name string, queues, perm int32) TopicConfig {
	return TopicConfig{TopicName: name, ReadQueueNums: queues, WriteQueueNums: queues, Perm: perm, TopicFilterType: "SINGLE_TAG"}
}
