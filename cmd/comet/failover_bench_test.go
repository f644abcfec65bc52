package main

import (
	"context"
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cometmq/comet/controller"
	"github.com/cometmq/comet/internal/testutil"
	"github.com/cometmq/comet/netio/remoting"
)

// BenchmarkFailoverTime measures, with default settings (the controllers'
// --election-timeout 3s and --raft-timeout 500ms, the brokers'
// --controller-heartbeat 1s), the time from kill -9 of a group's master to
// the first SEND_OK on its new master. One iteration is one failover of a
// group of three processes under three controller processes; the killed
// member restarts between iterations, out of the timer.
//
//	go test ./cmd/comet -run '^$' -bench BenchmarkFailoverTime -benchtime 5x
//
// The master's lease (--election-timeout) bounds it: the controllers elect
// once it lapses, at most 3 s after the master's last renewal.
func BenchmarkFailoverTime(b *testing.B) {
	bin := testutil.BuildComet(b)
	free := func() string {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		defer l.Close()
		return l.Addr().String()
	}
	var ctlAddrs, peers []string
	for i := range 3 {
		ctlAddrs = append(ctlAddrs, free())
		peers = append(peers, fmt.Sprintf("n%d=%s", i, ctlAddrs[i]))
	}
	for i := range 3 {
		testutil.StartComet(b, exec.Command(bin, "controller", "--id", fmt.Sprintf("n%d", i), "--listen", ctlAddrs[i],
			"--peers", strings.Join(peers, ","), "--data-dir", filepath.Join(b.TempDir(), "c")), 30*time.Second)
	}
	ns := free()
	testutil.StartComet(b, exec.Command(bin, "namesrv", "--namesrv-listen", ns, "--http-listen", ""), 30*time.Second)
	type member struct {
		addr string
		args []string
		proc *testutil.Process
	}
	members := make([]*member, 3)
	for i := range members {
		m := &member{addr: free()}
		m.args = []string{"--data-dir", b.TempDir(), "--listen", m.addr, "--ha-listen", free(), "--namesrv-listen", "",
			"--namesrv", ns, "--http-listen", "", "--broker-name", "bench", "--controller", strings.Join(ctlAddrs, ","),
			"--replication", "sync", "--min-insync-replicas", "2", "--segment-size", fmt.Sprint(16 << 20)}
		m.proc = testutil.StartComet(b, exec.Command(bin, m.args...), 60*time.Second)
		members[i] = m
	}
	ctl, err := controller.NewClient(controller.ClientOptions{Addrs: ctlAddrs, CallTimeout: 3 * time.Second})
	if err != nil {
		b.Fatal(err)
	}
	defer ctl.Close()
	raw := remoting.NewClient(remoting.ClientOptions{})
	defer raw.Close()
	sendOK := func(addr string) bool {
		resp, err := rawSendTo(raw, addr, "FailoverBench", 0, []byte("x"))
		return err == nil && resp.Code == remoting.ResponseSuccess
	}
	healthyMaster := func() *member {
		var master *member
		testutil.WaitFor(b, 60*time.Second, "a healthy group", func() bool {
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			defer cancel()
			info, err := ctl.ReplicaInfo(ctx, "DefaultCluster", "bench")
			if err != nil || len(info.SyncStateSet) < 3 {
				return false
			}
			i := slices.IndexFunc(members, func(m *member) bool { return m.addr == info.MasterAddr })
			if i < 0 || !sendOK(members[i].addr) {
				return false
			}
			master = members[i]
			return true
		})
		return master
	}
	var took []time.Duration
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		old := healthyMaster()
		time.Sleep(time.Duration(len(took)%5) * 200 * time.Millisecond) // kill at different points of the lease
		b.StartTimer()
		killed := time.Now()
		old.proc.Kill9(b)
		testutil.WaitFor(b, 30*time.Second, "SEND_OK on a new master", func() bool {
			for _, m := range members {
				if m != old && sendOK(m.addr) {
					return true
				}
			}
			return false
		})
		took = append(took, time.Since(killed))
		b.StopTimer()
		old.proc = testutil.StartComet(b, exec.Command(bin, old.args...), 60*time.Second)
		b.StartTimer()
	}
	b.StopTimer()
	slices.Sort(took)
	b.ReportMetric(float64(took[len(took)/2].Milliseconds()), "p50-ms")
	b.ReportMetric(float64(took[len(took)-1].Milliseconds()), "max-ms")
}
