package actors

import (
	"bytes"
	"net/netip"
	"strconv"

	"github.com/cometmq/comet/netio/remoting"
	"github.com/cometmq/comet/persist"
)

// Helpers for the broker-made copies of stored records (timer hops,
// deliveries, transaction commits): each copy owns its bytes, because the
// record it came from lives in a mapping that retention may unmap.

// copyRecord returns a message with every field of rv, owning its memory.
func copyRecord(rv *persist.RecordView) persist.Message {
	born := rv.BornHost()
	born.IP = bytes.Clone(born.IP)
	return persist.Message{
		Topic: string(rv.Topic()), QueueID: rv.QueueID(), Flag: rv.Flag(), SysFlag: rv.SysFlag(),
		BornTimestamp: rv.BornTimestamp(), BornHost: born, ReconsumeTimes: rv.ReconsumeTimes(),
		PreparedTxOffset: rv.PreparedTxOffset(),
		Body:             bytes.Clone(rv.Body()), Properties: bytes.Clone(rv.Properties()),
	}
}

// stripProperties returns props without the items whose key is in drop.
// Separators are normalized: no empty items, no trailing separator.
func stripProperties(props []byte, drop ...string) []byte {
	out := make([]byte, 0, len(props))
	for len(props) > 0 {
		item := props
		if i := bytes.IndexByte(props, remoting.PropertySeparator); i >= 0 {
			item, props = props[:i], props[i+1:]
		} else {
			props = nil
		}
		sep := bytes.IndexByte(item, remoting.PropertyNameValueSeparator)
		if sep <= 0 || containsKey(drop, item[:sep]) {
			continue
		}
		if len(out) > 0 {
			out = append(out, remoting.PropertySeparator)
		}
		out = append(out, item...)
	}
	return out
}

func containsKey(keys []string, key []byte) bool {
	for _, k := range keys {
		if k == string(key) {
			return true
		}
	}
	return false
}

// setProperty replaces (or adds) one property.
func setProperty(props []byte, key, value string) []byte {
	return remoting.AppendProperty(stripProperties(props, key), key, value)
}

// propertyInt64 parses an integer property. present reports whether the
// key exists; err is set when it exists but is not an integer.
func propertyInt64(props []byte, key string) (v int64, present bool, err error) {
	s, ok := remoting.PropertyValue(string(props), key)
	if !ok {
		return 0, false, nil
	}
	v, err = strconv.ParseInt(s, 10, 64)
	return v, true, err
}

// recordMessageExt is rv as a consumer sees it, with topic and queue
// replaced (a transaction check shows the real topic, not the half topic).
func recordMessageExt(rv *persist.RecordView, topic string, queueID int32) *remoting.MessageExt {
	return &remoting.MessageExt{
		QueueID: queueID, Flag: rv.Flag(), QueueOffset: rv.QueueOffset(), CommitLogOffset: rv.PhysicalOffset(),
		SysFlag: rv.SysFlag(), BornTimestamp: rv.BornTimestamp(), BornHost: addrPort(rv.BornHost()),
		StoreTimestamp: rv.StoreTimestamp(), StoreHost: addrPort(rv.StoreHost()),
		ReconsumeTimes: rv.ReconsumeTimes(), PreparedTransactionOffset: rv.PreparedTxOffset(),
		Body: rv.Body(), Topic: topic, Properties: remoting.ParseProperties(string(rv.Properties())),
	}
}

func addrPort(h persist.Host) netip.AddrPort {
	addr, ok := netip.AddrFromSlice(h.IP)
	if !ok {
		return netip.AddrPort{}
	}
	return netip.AddrPortFrom(addr, uint16(h.Port))
}
