package main

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cometmq/comet/controller"
	"github.com/cometmq/comet/internal/testutil"
)

// controllerProcess is one `comet controller` child.
type controllerProcess struct {
	*testutil.Process
	id string
}

func startControllerProcess(t *testing.T, bin, id, peers, addr, dir string) *controllerProcess {
	t.Helper()
	cmd := exec.Command(bin, "controller", "--id", id, "--listen", addr, "--peers", peers, "--data-dir", dir,
		"--election-timeout", "1s", "--raft-timeout", "250ms")
	return &controllerProcess{Process: testutil.StartComet(t, cmd, 30*time.Second), id: id}
}

// TestControllerProcesses runs a three-member quorum as real `comet
// controller` processes, registers a broker group, kills the leader with
// SIGKILL, and checks that the other two go on with the group intact and
// keep the master's lease; the killed member restarts from its data
// directory and rejoins; SIGTERM stops a member cleanly.
func TestControllerProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills the comet binary")
	}
	bin := testutil.BuildComet(t)
	var addrs, parts []string
	for i := range 3 {
		addrs = append(addrs, freeLoopbackAddr(t))
		parts = append(parts, fmt.Sprintf("n%d=%s", i, addrs[i]))
	}
	peers := strings.Join(parts, ",")
	dirs := make([]string, 3)
	procs := make([]*controllerProcess, 3)
	for i := range 3 {
		dirs[i] = filepath.Join(t.TempDir(), fmt.Sprintf("n%d", i))
		procs[i] = startControllerProcess(t, bin, fmt.Sprintf("n%d", i), peers, addrs[i], dirs[i])
	}
	c, err := controller.NewClient(controller.ClientOptions{Addrs: addrs, CallTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	reg, err := c.Register(ctx, controller.RegisterRequest{Cluster: "DefaultCluster", Group: "broker-a",
		Code: controller.NewRegisterCode(), Addr: "127.0.0.1:10911", HAAddr: "127.0.0.1:10912"})
	if err != nil || reg.MasterID != reg.BrokerID || reg.MasterEpoch != 1 {
		t.Fatalf("register: %+v %v", reg, err)
	}
	hb := controller.HeartbeatRequest{Cluster: "DefaultCluster", Group: "broker-a", BrokerID: reg.BrokerID, MasterEpoch: 1, LastEpoch: 1}
	if resp, err := c.Heartbeat(ctx, hb); err != nil || resp.Role != controller.RoleMaster || resp.LeaseMillis <= 0 {
		t.Fatalf("heartbeat: %+v %v", resp, err)
	}

	lead := -1
	testutil.WaitFor(t, 5*time.Second, "a known leader", func() bool { lead = leaderIndex(t, c, addrs); return lead >= 0 })
	killed := time.Now()
	procs[lead].Cmd.Process.Signal(syscall.SIGKILL)
	<-procs[lead].Done()
	// The master keeps heartbeating (every 200 ms) through the change of
	// leader; the rest of the quorum must keep its mastership and epoch.
	var resp *controller.HeartbeatResponse
	testutil.WaitFor(t, 10*time.Second, "a heartbeat answered by the new leader", func() bool {
		resp, err = c.Heartbeat(ctx, hb)
		if err != nil && !errors.Is(err, controller.ErrUnavailable) {
			t.Fatalf("heartbeat after the kill: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
		return err == nil && leaderIndex(t, c, addrs) != lead
	})
	if resp.Role != controller.RoleMaster || resp.MasterEpoch != 1 || resp.MasterID != reg.BrokerID {
		t.Fatalf("after the kill: %+v", resp)
	}
	t.Logf("a new controller leader answered %v after the kill", time.Since(killed))

	procs[lead] = startControllerProcess(t, bin, fmt.Sprintf("n%d", lead), peers, addrs[lead], dirs[lead])
	testutil.WaitFor(t, 10*time.Second, "the restarted member rejoins", func() bool {
		md, err := c.Metadata(ctx, addrs[lead])
		return err == nil && md.LeaderAddr != "" && md.State == "Follower"
	})
	next := -1
	testutil.WaitFor(t, 5*time.Second, "a known leader", func() bool { next = leaderIndex(t, c, addrs); return next >= 0 })
	procs[next].Cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-procs[next].Done():
		if code := procs[next].Cmd.ProcessState.ExitCode(); code != 0 {
			t.Fatalf("SIGTERM exit %d:\n%s", code, procs[next].Stderr.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("no exit after SIGTERM:\n%s", procs[next].Stderr.String())
	}
	if !strings.Contains(procs[next].Stderr.String(), "controller: role change") {
		t.Fatalf("no role-change log line:\n%s", procs[next].Stderr.String())
	}
}

// leaderIndex asks each live member who leads and returns the index of
// that member's address, -1 while none is known.
func leaderIndex(t *testing.T, c *controller.Client, addrs []string) int {
	t.Helper()
	for _, a := range addrs {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		md, err := c.Metadata(ctx, a)
		cancel()
		if err != nil || md.LeaderAddr == "" {
			continue
		}
		for i, b := range addrs {
			if b == md.LeaderAddr {
				return i
			}
		}
	}
	return -1
}
