package testutil

import (
	"io"
	"net"
	"testing"
	"time"
)

func TestFaultProxyCutsAndHeals(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go io.Copy(c, c) // echo
		}
	}()
	p := StartFaultProxy(t, ln.Addr().String())
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	roundTrip := func(msg string, wait time.Duration) (string, error) {
		if _, err := c.Write([]byte(msg)); err != nil {
			return "", err
		}
		c.SetReadDeadline(time.Now().Add(wait))
		buf := make([]byte, len(msg))
		_, err := io.ReadFull(c, buf)
		return string(buf), err
	}
	if got, err := roundTrip("one", 2*time.Second); err != nil || got != "one" {
		t.Fatalf("before the cut: %q %v", got, err)
	}
	p.Cut()
	if got, err := roundTrip("two", 200*time.Millisecond); err == nil {
		t.Fatalf("an echo crossed the cut: %q", got)
	}
	p.Heal()
	c.SetReadDeadline(time.Now().Add(2 * time.Second))
	buf := make([]byte, 3)
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "two" {
		t.Fatalf("after healing, the bytes held during the cut: %q %v", buf, err)
	}
}
