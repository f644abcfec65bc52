package namesrv

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cometmq/comet/netio/remoting"
	"github.com/cometmq/comet/routing"
)

// switchInvoker answers success, or fails for the addresses marked down.
type switchInvoker struct {
	mu   sync.Mutex
	down map[string]bool
}

func (s *switchInvoker) setDown(addr string, down bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.down[addr] = down
}

func (s *switchInvoker) Invoke(_ context.Context, addr string, req *remoting.Command) (*remoting.Command, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.down[addr] {
		return nil, errors.New("connection refused")
	}
	return remoting.NewResponse(req, remoting.ResponseSuccess, ""), nil
}

func TestRegistrationStateAndReadiness(t *testing.T) {
	inv := &switchInvoker{down: map[string]bool{"10.0.0.1:9876": true, "10.0.0.2:9876": true}}
	var logs bytes.Buffer
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	r, err := newRegistrar(inv, RegistrarOptions{NamesrvAddrs: []string{"10.0.0.1:9876", "10.0.0.2:9876"}, ClusterName: "c",
		BrokerName: "b", BrokerAddr: "127.0.0.1:10911", Topics: func() []routing.TopicConfig { return nil },
		Logger: slog.New(slog.NewTextHandler(&logs, nil)), Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.NotRegistered(); !errors.Is(err, ErrNotRegistered) || !strings.Contains(err.Error(), "no answer yet") {
		t.Fatalf("before the first registration: %v", err)
	}
	r.RegisterAll(context.Background())
	err = r.NotRegistered()
	if !errors.Is(err, ErrNotRegistered) || strings.Count(err.Error(), "connection refused") != 2 {
		t.Fatalf("every name server down: %v", err)
	}
	if !strings.Contains(logs.String(), "request=REGISTER_BROKER") || strings.Contains(logs.String(), "code=") {
		t.Errorf("log lines must name the request:\n%s", logs.String())
	}
	inv.setDown("10.0.0.2:9876", false)
	r.RegisterAll(context.Background())
	if err := r.NotRegistered(); err != nil {
		t.Fatalf("one name server holds the registration: %v", err)
	}
	st := r.Registration()
	if len(st) != 2 || st[0].Registered || st[0].Failures != 2 || st[0].LastError != "connection refused" {
		t.Errorf("down name server: %+v", st[0])
	}
	if !st[1].Registered || st[1].Failures != 1 || st[1].LastError != "" || !st[1].LastSuccess.Equal(now) {
		t.Errorf("reachable name server: %+v", st[1])
	}
}
