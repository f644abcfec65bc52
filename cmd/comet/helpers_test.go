package main

import (
	"context"
	"testing"
	"time"

	"github.com/cometmq/comet/internal/testutil/rmq"
	"github.com/cometmq/comet/netio/remoting"
)

// The official client's set-up lives in internal/testutil/rmq; these
// names keep this package's tests short.
var (
	uniqueName        = rmq.UniqueName
	startProducer     = rmq.StartProducer
	sendSyncOK        = rmq.SendSyncOK
	startPushConsumer = rmq.StartPushConsumer
	waitForRoute      = rmq.WaitForRoute
	requireExactly    = rmq.RequireExactly
)

type collector = rmq.Collector

func newRawClient(t *testing.T) *remoting.Client {
	t.Helper()
	c := remoting.NewClient(remoting.ClientOptions{})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func invoke(t *testing.T, c *remoting.Client, addr string, req *remoting.Command) *remoting.Command {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := c.Invoke(ctx, addr, req)
	if err != nil {
		t.Fatalf("%s: %v", remoting.RequestName(req.Code), err)
	}
	return resp
}

// rawPullAll pulls one queue from offset 0 until its max offset with the
// given subscription and returns every decoded message.
func rawPullAll(t *testing.T, c *remoting.Client, addr, group, topic string, queueID int32, subscription string) []*remoting.MessageExt {
	t.Helper()
	var out []*remoting.MessageExt
	offset := int64(0)
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		h := remoting.PullHeader{ConsumerGroup: group, Topic: topic, QueueID: queueID, QueueOffset: offset,
			MaxMsgNums: 32, SysFlag: remoting.PullFlagSuspend | remoting.PullFlagSubscription,
			SuspendTimeoutMillis: 200, Subscription: subscription, SubVersion: time.Now().UnixMilli(), ExpressionType: "TAG"}
		req := remoting.NewRequest(remoting.RequestPullMessage)
		h.Apply(req)
		resp := invoke(t, c, addr, req)
		rh, err := remoting.ParsePullResponseHeader(resp)
		if err != nil {
			t.Fatalf("pull response header: %v (code %d %s)", err, resp.Code, resp.Remark)
		}
		switch resp.Code {
		case remoting.ResponseSuccess:
			msgs, err := remoting.DecodeMessages(resp.Body)
			if err != nil {
				t.Fatalf("decode pulled messages: %v", err)
			}
			out = append(out, msgs...)
		case remoting.ResponsePullNotFound, remoting.ResponsePullRetryImmediately:
		default:
			t.Fatalf("pull: code %d %s", resp.Code, resp.Remark)
		}
		if rh.NextBeginOffset > offset {
			offset = rh.NextBeginOffset
		}
		if offset >= rh.MaxOffset {
			return out
		}
	}
	t.Fatalf("pull of %s/%d did not reach the max offset", topic, queueID)
	return nil
}
