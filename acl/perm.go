package acl

import (
	"fmt"
	"strings"
)

// Perm is a permission as plain_acl.yml writes it. The bit values are
// RocketMQ's (Permission.java); a Perm with DENY set grants nothing.
type Perm uint8

// Permissions. Part of the format: do not change.
const (
	Deny Perm = 1 << 0
	Any  Perm = 1 << 1 // needed by a request that is served with either PUB or SUB
	Pub  Perm = 1 << 2
	Sub  Perm = 1 << 3
)

// String is the permission as plain_acl.yml writes it.
func (p Perm) String() string {
	switch {
	case p&Deny != 0:
		return "DENY"
	case p&(Pub|Sub) == Pub|Sub:
		return "PUB|SUB"
	case p&Pub != 0:
		return "PUB"
	case p&Sub != 0:
		return "SUB"
	case p&Any != 0:
		return "PUB or SUB"
	}
	return "none"
}

// grants reports whether an owned permission covers a needed one, by
// RocketMQ's rule: DENY covers nothing, ANY needs PUB or SUB, otherwise the
// needed bits must be owned.
func (owned Perm) grants(needed Perm) bool {
	if owned&Deny != 0 {
		return false
	}
	if needed&Any != 0 {
		return owned&(Pub|Sub) != 0
	}
	return needed&owned != 0
}

// ParsePerm reads DENY, PUB, SUB, PUB|SUB or SUB|PUB (surrounding blanks
// ignored). RocketMQ reads anything else as DENY; Comet refuses it, so a
// typo never silently locks an account out.
func ParsePerm(s string) (Perm, error) {
	switch strings.TrimSpace(s) {
	case "DENY":
		return Deny, nil
	case "PUB":
		return Pub, nil
	case "SUB":
		return Sub, nil
	case "PUB|SUB", "SUB|PUB":
		return Pub | Sub, nil
	}
	return 0, fmt.Errorf("permission %q: want DENY, PUB, SUB or PUB|SUB", s)
}
