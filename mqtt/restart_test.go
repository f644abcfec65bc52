package mqtt

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/cometmq/comet/internal/testutil"
)

// restart stops tg (with or without the session snapshot: without it,
// recovery replays the journal as after a crash) and starts a gateway and
// broker on the same data directory.
func restart(t *testing.T, tg *testGateway, snapshot bool) *testGateway {
	t.Helper()
	tg.stopWith(snapshot)
	return startGateway(t, tg.Dir, tg.opts, nil)
}

func persistentConnect(id string, clean bool) *Connect {
	var props Properties
	props.SetUint32(propSessionExpiry, 3600)
	return &Connect{ClientID: id, CleanStart: clean, Props: props}
}

// TestSessionSurvivesRestart: a persistent session's subscriptions, the
// QoS 1 and 2 messages queued for it while it was offline, and the
// retained messages survive a restart, with and without the snapshot.
func TestSessionSurvivesRestart(t *testing.T) {
	for _, snapshot := range []bool{true, false} {
		t.Run(fmt.Sprintf("snapshot=%v", snapshot), func(t *testing.T) {
			tg := startGateway(t, "", Options{}, nil)
			sub, _ := connectRaw(t, tg, version5, persistentConnect("dur", true))
			subscribeRaw(t, sub, 1, Subscription{Filter: "d/#", QoS: 2}, Subscription{Filter: "e", QoS: 1})
			sub.send(&Disconnect{})
			sub.expectClosed(5 * time.Second)
			pub, _ := connectRaw(t, tg, version5, &Connect{ClientID: "pub", CleanStart: true})
			var want []string
			for i := 0; i < 10; i++ {
				qos := byte(1 + i%2)
				topic := map[byte]string{1: "e", 2: "d/x"}[qos]
				body := fmt.Sprintf("%s-%d", topic, i)
				want = append(want, body)
				pub.send(&Publish{Topic: topic, QoS: qos, PacketID: uint16(i + 1), Payload: []byte(body)})
				ack := pub.next(5 * time.Second).(*Ack)
				if qos == 2 {
					pub.send(&Ack{Type: typePubrel, PacketID: ack.PacketID})
					pub.next(5 * time.Second)
				}
			}
			pub.send(&Publish{Topic: "keep/me", QoS: 1, PacketID: 99, Retain: true, Payload: []byte("kept")})
			pub.next(5 * time.Second)
			tg = restart(t, tg, snapshot)
			back, ack := connectRaw(t, tg, version5, persistentConnect("dur", false))
			if !ack.SessionPresent {
				t.Fatal("session not present after restart")
			}
			var got []string
			for len(got) < len(want) {
				m := nextPublish(t, back)
				got = append(got, string(m.Payload))
				if m.QoS == 1 {
					back.send(&Ack{Type: typePuback, PacketID: m.PacketID})
				} else {
					back.send(&Ack{Type: typePubrec, PacketID: m.PacketID})
				}
			}
			slices.Sort(got)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Fatalf("after restart got %v, want %v", got, want)
			}
			late, _ := connectRaw(t, tg, version311, &Connect{ClientID: "late", CleanStart: true})
			subscribeRaw(t, late, 1, Subscription{Filter: "keep/#", QoS: 0})
			if m := nextPublish(t, late); string(m.Payload) != "kept" || !m.Retain {
				t.Fatalf("retained after restart: %+v", m)
			}
		})
	}
}

// TestQoS2StateSurvivesRestart: an inbound QoS 2 publish stored before a
// restart is not stored again when the client repeats it after; an
// outbound one whose PUBREC arrived is resumed with PUBREL, not sent again.
func TestQoS2StateSurvivesRestart(t *testing.T) {
	tg := startGateway(t, "", Options{}, nil)
	sub, _ := connectRaw(t, tg, version5, persistentConnect("s2", true))
	subscribeRaw(t, sub, 1, Subscription{Filter: "x", QoS: 2})
	pub, _ := connectRaw(t, tg, version5, persistentConnect("p2", true))
	p := &Publish{Topic: "x", QoS: 2, PacketID: 42, Payload: []byte("exactly once")}
	pub.send(p)
	if a := pub.next(5 * time.Second).(*Ack); a.Type != typePubrec {
		t.Fatalf("want PUBREC, got %+v", a)
	}
	m := nextPublish(t, sub)
	sub.send(&Ack{Type: typePubrec, PacketID: m.PacketID})
	if a := sub.next(5 * time.Second).(*Ack); a.Type != typePubrel {
		t.Fatalf("want PUBREL, got %+v", a)
	}
	tg = restart(t, tg, false)
	pub, _ = connectRaw(t, tg, version5, persistentConnect("p2", false))
	p.Dup = true
	pub.send(p)
	if a := pub.next(5 * time.Second).(*Ack); a.Type != typePubrec || a.PacketID != 42 {
		t.Fatalf("repeat after restart: %+v", a)
	}
	pub.send(&Ack{Type: typePubrel, PacketID: 42})
	if a := pub.next(5 * time.Second).(*Ack); a.Type != typePubcomp || a.Reason != 0 {
		t.Fatalf("want PUBCOMP success, got %+v", a)
	}
	sub, ack := connectRaw(t, tg, version5, persistentConnect("s2", false))
	if !ack.SessionPresent {
		t.Fatal("subscriber session lost")
	}
	if a, ok := sub.next(5 * time.Second).(*Ack); !ok || a.Type != typePubrel || a.PacketID != m.PacketID {
		t.Fatalf("want PUBREL %d resumed, got %#v", m.PacketID, a)
	}
	sub.send(&Ack{Type: typePubcomp, PacketID: m.PacketID})
	pub.send(&Publish{Topic: "x", QoS: 0, Payload: []byte("marker")})
	if m := nextPublish(t, sub); string(m.Payload) != "marker" {
		t.Fatalf("the QoS 2 message was delivered again: %q", m.Payload)
	}
}

// TestSessionExpiry: an MQTT 5 session with a short expiry ends after it
// (its subscriptions are gone); a 3.1.1 clean session ends at once.
func TestSessionExpiry(t *testing.T) {
	tg := startGateway(t, "", Options{}, nil)
	var props Properties
	props.SetUint32(propSessionExpiry, 1)
	r, _ := connectRaw(t, tg, version5, &Connect{ClientID: "short", CleanStart: true, Props: props})
	subscribeRaw(t, r, 1, Subscription{Filter: "z", QoS: 1})
	r.send(&Disconnect{})
	r.expectClosed(5 * time.Second)
	if n := tg.gw.metrics.sessions.Load(); n != 1 {
		t.Fatalf("sessions %d right after disconnect", n)
	}
	testutil.WaitFor(t, 5*time.Second, "session expiry", func() bool { return tg.gw.metrics.sessions.Load() == 0 })
	_, ack := connectRaw(t, tg, version5, &Connect{ClientID: "short", Props: props})
	if ack.SessionPresent {
		t.Fatal("expired session still present")
	}
}
