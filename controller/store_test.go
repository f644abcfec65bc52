package controller

import (
	"bytes"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

func TestControllerBoltStore(t *testing.T) {
	path := filepath.Join(t.TempDir(), "raft.db")
	s, err := openBoltStore(path)
	if err != nil {
		t.Fatal(err)
	}
	if first, last := mustIndex(t, s.FirstIndex), mustIndex(t, s.LastIndex); first != 0 || last != 0 {
		t.Fatalf("empty store: first %d last %d", first, last)
	}
	at := time.Unix(1700000000, 123)
	var logs []*raft.Log
	for i := uint64(1); i <= 10; i++ {
		logs = append(logs, &raft.Log{Index: i, Term: 2, Type: raft.LogCommand, Data: []byte{byte(i)}, AppendedAt: at})
	}
	logs[3].Extensions = []byte("ext")
	logs[4].Data = nil
	if err := s.StoreLogs(logs[:9]); err != nil {
		t.Fatal(err)
	}
	if err := s.StoreLog(logs[9]); err != nil {
		t.Fatal(err)
	}
	var got raft.Log
	for _, want := range logs {
		if err := s.GetLog(want.Index, &got); err != nil {
			t.Fatal(err)
		}
		if got.Index != want.Index || got.Term != want.Term || got.Type != want.Type ||
			!bytes.Equal(got.Data, want.Data) || !bytes.Equal(got.Extensions, want.Extensions) || !got.AppendedAt.Equal(want.AppendedAt) {
			t.Fatalf("entry %d: got %+v want %+v", want.Index, got, *want)
		}
	}
	if err := s.DeleteRange(1, 4); err != nil {
		t.Fatal(err)
	}
	if err := s.GetLog(4, &got); !errors.Is(err, raft.ErrLogNotFound) {
		t.Fatalf("deleted entry: %v", err)
	}
	if first, last := mustIndex(t, s.FirstIndex), mustIndex(t, s.LastIndex); first != 5 || last != 10 {
		t.Fatalf("after delete: first %d last %d", first, last)
	}

	if _, err := s.Get([]byte("CurrentTerm")); err == nil || err.Error() != "not found" {
		t.Fatalf("missing key: %v (raft needs the text \"not found\")", err)
	}
	if _, err := s.GetUint64([]byte("CurrentTerm")); err == nil || err.Error() != "not found" {
		t.Fatalf("missing uint64 key: %v", err)
	}
	if err := s.SetUint64([]byte("CurrentTerm"), 7); err != nil {
		t.Fatal(err)
	}
	if err := s.Set([]byte("LastVoteCand"), []byte("n1")); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s, err = openBoltStore(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if v, err := s.GetUint64([]byte("CurrentTerm")); err != nil || v != 7 {
		t.Fatalf("after reopen: term %d %v", v, err)
	}
	if v, err := s.Get([]byte("LastVoteCand")); err != nil || string(v) != "n1" {
		t.Fatalf("after reopen: vote %q %v", v, err)
	}
	if last := mustIndex(t, s.LastIndex); last != 10 {
		t.Fatalf("after reopen: last %d", last)
	}
	if _, err := openBoltStore(path); err == nil {
		t.Fatal("a second open of a locked store succeeded")
	}
}

func mustIndex(t *testing.T, f func() (uint64, error)) uint64 {
	t.Helper()
	v, err := f()
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestControllerLogEncodingRejectsDamage(t *testing.T) {
	enc := encodeLog(&raft.Log{Term: 3, Type: raft.LogCommand, Data: []byte("hello"), Extensions: []byte("x")})
	var l raft.Log
	if err := decodeLog(enc, &l); err != nil || string(l.Data) != "hello" || string(l.Extensions) != "x" || l.Term != 3 {
		t.Fatalf("round trip: %+v %v", l, err)
	}
	for cut := 0; cut < len(enc); cut++ {
		if err := decodeLog(enc[:cut], &l); err == nil {
			t.Fatalf("a cut at %d decoded", cut)
		}
	}
	if err := decodeLog(append(enc, 0), &l); err == nil {
		t.Fatal("a trailing byte decoded")
	}
	bad := bytes.Clone(enc)
	bad[0] = 9
	if err := decodeLog(bad, &l); err == nil {
		t.Fatal("an unknown version decoded")
	}
}
