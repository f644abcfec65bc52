package config

import (
	"net"
	"strings"
)

// Store file sizes. Every commit-log segment and key-index file is
// preallocated whole when it is created, so a fresh data directory takes
// their full size on disk after the first message. A broker reachable
// only from its own machine (listen and advertise on loopback: `comet`
// with no arguments, a developer's try-out, tests) gets small files: one
// message leaves about 100 MB (a 64 MiB segment, a 33 MiB key-index file,
// 6 MB per consume queue) instead of 1.6 GB. Any other broker gets the
// large files, whose fewer rolls and index files suit sustained load; an
// explicit segment-size or index-entries always wins.
const (
	smallSegmentBytes   = 64 << 20
	largeSegmentBytes   = 1 << 30
	smallIndexEntries   = 1 << 20
	largeIndexEntries   = 16 << 20
	indexEntriesPerSlot = 4 // key-index hash slots are a quarter of its entries
)

// StoreSizes are the effective file sizes of the store.
type StoreSizes struct {
	SegmentBytes int64
	IndexEntries int
	// Small: the loopback-only defaults apply to at least one of them.
	Small bool
}

// StoreSizes resolves segment-size and index-entries, 0 meaning auto.
func (c *Config) StoreSizes() StoreSizes {
	small := c.loopbackOnly()
	st := StoreSizes{SegmentBytes: int64(c.SegmentSize), IndexEntries: c.IndexEntries}
	if st.SegmentBytes == 0 {
		st.SegmentBytes, st.Small = largeSegmentBytes, st.Small || small
		if small {
			st.SegmentBytes = smallSegmentBytes
		}
	}
	if st.IndexEntries == 0 {
		st.IndexEntries, st.Small = largeIndexEntries, st.Small || small
		if small {
			st.IndexEntries = smallIndexEntries
		}
	}
	// A segment holds at least two of the largest messages.
	st.SegmentBytes = max(st.SegmentBytes, 2*int64(c.MaxMessageSize))
	return st
}

// loopbackOnly reports whether no other machine can reach the broker: it
// listens on a loopback address and advertises none other.
func (c *Config) loopbackOnly() bool {
	return isLoopbackHostPort(c.Listen) && (c.Advertise == "" || isLoopbackHostPort(c.Advertise))
}

func isLoopbackHostPort(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
