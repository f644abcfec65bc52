package ctl

import (
	"crypto/tls"
	"crypto/x509"
	"flag"
	"os"

	"github.com/cometmq/comet/netio/remoting"
)

// security is how cometctl authenticates: an ACL account whose keys sign
// every request, and TLS.
type security struct {
	accessKey, secretKey string
	tls                  bool
	tlsCA                string
	tlsCert, tlsKey      string

	creds     remoting.Credentials
	tlsConfig *tls.Config
}

func (s *security) defineFlags(fs *flag.FlagSet) {
	fs.StringVar(&s.accessKey, "access-key", os.Getenv("COMET_ACCESS_KEY"), "ACL account that signs every request (default $COMET_ACCESS_KEY)")
	fs.StringVar(&s.secretKey, "secret-key", os.Getenv("COMET_SECRET_KEY"),
		"secret key of -access-key (default $COMET_SECRET_KEY; prefer the environment: flags show in ps)")
	fs.BoolVar(&s.tls, "tls", os.Getenv("COMET_TLS") == "true", "connect over TLS (default $COMET_TLS=true; implied by -tls-ca and -tls-cert)")
	fs.StringVar(&s.tlsCA, "tls-ca", os.Getenv("COMET_TLS_CA"), "PEM CA bundle that verifies the servers (default $COMET_TLS_CA, else the system's)")
	fs.StringVar(&s.tlsCert, "tls-cert", os.Getenv("COMET_TLS_CERT"), "PEM client certificate for mutual TLS (default $COMET_TLS_CERT)")
	fs.StringVar(&s.tlsKey, "tls-key", os.Getenv("COMET_TLS_KEY"), "PEM key of -tls-cert (default $COMET_TLS_KEY)")
}

// load checks the flags and reads the files they name.
func (s *security) load() error {
	if (s.accessKey == "") != (s.secretKey == "") {
		return usageError("-access-key and -secret-key go together")
	}
	s.creds = remoting.Credentials{AccessKey: s.accessKey, SecretKey: s.secretKey}
	if (s.tlsCert == "") != (s.tlsKey == "") {
		return usageError("-tls-cert and -tls-key go together")
	}
	if !s.tls && s.tlsCA == "" && s.tlsCert == "" {
		return nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if s.tlsCA != "" {
		pem, err := os.ReadFile(s.tlsCA)
		if err != nil {
			return usageError("-tls-ca: %v", err)
		}
		cfg.RootCAs = x509.NewCertPool()
		if !cfg.RootCAs.AppendCertsFromPEM(pem) {
			return usageError("-tls-ca: %s holds no PEM certificate", s.tlsCA)
		}
	}
	if s.tlsCert != "" {
		cert, err := tls.LoadX509KeyPair(s.tlsCert, s.tlsKey)
		if err != nil {
			return usageError("-tls-cert, -tls-key: %v", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	s.tlsConfig = cfg
	return nil
}

// clientOptions adds the credentials and TLS to o.
func (s *security) clientOptions(o remoting.ClientOptions) remoting.ClientOptions {
	o.Credentials, o.TLS = s.creds, s.tlsConfig
	return o
}
