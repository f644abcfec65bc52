package config

import (
	"errors"
	"strings"
	"testing"

	"github.com/cometmq/comet/internal/testutil"
	"github.com/cometmq/comet/netio"
)

func TestSecurityRefusedAtStart(t *testing.T) {
	files := testutil.NewTLSFiles(t, t.TempDir())
	badACL := writeFile(t, "accounts:\n  - accessKey: abcdefg\n    secretKey: 1234567\n  - accessKey: abcdefg\n    secretKey: 7654321\n")
	cases := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"acl file with a duplicate account", []string{"-acl-file", badACL}, nil, "acl-file: " + badACL + ": acl: bad ACL file: line 4"},
		{"missing acl file", []string{"-acl-file", "/nonexistent/plain_acl.yml"}, nil, "acl-file"},
		{"certificate not matching its key", []string{"-tls-cert", files.ServerCert, "-tls-key", files.ClientKey}, nil,
			"tls-key: " + files.ServerCert},
		{"cert without key", []string{"-tls-cert", files.ServerCert}, nil, "tls-cert and tls-key go together"},
		{"client CA without cert", []string{"-tls-client-ca", files.CA}, nil, "tls-client-ca: needs tls-cert"},
		{"CA file without certificates", []string{"-tls-cert", files.ServerCert, "-tls-key", files.ServerKey, "-tls-client-ca", files.ServerKey},
			nil, "no PEM certificate"},
		{"bad mode", nil, map[string]string{"COMET_TLS_MODE": "sometimes"}, "tls-mode"},
		{"secret without key", nil, map[string]string{"COMET_SECRET_KEY": "abcdefgh"}, "access-key and secret-key go together"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := loadWith(t, tc.args, tc.env)
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want ErrInvalid containing %q", err, tc.want)
			}
		})
	}
}

func TestSecuritySettings(t *testing.T) {
	files := testutil.NewTLSFiles(t, t.TempDir())
	aclFile := writeFile(t, "accounts:\n  - accessKey: brokerAK\n    secretKey: brokerSK\n    admin: true\n")
	c, err := loadWith(t, []string{"-acl-file", aclFile, "-tls-cert", files.ServerCert, "-tls-key", files.ServerKey,
		"-tls-client-ca", files.CA, "-tls-mode", "permissive", "-tls-ca", files.CA},
		map[string]string{"COMET_ACCESS_KEY": "brokerAK", "COMET_SECRET_KEY": "brokerSK"})
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Values()["secret-key"]; got != redacted {
		t.Fatalf("Values shows secret-key %q", got)
	}
	if creds := c.Credentials(); creds.AccessKey != "brokerAK" || creds.SecretKey != "brokerSK" {
		t.Fatalf("credentials %+v", creds)
	}
	tlsOpts, err := c.NetioTLS()
	if err != nil || tlsOpts == nil || tlsOpts.Mode != netio.TLSPermissive || tlsOpts.Config.ClientCAs == nil {
		t.Fatalf("NetioTLS = %+v, %v", tlsOpts, err)
	}
	client, err := c.ClientTLS()
	if err != nil || client.RootCAs == nil || len(client.Certificates) != 1 {
		t.Fatalf("ClientTLS = %+v, %v", client, err)
	}
	plain, _ := loadWith(t, nil, nil)
	if cfg, err := plain.NetioTLS(); cfg != nil || err != nil {
		t.Fatalf("TLS without tls-cert: %+v %v", cfg, err)
	}
}
