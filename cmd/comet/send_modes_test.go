package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"testing"
	"time"

	"github.com/apache/rocketmq-client-go/v2/consumer"
	"github.com/apache/rocketmq-client-go/v2/primitive"
)

func TestAsyncOnewayAndBatchSendAreConsumedExactly(t *testing.T) {
	nsAddr, _ := startComet(t, t.TempDir())
	p := startProducer(t, nsAddr)
	const topic = "SendModes"
	var want []string

	const asyncCount = 20
	asyncDone := make(chan error, asyncCount)
	for i := 0; i < asyncCount; i++ {
		body := fmt.Sprintf("async-%d", i)
		want = append(want, body)
		err := p.SendAsync(context.Background(), func(_ context.Context, res *primitive.SendResult, err error) {
			if err == nil && res.Status != primitive.SendOK {
				err = fmt.Errorf("status %d", res.Status)
			}
			asyncDone <- err
		}, primitive.NewMessage(topic, []byte(body)))
		if err != nil {
			t.Fatalf("SendAsync %d: %v", i, err)
		}
	}
	for i := 0; i < asyncCount; i++ {
		select {
		case err := <-asyncDone:
			if err != nil {
				t.Fatalf("async callback: %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Fatalf("only %d of %d async callbacks ran", i, asyncCount)
		}
	}

	for i := 0; i < 20; i++ {
		body := fmt.Sprintf("oneway-%d", i)
		want = append(want, body)
		if err := p.SendOneWay(context.Background(), primitive.NewMessage(topic, []byte(body))); err != nil {
			t.Fatalf("SendOneWay %d: %v", i, err)
		}
	}

	var batch []*primitive.Message
	for i := 0; i < 10; i++ {
		body := fmt.Sprintf("batch-%d", i)
		want = append(want, body)
		batch = append(batch, primitive.NewMessage(topic, []byte(body)))
	}
	sendSyncOK(t, p, batch...)

	sink := &collector{}
	startPushConsumer(t, nsAddr, uniqueName("cg"), topic, consumer.MessageSelector{}, sink)
	requireExactly(t, sink, want, 20*time.Second)
}

func TestLargeBodiesConsumedByteExact(t *testing.T) {
	nsAddr, _ := startComet(t, t.TempDir())
	p := startProducer(t, nsAddr)
	const topic = "LargeBodies"
	random := make([]byte, 3<<20)
	if _, err := rand.Read(random); err != nil {
		t.Fatal(err)
	}
	compressible := bytes.Repeat([]byte("comet compressible line 0123456789\n"), (1<<20)/35+1)[:1<<20]
	sendSyncOK(t, p, primitive.NewMessage(topic, random))
	sendSyncOK(t, p, primitive.NewMessage(topic, compressible))

	sink := &collector{}
	startPushConsumer(t, nsAddr, uniqueName("cg"), topic, consumer.MessageSelector{}, sink)
	requireExactly(t, sink, []string{string(random), string(compressible)}, 20*time.Second)
}
