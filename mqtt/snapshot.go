package mqtt

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"
	"time"

	"github.com/cometmq/comet/actors"
	"github.com/cometmq/comet/persist"
)

// The snapshot: every persistent session and every retained message, with
// the log offset from which the journal is replayed over it, written whole
// through the broker's file system (persist.WriteFileAtomic) to
//
//	<data>/mqtt/sessions.json
//
// as one JSON object (part of the format: do not change):
//
//	end       log offset: replay starts here
//	sessions  [{c, v, exp, at, subs, cur, acked, out, qos2in, will, willAt}]
//	          at: expiry deadline in unix ms, 0 when connected at the snapshot
//	          out: [{p, o, e, r}] outbound QoS 2 exchanges in flight
//	          qos2in: inbound QoS 2 packet ids awaiting PUBREL
//	retained  [{t, b, q, props, exp, o}] topic, payload, QoS, MQTT 5
//	          properties, expiry (unix ms), log offset of the publish
//
// A snapshot is taken every Options.SnapshotInterval, after 256 MiB of new
// log, and at Stop. Its offset comes first: the gateway reads the log's
// visible end, then waits for a barrier record ("mark") to be stored, so
// every record below the offset has been applied to memory before memory
// is copied; records above it may be in memory too, which replay
// tolerates (every journal operation sets state, it does not add to it).
//
// A snapshot older than the log's retention (the broker was down for
// longer) replays what is left and logs how much was lost.

type snapshotFile struct {
	End      int64      `json:"end"`
	Sessions []jsession `json:"sessions"`
	Retained []jretain  `json:"retained"`
}

type jsession struct {
	C      string   `json:"c"`
	V      byte     `json:"v"`
	Exp    uint32   `json:"exp"`
	At     int64    `json:"at"`
	Subs   []jsub   `json:"subs,omitempty"`
	Cur    int64    `json:"cur"`
	Acked  []int64  `json:"acked,omitempty"`
	Out    []jout   `json:"out,omitempty"`
	QoS2In []uint16 `json:"qos2in,omitempty"`
	Will   *jwill   `json:"will,omitempty"`
	WillAt int64    `json:"willAt,omitempty"`
}

type jout struct {
	P uint16 `json:"p"`
	O int64  `json:"o"`
	E int64  `json:"e"`
	R bool   `json:"r,omitempty"`
}

type jretain struct {
	T     string     `json:"t"`
	B     []byte     `json:"b"`
	Q     byte       `json:"q"`
	Props Properties `json:"props"`
	Exp   int64      `json:"exp,omitempty"`
	O     int64      `json:"o"`
}

func (j *journal) snapshotPath() string {
	return filepath.Join(j.gw.broker.DataDir(), "mqtt", "sessions.json")
}

// snapshot writes the snapshot file.
func (j *journal) snapshot() error {
	gw := j.gw
	end := gw.store.MaxPhysicalOffset()
	barrier := make(chan error, 1)
	j.write(func(err error) { barrier <- err }, &jrec{Op: "mark"})
	if err := <-barrier; err != nil {
		return fmt.Errorf("mqtt: snapshot barrier: %w", err)
	}
	snap := snapshotFile{End: end}
	gw.sessions.mu.Lock()
	all := make([]*session, 0, len(gw.sessions.byID))
	for _, s := range gw.sessions.byID {
		all = append(all, s)
	}
	gw.sessions.mu.Unlock()
	for _, s := range all {
		if js, ok := s.snapshotRecord(); ok {
			snap.Sessions = append(snap.Sessions, js)
		}
	}
	gw.retained.each(func(m *retainedMsg) {
		snap.Retained = append(snap.Retained, jretain{T: m.d.topic, B: m.d.payload, Q: m.d.qos, Props: m.d.props,
			Exp: m.d.expiresAt, O: m.phys})
	})
	data, err := json.Marshal(&snap)
	if err != nil {
		return fmt.Errorf("mqtt: encode snapshot: %w", err)
	}
	fsys := gw.broker.FS()
	if err := fsys.MkdirAll(filepath.Dir(j.snapshotPath()), 0o755); err != nil {
		return fmt.Errorf("mqtt: snapshot dir: %w", err)
	}
	if err := persist.WriteFileAtomic(fsys, j.snapshotPath(), data); err != nil {
		return fmt.Errorf("mqtt: write snapshot: %w", err)
	}
	j.lastSnapshotEnd = end
	gw.metrics.snapshots.Add(1)
	return nil
}

// cursorLocked is the log offset below which every matching record is
// done: the oldest in flight, else the reading position.
func (s *session) cursorLocked() int64 {
	cur := s.mu.readPos
	if s.mu.live {
		cur = s.gw.fan.safePos()
	}
	for _, om := range s.mu.inflight {
		if om.phys >= 0 && om.phys < cur {
			cur = om.phys
		}
	}
	return cur
}

// doneAbove lists the done records at or above cur, pruning older ones.
func (s *session) doneAboveLocked(cur int64) []int64 {
	var out []int64
	for phys := range s.mu.done {
		if phys < cur {
			delete(s.mu.done, phys)
			continue
		}
		out = append(out, phys)
	}
	slices.Sort(out)
	return out
}

// progressRecord is a "prog" record of a persistent session.
func (s *session) progressRecord() *jrec {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.persistentLocked() || s.mu.ended {
		return nil
	}
	cur := s.cursorLocked()
	return &jrec{Op: "prog", C: s.clientID, Cur: cur, Acked: s.doneAboveLocked(cur)}
}

func (s *session) snapshotRecord() (jsession, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.persistentLocked() || s.mu.ended {
		return jsession{}, false
	}
	cur := s.cursorLocked()
	js := jsession{C: s.clientID, V: s.mu.version, Exp: s.mu.expiry, Cur: cur, Acked: s.doneAboveLocked(cur)}
	if !s.mu.expiresAt.IsZero() {
		js.At = s.mu.expiresAt.UnixMilli()
	}
	for _, sub := range s.mu.subs {
		js.Subs = append(js.Subs, jsub{F: sub.full, Q: sub.qos, NL: sub.noLocal, RAP: sub.rap, RH: sub.rh, ID: sub.id, Since: sub.since})
	}
	for _, om := range s.mu.inflight {
		if om.qos == 2 && om.phys >= 0 {
			js.Out = append(js.Out, jout{P: om.id, O: om.phys, E: om.end, R: om.rel})
		}
	}
	for id, stored := range s.mu.qos2in {
		if stored {
			js.QoS2In = append(js.QoS2In, id)
		}
	}
	if s.mu.will != nil {
		js.Will = willRecord(s.mu.will)
		if !s.mu.willAt.IsZero() {
			js.WillAt = s.mu.willAt.UnixMilli()
		}
	}
	return js, true
}

// Recovery.

// recovering is the state rebuilt from the snapshot and the journal.
type recovering struct {
	sessions map[string]*jsession
	online   map[string]bool // connected when the broker went down
	retained map[string]*jretain
}

// recover loads the snapshot, replays the log written since and installs
// the sessions (offline) and retained messages.
func (j *journal) recover() error {
	gw := j.gw
	fsys := gw.broker.FS()
	if _, err := persist.RemoveMetaTemps(fsys, j.snapshotPath()); err != nil {
		gw.log.Warn("mqtt: removing snapshot temporaries", "err", err)
	}
	rc := &recovering{sessions: map[string]*jsession{}, online: map[string]bool{}, retained: map[string]*jretain{}}
	var snap snapshotFile
	data, err := persist.ReadFile(fsys, j.snapshotPath())
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return fmt.Errorf("mqtt: read snapshot: %w", err)
	default:
		if err := json.Unmarshal(data, &snap); err != nil {
			return fmt.Errorf("%w: snapshot %s: %v", errJournal, j.snapshotPath(), err)
		}
	}
	for i := range snap.Sessions {
		js := &snap.Sessions[i]
		rc.sessions[js.C] = js
		rc.online[js.C] = js.At == 0
	}
	for i := range snap.Retained {
		rc.retained[snap.Retained[i].T] = &snap.Retained[i]
	}
	replayed, err := j.replay(rc, snap.End)
	if err != nil {
		return err
	}
	j.install(rc)
	j.lastSnapshotEnd = snap.End
	gw.log.Info("mqtt: sessions recovered", "sessions", len(rc.sessions), "retained", len(rc.retained),
		"replayedBytes", replayed)
	return nil
}

// replay applies the records from offset from to the log's visible end.
func (j *journal) replay(rc *recovering, from int64) (int64, error) {
	store := j.gw.store
	if min := store.MinPhysicalOffset(); from < min {
		if from > 0 {
			j.gw.log.Warn("mqtt: the log since the session snapshot was partly deleted by retention; sessions may miss changes",
				"snapshotEnd", from, "logStart", min)
		}
		from = min
	}
	end := store.MaxPhysicalOffset()
	pos := from
	for pos < end {
		raw, err := store.ReadRaw(pos, fanoutReadBytes)
		if err != nil || len(raw) == 0 {
			return pos - from, fmt.Errorf("%w: replay at %d: %v", errJournal, pos, err)
		}
		for len(raw) >= 8 && pos < end {
			size := int(binary.BigEndian.Uint32(raw))
			if size < 8 || size > len(raw) {
				return pos - from, fmt.Errorf("%w: bad record size %d at %d", errJournal, size, pos)
			}
			if binary.BigEndian.Uint32(raw[4:]) == persist.MagicMessage {
				if rv, err := persist.ParseRecord(raw[:size], pos); err == nil {
					j.replayRecord(rc, &rv)
				}
			}
			pos += int64(size)
			raw = raw[size:]
		}
	}
	return pos - from, nil
}

func (j *journal) replayRecord(rc *recovering, rv *persist.RecordView) {
	if string(rv.Topic()) == actors.TopicMQTTSessions {
		var r jrec
		if err := json.Unmarshal(rv.Body(), &r); err != nil {
			j.gw.log.Warn("mqtt: unreadable session journal record skipped", "offset", rv.PhysicalOffset(), "err", err)
			return
		}
		rc.apply(&r)
		return
	}
	var d delivery
	if !j.gw.parseDelivery(rv, &d) || !d.fromMQTT {
		return
	}
	if d.retain {
		rc.retained[d.topic] = &jretain{T: d.topic, B: append([]byte(nil), d.payload...), Q: d.qos, Props: d.props,
			Exp: d.expiresAt, O: d.phys}
	}
	var pkt uint16
	eachProperty(rv.Properties(), func(k, v []byte) {
		if string(k) == PropPacketID {
			var n int
			fmt.Sscanf(string(v), "%d", &n)
			pkt = uint16(n)
		}
	})
	if js := rc.sessions[d.origin]; js != nil && d.qos == 2 && pkt != 0 && !slices.Contains(js.QoS2In, pkt) {
		js.QoS2In = append(js.QoS2In, pkt)
	}
}

// apply replays one journal record.
func (rc *recovering) apply(r *jrec) {
	if r.Op == "mark" || r.C == "" {
		return
	}
	js := rc.sessions[r.C]
	if js == nil && r.Op != "end" {
		js = &jsession{C: r.C, Cur: r.Pos}
		rc.sessions[r.C] = js
	}
	switch r.Op {
	case "sess":
		js.V, js.Exp, js.Will, js.WillAt = r.V, derefExpiry(r.Exp, js.Exp), r.Will, 0
		js.At = 0
		rc.online[r.C] = true
	case "off":
		js.At = r.At
		rc.online[r.C] = false
	case "end":
		delete(rc.sessions, r.C)
		delete(rc.online, r.C)
	case "sub":
		js.Exp = derefExpiry(r.Exp, js.Exp)
		for _, s := range r.S {
			js.Subs = slices.DeleteFunc(js.Subs, func(o jsub) bool { return o.F == s.F })
			js.Subs = append(js.Subs, s)
		}
	case "unsub":
		js.Subs = slices.DeleteFunc(js.Subs, func(o jsub) bool { return slices.Contains(r.F, o.F) })
	case "rel":
		js.QoS2In = slices.DeleteFunc(js.QoS2In, func(id uint16) bool { return id == r.P })
	case "out":
		js.Out = slices.DeleteFunc(js.Out, func(o jout) bool { return o.O == r.O })
		js.Out = append(js.Out, jout{P: r.P, O: r.O, E: r.E, R: r.R})
	case "prog":
		js.Cur, js.Acked = r.Cur, r.Acked
		js.Out = slices.DeleteFunc(js.Out, func(o jout) bool { return o.O < r.Cur || slices.Contains(r.Acked, o.O) })
	}
}

func derefExpiry(p *uint32, old uint32) uint32 {
	if p == nil {
		return old
	}
	return *p
}

// install turns the recovered state into offline sessions and retained
// messages. Sessions connected when the broker went down are offline from
// now; their Wills are published (after their delay).
func (j *journal) install(rc *recovering) {
	gw := j.gw
	now := time.Now()
	for _, r := range rc.retained {
		gw.retained.set(r.T, r.B, r.Q, &r.Props, r.Exp, r.O)
	}
	for id, js := range rc.sessions {
		if js.Exp == 0 {
			continue
		}
		s := newSession(gw, id)
		s.restore(js, rc.online[id], now)
		if !s.mu.expiresAt.IsZero() && now.After(s.mu.expiresAt) {
			continue // expired while the broker was down
		}
		gw.sessions.byID[id] = s
		gw.metrics.sessions.Add(1)
		gw.subs.mu.Lock()
		for _, sub := range s.mu.subs {
			gw.subs.tree.add(sub.filter, sub.share, s, sub)
		}
		gw.subs.mu.Unlock()
		gw.metrics.subscriptions.Add(int64(len(s.mu.subs)))
	}
}

// restore fills a new session from its recovered state.
func (s *session) restore(js *jsession, online bool, now time.Time) {
	s.mu.version, s.mu.expiry = js.V, js.Exp
	s.mu.readPos, s.mu.takenEnd = js.Cur, js.Cur
	s.mu.window = int(s.gw.opts.MaxInflight)
	if js.At > 0 {
		s.mu.expiresAt = time.UnixMilli(js.At)
	} else {
		s.mu.expiresAt = now.Add(time.Duration(js.Exp) * time.Second)
	}
	for _, js := range js.Subs {
		share, filter, err := parseFilter(js.F)
		if err != nil {
			continue
		}
		sub := &subscription{full: js.F, filter: filter, share: share, qos: js.Q, noLocal: js.NL, rap: js.RAP,
			rh: js.RH, id: js.ID, since: js.Since}
		s.mu.subs[js.F] = sub
		if share == "" {
			s.mu.own.add(filter, "", js.F, sub)
		}
	}
	for _, phys := range js.Acked {
		s.markDoneLocked(phys)
	}
	slices.SortFunc(js.Out, func(a, b jout) int { return int(a.O - b.O) })
	for _, o := range js.Out {
		om := &outMsg{id: o.P, phys: o.O, end: o.E, qos: 2, rel: o.R}
		s.trackLocked(om)
		s.markDoneLocked(o.O)
		s.mu.nextID = max(s.mu.nextID, o.P)
	}
	for _, id := range js.QoS2In {
		s.mu.qos2in[id] = true
	}
	s.restoreWill(js, online, now)
}

func (s *session) markDoneLocked(phys int64) {
	if s.mu.done == nil {
		s.mu.done = map[int64]bool{}
	}
	s.mu.done[phys] = true
}

// restoreWill re-arms the Will of a session that was connected when the
// broker went down (the connection ended without DISCONNECT).
func (s *session) restoreWill(js *jsession, online bool, now time.Time) {
	if js.Will == nil {
		return
	}
	w := &willMessage{clientID: js.C, born: persist.Host{IP: []byte{127, 0, 0, 1}},
		pub:   Publish{Topic: js.Will.Topic, Payload: js.Will.Payload, QoS: js.Will.QoS, Retain: js.Will.Retain, Props: js.Will.Props},
		delay: time.Duration(js.Will.DelayS) * time.Second}
	switch {
	case js.WillAt > 0:
		s.mu.will, s.mu.willAt = w, time.UnixMilli(js.WillAt)
	case online:
		s.mu.will, s.mu.willAt = w, now.Add(w.delay)
	}
}
