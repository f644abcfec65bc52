package controller

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/raft"
	bolt "go.etcd.io/bbolt"
)

// boltStore is raft's LogStore and StableStore in one bbolt file: bucket
// "logs" maps an entry's index (8 bytes, big-endian, so keys sort by
// index) to the encoded entry; bucket "stable" holds raft's own keys
// (current term, last vote) as raw bytes. Every write is one bbolt
// transaction, synced before it returns (bbolt's NoSync is never set).
//
// Encoded entry (big-endian), part of the format: do not change:
//
//	+--------+------+------------------------------------------------+
//	| offset | size | field                                          |
//	+--------+------+------------------------------------------------+
//	| 0      | 1    | encoding version = 1                           |
//	| 1      | 8    | term                                           |
//	| 9      | 1    | raft.LogType                                   |
//	| 10     | 8    | appended-at, Unix nanoseconds (0: unset)       |
//	| 18     | 4    | data length d                                  |
//	| 22     | d    | data                                           |
//	| 22+d   | 4    | extensions length e                            |
//	| 26+d   | e    | extensions                                     |
//	+--------+------+------------------------------------------------+
type boltStore struct {
	db *bolt.DB
}

var (
	bucketLogs   = []byte("logs")
	bucketStable = []byte("stable")
)

const logEncodingV1 = 1

// errStableKeyNotFound is what raft expects from a StableStore for a key
// never set: raft compares the error's text with "not found", so this one
// error carries no package prefix.
var errStableKeyNotFound = errors.New("not found")

// errCorruptLog: a stored entry does not decode.
var errCorruptLog = errors.New("controller: corrupt raft log entry")

// openBoltStore opens (creating) the file at path. It waits at most a
// second for the file lock, so a second process on the same data
// directory fails at once.
func openBoltStore(path string) (*boltStore, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		return nil, fmt.Errorf("controller: open %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketLogs, bucketStable} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("controller: prepare %s: %w", path, err)
	}
	return &boltStore{db: db}, nil
}

// Close closes the file.
func (s *boltStore) Close() error { return s.db.Close() }

// FirstIndex returns the first stored index, 0 for none.
func (s *boltStore) FirstIndex() (uint64, error) {
	return s.edgeIndex(true)
}

// LastIndex returns the last stored index, 0 for none.
func (s *boltStore) LastIndex() (uint64, error) {
	return s.edgeIndex(false)
}

func (s *boltStore) edgeIndex(first bool) (uint64, error) {
	var idx uint64
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketLogs).Cursor()
		k, _ := c.Last()
		if first {
			k, _ = c.First()
		}
		if k != nil {
			idx = binary.BigEndian.Uint64(k)
		}
		return nil
	})
	return idx, err
}

// GetLog reads the entry at index into l, or returns raft.ErrLogNotFound.
func (s *boltStore) GetLog(index uint64, l *raft.Log) error {
	return s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketLogs).Get(indexKey(index))
		if v == nil {
			return raft.ErrLogNotFound
		}
		if err := decodeLog(v, l); err != nil {
			return fmt.Errorf("%w: index %d: %v", errCorruptLog, index, err)
		}
		l.Index = index
		return nil
	})
}

// StoreLog stores one entry.
func (s *boltStore) StoreLog(l *raft.Log) error { return s.StoreLogs([]*raft.Log{l}) }

// StoreLogs stores entries in one synced transaction.
func (s *boltStore) StoreLogs(logs []*raft.Log) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketLogs)
		for _, l := range logs {
			if err := b.Put(indexKey(l.Index), encodeLog(l)); err != nil {
				return err
			}
		}
		return nil
	})
}

// DeleteRange deletes the entries from min to max inclusive.
func (s *boltStore) DeleteRange(min, max uint64) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketLogs).Cursor()
		for k, _ := c.Seek(indexKey(min)); k != nil && binary.BigEndian.Uint64(k) <= max; k, _ = c.Next() {
			if err := c.Delete(); err != nil {
				return err
			}
		}
		return nil
	})
}

// Set stores a stable key.
func (s *boltStore) Set(key, val []byte) error {
	return s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketStable).Put(key, val) })
}

// Get reads a stable key; a key never set returns errStableKeyNotFound.
func (s *boltStore) Get(key []byte) ([]byte, error) {
	var val []byte
	err := s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketStable).Get(key)
		if v == nil {
			return errStableKeyNotFound
		}
		val = append([]byte(nil), v...)
		return nil
	})
	return val, err
}

// SetUint64 stores a stable key as 8 big-endian bytes.
func (s *boltStore) SetUint64(key []byte, val uint64) error {
	return s.Set(key, binary.BigEndian.AppendUint64(nil, val))
}

// GetUint64 reads a stable key set by SetUint64.
func (s *boltStore) GetUint64(key []byte) (uint64, error) {
	v, err := s.Get(key)
	if err != nil {
		return 0, err
	}
	if len(v) != 8 {
		return 0, fmt.Errorf("controller: stable key %q holds %d bytes, want 8", key, len(v))
	}
	return binary.BigEndian.Uint64(v), nil
}

func indexKey(index uint64) []byte { return binary.BigEndian.AppendUint64(nil, index) }

func encodeLog(l *raft.Log) []byte {
	buf := make([]byte, 0, 26+len(l.Data)+len(l.Extensions))
	buf = append(buf, logEncodingV1)
	buf = binary.BigEndian.AppendUint64(buf, l.Term)
	buf = append(buf, byte(l.Type))
	var at int64
	if !l.AppendedAt.IsZero() {
		at = l.AppendedAt.UnixNano()
	}
	buf = binary.BigEndian.AppendUint64(buf, uint64(at))
	buf = binary.BigEndian.AppendUint32(buf, uint32(len(l.Data)))
	buf = append(buf, l.Data...)
	buf = binary.BigEndian.AppendUint32(buf, uint32(len(l.Extensions)))
	return append(buf, l.Extensions...)
}

// decodeLog decodes an entry (all but its index, which is the key). Data
// and Extensions are copied: bbolt's bytes live only as long as the
// transaction.
func decodeLog(b []byte, l *raft.Log) error {
	if len(b) < 22 || b[0] != logEncodingV1 {
		return fmt.Errorf("header of %d bytes, version %v", len(b), b[:min(1, len(b))])
	}
	l.Term = binary.BigEndian.Uint64(b[1:])
	l.Type = raft.LogType(b[9])
	l.AppendedAt = time.Time{}
	if at := int64(binary.BigEndian.Uint64(b[10:])); at != 0 {
		l.AppendedAt = time.Unix(0, at)
	}
	rest := b[18:]
	var err error
	if l.Data, rest, err = takeBytes(rest); err != nil {
		return fmt.Errorf("data: %w", err)
	}
	if l.Extensions, rest, err = takeBytes(rest); err != nil {
		return fmt.Errorf("extensions: %w", err)
	}
	if len(rest) != 0 {
		return fmt.Errorf("%d trailing bytes", len(rest))
	}
	return nil
}

// takeBytes takes a 4-byte length and that many bytes (copied; nil for 0).
func takeBytes(b []byte) (field, rest []byte, err error) {
	if len(b) < 4 {
		return nil, nil, fmt.Errorf("length cut at %d bytes", len(b))
	}
	n := binary.BigEndian.Uint32(b)
	if uint64(n) > uint64(len(b)-4) {
		return nil, nil, fmt.Errorf("length %d over the %d bytes left", n, len(b)-4)
	}
	if n > 0 {
		field = append([]byte(nil), b[4:4+n]...)
	}
	return field, b[4+n:], nil
}
