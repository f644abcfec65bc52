package client

import (
	"net/netip"
	"testing"

	"github.com/cometmq/comet/netio/remoting"
)

// Fuzz targets for every parser of peer input in the SDK: run one with
// go test -fuzz=FuzzName ./client/.

func FuzzDecodeConsumerList(f *testing.F) {
	f.Add([]byte(`{"consumerIdList":["10.0.0.1@1","10.0.0.2@2"]}`))
	f.Add([]byte(`{"consumerIdList":null}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		_, _ = decodeConsumerList(body)
	})
}

func FuzzDecodeLockResponse(f *testing.F) {
	f.Add([]byte(`{"lockOKMQSet":[{"topic":"T","brokerName":"b","queueId":1}]}`))
	f.Add([]byte(``))
	f.Fuzz(func(t *testing.T, body []byte) {
		mqs, err := decodeLockResponse(body)
		if err == nil && len(body) == 0 && len(mqs) != 0 {
			t.Fatal("empty body locked queues")
		}
	})
}

func FuzzDecodeOffsetFile(f *testing.F) {
	f.Add([]byte(`{"offsetTable":{"T@broker-a@0":12,"T@b@x@3":0}}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		table, err := decodeOffsetFile(data)
		if err != nil {
			return
		}
		for key := range table {
			mq, ok := parseOffsetKey(key)
			if !ok || offsetKey(mq) != key {
				t.Fatalf("key %q does not round-trip (%+v)", key, mq)
			}
		}
	})
}

func FuzzParseSendResponse(f *testing.F) {
	f.Add(int16(0), "7F00000100002A9F0000000000000000,7F00000100002A9F0000000000000010", "3", "17", 2)
	f.Add(int16(10), "", "x", "-1", 1)
	f.Add(int16(2), "", "", "", 1)
	f.Fuzz(func(t *testing.T, code int16, msgIDs, queueID, queueOffset string, n int) {
		if n < 0 || n > 64 {
			return
		}
		resp := remoting.NewResponse(&remoting.Command{}, code, "")
		resp.Ext.Set(remoting.ExtMsgID, msgIDs)
		resp.Ext.Set(remoting.ExtQueueID, queueID)
		resp.Ext.Set(remoting.ExtQueueOffset, queueOffset)
		res, err := parseSendResponse(resp, "a", MessageQueue{Topic: "T"}, make([]string, n))
		if err == nil && len(res) != n {
			t.Fatalf("%d results for %d messages", len(res), n)
		}
	})
}

func FuzzParsePullResponse(f *testing.F) {
	record, err := remoting.AppendMessage(nil, &remoting.MessageExt{
		Topic: "T", Body: []byte("x"), Properties: map[string]string{"TAGS": "a"},
		BornHost: netip.MustParseAddrPort("127.0.0.1:1"), StoreHost: netip.MustParseAddrPort("127.0.0.1:2"),
	})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(int16(0), "1", "0", "1", record)
	f.Add(int16(19), "5", "0", "5", []byte(nil))
	f.Add(int16(0), "1", "0", "1", record[:len(record)-1])
	f.Fuzz(func(t *testing.T, code int16, next, lo, hi string, body []byte) {
		resp := remoting.NewResponse(&remoting.Command{}, code, "")
		resp.Ext.Set(remoting.ExtNextBeginOffset, next)
		resp.Ext.Set(remoting.ExtMinOffset, lo)
		resp.Ext.Set(remoting.ExtMaxOffset, hi)
		resp.Ext.Set(remoting.ExtSuggestWhichBrokerID, "0")
		resp.Body = body
		res, err := parsePullResponse(resp, "a", MessageQueue{Topic: "T", BrokerName: "b"})
		if err == nil && res.Status == PullFound && len(body) > 0 && len(res.Messages) == 0 {
			t.Fatal("a found pull with a body decoded no message")
		}
	})
}

func FuzzParseTransactionCheck(f *testing.F) {
	record, err := remoting.AppendMessage(nil, &remoting.MessageExt{
		Topic: "T", Body: []byte("half"), Properties: map[string]string{"PGROUP": "g", "UNIQ_KEY": "ID"},
		BornHost: netip.MustParseAddrPort("127.0.0.1:1"), StoreHost: netip.MustParseAddrPort("127.0.0.1:2"),
	})
	if err != nil {
		f.Fatal(err)
	}
	f.Add("7", "99", "", record)
	f.Add("x", "", "tx", []byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, tranOffset, clOffset, txID string, body []byte) {
		req := remoting.NewRequest(remoting.RequestCheckTransactionState)
		req.Ext.Set(remoting.ExtTranStateTableOffset, tranOffset)
		req.Ext.Set(remoting.ExtCommitLogOffset, clOffset)
		req.Ext.Set(remoting.ExtTransactionID, txID)
		req.Body = body
		check, _, err := parseTransactionCheck("a", req)
		if err == nil && check.transactionID == "" && check.msg.MsgID != "" {
			t.Fatal("transaction id not defaulted")
		}
	})
}
