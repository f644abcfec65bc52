package main

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cometmq/comet/actors"
	"github.com/cometmq/comet/internal/testutil"
	"github.com/cometmq/comet/netio/remoting"
)

// Hostile pulls: filter expressions built to be expensive, and more long
// polls than a connection should hold, sent as raw frames beside a
// well-behaved neighbour.

// byteCounter counts what the broker logs.
type byteCounter struct{ n atomic.Int64 }

func (w *byteCounter) Write(p []byte) (int, error) {
	w.n.Add(int64(len(p)))
	return len(p), nil
}

// startProbedBroker runs a broker without a name server whose log is
// counted (and shown with COMET_TEST_LOG set).
func startProbedBroker(t *testing.T) (*actors.Broker, *byteCounter) {
	t.Helper()
	logs := &byteCounter{}
	var out io.Writer = logs
	if os.Getenv("COMET_TEST_LOG") != "" {
		out = io.MultiWriter(logs, os.Stderr)
	}
	b, err := actors.NewBroker(actors.BrokerOptions{DataDir: t.TempDir(), Listen: "127.0.0.1:0", AutoCreateTopic: true,
		SegmentSize: 64 << 20, Logger: slog.New(slog.NewTextHandler(out, &slog.HandlerOptions{Level: slog.LevelInfo}))})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Stop(context.Background()) })
	return b, logs
}

// probeInvoke writes one request on conn and reads its answer, skipping
// requests the broker sends meanwhile (NOTIFY_CONSUMER_IDS_CHANGED). Safe
// from any goroutine (it reports errors instead of failing the test).
func probeInvoke(conn net.Conn, req *remoting.Command) (*remoting.Command, error) {
	_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := conn.Write(remoting.AppendFrame(nil, req)); err != nil {
		return nil, err
	}
	for {
		resp, err := probeRead(conn)
		if err != nil || resp.Opaque == req.Opaque && resp.IsResponse() {
			return resp, err
		}
	}
}

// probeRead reads the next response frame, skipping broker requests.
func probeRead(conn net.Conn) (*remoting.Command, error) {
	for {
		cmd, err := readFrame(conn)
		if err != nil || cmd.IsResponse() {
			return cmd, err
		}
	}
}

func readFrame(conn net.Conn) (*remoting.Command, error) {
	var prefix [4]byte
	if _, err := io.ReadFull(conn, prefix[:]); err != nil {
		return nil, err
	}
	frame := make([]byte, 4+binary.BigEndian.Uint32(prefix[:]))
	copy(frame, prefix[:])
	if _, err := io.ReadFull(conn, frame[4:]); err != nil {
		return nil, err
	}
	cmd := &remoting.Command{}
	return cmd, remoting.Decode(frame, cmd)
}

func sqlHeaderPull(group, topic string, queueID int32, expr string) *remoting.Command {
	h := remoting.PullHeader{ConsumerGroup: group, Topic: topic, QueueID: queueID, MaxMsgNums: 32,
		SysFlag: remoting.PullFlagSubscription, Subscription: expr, ExpressionType: "SQL92", SubVersion: time.Now().UnixNano()}
	req := remoting.NewRequest(remoting.RequestPullMessage)
	h.Apply(req)
	return req
}

func sqlHeartbeat(t *testing.T, group, topic, expr string) *remoting.Command {
	t.Helper()
	body, err := json.Marshal(map[string]any{"clientID": "probe", "consumerDataSet": []map[string]any{{
		"groupName": group, "consumeType": "CONSUME_PASSIVELY", "messageModel": "CLUSTERING",
		"subscriptionDataSet": []map[string]any{{"topic": topic, "subString": expr, "expressionType": "SQL92"}}}}})
	if err != nil {
		t.Fatal(err)
	}
	req := remoting.NewRequest(remoting.RequestHeartbeat)
	req.Body = body
	return req
}

// probeConns runs probe on conns connections at once, each with its own
// connection, and fails the test with the first error any reports.
func probeConns(t *testing.T, addr string, conns int, probe func(conn net.Conn, c int) error) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, conns)
	for c := range conns {
		conn := dialBroker(t, addr)
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := probe(conn, c); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

func liveHeap() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

func TestHostileSQLFiltersDoNotStallNeighbours(t *testing.T) {
	b, logs := startProbedBroker(t)
	n := startNeighbour(t, b.Addr(), "PullNeighbour")
	c := newRawClient(t)
	if resp := invoke(t, c, b.Addr(), plainSendRequest("Filtered", "x")); resp.Code != remoting.ResponseSuccess {
		t.Fatalf("send: code %d %s", resp.Code, resp.Remark)
	}
	heapBefore := liveHeap()
	logBefore := logs.n.Load()

	// 4 connections × 30 pulls carrying a 1 MiB nested expression, and 5
	// heartbeats registering it: refused unread, on the loop.
	nested := strings.Repeat("(", 1<<20) + "a = 'x'"
	heartbeats := make([]*remoting.Command, 4)
	for c := range heartbeats {
		heartbeats[c] = sqlHeartbeat(t, "nested", "Filtered", nested)
	}
	start := time.Now()
	probeConns(t, b.Addr(), 4, func(conn net.Conn, c int) error {
		for i := range 30 {
			reqs := []*remoting.Command{sqlHeaderPull(fmt.Sprintf("nested-%d", c), "Filtered", 0, nested)}
			if i%6 == 0 {
				reqs = append(reqs, heartbeats[c])
			}
			for _, req := range reqs {
				resp, err := probeInvoke(conn, req)
				if err != nil {
					return fmt.Errorf("conn %d, request %d: %w", c, i, err)
				}
				want := remoting.ResponseSubscriptionParseFailed
				if req.Code == remoting.RequestHeartbeat {
					want = remoting.ResponseSuccess
				}
				if resp.Code != want {
					return fmt.Errorf("conn %d, %s %d: code %d %q, want %d", c, remoting.RequestName(req.Code), i, resp.Code, resp.Remark, want)
				}
			}
		}
		return nil
	})
	t.Logf("nested expressions refused in %v", time.Since(start))
	start = time.Now()
	// 4 connections × 30 pulls, each with a new 4 KiB expression that
	// compiles: the compile worker takes them; each is answered.
	probeConns(t, b.Addr(), 4, func(conn net.Conn, c int) error {
		for i := range 30 {
			expr := fmt.Sprintf("a = '%d-%d'", c, i) + strings.Repeat(" OR a = 'y'", (4096-16)/11)
			resp, err := probeInvoke(conn, sqlHeaderPull("chain", "Filtered", 0, expr))
			if err != nil {
				return fmt.Errorf("conn %d, pull %d: %w", c, i, err)
			}
			switch resp.Code {
			case remoting.ResponsePullNotFound, remoting.ResponsePullRetryImmediately, remoting.ResponseSystemBusy:
			default:
				return fmt.Errorf("conn %d, pull %d with a 4 KiB expression: code %d %q", c, i, resp.Code, resp.Remark)
			}
		}
		return nil
	})
	t.Logf("4 KiB expressions compiled in %v", time.Since(start))
	n.stopAndCheck(20, 2*time.Second)
	t.Log(neighbourSummary(n))

	logged, grown := logs.n.Load()-logBefore, int64(liveHeap())-int64(heapBefore)
	t.Logf("log written: %d bytes; live heap change: %+d KiB", logged, grown>>10)
	if logged > 256<<10 {
		t.Errorf("the probes wrote %d bytes of log: refused expressions are logged whole or too often", logged)
	}
	if grown > 32<<20 {
		t.Errorf("live heap grew by %d MiB: refused expressions are kept", grown>>20)
	}
}

func plainSendRequest(topic, body string) *remoting.Command {
	req := remoting.NewRequest(remoting.RequestSendMessageV2)
	h := remoting.SendHeader{ProducerGroup: "probe", Topic: topic, DefaultTopic: "TBW102", DefaultTopicQueueNums: 4,
		BornTimestamp: time.Now().UnixMilli()}
	h.Apply(req)
	req.Body = []byte(body)
	return req
}

func longPollRequest(topic string, queueID int32, offset int64) *remoting.Command {
	h := remoting.PullHeader{ConsumerGroup: "poller", Topic: topic, QueueID: queueID, QueueOffset: offset, MaxMsgNums: 32,
		SysFlag: remoting.PullFlagSuspend | remoting.PullFlagSubscription, SuspendTimeoutMillis: 15_000,
		Subscription: "*", ExpressionType: "TAG"}
	req := remoting.NewRequest(remoting.RequestPullMessage)
	h.Apply(req)
	return req
}

func parkRefusals(t *testing.T, b *actors.Broker, limit string) float64 {
	t.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(b.Collector())
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() != "comet_pull_park_refused_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "limit" && l.GetValue() == limit {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	t.Fatalf("no comet_pull_park_refused_total{limit=%q}", limit)
	return 0
}

func TestHostileLongPollsAreBoundedPerConnection(t *testing.T) {
	const perConn, sent = 1024, 1100
	b, _ := startProbedBroker(t)
	n := startNeighbour(t, b.Addr(), "PollNeighbour")
	c := newRawClient(t)
	if resp := invoke(t, c, b.Addr(), plainSendRequest("Polled", "x")); resp.Code != remoting.ResponseSuccess {
		t.Fatalf("send: code %d %s", resp.Code, resp.Remark)
	}
	// Each long poll asks from its queue's end, so every one waits.
	conn := dialBroker(t, b.Addr())
	var frames []byte
	for i := range sent {
		q := int32(i % 4)
		var end int64
		if cq := b.Store().ConsumeQueue("Polled", q); cq != nil {
			end = cq.MaxOffset()
		}
		frames = remoting.AppendFrame(frames, longPollRequest("Polled", q, end))
	}
	if _, err := conn.Write(frames); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	for i := range sent - perConn {
		resp, err := probeRead(conn)
		if err != nil {
			t.Fatalf("answer %d of the %d excess long polls: %v (they were parked)", i, sent-perConn, err)
		}
		if resp.Code != remoting.ResponseSystemBusy || !strings.Contains(resp.Remark, "PULL_PARK_LIMIT") {
			t.Fatalf("excess long poll: code %d %q, want SYSTEM_BUSY", resp.Code, resp.Remark)
		}
	}
	testutil.WaitFor(t, 5*time.Second, "1,024 parked pulls", func() bool { return b.Status().ParkedPulls == perConn })
	sentBeside := func() bool {
		n.mu.Lock()
		defer n.mu.Unlock()
		return len(n.mu.latencies) >= 50
	}
	testutil.WaitFor(t, 20*time.Second, "the neighbour to send 50 messages beside the parked pulls", sentBeside)
	if got := parkRefusals(t, b, "connection"); got != sent-perConn {
		t.Fatalf("comet_pull_park_refused_total{limit=connection} = %v, want %d", got, sent-perConn)
	}
	_ = conn.Close()
	testutil.WaitFor(t, 5*time.Second, "the closed connection's pulls to leave the hold", func() bool { return b.Status().ParkedPulls == 0 })
	n.stopAndCheck(5, 2*time.Second)
	t.Log(neighbourSummary(n))
}

// neighbourSummary describes the neighbour's send latencies for the log.
func neighbourSummary(n *neighbour) string {
	n.mu.Lock()
	l := slices.Clone(n.mu.latencies)
	n.mu.Unlock()
	if len(l) == 0 {
		return "neighbour: no sends"
	}
	slices.Sort(l)
	return fmt.Sprintf("neighbour: %d sends, p50 %v, p99 %v, max %v", len(l), l[len(l)/2], l[len(l)*99/100], l[len(l)-1])
}
