package client

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/cometmq/comet/acl"
	"github.com/cometmq/comet/actors"
	"github.com/cometmq/comet/internal/cluster"
	"github.com/cometmq/comet/internal/testutil"
	"github.com/cometmq/comet/namesrv"
	"github.com/cometmq/comet/netio"
	"github.com/cometmq/comet/netio/remoting"
)

const sdkACL = `
accounts:
  - accessKey: sdkProducer
    secretKey: sdkProducerSecret
    topicPerms: [sdkTopic=PUB]
  - accessKey: sdkConsumer
    secretKey: sdkConsumerSecret
    topicPerms: [sdkTopic=SUB]
    groupPerms: [sdkGroup=SUB]
  - accessKey: sdkOperator
    secretKey: sdkOperatorSecret
    admin: true
`

// startSecureCluster runs a name server and a broker, both with ACL and
// mutual TLS in mode; the broker registers over TLS with the operator's
// account.
func startSecureCluster(t *testing.T, mode netio.TLSMode) (*cluster.Cluster, testutil.TLSFiles) {
	t.Helper()
	rules, err := acl.Parse([]byte(sdkACL))
	if err != nil {
		t.Fatal(err)
	}
	files := testutil.NewTLSFiles(t, t.TempDir())
	serverTLS := &netio.TLSOptions{Config: files.ServerConfig(t, true), Mode: mode}
	c, err := cluster.Start(cluster.Options{DataDir: t.TempDir(), Logger: testLogger(),
		Namesrv: func(o *namesrv.ServeOptions) {
			o.Gate, o.TLS = acl.NewGate(acl.Static{R: rules}, acl.NameServerProfile), serverTLS
		},
		Broker: func(o *actors.BrokerOptions) {
			o.Gate, o.TLS = acl.NewGate(acl.Static{R: rules}, acl.BrokerProfile), serverTLS
			o.Credentials = remoting.Credentials{AccessKey: "sdkOperator", SecretKey: "sdkOperatorSecret"}
			o.ClientTLS = files.ClientConfig(t, true)
		}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Stop(context.Background()) })
	return c, files
}

// TestSDKCredentialsOverMutualTLS: the SDK signs like the official clients
// and speaks mutual TLS: an admin creates the topic, PUB on it sends, SUB
// on it and its group consumes, and a send without PUB is refused.
func TestSDKCredentialsOverMutualTLS(t *testing.T) {
	env, files := startSecureCluster(t, netio.TLSEnforcing)
	secure := func(ak, sk string) *Client {
		return newTestClient(t, env, WithCredentials(ak, sk), WithTLS(files.ClientConfig(t, true)))
	}
	operator := secure("sdkOperator", "sdkOperatorSecret")
	createTopic(t, operator, "sdkTopic", 2)
	createTopic(t, operator, "otherTopic", 2)

	prod, err := secure("sdkProducer", "sdkProducerSecret").NewProducer("sdkPG")
	if err != nil {
		t.Fatal(err)
	}
	ctx := testContext(t)
	for i := range 5 {
		if _, err := prod.SendSync(ctx, NewMessage("sdkTopic", []byte{byte('a' + i)})); err != nil {
			t.Fatalf("send: %v", err)
		}
	}
	_, err = prod.SendSync(ctx, NewMessage("otherTopic", []byte("x")))
	if err == nil || !strings.Contains(err.Error(), "topic=otherTopic needs PUB") {
		t.Fatalf("send without PUB: %v", err)
	}
	col := newCollector()
	startConsumer(t, secure("sdkConsumer", "sdkConsumerSecret"), "sdkGroup", "sdkTopic", Tag("*"), col.handler, WithConsumeFrom(ConsumeFromFirst))
	testutil.WaitFor(t, 20*time.Second, "5 messages", func() bool { return col.distinct() == 5 })

	wrong := secure("sdkProducer", "wrong-secret")
	if err := wrong.CreateTopic(ctx, "sneaky", 1); err == nil {
		t.Fatal("a wrong secret created a topic")
	}
	noCert := newTestClient(t, env, WithCredentials("sdkOperator", "sdkOperatorSecret"), WithTLS(files.ClientConfig(t, false)))
	if err := noCert.CreateTopic(ctx, "sneaky", 1); err == nil {
		t.Fatal("a client without a certificate was served")
	}
}

// TestSDKPermissiveTLS: in permissive mode one port serves a TLS client
// and a plain one.
func TestSDKPermissiveTLS(t *testing.T) {
	env, files := startSecureCluster(t, netio.TLSPermissive)
	ctx := testContext(t)
	tlsClient := newTestClient(t, env, WithCredentials("sdkOperator", "sdkOperatorSecret"), WithTLS(files.ClientConfig(t, true)))
	plainClient := newTestClient(t, env, WithCredentials("sdkOperator", "sdkOperatorSecret"))
	createTopic(t, tlsClient, "sdkTopic", 1)
	for _, c := range []*Client{tlsClient, plainClient} {
		p, err := c.NewProducer("sdkPG")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.SendSync(ctx, NewMessage("sdkTopic", []byte("x"))); err != nil {
			t.Fatalf("send: %v", err)
		}
	}
	unsigned := newTestClient(t, env)
	err := unsigned.CreateTopic(ctx, "sneaky", 1)
	var be *BrokerError
	if !errors.As(err, &be) || be.Code != remoting.ResponseNoPermission || !strings.Contains(be.Remark, "no AccessKey") {
		t.Fatalf("unsigned create: %v", err)
	}
}
