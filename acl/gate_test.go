package acl

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/cometmq/comet/netio/remoting"
)

const gateFile = `
globalWhiteRemoteAddresses: [10.0.0.*]
accounts:
  - accessKey: producerA
    secretKey: secretA1
    topicPerms: [topicA=PUB]
  - accessKey: consumerA
    secretKey: secretC1
    topicPerms: [topicA=SUB]
    groupPerms: [groupA=SUB]
  - accessKey: adminKey
    secretKey: adminSecret
    admin: true
  - accessKey: whiteKey
    secretKey: whiteSec
    whiteRemoteAddress: 192.168.7.7
`

const remote = "172.16.0.9:40000"

func testGate(t testing.TB, p Profile) *Gate {
	t.Helper()
	r, err := Parse([]byte(gateFile))
	if err != nil {
		t.Fatal(err)
	}
	return NewGate(Static{r}, p)
}

func sendCmd(topic string, body string) *remoting.Command {
	cmd := &remoting.Command{Code: remoting.RequestSendMessageV2, Body: []byte(body)}
	cmd.Ext.Set(remoting.ExtV2ProducerGroup, "pg")
	cmd.Ext.Set(remoting.ExtV2Topic, topic)
	cmd.Ext.Set(remoting.ExtV2QueueID, "0")
	cmd.Ext.Set(remoting.ExtV2BornTimestamp, "1700000000000")
	return cmd
}

func signed(cmd *remoting.Command, ak, sk string) *remoting.Command {
	remoting.Credentials{AccessKey: ak, SecretKey: sk}.Sign(cmd)
	return cmd
}

// TestSignatureGoldenVector checks Sign against the rule written out by
// hand: the values sorted by key, the body, HMAC-SHA1, Base64.
func TestSignatureGoldenVector(t *testing.T) {
	cmd := &remoting.Command{Code: remoting.RequestSendMessage, Body: []byte("hello")}
	cmd.Ext.Set("topic", "T")
	cmd.Ext.Set("queueId", "3")
	cmd.Ext.Set("bornTimestamp", "99")
	remoting.Credentials{AccessKey: "AKxxxxx", SecretKey: "SKxxxxx"}.Sign(cmd)
	// Keys in byte order: AccessKey, bornTimestamp, queueId, topic.
	content := "AKxxxxx" + "99" + "3" + "T" + "hello"
	mac := hmac.New(sha1.New, []byte("SKxxxxx"))
	mac.Write([]byte(content))
	want := base64.StdEncoding.EncodeToString(mac.Sum(nil))
	if got, _ := cmd.Ext.Get(remoting.ExtSignature); got != want {
		t.Fatalf("Signature = %q, want %q", got, want)
	}
	if got, _ := cmd.Ext.Get(remoting.ExtAccessKey); got != "AKxxxxx" {
		t.Fatalf("AccessKey = %q", got)
	}
	before, _ := cmd.Ext.Get(remoting.ExtSignature)
	remoting.Credentials{AccessKey: "AKxxxxx", SecretKey: "SKxxxxx"}.Sign(cmd)
	if after, _ := cmd.Ext.Get(remoting.ExtSignature); after != before {
		t.Fatal("signing twice must give the same signature")
	}
}

func TestAdmitSendByPermission(t *testing.T) {
	g := testGate(t, BrokerProfile)
	if err := g.Admit(remote, signed(sendCmd("topicA", "x"), "producerA", "secretA1")); err != nil {
		t.Fatalf("PUB on topicA refused: %v", err)
	}
	err := g.Admit(remote, signed(sendCmd("topicB", "x"), "producerA", "secretA1"))
	if !errors.Is(err, ErrDenied) || !strings.Contains(err.Error(), "topic=topicB needs PUB") {
		t.Fatalf("send to topicB: %v", err)
	}
	err = g.Admit(remote, signed(sendCmd("topicA", "x"), "consumerA", "secretC1"))
	if !errors.Is(err, ErrDenied) {
		t.Fatalf("SUB-only account sent: %v", err)
	}
	if err := g.Admit(remote, signed(sendCmd(traceTopic, "x"), "consumerA", "secretC1")); err != nil {
		t.Fatalf("trace topic: %v", err)
	}
	if g.Stats().Admitted.Load() != 2 || g.Stats().Denied.Load() != 2 {
		t.Fatalf("stats admitted %d denied %d", g.Stats().Admitted.Load(), g.Stats().Denied.Load())
	}
}

func TestAdmitRefusesBadCredentials(t *testing.T) {
	g := testGate(t, BrokerProfile)
	cases := map[string]*remoting.Command{
		"no access key": sendCmd("topicA", "x"),
		"unknown key":   signed(sendCmd("topicA", "x"), "nobody00", "secretA1"),
		"wrong secret":  signed(sendCmd("topicA", "x"), "producerA", "wrongsecret"),
		"garbage sig": func() *remoting.Command {
			c := signed(sendCmd("topicA", "x"), "producerA", "secretA1")
			c.Ext.Set(remoting.ExtSignature, "!!not base64 at all, 28 ch")
			return c
		}(),
		"tampered body": func() *remoting.Command {
			c := signed(sendCmd("topicA", "x"), "producerA", "secretA1")
			c.Body = []byte("y")
			return c
		}(),
		"tampered header": func() *remoting.Command {
			c := signed(sendCmd("topicA", "x"), "producerA", "secretA1")
			c.Ext.Set(remoting.ExtV2QueueID, "1")
			return c
		}(),
		"added field": func() *remoting.Command {
			c := signed(sendCmd("topicA", "x"), "producerA", "secretA1")
			c.Ext.Set("extra", "1")
			return c
		}(),
	}
	for name, cmd := range cases {
		if err := g.Admit(remote, cmd); !errors.Is(err, ErrUnauthenticated) {
			t.Errorf("%s: err = %v, want ErrUnauthenticated", name, err)
		}
	}
}

func TestAdmitWhiteLists(t *testing.T) {
	g := testGate(t, BrokerProfile)
	if err := g.Admit("10.0.0.5:1234", sendCmd("anything", "x")); err != nil {
		t.Fatalf("globally white-listed: %v", err)
	}
	cmd := sendCmd("anything", "x")
	cmd.Ext.Set(remoting.ExtAccessKey, "whiteKey")
	if err := g.Admit("192.168.7.7:99", cmd); err != nil {
		t.Fatalf("account white list: %v", err)
	}
	if err := g.Admit("192.168.7.8:99", cmd); !errors.Is(err, ErrUnauthenticated) {
		t.Fatalf("off the account's white list, unsigned: %v", err)
	}
}

func TestAdmitConsumerRequests(t *testing.T) {
	g := testGate(t, BrokerProfile)
	pull := func(topic, group string) *remoting.Command {
		c := &remoting.Command{Code: remoting.RequestPullMessage}
		c.Ext.Set(remoting.ExtConsumerGroup, group)
		c.Ext.Set(remoting.ExtTopic, topic)
		return signed(c, "consumerA", "secretC1")
	}
	if err := g.Admit(remote, pull("topicA", "groupA")); err != nil {
		t.Fatalf("pull: %v", err)
	}
	if err := g.Admit(remote, pull("topicA", "groupB")); !errors.Is(err, ErrDenied) || !strings.Contains(err.Error(), "group=groupB needs SUB") {
		t.Fatalf("pull with another group: %v", err)
	}
	if err := g.Admit(remote, pull("%RETRY%groupA", "groupA")); err != nil {
		t.Fatalf("retry topic follows the group: %v", err)
	}
	if err := g.Admit(remote, pull("%RETRY%groupB", "groupA")); !errors.Is(err, ErrDenied) {
		t.Fatalf("another group's retry topic: %v", err)
	}
	hb := &remoting.Command{Code: remoting.RequestHeartbeat,
		Body: []byte(`{"clientID":"c","consumerDataSet":[{"groupName":"groupA","subscriptionDataSet":[{"topic":"topicA"},{"topic":"%RETRY%groupA"}]}]}`)}
	if err := g.Admit(remote, signed(hb, "consumerA", "secretC1")); err != nil {
		t.Fatalf("heartbeat: %v", err)
	}
	hb.Body = []byte(`{"consumerDataSet":[{"groupName":"groupA","subscriptionDataSet":[{"topic":"topicZ"}]}]}`)
	if err := g.Admit(remote, signed(hb, "consumerA", "secretC1")); !errors.Is(err, ErrDenied) {
		t.Fatalf("heartbeat subscribing topicZ: %v", err)
	}
	hb.Body = []byte(`{not json`)
	if err := g.Admit(remote, signed(hb, "consumerA", "secretC1")); !errors.Is(err, ErrDenied) {
		t.Fatalf("garbage heartbeat: %v", err)
	}
}

func TestAdmitAdminRequests(t *testing.T) {
	g := testGate(t, BrokerProfile)
	for _, code := range []int16{remoting.RequestUpdateAndCreateTopic, remoting.RequestDeleteTopicInBroker,
		remoting.RequestInvokeBrokerToResetOffset, remoting.RequestUpdateBrokerConfig} {
		c := &remoting.Command{Code: code}
		c.Ext.Set(remoting.ExtTopic, "topicA")
		if err := g.Admit(remote, signed(c, "producerA", "secretA1")); !errors.Is(err, ErrDenied) ||
			!strings.Contains(err.Error(), "needs an admin account") {
			t.Errorf("%s by a non-admin: %v", remoting.RequestName(code), err)
		}
		if err := g.Admit(remote, signed(c, "adminKey", "adminSecret")); err != nil {
			t.Errorf("%s by an admin: %v", remoting.RequestName(code), err)
		}
	}
	ns := testGate(t, NameServerProfile)
	reg := &remoting.Command{Code: remoting.RequestRegisterBroker, Body: []byte("{}")}
	if err := ns.Admit(remote, signed(reg, "producerA", "secretA1")); !errors.Is(err, ErrDenied) {
		t.Fatalf("register broker by a non-admin: %v", err)
	}
	route := &remoting.Command{Code: remoting.RequestGetRouteInfoByTopic}
	route.Ext.Set(remoting.ExtTopic, "topicA")
	if err := ns.Admit(remote, signed(route, "producerA", "secretA1")); err != nil {
		t.Fatalf("route query: %v", err)
	}
	if err := ns.Admit(remote, &remoting.Command{Code: remoting.RequestGetRouteInfoByTopic}); !errors.Is(err, ErrUnauthenticated) {
		t.Fatalf("unsigned route query: %v", err)
	}
}

// TestAdmitSignatureVariants accepts Java's rule (SecurityToken signed)
// as well as the Go client's, and _UNIQUE_KEY_QUERY left out.
func TestAdmitSignatureVariants(t *testing.T) {
	g := testGate(t, BrokerProfile)
	javaSigned := func(c *remoting.Command, omit remoting.SignOmit) *remoting.Command {
		c.Ext.Set(remoting.ExtAccessKey, "producerA")
		mac := hmac.New(sha1.New, []byte("secretA1"))
		remoting.WriteSigningContent(mac, c, omit)
		c.Ext.Set(remoting.ExtSignature, base64.StdEncoding.EncodeToString(mac.Sum(nil)))
		return c
	}
	c := sendCmd("topicA", "x")
	c.Ext.Set(remoting.ExtSecurityToken, "tok")
	if err := g.Admit(remote, javaSigned(c, 0)); err != nil {
		t.Fatalf("token signed (Java): %v", err)
	}
	c = sendCmd("topicA", "x")
	remoting.Credentials{AccessKey: "producerA", SecretKey: "secretA1", SecurityToken: "tok"}.Sign(c)
	if err := g.Admit(remote, c); err != nil {
		t.Fatalf("token not signed (Go): %v", err)
	}
	q := &remoting.Command{Code: remoting.RequestGetMaxOffset}
	q.Ext.Set(remoting.ExtTopic, "topicA")
	javaSigned(q, 0)
	q.Ext.Set(remoting.ExtUniqueKeyQuery, "true")
	if err := g.Admit(remote, q); err != nil {
		t.Fatalf("_UNIQUE_KEY_QUERY added after signing: %v", err)
	}
}

func TestLogin(t *testing.T) {
	g := testGate(t, BrokerProfile)
	id, err := g.Login(remote, "producerA", "secretA1")
	if err != nil || id.Account == nil || id.IsAdmin() {
		t.Fatalf("login: %+v %v", id, err)
	}
	if err := id.Allowed("topicA", false, Pub); err != nil {
		t.Fatal(err)
	}
	if err := id.Allowed("topicA", false, Sub); !errors.Is(err, ErrDenied) {
		t.Fatalf("SUB on topicA: %v", err)
	}
	if _, err := g.Login(remote, "producerA", "wrong"); !errors.Is(err, ErrUnauthenticated) {
		t.Fatalf("wrong secret: %v", err)
	}
	if id, err := g.Login("10.0.0.1:5", "", ""); err != nil || !id.Trusted || !id.IsAdmin() {
		t.Fatalf("white-listed login: %+v %v", id, err)
	}
}

func BenchmarkAdmitSend(b *testing.B) {
	g := testGate(b, BrokerProfile)
	cmd := signed(sendCmd("topicA", strings.Repeat("x", 1024)), "producerA", "secretA1")
	cmd.Ext.Set(remoting.ExtV2Properties, "KEYS\x01k1\x02TAGS\x01t\x02UNIQ_KEY\x01AC1100090000000000000000000000\x02")
	remoting.Credentials{AccessKey: "producerA", SecretKey: "secretA1"}.Sign(cmd)
	b.ReportAllocs()
	b.SetBytes(int64(len(cmd.Body)))
	for b.Loop() {
		if err := g.Admit(remote, cmd); err != nil {
			b.Fatal(err)
		}
	}
}

// TestRefusalClipsClientNames: names and keys from the request reach the
// remark and the log only clipped and quoted.
func TestRefusalClipsClientNames(t *testing.T) {
	g := testGate(t, BrokerProfile)
	long := strings.Repeat("x", 100000)
	err := g.Admit(remote, signed(sendCmd("topic\n"+long, "x"), "producerA", "secretA1"))
	if err == nil || len(err.Error()) > 400 || strings.Contains(err.Error(), "\n") {
		t.Fatalf("remark of %d bytes: %.200q", len(err.Error()), err)
	}
	cmd := sendCmd("t", "x")
	cmd.Ext.Set(remoting.ExtAccessKey, long)
	if err := g.Admit(remote, cmd); err == nil || len(err.Error()) > 400 {
		t.Fatalf("unknown key remark of %d bytes", len(err.Error()))
	}
}
