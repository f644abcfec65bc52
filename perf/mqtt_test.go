package perf

import (
	"context"
	"testing"

	"github.com/cometmq/comet/internal/cluster"
	"github.com/cometmq/comet/mqtt"
)

// TestMQTTTargetFanOut runs a small MQTT workload against Comet's gateway:
// every consumer receives every message, at QoS 0 and 1.
func TestMQTTTargetFanOut(t *testing.T) {
	c := cluster.StartTest(t, nil)
	gw, err := mqtt.New(c.Broker, mqtt.Options{Listen: "127.0.0.1:0", DefaultQoS: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := gw.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { gw.Stop(context.Background()) })
	for _, qos := range []byte{0, 1} {
		target, err := NewMQTT(MQTTOptions{Name: "comet", Addr: gw.Addr(), QoS: qos})
		if err != nil {
			t.Fatal(err)
		}
		w := DefaultWorkload()
		w.Producers, w.Consumers, w.Count, w.Size, w.Window = 2, 3, 2000, 64, 64
		res, err := Run(context.Background(), target, w, Options{})
		if err != nil {
			t.Fatalf("qos %d: %v", qos, err)
		}
		if res.Consume == nil || res.Consume.Messages != 3*2000 {
			t.Fatalf("qos %d: consumed %+v, want 6000 deliveries", qos, res.Consume)
		}
	}
}
