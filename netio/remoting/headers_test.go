package remoting

import (
	"errors"
	"strings"
	"testing"
)

// goClientSendExt is the v1 header the Go client sends.
var goClientSendExt = []Field{
	{"producerGroup", "pg"}, {"topic", "T"}, {"queueId", "1"}, {"sysFlag", "0"},
	{"bornTimestamp", "1700000000000"}, {"flag", "0"}, {"properties", "TAGS\x01x\x02UNIQ_KEY\x01u\x02"},
	{"reconsumeTimes", "0"}, {"unitMode", "false"}, {"maxReconsumeTimes", "0"}, {"batch", "false"},
	{"defaultTopic", "TBW102"}, {"defaultTopicQueueNums", "4"},
}

// goClientBatchExt is the v2 header of SEND_BATCH_MESSAGE.
var goClientBatchExt = []Field{
	{"a", "pg"}, {"b", "T"}, {"c", "TBW102"}, {"d", "4"}, {"e", "1"}, {"f", "0"}, {"g", "1700000000000"},
	{"h", "0"}, {"i", ""}, {"j", "0"}, {"k", "false"}, {"l", "0"}, {"m", "true"},
}

func TestParseSendHeaderV1AndV2(t *testing.T) {
	v1 := &Command{Code: RequestSendMessage, Ext: Ext{Fields: goClientSendExt}}
	h, err := ParseSendHeader(v1)
	if err != nil {
		t.Fatal(err)
	}
	want := SendHeader{ProducerGroup: "pg", Topic: "T", DefaultTopic: "TBW102", DefaultTopicQueueNums: 4, QueueID: 1,
		BornTimestamp: 1700000000000, Properties: "TAGS\x01x\x02UNIQ_KEY\x01u\x02"}
	if h != want {
		t.Fatalf("v1 %+v", h)
	}
	v2 := &Command{Code: RequestSendBatchMessage, Ext: Ext{Fields: goClientBatchExt}}
	h2, err := ParseSendHeader(v2)
	if err != nil {
		t.Fatal(err)
	}
	want.Properties, want.Batch = "", true
	if h2 != want {
		t.Fatalf("v2 %+v", h2)
	}
	for _, code := range []int16{RequestSendMessage, RequestSendMessageV2, RequestSendBatchMessage, RequestSendReplyMessage} {
		cmd := &Command{Code: code}
		want.UnitMode, want.MaxReconsumeTimes, want.ReconsumeTimes, want.SysFlag = true, 16, 3, SysFlagTransactionPrepare
		want.Apply(cmd)
		_, v2Keys := cmd.Ext.Get("a")
		if v2Keys != UsesSendHeaderV2(code) || cmd.Ext.Len() != 13 {
			t.Fatalf("code %d: v2 keys %v, %d fields", code, v2Keys, cmd.Ext.Len())
		}
		back, err := ParseSendHeader(cmd)
		if err != nil || back != want {
			t.Fatalf("code %d round trip %+v %v", code, back, err)
		}
	}
}

func TestParseSendHeaderErrorsNameField(t *testing.T) {
	for _, missing := range []string{"producerGroup", "topic", "defaultTopic", "queueId", "bornTimestamp", "flag", "sysFlag"} {
		cmd := &Command{Code: RequestSendMessage}
		for _, f := range goClientSendExt {
			if f.Key != missing {
				cmd.Ext.Set(f.Key, f.Value)
			}
		}
		if _, err := ParseSendHeader(cmd); !errors.Is(err, ErrMissingField) || !strings.Contains(err.Error(), missing) {
			t.Errorf("missing %s: %v", missing, err)
		}
	}
	cmd := &Command{Code: RequestSendMessage}
	for _, f := range goClientSendExt {
		cmd.Ext.Set(f.Key, f.Value)
	}
	cmd.Ext.Set("queueId", "one")
	if _, err := ParseSendHeader(cmd); !errors.Is(err, ErrInvalidField) || !strings.Contains(err.Error(), "queueId") {
		t.Errorf("bad queueId: %v", err)
	}
	cmd.Ext.Set("queueId", "1")
	remove := func(key string) {
		kept := cmd.Ext.Fields[:0]
		for _, f := range cmd.Ext.Fields {
			if f.Key != key {
				kept = append(kept, f)
			}
		}
		cmd.Ext.Fields = kept
	}
	remove("properties")
	remove("reconsumeTimes")
	remove("batch")
	if h, err := ParseSendHeader(cmd); err != nil || h.Properties != "" || h.Batch {
		t.Errorf("optional fields absent: %+v %v", h, err)
	}
}

func TestPullHeaderRoundTrip(t *testing.T) {
	goClient := &Command{Code: RequestPullMessage, Ext: Ext{Fields: []Field{
		{"consumerGroup", "cg"}, {"topic", "T"}, {"queueId", "3"}, {"queueOffset", "100"}, {"maxMsgNums", "32"},
		{"sysFlag", "3"}, {"commitOffset", "-1"}, {"suspendTimeoutMillis", "20000"}, {"subscription", ""},
		{"subVersion", "0"}, {"expressionType", "TAG"},
	}}}
	h, err := ParsePullHeader(goClient)
	if err != nil {
		t.Fatal(err)
	}
	want := PullHeader{ConsumerGroup: "cg", Topic: "T", QueueID: 3, QueueOffset: 100, MaxMsgNums: 32, SysFlag: 3,
		CommitOffset: -1, SuspendTimeoutMillis: 20000, ExpressionType: "TAG"}
	if h != want || !h.HasCommitOffset() || !h.IsSuspend() || h.HasSubscription() {
		t.Fatalf("%+v", h)
	}
	want.SubVersion, want.Subscription, want.SysFlag = 1650000000000000001, "a || b", 6
	cmd := NewRequest(RequestPullMessage)
	want.Apply(cmd)
	frame := AppendFrame(nil, cmd)
	back, err := ParsePullHeader(mustDecode(t, frame))
	if err != nil || back != want || cmd.Ext.Len() != 11 {
		t.Fatalf("round trip %+v %v", back, err)
	}
	goClient.Ext.Set("queueOffset", "x")
	if _, err := ParsePullHeader(goClient); !errors.Is(err, ErrInvalidField) || !strings.Contains(err.Error(), "queueOffset") {
		t.Fatalf("bad queueOffset: %v", err)
	}
}

func TestPullResponseHeader(t *testing.T) {
	resp := NewResponse(NewRequest(RequestPullMessage), ResponseSuccess, "")
	want := PullResponseHeader{NextBeginOffset: 10, MinOffset: 0, MaxOffset: 10, SuggestWhichBrokerID: 0}
	want.Apply(resp)
	got, err := ParsePullResponseHeader(resp)
	if err != nil || got != want || resp.Ext.Len() != 4 {
		t.Fatalf("%+v %v", got, err)
	}
}
