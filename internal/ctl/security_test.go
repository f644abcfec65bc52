package ctl

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/cometmq/comet/acl"
	"github.com/cometmq/comet/actors"
	"github.com/cometmq/comet/internal/cluster"
	"github.com/cometmq/comet/internal/testutil"
	"github.com/cometmq/comet/namesrv"
	"github.com/cometmq/comet/netio"
	"github.com/cometmq/comet/netio/remoting"
)

const ctlACL = `
accounts:
  - accessKey: ctlAdmin
    secretKey: ctlAdminSecret
    admin: true
  - accessKey: ctlUser
    secretKey: ctlUserSecret
    defaultTopicPerm: PUB|SUB
    defaultGroupPerm: SUB
`

// TestCtlOverMutualTLSWithACL: cometctl signs with the account from its
// flags or environment and speaks (mutual) TLS: an admin creates and
// deletes topics, a non-admin is refused an offset reset, and without TLS
// the servers are unreachable.
func TestCtlOverMutualTLSWithACL(t *testing.T) {
	rules, err := acl.Parse([]byte(ctlACL))
	if err != nil {
		t.Fatal(err)
	}
	files := testutil.NewTLSFiles(t, t.TempDir())
	serverTLS := &netio.TLSOptions{Config: files.ServerConfig(t, true)}
	env, err := cluster.Start(cluster.Options{DataDir: t.TempDir(),
		Namesrv: func(o *namesrv.ServeOptions) {
			o.Gate, o.TLS = acl.NewGate(acl.Static{R: rules}, acl.NameServerProfile), serverTLS
		},
		Broker: func(o *actors.BrokerOptions) {
			o.Gate, o.TLS = acl.NewGate(acl.Static{R: rules}, acl.BrokerProfile), serverTLS
			o.Credentials = remoting.Credentials{AccessKey: "ctlAdmin", SecretKey: "ctlAdminSecret"}
			o.ClientTLS = files.ClientConfig(t, true)
		}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { env.Stop(context.Background()) })
	run := func(envVars map[string]string, args ...string) (string, string, int) {
		for k, v := range envVars {
			t.Setenv(k, v)
		}
		var out, errOut bytes.Buffer
		code := Run(append(args, "-namesrv", env.NamesrvAddr, "-timeout", "3s"), &out, &errOut)
		return out.String(), errOut.String(), code
	}
	tlsFlags := []string{"-tls-ca", files.CA, "-tls-cert", files.ClientCert, "-tls-key", files.ClientKey}
	admin := map[string]string{"COMET_ACCESS_KEY": "ctlAdmin", "COMET_SECRET_KEY": "ctlAdminSecret"}

	if out, errOut, code := run(admin, append([]string{"topic", "create", "Secured", "-queues", "2"}, tlsFlags...)...); code != ExitOK {
		t.Fatalf("admin topic create: exit %d\n%s%s", code, out, errOut)
	}
	if out, _, code := run(admin, append([]string{"topic", "list"}, tlsFlags...)...); code != ExitOK || !strings.Contains(out, "Secured") {
		t.Fatalf("topic list: exit %d\n%s", code, out)
	}
	user := append([]string{"group", "reset", "g1", "-topic", "Secured", "-offset", "0",
		"-access-key", "ctlUser", "-secret-key", "ctlUserSecret"}, tlsFlags...)
	if _, errOut, code := run(nil, user...); code != ExitBrokerError || !strings.Contains(errOut, "NO_PERMISSION") ||
		!strings.Contains(errOut, "needs an admin account") {
		t.Fatalf("non-admin reset: exit %d\n%s", code, errOut)
	}
	userDelete := append([]string{"topic", "delete", "Secured", "-access-key", "ctlUser", "-secret-key", "ctlUserSecret"}, tlsFlags...)
	if _, errOut, code := run(nil, userDelete...); code != ExitBrokerError || !strings.Contains(errOut, "NO_PERMISSION") {
		t.Fatalf("non-admin delete: exit %d\n%s", code, errOut)
	}
	if _, errOut, code := run(admin, "topic", "list"); code != ExitUnreachable {
		t.Fatalf("plain connection to a TLS-only server: exit %d\n%s", code, errOut)
	}
	if _, errOut, code := run(map[string]string{"COMET_SECRET_KEY": ""}, "topic", "list", "-access-key", "ctlUser"); code != ExitUsage || !strings.Contains(errOut, "go together") {
		t.Fatalf("access key without secret: exit %d\n%s", code, errOut)
	}
}
