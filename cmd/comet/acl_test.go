package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/apache/rocketmq-client-go/v2"
	"github.com/apache/rocketmq-client-go/v2/admin"
	"github.com/apache/rocketmq-client-go/v2/consumer"
	"github.com/apache/rocketmq-client-go/v2/primitive"
	"github.com/apache/rocketmq-client-go/v2/producer"

	"github.com/cometmq/comet/acl"
	"github.com/cometmq/comet/actors"
	"github.com/cometmq/comet/internal/cluster"
	"github.com/cometmq/comet/internal/testutil"
	"github.com/cometmq/comet/namesrv"
	"github.com/cometmq/comet/netio/remoting"
)

// aclFile gives four accounts: a producer with PUB on topicA, a consumer
// with SUB on topicA and groupA, an operator (admin) and the broker's own
// admin account, which signs its registrations.
const aclFile = `
accounts:
  - accessKey: producerA
    secretKey: producerSecret
    topicPerms: [topicA=PUB]
  - accessKey: consumerA
    secretKey: consumerSecret
    topicPerms: [topicA=SUB]
    groupPerms: [groupA=SUB]
  - accessKey: operator
    secretKey: operatorSecret
    admin: true
  - accessKey: brokerAccount
    secretKey: brokerSecret
    admin: true
`

var (
	producerCreds = primitive.Credentials{AccessKey: "producerA", SecretKey: "producerSecret"}
	consumerCreds = primitive.Credentials{AccessKey: "consumerA", SecretKey: "consumerSecret"}
	operatorCreds = primitive.Credentials{AccessKey: "operator", SecretKey: "operatorSecret"}
)

// aclEnv is a name server and a broker guarded by one watched ACL file.
type aclEnv struct {
	*cluster.Cluster
	path        string
	watcher     *acl.Watcher
	brokerGate  *acl.Gate
	namesrvGate *acl.Gate
}

func startACLCluster(t *testing.T, rules string) *aclEnv {
	t.Helper()
	env := &aclEnv{path: filepath.Join(t.TempDir(), "plain_acl.yml")}
	writeACL(t, env.path, rules)
	w, err := acl.Open(env.path, acl.WatchOptions{Interval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	w.Start()
	t.Cleanup(w.Close)
	env.watcher = w
	env.brokerGate = acl.NewGate(w, acl.BrokerProfile)
	env.namesrvGate = acl.NewGate(w, acl.NameServerProfile)
	c, err := cluster.Start(cluster.Options{DataDir: t.TempDir(),
		Namesrv: func(o *namesrv.ServeOptions) { o.Gate = env.namesrvGate },
		Broker: func(o *actors.BrokerOptions) {
			o.Gate = env.brokerGate
			o.Credentials = remoting.Credentials{AccessKey: "brokerAccount", SecretKey: "brokerSecret"}
		}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Stop(context.Background()) })
	env.Cluster = c
	return env
}

func writeACL(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path+".tmp", []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path+".tmp", path); err != nil {
		t.Fatal(err)
	}
}

// signedCall sends one request signed with creds (zero: unsigned).
func signedCall(t *testing.T, addr string, creds remoting.Credentials, req *remoting.Command) *remoting.Command {
	t.Helper()
	rc := remoting.NewClient(remoting.ClientOptions{Credentials: creds})
	defer rc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := rc.Invoke(ctx, addr, req)
	if err != nil {
		t.Fatalf("%s: %v", remoting.RequestName(req.Code), err)
	}
	return resp
}

func asRemoting(c primitive.Credentials) remoting.Credentials {
	return remoting.Credentials{AccessKey: c.AccessKey, SecretKey: c.SecretKey}
}

// brokerHasTopic asks the broker (as the operator) whether topic exists.
func (env *aclEnv) brokerHasTopic(t *testing.T, topic string) bool {
	resp := signedCall(t, env.BrokerAddr, asRemoting(operatorCreds), remoting.NewRequest(remoting.RequestGetAllTopicConfig))
	if resp.Code != remoting.ResponseSuccess {
		t.Fatalf("topic configs: %d %s", resp.Code, resp.Remark)
	}
	return strings.Contains(string(resp.Body), `"`+topic+`"`)
}

// TestACLOfficialClientSendAndConsume: with the official Go client's
// credentials, PUB on topicA sends to topicA and is refused on topicB
// (NO_PERMISSION naming the topic); a consumer with SUB on topicA and
// groupA consumes; a wrong secret is refused.
func TestACLOfficialClientSendAndConsume(t *testing.T) {
	env := startACLCluster(t, aclFile)
	p := startProducer(t, env.NamesrvAddr, producer.WithCredentials(producerCreds), producer.WithInstanceName(uniqueName("acl-p")))
	want := []string{"a-1", "a-2", "a-3"}
	for _, body := range want {
		sendSyncOK(t, p, primitive.NewMessage("topicA", []byte(body)))
	}
	_, err := p.SendSync(context.Background(), primitive.NewMessage("topicB", []byte("b")))
	if err == nil || !strings.Contains(err.Error(), "CODE: 16") || !strings.Contains(err.Error(), "topic=topicB needs PUB") {
		t.Fatalf("send to topicB: %v", err)
	}

	waitForRouteSigned(t, env.NamesrvAddr, "topicA", asRemoting(consumerCreds))
	sink := &collector{}
	c, err := rocketmq.NewPushConsumer(consumer.WithNameServer([]string{env.NamesrvAddr}), consumer.WithGroupName("groupA"),
		consumer.WithConsumeFromWhere(consumer.ConsumeFromFirstOffset), consumer.WithCredentials(consumerCreds),
		consumer.WithInstance(uniqueName("acl-c")))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Subscribe("topicA", consumer.MessageSelector{}, sink.Handle); err != nil {
		t.Fatal(err)
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Shutdown() })
	requireExactly(t, sink, want, 20*time.Second)

	refusedBefore := env.namesrvGate.Stats().Unauthenticated.Load() + env.brokerGate.Stats().Unauthenticated.Load()
	bad := startProducer(t, env.NamesrvAddr, producer.WithInstanceName(uniqueName("acl-bad")),
		producer.WithCredentials(primitive.Credentials{AccessKey: "producerA", SecretKey: "not-the-secret"}))
	if _, err := bad.SendSync(context.Background(), primitive.NewMessage("topicA", []byte("x"))); err == nil {
		t.Fatal("a wrong secret sent a message")
	}
	if after := env.namesrvGate.Stats().Unauthenticated.Load() + env.brokerGate.Stats().Unauthenticated.Load(); after == refusedBefore {
		t.Fatal("the wrong secret was not refused by a gate")
	}
}

// waitForRouteSigned polls the name server, signing as creds, until it
// answers a route for topic.
func waitForRouteSigned(t *testing.T, nsAddr, topic string, creds remoting.Credentials) {
	t.Helper()
	rc := remoting.NewClient(remoting.ClientOptions{Credentials: creds})
	defer rc.Close()
	testutil.WaitFor(t, 10*time.Second, "a route for "+topic, func() bool {
		req := remoting.NewRequest(remoting.RequestGetRouteInfoByTopic)
		req.Ext.Set("topic", topic)
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		resp, err := rc.Invoke(ctx, nsAddr, req)
		return err == nil && resp.Code == remoting.ResponseSuccess
	})
}

// newAdmin returns an official admin client signing as creds. Client
// v2.1.2 registers its ACL hook only in GetAllSubscriptionGroup, so that
// is called once first (a second call would sign every request twice).
func newAdmin(t *testing.T, env *aclEnv, creds primitive.Credentials) interface {
	CreateTopic(context.Context, ...admin.OptionCreate) error
	DeleteTopic(context.Context, ...admin.OptionDelete) error
	Close() error
} {
	t.Helper()
	a, err := admin.NewAdmin(admin.WithResolver(primitive.NewPassthroughResolver([]string{env.NamesrvAddr})),
		admin.WithCredentials(creds))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.GetAllSubscriptionGroup(context.Background(), env.BrokerAddr, 3*time.Second); err != nil {
		t.Fatalf("admin hook: %v", err)
	}
	return a
}

// TestACLOfficialAdmin: an admin account creates a topic through
// admin.WithCredentials; a non-admin is refused topic deletion and an
// offset reset. (Client v2.1.2's admin ignores response codes, so the
// broker's topic table is checked.)
func TestACLOfficialAdmin(t *testing.T) {
	env := startACLCluster(t, aclFile)
	ctx := context.Background()
	op := newAdmin(t, env, operatorCreds)
	if err := op.CreateTopic(ctx, admin.WithTopicCreate("adminTopic"), admin.WithBrokerAddrCreate(env.BrokerAddr)); err != nil {
		t.Fatal(err)
	}
	if !env.brokerHasTopic(t, "adminTopic") {
		t.Fatal("the admin's topic was not created")
	}
	_ = op.Close() // one admin client per process id at a time: v2.1.2 caches them by client id

	denied := env.brokerGate.Stats().Denied.Load()
	user := newAdmin(t, env, producerCreds)
	defer user.Close()
	_ = user.DeleteTopic(ctx, admin.WithTopicDelete("adminTopic"), admin.WithBrokerAddrDelete(env.BrokerAddr),
		admin.WithNameSrvAddr([]string{env.NamesrvAddr}))
	if !env.brokerHasTopic(t, "adminTopic") {
		t.Fatal("a non-admin deleted a topic")
	}
	if env.brokerGate.Stats().Denied.Load() == denied {
		t.Fatal("the deletion was not refused by the broker's gate")
	}
	if err := user.CreateTopic(ctx, admin.WithTopicCreate("userTopic"), admin.WithBrokerAddrCreate(env.BrokerAddr)); err != nil {
		t.Fatal(err)
	}
	if env.brokerHasTopic(t, "userTopic") {
		t.Fatal("a non-admin created a topic")
	}

	reset := remoting.NewRequest(remoting.RequestInvokeBrokerToResetOffset)
	reset.Ext.Set("topic", "topicA")
	reset.Ext.Set("group", "groupA")
	reset.Ext.Set("timestamp", "0")
	resp := signedCall(t, env.BrokerAddr, asRemoting(consumerCreds), reset)
	if resp.Code != remoting.ResponseNoPermission || !strings.Contains(resp.Remark, "needs an admin account") {
		t.Fatalf("offset reset by a non-admin: %d %q", resp.Code, resp.Remark)
	}
	del := remoting.NewRequest(remoting.RequestDeleteTopicInNameSrv)
	del.Ext.Set("topic", "adminTopic")
	if resp := signedCall(t, env.NamesrvAddr, asRemoting(producerCreds), del); resp.Code != remoting.ResponseNoPermission {
		t.Fatalf("name-server topic deletion by a non-admin: %d %q", resp.Code, resp.Remark)
	}
}

// TestACLWhiteListedNeedsNoSignature: a globally white-listed address is
// served without credentials.
func TestACLWhiteListedNeedsNoSignature(t *testing.T) {
	env := startACLCluster(t, "globalWhiteRemoteAddresses: [127.0.0.1]\n"+aclFile)
	p := startProducer(t, env.NamesrvAddr, producer.WithInstanceName(uniqueName("acl-white")))
	sendSyncOK(t, p, primitive.NewMessage("anyTopic", []byte("x")))
	if env.brokerGate.Stats().WhiteListed.Load() == 0 {
		t.Fatal("not admitted by the white list")
	}
}

// TestACLReloadRevokesOnNextRequest: a permission removed from the file
// while the producer stays connected refuses its next send.
func TestACLReloadRevokesOnNextRequest(t *testing.T) {
	env := startACLCluster(t, aclFile)
	p := startProducer(t, env.NamesrvAddr, producer.WithCredentials(producerCreds), producer.WithInstanceName(uniqueName("acl-r")))
	sendSyncOK(t, p, primitive.NewMessage("topicA", []byte("before")))
	writeACL(t, env.path, strings.Replace(aclFile, "topicPerms: [topicA=PUB]", "topicPerms: [topicA=DENY]", 1))
	testutil.WaitFor(t, 5*time.Second, "the reload", func() bool { return env.watcher.Reloads() == 1 })
	_, err := p.SendSync(context.Background(), primitive.NewMessage("topicA", []byte("after")))
	if err == nil || !strings.Contains(err.Error(), "topic=topicA needs PUB, accessKey=producerA has DENY") {
		t.Fatalf("send after the revocation: %v", err)
	}
	// A broken file keeps the rules in force.
	writeACL(t, env.path, aclFile+"  - accessKey: x\n")
	testutil.WaitFor(t, 5*time.Second, "the failed reload", func() bool { return env.watcher.Failures() == 1 })
	if _, err := p.SendSync(context.Background(), primitive.NewMessage("topicA", []byte("still"))); err == nil {
		t.Fatal("a file that does not parse restored the permission")
	}
}
