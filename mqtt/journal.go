package mqtt

import (
	"encoding/json"
	"errors"
	"sync"
	"time"

	"github.com/cometmq/comet/actors"
	"github.com/cometmq/comet/persist"
)

// The session journal: what persistent sessions must not lose is written
// to the commit log itself, as records of the system topic
// rmq_sys_MQTT_SESSIONS, through the broker's writer — so it gets group
// commit, the flush mode's durability (a SUBACK, PUBCOMP or outbound QoS 2
// PUBLISH waits for its record exactly as a PUBACK waits for the message),
// kill -9 recovery and replication with the rest of the log. A snapshot
// file (snapshot.go) compacts it periodically, so replay after a restart
// reads only the log written since, and so sessions outlive the log's
// retention.
//
// Why not metadata files only: every SUBSCRIBE and every QoS 2 step would
// need its own file write and fsync (or a group commit of their own),
// while the commit log already batches them with the messages; and
// method-B QoS 2 needs the message and its "stored" state in one durable
// write, which the stored message itself is (MQTT_PKT_ID).
//
// Each record's body is one JSON object; "op" says what it sets, and
// replaying a record twice, or over a snapshot already holding its effect,
// leaves the same state (part of the format: do not change):
//
//	op     fields                           sets
//	sess   c, v, exp, pos, will?            session exists (create: read position pos)
//	off    c, at                            offline since; expires at "at" (unix ms)
//	end    c                                session ended
//	sub    c, exp, s: [{f,q,nl,rap,rh,id,since}]   subscriptions added or replaced
//	unsub  c, f: [filter]                   subscriptions removed
//	rel    c, p                             inbound QoS 2 packet id p released (PUBREL)
//	out    c, p, o, e, r                    outbound QoS 2: packet id p carries record o..e; r: PUBREL sent
//	prog   c, cur, acked                    every matching record below cur, and those in acked, is done
//	mark   -                                a snapshot's barrier (no state)
//
// Besides its own records, replay reads the messages stored since the
// snapshot: a QoS 2 publish of a persistent session (MQTT_CLIENT_ID,
// MQTT_PKT_ID) puts its packet id in the session's awaiting-PUBREL set,
// and a retained publish (MQTT_RETAIN=1) sets or clears the topic's
// retained message.
type journal struct {
	gw *Gateway
	mu struct {
		sync.Mutex
		dirty map[*session]bool
	}
	lastSnapshotEnd int64
}

// jrec is one journal record.
type jrec struct {
	Op    string     `json:"op"`
	C     string     `json:"c,omitempty"`
	V     byte       `json:"v,omitempty"`
	Exp   *uint32    `json:"exp,omitempty"`
	Pos   int64      `json:"pos,omitempty"`
	At    int64      `json:"at,omitempty"`
	Will  *jwill     `json:"will,omitempty"`
	S     []jsub     `json:"s,omitempty"`
	F     []string   `json:"f,omitempty"`
	P     uint16     `json:"p,omitempty"`
	O     int64      `json:"o,omitempty"`
	E     int64      `json:"e,omitempty"`
	R     bool       `json:"r,omitempty"`
	Cur   int64      `json:"cur,omitempty"`
	Acked []int64    `json:"acked,omitempty"`
	Ret   []jretain  `json:"ret,omitempty"`
	Sess  []jsession `json:"sess,omitempty"`
}

type jsub struct {
	F     string `json:"f"`
	Q     byte   `json:"q"`
	NL    bool   `json:"nl,omitempty"`
	RAP   bool   `json:"rap,omitempty"`
	RH    byte   `json:"rh,omitempty"`
	ID    uint32 `json:"id,omitempty"`
	Since int64  `json:"since"`
}

type jwill struct {
	Topic   string     `json:"t"`
	Payload []byte     `json:"b"`
	QoS     byte       `json:"q"`
	Retain  bool       `json:"r,omitempty"`
	DelayS  int64      `json:"d,omitempty"`
	Born    string     `json:"born,omitempty"`
	Props   Properties `json:"props"`
}

func newJournal(gw *Gateway) *journal {
	j := &journal{gw: gw}
	j.mu.dirty = map[*session]bool{}
	return j
}

func (j *journal) encode(r *jrec) persist.Message {
	body, _ := json.Marshal(r)
	return persist.Message{Topic: actors.TopicMQTTSessions, QueueID: 0, BornTimestamp: time.Now().UnixMilli(),
		BornHost: persist.Host{IP: []byte{127, 0, 0, 1}}, Body: body}
}

// journalDone completes a journal append.
type journalDone struct {
	j    *journal
	done func(error)
}

func (d *journalDone) Complete(req *actors.AppendRequest) {
	d.j.gw.metrics.journalRecords.Add(int64(len(req.Messages)))
	if req.Err != nil {
		d.j.gw.metrics.journalFailures.Add(1)
		d.j.gw.log.Warn("mqtt: session journal record not stored", "err", req.Err)
	}
	if d.done != nil {
		d.done(req.Err)
	}
}

// write appends records through the writer (never inline: completions
// must not run under a caller's locks) and calls done once stored.
func (j *journal) write(done func(error), recs ...*jrec) {
	msgs := make([]persist.Message, len(recs))
	for i, r := range recs {
		msgs[i] = j.encode(r)
	}
	req := &actors.AppendRequest{Messages: msgs, Done: &journalDone{j: j, done: done}}
	if err := j.gw.broker.GatewayAppend(req, false); err != nil {
		j.gw.metrics.journalFailures.Add(1)
		j.gw.log.Warn("mqtt: session journal record refused", "err", err)
		if done != nil {
			go done(err)
		}
	}
}

// durable writes rec and runs ok once stored; a failure closes the
// session's connection instead (the client repeats what was not
// acknowledged).
func (j *journal) durable(s *session, rec *jrec, ok func()) {
	j.write(func(err error) {
		if err == nil {
			ok()
			return
		}
		s.mu.Lock()
		c := s.mu.conn
		s.mu.Unlock()
		if c != nil {
			c.disconnectAsync(ReasonUnspecified, "session state not stored")
		}
	}, rec)
}

func expiryPtr(v uint32) *uint32 { return &v }

// sessionConnected records a persistent session's connection.
func (j *journal) sessionConnected(s *session) {
	s.mu.Lock()
	if !s.persistentLocked() {
		s.mu.Unlock()
		return
	}
	r := &jrec{Op: "sess", C: s.clientID, V: s.mu.version, Exp: expiryPtr(s.mu.expiry), Pos: s.mu.readPos}
	if w := s.mu.will; w != nil {
		r.Will = willRecord(w)
	}
	s.mu.Unlock()
	j.write(nil, r)
}

func willRecord(w *willMessage) *jwill {
	return &jwill{Topic: w.pub.Topic, Payload: w.pub.Payload, QoS: w.pub.QoS, Retain: w.pub.Retain,
		DelayS: int64(w.delay / time.Second), Props: w.pub.Props}
}

func (j *journal) sessionOffline(s *session) {
	s.mu.Lock()
	r := &jrec{Op: "off", C: s.clientID, At: s.mu.expiresAt.UnixMilli()}
	persistent := s.persistentLocked()
	s.mu.Unlock()
	if persistent {
		j.write(nil, r)
		j.progress(s)
	}
}

func (j *journal) sessionEnded(s *session, _ string) {
	j.mu.Lock()
	delete(j.mu.dirty, s)
	j.mu.Unlock()
	s.mu.Lock()
	persistent := s.persistentLocked()
	s.mu.Unlock()
	if persistent {
		j.write(nil, &jrec{Op: "end", C: s.clientID})
	}
}

// progress marks s for the next progress record (callers may hold s.mu:
// j.mu is taken after it, never before).
func (j *journal) progress(s *session) {
	j.mu.Lock()
	j.mu.dirty[s] = true
	j.mu.Unlock()
}

func (j *journal) subscribed(s *session, results []subscribeResult, done func()) {
	r := &jrec{Op: "sub", C: s.clientID}
	s.mu.Lock()
	r.Exp = expiryPtr(s.mu.expiry)
	s.mu.Unlock()
	for _, res := range results {
		if sub := res.sub; sub != nil {
			r.S = append(r.S, jsub{F: sub.full, Q: sub.qos, NL: sub.noLocal, RAP: sub.rap, RH: sub.rh, ID: sub.id, Since: sub.since})
		}
	}
	j.durable(s, r, done)
}

func (j *journal) unsubscribed(s *session, filters []string, done func()) {
	j.durable(s, &jrec{Op: "unsub", C: s.clientID, F: filters}, done)
}

func (j *journal) released(s *session, id uint16, done func()) {
	j.durable(s, &jrec{Op: "rel", C: s.clientID, P: id}, done)
}

func (j *journal) outbound(s *session, om *outMsg, done func()) {
	j.durable(s, &jrec{Op: "out", C: s.clientID, P: om.id, O: om.phys, E: om.end}, done)
}

func (j *journal) outboundReleased(s *session, om *outMsg, done func()) {
	j.durable(s, &jrec{Op: "out", C: s.clientID, P: om.id, O: om.phys, E: om.end, R: true}, done)
}

// journalInterval is how often dirty sessions' progress is written.
const journalInterval = 200 * time.Millisecond

// run writes progress records and takes snapshots until the gateway stops.
func (j *journal) run() {
	t := time.NewTicker(journalInterval)
	defer t.Stop()
	lastSnap := time.Now()
	for {
		select {
		case <-j.gw.quit:
			j.flushProgress()
			return
		case now := <-t.C:
			j.flushProgress()
			grown := j.gw.store.MaxPhysicalOffset()-j.lastSnapshotEnd > snapshotLogBytes
			if now.Sub(lastSnap) >= j.gw.opts.SnapshotInterval || grown {
				if err := j.snapshot(); err != nil {
					j.gw.log.Warn("mqtt: session snapshot failed; the journal keeps the state", "err", err)
				}
				lastSnap = now
			}
		}
	}
}

// snapshotLogBytes of new log also trigger a snapshot, bounding replay.
const snapshotLogBytes = 256 << 20

// flushProgress writes one progress record per dirty session.
func (j *journal) flushProgress() {
	j.mu.Lock()
	dirty := j.mu.dirty
	j.mu.dirty = map[*session]bool{}
	j.mu.Unlock()
	var recs []*jrec
	for s := range dirty {
		if r := s.progressRecord(); r != nil {
			recs = append(recs, r)
		}
		if len(recs) == 256 {
			j.write(nil, recs...)
			recs = nil
		}
	}
	if len(recs) > 0 {
		j.write(nil, recs...)
	}
}

// errJournal classes journal replay failures.
var errJournal = errors.New("mqtt: session journal")
