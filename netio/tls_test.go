package netio

import (
	"bufio"
	"context"
	"crypto/tls"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cometmq/comet/acl"
	"github.com/cometmq/comet/internal/testutil"
	"github.com/cometmq/comet/netio/remoting"
)

func dialTLS(t testing.TB, addr string, cfg *tls.Config) (*testClient, error) {
	t.Helper()
	raw, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { _ = raw.Close() })
	cfg = cfg.Clone()
	cfg.ServerName = "127.0.0.1"
	conn := tls.Client(raw, cfg)
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	if err := conn.Handshake(); err != nil {
		return nil, err
	}
	_ = conn.SetDeadline(time.Time{})
	return &testClient{t: t, conn: conn, reader: bufio.NewReaderSize(conn, 64<<10)}, nil
}

func startTLSServer(t *testing.T, mode TLSMode, clientCA bool) (*Server, testutil.TLSFiles, *atomic.Value) {
	files := testutil.NewTLSFiles(t, t.TempDir())
	var remote atomic.Value
	s := startServer(t, Options{TLS: &TLSOptions{Config: files.ServerConfig(t, clientCA), Mode: mode}}, func(s *Server) {
		s.Handle(codeEcho, func(req *Request) { remote.Store(req.Conn.RemoteAddr()); echo(req) })
	})
	return s, files, &remote
}

func TestTLSEnforcing(t *testing.T) {
	s, files, remote := startTLSServer(t, TLSEnforcing, false)
	tc, err := dialTLS(t, s.Addr(), files.ClientConfig(t, false))
	if err != nil {
		t.Fatalf("handshake: %v", err)
	}
	tc.roundTrip("over tls")
	big := make([]byte, 3<<20) // larger than every buffer on the way
	for i := range big {
		big[i] = byte(i)
	}
	tc.roundTrip(string(big))
	if got := remote.Load().(string); got != tc.conn.LocalAddr().String() {
		t.Fatalf("handler saw remote %q, want the client's %q", got, tc.conn.LocalAddr())
	}
	plain := dial(t, s.Addr())
	plain.send(codeEcho, []byte("plain"))
	plain.expectClosed()
	testutil.WaitFor(t, 5*time.Second, "the refusal to be counted", func() bool { return s.TLSStats().RefusedPlain == 1 })
	if st := s.TLSStats(); st.TLS != 1 || st.Plain != 0 {
		t.Fatalf("tls stats %+v", st)
	}
}

func TestTLSPermissiveServesBoth(t *testing.T) {
	s, files, remote := startTLSServer(t, TLSPermissive, false)
	plain := dial(t, s.Addr())
	plain.roundTrip("plain")
	if got := remote.Load().(string); got != plain.conn.LocalAddr().String() {
		t.Fatalf("handler saw remote %q, want %q", got, plain.conn.LocalAddr())
	}
	tc, err := dialTLS(t, s.Addr(), files.ClientConfig(t, false))
	if err != nil {
		t.Fatalf("handshake: %v", err)
	}
	tc.roundTrip("tls")
	plain.roundTrip("plain again")
	if st := s.TLSStats(); st.TLS != 1 || st.Plain != 1 {
		t.Fatalf("tls stats %+v", st)
	}
	if s.Stats().Connections != 2 {
		t.Fatalf("connections = %d", s.Stats().Connections)
	}
}

func TestTLSMutual(t *testing.T) {
	s, files, _ := startTLSServer(t, TLSEnforcing, true)
	if tc, err := dialTLS(t, s.Addr(), files.ClientConfig(t, false)); err == nil {
		// TLS 1.3 reports a refused client certificate on the first read.
		tc.send(codeEcho, []byte("x"))
		if _, err := tc.read(5 * time.Second); err == nil {
			t.Fatal("served a client without a certificate")
		}
	}
	tc, err := dialTLS(t, s.Addr(), files.ClientConfig(t, true))
	if err != nil {
		t.Fatalf("handshake with a client certificate: %v", err)
	}
	tc.roundTrip("mutual")
	testutil.WaitFor(t, 5*time.Second, "the failed handshake to be counted", func() bool { return s.TLSStats().FailedHandshakes == 1 })
}

// TestTLSClosesEnd: a client closing its TLS connection closes the loop's
// side, and the server closing (Stop) ends the copy goroutines.
func TestTLSCloses(t *testing.T) {
	s, files, _ := startTLSServer(t, TLSEnforcing, false)
	tc, err := dialTLS(t, s.Addr(), files.ClientConfig(t, false))
	if err != nil {
		t.Fatal(err)
	}
	tc.roundTrip("x")
	_ = tc.conn.Close()
	testutil.WaitFor(t, 5*time.Second, "the loop's side to close", func() bool { return s.Stats().Connections == 0 })
	tc2, err := dialTLS(t, s.Addr(), files.ClientConfig(t, false))
	if err != nil {
		t.Fatal(err)
	}
	tc2.roundTrip("y")
}

func TestTLSWithoutCertificate(t *testing.T) {
	s, err := NewServer(Options{Addr: "127.0.0.1:0", TLS: &TLSOptions{Config: &tls.Config{}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err == nil {
		t.Fatal("started TLS without a certificate")
	}
}

// TestRemotingClientOverTLSSigned: remoting.Client with TLS and
// credentials reaches a TLS server whose gate checks RocketMQ signatures.
func TestRemotingClientOverTLSSigned(t *testing.T) {
	files := testutil.NewTLSFiles(t, t.TempDir())
	rules, err := acl.Parse([]byte("accounts:\n  - accessKey: clientAK\n    secretKey: clientSK\n    defaultTopicPerm: PUB\n"))
	if err != nil {
		t.Fatal(err)
	}
	s := startServer(t, Options{Gate: acl.NewGate(acl.Static{R: rules}, acl.BrokerProfile),
		TLS: &TLSOptions{Config: files.ServerConfig(t, true)}}, func(s *Server) { s.Handle(codeEcho, echo) })
	call := func(creds remoting.Credentials) (*remoting.Command, error) {
		c := remoting.NewClient(remoting.ClientOptions{TLS: files.ClientConfig(t, true), Credentials: creds})
		defer c.Close()
		req := remoting.NewRequest(codeEcho)
		req.Body = []byte("signed")
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return c.Invoke(ctx, s.Addr(), req)
	}
	resp, err := call(remoting.Credentials{AccessKey: "clientAK", SecretKey: "clientSK"})
	if err != nil || resp.Code != remoting.ResponseSuccess || string(resp.Body) != "signed" {
		t.Fatalf("signed call: %v %+v", err, resp)
	}
	resp, err = call(remoting.Credentials{AccessKey: "clientAK", SecretKey: "wrong-secret"})
	if err != nil || resp.Code != remoting.ResponseNoPermission || !strings.Contains(resp.Remark, "signature check failed") {
		t.Fatalf("wrongly signed call: %v %+v", err, resp)
	}
	c := remoting.NewClient(remoting.ClientOptions{TLS: files.ClientConfig(t, false)})
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := c.Invoke(ctx, s.Addr(), remoting.NewRequest(codeEcho)); err == nil {
		t.Fatal("a client without a certificate was served")
	}
}
