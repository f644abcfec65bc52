package daemon

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/cometmq/comet/acl"
	"github.com/cometmq/comet/internal/config"
	"github.com/cometmq/comet/netio"
	"github.com/cometmq/comet/netio/remoting"
)

// security is a process's access control and TLS, built once at start:
// the ACL file's watcher and the gates of the broker and the name server,
// the listeners' TLS, and the broker's own account and TLS for the name
// servers it dials.
type security struct {
	watcher     *acl.Watcher // nil without acl-file
	brokerGate  *acl.Gate
	namesrvGate *acl.Gate
	tls         *netio.TLSOptions
	httpTLS     *tls.Config
	clientTLS   *tls.Config
	creds       remoting.Credentials
}

func newSecurity(cfg *config.Config, log *slog.Logger) (*security, error) {
	s := &security{creds: cfg.Credentials()}
	var err error
	if s.tls, err = cfg.NetioTLS(); err != nil {
		return nil, err
	}
	if s.httpTLS, err = cfg.ServerTLS(); err != nil {
		return nil, err
	}
	if s.clientTLS, err = cfg.ClientTLS(); err != nil {
		return nil, err
	}
	if cfg.ACLFile == "" {
		return s, nil
	}
	if s.watcher, err = acl.Open(cfg.ACLFile, acl.WatchOptions{Logger: log}); err != nil {
		return nil, err
	}
	s.brokerGate = acl.NewGate(s.watcher, acl.BrokerProfile)
	s.namesrvGate = acl.NewGate(s.watcher, acl.NameServerProfile)
	s.watcher.Start()
	log.Info("comet: access control on", "aclFile", cfg.ACLFile, "accounts", s.watcher.Rules().Accounts())
	return s, nil
}

// brokerGateOrNil and namesrvGateOrNil keep a nil *acl.Gate from becoming
// a non-nil netio.Gate.
func (s *security) brokerGateOrNil() netio.Gate {
	if s == nil || s.brokerGate == nil {
		return nil
	}
	return s.brokerGate
}

func (s *security) namesrvGateOrNil() netio.Gate {
	if s == nil || s.namesrvGate == nil {
		return nil
	}
	return s.namesrvGate
}

// checkBrokerAccount refuses to start a broker whose embedded name server
// checks ACL when the broker's own account could not register with it.
func (s *security) checkBrokerAccount(embeddedNamesrv bool) error {
	if s.watcher == nil || !embeddedNamesrv {
		return nil
	}
	if s.creds.IsZero() {
		return errors.New("comet: acl-file with the embedded name server needs access-key and secret-key: " +
			"the broker registers with its own admin account")
	}
	id, err := s.namesrvGate.Login("", s.creds.AccessKey, s.creds.SecretKey)
	if err != nil {
		return fmt.Errorf("comet: access-key: %w", err)
	}
	if !id.IsAdmin() {
		return fmt.Errorf("comet: access-key %s is not an admin account in the acl-file: the name server would refuse the broker's registration",
			s.creds.AccessKey)
	}
	return nil
}

// httpAdmin guards the HTTP endpoint's /status and /debug/pprof/: HTTP
// Basic authentication with an admin account (its access and secret keys).
// Nil without access control.
func (s *security) httpAdmin() func(r *http.Request) error {
	if s == nil || s.brokerGate == nil {
		return nil
	}
	return func(r *http.Request) error {
		ak, sk, _ := r.BasicAuth()
		id, err := s.brokerGate.Login(r.RemoteAddr, ak, sk)
		if err != nil {
			return err
		}
		if !id.IsAdmin() {
			return fmt.Errorf("%w: accessKey=%s is not an admin account", acl.ErrDenied, ak)
		}
		return nil
	}
}

// reload re-reads the ACL file (SIGHUP); a bad file keeps the rules.
func (s *security) reload() {
	if s != nil && s.watcher != nil {
		_ = s.watcher.Reload() // logged by the watcher
	}
}

func (s *security) close() {
	if s != nil && s.watcher != nil {
		s.watcher.Close()
	}
}
