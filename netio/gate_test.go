package netio

import (
	"errors"
	"net"
	"sync/atomic"
	"testing"

	"github.com/cometmq/comet/netio/remoting"
)

// gateFunc adapts a function to Gate.
type gateFunc func(remoteAddr string, cmd *remoting.Command) error

func (f gateFunc) Admit(remoteAddr string, cmd *remoting.Command) error { return f(remoteAddr, cmd) }

// TestGateRefusesBeforeHandler: a refused request never reaches its
// handler, is answered NO_PERMISSION with the gate's reason, and the
// connection keeps serving the requests the gate admits.
func TestGateRefusesBeforeHandler(t *testing.T) {
	var handled atomic.Int32
	var sawRemote atomic.Value
	gate := gateFunc(func(remote string, cmd *remoting.Command) error {
		sawRemote.Store(remote)
		if string(cmd.Body) == "deny" {
			return errors.New("acl: no permission: topic=B needs PUB")
		}
		return nil
	})
	s := startServer(t, Options{Gate: gate}, func(s *Server) {
		s.Handle(codeEcho, func(req *Request) { handled.Add(1); echo(req) })
	})
	tc := dial(t, s.Addr())
	opaque := tc.send(codeEcho, []byte("deny"))
	resp := tc.mustRead()
	if resp.Opaque != opaque || resp.Code != remoting.ResponseNoPermission || resp.Remark != "acl: no permission: topic=B needs PUB" {
		t.Fatalf("refusal = code %d opaque %d remark %q", resp.Code, resp.Opaque, resp.Remark)
	}
	if handled.Load() != 0 {
		t.Fatal("the handler ran for a refused request")
	}
	tc.roundTrip("allowed")
	if handled.Load() != 1 {
		t.Fatalf("handled = %d after an admitted request", handled.Load())
	}
	if got := sawRemote.Load().(string); got != tc.conn.LocalAddr().(*net.TCPAddr).String() {
		t.Fatalf("gate saw remote %q, want the client's %q", got, tc.conn.LocalAddr())
	}
	if st := s.Stats(); st.Refused != 1 || st.Connections != 1 {
		t.Fatalf("stats: refused %d, connections %d", st.Refused, st.Connections)
	}
}
