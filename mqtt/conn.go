package mqtt

import (
	"errors"
	"sync/atomic"
	"time"

	"github.com/panjf2000/gnet/v2"

	"github.com/cometmq/comet/persist"
)

// conn is one MQTT network connection. Its fields without a lock belong
// to its event loop; other goroutines touch only the outbox, the atomics
// and closeNow.
type conn struct {
	gw     *Gateway
	gc     gnet.Conn
	id     uint64
	remote string
	born   persist.Host
	out    outbox
	opened time.Time

	// WebSocket: nil for MQTT over TCP.
	ws *wsConn

	// Set by CONNECT (on the loop; read by others after connected).
	version    byte
	connected  atomic.Bool
	clientID   string
	username   string
	keepAlive  time.Duration // 0: no keep-alive check
	sess       *session
	will       *willMessage
	noProblems bool // MQTT 5 Request Problem Information 0

	// limits of the client (MQTT 5 CONNECT), for what the gateway sends
	maxPacketOut   int // 0: none
	window         int // the client's Receive Maximum, capped by Options.MaxInflight
	topicAliasOut  uint16
	aliasesIn      map[uint16]string
	inboundPending int // QoS 1/2 publishes not yet acknowledged (our Receive Maximum)

	lastPacket  atomic.Int64 // unix nanos of the last whole packet
	closing     atomic.Bool
	cleanClose  bool // DISCONNECT received (normal, without will)
	paused      bool // reading stops while held work waits (hold)
	held        []func() (bool, error)
	batch       *pubBatch // this pass's publishes
	closeReason atomic.Value
	// disconnectedAt is set (unix nanos) when a WebSocket client sent
	// DISCONNECT: the gateway ignores further MQTT bytes and lets the
	// client close the WebSocket (its close frame is answered), closing
	// it itself after wsDisconnectGrace.
	disconnectedAt atomic.Int64
}

// wsDisconnectGrace is how long a WebSocket client that sent DISCONNECT
// has to close the WebSocket before the gateway closes it.
const wsDisconnectGrace = 5 * time.Second

// wsConn is the WebSocket state of a connection.
type wsConn struct {
	upgraded   bool
	fragmented bool   // inside a fragmented binary message
	stream     []byte // unmasked MQTT bytes not yet consumed
}

var connIDs atomic.Uint64

func newConn(gw *Gateway, gc gnet.Conn, ws bool) *conn {
	c := &conn{gw: gw, gc: gc, id: connIDs.Add(1), opened: time.Now()}
	if addr := gc.RemoteAddr(); addr != nil {
		c.remote = addr.String()
	}
	c.born = hostOf(gc.RemoteAddr())
	if ws {
		c.ws = &wsConn{}
	}
	c.lastPacket.Store(c.opened.UnixNano())
	gw.metrics.connections.Add(1)
	return c
}

// maxIn is the largest packet the gateway takes.
func (c *conn) maxIn() int { return c.gw.opts.MaxPacketSize }

func (c *conn) onTraffic() gnet.Action {
	c.out.beginPass()
	action := c.readPass()
	c.flushBatch()
	c.out.endPass(c)
	return action
}

func (c *conn) readPass() gnet.Action {
	if c.closing.Load() {
		_, _ = c.gc.Discard(-1)
		return gnet.Close
	}
	if c.paused {
		return gnet.None
	}
	if c.ws != nil {
		return c.wsTraffic()
	}
	buf, _ := c.gc.Peek(-1)
	n, err := c.consume(buf)
	c.discard(n)
	if err != nil {
		c.refuse(err)
		return gnet.Close
	}
	if c.closing.Load() {
		return gnet.Close
	}
	return gnet.None
}

// discard drops n consumed bytes from gnet's buffer (gnet's Discard(0)
// would drop them all).
func (c *conn) discard(n int) {
	if n > 0 {
		_, _ = c.gc.Discard(n)
	}
}

// hold pauses reading until fn, and any work held before it, is done:
// fn returns false while it waits (whoever it waits for calls wakeHeld),
// and runs on the loop. Publishes that need a new topic or met a busy
// writer wait so, and the connection's order holds.
func (c *conn) hold(fn func() (bool, error)) {
	c.paused = true
	c.held = append(c.held, fn)
}

// wakeHeld runs the held work on the connection's loop (any goroutine).
func (c *conn) wakeHeld() {
	_ = c.gc.Wake(func(gnet.Conn, error) error { return c.runHeld() })
}

// runHeld runs held work in order, then reads on: packets that arrived
// meanwhile wait in gnet's buffer and no new read event would bring them.
// Held work runs even when the peer closed meanwhile: it sent the
// publishes it holds.
func (c *conn) runHeld() error {
	c.out.beginPass()
	action := gnet.None
	for len(c.held) > 0 {
		done, err := c.held[0]()
		if err != nil {
			c.refuse(err)
			action = gnet.Close
			break
		}
		if !done {
			break
		}
		c.held = c.held[1:]
	}
	if len(c.held) == 0 && action == gnet.None {
		c.paused = false
		if c.closing.Load() {
			action = gnet.Close
		} else {
			action = c.readPass()
		}
	}
	c.flushBatch()
	c.out.endPass(c)
	if action == gnet.Close {
		return c.gc.Close()
	}
	return nil
}

// consume handles the whole packets at the head of buf and returns the
// bytes it took. It stops early while the connection is paused.
func (c *conn) consume(buf []byte) (int, error) {
	taken := 0
	if c.disconnectedAt.Load() != 0 {
		return len(buf), nil // after DISCONNECT: nothing more is read
	}
	for !c.paused && !c.closing.Load() && c.disconnectedAt.Load() == 0 {
		n, err := splitPacket(buf[taken:], c.maxIn(), c.version == version5)
		if err != nil {
			return taken, err
		}
		if n == 0 {
			return taken, nil
		}
		if err := c.handle(buf[taken : taken+n]); err != nil {
			return taken + n, err
		}
		taken += n
		c.lastPacket.Store(time.Now().UnixNano())
	}
	return taken, nil
}

// wsTraffic runs the upgrade, then unframes what arrived into the MQTT
// stream and consumes it.
func (c *conn) wsTraffic() gnet.Action {
	buf, _ := c.gc.Peek(-1)
	if !c.ws.upgraded {
		n, up, err := parseUpgrade(buf, c.gw.opts.WSPath)
		if err != nil {
			_, _ = c.gc.Write(badRequest(err.Error()))
			c.gw.logRefusal("mqtt: websocket upgrade refused", c, err)
			return gnet.Close
		}
		if n == 0 {
			return gnet.None
		}
		_, _ = c.gc.Write(upgradeResponse(up))
		c.ws.upgraded = true
		c.out.mu.Lock()
		c.out.mu.ws = true
		c.out.mu.Unlock()
		c.discard(n)
		buf, _ = c.gc.Peek(-1)
	}
	n, err := c.unframe(buf)
	c.discard(n)
	if err != nil {
		_, _ = c.gc.Write(wsCloseFrame(wsCloseProtocolErr))
		c.gw.logRefusal("mqtt: websocket connection closed", c, err)
		return gnet.Close
	}
	taken, err := c.consume(c.ws.stream)
	c.ws.stream = append(c.ws.stream[:0], c.ws.stream[taken:]...)
	if cap(c.ws.stream) > 64<<10 && len(c.ws.stream) < 4<<10 {
		c.ws.stream = append([]byte(nil), c.ws.stream...)
	}
	if err != nil {
		c.refuse(err)
		return gnet.Close
	}
	if c.closing.Load() {
		return gnet.Close
	}
	return gnet.None
}

// errWSClosed: the peer sent a close frame (a network failure for the
// Will, MQTT §6).
var errWSClosed = errors.New("mqtt: websocket closed by the peer")

// unframe moves the payloads of the whole frames at the head of buf into
// the MQTT stream and returns the bytes it took.
func (c *conn) unframe(buf []byte) (int, error) {
	taken := 0
	for {
		h, ok, err := parseWSFrame(buf[taken:], c.maxIn()+16)
		if err != nil {
			return taken, err
		}
		if !ok {
			return taken, nil
		}
		payload := buf[taken+h.hdrSize : taken+h.hdrSize+h.length]
		taken += h.hdrSize + h.length
		switch h.opcode {
		case wsOpBinary, wsOpContinuation:
			if (h.opcode == wsOpContinuation) != c.ws.fragmented {
				return taken, wsError("continuation frame out of place")
			}
			c.ws.fragmented = !h.fin
			if len(c.ws.stream)+len(payload) > c.maxIn()+16 {
				return taken, wsError("buffered MQTT bytes over the maximum packet size")
			}
			c.ws.stream = appendUnmasked(c.ws.stream, &h, payload)
		case wsOpPing:
			// Written at once, between whole frames of the outbox.
			_, _ = c.gc.Write(wsFrame(nil, wsOpPong, appendUnmasked(nil, &h, payload)))
		case wsOpPong:
		case wsOpClose:
			_, _ = c.gc.Write(wsCloseFrame(wsCloseNormal))
			return taken, errWSClosed
		default:
			return taken, wsError("text or unknown frame (MQTT is binary)")
		}
	}
}

// refuse closes the connection over err: MQTT 5 connections that are past
// CONNECT are told the reason in a DISCONNECT; the event is counted and
// logged (rate limited).
func (c *conn) refuse(err error) {
	if errors.Is(err, errWSClosed) {
		c.closing.Store(true)
		return
	}
	reason := reasonOf(err)
	c.gw.metrics.protocolErrors.Add(1)
	c.gw.logRefusal("mqtt: connection closed", c, err)
	c.disconnect(reason, err.Error())
}

// disconnect sends an MQTT 5 DISCONNECT (after CONNACK only, [MQTT-3.14.0-1])
// and marks the connection for closing.
func (c *conn) disconnect(reason byte, why string) {
	if c.closing.Swap(true) {
		return
	}
	c.closeReason.Store(why)
	if c.connected.Load() && c.version == version5 {
		d := &Disconnect{Reason: reason}
		if why != "" && !c.noProblems {
			d.Props.SetString(propReasonString, truncate(why, 128))
		}
		c.out.queue(c, func(dst []byte) []byte { return appendReasonPacket(dst, typeDisconnect, d.Reason, &d.Props, true) })
	}
}

// closeNow closes the connection from any goroutine.
func (c *conn) closeNow(why string) {
	if c.closing.Swap(true) {
		return
	}
	c.closeReason.Store(why)
	_ = c.gc.Close()
}

// disconnectAsync sends an MQTT 5 DISCONNECT with reason from any
// goroutine and closes the connection once it is written.
func (c *conn) disconnectAsync(reason byte, why string) {
	if c.closing.Swap(true) {
		return
	}
	c.closeReason.Store(why)
	if c.connected.Load() && c.version == version5 {
		d := &Disconnect{Reason: reason}
		c.out.queue(c, func(dst []byte) []byte { return appendReasonPacket(dst, typeDisconnect, d.Reason, &d.Props, true) })
	}
	// The close runs on the loop after the queued write was handed over.
	_ = c.gc.Wake(func(gnet.Conn, error) error { return c.gc.Close() })
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// onClose runs on the loop when the socket is gone.
func (c *conn) onClose(err error) {
	c.closing.Store(true)
	c.out.close()
	c.gw.conns.remove(c)
	c.gw.metrics.connections.Add(-1)
	if c.sess != nil {
		c.gw.sessionClosed(c)
	}
}

// send queues one packet to the client.
func (c *conn) send(p packet) {
	c.out.queue(c, func(dst []byte) []byte { return encodePacket(dst, p, c.version) })
}

// handle decodes and handles one whole packet.
func (c *conn) handle(raw []byte) error {
	if !c.connected.Load() {
		if raw[0]>>4 != typeConnect {
			return protocolErr("%s before CONNECT", typeNames[raw[0]>>4])
		}
		return c.handleConnect(raw)
	}
	p, err := decodePacket(raw, c.version)
	if err != nil {
		return err
	}
	c.gw.metrics.packetsIn.Add(1)
	switch p := p.(type) {
	case *Publish:
		return c.handlePublish(p)
	case *Ack:
		return c.handleAck(p)
	case *Subscribe:
		return c.handleSubscribe(p)
	case *Unsubscribe:
		return c.handleUnsubscribe(p)
	case *Ping:
		if p.Type != typePingreq {
			return protocolErr("PINGRESP from a client")
		}
		c.out.queue(c, func(dst []byte) []byte { return append(dst, typePingresp<<4, 0) })
		return nil
	case *Disconnect:
		return c.handleDisconnect(p)
	case *Connect:
		return protocolErr("second CONNECT")
	case *Auth:
		return protocolErr("AUTH without an authentication method")
	}
	return protocolErr("%s from a client", typeNames[p.kind()])
}

// handleDisconnect ends the connection at the client's request.
func (c *conn) handleDisconnect(d *Disconnect) error {
	if d.Props.Has(propSessionExpiry) {
		if c.sess != nil && !c.sess.changeExpiry(d.Props.SessionExpiry) {
			return protocolErr("session expiry set on DISCONNECT after a CONNECT with none")
		}
	}
	c.cleanClose = d.Reason != ReasonDisconnectWithWill
	if c.ws != nil {
		c.disconnectedAt.Store(time.Now().UnixNano())
		return nil
	}
	c.closing.Store(true)
	return nil
}
