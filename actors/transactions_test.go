package actors

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/cometmq/comet/netio/remoting"
)

func halfProps(group, id string) string {
	p := remoting.AppendProperty(nil, remoting.PropertyTransactionPrepared, "true")
	p = remoting.AppendProperty(p, remoting.PropertyProducerGroup, group)
	return string(remoting.AppendProperty(p, remoting.PropertyUniqKey, id))
}

func endTransaction(t testing.TB, c *remoting.Client, addr, group string, sendResp *remoting.Command, kind int) *remoting.Command {
	t.Helper()
	msgID, _ := sendResp.ExtString("msgId")
	_, _, phys, err := remoting.ParseOffsetMsgID(msgID)
	if err != nil {
		t.Fatalf("send response msgId %q: %v", msgID, err)
	}
	qoff, _ := sendResp.ExtString("queueOffset")
	req := remoting.NewRequest(remoting.RequestEndTransaction)
	req.Ext.Set("producerGroup", group)
	req.Ext.Set("tranStateTableOffset", qoff)
	req.Ext.Set("commitLogOffset", strconv.FormatInt(phys, 10))
	req.Ext.Set("commitOrRollback", strconv.Itoa(kind))
	req.Ext.Set("fromTransactionCheck", "false")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := c.Invoke(ctx, addr, req)
	if err != nil {
		t.Fatalf("END_TRANSACTION: %v", err)
	}
	return resp
}

func TestTransactionDecisionsTakeEffectOnce(t *testing.T) {
	b := startTestBroker(t, t.TempDir(), nil)
	defer b.Stop(context.Background())
	c := remoting.NewClient(remoting.ClientOptions{})
	defer c.Close()
	commit := sendRaw(t, c, b.Addr(), "TxT", "commit-me", halfProps("g", "ID-1"))
	rollback := sendRaw(t, c, b.Addr(), "TxT", "roll-me-back", halfProps("g", "ID-2"))
	if commit.Code != remoting.ResponseSuccess || rollback.Code != remoting.ResponseSuccess {
		t.Fatalf("half sends: %d %s / %d %s", commit.Code, commit.Remark, rollback.Code, rollback.Remark)
	}
	if got := queueBodies(t, b, "TxT", 0); len(got) != 0 {
		t.Fatalf("half messages visible before the decision: %q", got)
	}
	if r := endTransaction(t, c, b.Addr(), "other-group", commit, endTxnCommit); r.Code == remoting.ResponseSuccess {
		t.Fatal("a foreign producer group committed the transaction")
	}
	for range 3 {
		if r := endTransaction(t, c, b.Addr(), "g", commit, endTxnCommit); r.Code != remoting.ResponseSuccess {
			t.Fatalf("commit: %d %s", r.Code, r.Remark)
		}
	}
	if r := endTransaction(t, c, b.Addr(), "g", rollback, endTxnRollback); r.Code != remoting.ResponseSuccess {
		t.Fatalf("rollback: %d %s", r.Code, r.Remark)
	}
	if r := endTransaction(t, c, b.Addr(), "g", rollback, endTxnCommit); r.Code != remoting.ResponseSuccess {
		t.Fatalf("late commit after rollback: %d %s", r.Code, r.Remark)
	}
	got := queueBodies(t, b, "TxT", 0)
	if len(got) != 1 || got[0] != "commit-me" {
		t.Fatalf("real topic holds %q, want exactly [commit-me]", got)
	}
	st := b.TxnStats()
	if st.Committed.Load() != 1 || st.RolledBack.Load() != 1 || st.Pending.Load() != 0 || st.Ignored.Load() != 3 {
		t.Fatalf("stats: committed %d rolled back %d pending %d ignored %d", st.Committed.Load(), st.RolledBack.Load(), st.Pending.Load(), st.Ignored.Load())
	}
}

func TestEndTransactionRefusedWhenTheActorsMailboxIsFull(t *testing.T) {
	b := startTestBroker(t, t.TempDir(), nil)
	defer b.Stop(context.Background())
	c := remoting.NewClient(remoting.ClientOptions{})
	defer c.Close()
	half := sendRaw(t, c, b.Addr(), "TxFull", "held", halfProps("g", "ID-F"))
	if half.Code != remoting.ResponseSuccess {
		t.Fatalf("half send: %d %s", half.Code, half.Remark)
	}
	b.queuedEndTxn.Add(maxQueuedEndTxn) // as if that many decisions were waiting
	if r := endTransaction(t, c, b.Addr(), "g", half, endTxnCommit); r.Code != remoting.ResponseSystemBusy {
		t.Fatalf("decision past the mailbox bound: code %d %s, want SYSTEM_BUSY", r.Code, r.Remark)
	}
	b.queuedEndTxn.Add(-maxQueuedEndTxn)
	if r := endTransaction(t, c, b.Addr(), "g", half, endTxnCommit); r.Code != remoting.ResponseSuccess {
		t.Fatalf("decision within the bound: code %d %s", r.Code, r.Remark)
	}
	if got := queueBodies(t, b, "TxFull", 0); len(got) != 1 || got[0] != "held" {
		t.Fatalf("real topic holds %q after the commit", got)
	}
	if n := b.queuedEndTxn.Load(); n != 0 {
		t.Fatalf("%d decisions counted as queued after all were handled", n)
	}
}
