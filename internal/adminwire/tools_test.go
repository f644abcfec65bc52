package adminwire

import (
	"errors"
	"testing"
)

// The golden forms below are what RocketMQ 4.9.8's fastjson writes for
// the same objects (fields in alphabetical order, doubles as Java prints
// them, message queues as object keys); MQAdminExt decodes them.

func TestBrokerStatsDataGolden(t *testing.T) {
	d := BrokerStatsData{StatsMinute: BrokerStatsItem{Sum: 60, Tps: 1, Avgpt: 1.5},
		StatsHour: BrokerStatsItem{Sum: 600, Tps: 0.25}, StatsDay: BrokerStatsItem{}}
	const want = `{"statsDay":{"avgpt":0.0,"sum":0,"tps":0.0},"statsHour":{"avgpt":0.0,"sum":600,"tps":0.25},` +
		`"statsMinute":{"avgpt":1.5,"sum":60,"tps":1.0}}`
	if got := string(d.Encode()); got != want {
		t.Fatalf("encode:\n got %s\nwant %s", got, want)
	}
	back, err := DecodeBrokerStatsData([]byte(want))
	if err != nil || *back != d {
		t.Fatalf("decode: %+v %v", back, err)
	}
}

func TestJavaDouble(t *testing.T) {
	for v, want := range map[float64]string{0: "0.0", 1: "1.0", 12.5: "12.5", -3: "-3.0", 0.001: "0.001",
		1e7: "1.0E7", 12345678.9: "1.23456789E7", 0.0001: "1.0E-4"} {
		if got := JavaDouble(v); got != want {
			t.Errorf("JavaDouble(%v) = %q, want %q", v, got, want)
		}
	}
}

func TestConsumeStatsListGolden(t *testing.T) {
	l := ConsumeStatsList{BrokerAddr: "127.0.0.1:10911", TotalDiff: 2, Groups: []GroupConsumeStats{{Group: "g",
		Stats: []ConsumeStats{{OffsetTable: []QueueValue[OffsetWrapper]{{Queue: MessageQueue{BrokerName: "broker-a", QueueID: 0, Topic: "T"},
			Value: OffsetWrapper{BrokerOffset: 3, ConsumerOffset: 1}}}}}}}}
	const want = `{"brokerAddr":"127.0.0.1:10911","consumeStatsList":[{"g":[{"consumeTps":0.0,"offsetTable":` +
		`{{"brokerName":"broker-a","queueId":0,"topic":"T"}:{"brokerOffset":3,"consumerOffset":1,"lastTimestamp":0}}}]}],"totalDiff":2}`
	if got := string(l.Encode()); got != want {
		t.Fatalf("encode:\n got %s\nwant %s", got, want)
	}
	back, err := DecodeConsumeStatsList([]byte(want))
	if err != nil || back.TotalDiff != 2 || len(back.Groups) != 1 || back.Groups[0].Stats[0].OffsetTable[0].Value.BrokerOffset != 3 {
		t.Fatalf("decode: %+v %v", back, err)
	}
}

func TestToolBodiesGolden(t *testing.T) {
	g := GroupList{GroupList: []string{"b", "a"}}
	if got := string(g.Encode()); got != `{"groupList":["a","b"]}` {
		t.Errorf("group list: %s", got)
	}
	p := ProducerConnection{ConnectionSet: []Connection{{ClientAddr: "127.0.0.1:5000", ClientID: "c@1", Language: "JAVA", Version: 409}}}
	if got := string(p.Encode()); got != `{"connectionSet":[{"clientAddr":"127.0.0.1:5000","clientId":"c@1","language":"JAVA","version":409}]}` {
		t.Errorf("producer connection: %s", got)
	}
	q := QueryConsumeQueueResponse{MaxQueueIndex: 3, QueueData: []ConsumeQueueData{{PhysicOffset: 91, PhysicSize: 120, TagsCode: 7}}}
	if got := string(q.Encode()); got != `{"maxQueueIndex":3,"minQueueIndex":0,"queueData":[{"eval":false,"physicOffset":91,"physicSize":120,"tagsCode":7}]}` {
		t.Errorf("consume queue: %s", got)
	}
}

func FuzzDecodeToolBodies(f *testing.F) {
	f.Add([]byte(`{"statsDay":{"avgpt":0.0,"sum":0,"tps":0.0},"statsHour":{"sum":1},"statsMinute":{"tps":1.0E7}}`))
	f.Add([]byte(`{"brokerAddr":"a","consumeStatsList":[{"g":[{"consumeTps":0.0,"offsetTable":{}}]}],"totalDiff":2}`))
	f.Add([]byte(`{"groupList":["a"]}`))
	f.Add([]byte("autoCreateTopicEnable=false\n# comment\nkey:value\n"))
	f.Add([]byte(`{"connectionSet":[{"clientId":"c","version":1}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		check := func(err error) {
			if err != nil && !errors.Is(err, ErrMalformed) {
				t.Fatalf("unclassed error %v", err)
			}
		}
		if d, err := DecodeBrokerStatsData(body); err == nil {
			if _, err := DecodeBrokerStatsData(d.Encode()); err != nil {
				t.Fatalf("stats data re-decode: %v", err)
			}
		} else {
			check(err)
		}
		if l, err := DecodeConsumeStatsList(body); err == nil {
			if again, err := DecodeConsumeStatsList(l.Encode()); err != nil || len(again.Groups) != len(l.Groups) {
				t.Fatalf("consume stats list re-decode: %v", err)
			}
		} else {
			check(err)
		}
		props := DecodeProperties(body)
		if again := DecodeProperties(EncodeProperties(props)); len(again) > len(props) {
			t.Fatalf("properties re-decode grew: %v → %v", props, again)
		}
		_, err := DecodeGroupList(body)
		check(err)
		_, err = DecodeProducerConnection(body)
		check(err)
		_, err = DecodeQueryConsumeQueueResponse(body)
		check(err)
	})
}
