package remoting

import (
	"bufio"
	"context"
	"encoding/binary"
	"io"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestClientConcurrentSendersKeepFramesIntact(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	var bad atomic.Int64
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				r := bufio.NewReader(c)
				var wmu sync.Mutex
				for {
					var hdr [4]byte
					if _, err := io.ReadFull(r, hdr[:]); err != nil {
						return
					}
					n := binary.BigEndian.Uint32(hdr[:])
					buf := make([]byte, 4+n)
					copy(buf, hdr[:])
					if _, err := io.ReadFull(r, buf[4:]); err != nil {
						return
					}
					cmd := new(Command)
					err := Decode(buf, cmd)
					if err != nil {
						bad.Add(1)
						t.Logf("decode: %v", err)
						c.Close()
						return
					}
					resp := NewResponse(cmd, 0, "")
					wmu.Lock()
					c.Write(AppendFrame(nil, resp))
					wmu.Unlock()
				}
			}()
		}
	}()
	c := NewClient(ClientOptions{})
	defer c.Close()
	var wg sync.WaitGroup
	var lost atomic.Int64
	for s := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 500 {
				h := SendHeader{ProducerGroup: "pg", Topic: "ZZ", QueueID: 0, BornTimestamp: time.Now().UnixMilli()}
				req := NewRequest(RequestSendMessage)
				h.Apply(req)
				req.Body = []byte(strconv.Itoa(s*1000 + i))
				ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
				_, err := c.Invoke(ctx, ln.Addr().String(), req)
				cancel()
				if err != nil {
					lost.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	t.Logf("lost %d bad %d", lost.Load(), bad.Load())
	if lost.Load()+bad.Load() > 0 {
		t.Fail()
	}
}
