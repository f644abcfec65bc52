package httpapi

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/cometmq/comet/client"
)

// BenchmarkProduce compares producing 1 KiB messages through the HTTP API
// (keep-alive, one message per request) with the native SDK's SendSync,
// against the same in-process broker (sync flush), with 1 and 16
// concurrent clients. Read the two as a ratio from one run:
//
//	go test ./httpapi -run '^$' -bench Produce -benchtime 20000x
func BenchmarkProduce(b *testing.B) {
	e := newAPIEnv(b, nil)
	e.createTopic("Bench", 8)
	body := fmt.Sprintf(`{"body":%q}`, strings.Repeat("x", 1024))
	sdk, err := client.New(client.WithNameServers(e.cl.NamesrvAddr))
	if err != nil {
		b.Fatal(err)
	}
	defer sdk.Close()
	native, err := sdk.NewProducer("bench-native")
	if err != nil {
		b.Fatal(err)
	}
	payload := bytes.Repeat([]byte("x"), 1024)
	httpClient := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	url := e.srv.URL + Prefix + "/topics/Bench/messages"
	sendHTTP := func() error {
		resp, err := httpClient.Post(url, "application/json", strings.NewReader(body))
		if err != nil {
			return err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		return nil
	}
	sendNative := func() error {
		_, err := native.SendSync(context.Background(), client.NewMessage("Bench", payload))
		return err
	}
	for _, clients := range []int{1, 16} {
		for _, via := range []struct {
			name string
			send func() error
		}{{"http", sendHTTP}, {"native", sendNative}} {
			b.Run(fmt.Sprintf("via=%s/clients=%d", via.name, clients), func(b *testing.B) {
				b.SetBytes(1024)
				b.ReportAllocs()
				var next, failed atomic.Int64
				var wg sync.WaitGroup
				for range clients {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for next.Add(1) <= int64(b.N) {
							if err := via.send(); err != nil {
								failed.Add(1)
							}
						}
					}()
				}
				wg.Wait()
				if failed.Load() > 0 {
					b.Fatalf("%d sends failed", failed.Load())
				}
			})
		}
	}
}
