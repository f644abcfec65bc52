package namesrv

import (
	"fmt"
	"strconv"
	"testing"

	"github.com/cometmq/comet/netio/remoting"
)

func benchNamesrv(b *testing.B, brokers, topics int) *Registry {
	n := NewRegistry(RegistryOptions{})
	for i := 0; i < brokers; i++ {
		spec := brokerSpec{cluster: "c", name: fmt.Sprintf("broker-%d", i), addr: fmt.Sprintf("10.0.0.%d:10911", i+1)}
		for j := 0; j < topics; j++ {
			spec.topics = append(spec.topics, topicConfig("topic-"+strconv.Itoa(j), 8, 6))
		}
		if resp := n.Handle("b:"+strconv.Itoa(i), registerRequest(b, spec)); resp.Code != remoting.ResponseSuccess {
			b.Fatalf("register: %+v", resp)
		}
	}
	return n
}

func BenchmarkGetRoute(b *testing.B) {
	for _, brokers := range []int{1, 8} {
		b.Run("brokers="+strconv.Itoa(brokers), func(b *testing.B) {
			n := benchNamesrv(b, brokers, 100)
			req := routeRequest("topic-7")
			first := n.Handle("c:1", req)
			b.SetBytes(int64(len(first.Body)))
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if resp := n.Handle("c:1", req); len(resp.Body) == 0 {
						b.Error("empty route")
						return
					}
				}
			})
		})
	}
}

func BenchmarkRegisterBroker(b *testing.B) {
	for _, topics := range []int{10, 1000} {
		b.Run("topics="+strconv.Itoa(topics), func(b *testing.B) {
			n := benchNamesrv(b, 1, 0)
			spec := brokerSpec{cluster: "c", name: "broker-0", addr: "10.0.0.1:10911"}
			for j := 0; j < topics; j++ {
				spec.topics = append(spec.topics, topicConfig("topic-"+strconv.Itoa(j), 8, 6))
			}
			req := registerRequest(b, spec)
			b.SetBytes(int64(len(req.Body)))
			b.ReportAllocs()
			for b.Loop() {
				if resp := n.Handle("b:0", req); resp.Code != remoting.ResponseSuccess {
					b.Fatalf("register: %+v", resp)
				}
			}
			if len(n.Topics()) != topics {
				b.Fatalf("%d topics registered, want %d", len(n.Topics()), topics)
			}
		})
	}
}
