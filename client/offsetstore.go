package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"sync"

	"github.com/cometmq/comet/internal/atomicfile"
)

// offsetStore keeps a group's consumed offsets: on the broker (clustering)
// or in a local file (broadcasting, where each client has its own).
type offsetStore interface {
	// read returns the committed offset of mq; found is false when there is
	// none.
	read(ctx context.Context, mq MessageQueue) (offset int64, found bool, err error)
	// commit records offset for mq. The broker store sends it at once
	// (oneway: without awaiting the answer); the file store keeps it in
	// memory until flush.
	commit(ctx context.Context, mq MessageQueue, offset int64, oneway bool) error
	// flush makes the file store's commits durable (no-op for the broker).
	flush() error
}

type brokerOffsets struct {
	c     *Client
	group string
}

func (s *brokerOffsets) read(ctx context.Context, mq MessageQueue) (int64, bool, error) {
	return s.c.queryOffset(ctx, s.group, mq)
}

func (s *brokerOffsets) commit(ctx context.Context, mq MessageQueue, offset int64, oneway bool) error {
	return s.c.commitOffset(ctx, s.group, mq, offset, oneway)
}

func (s *brokerOffsets) flush() error { return nil }

// Local offset file, JSON, written atomically:
//
//	{"offsetTable":{"<topic>@<brokerName>@<queueId>":<offset>, ...}}
//
// Part of the format: do not change.
type localOffsetFile struct {
	OffsetTable map[string]int64 `json:"offsetTable"`
}

type fileOffsets struct {
	path string
	mu   struct {
		sync.Mutex
		table map[string]int64
		dirty bool
	}
}

func openFileOffsets(path string) (*fileOffsets, error) {
	s := &fileOffsets{path: path}
	s.mu.table = make(map[string]int64)
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return nil, fmt.Errorf("client: read offsets: %w", err)
	}
	table, err := decodeOffsetFile(data)
	if err != nil {
		return nil, fmt.Errorf("%w: offsets file %s: %v", ErrProtocol, path, err)
	}
	s.mu.table = table
	return s, nil
}

func decodeOffsetFile(data []byte) (map[string]int64, error) {
	var f localOffsetFile
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, err
	}
	if f.OffsetTable == nil {
		f.OffsetTable = make(map[string]int64)
	}
	for key, off := range f.OffsetTable {
		if _, ok := parseOffsetKey(key); !ok || off < 0 {
			return nil, fmt.Errorf("bad entry %q: %d", key, off)
		}
	}
	return f.OffsetTable, nil
}

func offsetKey(mq MessageQueue) string {
	return mq.Topic + "@" + mq.BrokerName + "@" + strconv.Itoa(int(mq.QueueID))
}

// parseOffsetKey splits "<topic>@<brokerName>@<queueId>"; broker names may
// contain '@', topics may not.
func parseOffsetKey(key string) (MessageQueue, bool) {
	topic, rest, ok := strings.Cut(key, "@")
	at := strings.LastIndexByte(rest, '@')
	if !ok || topic == "" || at <= 0 {
		return MessageQueue{}, false
	}
	id, err := strconv.ParseInt(rest[at+1:], 10, 32)
	if err != nil || id < 0 {
		return MessageQueue{}, false
	}
	return MessageQueue{Topic: topic, BrokerName: rest[:at], QueueID: int32(id)}, true
}

func (s *fileOffsets) read(_ context.Context, mq MessageQueue) (int64, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	off, ok := s.mu.table[offsetKey(mq)]
	return off, ok, nil
}

// commit records offset in memory; flush writes the file.
func (s *fileOffsets) commit(_ context.Context, mq MessageQueue, offset int64, _ bool) error {
	s.mu.Lock()
	s.mu.table[offsetKey(mq)] = offset
	s.mu.dirty = true
	s.mu.Unlock()
	return nil
}

func (s *fileOffsets) flush() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.mu.dirty {
		return nil
	}
	data, err := json.Marshal(localOffsetFile{OffsetTable: s.mu.table})
	if err != nil {
		return err
	}
	if err := atomicfile.Write(s.path, data); err != nil {
		return fmt.Errorf("client: write offsets: %w", err)
	}
	s.mu.dirty = false
	return nil
}
