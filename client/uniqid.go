package client

import (
	"encoding/binary"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// Producer message ids (the UNIQ_KEY property), RocketMQ's layout:
//
//	+---------+------+--------------------------------------------------+
//	| field   | size | value                                            |
//	+---------+------+--------------------------------------------------+
//	| ip      | 4    | the client's IPv4 address                        |
//	| pid     | 2    | process id (low 16 bits)                         |
//	| loader  | 4    | 0 (Java's class-loader hash)                     |
//	| time    | 4    | milliseconds since the start of the current month |
//	| counter | 2    | process-wide sequence                            |
//	+---------+------+--------------------------------------------------+
//
// as 32 upper-case hex characters. Brokers treat it as opaque; it is unique
// per process as long as fewer than 65536 ids are made in one millisecond.

var uniqIDs = newUniqIDGenerator(localIPv4(), os.Getpid())

type uniqIDGenerator struct {
	prefix  [20]byte // hex of ip, pid, loader
	counter atomic.Uint32
	month   atomic.Pointer[monthWindow]
	mu      sync.Mutex // serialises month roll-over
}

type monthWindow struct{ start, next int64 } // unix ms

func newUniqIDGenerator(ip net.IP, pid int) *uniqIDGenerator {
	g := &uniqIDGenerator{}
	var raw [10]byte
	copy(raw[:4], ip.To4())
	binary.BigEndian.PutUint16(raw[4:], uint16(pid))
	appendHex(g.prefix[:0], raw[:])
	return g
}

// next returns a fresh id.
func (g *uniqIDGenerator) next() string {
	now := time.Now().UnixMilli()
	w := g.month.Load()
	if w == nil || now >= w.next || now < w.start {
		w = g.rollMonth(now)
	}
	var raw [6]byte
	binary.BigEndian.PutUint32(raw[:4], uint32(now-w.start))
	binary.BigEndian.PutUint16(raw[4:], uint16(g.counter.Add(1)))
	var out [32]byte
	copy(out[:], g.prefix[:])
	appendHex(out[20:20], raw[:])
	return string(out[:])
}

func (g *uniqIDGenerator) rollMonth(now int64) *monthWindow {
	g.mu.Lock()
	defer g.mu.Unlock()
	if w := g.month.Load(); w != nil && now >= w.start && now < w.next {
		return w
	}
	t := time.UnixMilli(now)
	start := time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, t.Location())
	w := &monthWindow{start: start.UnixMilli(), next: start.AddDate(0, 1, 0).UnixMilli()}
	g.month.Store(w)
	return w
}

const hexUpper = "0123456789ABCDEF"

func appendHex(dst, src []byte) []byte {
	for _, b := range src {
		dst = append(dst, hexUpper[b>>4], hexUpper[b&0xF])
	}
	return dst
}

// localIPv4 is the first non-loopback IPv4 address of the host, or
// 127.0.0.1.
func localIPv4() net.IP {
	addrs, err := net.InterfaceAddrs()
	if err == nil {
		for _, a := range addrs {
			if ipnet, ok := a.(*net.IPNet); ok && !ipnet.IP.IsLoopback() {
				if ip4 := ipnet.IP.To4(); ip4 != nil {
					return ip4
				}
			}
		}
	}
	return net.IPv4(127, 0, 0, 1).To4()
}
