package remoting

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"hash"
	"strings"
	"sync"
	"unsafe"
)

// ExtUniqueKeyQuery is the ext key a Java admin client adds to a
// QUERY_MESSAGE by unique key; RocketMQ's broker leaves it out of the
// signed content.
const ExtUniqueKeyQuery = "_UNIQUE_KEY_QUERY"

// Credentials are an account of RocketMQ's ACL: the access key names it,
// the secret key signs its requests. SecurityToken is optional; it is sent
// but, as the official Go client v2.1.2 does, not signed.
type Credentials struct {
	AccessKey     string
	SecretKey     string
	SecurityToken string
}

// IsZero reports whether c carries no account (no signing).
func (c Credentials) IsZero() bool { return c.AccessKey == "" && c.SecretKey == "" }

// Sign adds AccessKey (and SecurityToken when set) to req's ext fields and
// then Signature, computed as the official Go client v2.1.2 computes it
// (docs/reference/acl.md): Base64(HMAC-SHA1(secret key, the values of the
// ext fields sorted by key, Signature and SecurityToken left out, then the
// body)). Signing a command again replaces both fields.
func (c Credentials) Sign(req *Command) {
	NewSigner(c).Sign(req)
}

// Signer signs requests with one account's credentials, reusing its keyed
// HMACs: a signature costs the hash and one string.
type Signer struct {
	creds Credentials
	macs  sync.Pool // *signState
}

type signState struct {
	mac hash.Hash
	sum [sha1.Size]byte
	b64 [28]byte // base64 of a SHA-1 sum
}

// NewSigner returns a Signer for c.
func NewSigner(c Credentials) *Signer {
	s := &Signer{creds: c}
	secret := []byte(c.SecretKey)
	s.macs.New = func() any { return &signState{mac: hmac.New(sha1.New, secret)} }
	return s
}

// Sign signs req as Credentials.Sign does.
func (s *Signer) Sign(req *Command) {
	req.Ext.Set(ExtAccessKey, s.creds.AccessKey)
	if s.creds.SecurityToken != "" {
		req.Ext.Set(ExtSecurityToken, s.creds.SecurityToken)
	}
	st := s.macs.Get().(*signState)
	st.mac.Reset()
	WriteSigningContent(st.mac, req, OmitSecurityToken)
	base64.StdEncoding.Encode(st.b64[:], st.mac.Sum(st.sum[:0]))
	req.Ext.Set(ExtSignature, string(st.b64[:]))
	s.macs.Put(st)
}

// SignOmit selects ext keys left out of the signed content besides
// Signature, which is never in it. The variants exist because RocketMQ's
// clients differ (docs/reference/acl.md).
type SignOmit uint8

const (
	// OmitSecurityToken leaves SecurityToken out (the Go client's rule;
	// Java's AclClientRPCHook signs it).
	OmitSecurityToken SignOmit = 1 << iota
	// OmitUniqueKeyQuery leaves _UNIQUE_KEY_QUERY out (Java broker's rule).
	OmitUniqueKeyQuery
)

// maxSortedOnStack is how many ext fields WriteSigningContent sorts without
// allocating; the official clients send fewer than 20.
const maxSortedOnStack = 64

// WriteSigningContent writes RocketMQ's ACL signing content of cmd to h:
// the values (not the keys) of its ext fields in byte order of their keys,
// Signature and the keys omit names left out, then the body. It does not
// allocate for up to 64 ext fields.
func WriteSigningContent(h hash.Hash, cmd *Command, omit SignOmit) {
	fields := cmd.Ext.Fields
	var stack [maxSortedOnStack]uint16
	order := stack[:0]
	if len(fields) > maxSortedOnStack {
		order = make([]uint16, 0, len(fields))
	}
	for i := range fields {
		if !omitted(fields[i].Key, omit) {
			order = insertSorted(order, fields, uint16(i))
		}
	}
	for _, i := range order {
		writeString(h, fields[i].Value)
	}
	h.Write(cmd.Body)
}

// insertSorted inserts field index i into order, kept sorted by key.
func insertSorted(order []uint16, fields []Field, i uint16) []uint16 {
	at := len(order)
	for at > 0 && strings.Compare(fields[order[at-1]].Key, fields[i].Key) > 0 {
		at--
	}
	order = append(order, 0)
	copy(order[at+1:], order[at:])
	order[at] = i
	return order
}

func omitted(key string, omit SignOmit) bool {
	switch key {
	case ExtSignature:
		return true
	case ExtSecurityToken:
		return omit&OmitSecurityToken != 0
	case ExtUniqueKeyQuery:
		return omit&OmitUniqueKeyQuery != 0
	}
	return false
}

// writeString feeds s to h without copying it: hash writes only read their
// argument and never keep it.
func writeString(h hash.Hash, s string) {
	if s == "" {
		return
	}
	h.Write(unsafe.Slice(unsafe.StringData(s), len(s)))
}
