package acl

import (
	"errors"
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"
)

// ErrBadFile is the class of every error in an ACL file; the message names
// the line.
var ErrBadFile = errors.New("acl: bad ACL file")

// MaxFileSize bounds an ACL file; a larger one is refused unread.
const MaxFileSize = 16 << 20

// minKeyLength is the shortest access or secret key RocketMQ accepts
// (longer than AclConstants.ACCESS_KEY_MIN_LENGTH, 6).
const minKeyLength = 7

func lineError(line int, format string, args ...any) error {
	return fmt.Errorf("%w: line %d: %s", ErrBadFile, line, fmt.Sprintf(format, args...))
}

// Parse reads a plain_acl.yml file (the format is drawn in the package
// doc) into Rules. Unknown keys, duplicate keys or accounts, malformed
// permissions and addresses are errors naming their line; an empty file
// has no accounts and no white list, so it admits nothing.
func Parse(data []byte) (*Rules, error) {
	if len(data) > MaxFileSize {
		return nil, fmt.Errorf("%w: %d bytes, more than %d", ErrBadFile, len(data), MaxFileSize)
	}
	rules := newRules()
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadFile, err)
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return rules, nil
	}
	root := doc.Content[0]
	if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
		return rules, nil
	}
	err := eachKey(root, "the file", func(key, value *yaml.Node) error {
		switch key.Value {
		case "globalWhiteRemoteAddresses":
			return parseAddrList(value, &rules.globalWhite)
		case "accounts":
			return parseAccounts(value, rules)
		case "dataVersion":
			return nil // RocketMQ's bookkeeping of its own edits; not a rule
		}
		return lineError(key.Line, "unknown key %q (want globalWhiteRemoteAddresses, accounts)", key.Value)
	})
	if err != nil {
		return nil, err
	}
	return rules, nil
}

// eachKey calls fn for every key of a mapping, refusing anything but a
// mapping, aliases and keys given twice.
func eachKey(n *yaml.Node, what string, fn func(key, value *yaml.Node) error) error {
	if n.Kind != yaml.MappingNode {
		return lineError(n.Line, "%s must be a mapping of keys to values", what)
	}
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			return lineError(k.Line, "keys must be plain words")
		}
		if first, dup := seen[k.Value]; dup {
			return lineError(k.Line, "key %q given twice (first on line %d)", k.Value, first)
		}
		seen[k.Value] = k.Line
		if v.Kind == yaml.AliasNode {
			return lineError(v.Line, "aliases are not supported")
		}
		if err := fn(k, v); err != nil {
			return err
		}
	}
	return nil
}

// scalar reads a scalar value (numbers read as their text: secretKey:
// 12345678 is the string "12345678"); null reads as "".
func scalar(n *yaml.Node, key string) (string, error) {
	if n.Kind != yaml.ScalarNode {
		return "", lineError(n.Line, "%s must be a single value", key)
	}
	if n.Tag == "!!null" {
		return "", nil
	}
	return n.Value, nil
}

// stringList reads a sequence of scalars; null is an empty list.
func stringList(n *yaml.Node, key string) ([]string, []int, error) {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return nil, nil, nil
	}
	if n.Kind != yaml.SequenceNode {
		return nil, nil, lineError(n.Line, "%s must be a list", key)
	}
	values := make([]string, 0, len(n.Content))
	lines := make([]int, 0, len(n.Content))
	for _, item := range n.Content {
		v, err := scalar(item, "an item of "+key)
		if err != nil {
			return nil, nil, err
		}
		values, lines = append(values, v), append(lines, item.Line)
	}
	return values, lines, nil
}

func parseAddrList(n *yaml.Node, set *addrSet) error {
	values, lines, err := stringList(n, "globalWhiteRemoteAddresses")
	if err != nil {
		return err
	}
	for i, v := range values {
		if err := set.addPattern(v); err != nil {
			return lineError(lines[i], "%v", err)
		}
	}
	return nil
}

func parseAccounts(n *yaml.Node, rules *Rules) error {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		return lineError(n.Line, "accounts must be a list")
	}
	for _, item := range n.Content {
		a, err := parseAccount(item)
		if err != nil {
			return err
		}
		if prev, dup := rules.accounts[a.AccessKey]; dup {
			return lineError(a.line, "account %q defined twice (first on line %d)", a.AccessKey, prev.line)
		}
		rules.accounts[a.AccessKey] = a
	}
	return nil
}

// parseAccount reads one account mapping.
func parseAccount(n *yaml.Node) (*Account, error) {
	a := &Account{line: n.Line, defaultTopic: Deny, defaultGroup: Deny,
		topics: map[string]Perm{}, groups: map[string]Perm{}}
	err := eachKey(n, "an account", a.set)
	if err != nil {
		return nil, err
	}
	if len(a.AccessKey) < minKeyLength || len(a.secret) < minKeyLength {
		return nil, lineError(n.Line, "account %q: accessKey and secretKey must each be at least %d characters",
			a.AccessKey, minKeyLength)
	}
	a.initSigner()
	return a, nil
}

// set applies one key of an account.
func (a *Account) set(k, v *yaml.Node) error {
	key := k.Value
	switch key {
	case "accessKey", "secretKey", "whiteRemoteAddress", "defaultTopicPerm", "defaultGroupPerm":
		s, err := scalar(v, key)
		if err != nil {
			return err
		}
		return a.setScalar(key, s, v.Line)
	case "admin":
		s, err := scalar(v, key)
		if err != nil {
			return err
		}
		switch strings.ToLower(s) {
		case "true":
			a.Admin = true
		case "false", "":
		default:
			return lineError(v.Line, "admin: want true or false, got %q", s)
		}
		return nil
	case "topicPerms":
		return a.setResourcePerms(v, key, a.topics)
	case "groupPerms":
		return a.setResourcePerms(v, key, a.groups)
	}
	return lineError(k.Line, "unknown key %q in an account (want accessKey, secretKey, whiteRemoteAddress, admin, "+
		"defaultTopicPerm, defaultGroupPerm, topicPerms, groupPerms)", key)
}

func (a *Account) setScalar(key, s string, line int) error {
	var err error
	switch key {
	case "accessKey":
		a.AccessKey = s
	case "secretKey":
		a.secret = []byte(s)
	case "whiteRemoteAddress":
		err = a.white.addPattern(s)
	case "defaultTopicPerm":
		a.defaultTopic, err = parseDefaultPerm(s)
	case "defaultGroupPerm":
		a.defaultGroup, err = parseDefaultPerm(s)
	}
	if err != nil {
		return lineError(line, "%s: %v", key, err)
	}
	return nil
}

// parseDefaultPerm reads a default permission; absent or empty is DENY,
// as in RocketMQ.
func parseDefaultPerm(s string) (Perm, error) {
	if strings.TrimSpace(s) == "" {
		return Deny, nil
	}
	return ParsePerm(s)
}

// setResourcePerms reads "name=PERM" items.
func (a *Account) setResourcePerms(v *yaml.Node, key string, into map[string]Perm) error {
	items, lines, err := stringList(v, key)
	if err != nil {
		return err
	}
	for i, item := range items {
		name, permText, ok := strings.Cut(item, "=")
		name = strings.TrimSpace(name)
		if !ok || name == "" || strings.Contains(permText, "=") {
			return lineError(lines[i], "%s item %q: want name=PERM (topicA=PUB)", key, item)
		}
		p, err := ParsePerm(permText)
		if err != nil {
			return lineError(lines[i], "%s item %q: %v", key, item, err)
		}
		if _, dup := into[name]; dup {
			return lineError(lines[i], "%s: %q given twice", key, name)
		}
		into[name] = p
	}
	return nil
}
