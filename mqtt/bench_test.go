package mqtt

import (
	"context"
	"fmt"
	"testing"

	"github.com/cometmq/comet/actors"
	"github.com/cometmq/comet/perf"
)

// BenchmarkPublishDeliver drives the in-process gateway with the perf
// harness's MQTT client: b.N messages of 128 bytes from the publishers,
// each delivered to every subscriber. It reports deliveries per second and
// the publish-to-deliver latency percentiles.
//
//	go test ./mqtt -run '^$' -bench PublishDeliver -benchtime 100000x
func BenchmarkPublishDeliver(b *testing.B) {
	for _, flush := range []actors.FlushMode{actors.FlushAsync, actors.FlushSync} {
		for _, c := range []struct{ qos, pubs, subs int }{{0, 1, 1}, {1, 1, 1}, {1, 16, 1}, {0, 1, 100}, {1, 1, 100}} {
			name := fmt.Sprintf("flush=%s/qos=%d/pubs=%d/subs=%d", flush, c.qos, c.pubs, c.subs)
			b.Run(name, func(b *testing.B) { benchPublishDeliver(b, flush, c.qos, c.pubs, c.subs) })
		}
	}
}

func benchPublishDeliver(b *testing.B, flush actors.FlushMode, qos, pubs, subs int) {
	tg := startGateway(b, "", Options{}, func(o *actors.BrokerOptions) { o.Flush = flush })
	target, err := perf.NewMQTT(perf.MQTTOptions{Name: "comet", Addr: tg.gw.Addr(), QoS: byte(qos)})
	if err != nil {
		b.Fatal(err)
	}
	w := perf.DefaultWorkload()
	w.Producers, w.Consumers, w.Size, w.Window = pubs, subs, 128, 256
	w.Count = int64(max(b.N, pubs))
	b.SetBytes(int64(w.Size * subs))
	b.ReportAllocs()
	b.ResetTimer()
	res, err := perf.Run(context.Background(), target, w, perf.Options{})
	b.StopTimer()
	if err != nil {
		b.Fatal(err)
	}
	if res.Consume == nil || res.Consume.Messages < w.Count*int64(subs) {
		b.Fatalf("delivered %+v of %d", res.Consume, w.Count*int64(subs))
	}
	b.ReportMetric(res.Consume.MsgsPerSec, "deliveries/s")
	b.ReportMetric(res.EndToEnd.P50US, "p50-µs")
	b.ReportMetric(res.EndToEnd.P99US, "p99-µs")
}
