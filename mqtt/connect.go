package mqtt

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"time"
)

// maxClientIDBytes bounds a client id: it is a map key, a journal field
// and a log field. Longer ids, and ids with control characters, are
// refused (CONNACK 0x85; 3.1.1: 0x02), as [MQTT-3.1.3-5] allows.
const maxClientIDBytes = 256

// neverExpires is the MQTT 5 Session Expiry Interval that means never.
const neverExpires = 0xFFFFFFFF

func (c *conn) handleConnect(raw []byte) error {
	p, err := decodePacket(raw, 0)
	if errors.Is(err, errUnsupportedVersion) {
		c.refuseConnect(version311, ReasonUnsupportedProtocolVersion, "unsupported protocol level")
		return nil
	}
	if err != nil {
		return err
	}
	cp := p.(*Connect)
	c.version = cp.Level
	if reason, why := c.checkConnect(cp); reason != ReasonSuccess {
		c.refuseConnect(c.version, reason, why)
		return nil
	}
	c.applyClientLimits(cp)
	assigned := cp.ClientID == ""
	if assigned {
		cp.ClientID = newClientID()
	}
	c.clientID, c.username = cp.ClientID, cp.Username
	if cp.Will != nil {
		c.will = newWill(cp, c)
	}
	expiry := c.sessionExpiry(cp)
	present, granted := c.gw.attach(c, cp.CleanStart, expiry)
	ack := &Connack{SessionPresent: present}
	if c.version == version5 {
		c.connackProps(&ack.Props, cp, assigned, expiry, granted)
	}
	c.send(ack)
	c.connected.Store(true)
	c.gw.metrics.connects.Add(1)
	c.sess.resume(c)
	return nil
}

// checkConnect applies the CONNECT rules the packet alone cannot decide.
func (c *conn) checkConnect(cp *Connect) (byte, string) {
	switch {
	case cp.Props.Has(propAuthMethod):
		return ReasonBadAuthenticationMethod, "enhanced authentication is not supported"
	case cp.ClientID == "" && !cp.CleanStart && c.version == version311:
		return ReasonClientIDNotValid, "an empty client id needs a clean session"
	case !validClientID(cp.ClientID):
		return ReasonClientIDNotValid, "client id longer than 256 bytes or with control characters"
	case c.gw.stopping.Load():
		return ReasonServerUnavailable, "server shutting down"
	}
	if a := c.gw.opts.Auth; a != nil {
		if err := a.Authenticate(cp.ClientID, cp.Username, cp.HasUsername, cp.Password, cp.HasPassword, c.remote); err != nil {
			return authReason(err), err.Error()
		}
		if cp.Will != nil {
			if err := a.AuthorizePublish(cp.Username, cp.Will.Topic, c.gw.cometTopicName(cp.Will.Topic)); err != nil {
				return ReasonNotAuthorized, "will topic: " + err.Error()
			}
		}
	}
	return ReasonSuccess, ""
}

func validClientID(id string) bool {
	if len(id) > maxClientIDBytes {
		return false
	}
	for i := 0; i < len(id); i++ {
		if id[i] < 0x20 || id[i] == 0x7F {
			return false
		}
	}
	return true
}

func newClientID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return "comet-" + hex.EncodeToString(b[:])
}

// refuseConnect answers a refused CONNECT (Session Present 0) and closes;
// 3.1.1 has no code for some reasons and then closes without a CONNACK.
func (c *conn) refuseConnect(version, reason byte, why string) {
	c.gw.metrics.connectRefused.Add(1)
	c.gw.logRefusal("mqtt: CONNECT refused", c, errors.New(why))
	if version == version5 {
		ack := &Connack{Reason: reason}
		ack.Props.SetString(propReasonString, truncate(why, 128))
		c.out.queue(c, func(dst []byte) []byte { return appendConnack(dst, ack, true) })
	} else if code := connackCodeV3(reason); code != connackV3NoFittingCode {
		c.out.queue(c, func(dst []byte) []byte { return append(dst, typeConnack<<4, 2, 0, code) })
	}
	c.closing.Store(true)
}

// applyClientLimits records what the client asked of the gateway's
// sending and the keep-alive.
func (c *conn) applyClientLimits(cp *Connect) {
	c.window = c.receiveMaximum(cp)
	c.keepAlive = time.Duration(cp.KeepAlive) * time.Second
	if max := c.gw.opts.MaxKeepAlive; max > 0 && (c.keepAlive == 0 || c.keepAlive > max) {
		c.keepAlive = max
	}
	if c.version != version5 {
		return
	}
	if cp.Props.Has(propMaximumPacketSize) {
		c.maxPacketOut = int(min(cp.Props.MaximumPacketSize, maxVarInt+5))
	}
	c.topicAliasOut = cp.Props.TopicAliasMaximum
	c.noProblems = cp.Props.Has(propRequestProblemInfo) && cp.Props.RequestProblemInfo == 0
}

// receiveMaximum is the client's window for the gateway's QoS 1/2 sends.
func (c *conn) receiveMaximum(cp *Connect) int {
	window := int(c.gw.opts.MaxInflight)
	if c.version == version5 && cp.Props.Has(propReceiveMaximum) {
		window = min(window, int(cp.Props.ReceiveMaximum))
	}
	return window
}

// sessionExpiry is the session expiry the client asked for, in seconds:
// MQTT 5 says it; 3.1.1 sessions without a clean session never expire.
// It is capped at the commit log's retention (the messages a session
// would resume with are gone after it).
func (c *conn) sessionExpiry(cp *Connect) uint32 {
	var want uint32
	switch {
	case c.version == version5:
		want = cp.Props.SessionExpiry
	case !cp.CleanStart:
		want = neverExpires
	}
	limit := uint32(min(c.gw.broker.RetentionAge()/time.Second, neverExpires-1))
	return min(want, limit)
}

// connackProps fills the MQTT 5 CONNACK properties.
func (c *conn) connackProps(p *Properties, cp *Connect, assigned bool, expiry uint32, _ bool) {
	o := &c.gw.opts
	if assigned {
		p.SetString(propAssignedClientID, c.clientID)
	}
	if expiry != cp.Props.SessionExpiry {
		p.SetUint32(propSessionExpiry, expiry)
	}
	p.SetUint16(propReceiveMaximum, o.ReceiveMaximum)
	p.SetUint32(propMaximumPacketSize, uint32(o.MaxPacketSize))
	p.SetUint16(propTopicAliasMaximum, o.TopicAliasMaximum)
	if ka := uint16(c.keepAlive / time.Second); ka != cp.KeepAlive {
		p.SetUint16(propServerKeepAlive, ka)
	}
}
