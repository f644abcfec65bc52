package perf

import (
	"context"
	"encoding/binary"
	"io"
	"time"
)

// Target is a broker under test: Comet (NewComet) or the NATS JetStream
// peer (NewNATS). The runner calls Prepare once, then makes publishers and
// consumers, and calls Close at the end.
type Target interface {
	// Name labels the target in reports ("comet", "nats").
	Name() string
	// Prepare creates the topics (streams) the workload uses.
	Prepare(ctx context.Context, w *Workload, topics []string) error
	// NewPublisher connects one producer.
	NewPublisher(ctx context.Context, w *Workload, id int) (Publisher, error)
	// StartConsumer connects consumer id and calls deliver with the body of
	// every message of topics, from the first one stored, until closed.
	// deliver is called from any goroutine and must not keep body.
	StartConsumer(ctx context.Context, w *Workload, topics []string, id int, deliver func(body []byte)) (io.Closer, error)
	// Close removes what Prepare created where it can and disconnects.
	Close() error
}

// Publisher is one producer's connection.
type Publisher interface {
	// SendSync sends body and waits for the broker's acknowledgement.
	SendSync(ctx context.Context, topic string, body []byte) error
	// SendAsync queues body and returns; done runs exactly once, later, with
	// the outcome, unless SendAsync itself returns an error. It blocks while
	// the producer's window is full.
	SendAsync(ctx context.Context, topic string, body []byte, done func(error)) error
	// SendBatch sends bodies and waits until all are acknowledged.
	SendBatch(ctx context.Context, topic string, bodies [][]byte) error
	// Close waits for async sends still in flight and disconnects.
	Close() error
}

// newBody returns a message body of size bytes stamped with intended (a
// zero time marks a warm-up message).
func newBody(size int, intended time.Time) []byte {
	b := make([]byte, size)
	stampBody(b, intended)
	for i := MinSize; i < len(b); i++ {
		b[i] = byte('a' + i%26)
	}
	return b
}

func stampBody(b []byte, intended time.Time) {
	var ns int64
	if !intended.IsZero() {
		ns = intended.UnixNano()
	}
	binary.BigEndian.PutUint64(b, uint64(ns))
}

// bodyStamp reads the intended send time from a body; ok is false for a
// warm-up message or a body too short to carry one.
func bodyStamp(b []byte) (ns int64, ok bool) {
	if len(b) < MinSize {
		return 0, false
	}
	ns = int64(binary.BigEndian.Uint64(b))
	return ns, ns > 0
}
