package acl

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// addrSet is a compiled white-list address entry, RocketMQ's
// RemoteAddressStrategy: "*" (any address), one address, a comma list,
// a brace list in the last part ("192.168.0.{1,2}"), or IPv4 parts that are
// numbers, ranges "a-b" or "*" ("192.168.1.1-100", "10.10.*"). An empty
// entry matches nothing.
type addrSet struct {
	all    bool
	exact  []netip.Addr
	ranges []ipv4Range
}

// ipv4Range bounds each of the four parts of an IPv4 address.
type ipv4Range struct{ lo, hi [4]uint8 }

func (r ipv4Range) contains(a [4]byte) bool {
	for i := range a {
		if a[i] < r.lo[i] || a[i] > r.hi[i] {
			return false
		}
	}
	return true
}

// match reports whether ip (unmapped) is in the set.
func (s *addrSet) match(ip netip.Addr) bool {
	if s.all {
		return true
	}
	if !ip.IsValid() {
		return false
	}
	ip = ip.Unmap()
	for _, e := range s.exact {
		if e == ip {
			return true
		}
	}
	if ip.Is4() {
		a := ip.As4()
		for _, r := range s.ranges {
			if r.contains(a) {
				return true
			}
		}
	}
	return false
}

func (s *addrSet) empty() bool { return !s.all && len(s.exact) == 0 && len(s.ranges) == 0 }

// addPattern compiles one white-list entry into s.
func (s *addrSet) addPattern(pattern string) error {
	p := strings.TrimSpace(pattern)
	switch {
	case p == "":
		return nil
	case p == "*" || p == "*.*.*.*" || p == "*:*:*:*:*:*:*:*":
		s.all = true
		return nil
	case strings.HasSuffix(p, "}"):
		return s.addBraceList(p)
	case strings.Contains(p, ","):
		for _, one := range strings.Split(p, ",") {
			if err := s.addExact(one); err != nil {
				return err
			}
		}
		return nil
	case strings.ContainsAny(p, "*-"):
		return s.addRange(p)
	}
	return s.addExact(p)
}

func (s *addrSet) addExact(text string) error {
	ip, err := netip.ParseAddr(strings.TrimSpace(text))
	if err != nil {
		return fmt.Errorf("address %q: not an IPv4 or IPv6 address", text)
	}
	s.exact = append(s.exact, ip.Unmap())
	return nil
}

// addBraceList reads "head{a,b,c}": the addresses head+a, head+b, head+c.
func (s *addrSet) addBraceList(p string) error {
	open := strings.LastIndexByte(p, '{')
	if open < 0 || (!strings.HasSuffix(p[:open], ".") && !strings.HasSuffix(p[:open], ":")) {
		return fmt.Errorf("address %q: a brace list must be the last part (192.168.0.{1,2})", p)
	}
	head := p[:open]
	for _, last := range strings.Split(p[open+1:len(p)-1], ",") {
		if err := s.addExact(head + strings.TrimSpace(last)); err != nil {
			return err
		}
	}
	return nil
}

// addRange reads IPv4 parts that are numbers, "a-b" or "*"; fewer than four
// parts are allowed when the last is "*" (the rest are "*" too).
func (s *addrSet) addRange(p string) error {
	if strings.Contains(p, ":") {
		return fmt.Errorf("address %q: IPv6 ranges are not supported; list the addresses", p)
	}
	parts := strings.Split(p, ".")
	if len(parts) > 4 || (len(parts) < 4 && strings.TrimSpace(parts[len(parts)-1]) != "*") {
		return fmt.Errorf("address %q: want four parts, each a number, a range a-b or *", p)
	}
	r := ipv4Range{hi: [4]uint8{255, 255, 255, 255}}
	for i, part := range parts {
		lo, hi, err := parseRangePart(strings.TrimSpace(part))
		if err != nil {
			return fmt.Errorf("address %q: %v", p, err)
		}
		r.lo[i], r.hi[i] = lo, hi
	}
	s.ranges = append(s.ranges, r)
	return nil
}

func parseRangePart(part string) (lo, hi uint8, err error) {
	if part == "*" {
		return 0, 255, nil
	}
	a, b, isRange := strings.Cut(part, "-")
	if !isRange {
		b = a
	}
	l, err1 := strconv.ParseUint(a, 10, 8)
	h, err2 := strconv.ParseUint(b, 10, 8)
	if err1 != nil || err2 != nil || l > h {
		return 0, 0, fmt.Errorf("part %q: want 0..255, a range a-b with a <= b, or *", part)
	}
	return uint8(l), uint8(h), nil
}

// remoteIP reads the address of a "host:port" (or bare host) remote
// address; an unreadable one is the zero Addr, which no entry but "*"
// matches.
func remoteIP(remote string) netip.Addr {
	if ap, err := netip.ParseAddrPort(remote); err == nil {
		return ap.Addr().Unmap()
	}
	if ip, err := netip.ParseAddr(remote); err == nil {
		return ip.Unmap()
	}
	return netip.Addr{}
}
