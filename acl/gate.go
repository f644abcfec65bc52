package acl

import (
	"fmt"
	"sync/atomic"

	"github.com/cometmq/comet/netio/remoting"
)

// Authorizer is what every front door calls before it serves a client:
// RocketMQ remoting servers (through netio's gate), and the gateways and
// replication or controller links that are not remoting servers.
type Authorizer interface {
	// Admit authenticates and authorises one remoting request that came
	// from remote ("ip:port"). A nil error admits it; otherwise the error
	// (ErrUnauthenticated or ErrDenied) is the remark of the NO_PERMISSION
	// answer.
	Admit(remote string, cmd *remoting.Command) error
	// Login authenticates a client that presents an account's secret key
	// itself (an MQTT CONNECT's user name and password, HTTP Basic
	// authentication, a replica or controller peer). A client whose address
	// is globally white-listed needs no account. The Identity answers the
	// permission questions that follow.
	Login(remote, accessKey, secretKey string) (Identity, error)
}

// Identity is an authenticated client.
type Identity struct {
	// Account is the client's account; nil when a global white list let it
	// in.
	Account *Account
	// Trusted is set for white-listed clients (the global list, or the
	// account's own), which RocketMQ lets do anything.
	Trusted bool
}

// Allowed checks one topic or group permission (ErrDenied if missing).
func (id Identity) Allowed(name string, group bool, needed Perm) error {
	if id.Trusted {
		return nil
	}
	return id.Account.Allowed(name, group, needed)
}

// IsAdmin reports whether the client may administer the broker.
func (id Identity) IsAdmin() bool { return id.Trusted || id.Account.Admin }

// Source gives the rules in force; a Watcher is one.
type Source interface{ Rules() *Rules }

// Static is a Source whose rules never change.
type Static struct{ R *Rules }

// Rules returns s.R.
func (s Static) Rules() *Rules { return s.R }

// Gate authenticates and authorises requests against the rules of a
// Source: the front door of a broker or a name server. It runs on the
// event loop: everything it does is CPU only (no locks held, no I/O), and
// admitting a request allocates nothing, heartbeats aside.
type Gate struct {
	src     Source
	profile Profile
	stats   GateStats
}

// GateStats counts a Gate's decisions.
type GateStats struct {
	Admitted        atomic.Uint64
	WhiteListed     atomic.Uint64 // admitted by a white list, unsigned
	Unauthenticated atomic.Uint64
	Denied          atomic.Uint64
}

// NewGate returns a Gate for a server of the given profile.
func NewGate(src Source, p Profile) *Gate { return &Gate{src: src, profile: p} }

// Stats returns the Gate's counters.
func (g *Gate) Stats() *GateStats { return &g.stats }

// Admit implements Authorizer, in RocketMQ's order: the global white list
// admits at once; otherwise the AccessKey must name an account; the
// account's white list admits without a signature or permission check;
// otherwise the signature must match and the account must hold the
// permissions the request needs.
func (g *Gate) Admit(remote string, cmd *remoting.Command) error {
	rules := g.src.Rules()
	ip := remoteIP(remote)
	if rules.globalWhite.match(ip) {
		g.stats.WhiteListed.Add(1)
		return nil
	}
	ak, _ := cmd.Ext.Get(remoting.ExtAccessKey)
	acct := rules.accounts[ak]
	switch {
	case ak == "":
		g.stats.Unauthenticated.Add(1)
		return fmt.Errorf("%w: %s carries no AccessKey", ErrUnauthenticated, remoting.RequestName(cmd.Code))
	case acct == nil:
		g.stats.Unauthenticated.Add(1)
		return fmt.Errorf("%w: no account for accessKey=%s", ErrUnauthenticated, clip(ak))
	case acct.white.match(ip):
		g.stats.WhiteListed.Add(1)
		return nil
	case !acct.verify(cmd):
		g.stats.Unauthenticated.Add(1)
		return fmt.Errorf("%w: signature check failed for accessKey=%s", ErrUnauthenticated, ak)
	}
	if err := g.profile.authorize(acct, cmd); err != nil {
		g.stats.Denied.Add(1)
		return err
	}
	g.stats.Admitted.Add(1)
	return nil
}

// Login implements Authorizer.
func (g *Gate) Login(remote, accessKey, secretKey string) (Identity, error) {
	rules := g.src.Rules()
	ip := remoteIP(remote)
	if rules.globalWhite.match(ip) {
		return Identity{Trusted: true}, nil
	}
	acct := rules.accounts[accessKey]
	switch {
	case accessKey == "":
		return Identity{}, fmt.Errorf("%w: no access key given", ErrUnauthenticated)
	case acct == nil:
		return Identity{}, fmt.Errorf("%w: no account for accessKey=%s", ErrUnauthenticated, clip(accessKey))
	case acct.white.match(ip):
		return Identity{Account: acct, Trusted: true}, nil
	case !acct.CheckSecret(secretKey):
		return Identity{}, fmt.Errorf("%w: wrong secret key for accessKey=%s", ErrUnauthenticated, accessKey)
	}
	return Identity{Account: acct}, nil
}
