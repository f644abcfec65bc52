package actors

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/cometmq/comet/persist"
	"github.com/cometmq/comet/routing"
)

// topicStore keeps the topic table on disk as a snapshot plus a log of the
// changes made since it, so that a change costs one small append (and one
// sync per batch of changes) whatever the number of topics:
//
//	config/topics.json  snapshot, RocketMQ's layout:
//	                    {"dataVersion":{"counter":c,"timestamp":t},
//	                     "topicConfigTable":{"<name>":TopicConfig, ...}}
//	config/topics.log   the changes after the snapshot, one record each:
//
//	+--------+------+--------------------------------------------------+
//	| offset | size | field                                            |
//	+--------+------+--------------------------------------------------+
//	| 0      | 4    | payload length n, big-endian, 1..maxTopicRecord  |
//	| 4      | 4    | CRC-32C (Castagnoli) of the payload, big-endian  |
//	| 8      | n    | payload, JSON: {"version":DataVersion,           |
//	|        |      |   "put":TopicConfig} or {"version":..,"delete":  |
//	|        |      |   "<name>"}                                      |
//	+--------+------+--------------------------------------------------+
//
// Part of the format: do not change.
//
// Loading reads the snapshot, then applies the log records whose version
// counter is above the snapshot's, and cuts the log at its first record
// that is incomplete or fails its checksum (a torn tail: a batch is
// acknowledged only after its sync, so what is cut was never
// acknowledged). When the log outgrows the snapshot (and at a clean stop)
// the table is compacted: a snapshot of one version is written to
// topics.json.tmp and synced off the table's goroutine, which keeps
// appending meanwhile; then it is renamed over topics.json and the log is
// rewritten (topics.log.tmp, renamed over topics.log) to hold only the
// records appended since that version. A crash between the two leaves log
// records the snapshot already holds; their version counters say so and
// loading skips them. A binary that predates the log reads topics.json
// alone, complete after a clean stop.
//
// Leftovers of an interrupted write (topics.json.tmp*, topics.log.tmp)
// are removed when the store opens. Every file operation goes through a
// persist.FS, so tests inject faults and crashes below it.
type topicStore struct {
	fs            persist.FS
	dir           string
	log           *slog.Logger
	file          persist.File // topics.log, open for the store's life
	size          int64        // bytes of valid records in topics.log
	snapshotBytes int64        // size of the last snapshot written or read
	// installed counts snapshots installed by compaction (read by tests
	// and metrics from any goroutine).
	installed  atomic.Int64
	compactMin int64 // the log is compacted from this size on, at the least
	broken     error // a failed append that could not be undone
}

const (
	topicSnapshotName = "topics.json"
	topicLogName      = "topics.log"
	// maxTopicRecord bounds one record's payload; a larger length is a
	// torn or damaged header, not a topic.
	maxTopicRecord = 64 << 10
	// minTopicCompactBytes is the log size below which the log is never
	// compacted, however small the snapshot.
	minTopicCompactBytes = 1 << 20
	topicRecordHeader    = 8
)

var topicCRC = crc32.MakeTable(crc32.Castagnoli)

// topicRecord is one change in topics.log.
type topicRecord struct {
	Version routing.DataVersion  `json:"version"`
	Put     *routing.TopicConfig `json:"put,omitempty"`
	Delete  string               `json:"delete,omitempty"`
}

type topicSnapshot struct {
	Version routing.DataVersion            `json:"dataVersion"`
	Topics  map[string]routing.TopicConfig `json:"topicConfigTable"`
}

// openTopicStore opens (creating if needed) the topic files in dir and
// returns the table they hold.
func openTopicStore(fsys persist.FS, dir string, log *slog.Logger) (*topicStore, *topicSnapshot, error) {
	s := &topicStore{fs: fsys, dir: dir, log: log, compactMin: minTopicCompactBytes}
	if err := fsys.MkdirAll(dir, 0o755); err != nil {
		return nil, nil, fmt.Errorf("actors: topics: %w", err)
	}
	if err := s.removeTemps(); err != nil {
		return nil, nil, err
	}
	snap, err := s.readSnapshot()
	if err != nil {
		return nil, nil, err
	}
	if err := s.openLog(snap); err != nil {
		return nil, nil, err
	}
	return s, snap, nil
}

// removeTemps deletes what an interrupted snapshot write left behind.
func (s *topicStore) removeTemps() error {
	names, err := s.fs.ReadDir(s.dir)
	if err != nil {
		return fmt.Errorf("actors: topics: %w", err)
	}
	for _, n := range names {
		if !strings.HasPrefix(n, topicSnapshotName+".tmp") && n != topicLogName+".tmp" {
			continue
		}
		if err := s.fs.Remove(filepath.Join(s.dir, n)); err != nil {
			return fmt.Errorf("actors: topics: remove leftover %s: %w", n, err)
		}
		s.log.Info("actors: removed the leftover of an interrupted topics write", "file", n)
	}
	return nil
}

func (s *topicStore) readSnapshot() (*topicSnapshot, error) {
	snap := &topicSnapshot{Topics: map[string]routing.TopicConfig{}}
	data, err := s.readAll(topicSnapshotName)
	if errors.Is(err, fs.ErrNotExist) {
		return snap, nil
	}
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(data, snap); err != nil {
		return nil, fmt.Errorf("actors: parse %s: %w", filepath.Join(s.dir, topicSnapshotName), err)
	}
	if snap.Topics == nil {
		snap.Topics = map[string]routing.TopicConfig{}
	}
	s.snapshotBytes = int64(len(data))
	return snap, nil
}

func (s *topicStore) readAll(name string) ([]byte, error) {
	f, err := s.fs.OpenFile(filepath.Join(s.dir, name), os.O_RDONLY, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	size, err := f.Size()
	if err != nil {
		return nil, fmt.Errorf("actors: topics: %w", err)
	}
	data := make([]byte, size)
	if err := readFull(f, data); err != nil {
		return nil, fmt.Errorf("actors: read %s: %w", name, err)
	}
	return data, nil
}

// readFull fills data from the start of f.
func readFull(f persist.File, data []byte) error {
	if len(data) == 0 {
		return nil
	}
	_, err := f.ReadAt(data, 0)
	return err
}

// openLog opens topics.log, applies its records to snap and cuts a torn
// tail.
func (s *topicStore) openLog(snap *topicSnapshot) error {
	path := filepath.Join(s.dir, topicLogName)
	_, statErr := s.fs.Stat(path)
	f, err := s.fs.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("actors: topics: %w", err)
	}
	s.file = f
	if errors.Is(statErr, fs.ErrNotExist) {
		if err := s.fs.SyncDir(s.dir); err != nil {
			return s.failOpen(err)
		}
	}
	size, err := f.Size()
	if err != nil {
		return s.failOpen(err)
	}
	data := make([]byte, size)
	if err := readFull(f, data); err != nil {
		return s.failOpen(err)
	}
	s.size = replayTopicLog(data, snap)
	if s.size < size {
		s.log.Warn("actors: cut the torn tail of the topic log", "at", s.size, "bytes", size-s.size)
		if err := f.Truncate(s.size); err != nil {
			return s.failOpen(err)
		}
		if err := f.Sync(); err != nil {
			return s.failOpen(err)
		}
	}
	return nil
}

func (s *topicStore) failOpen(err error) error {
	s.file.Close()
	return fmt.Errorf("actors: topics log: %w", err)
}

// replayTopicLog applies the valid records of data to snap and returns
// the length of the valid prefix.
func replayTopicLog(data []byte, snap *topicSnapshot) int64 {
	pos := 0
	for {
		rec, n, ok := decodeTopicRecord(data[pos:])
		if !ok {
			return int64(pos)
		}
		pos += n
		if rec.Version.Counter <= snap.Version.Counter {
			continue // already in the snapshot
		}
		snap.Version = rec.Version
		if rec.Put != nil {
			snap.Topics[rec.Put.TopicName] = *rec.Put
		} else {
			delete(snap.Topics, rec.Delete)
		}
	}
}

// decodeTopicRecord reads one record from the start of b: the record, its
// encoded length, and whether it is complete and intact.
func decodeTopicRecord(b []byte) (topicRecord, int, bool) {
	var rec topicRecord
	if len(b) < topicRecordHeader {
		return rec, 0, false
	}
	n := int(binary.BigEndian.Uint32(b))
	if n == 0 || n > maxTopicRecord || len(b) < topicRecordHeader+n {
		return rec, 0, false
	}
	payload := b[topicRecordHeader : topicRecordHeader+n]
	if crc32.Checksum(payload, topicCRC) != binary.BigEndian.Uint32(b[4:]) {
		return rec, 0, false
	}
	if err := json.Unmarshal(payload, &rec); err != nil {
		return rec, 0, false
	}
	if (rec.Put == nil) == (rec.Delete == "") || (rec.Put != nil && rec.Put.TopicName == "") {
		return rec, 0, false
	}
	return rec, topicRecordHeader + n, true
}

func appendTopicRecord(dst []byte, rec *topicRecord) ([]byte, error) {
	payload, err := json.Marshal(rec)
	if err != nil {
		return dst, fmt.Errorf("actors: encode topic change: %w", err)
	}
	if len(payload) > maxTopicRecord {
		return dst, fmt.Errorf("actors: topic change of %d bytes over %d", len(payload), maxTopicRecord)
	}
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(payload)))
	dst = binary.BigEndian.AppendUint32(dst, crc32.Checksum(payload, topicCRC))
	return append(dst, payload...), nil
}

// appendRecords makes recs durable: one write, one sync. On failure the
// log is cut back to where it was, so nothing of a failed batch is ever
// loaded; when even that fails, every later append fails too.
func (s *topicStore) appendRecords(recs []topicRecord) error {
	if s.broken != nil {
		return s.broken
	}
	var buf []byte
	for i := range recs {
		var err error
		if buf, err = appendTopicRecord(buf, &recs[i]); err != nil {
			return err
		}
	}
	_, err := s.file.WriteAt(buf, s.size)
	if err == nil {
		err = s.file.Sync()
	}
	if err != nil {
		if terr := s.file.Truncate(s.size); terr != nil {
			s.broken = fmt.Errorf("actors: topics log unusable after a failed append: %w", errors.Join(err, terr))
		}
		return fmt.Errorf("actors: append topic changes: %w", err)
	}
	s.size += int64(len(buf))
	return nil
}

// needsCompaction reports whether the log has outgrown the snapshot.
func (s *topicStore) needsCompaction() bool {
	return s.broken == nil && s.size >= max(s.compactMin, s.snapshotBytes)
}

// compaction is a snapshot of the table at one version, written to
// topics.json.tmp off the table's goroutine, then installed by it.
type compaction struct {
	snap    *topicSnapshot
	logFrom int64 // log size when snap was taken: later records are newer than snap
	size    int64 // bytes of the encoded snapshot
	err     error
	ready   atomic.Bool // prepared (err set or the file synced)
}

// compact writes snap as the new snapshot and empties the log (table
// goroutine, or after it stopped).
func (s *topicStore) compact(snap *topicSnapshot) error {
	c := &compaction{snap: snap, logFrom: s.size}
	s.prepareSnapshot(c)
	return s.installSnapshot(c)
}

// prepareSnapshot encodes c's snapshot into topics.json.tmp and syncs it.
// It touches nothing else, so it runs on any goroutine while the table
// keeps appending to its log.
func (s *topicStore) prepareSnapshot(c *compaction) {
	defer c.ready.Store(true)
	data := encodeTopicSnapshot(c.snap)
	c.size = int64(len(data))
	c.err = s.writeFile(topicSnapshotName+".tmp", data)
}

// installSnapshot renames a prepared snapshot over topics.json and
// rewrites the log with the records appended since it was taken (table
// goroutine). Until the snapshot is durable the old log stays whole; after
// it, a crash at any step leaves a log whose older records loading skips.
func (s *topicStore) installSnapshot(c *compaction) error {
	tmp := filepath.Join(s.dir, topicSnapshotName+".tmp")
	err := c.err
	if err == nil {
		err = s.fs.Rename(tmp, filepath.Join(s.dir, topicSnapshotName))
	}
	if err == nil {
		err = s.fs.SyncDir(s.dir)
	}
	if err != nil {
		_ = s.fs.Remove(tmp)
		return fmt.Errorf("actors: install topics snapshot: %w", err)
	}
	s.snapshotBytes = c.size
	s.installed.Add(1)
	if s.broken != nil {
		return s.broken
	}
	return s.rewriteLog(c.logFrom)
}

// rewriteLog replaces topics.log with its records from offset from on.
func (s *topicStore) rewriteLog(from int64) error {
	tail := make([]byte, s.size-from)
	if len(tail) > 0 {
		if _, err := s.file.ReadAt(tail, from); err != nil {
			return fmt.Errorf("actors: read topics log: %w", err)
		}
	}
	tmp := filepath.Join(s.dir, topicLogName+".tmp")
	f, err := s.fs.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("actors: rewrite topics log: %w", err)
	}
	if len(tail) > 0 {
		_, err = f.WriteAt(tail, 0)
	}
	if err == nil {
		err = f.Sync()
	}
	if err == nil {
		err = s.fs.Rename(tmp, filepath.Join(s.dir, topicLogName))
	}
	if err != nil {
		f.Close()
		_ = s.fs.Remove(tmp)
		return fmt.Errorf("actors: rewrite topics log: %w", err)
	}
	s.file.Close()
	s.file, s.size = f, int64(len(tail))
	if err := s.fs.SyncDir(s.dir); err != nil {
		s.broken = fmt.Errorf("actors: topics log rewritten but not made durable: %w", err)
		return s.broken
	}
	return nil
}

// writeFile creates (or truncates) name with data and syncs it.
func (s *topicStore) writeFile(name string, data []byte) error {
	f, err := s.fs.OpenFile(filepath.Join(s.dir, name), os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("actors: write %s: %w", name, err)
	}
	_, err = f.WriteAt(data, 0)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("actors: write %s: %w", name, err)
	}
	return nil
}

// encodeTopicSnapshot writes snap in topics.json's layout, one topic per
// line, sorted by name: as readable as an indented file, at the cost of a
// compact one.
func encodeTopicSnapshot(snap *topicSnapshot) []byte {
	names := make([]string, 0, len(snap.Topics))
	for n := range snap.Topics {
		names = append(names, n)
	}
	slices.Sort(names)
	version, _ := json.Marshal(snap.Version)
	buf := make([]byte, 0, 64+len(names)*160)
	buf = append(buf, "{\n  \"dataVersion\": "...)
	buf = append(buf, version...)
	buf = append(buf, ",\n  \"topicConfigTable\": {"...)
	for i, n := range names {
		if i > 0 {
			buf = append(buf, ',')
		}
		key, _ := json.Marshal(n)
		cfg, _ := json.Marshal(snap.Topics[n])
		buf = append(buf, "\n    "...)
		buf = append(buf, key...)
		buf = append(buf, ": "...)
		buf = append(buf, cfg...)
	}
	return append(buf, "\n  }\n}\n"...)
}

func (s *topicStore) close() error {
	return s.file.Close()
}

// logBytes is the size of the change log (tests).
func (s *topicStore) logBytes() int64 { return s.size }
