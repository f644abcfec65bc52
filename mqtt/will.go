package mqtt

import (
	"time"

	"github.com/cometmq/comet/actors"
	"github.com/cometmq/comet/persist"
)

// willMessage is a connection's Will, published as an ordinary publish
// of its client when the connection ends without DISCONNECT (or with
// reason 0x04), after its delay (MQTT 5).
type willMessage struct {
	clientID string
	born     persist.Host
	pub      Publish
	delay    time.Duration
}

func newWill(cp *Connect, c *conn) *willMessage {
	w := cp.Will
	wm := &willMessage{clientID: cp.ClientID, born: c.born,
		pub: Publish{QoS: w.QoS, Retain: w.Retain, Topic: w.Topic, Payload: append([]byte(nil), w.Payload...), Props: w.Props}}
	wm.pub.Props.CorrelationData = append([]byte(nil), w.Props.CorrelationData...)
	wm.pub.Props.Present &^= 1 << propWillDelay
	if w.Props.Has(propWillDelay) {
		wm.delay = time.Duration(w.Props.WillDelay) * time.Second
	}
	return wm
}

// willCompletion records a stored Will's retained state.
type willCompletion struct {
	gw      *Gateway
	w       *willMessage
	expires int64
}

func (wc *willCompletion) Complete(req *actors.AppendRequest) {
	if req.Err != nil {
		wc.gw.log.Warn("mqtt: will not stored", "clientId", quoteShort(wc.w.clientID), "err", req.Err)
		return
	}
	wc.gw.metrics.willsPublished.Add(1)
	if wc.w.pub.Retain {
		wc.gw.retained.set(wc.w.pub.Topic, req.Messages[0].Body, wc.w.pub.QoS, &wc.w.pub.Props, wc.expires,
			req.Results[0].PhysicalOffset)
	}
}

// publishWill stores a Will. Its topic must exist or be creatable now;
// otherwise it goes to the fallback topic.
func (gw *Gateway) publishWill(w *willMessage) {
	now := time.Now()
	topic, wq, ok := gw.resolveCometTopic(w.pub.Topic)
	if !ok {
		topic = gw.opts.FallbackTopic
		wq, _ = gw.broker.GatewayTopic(topic)
	}
	props, ok := gw.messageProperties(&w.pub, w.clientID, now.UnixMilli())
	if !ok {
		return
	}
	wc := &willCompletion{gw: gw, w: w}
	if w.pub.Props.Has(propMessageExpiry) {
		wc.expires = now.UnixMilli() + int64(w.pub.Props.MessageExpiry)*1000
	}
	req := &actors.AppendRequest{Done: wc, Messages: []persist.Message{{
		Topic: topic, QueueID: queueFor(w.pub.Topic, wq), BornTimestamp: now.UnixMilli(), BornHost: w.born,
		Body: w.pub.Payload, Properties: props,
	}}}
	if err := gw.broker.GatewayAppend(req, false); err != nil {
		gw.log.Warn("mqtt: will not stored", "clientId", quoteShort(w.clientID), "err", err)
	}
}
