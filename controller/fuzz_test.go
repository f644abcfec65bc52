package controller

import (
	"bytes"
	"encoding/json"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/hashicorp/raft"
)

// requestBodies pairs each request body type with a valid seed.
var requestBodies = []struct {
	seed string
	make func() validator
}{
	{`{"clusterName":"DefaultCluster","brokerName":"broker-a","brokerId":0,"registerCode":"0123456789abcdef","brokerAddress":"127.0.0.1:10911","haAddress":"127.0.0.1:10912"}`,
		func() validator { return new(RegisterRequest) }},
	{`{"clusterName":"DefaultCluster","brokerName":"broker-a","brokerId":2,"masterEpoch":3,"lastEpoch":3,"confirmedOffset":4096}`,
		func() validator { return new(HeartbeatRequest) }},
	{`{"clusterName":"DefaultCluster","brokerName":"broker-a"}`, func() validator { return new(GroupRequest) }},
	{`{"clusterName":"DefaultCluster","brokerName":"broker-a","masterId":1,"masterEpoch":1,"syncStateSetEpoch":1,"syncStateSet":[1,2]}`,
		func() validator { return new(AlterSyncStateSetRequest) }},
	{`{"clusterName":"DefaultCluster","brokerName":"broker-a","brokerId":2}`, func() validator { return new(ElectMasterRequest) }},
	{`{"clusterName":"DefaultCluster"}`, func() validator { return new(SyncStateDataRequest) }},
}

// FuzzControllerRequestBodies feeds every request body decoder arbitrary
// bytes: none panics, and what one accepts is valid and survives a round
// trip through its encoding.
func FuzzControllerRequestBodies(f *testing.F) {
	for _, b := range requestBodies {
		f.Add(b.seed)
	}
	f.Add(`{"clusterName":"a/b","brokerName":"x"}`)
	f.Add(`{"syncStateSet":[0,-1]}`)
	f.Add(`[`)
	f.Fuzz(func(t *testing.T, body string) {
		for _, b := range requestBodies {
			v := b.make()
			if err := decodeBody([]byte(body), v); err != nil {
				continue
			}
			enc, err := json.Marshal(v)
			if err != nil {
				t.Fatalf("%T: re-encode: %v", v, err)
			}
			w := b.make()
			if err := decodeBody(enc, w); err != nil || !reflect.DeepEqual(v, w) {
				t.Fatalf("%T: round trip of %q: %v\n%+v\n%+v", v, body, err, v, w)
			}
		}
	})
}

// FuzzControllerLogEntry: the stored raft entry decoder never panics, and
// an entry it accepts encodes back to the same bytes.
func FuzzControllerLogEntry(f *testing.F) {
	f.Add(encodeLog(&raft.Log{Term: 1, Type: raft.LogCommand, Data: []byte(`{"op":"takeOffice"}`)}))
	f.Add(encodeLog(&raft.Log{Term: 9, Type: raft.LogConfiguration, Extensions: []byte{1, 2}}))
	f.Add([]byte{1})
	f.Fuzz(func(t *testing.T, b []byte) {
		var l raft.Log
		if err := decodeLog(b, &l); err != nil {
			return
		}
		if again := encodeLog(&l); !bytes.Equal(again, b) {
			t.Fatalf("re-encoded entry differs:\n%x\n%x", b, again)
		}
	})
}

// FuzzControllerApply applies an arbitrary command to a state built by
// the golden scenarios: Apply never panics, and two copies of the state
// end identical (determinism).
func FuzzControllerApply(f *testing.F) {
	data, err := os.ReadFile("testdata/transitions.txt")
	if err != nil {
		f.Fatal(err)
	}
	var setup []Command
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "{") {
			var c Command
			if json.Unmarshal([]byte(line), &c) == nil {
				f.Add(line)
				if len(setup) < 8 {
					setup = append(setup, c)
				}
			}
		}
	}
	f.Fuzz(func(t *testing.T, line string) {
		var c Command
		if json.Unmarshal([]byte(line), &c) != nil {
			return
		}
		a, b := NewState(), NewState()
		for i := range setup {
			a.Apply(&setup[i])
			b.Apply(&setup[i])
		}
		c2 := c
		c2.Set = append([]int64(nil), c.Set...)
		c2.Alive = append([]Report(nil), c.Alive...)
		ra, rb := a.Apply(&c), b.Apply(&c2)
		ja, _ := json.Marshal(a)
		jb, _ := json.Marshal(b)
		if !bytes.Equal(ja, jb) || !reflect.DeepEqual(ra, rb) {
			t.Fatalf("two applies of %q differ", line)
		}
	})
}
