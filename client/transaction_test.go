package client

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/cometmq/comet/internal/testutil"
	"github.com/cometmq/comet/netio/remoting"
)

// listenerFunc adapts two functions to TransactionListener.
type listenerFunc struct {
	execute func(*Message) TransactionState
	check   func(*MessageExt) TransactionState
}

func (l listenerFunc) ExecuteLocalTransaction(_ context.Context, m *Message) TransactionState {
	return l.execute(m)
}

func (l listenerFunc) CheckLocalTransaction(_ context.Context, m *MessageExt) TransactionState {
	return l.check(m)
}

// expectExt checks ext fields of cmd.
func expectExt(t *testing.T, cmd *remoting.Command, want map[string]string) {
	t.Helper()
	for key, value := range want {
		if got, ok := cmd.Ext.Get(key); !ok || got != value {
			t.Fatalf("%s: %s = %q, want %q (all: %+v)", remoting.RequestName(cmd.Code), key, got, value, cmd.Ext.Fields)
		}
	}
}

// sendCheck sends a CHECK_TRANSACTION_STATE about a half message of group,
// as a broker does, on conn.
func sendCheck(t *testing.T, conn *fakeConn, group, uniqID string) {
	t.Helper()
	stored := &remoting.MessageExt{
		Topic: "TxTopic", Body: []byte("half"), QueueOffset: 3, CommitLogOffset: 555,
		BornHost: netip.MustParseAddrPort("127.0.0.1:5000"), StoreHost: netip.MustParseAddrPort("127.0.0.1:10911"),
		Properties: map[string]string{remoting.PropertyProducerGroup: group, remoting.PropertyUniqKey: uniqID,
			remoting.PropertyTransactionPrepared: "true"},
	}
	check := remoting.NewRequest(remoting.RequestCheckTransactionState)
	check.Flag |= remoting.FlagOneway
	check.SetExtInt64(remoting.ExtTranStateTableOffset, 77)
	check.SetExtInt64(remoting.ExtCommitLogOffset, 555)
	check.Ext.Set(remoting.ExtMsgID, uniqID)
	check.Ext.Set(remoting.ExtTransactionID, uniqID)
	check.Ext.Set(remoting.ExtOffsetMsgID, remoting.OffsetMsgID(net.IPv4(127, 0, 0, 1), 10911, 555))
	var err error
	if check.Body, err = remoting.AppendMessage(nil, stored); err != nil {
		t.Fatal(err)
	}
	if err := conn.send(check); err != nil {
		t.Fatal(err)
	}
}

func TestTransactionHalfMessageAndCheckBack(t *testing.T) {
	var checkConn *fakeConn
	var connMu sync.Mutex
	fake := newFakeServer(t, func(fc *fakeConn, req *remoting.Command) *remoting.Command {
		if req.Code == remoting.RequestSendMessageV2 {
			connMu.Lock()
			checkConn = fc
			connMu.Unlock()
		}
		return nil
	})
	c, err := New(WithNameServers(fake.addr()), WithLogger(testLogger()))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	checked := make(chan *MessageExt, 4)
	tp, err := c.NewTransactionProducer("txg", listenerFunc{
		execute: func(*Message) TransactionState { return UnknownTransaction },
		check: func(m *MessageExt) TransactionState {
			checked <- m
			return CommitTransaction
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	res, err := tp.SendInTransaction(testContext(t), NewMessage("TxTopic", []byte("half")))
	if err != nil {
		t.Fatal(err)
	}
	if res.State != UnknownTransaction || res.Status != SendOK {
		t.Fatalf("result %+v", res)
	}
	send := fake.requests(remoting.RequestSendMessageV2)[0]
	h, err := remoting.ParseSendHeader(send)
	if err != nil {
		t.Fatal(err)
	}
	props := remoting.ParseProperties(h.Properties)
	if h.SysFlag&remoting.SysFlagTransactionPrepare == 0 || props[remoting.PropertyTransactionPrepared] != "true" ||
		props[remoting.PropertyProducerGroup] != "txg" || props[remoting.PropertyUniqKey] != res.MsgID {
		t.Fatalf("half message header %+v", h)
	}
	var end *remoting.Command
	testutil.WaitFor(t, 5*time.Second, "END_TRANSACTION after the send", func() bool {
		ends := fake.requests(remoting.RequestEndTransaction)
		if len(ends) > 0 {
			end = ends[0]
		}
		return end != nil
	})
	_, _, wantCLO, _ := remoting.ParseOffsetMsgID(res.OffsetMsgID)
	expectExt(t, end, map[string]string{
		remoting.ExtCommitOrRollback: "0", remoting.ExtFromTransactionCheck: "false",
		remoting.ExtCommitLogOffset:      strconv.FormatInt(wantCLO, 10),
		remoting.ExtTranStateTableOffset: strconv.FormatInt(res.QueueOffset, 10),
		remoting.ExtProducerGroup:        "txg", remoting.ExtMsgID: res.MsgID,
	})

	// The broker asks back on the same connection: first about another
	// group's message (ignored), then about ours.
	connMu.Lock()
	for _, group := range []string{"other-group", "txg"} {
		sendCheck(t, checkConn, group, res.MsgID)
	}
	connMu.Unlock()
	select {
	case m := <-checked:
		if string(m.Body) != "half" || m.MsgID != res.MsgID {
			t.Fatalf("checked message %+v", m)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("check-back never reached the listener")
	}
	testutil.WaitFor(t, 5*time.Second, "END_TRANSACTION answering the check", func() bool {
		return len(fake.requests(remoting.RequestEndTransaction)) >= 2
	})
	expectExt(t, fake.requests(remoting.RequestEndTransaction)[1], map[string]string{
		remoting.ExtCommitOrRollback: "8", remoting.ExtFromTransactionCheck: "true",
		remoting.ExtCommitLogOffset: "555", remoting.ExtTranStateTableOffset: "77",
		remoting.ExtMsgID: res.MsgID, remoting.ExtTransactionID: res.MsgID,
	})
	if len(checked) != 0 {
		t.Fatal("the check for another group reached the listener")
	}
	if _, err := c.NewTransactionProducer("txg", listenerFunc{}); !errors.Is(err, ErrInvalidOption) {
		t.Fatalf("second transaction producer of a group: %v", err)
	}
}

func TestTransactionCommitAndRollbackOnBroker(t *testing.T) {
	env := startBroker(t)
	c := newTestClient(t, env)
	topic := uniqueTopic(t)
	createTopic(t, c, topic, 1)
	tp, err := c.NewTransactionProducer("txg", listenerFunc{
		execute: func(m *Message) TransactionState {
			if string(m.Body) == "commit" {
				return CommitTransaction
			}
			return RollbackTransaction
		},
		check: func(*MessageExt) TransactionState { return RollbackTransaction },
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := testContext(t)
	for _, body := range []string{"rollback", "commit"} {
		res, err := tp.SendInTransaction(ctx, NewMessage(topic, []byte(body)))
		if err != nil {
			var be *BrokerError
			if errors.As(err, &be) && be.Code == remoting.ResponseNoPermission {
				t.Skipf("this broker does not take transactional messages: %v", err)
			}
			t.Fatal(err)
		}
		if res.State.String() != map[string]string{"commit": "COMMIT", "rollback": "ROLLBACK"}[body] {
			t.Fatalf("%s: state %v", body, res.State)
		}
	}
	var got []*MessageExt
	testutil.WaitFor(t, 10*time.Second, "the committed message becomes visible", func() bool {
		got = pullAll(t, c, topic)
		return len(got) > 0
	})
	if len(got) != 1 || string(got[0].Body) != "commit" {
		t.Fatalf("visible: %d messages, first %q", len(got), got[0].Body)
	}
}
