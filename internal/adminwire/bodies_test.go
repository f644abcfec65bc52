package adminwire

import (
	"errors"
	"reflect"
	"testing"
)

func TestTopicStatsTableEncodeIsFastjson(t *testing.T) {
	tbl := &TopicStatsTable{OffsetTable: []QueueValue[TopicOffset]{
		{Queue: MessageQueue{BrokerName: "b", QueueID: 1, Topic: "T"}, Value: TopicOffset{MaxOffset: 5, LastUpdateTimestamp: 9}},
		{Queue: MessageQueue{BrokerName: "b", QueueID: 0, Topic: "T"}, Value: TopicOffset{MaxOffset: 3, MinOffset: 1}},
	}}
	want := `{"offsetTable":{{"brokerName":"b","queueId":0,"topic":"T"}:{"lastUpdateTimestamp":0,"maxOffset":3,"minOffset":1},` +
		`{"brokerName":"b","queueId":1,"topic":"T"}:{"lastUpdateTimestamp":9,"maxOffset":5,"minOffset":0}}}`
	if got := string(tbl.Encode()); got != want {
		t.Fatalf("encode:\n got %s\nwant %s", got, want)
	}
	back, err := DecodeTopicStatsTable([]byte(want))
	if err != nil {
		t.Fatal(err)
	}
	if len(back.OffsetTable) != 2 || back.OffsetTable[1].Value.MaxOffset != 5 || back.OffsetTable[0].Queue.QueueID != 0 {
		t.Fatalf("decode: %+v", back)
	}
}

func TestConsumeStatsRoundTrip(t *testing.T) {
	in := &ConsumeStats{ConsumeTps: 1.5, OffsetTable: []QueueValue[OffsetWrapper]{
		{Queue: MessageQueue{BrokerName: "b", QueueID: 0, Topic: "T"}, Value: OffsetWrapper{BrokerOffset: 10, ConsumerOffset: 4, LastTimestamp: 7}},
	}}
	out, err := DecodeConsumeStats(in.Encode())
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(in, out) {
		t.Fatalf("round trip: %+v != %+v", out, in)
	}
	if out.OffsetTable[0].Value.Lag() != 6 {
		t.Fatalf("lag %d", out.OffsetTable[0].Value.Lag())
	}
}

func TestResetOffsetBodyMatchesGoClientParser(t *testing.T) {
	in := &ResetOffsetBody{OffsetTable: []QueueValue[int64]{
		{Queue: MessageQueue{BrokerName: "broker-a", QueueID: 0, Topic: "T"}, Value: 3},
		{Queue: MessageQueue{BrokerName: "broker-a", QueueID: 1, Topic: "T"}, Value: 4},
	}}
	body := string(in.Encode())
	want := `{"offsetTable":{{"brokerName":"broker-a","queueId":0,"topic":"T"}:3,{"brokerName":"broker-a","queueId":1,"topic":"T"}:4}}`
	if body != want {
		t.Fatalf("got %s", body)
	}
	out, err := DecodeResetOffsetBody([]byte(body))
	if err != nil || !reflect.DeepEqual(in, out) {
		t.Fatalf("round trip: %+v %v", out, err)
	}
}

func TestConsumerOffsetsBareIntegerKeys(t *testing.T) {
	java := []byte(`{"offsetTable":{"T@g":{0:12,1:7},"%RETRY%g@g":{0:0}}}`)
	c, err := DecodeConsumerOffsets(java)
	if err != nil {
		t.Fatal(err)
	}
	if c.OffsetTable["T@g"][1] != 7 || len(c.OffsetTable) != 2 {
		t.Fatalf("%+v", c)
	}
	if got := string(c.Encode()); got != `{"offsetTable":{"%RETRY%g@g":{0:0},"T@g":{0:12,1:7}}}` {
		t.Fatalf("encode %s", got)
	}
}

func TestPropertiesRoundTrip(t *testing.T) {
	in := map[string]string{"brokerName": "broker-a", "listenPort": "10911", "empty": ""}
	out := DecodeProperties(EncodeProperties(in))
	if !reflect.DeepEqual(in, out) {
		t.Fatalf("%v != %v", out, in)
	}
}

func TestDecodeRejectsMalformed(t *testing.T) {
	for _, body := range []string{
		``, `{`, `{"offsetTable":{{"topic":"T"}`, `{"offsetTable":{"x":1}}`, `{"offsetTable":{{"queueId":"a"}:1}}`,
		`{"offsetTable":{{"topic":"T"}:1,}}`, `[1]`, `{"offsetTable":{{"topic":"T"}:1}x`,
	} {
		if _, err := DecodeResetOffsetBody([]byte(body)); !errors.Is(err, ErrMalformed) {
			t.Errorf("%q: err %v, want ErrMalformed", body, err)
		}
	}
}

// FuzzDecodeBodies feeds every decoder arbitrary text: none may panic,
// every error is ErrMalformed, and what decodes re-encodes to text that
// decodes to the same value.
func FuzzDecodeBodies(f *testing.F) {
	f.Add([]byte(`{"offsetTable":{{"brokerName":"b","queueId":0,"topic":"T"}:{"lastUpdateTimestamp":1,"maxOffset":3,"minOffset":1}}}`))
	f.Add([]byte(`{"consumeTps":0.0,"offsetTable":{{"brokerName":"b","queueId":0,"topic":"T"}:{"brokerOffset":3}}}`))
	f.Add([]byte(`{"offsetTable":{"T@g":{0:12,1:7}}}`))
	f.Add([]byte(`{"offsetTable":{{"brokerName":"b","queueId":2,"topic":"T"}:5}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		if r, err := DecodeResetOffsetBody(body); err == nil {
			again, err := DecodeResetOffsetBody(r.Encode())
			if err != nil || len(again.OffsetTable) != len(r.OffsetTable) {
				t.Fatalf("reset body re-decode: %v", err)
			}
		} else if !errors.Is(err, ErrMalformed) {
			t.Fatalf("unclassed error %v", err)
		}
		if s, err := DecodeTopicStatsTable(body); err == nil {
			if _, err := DecodeTopicStatsTable(s.Encode()); err != nil {
				t.Fatalf("topic stats re-decode: %v", err)
			}
		} else if !errors.Is(err, ErrMalformed) {
			t.Fatalf("unclassed error %v", err)
		}
		if c, err := DecodeConsumeStats(body); err == nil {
			if _, err := DecodeConsumeStats(c.Encode()); err != nil {
				t.Fatalf("consume stats re-decode: %v", err)
			}
		}
		if c, err := DecodeConsumerOffsets(body); err == nil {
			if _, err := DecodeConsumerOffsets(c.Encode()); err != nil {
				t.Fatalf("consumer offsets re-decode: %v", err)
			}
		}
		DecodeProperties(body)
	})
}
