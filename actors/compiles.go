package actors

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"

	"github.com/cometmq/comet/netio"
	"github.com/cometmq/comet/netio/remoting"
	"github.com/cometmq/comet/ringbuf"
)

// The compile worker finishes, off the event loops, the requests that need
// an SQL92 expression compiled (see filter.go). Requests wait in one
// bounded ring, "actors.compiles"; a full ring answers SYSTEM_BUSY at
// once, which the Go client v2.1.2 and the Java client treat as a failed
// pull or heartbeat and retry after a few seconds. One goroutine serves
// the ring: compiles are short (at most about a millisecond for the
// longest expression accepted), and only expressions missing from the
// compile cache come here, so a client repeating an expression, good or
// bad, is answered from the cache on its loop.

const (
	compileQueueCapacity = 1024
	compileBatch         = 64
)

// compileJob is a detached request and the function that finishes it on
// the compile worker. finish owns the request: it answers and releases it,
// or hands it on (a pull may be parked).
type compileJob struct {
	req    *netio.Request
	finish func()
}

// compileQueue is the bounded queue of compile jobs and its worker.
type compileQueue struct {
	log      *slog.Logger
	ring     *ringbuf.MPSC[*compileJob]
	stopping atomic.Bool
	done     chan struct{}
	busy     atomic.Int64 // requests refused because the ring was full
	jobs     atomic.Int64 // requests finished by the worker
	panics   atomic.Int64
}

func newCompileQueue(log *slog.Logger) *compileQueue {
	return &compileQueue{log: log, ring: ringbuf.NewMPSC[*compileJob]("actors.compiles", compileQueueCapacity),
		done: make(chan struct{})}
}

// compileOffLoop detaches req and queues finish for the compile worker.
// Call it on the loop, from the handler of req. When the queue is full the
// request is answered SYSTEM_BUSY at once (SERVICE_NOT_AVAILABLE while the
// broker stops).
func (b *Broker) compileOffLoop(req *netio.Request, finish func()) {
	req.Detach()
	q := b.compiles
	if q.ring.TryPush(&compileJob{req: req, finish: finish}) {
		return
	}
	code, remark := int16(remoting.ResponseSystemBusy), "[COMPILE_QUEUE_FULL]broker busy compiling filter expressions, try again later"
	if q.stopping.Load() {
		code, remark = remoting.ResponseServiceNotAvailable, "broker is stopping"
	} else {
		q.busy.Add(1)
	}
	b.replyDone(req, code, remark)
}

// run serves the queue until stop; it finishes every job queued before.
func (q *compileQueue) run() {
	defer close(q.done)
	batch := make([]*compileJob, 0, compileBatch)
	for {
		err := q.ring.Wait(context.Background())
		batch = q.ring.PopBatch(batch[:0])
		for _, job := range batch {
			q.runJob(job)
		}
		clear(batch)
		if errors.Is(err, ringbuf.ErrClosed) {
			return
		}
	}
}

// runJob finishes one request. A panic is logged and counted, as the
// network server does for handlers, and costs only that request.
func (q *compileQueue) runJob(job *compileJob) {
	code := job.req.Cmd.Code
	defer func() {
		if r := recover(); r != nil {
			q.panics.Add(1)
			q.log.Error("actors: compile job panicked", "request", remoting.RequestName(code), "panic", r)
		}
	}()
	q.jobs.Add(1)
	job.finish()
}

// stop refuses new jobs, finishes the queued ones and waits for the worker.
func (q *compileQueue) stop() {
	q.stopping.Store(true)
	q.ring.Close()
	<-q.done
}
