package client

import (
	"context"
	"fmt"
	"testing"

	"github.com/cometmq/comet/acl"
	"github.com/cometmq/comet/actors"
	"github.com/cometmq/comet/internal/cluster"
	"github.com/cometmq/comet/internal/testutil"
	"github.com/cometmq/comet/namesrv"
	"github.com/cometmq/comet/netio"
	"github.com/cometmq/comet/netio/remoting"
)

// BenchmarkSecureSendAsync measures SDK async sends of 1 KiB (4
// publishers, one request per message, async flush) with access control
// and TLS off and on, in one run, so their msgs/s compare directly:
//
//	go test ./client -run '^$' -bench SecureSendAsync -benchtime 200000x -count 3
func BenchmarkSecureSendAsync(b *testing.B) {
	for _, tc := range []struct{ acl, tls bool }{{false, false}, {true, false}, {false, true}, {true, true}} {
		b.Run(fmt.Sprintf("acl=%v/tls=%v/size=1024", tc.acl, tc.tls), func(b *testing.B) {
			c, topic := secureBenchEnv(b, tc.acl, tc.tls)
			runPublishers(b, benchProducer(b, c), topic, 1024, 4)
		})
	}
}

// secureBenchEnv starts a cluster with a broker gate (one account with
// PUB|SUB on everything, and admin) and/or TLS, and an SDK client to match.
func secureBenchEnv(b *testing.B, withACL, withTLS bool) (*Client, string) {
	b.Helper()
	const creds = "accounts:\n  - accessKey: benchAK1\n    secretKey: benchSK1\n    admin: true\n"
	rules, err := acl.Parse([]byte(creds))
	if err != nil {
		b.Fatal(err)
	}
	files := testutil.NewTLSFiles(b, b.TempDir())
	var serverTLS *netio.TLSOptions
	if withTLS {
		serverTLS = &netio.TLSOptions{Config: files.ServerConfig(b, false)}
	}
	env, err := cluster.Start(cluster.Options{DataDir: b.TempDir(), Logger: testLogger(),
		Namesrv: func(o *namesrv.ServeOptions) {
			o.TLS = serverTLS
			if withACL {
				o.Gate = acl.NewGate(acl.Static{R: rules}, acl.NameServerProfile)
			}
		},
		Broker: func(o *actors.BrokerOptions) {
			o.Flush, o.SegmentSize, o.TLS = actors.FlushAsync, 1<<30, serverTLS
			o.Credentials = remoting.Credentials{AccessKey: "benchAK1", SecretKey: "benchSK1"}
			if withTLS {
				o.ClientTLS = files.ClientConfig(b, false)
			}
			if withACL {
				o.Gate = acl.NewGate(acl.Static{R: rules}, acl.BrokerProfile)
			}
		}})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { env.Stop(context.Background()) })
	opts := []ClientOption{WithNameServers(env.NamesrvAddr), WithLogger(testLogger())}
	if withACL {
		opts = append(opts, WithCredentials("benchAK1", "benchSK1"))
	}
	if withTLS {
		opts = append(opts, WithTLS(files.ClientConfig(b, false)))
	}
	c, err := New(opts...)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	topic := fmt.Sprintf("Bench_%d", topicSeq.Add(1))
	if err := c.CreateTopic(context.Background(), topic, 8); err != nil {
		b.Fatal(err)
	}
	return c, topic
}
