package acl

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"net/netip"
	"strconv"
	"strings"
	"sync"

	"github.com/cometmq/comet/netio/remoting"
)

// Classes of refusal. Test for them with errors.Is; the message names the
// account, the resource and the permission.
var (
	// ErrUnauthenticated: no AccessKey, an unknown one, or a signature that
	// does not match.
	ErrUnauthenticated = errors.New("acl: not authenticated")
	// ErrDenied: an authenticated account without the permission the
	// request needs.
	ErrDenied = errors.New("acl: no permission")
)

// retryTopicPrefix marks a consumer group's retry topic; its permission is
// the group's (RocketMQ's PlainAccessResource.isRetryTopic).
const retryTopicPrefix = "%RETRY%"

// traceTopic is RocketMQ's message-trace topic: any authenticated account
// may publish to it, as RocketMQ allows.
const traceTopic = "RMQ_SYS_TRACE_TOPIC"

// Rules are the accounts and white lists of one ACL file. They are
// immutable once parsed; a reload builds new Rules.
type Rules struct {
	globalWhite addrSet
	accounts    map[string]*Account
}

func newRules() *Rules { return &Rules{accounts: map[string]*Account{}} }

// Accounts is the number of accounts.
func (r *Rules) Accounts() int { return len(r.accounts) }

// Account is one account of the file.
type Account struct {
	AccessKey string
	Admin     bool

	secret       []byte
	white        addrSet
	defaultTopic Perm
	defaultGroup Perm
	topics       map[string]Perm // by topic name
	groups       map[string]Perm // by group name (RocketMQ keys them by retry topic)
	line         int
	signers      sync.Pool // *signer keyed with secret
}

// signer is a pooled HMAC-SHA1 keyed with an account's secret, with the
// scratch a verification needs, so checking a signature allocates nothing.
type signer struct {
	mac hash.Hash
	sum [sha1.Size]byte
	got [sha1.Size + 2]byte // Decode may write up to 21 bytes for 28 characters
}

func (a *Account) initSigner() {
	secret := a.secret
	a.signers.New = func() any { return &signer{mac: hmac.New(sha1.New, secret)} }
}

// WhiteListed reports whether ip is in the account's own white list: such
// requests need no signature and, as in RocketMQ, no permission check.
func (a *Account) WhiteListed(ip netip.Addr) bool { return a.white.match(ip) }

// signatureLen is the Base64 length of an HMAC-SHA1.
var signatureLen = base64.StdEncoding.EncodedLen(sha1.Size)

// verify checks cmd's Signature against the account's secret, accepting
// the content rule of every official client (docs/reference/acl.md): all
// ext fields but Signature; SecurityToken left out (Go client) or signed
// (Java client); _UNIQUE_KEY_QUERY left out (Java broker) or signed.
func (a *Account) verify(cmd *remoting.Command) bool {
	sig, ok := cmd.Ext.Get(remoting.ExtSignature)
	if !ok || len(sig) != signatureLen {
		return false
	}
	s := a.signers.Get().(*signer)
	defer a.signers.Put(s)
	n, err := base64.StdEncoding.Decode(s.got[:], []byte(sig))
	if err != nil || n != sha1.Size {
		return false
	}
	_, hasToken := cmd.Ext.Get(remoting.ExtSecurityToken)
	_, hasQueryFlag := cmd.Ext.Get(remoting.ExtUniqueKeyQuery)
	for omit := remoting.SignOmit(0); omit <= remoting.OmitSecurityToken|remoting.OmitUniqueKeyQuery; omit++ {
		if (omit&remoting.OmitSecurityToken != 0 && !hasToken) || (omit&remoting.OmitUniqueKeyQuery != 0 && !hasQueryFlag) {
			continue
		}
		s.mac.Reset()
		remoting.WriteSigningContent(s.mac, cmd, omit)
		if hmac.Equal(s.mac.Sum(s.sum[:0]), s.got[:n]) {
			return true
		}
	}
	return false
}

// CheckSecret reports whether secret is the account's secret key (for
// front doors whose clients present the key itself, such as MQTT's
// password or HTTP Basic authentication).
func (a *Account) CheckSecret(secret string) bool {
	return hmac.Equal([]byte(secret), a.secret)
}

// Allowed checks one resource against the account: the explicit
// permission for the topic or group, else the account's default. A topic
// %RETRY%g is group g. An admin account with no explicit permissions at
// all may do anything, as in RocketMQ.
func (a *Account) Allowed(name string, group bool, needed Perm) error {
	if !group && strings.HasPrefix(name, retryTopicPrefix) {
		name, group = name[len(retryTopicPrefix):], true
	}
	if a.Admin && len(a.topics) == 0 && len(a.groups) == 0 {
		return nil
	}
	owned, explicit := a.topics[name], false
	if group {
		owned, explicit = a.groups[name]
	} else {
		_, explicit = a.topics[name]
	}
	if !explicit {
		owned = a.defaultTopic
		if group {
			owned = a.defaultGroup
		}
	}
	if owned.grants(needed) {
		return nil
	}
	kind := "topic"
	if group {
		kind = "group"
	}
	return fmt.Errorf("%w: %s=%s needs %s, accessKey=%s has %s", ErrDenied, kind, clip(name), needed, a.AccessKey, owned)
}

// maxShown bounds a client-supplied name or key in a refusal's remark and
// log line: the gate runs before the names are validated, and a header
// value may be megabytes long.
const maxShown = 128

// clip shortens s for a message, quoting it when it holds anything but
// printable ASCII.
func clip(s string) string {
	cut := len(s) > maxShown
	if cut {
		s = s[:maxShown]
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			s = strconv.Quote(s)
			break
		}
	}
	if cut {
		s += "..."
	}
	return s
}
