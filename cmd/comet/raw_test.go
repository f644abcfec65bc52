package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/apache/rocketmq-client-go/v2/consumer"
	"github.com/apache/rocketmq-client-go/v2/primitive"

	"github.com/cometmq/comet/actors"
	"github.com/cometmq/comet/namesrv"
	"github.com/cometmq/comet/netio/remoting"
)

func TestTagFilterInPushConsumerAndBroker(t *testing.T) {
	nsAddr, b := startComet(t, t.TempDir())
	p := startProducer(t, nsAddr)
	const topic = "Tagged"
	var wantA []string
	for i := 0; i < 40; i++ {
		tag := "A"
		if i%2 == 1 {
			tag = "B"
		}
		body := fmt.Sprintf("%s-%d", tag, i)
		if tag == "A" {
			wantA = append(wantA, body)
		}
		sendSyncOK(t, p, primitive.NewMessage(topic, []byte(body)).WithTag(tag))
	}
	sink := &collector{}
	startPushConsumer(t, nsAddr, uniqueName("tg"), topic, consumer.MessageSelector{Type: consumer.TAG, Expression: "A"}, sink)
	requireExactly(t, sink, wantA, 20*time.Second)
	_, tags := sink.Snapshot()
	for _, tag := range tags {
		if tag != "A" {
			t.Fatalf("push consumer got tag %q", tag)
		}
	}

	raw := newRawClient(t)
	gotA := 0
	for q := int32(0); q < 4; q++ {
		for _, m := range rawPullAll(t, raw, b.Addr(), uniqueName("rawtg"), topic, q, "A") {
			if m.Tags() != "A" {
				t.Fatalf("broker returned a %q record to a pull subscribed to A: %q", m.Tags(), m.Body)
			}
			gotA++
		}
	}
	if gotA != len(wantA) {
		t.Fatalf("raw pull returned %d A records, sent %d", gotA, len(wantA))
	}
}

func offsetRequest(code int16, group, topic string, queueID int32) *remoting.Command {
	req := remoting.NewRequest(code)
	req.Ext.Set(remoting.ExtConsumerGroup, group)
	req.Ext.Set(remoting.ExtTopic, topic)
	req.Ext.Set(remoting.ExtQueueID, strconv.Itoa(int(queueID)))
	return req
}

func TestRawPullFromZeroAndOffsetCommit(t *testing.T) {
	nsAddr, b := startComet(t, t.TempDir())
	p := startProducer(t, nsAddr)
	const topic = "RawPull"
	sent := map[string]bool{}
	for i := 0; i < 25; i++ {
		body := fmt.Sprintf("raw-%d", i)
		sent[body] = true
		sendSyncOK(t, p, primitive.NewMessage(topic, []byte(body)))
	}
	raw := newRawClient(t)
	group := uniqueName("rawg")
	got := map[string]bool{}
	perQueue := map[int32]int64{}
	for q := int32(0); q < 4; q++ {
		msgs := rawPullAll(t, raw, b.Addr(), group, topic, q, "*")
		for i, m := range msgs {
			if m.QueueOffset != int64(i) {
				t.Fatalf("queue %d: record %d has queue offset %d", q, i, m.QueueOffset)
			}
			got[string(m.Body)] = true
		}
		perQueue[q] = int64(len(msgs))
	}
	if len(got) != len(sent) {
		t.Fatalf("pulled %d distinct bodies, sent %d", len(got), len(sent))
	}

	for q, next := range perQueue {
		update := offsetRequest(remoting.RequestUpdateConsumerOffset, group, topic, q)
		update.SetExtInt64(remoting.ExtCommitOffset, next)
		if resp := invoke(t, raw, b.Addr(), update); resp.Code != remoting.ResponseSuccess {
			t.Fatalf("update offset: code %d %s", resp.Code, resp.Remark)
		}
	}
	for q, next := range perQueue {
		resp := invoke(t, raw, b.Addr(), offsetRequest(remoting.RequestQueryConsumerOffset, group, topic, q))
		if resp.Code != remoting.ResponseSuccess {
			t.Fatalf("query offset q%d: code %d %s", q, resp.Code, resp.Remark)
		}
		if off, err := resp.ExtInt64(remoting.ExtOffset); err != nil || off != next {
			t.Fatalf("query offset q%d = %d (%v), committed %d", q, off, err, next)
		}
	}
	resp := invoke(t, raw, b.Addr(), offsetRequest(remoting.RequestQueryConsumerOffset, uniqueName("never"), topic, 0))
	if resp.Code != remoting.ResponseQueryNotFound {
		t.Fatalf("query offset of a group that never committed: code %d, want %d", resp.Code, remoting.ResponseQueryNotFound)
	}
}

// startBrokerOnce starts a broker in dir registered with nsAddr and returns
// it with an idempotent stop, also run at cleanup.
func startBrokerOnce(t *testing.T, dir, nsAddr string) (*actors.Broker, func()) {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	b, err := actors.NewBroker(actors.BrokerOptions{DataDir: dir, Listen: "127.0.0.1:0", NamesrvAddrs: []string{nsAddr},
		AutoCreateTopic: true, Logger: log, SegmentSize: 64 << 20})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	stop := func() {
		once.Do(func() {
			if err := b.Stop(context.Background()); err != nil {
				t.Errorf("stop broker: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return b, stop
}

func TestRestartKeepsMessages(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	ns, err := namesrv.Serve("127.0.0.1:0", log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ns.Stop(context.Background()) })
	dir := t.TempDir()
	_, stopFirst := startBrokerOnce(t, dir, ns.Addr())
	p := startProducer(t, ns.Addr())
	const topic = "Restart"
	var want []string
	for i := 0; i < 60; i++ {
		body := fmt.Sprintf("durable-%d", i)
		want = append(want, body)
		sendSyncOK(t, p, primitive.NewMessage(topic, []byte(body)))
	}
	_ = p.Shutdown()
	stopFirst()

	startBrokerOnce(t, dir, ns.Addr())
	sink := &collector{}
	startPushConsumer(t, ns.Addr(), uniqueName("rg"), topic, consumer.MessageSelector{}, sink)
	requireExactly(t, sink, want, 25*time.Second)
}

// readUntilClosed reports whether the broker closed conn before the deadline.
func readUntilClosed(conn net.Conn, timeout time.Duration) bool {
	_ = conn.SetReadDeadline(time.Now().Add(timeout))
	buf := make([]byte, 4096)
	for {
		if _, err := conn.Read(buf); err != nil {
			ne, isNet := err.(net.Error)
			return !(isNet && ne.Timeout())
		}
	}
}

func dialBroker(t *testing.T, addr string) net.Conn {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 3*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

func readResponse(t *testing.T, conn net.Conn) *remoting.Command {
	t.Helper()
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	var prefix [4]byte
	if _, err := io.ReadFull(conn, prefix[:]); err != nil {
		t.Fatalf("read response length: %v", err)
	}
	frame := make([]byte, 4+binary.BigEndian.Uint32(prefix[:]))
	copy(frame, prefix[:])
	if _, err := io.ReadFull(conn, frame[4:]); err != nil {
		t.Fatalf("read response: %v", err)
	}
	cmd := &remoting.Command{}
	if err := remoting.Decode(frame, cmd); err != nil {
		t.Fatalf("decode response: %v", err)
	}
	return cmd
}

func TestBadInputDoesNotDisturbOtherClients(t *testing.T) {
	nsAddr, b := startComet(t, t.TempDir())
	p := startProducer(t, nsAddr)
	const topic = "Survivor"
	sendSyncOK(t, p, primitive.NewMessage(topic, []byte("before")))

	closedOn := map[string][]byte{
		"garbage":   []byte("\xff\xfe\xfdthis is not a remoting frame at all\x00\x01"),
		"oversized": binary.BigEndian.AppendUint32(nil, 1<<30),
		"not json":  notJSONFrame(),
	}
	for name, input := range closedOn {
		conn := dialBroker(t, b.Addr())
		if _, err := conn.Write(input); err != nil {
			t.Fatalf("%s: write: %v", name, err)
		}
		if !readUntilClosed(conn, 5*time.Second) {
			t.Errorf("%s: broker kept the connection open", name)
		}
		sendSyncOK(t, p, primitive.NewMessage(topic, []byte("after "+name)))
	}

	conn := dialBroker(t, b.Addr())
	unknown := remoting.NewRequest(9999)
	unknown.Opaque = 424242
	if _, err := conn.Write(remoting.AppendFrame(nil, unknown)); err != nil {
		t.Fatal(err)
	}
	resp := readResponse(t, conn)
	if resp.Code != remoting.ResponseRequestCodeNotSupported || resp.Opaque != 424242 || !resp.IsResponse() {
		t.Fatalf("unknown code: got code %d opaque %d flag %d", resp.Code, resp.Opaque, resp.Flag)
	}

	send := remoting.NewRequest(remoting.RequestSendMessageV2)
	h := remoting.SendHeader{ProducerGroup: "raw", Topic: "bad topic!", DefaultTopic: "TBW102", DefaultTopicQueueNums: 4,
		BornTimestamp: time.Now().UnixMilli()}
	h.Apply(send)
	send.Body = []byte("payload")
	send.Opaque = 777
	if _, err := conn.Write(remoting.AppendFrame(nil, send)); err != nil {
		t.Fatal(err)
	}
	resp = readResponse(t, conn)
	if resp.Opaque != 777 || resp.Code == remoting.ResponseSuccess {
		t.Fatalf("send to an invalid topic: code %d opaque %d remark %q", resp.Code, resp.Opaque, resp.Remark)
	}
	sendSyncOK(t, p, primitive.NewMessage(topic, []byte("after invalid topic")))
}

// notJSONFrame is a well-framed command whose JSON header is not JSON.
func notJSONFrame() []byte {
	header := []byte("{this is not json")
	frame := binary.BigEndian.AppendUint32(nil, uint32(4+len(header)))
	frame = binary.BigEndian.AppendUint32(frame, uint32(len(header)))
	return append(frame, header...)
}
