package mqtt

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apache/rocketmq-client-go/v2"
	"github.com/apache/rocketmq-client-go/v2/consumer"
	"github.com/apache/rocketmq-client-go/v2/primitive"
	"github.com/apache/rocketmq-client-go/v2/producer"
	"github.com/apache/rocketmq-client-go/v2/rlog"
	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/cometmq/comet/internal/cluster"
	"github.com/cometmq/comet/internal/testutil"
)

// TestPahoQoS01 publishes at QoS 0 and 1 with paho (MQTT 3.1.1) to
// subscribers of exact and wildcard filters, and checks every message
// arrives once, in order, with the granted QoS.
func TestPahoQoS01(t *testing.T) {
	tg := startGateway(t, "", Options{}, nil)
	addr := tg.gw.Addr()
	sub := pahoClient(t, addr, "sub1", true)
	var exact, wild, other inbox
	waitToken(t, sub.Subscribe("sensors/eu/t1", 1, exact.handler), "subscribe exact")
	waitToken(t, sub.Subscribe("sensors/+/t1", 0, wild.handler), "subscribe +")
	sub2 := pahoClient(t, addr, "sub2", true)
	waitToken(t, sub2.Subscribe("other/#", 1, other.handler), "subscribe #")
	pub := pahoClient(t, addr, "pub1", true)
	var want []string
	for i := 0; i < 20; i++ {
		body := "m" + strconv.Itoa(i)
		want = append(want, body)
		waitToken(t, pub.Publish("sensors/eu/t1", byte(i%2), false, body), "publish")
	}
	got := exact.waitCount(t, 20)
	if !slices.Equal(got, want) {
		t.Fatalf("exact subscriber got %v", got)
	}
	if got := wild.waitCount(t, 20); !slices.Equal(got, want) {
		t.Fatalf("wildcard subscriber got %v", got)
	}
	exact.mu.Lock()
	for i, m := range exact.msgs {
		if m.Qos() != byte(i%2) || m.Topic() != "sensors/eu/t1" || m.Retained() {
			t.Errorf("message %d: qos %d topic %q retained %v", i, m.Qos(), m.Topic(), m.Retained())
		}
	}
	exact.mu.Unlock()
	if n := len(other.payloads()); n != 0 {
		t.Fatalf("unrelated subscriber got %d messages", n)
	}
}

// TestMQTTToRocketMQ: an MQTT publish to sensors/eu/t1 is a message of
// Comet topic "sensors" that the official RocketMQ push consumer receives,
// with the MQTT topic kept as a property.
func TestMQTTToRocketMQ(t *testing.T) {
	rlog.SetLogLevel("error")
	tg := startGateway(t, "", Options{}, nil)
	pub := pahoClient(t, tg.gw.Addr(), "pub", true)
	waitToken(t, pub.Publish("sensors/eu/t1", 1, false, "first"), "publish")
	waitRoute(t, tg, "sensors")
	got := make(chan *primitive.MessageExt, 16)
	c, err := rocketmq.NewPushConsumer(consumer.WithNameServer([]string{tg.NamesrvAddr}),
		consumer.WithGroupName("cg"+strconv.FormatInt(time.Now().UnixNano(), 10)),
		consumer.WithConsumeFromWhere(consumer.ConsumeFromFirstOffset))
	if err != nil {
		t.Fatal(err)
	}
	err = c.Subscribe("sensors", consumer.MessageSelector{}, func(_ context.Context, msgs ...*primitive.MessageExt) (consumer.ConsumeResult, error) {
		for _, m := range msgs {
			got <- m
		}
		return consumer.ConsumeSuccess, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	defer c.Shutdown()
	select {
	case m := <-got:
		if string(m.Body) != "first" || m.GetProperty(PropTopic) != "sensors/eu/t1" || m.GetProperty(PropQoS) != "1" ||
			m.GetProperty(PropClientID) != "pub" {
			t.Fatalf("message %q properties %v", m.Body, m.GetProperties())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("RocketMQ consumer received nothing")
	}
}

// TestRocketMQToMQTT: a RocketMQ producer's message on topic "orders"
// reaches MQTT subscribers of "orders", "+" and "#", at the default QoS 1
// capped by the grant; one with MQTT_TOPIC reaches that topic's filter.
func TestRocketMQToMQTT(t *testing.T) {
	rlog.SetLogLevel("error")
	tg := startGateway(t, "", Options{}, nil)
	sub := pahoClient(t, tg.gw.Addr(), "s", true)
	var exact, plus, hash, deep inbox
	waitToken(t, sub.Subscribe("orders", 1, exact.handler), "sub")
	waitToken(t, sub.Subscribe("+", 0, plus.handler), "sub")
	waitToken(t, sub.Subscribe("#", 2, hash.handler), "sub")
	waitToken(t, sub.Subscribe("orders/eu/+", 1, deep.handler), "sub")
	p, err := rocketmq.NewProducer(producer.WithNameServer([]string{tg.NamesrvAddr}), producer.WithRetry(2),
		producer.WithGroupName("pg"+strconv.FormatInt(time.Now().UnixNano(), 10)))
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	defer p.Shutdown()
	msg := primitive.NewMessage("orders", []byte("from-rocketmq"))
	msg.WithProperty("color", "blue")
	if res, err := p.SendSync(context.Background(), msg); err != nil || res.Status != primitive.SendOK {
		t.Fatalf("send: %v %v", res, err)
	}
	mapped := primitive.NewMessage("orders", []byte("to-subtopic"))
	mapped.WithProperty(PropTopic, "orders/eu/7")
	if res, err := p.SendSync(context.Background(), mapped); err != nil || res.Status != primitive.SendOK {
		t.Fatalf("send: %v %v", res, err)
	}
	exact.waitCount(t, 1)
	plus.waitCount(t, 1)
	hash.waitCount(t, 2)
	deep.waitCount(t, 1)
	exact.mu.Lock()
	m := exact.msgs[0]
	exact.mu.Unlock()
	if string(m.Payload()) != "from-rocketmq" || m.Qos() != 1 || m.Topic() != "orders" {
		t.Fatalf("got %q qos %d topic %q", m.Payload(), m.Qos(), m.Topic())
	}
	if got := deep.payloads(); got[0] != "to-subtopic" {
		t.Fatalf("mapped topic subscriber got %v", got)
	}
	hash.mu.Lock()
	for _, hm := range hash.msgs {
		if hm.Qos() != 1 {
			t.Errorf("# subscriber (granted 2) got QoS %d, want the default 1", hm.Qos())
		}
	}
	hash.mu.Unlock()
}

func waitRoute(t *testing.T, tg *testGateway, topic string) {
	t.Helper()
	testutil.WaitFor(t, 10*time.Second, "topic "+topic, func() bool {
		_, ok := tg.Broker.GatewayTopic(topic)
		return ok
	})
}

// TestPahoSessionResume: a persistent session (clean session 0) keeps its
// subscription and receives the QoS 1 messages published while it was
// away, in order, once.
func TestPahoSessionResume(t *testing.T) {
	tg := startGateway(t, "", Options{}, nil)
	addr := tg.gw.Addr()
	var first inbox
	sub := pahoClient(t, addr, "persist", false, func(o *paho.ClientOptions) { o.SetDefaultPublishHandler(first.handler) })
	waitToken(t, sub.Subscribe("jobs/#", 1, nil), "subscribe")
	sub.Disconnect(100)
	testutil.WaitFor(t, 5*time.Second, "session offline", func() bool { return tg.gw.metrics.connections.Load() == 0 })
	pub := pahoClient(t, addr, "pub", true)
	var want []string
	for i := 0; i < 50; i++ {
		body := fmt.Sprintf("job-%d", i)
		want = append(want, body)
		waitToken(t, pub.Publish("jobs/a", 1, false, body), "publish")
	}
	var again inbox
	pahoClient(t, addr, "persist", false, func(o *paho.ClientOptions) { o.SetDefaultPublishHandler(again.handler) })
	if got := again.waitCount(t, 50); !slices.Equal(got[:50], want) {
		t.Fatalf("resumed session got %v", got)
	}
	testutil.WaitFor(t, 2*time.Second, "no duplicates", func() bool { return len(again.payloads()) == 50 })
}

// TestOptionalListenerTaken: a default address held by another server is
// a warning (the gateway serves without it); an explicit one is an error.
func TestOptionalListenerTaken(t *testing.T) {
	held, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	c := cluster.StartTest(t, nil)
	gw, err := New(c.Broker, Options{Listen: held.Addr().String(), ListenOptional: true, Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	if err := gw.Start(); err != nil {
		t.Fatalf("optional listener: %v", err)
	}
	if gw.Addr() != "" {
		t.Fatalf("serving on %s", gw.Addr())
	}
	gw.Stop(context.Background())
	gw, err = New(c.Broker, Options{Listen: held.Addr().String(), Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	if err := gw.Start(); err == nil {
		gw.Stop(context.Background())
		t.Fatal("explicit listener on a taken address started")
	}
}

// TestWebSocketPaho: paho over WebSocket (path /mqtt, subprotocol mqtt)
// publishes to and receives from a TCP client.
func TestWebSocketPaho(t *testing.T) {
	tg := startGateway(t, "", Options{}, nil)
	wsURL := "ws://" + tg.gw.WSAddr() + "/mqtt"
	var got inbox
	ws := pahoClient(t, "", "ws-sub", true, func(o *paho.ClientOptions) { o.Servers = nil; o.AddBroker(wsURL) })
	waitToken(t, ws.Subscribe("web/#", 1, got.handler), "ws subscribe")
	tcp := pahoClient(t, tg.gw.Addr(), "tcp-pub", true)
	big := strings.Repeat("x", 200_000) // spans WebSocket frames and TCP reads
	for _, body := range []string{"one", big, "three"} {
		waitToken(t, tcp.Publish("web/a", 1, false, body), "publish")
	}
	if p := got.waitCount(t, 3); p[0] != "one" || p[1] != big || p[2] != "three" {
		t.Fatalf("ws subscriber got %d messages", len(p))
	}
	var back inbox
	waitToken(t, tcp.Subscribe("from/ws", 1, back.handler), "tcp subscribe")
	waitToken(t, ws.Publish("from/ws", 1, false, "hello from ws"), "ws publish")
	if p := back.waitCount(t, 1); p[0] != "hello from ws" {
		t.Fatalf("got %v", p)
	}
}

// TestWebSocketRefusals: a wrong path, a missing subprotocol and a text
// frame are refused; neighbours are unaffected.
func TestWebSocketRefusals(t *testing.T) {
	tg := startGateway(t, "", Options{}, nil)
	upgrade := func(path, proto string) string {
		c, err := net.Dial("tcp", tg.gw.WSAddr())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		req := "GET " + path + " HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
			"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
		if proto != "" {
			req += "Sec-WebSocket-Protocol: " + proto + "\r\n"
		}
		c.Write([]byte(req + "\r\n"))
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		buf := make([]byte, 512)
		n, _ := c.Read(buf)
		return string(buf[:n])
	}
	if r := upgrade("/other", "mqtt"); !strings.HasPrefix(r, "HTTP/1.1 400") {
		t.Fatalf("wrong path: %q", r)
	}
	if r := upgrade("/mqtt", "chat"); !strings.HasPrefix(r, "HTTP/1.1 400") {
		t.Fatalf("no mqtt subprotocol: %q", r)
	}
	r := upgrade("/mqtt", "chat, mqtt")
	if !strings.HasPrefix(r, "HTTP/1.1 101") || !strings.Contains(r, "Sec-WebSocket-Protocol: mqtt\r\n") ||
		!strings.Contains(r, "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n") {
		t.Fatalf("upgrade: %q", r)
	}
}
