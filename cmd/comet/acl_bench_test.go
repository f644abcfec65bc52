package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/apache/rocketmq-client-go/v2/primitive"
	"github.com/apache/rocketmq-client-go/v2/producer"
	"github.com/apache/rocketmq-client-go/v2/rlog"

	"github.com/cometmq/comet/acl"
	"github.com/cometmq/comet/actors"
	"github.com/cometmq/comet/internal/cluster"
	"github.com/cometmq/comet/namesrv"
)

// BenchmarkSendSyncACL measures the official client's SendSync of 1 KiB
// from 8 senders (async flush) with access control off and on, in one run:
// with it on, every request is signed by the client and verified by the
// broker's gate on the event loop.
//
//	go test ./cmd/comet -run '^$' -bench SendSyncACL -benchtime 20000x -count 3
func BenchmarkSendSyncACL(b *testing.B) {
	rlog.SetLogLevel("error")
	for _, on := range []bool{false, true} {
		b.Run(fmt.Sprintf("acl=%v/size=1024/senders=8", on), func(b *testing.B) {
			var gate, nsGate *acl.Gate
			if on {
				path := filepath.Join(b.TempDir(), "plain_acl.yml")
				writeACLBench(b, path)
				w, err := acl.Open(path, acl.WatchOptions{})
				if err != nil {
					b.Fatal(err)
				}
				gate, nsGate = acl.NewGate(w, acl.BrokerProfile), acl.NewGate(w, acl.NameServerProfile)
			}
			env, err := cluster.Start(cluster.Options{DataDir: b.TempDir(),
				Namesrv: func(o *namesrv.ServeOptions) {
					if on {
						o.Gate = nsGate
					}
				},
				Broker: func(o *actors.BrokerOptions) {
					o.Flush = actors.FlushAsync
					o.Credentials = asRemoting(operatorCreds)
					if on {
						o.Gate = gate
					}
				}})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { env.Stop(context.Background()) })
			var opts []producer.Option
			if on {
				opts = append(opts, producer.WithCredentials(primitive.Credentials{AccessKey: "operator", SecretKey: "operatorSecret"}),
					producer.WithInstanceName(uniqueName("bench-acl")))
			}
			runSenders(b, env.NamesrvAddr, "BenchACL", 8, 1024, opts...)
			if on && gate.Stats().Admitted.Load() < uint64(b.N) {
				b.Fatalf("gate admitted %d requests for %d sends", gate.Stats().Admitted.Load(), b.N)
			}
		})
	}
}

func writeACLBench(b *testing.B, path string) {
	b.Helper()
	const text = "accounts:\n  - accessKey: operator\n    secretKey: operatorSecret\n    admin: true\n"
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		b.Fatal(err)
	}
}
