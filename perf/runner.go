package perf

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Options are the runner's settings that are not part of the workload.
type Options struct {
	// Label is free text carried into the result (for example the broker's
	// flush mode, which perf cannot see).
	Label string
	// Progress, if set, gets a progress line every ProgressInterval.
	Progress io.Writer
	// ProgressInPlace rewrites one terminal line instead of adding lines.
	ProgressInPlace  bool
	ProgressInterval time.Duration // default 1 s
	// ServerPID, if positive, is the broker process whose CPU time the
	// result reports (read from /proc).
	ServerPID int
	Logger    *slog.Logger
}

// Phase is the throughput of one side of a run.
type Phase struct {
	Messages   int64   `json:"messages"`
	Seconds    float64 `json:"seconds"`
	MsgsPerSec float64 `json:"msgs_per_sec"`
	// MBPerSec counts body bytes, 1 MB = 10⁶ bytes.
	MBPerSec float64 `json:"mb_per_sec"`
}

// Result is what one run measured.
type Result struct {
	Target   string    `json:"target"`
	Label    string    `json:"label,omitempty"`
	Workload Workload  `json:"workload"`
	Started  time.Time `json:"started"`
	// Publish covers the acknowledged messages, from the common start to
	// the last acknowledgement.
	Publish Phase `json:"publish"`
	// Consume covers the messages the consumers saw, from the start of
	// sending (backlog runs: of consuming) to the last delivery.
	Consume     *Phase   `json:"consume,omitempty"`
	SendLatency Summary  `json:"send_latency"`
	EndToEnd    *Summary `json:"end_to_end_latency,omitempty"`
	Failed      int64    `json:"failed"`
	FirstError  string   `json:"first_error,omitempty"`
	// ClientCPUPercent is this process's CPU time over the measured time,
	// in percent of one core (an embedded broker counts here too).
	ClientCPUPercent float64 `json:"client_cpu_pct"`
	ServerCPUPercent float64 `json:"server_cpu_pct,omitempty"`
	// ConsumersLagging is ConsumersLagged's verdict, for machines.
	ConsumersLagging bool `json:"consumers_lagging,omitempty"`

	send, e2e *hdrhistogram.Histogram
}

// SendHistogram is the send latency distribution (nanoseconds).
func (r *Result) SendHistogram() *hdrhistogram.Histogram { return r.send }

// EndToEndHistogram is the end-to-end latency distribution (nanoseconds),
// nil when the run had no live consumers.
func (r *Result) EndToEndHistogram() *hdrhistogram.Histogram { return r.e2e }

// run is the state of one Run.
type run struct {
	t      Target
	w      Workload
	o      Options
	log    *slog.Logger
	topics []string

	sendRec []*Recorder
	e2eRec  []*Recorder

	sent, acked, failed atomic.Int64
	received, warm      atomic.Int64
	lastAck, lastRecv   atomic.Int64 // Unix ns of the latest completion and delivery
	errOnce             sync.Once
	firstErr            error
}

// Run drives w against t and returns what it measured. The caller closes
// t. With failed sends or undelivered messages it returns the result and
// an error wrapping ErrIncomplete.
func Run(ctx context.Context, t Target, w Workload, o Options) (*Result, error) {
	if err := w.Validate(); err != nil {
		return nil, err
	}
	r := newRun(t, w, o)
	if err := t.Prepare(ctx, &r.w, r.topics); err != nil {
		return nil, fmt.Errorf("%w: %s: prepare: %w", ErrTarget, t.Name(), err)
	}
	pubs, err := r.connect(ctx)
	defer closeAll(r.log, pubs)
	if err != nil {
		return nil, err
	}
	return r.execute(ctx, pubs)
}

func newRun(t Target, w Workload, o Options) *run {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.ProgressInterval <= 0 {
		o.ProgressInterval = time.Second
	}
	r := &run{t: t, w: w, o: o, log: o.Logger, topics: topicNames(w.Topics)}
	for range w.Producers {
		r.sendRec = append(r.sendRec, NewRecorder())
	}
	for range w.Consumers {
		r.e2eRec = append(r.e2eRec, NewRecorder())
	}
	return r
}

// fanOutTarget is a target whose every consumer receives every message
// (MQTT subscribers), rather than sharing them as a consumer group.
type fanOutTarget interface{ FanOut() bool }

// deliveriesPerMessage is how many deliveries each message makes.
func (r *run) deliveriesPerMessage() int64 {
	if f, ok := r.t.(fanOutTarget); ok && f.FanOut() && r.w.Consumers > 0 {
		return int64(r.w.Consumers)
	}
	return 1
}

// topicNames are fresh names, so a run never sees an earlier run's data.
func topicNames(n int) []string {
	run := rand.Uint32() & 0xffffff
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("bench_%06x_%d", run, i)
	}
	return names
}

func (r *run) connect(ctx context.Context) ([]Publisher, error) {
	var pubs []Publisher
	for id := range r.w.Producers {
		p, err := r.t.NewPublisher(ctx, &r.w, id)
		if err != nil {
			return pubs, fmt.Errorf("%w: %s: publisher %d: %w", ErrTarget, r.t.Name(), id, err)
		}
		pubs = append(pubs, p)
	}
	return pubs, nil
}

func (r *run) execute(ctx context.Context, pubs []Publisher) (*Result, error) {
	var consumers []io.Closer
	defer func() { closeAll(r.log, consumers) }()
	live := !r.w.Backlog && r.w.Consumers > 0
	var err error
	if live {
		if consumers, err = r.startConsumers(ctx); err != nil {
			return nil, err
		}
	}
	if err := r.warmUp(ctx, pubs, live); err != nil {
		return nil, err
	}
	cpu := startCPU(r.o.ServerPID)
	stopProgress := r.startProgress()
	defer stopProgress()
	start := time.Now().Add(20 * time.Millisecond)
	res := &Result{Target: r.t.Name(), Label: r.o.Label, Workload: r.w, Started: start}
	r.publish(ctx, pubs, start)
	res.Publish = r.phase(r.acked.Load(), start, r.lastAck.Load())
	if r.w.Consumers > 0 {
		consumeStart := start
		if r.w.Backlog {
			consumeStart = time.Now()
			if consumers, err = r.startConsumers(ctx); err != nil {
				return nil, err
			}
		}
		r.drain(ctx)
		c := r.phase(r.received.Load(), consumeStart, r.lastRecv.Load())
		res.Consume = &c
	}
	stopProgress()
	r.finish(res, cpu.stop())
	return res, r.outcome()
}

func (r *run) phase(n int64, start time.Time, lastNS int64) Phase {
	p := Phase{Messages: n}
	if n == 0 || lastNS == 0 {
		return p
	}
	p.Seconds = max(time.Unix(0, lastNS).Sub(start).Seconds(), 1e-9)
	p.MsgsPerSec = float64(n) / p.Seconds
	p.MBPerSec = p.MsgsPerSec * float64(r.w.Size) / 1e6
	return p
}

func (r *run) finish(res *Result, cpu cpuUsage) {
	res.send = Merge(r.sendRec)
	res.SendLatency = Summarize(res.send)
	if !r.w.Backlog && r.w.Consumers > 0 {
		res.e2e = Merge(r.e2eRec)
		s := Summarize(res.e2e)
		res.EndToEnd = &s
	}
	res.Failed = r.failed.Load()
	if r.firstErr != nil {
		res.FirstError = r.firstErr.Error()
	}
	res.ClientCPUPercent, res.ServerCPUPercent = cpu.clientPct, cpu.serverPct
	_, res.ConsumersLagging = res.ConsumersLagged()
}

func (r *run) outcome() error {
	switch {
	case r.failed.Load() > 0:
		return fmt.Errorf("%w: %s: %d sends failed, first: %v", ErrIncomplete, r.t.Name(), r.failed.Load(), r.firstErr)
	case r.w.Consumers > 0 && r.received.Load() < r.acked.Load()*r.deliveriesPerMessage():
		return fmt.Errorf("%w: %s: consumers saw %d of %d messages", ErrIncomplete, r.t.Name(), r.received.Load(),
			r.acked.Load()*r.deliveriesPerMessage())
	}
	return nil
}

func (r *run) setErr(err error) {
	r.errOnce.Do(func() { r.firstErr = err })
}

// warmUp sends one unmeasured message per producer and topic, which also
// opens connections and loads routes; with live consumers it waits until
// they have seen them all, so that they are serving when the clock starts.
func (r *run) warmUp(ctx context.Context, pubs []Publisher, live bool) error {
	for id, p := range pubs {
		for _, topic := range r.topics {
			if err := p.SendSync(ctx, topic, newBody(r.w.Size, time.Time{})); err != nil {
				return fmt.Errorf("%w: %s: warm-up send of publisher %d: %w", ErrTarget, r.t.Name(), id, err)
			}
		}
	}
	if !live {
		return nil
	}
	want := int64(len(pubs)*len(r.topics)) * r.deliveriesPerMessage()
	if err := pollUntil(ctx, 30*time.Second, func() bool { return r.warm.Load() >= want }); err != nil {
		return fmt.Errorf("%w: %s: consumers saw %d of %d warm-up messages: %w", ErrTarget, r.t.Name(), r.warm.Load(), want, err)
	}
	return nil
}

var errPollTimeout = errors.New("timed out")

// pollUntil checks cond every millisecond until it holds, ctx ends or
// limit passes.
func pollUntil(ctx context.Context, limit time.Duration, cond func() bool) error {
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			return errPollTimeout
		}
		if err := sleepContext(ctx, time.Millisecond); err != nil {
			return err
		}
	}
	return nil
}

func (r *run) startConsumers(ctx context.Context) ([]io.Closer, error) {
	var cs []io.Closer
	for id := range r.w.Consumers {
		c, err := r.t.StartConsumer(ctx, &r.w, r.topics, id, r.deliverTo(r.e2eRec[id]))
		if err != nil {
			closeAll(r.log, cs)
			return nil, fmt.Errorf("%w: %s: consumer %d: %w", ErrTarget, r.t.Name(), id, err)
		}
		cs = append(cs, c)
	}
	return cs, nil
}

func (r *run) deliverTo(rec *Recorder) func([]byte) {
	backlog := r.w.Backlog
	return func(body []byte) {
		ns, ok := bodyStamp(body)
		if !ok {
			r.warm.Add(1)
			return
		}
		now := time.Now().UnixNano()
		if !backlog {
			rec.Record(time.Duration(now - ns))
		}
		r.received.Add(1)
		storeMax(&r.lastRecv, now)
	}
}

// drain waits until the consumers have seen every acknowledged message,
// or saw nothing new for DrainTimeout.
func (r *run) drain(ctx context.Context) {
	last, lastChange := r.received.Load(), time.Now()
	_ = pollUntil(ctx, 24*time.Hour, func() bool {
		got := r.received.Load()
		if got >= r.acked.Load()*r.deliveriesPerMessage() {
			return true
		}
		if got != last {
			last, lastChange = got, time.Now()
		}
		return time.Since(lastChange) > r.w.DrainTimeout
	})
}

func storeMax(v *atomic.Int64, n int64) {
	for {
		old := v.Load()
		if n <= old || v.CompareAndSwap(old, n) {
			return
		}
	}
}

func closeAll[C io.Closer](log *slog.Logger, cs []C) {
	for _, c := range cs {
		if err := c.Close(); err != nil {
			log.Warn("perf: close", "err", err)
		}
	}
}
