package remoting

import (
	"errors"
	"net"
	"testing"
)

func TestOffsetMsgIDRoundTrip(t *testing.T) {
	cases := []struct {
		ip     net.IP
		port   int32
		offset int64
		want   string
	}{
		{net.IPv4(192, 168, 0, 1), 10911, 0, "C0A8000100002A9F0000000000000000"},
		{net.IPv4(10, 1, 2, 3).To4(), 10911, 0x1234567890, "0A01020300002A9F0000001234567890"},
		{net.ParseIP("fe80::1"), 10911, 1, ""},
		{net.IPv4(127, 0, 0, 1), -1, -1, "7F000001FFFFFFFFFFFFFFFFFFFFFFFF"},
	}
	for _, tc := range cases {
		id := OffsetMsgID(tc.ip, tc.port, tc.offset)
		if tc.want != "" && id != tc.want {
			t.Fatalf("OffsetMsgID = %s want %s", id, tc.want)
		}
		ip, port, offset, err := ParseOffsetMsgID(id)
		if err != nil || !ip.Equal(tc.ip) || port != tc.port || offset != tc.offset {
			t.Fatalf("%s parsed to %v %d %d %v", id, ip, port, offset, err)
		}
	}
	if len(OffsetMsgID(net.ParseIP("fe80::1"), 1, 1)) != OffsetMsgIDLenIPv6 {
		t.Fatal("IPv6 id length")
	}
	if _, _, off, err := ParseOffsetMsgID("c0a8000100002a9f00000000000000ff"); err != nil || off != 255 {
		t.Fatalf("lower case: %d %v", off, err)
	}
}

func TestParseOffsetMsgIDErrors(t *testing.T) {
	for _, id := range []string{"", "C0A80001", "C0A8000100002A9F000000000000000G", "C0A8000100002A9F00000000000000000"} {
		if _, _, _, err := ParseOffsetMsgID(id); !errors.Is(err, ErrMalformedMsgID) {
			t.Errorf("%q: %v", id, err)
		}
	}
}

func TestAppendOffsetMsgIDDoesNotAllocate(t *testing.T) {
	ip := net.IPv4(10, 0, 0, 1).To4()
	buf := make([]byte, 0, 64)
	allocs := testing.AllocsPerRun(100, func() {
		buf = AppendOffsetMsgID(buf[:0], ip, 10911, 123456)
	})
	if allocs != 0 || len(buf) != 32 {
		t.Fatalf("%v allocs, %d bytes", allocs, len(buf))
	}
}
