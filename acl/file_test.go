package acl

import (
	"errors"
	"strings"
	"testing"
)

// sampleFile is RocketMQ 4.9.8's distribution/conf/plain_acl.yml, as
// operators have it.
const sampleFile = `
globalWhiteRemoteAddresses:
  - 10.10.103.*
  - 192.168.0.*

accounts:
  - accessKey: RocketMQ
    secretKey: 12345678
    whiteRemoteAddress:
    admin: false
    defaultTopicPerm: DENY
    defaultGroupPerm: SUB
    topicPerms:
      - topicA=DENY
      - topicB=PUB|SUB
      - topicC=SUB
    groupPerms:
      # the group should convert to retry topic
      - groupA=DENY
      - groupB=PUB|SUB
      - groupC=SUB

  - accessKey: rocketmq2
    secretKey: 12345678
    whiteRemoteAddress: 192.168.1.*
    # if it is admin, it could access all resources
    admin: true
`

func TestParseSample(t *testing.T) {
	r, err := Parse([]byte(sampleFile))
	if err != nil {
		t.Fatal(err)
	}
	if r.Accounts() != 2 {
		t.Fatalf("accounts = %d, want 2", r.Accounts())
	}
	a := r.accounts["RocketMQ"]
	if a == nil || a.Admin || string(a.secret) != "12345678" || a.defaultTopic != Deny || a.defaultGroup != Sub {
		t.Fatalf("account RocketMQ = %+v", a)
	}
	if a.topics["topicB"] != Pub|Sub || a.topics["topicA"] != Deny || a.groups["groupC"] != Sub {
		t.Fatalf("perms: topics %v groups %v", a.topics, a.groups)
	}
	if !a.white.empty() {
		t.Fatal("an empty whiteRemoteAddress must match nothing")
	}
	b := r.accounts["rocketmq2"]
	if b == nil || !b.Admin || !b.white.match(remoteIP("192.168.1.7:1234")) {
		t.Fatalf("account rocketmq2 = %+v", b)
	}
	if !r.globalWhite.match(remoteIP("10.10.103.200:1")) || r.globalWhite.match(remoteIP("10.10.104.1:1")) {
		t.Fatal("global white list")
	}
}

func TestParseEmpty(t *testing.T) {
	for _, text := range []string{"", "\n# nothing\n", "~", "accounts:\nglobalWhiteRemoteAddresses:\n"} {
		r, err := Parse([]byte(text))
		if err != nil || r.Accounts() != 0 || !r.globalWhite.empty() {
			t.Errorf("Parse(%q) = %v, %v; want no accounts, no white list", text, r, err)
		}
	}
}

func TestParseErrorsNameTheLine(t *testing.T) {
	cases := []struct{ name, text, want string }{
		{"unknown top key", "accounts: []\nglobalWhiteRemoteAddress:\n  - 1.2.3.4\n", "line 2: unknown key \"globalWhiteRemoteAddress\""},
		{"unknown account key", "accounts:\n  - accessKey: abcdefg\n    secretKey: abcdefg\n    adminn: true\n", "line 4: unknown key \"adminn\""},
		{"duplicate account", "accounts:\n  - accessKey: abcdefg\n    secretKey: 1234567\n  - accessKey: abcdefg\n    secretKey: 7654321\n",
			"line 4: account \"abcdefg\" defined twice (first on line 2)"},
		{"duplicate key", "accounts:\n  - accessKey: abcdefg\n    secretKey: 1234567\n    secretKey: 7654321\n", "line 4: key \"secretKey\" given twice"},
		{"bad perm", "accounts:\n  - accessKey: abcdefg\n    secretKey: 1234567\n    topicPerms:\n      - a=PUBSUB\n", "line 5: topicPerms item \"a=PUBSUB\""},
		{"bad default perm", "accounts:\n  - accessKey: abcdefg\n    secretKey: 1234567\n    defaultTopicPerm: ALL\n", "line 4: defaultTopicPerm"},
		{"no equals", "accounts:\n  - accessKey: abcdefg\n    secretKey: 1234567\n    groupPerms: [g1]\n", "want name=PERM"},
		{"short key", "accounts:\n  - accessKey: abc\n    secretKey: 1234567\n", "line 2: account \"abc\": accessKey and secretKey must each be at least 7"},
		{"missing secret", "accounts:\n  - accessKey: abcdefg\n", "at least 7"},
		{"bad address", "globalWhiteRemoteAddresses:\n  - 10.10.300.*\n", "line 2: address \"10.10.300.*\""},
		{"bad admin", "accounts:\n  - accessKey: abcdefg\n    secretKey: 1234567\n    admin: yes please\n", "line 4: admin"},
		{"not a mapping", "- a\n- b\n", "line 1: the file must be a mapping"},
		{"accounts not a list", "accounts: abc\n", "line 1: accounts must be a list"},
		{"alias", "x: &a [1]\naccounts: *a\n", "line 1: unknown key \"x\""},
		{"alias value", "accounts:\n  - &acc {accessKey: abcdefg, secretKey: 1234567}\nglobalWhiteRemoteAddresses: *acc\n", "aliases are not supported"},
		{"bad yaml", "accounts: [\n", "acl: bad ACL file"},
		{"ipv6 range", "globalWhiteRemoteAddresses: ['1050::*']\n", "IPv6 ranges are not supported"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.text))
			if !errors.Is(err, ErrBadFile) {
				t.Fatalf("err = %v, want ErrBadFile", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %q, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestParseRefusesHugeFile(t *testing.T) {
	_, err := Parse(make([]byte, MaxFileSize+1))
	if !errors.Is(err, ErrBadFile) {
		t.Fatalf("err = %v", err)
	}
}

func TestAddressPatterns(t *testing.T) {
	cases := []struct {
		pattern string
		in, out []string
	}{
		{"*", []string{"1.2.3.4:5", "[::1]:9"}, nil},
		{"192.168.0.{1,2}", []string{"192.168.0.1:1", "192.168.0.2:1"}, []string{"192.168.0.3:1"}},
		{"192.168.1.1-100", []string{"192.168.1.1:1", "192.168.1.100:1"}, []string{"192.168.1.101:1", "192.168.2.5:1"}},
		{"10.10.*", []string{"10.10.0.0:1", "10.10.255.255:1"}, []string{"10.11.0.1:1"}},
		{"192.168.1-10.*", []string{"192.168.5.77:1"}, []string{"192.168.11.1:1"}},
		{"1.1.1.1,2.2.2.2", []string{"1.1.1.1:1", "2.2.2.2:1"}, []string{"3.3.3.3:1"}},
		{"127.0.0.1", []string{"127.0.0.1:80", "[::ffff:127.0.0.1]:80"}, []string{"127.0.0.2:80", "garbage"}},
		{"::1", []string{"[::1]:80"}, []string{"127.0.0.1:80"}},
		{"", nil, []string{"1.2.3.4:5"}},
	}
	for _, tc := range cases {
		var s addrSet
		if err := s.addPattern(tc.pattern); err != nil {
			t.Fatalf("%q: %v", tc.pattern, err)
		}
		for _, a := range tc.in {
			if !s.match(remoteIP(a)) {
				t.Errorf("%q must match %s", tc.pattern, a)
			}
		}
		for _, a := range tc.out {
			if s.match(remoteIP(a)) {
				t.Errorf("%q must not match %s", tc.pattern, a)
			}
		}
	}
	for _, bad := range []string{"1.2.3", "1.2.3.4.5", "1.2.3.x", "1.2.3.5-4", "1.2.{3,4}.5", "300.1.1.1", "a,b"} {
		var s addrSet
		if err := s.addPattern(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}
