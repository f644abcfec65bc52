package config

import (
	"errors"
	"strings"
	"testing"
)

func TestVIPListenDerivesPortMinusTwo(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{nil, "127.0.0.1:10909"},
		{[]string{"-listen", "0.0.0.0:20911"}, "0.0.0.0:20909"},
		{[]string{"-listen", "127.0.0.1:0"}, ""}, // nothing to derive from
		{[]string{"-vip-listen", ""}, ""},
		{[]string{"-vip-listen", "127.0.0.1:30000"}, "127.0.0.1:30000"},
	}
	for _, tc := range cases {
		c, err := loadWith(t, tc.args, nil)
		if err != nil {
			t.Fatalf("%v: %v", tc.args, err)
		}
		if got := c.BrokerOptions(nil).VIPListen; got != tc.want {
			t.Errorf("%v: VIP address %q, want %q", tc.args, got, tc.want)
		}
	}
	_, err := loadWith(t, []string{"-vip-listen", "nope"}, nil)
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "vip-listen") {
		t.Fatalf("bad vip-listen: %v, want ErrInvalid naming vip-listen", err)
	}
	c, err := loadWith(t, nil, map[string]string{"COMET_VIP_LISTEN": ""})
	if err != nil || c.VIPAddr() != "" {
		t.Fatalf("COMET_VIP_LISTEN empty: %q %v, want the VIP channel off", c.VIPAddr(), err)
	}
}
