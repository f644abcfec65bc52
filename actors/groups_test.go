package actors

import (
	"context"
	"testing"

	"github.com/cometmq/comet/netio/remoting"
)

func TestUnregisterClientLeavesGroupAndFreesLocks(t *testing.T) {
	b := startTestBroker(t, t.TempDir(), nil)
	defer b.Stop(context.Background())
	c := remoting.NewClient(remoting.ClientOptions{})
	defer c.Close()
	call := func(req *remoting.Command) *remoting.Command {
		t.Helper()
		resp, err := c.Invoke(context.Background(), b.Addr(), req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	hb := remoting.NewRequest(remoting.RequestHeartbeat)
	hb.Body = []byte(`{"clientID":"c1","producerDataSet":[],"consumerDataSet":[{"groupName":"ug","consumeType":"CONSUME_PASSIVELY",` +
		`"messageModel":"CLUSTERING","consumeFromWhere":"CONSUME_FROM_FIRST_OFFSET","subscriptionDataSet":[{"topic":"UT","subString":"*"}]}]}`)
	if r := call(hb); r.Code != remoting.ResponseSuccess {
		t.Fatalf("heartbeat: %d %s", r.Code, r.Remark)
	}
	lock := remoting.NewRequest(remoting.RequestLockBatchMQ)
	lock.Body = []byte(`{"consumerGroup":"ug","clientId":"c1","mqSet":[{"topic":"UT","brokerName":"broker-a","queueId":0}]}`)
	if r := call(lock); string(r.Body) == `{"lockOKMQSet":[]}` || len(r.Body) == 0 {
		t.Fatalf("lock not granted: %s", r.Body)
	}
	list := remoting.NewRequest(remoting.RequestGetConsumerListByGroup)
	list.Ext.Set("consumerGroup", "ug")
	if r := call(list); r.Code != remoting.ResponseSuccess {
		t.Fatalf("consumer list before unregister: %d %s", r.Code, r.Remark)
	}
	un := remoting.NewRequest(remoting.RequestUnregisterClient)
	un.Ext.Set("clientID", "c1")
	un.Ext.Set("consumerGroup", "ug")
	if r := call(un); r.Code != remoting.ResponseSuccess {
		t.Fatalf("unregister: %d %s", r.Code, r.Remark)
	}
	list2 := remoting.NewRequest(remoting.RequestGetConsumerListByGroup)
	list2.Ext.Set("consumerGroup", "ug")
	if r := call(list2); r.Code == remoting.ResponseSuccess {
		t.Fatalf("group still lists members after unregister: %s", r.Body)
	}
	other := remoting.NewRequest(remoting.RequestLockBatchMQ)
	other.Body = []byte(`{"consumerGroup":"ug","clientId":"c2","mqSet":[{"topic":"UT","brokerName":"broker-a","queueId":0}]}`)
	if r := call(other); len(r.Body) == 0 || string(r.Body) == `{"lockOKMQSet":[]}` || string(r.Body) == `{"lockOKMQSet":null}` {
		t.Fatalf("queue still locked by the departed client: %s", r.Body)
	}
	b.Stop(context.Background())
	if err := b.Stop(context.Background()); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
}
