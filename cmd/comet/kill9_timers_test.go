package main

import (
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cometmq/comet/internal/testutil"
	"github.com/cometmq/comet/netio/remoting"
)

// TestKill9KeepsTimersAndUndecidedTransactions kills the comet binary with
// SIGKILL while delayed messages are pending and transactional half
// messages are undecided. After the restart every delayed message must
// arrive in its topic (not before its due time) and every half message
// must be checked back with its producer group: the ones it commits arrive
// exactly once, the ones it rolls back never.
func TestKill9KeepsTimersAndUndecidedTransactions(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills the comet binary")
	}
	bin := testutil.BuildComet(t)
	dir := t.TempDir()
	brokerAddr, nsAddr := freeLoopbackAddr(t), freeLoopbackAddr(t)
	start := func() *cometProcess {
		return startTimerComet(t, bin, dir, brokerAddr, nsAddr)
	}
	c := start()
	client := newRawClient(t)
	const timers, halves, group = 40, 10, "k9-txn-group"
	due := map[string]int64{}
	for i := range timers {
		body := "timer-" + strconv.Itoa(i)
		delay := 1500 + 25*i
		props := remoting.AppendProperty(nil, remoting.PropertyTimerDelayMS, strconv.Itoa(delay))
		before := time.Now().UnixMilli()
		if resp := sendTo(t, client, c.Broker, "K9Timer", body, string(props)); resp.Code != remoting.ResponseSuccess {
			t.Fatalf("send %s: %d %s", body, resp.Code, resp.Remark)
		}
		due[body] = before + int64(delay)
	}
	for i := range halves {
		props := remoting.AppendProperty(nil, remoting.PropertyTransactionPrepared, "true")
		props = remoting.AppendProperty(props, remoting.PropertyProducerGroup, group)
		props = remoting.AppendProperty(props, remoting.PropertyUniqKey, fmt.Sprintf("K9TX-%d", i))
		if resp := sendTo(t, client, c.Broker, "K9Txn", "half-"+strconv.Itoa(i), string(props)); resp.Code != remoting.ResponseSuccess {
			t.Fatalf("half send %d: %d %s", i, resp.Code, resp.Remark)
		}
	}
	if err := c.Cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	c.Wait(t, 10*time.Second)
	client.Close()

	c = start()
	checker := newRawClient(t)
	checker.SetRequestHandler(func(addr string, req *remoting.Command) *remoting.Command {
		if req.Code == remoting.RequestCheckTransactionState {
			go answerCheck(checker, addr, group, req)
		}
		return nil
	})
	hb := remoting.NewRequest(remoting.RequestHeartbeat)
	hb.Body = []byte(`{"clientID":"k9-checker","producerDataSet":[{"groupName":"` + group + `"}],"consumerDataSet":[]}`)
	if resp := invoke(t, checker, c.Broker, hb); resp.Code != remoting.ResponseSuccess {
		t.Fatalf("heartbeat: %d %s", resp.Code, resp.Remark)
	}

	reader := newRawClient(t)
	var got []*remoting.MessageExt
	testutil.WaitFor(t, 30*time.Second, "every timer delivered after the restart", func() bool {
		got = rawPullAll(t, reader, c.Broker, "k9-reader", "K9Timer", 0, "*")
		return len(distinctBodies(got)) == timers
	})
	for _, m := range got {
		if m.StoreTimestamp < due[string(m.Body)] {
			t.Errorf("%s delivered %d ms before its due time", m.Body, due[string(m.Body)]-m.StoreTimestamp)
		}
	}
	t.Logf("%d timers delivered after kill -9 (%d copies)", timers, len(got))

	want := map[string]bool{}
	for i := 0; i < halves; i += 2 {
		want["half-"+strconv.Itoa(i)] = true
	}
	testutil.WaitFor(t, 30*time.Second, "committed halves delivered", func() bool {
		return len(distinctBodies(txnMessages(t, reader, c.Broker))) == len(want)
	})
	time.Sleep(time.Second) // several check intervals: nothing more may appear
	for body, n := range distinctBodies(txnMessages(t, reader, c.Broker)) {
		if !want[body] || n != 1 {
			t.Errorf("%s delivered %d times; committed: %v", body, n, want[body])
		}
	}
}

func startTimerComet(t *testing.T, bin, dir, brokerAddr, nsAddr string) *cometProcess {
	t.Helper()
	cmd := exec.Command(bin, "--data-dir", dir, "--listen", brokerAddr, "--namesrv-listen", nsAddr,
		"--flush", "sync", "--http-listen", "", "--ha-listen", "", "--transaction-check-interval", "200ms", "--transaction-timeout", "300ms")
	return runCometProcess(t, cmd)
}

func txnMessages(t *testing.T, c *remoting.Client, addr string) []*remoting.MessageExt {
	var all []*remoting.MessageExt
	for q := int32(0); q < 4; q++ {
		all = append(all, rawPullAll(t, c, addr, "k9-reader", "K9Txn", q, "*")...)
	}
	return all
}

func distinctBodies(msgs []*remoting.MessageExt) map[string]int {
	out := map[string]int{}
	for _, m := range msgs {
		out[string(m.Body)]++
	}
	return out
}

// answerCheck commits even-numbered half messages and rolls back the rest.
func answerCheck(c *remoting.Client, addr, group string, check *remoting.Command) {
	msgs, err := remoting.DecodeMessages(check.Body)
	if err != nil || len(msgs) != 1 {
		return
	}
	n, _ := strconv.Atoi(strings.TrimPrefix(string(msgs[0].Body), "half-"))
	decision := "12"
	if n%2 == 0 {
		decision = "8"
	}
	end := remoting.NewRequest(remoting.RequestEndTransaction)
	for _, k := range []string{"commitLogOffset", "tranStateTableOffset", "msgId", "transactionId"} {
		v, _ := check.ExtString(k)
		end.Ext.Set(k, v)
	}
	end.Ext.Set("producerGroup", group)
	end.Ext.Set("commitOrRollback", decision)
	end.Ext.Set("fromTransactionCheck", "true")
	end.Flag |= remoting.FlagOneway
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	_ = c.InvokeOneway(ctx, addr, end)
}

func sendTo(t *testing.T, c *remoting.Client, addr, topic, body, props string) *remoting.Command {
	t.Helper()
	h := remoting.SendHeader{ProducerGroup: "k9-producer", Topic: topic, DefaultTopic: "TBW102", DefaultTopicQueueNums: 4,
		QueueID: 0, BornTimestamp: time.Now().UnixMilli(), Properties: props}
	req := remoting.NewRequest(remoting.RequestSendMessage)
	h.Apply(req)
	req.Body = []byte(body)
	return invoke(t, c, addr, req)
}
