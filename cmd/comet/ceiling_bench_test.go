package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apache/rocketmq-client-go/v2/rlog"

	"github.com/cometmq/comet/namesrv"
	"github.com/cometmq/comet/netio"
	"github.com/cometmq/comet/netio/remoting"
	"github.com/cometmq/comet/routing"
)

// BenchmarkSendSyncCeiling is BenchmarkSendSync against a broker that
// stores nothing: a netio server registered with a name server that
// answers every send with SEND_OK on its event loop at once. It measures
// what the official client, the loopback and the event loop allow on this
// machine, so the real broker can be read as a ratio of that ceiling:
//
//	go test -run XXX -bench 'SendSync(Ceiling)?/(flush=async/)?size=128/' -benchtime 20000x ./cmd/comet
func BenchmarkSendSyncCeiling(b *testing.B) {
	rlog.SetLogLevel("error")
	for _, size := range []int{128, 1024} {
		for _, senders := range []int{1, 8, 32} {
			b.Run(fmt.Sprintf("size=%d/senders=%d", size, senders), func(b *testing.B) {
				nsAddr, acked := startNullBroker(b, "Ceiling")
				before := acked.Load()
				sent := runSenders(b, nsAddr, "Ceiling", senders, size)
				if got := acked.Load() - before; got != int64(sent)+1 {
					b.Fatalf("null broker answered %d sends, want %d", got, sent+1)
				}
			})
		}
	}
}

// startNullBroker runs a name server and a broker that owns topic (4
// queues) and acknowledges sends without storing them. It returns the name
// server's address and the count of sends answered.
func startNullBroker(b *testing.B, topic string) (string, *atomic.Int64) {
	b.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	ns, err := namesrv.Serve("127.0.0.1:0", log)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ns.Stop(context.Background()) })
	srv, err := netio.NewServer(netio.Options{Name: "null-broker", Addr: "127.0.0.1:0", Logger: log})
	if err != nil {
		b.Fatal(err)
	}
	acked := new(atomic.Int64)
	var offset atomic.Int64
	send := func(req *netio.Request) {
		h, err := remoting.ParseSendHeader(&req.Cmd)
		if err != nil {
			req.Reply(remoting.NewResponse(&req.Cmd, remoting.ResponseSystemError, err.Error()))
			return
		}
		off := offset.Add(1)
		resp := remoting.NewResponse(&req.Cmd, remoting.ResponseSuccess, "")
		resp.Ext.Set("msgId", string(remoting.AppendOffsetMsgID(nil, []byte{127, 0, 0, 1}, 10911, off*200)))
		resp.Ext.Set("queueId", strconv.Itoa(int(max(h.QueueID, 0))))
		resp.Ext.Set("queueOffset", strconv.FormatInt(off, 10))
		resp.Ext.Set("MSG_REGION", "DefaultRegion")
		resp.Ext.Set("TRACE_ON", "true")
		req.Reply(resp)
		acked.Add(1)
	}
	srv.Handle(remoting.RequestSendMessage, send)
	srv.Handle(remoting.RequestSendMessageV2, send)
	srv.Handle(remoting.RequestHeartbeat, func(req *netio.Request) {
		req.Reply(remoting.NewResponse(&req.Cmd, remoting.ResponseSuccess, ""))
	})
	if err := srv.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { srv.Stop(context.Background()) })
	client := remoting.NewClient(remoting.ClientOptions{})
	b.Cleanup(func() { client.Close() })
	registrar, err := namesrv.NewRegistrar(client, namesrv.RegistrarOptions{
		NamesrvAddrs: []string{ns.Addr()}, ClusterName: "NullCluster", BrokerName: "null-broker",
		BrokerAddr: srv.Addr(), BrokerID: routing.MasterID,
		Topics: func() []routing.TopicConfig {
			return []routing.TopicConfig{{TopicName: topic, ReadQueueNums: 4, WriteQueueNums: 4,
				Perm: 6, TopicFilterType: "SINGLE_TAG"}}
		},
		Logger: log,
	})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := registrar.RegisterAll(ctx); err != nil {
		b.Fatal(err)
	}
	return ns.Addr(), acked
}
