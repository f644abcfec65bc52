package main

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cometmq/comet/actors"
	"github.com/cometmq/comet/internal/cluster"
	"github.com/cometmq/comet/internal/testutil"
	"github.com/cometmq/comet/netio"
	"github.com/cometmq/comet/netio/remoting"
)

// Hostile-client probes of the network layer: a client pipelining far more
// requests than one writev can answer, long polls expiring together,
// partial frames held open, and connections hoarding buffered input. A
// neighbour sends beside each probe and must see no failure.

// TestHostilePipelinedSendsAllAcknowledged writes 10,000 sends on one
// connection without waiting and reads 10,000 acknowledgements: the
// writer's acknowledgements queue up on the connection far past IOV_MAX,
// and every one must arrive.
func TestHostilePipelinedSendsAllAcknowledged(t *testing.T) {
	const sends = 10000
	env := cluster.StartTest(t, nil)
	n := startNeighbour(t, env.BrokerAddr, "HostileNeighbour")
	conn := dialBroker(t, env.BrokerAddr)
	var frames []byte
	for i := range sends {
		frames = remoting.AppendFrame(frames, rawSend("Pipelined", int32(i%4), int32(i+1), fmt.Appendf(nil, "pipelined-%d", i)))
	}
	writeErr := make(chan error, 1)
	go func() {
		_ = conn.SetWriteDeadline(time.Now().Add(30 * time.Second))
		_, err := conn.Write(frames)
		writeErr <- err
	}()
	answered := readAnswers(t, conn, sends, 30*time.Second)
	for opaque, code := range answered {
		if code != remoting.ResponseSuccess {
			t.Fatalf("send opaque %d answered code %d", opaque, code)
		}
	}
	if err := <-writeErr; err != nil {
		t.Fatalf("write: %v", err)
	}
	n.stopAndCheck(3, 5*time.Second) // the probe lasts about a second under sync flush
	if v := brokerMetric(t, env.Broker, "comet_topic_put_messages_total", "topic", "Pipelined"); v != sends {
		t.Fatalf("stored %v messages, want %d", v, sends)
	}
	if v := brokerMetric(t, env.Broker, "comet_connections_closed_total", "reason", netio.CloseWriteError.String()); v != 0 {
		t.Fatalf("%v connections closed on a write error", v)
	}
}

// TestHostileParkedPullsExpireTogether parks 1,100 long polls on one
// connection with the same suspend timeout; they expire together and every
// one must be answered. The per-connection park limit is raised past them,
// so that more replies than IOV_MAX go out at once.
func TestHostileParkedPullsExpireTogether(t *testing.T) {
	const pulls = 1100
	env := cluster.StartTest(t, func(o *actors.BrokerOptions) { o.MaxParkedPullsPerConn = 2 * pulls })
	raw := newRawClient(t)
	const topic = "Parked"
	if resp := invoke(t, raw, env.BrokerAddr, rawSend(topic, 0, 0, []byte("one"))); resp.Code != remoting.ResponseSuccess {
		t.Fatalf("send: code %d %s", resp.Code, resp.Remark)
	}
	n := startNeighbour(t, env.BrokerAddr, "HostileNeighbour")
	conn := dialBroker(t, env.BrokerAddr)
	var frames []byte
	for i := range pulls {
		h := remoting.PullHeader{ConsumerGroup: "parked", Topic: topic, QueueID: 0, QueueOffset: 1, MaxMsgNums: 32,
			SysFlag: remoting.PullFlagSuspend | remoting.PullFlagSubscription, SuspendTimeoutMillis: 1000,
			Subscription: "*", SubVersion: time.Now().UnixMilli(), ExpressionType: "TAG"}
		req := remoting.NewRequest(remoting.RequestPullMessage)
		h.Apply(req)
		req.Opaque = int32(i + 1)
		frames = remoting.AppendFrame(frames, req)
	}
	if _, err := conn.Write(frames); err != nil {
		t.Fatal(err)
	}
	answered := readAnswers(t, conn, pulls, 20*time.Second)
	for opaque, code := range answered {
		if code != remoting.ResponsePullNotFound && code != remoting.ResponsePullRetryImmediately {
			t.Fatalf("pull opaque %d answered code %d", opaque, code)
		}
	}
	n.stopAndCheck(10, 5*time.Second)
}

// TestHostilePartialFramesTimeOut holds frames open: three bytes of a
// length prefix, and all but the last byte of a large frame. Both are
// closed once the frame read timeout passes, counted and the neighbour is
// undisturbed.
func TestHostilePartialFramesTimeOut(t *testing.T) {
	const timeout = 300 * time.Millisecond
	env := cluster.StartTest(t, func(o *actors.BrokerOptions) { o.FrameReadTimeout = timeout })
	n := startNeighbour(t, env.BrokerAddr, "HostileNeighbour")
	start := time.Now()
	threeBytes := dialBroker(t, env.BrokerAddr)
	if _, err := threeBytes.Write([]byte{0, 0, 1}); err != nil {
		t.Fatal(err)
	}
	large := dialBroker(t, env.BrokerAddr)
	frame := remoting.AppendFrame(nil, rawSend("Partial", 0, 1, make([]byte, 1<<20)))
	if _, err := large.Write(frame[:len(frame)-1]); err != nil {
		t.Fatal(err)
	}
	for name, conn := range map[string]net.Conn{"three bytes": threeBytes, "large frame": large} {
		if !readUntilClosed(conn, 10*time.Second) {
			t.Fatalf("%s: connection still open", name)
		}
	}
	if elapsed := time.Since(start); elapsed < timeout {
		t.Fatalf("closed after %s, before the %s timeout", elapsed, timeout)
	}
	testutil.WaitFor(t, 5*time.Second, "frame timeouts counted", func() bool {
		return brokerMetric(t, env.Broker, "comet_connections_closed_total", "reason", netio.CloseFrameTimeout.String()) == 2
	})
	n.stopAndCheck(10, 3*time.Second)
}

// TestHostileBufferedInputBudget opens ten connections that each send all
// but the last byte of an 8 MiB frame against a 32 MiB budget: the first
// four fit, the rest are closed at their first read. Buffered input never
// passes the budget, returns to zero once the holders leave, and the
// neighbour is undisturbed.
func TestHostileBufferedInputBudget(t *testing.T) {
	const (
		budget  = 32 << 20
		holders = 10
		fit     = 4
	)
	env := cluster.StartTest(t, func(o *actors.BrokerOptions) { o.MaxBufferedInput = budget })
	n := startNeighbour(t, env.BrokerAddr, "HostileNeighbour")
	frame := remoting.AppendFrame(nil, rawSend("Hoard", 0, 1, make([]byte, 8<<20-1024)))
	var open []net.Conn
	for i := range holders {
		conn := dialBroker(t, env.BrokerAddr)
		_ = conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
		_, err := conn.Write(frame[:len(frame)-1])
		if i < fit {
			if err != nil {
				t.Fatalf("holder %d: %v", i, err)
			}
			open = append(open, conn)
			want := float64((i + 1) * (len(frame) - 1))
			testutil.WaitFor(t, 10*time.Second, "holder's bytes buffered", func() bool {
				return brokerMetric(t, env.Broker, "comet_network_buffered_input_bytes") == want
			})
			continue
		}
		if !readUntilClosed(conn, 10*time.Second) {
			t.Fatalf("holder %d past the budget: connection still open", i)
		}
	}
	if v := brokerMetric(t, env.Broker, "comet_connections_closed_total", "reason", netio.CloseInputBudget.String()); v != holders-fit {
		t.Fatalf("%v connections closed for the budget, want %d", v, holders-fit)
	}
	if v := brokerMetric(t, env.Broker, "comet_network_buffered_input_bytes"); v > budget {
		t.Fatalf("buffered input %v past the budget %d", v, budget)
	}
	for _, conn := range open {
		_ = conn.Close()
	}
	testutil.WaitFor(t, 5*time.Second, "buffered input back to zero", func() bool {
		return brokerMetric(t, env.Broker, "comet_network_buffered_input_bytes") == 0
	})
	n.stopAndCheck(10, 3*time.Second)
}

// rawSend is a SEND_MESSAGE_V2 request with the given opaque.
func rawSend(topic string, queueID, opaque int32, body []byte) *remoting.Command {
	req := remoting.NewRequest(remoting.RequestSendMessageV2)
	h := remoting.SendHeader{ProducerGroup: "hostile", Topic: topic, DefaultTopic: "TBW102", DefaultTopicQueueNums: 4,
		QueueID: queueID, BornTimestamp: time.Now().UnixMilli()}
	h.Apply(req)
	req.Opaque = opaque
	req.Body = body
	return req
}

// readAnswers reads want responses from conn and returns each opaque's
// code, failing on a duplicate, an unknown opaque or a close.
func readAnswers(t *testing.T, conn net.Conn, want int, timeout time.Duration) map[int32]int16 {
	t.Helper()
	_ = conn.SetReadDeadline(time.Now().Add(timeout))
	r := bufio.NewReaderSize(conn, 256<<10)
	answered := make(map[int32]int16, want)
	for len(answered) < want {
		var prefix [4]byte
		if _, err := io.ReadFull(r, prefix[:]); err != nil {
			t.Fatalf("after %d of %d answers: %v", len(answered), want, err)
		}
		frame := make([]byte, 4+binary.BigEndian.Uint32(prefix[:]))
		copy(frame, prefix[:])
		if _, err := io.ReadFull(r, frame[4:]); err != nil {
			t.Fatalf("after %d of %d answers: %v", len(answered), want, err)
		}
		var resp remoting.Command
		if err := remoting.Decode(frame, &resp); err != nil {
			t.Fatalf("decode: %v", err)
		}
		if _, dup := answered[resp.Opaque]; dup || resp.Opaque < 1 || int(resp.Opaque) > want {
			t.Fatalf("answer with opaque %d (duplicate or unknown)", resp.Opaque)
		}
		answered[resp.Opaque] = resp.Code
	}
	return answered
}

// brokerMetric gathers b's collector and returns the value of the metric
// name whose labels include the given name/value pairs (0 if absent).
func brokerMetric(t *testing.T, b *actors.Broker, name string, labels ...string) float64 {
	t.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(b.Collector())
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, fam := range fams {
		if fam.GetName() != name {
			continue
		}
	metrics:
		for _, m := range fam.GetMetric() {
			have := map[string]string{}
			for _, lp := range m.GetLabel() {
				have[lp.GetName()] = lp.GetValue()
			}
			for i := 0; i+1 < len(labels); i += 2 {
				if have[labels[i]] != labels[i+1] {
					continue metrics
				}
			}
			if c := m.GetCounter(); c != nil {
				return c.GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	return 0
}
