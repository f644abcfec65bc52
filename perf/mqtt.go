package perf

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// MQTT targets: any MQTT 3.1.1 server (Comet's gateway, mosquitto,
// nats-server's MQTT) driven by the same small client, so that the
// comparison measures the servers, not different client libraries. Topics
// are the workload's topic names; every consumer subscribes to every topic
// and receives every message (MQTT fan-out, unlike the RocketMQ consumer
// group of the Comet target), so a run expects messages × consumers
// deliveries. QoS 0 sends are complete once written; QoS 1 sends once the
// PUBACK arrives, with up to Window in flight per publisher (the server's
// own in-flight limit may be lower: mosquitto's default is 20).

// MQTTOptions configure an MQTT target.
type MQTTOptions struct {
	Name string // report column, e.g. "comet-mqtt", "mosquitto"
	Addr string // host:port
	QoS  byte   // 0 or 1, for publishes and subscriptions
}

type mqttTarget struct {
	opts MQTTOptions
	run  string
}

// NewMQTT returns an MQTT target.
func NewMQTT(o MQTTOptions) (Target, error) {
	if o.QoS > 1 {
		return nil, fmt.Errorf("perf: mqtt QoS %d: 0 or 1", o.QoS)
	}
	if o.Name == "" {
		o.Name = "mqtt"
	}
	return &mqttTarget{opts: o, run: strconv.FormatInt(time.Now().UnixNano(), 36)}, nil
}

func (t *mqttTarget) Name() string { return t.opts.Name }

// FanOut reports that every consumer receives every message.
func (t *mqttTarget) FanOut() bool { return true }

func (t *mqttTarget) Prepare(context.Context, *Workload, []string) error { return nil }

func (t *mqttTarget) Close() error { return nil }

func (t *mqttTarget) NewPublisher(ctx context.Context, w *Workload, id int) (Publisher, error) {
	c, err := dialMQTT(ctx, t.opts.Addr, fmt.Sprintf("bench-%s-p%d", t.run, id))
	if err != nil {
		return nil, err
	}
	p := &mqttPublisher{c: c, qos: t.opts.QoS, window: make(chan struct{}, w.Window), pending: map[uint16]func(error){},
		kick: make(chan struct{}, 1), stop: make(chan struct{})}
	go p.readAcks()
	go p.flushLoop()
	return p, nil
}

func (t *mqttTarget) StartConsumer(ctx context.Context, w *Workload, topics []string, id int, deliver func([]byte)) (io.Closer, error) {
	c, err := dialMQTT(ctx, t.opts.Addr, fmt.Sprintf("bench-%s-c%d", t.run, id))
	if err != nil {
		return nil, err
	}
	if err := c.subscribe(topics, t.opts.QoS); err != nil {
		c.conn.Close()
		return nil, err
	}
	go c.consume(deliver)
	return c, nil
}

// mqttConn is one client connection.
type mqttConn struct {
	conn net.Conn
	r    *bufio.Reader
	mu   sync.Mutex // guards w
	w    *bufio.Writer
}

func dialMQTT(ctx context.Context, addr, clientID string) (*mqttConn, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("perf: mqtt dial %s: %w", addr, err)
	}
	c := &mqttConn{conn: conn, r: bufio.NewReaderSize(conn, 64<<10), w: bufio.NewWriterSize(conn, 64<<10)}
	body := appendMQTTString(nil, "MQTT")
	body = append(body, 4, 0x02, 0, 60) // level 4, clean session, keep-alive 60 s
	body = appendMQTTString(body, clientID)
	c.writePacket(0x10, body)
	if err := c.flush(); err != nil {
		conn.Close()
		return nil, err
	}
	first, pkt, err := c.readPacket()
	if err != nil || first>>4 != 2 || len(pkt) < 2 || pkt[1] != 0 {
		conn.Close()
		return nil, fmt.Errorf("perf: mqtt connect to %s refused (%v)", addr, err)
	}
	return c, nil
}

func appendMQTTString(dst []byte, s string) []byte {
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(s)))
	return append(dst, s...)
}

// writePacket buffers one packet; the caller holds mu (or owns c alone).
func (c *mqttConn) writePacket(first byte, body []byte) {
	var hdr [5]byte
	hdr[0] = first
	n, v := 1, len(body)
	for {
		b := byte(v & 0x7F)
		v >>= 7
		if v > 0 {
			b |= 0x80
		}
		hdr[n] = b
		n++
		if v == 0 {
			break
		}
	}
	c.w.Write(hdr[:n])
	c.w.Write(body)
}

func (c *mqttConn) flush() error { return c.w.Flush() }

// readPacket reads one packet: its first byte and body.
func (c *mqttConn) readPacket() (byte, []byte, error) {
	first, err := c.r.ReadByte()
	if err != nil {
		return 0, nil, err
	}
	n, mult := 0, 1
	for i := 0; i < 4; i++ {
		b, err := c.r.ReadByte()
		if err != nil {
			return 0, nil, err
		}
		n += int(b&0x7F) * mult
		if b&0x80 == 0 {
			break
		}
		mult *= 128
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(c.r, body); err != nil {
		return 0, nil, err
	}
	return first, body, nil
}

func (c *mqttConn) subscribe(topics []string, qos byte) error {
	body := []byte{0, 1}
	for _, t := range topics {
		body = append(appendMQTTString(body, t), qos)
	}
	c.writePacket(0x82, body)
	if err := c.flush(); err != nil {
		return err
	}
	for {
		first, _, err := c.readPacket()
		if err != nil {
			return fmt.Errorf("perf: mqtt subscribe: %w", err)
		}
		if first>>4 == 9 {
			return nil
		}
	}
}

// consume reads PUBLISH packets until the connection closes, acking QoS 1.
func (c *mqttConn) consume(deliver func([]byte)) {
	var acks []byte
	for {
		first, body, err := c.readPacket()
		if err != nil {
			return
		}
		if first>>4 != 3 || len(body) < 2 {
			continue
		}
		tl := int(binary.BigEndian.Uint16(body))
		off := 2 + tl
		if first>>1&3 > 0 {
			acks = append(acks, 0x40, 2, body[off], body[off+1])
			off += 2
		}
		deliver(body[off:])
		if len(acks) > 0 && c.r.Buffered() == 0 {
			c.mu.Lock()
			c.w.Write(acks)
			c.w.Flush()
			c.mu.Unlock()
			acks = acks[:0]
		}
	}
}

func (c *mqttConn) Close() error {
	c.mu.Lock()
	c.w.Write([]byte{0xE0, 0})
	c.w.Flush()
	c.mu.Unlock()
	return c.conn.Close()
}

// mqttPublisher pipelines publishes on one connection.
type mqttPublisher struct {
	c       *mqttConn
	qos     byte
	window  chan struct{}
	mu      sync.Mutex
	nextID  uint16
	pending map[uint16]func(error)
	closed  atomic.Bool
	// kick wakes flushLoop: sends buffer their packet and kick it, so
	// concurrent sends leave in one write.
	kick chan struct{}
	stop chan struct{}
}

func (p *mqttPublisher) flushLoop() {
	for {
		select {
		case <-p.stop:
			return
		case <-p.kick:
		}
		p.c.mu.Lock()
		err := p.c.flush()
		p.c.mu.Unlock()
		if err != nil {
			p.failAll(err)
			return
		}
	}
}

func (p *mqttPublisher) wake() {
	select {
	case p.kick <- struct{}{}:
	default:
	}
}

var errMQTTClosed = errors.New("perf: mqtt connection closed")

func (p *mqttPublisher) SendSync(ctx context.Context, topic string, body []byte) error {
	done := make(chan error, 1)
	if err := p.SendAsync(ctx, topic, body, func(err error) { done <- err }); err != nil {
		return err
	}
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (p *mqttPublisher) SendAsync(ctx context.Context, topic string, body []byte, done func(error)) error {
	if p.closed.Load() {
		return errMQTTClosed
	}
	pkt := appendMQTTString(make([]byte, 0, 4+len(topic)+len(body)), topic)
	if p.qos == 0 {
		p.c.mu.Lock()
		p.c.writePacket(0x30, append(pkt, body...))
		p.c.mu.Unlock()
		p.wake()
		done(nil)
		return nil
	}
	select {
	case p.window <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	p.mu.Lock()
	p.nextID++
	if p.nextID == 0 {
		p.nextID = 1
	}
	id := p.nextID
	p.pending[id] = done
	p.mu.Unlock()
	pkt = binary.BigEndian.AppendUint16(pkt, id)
	p.c.mu.Lock()
	p.c.writePacket(0x32, append(pkt, body...))
	p.c.mu.Unlock()
	p.wake()
	return nil
}

func (p *mqttPublisher) SendBatch(ctx context.Context, topic string, bodies [][]byte) error {
	errs := make(chan error, len(bodies))
	for _, b := range bodies {
		if err := p.SendAsync(ctx, topic, b, func(err error) { errs <- err }); err != nil {
			return err
		}
	}
	for range bodies {
		if err := <-errs; err != nil {
			return err
		}
	}
	return nil
}

// readAcks completes QoS 1 sends as their PUBACKs arrive.
func (p *mqttPublisher) readAcks() {
	for {
		first, body, err := p.c.readPacket()
		if err != nil {
			p.failAll(err)
			return
		}
		if first>>4 != 4 || len(body) < 2 {
			continue
		}
		id := binary.BigEndian.Uint16(body)
		p.mu.Lock()
		done := p.pending[id]
		delete(p.pending, id)
		p.mu.Unlock()
		if done != nil {
			<-p.window
			done(nil)
		}
	}
}

func (p *mqttPublisher) failAll(err error) {
	p.closed.Store(true)
	p.mu.Lock()
	pending := p.pending
	p.pending = map[uint16]func(error){}
	p.mu.Unlock()
	for _, done := range pending {
		done(fmt.Errorf("%w: %v", errMQTTClosed, err))
	}
}

func (p *mqttPublisher) Close() error {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		p.mu.Lock()
		n := len(p.pending)
		p.mu.Unlock()
		if n == 0 || p.closed.Load() {
			break
		}
		time.Sleep(time.Millisecond)
	}
	close(p.stop)
	return p.c.Close()
}
