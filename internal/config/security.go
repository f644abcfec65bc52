package config

import (
	"crypto/tls"
	"crypto/x509"
	"flag"
	"fmt"
	"os"

	"github.com/cometmq/comet/acl"
	"github.com/cometmq/comet/netio"
	"github.com/cometmq/comet/netio/remoting"
)

// Security is the access-control and TLS part of a Config.
type Security struct {
	ACLFile     string
	AccessKey   string
	SecretKey   string
	TLSCert     string
	TLSKey      string
	TLSClientCA string
	TLSCA       string
	TLSMode     string
}

// secretKeys are never shown by Values (/status, GET_BROKER_CONFIG).
var secretKeys = map[string]bool{"secret-key": true}

// redacted stands for a secret's value in Values.
const redacted = "(set)"

// SecurityKeys are the settings of Security, which `comet namesrv` takes too.
var SecurityKeys = []string{"acl-file", "access-key", "secret-key", "tls-cert", "tls-key", "tls-client-ca", "tls-ca", "tls-mode"}

func defineSecurityFlags(fs *flag.FlagSet, c *Security) {
	fs.StringVar(&c.ACLFile, "acl-file", "", "RocketMQ plain_acl.yml of accounts and permissions, reloaded when it changes and on SIGHUP (empty: no access control)")
	fs.StringVar(&c.AccessKey, "access-key", "", "this process's own account: signs the broker's name-server registrations")
	fs.StringVar(&c.SecretKey, "secret-key", "", "secret key of --access-key")
	fs.StringVar(&c.TLSCert, "tls-cert", "", "PEM certificate: every listener (broker, name server, HTTP) serves TLS; the broker dials name servers over TLS")
	fs.StringVar(&c.TLSKey, "tls-key", "", "PEM private key of --tls-cert")
	fs.StringVar(&c.TLSClientCA, "tls-client-ca", "", "PEM CA bundle: clients must present a certificate it signed (mutual TLS)")
	fs.StringVar(&c.TLSCA, "tls-ca", "", "PEM CA bundle that verifies the name servers the broker dials over TLS (default: the system's)")
	fs.StringVar(&c.TLSMode, "tls-mode", "enforcing", "enforcing: TLS only; permissive: TLS and plain clients on the same port")
}

// Validate checks the settings, reading the files they name: the ACL file
// must parse (its error names the line), the certificate must match its
// key, the CA bundles must hold certificates.
func (c *Security) Validate() error {
	if c.ACLFile != "" {
		data, err := os.ReadFile(c.ACLFile)
		if err != nil {
			return invalid("acl-file", "%v", err)
		}
		if _, err := acl.Parse(data); err != nil {
			return invalid("acl-file", "%s: %v", c.ACLFile, err)
		}
	}
	if (c.AccessKey == "") != (c.SecretKey == "") {
		return invalid("access-key", "access-key and secret-key go together")
	}
	if c.TLSMode != "enforcing" && c.TLSMode != "permissive" {
		return invalid("tls-mode", "%q: want enforcing or permissive", c.TLSMode)
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		return invalid("tls-cert", "tls-cert and tls-key go together")
	}
	if c.TLSCert == "" {
		if c.TLSClientCA != "" {
			return invalid("tls-client-ca", "needs tls-cert and tls-key")
		}
		return nil
	}
	if _, err := tls.LoadX509KeyPair(c.TLSCert, c.TLSKey); err != nil {
		return invalid("tls-key", "%s and %s: %v", c.TLSCert, c.TLSKey, err)
	}
	for key, path := range map[string]string{"tls-client-ca": c.TLSClientCA, "tls-ca": c.TLSCA} {
		if path == "" {
			continue
		}
		if _, err := loadPool(path); err != nil {
			return invalid(key, "%v", err)
		}
	}
	return nil
}

func loadPool(path string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s: no PEM certificate in it", path)
	}
	return pool, nil
}

// Credentials is the process's own account (zero without one).
func (c *Security) Credentials() remoting.Credentials {
	return remoting.Credentials{AccessKey: c.AccessKey, SecretKey: c.SecretKey}
}

// ServerTLS is the TLS configuration of every listener, nil without
// tls-cert. The files were checked by Validate; read again, they may fail.
func (c *Security) ServerTLS() (*tls.Config, error) {
	if c.TLSCert == "" {
		return nil, nil
	}
	cert, err := tls.LoadX509KeyPair(c.TLSCert, c.TLSKey)
	if err != nil {
		return nil, fmt.Errorf("config: tls-key: %w", err)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if c.TLSClientCA != "" {
		if cfg.ClientCAs, err = loadPool(c.TLSClientCA); err != nil {
			return nil, fmt.Errorf("config: tls-client-ca: %w", err)
		}
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return cfg, nil
}

// NetioTLS wraps ServerTLS for netio servers.
func (c *Security) NetioTLS() (*netio.TLSOptions, error) {
	cfg, err := c.ServerTLS()
	if cfg == nil || err != nil {
		return nil, err
	}
	mode := netio.TLSEnforcing
	if c.TLSMode == "permissive" {
		mode = netio.TLSPermissive
	}
	return &netio.TLSOptions{Config: cfg, Mode: mode}, nil
}

// ClientTLS is the TLS configuration the broker dials name servers with:
// nil without tls-cert; it presents the same certificate (for name servers
// that require one) and trusts tls-ca, or the system's roots.
func (c *Security) ClientTLS() (*tls.Config, error) {
	if c.TLSCert == "" {
		return nil, nil
	}
	cert, err := tls.LoadX509KeyPair(c.TLSCert, c.TLSKey)
	if err != nil {
		return nil, fmt.Errorf("config: tls-key: %w", err)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if c.TLSCA != "" {
		if cfg.RootCAs, err = loadPool(c.TLSCA); err != nil {
			return nil, fmt.Errorf("config: tls-ca: %w", err)
		}
	}
	return cfg, nil
}
