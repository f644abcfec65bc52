package mqtt

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cometmq/comet/internal/ctl"
)

// TestCometctlClientsAndKick: cometctl lists the sessions with their
// subscriptions and in-flight messages, and kicks a client (MQTT 5:
// DISCONNECT 0x98).
func TestCometctlClientsAndKick(t *testing.T) {
	tg := startGateway(t, "", Options{}, nil)
	var props Properties
	props.SetUint16(propReceiveMaximum, 1)
	props.SetUint32(propSessionExpiry, 600)
	r, _ := connectRaw(t, tg, version5, &Connect{ClientID: "watched", CleanStart: true, Props: props})
	subscribeRaw(t, r, 1, Subscription{Filter: "a/#", QoS: 1}, Subscription{Filter: "b", QoS: 0})
	pub, _ := connectRaw(t, tg, version5, &Connect{ClientID: "pub", CleanStart: true})
	for i := 0; i < 3; i++ {
		pub.send(&Publish{Topic: "a/x", QoS: 1, PacketID: uint16(i + 1), Payload: []byte("m")})
	}
	nextPublish(t, r) // unacknowledged: one in flight, the rest behind
	var out, errOut bytes.Buffer
	if code := ctl.Run([]string{"mqtt", "clients", "-broker", tg.BrokerAddr, "-json"}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	var rows []struct {
		ClientID      string `json:"clientId"`
		Connected     bool   `json:"connected"`
		Subscriptions int    `json:"subscriptions"`
		Inflight      int    `json:"inflight"`
		Persistent    bool   `json:"persistent"`
	}
	if err := json.Unmarshal(out.Bytes(), &rows); err != nil {
		t.Fatalf("%v: %s", err, out.String())
	}
	var found bool
	for _, row := range rows {
		if row.ClientID == "watched" {
			found = true
			if !row.Connected || row.Subscriptions != 2 || row.Inflight != 1 || !row.Persistent {
				t.Fatalf("row %+v", row)
			}
		}
	}
	if !found {
		t.Fatalf("watched not listed: %s", out.String())
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(tg.gw.Collector())
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]float64{}
	for _, f := range families {
		for _, m := range f.Metric {
			if m.Gauge != nil && len(m.Label) == 0 {
				seen[f.GetName()] = m.Gauge.GetValue()
			}
		}
	}
	if seen["comet_mqtt_connections"] != 2 || seen["comet_mqtt_subscriptions"] != 2 || seen["comet_mqtt_inflight_messages"] != 1 {
		t.Fatalf("metrics %v", seen)
	}
	out.Reset()
	if code := ctl.Run([]string{"mqtt", "kick", "watched", "-broker", tg.BrokerAddr}, &out, &errOut); code != 0 {
		t.Fatalf("kick exit %d: %s", code, errOut.String())
	}
	expectDisconnect(t, r, ReasonAdministrativeAction)
	if code := ctl.Run([]string{"mqtt", "kick", "nobody", "-broker", tg.BrokerAddr}, &out, &errOut); code != ctl.ExitNotFound {
		t.Fatalf("kick of an unknown client: exit %d", code)
	}
}
