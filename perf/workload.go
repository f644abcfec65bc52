package perf

import (
	"errors"
	"flag"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Error classes; test them with errors.Is.
var (
	// ErrInvalidWorkload: a workload field or flag is out of range.
	ErrInvalidWorkload = errors.New("perf: invalid workload")
	// ErrTarget: the broker or its client failed to set up or to serve.
	ErrTarget = errors.New("perf: target failed")
	// ErrIncomplete: the run ended with failed sends or messages that the
	// consumers never saw; the result still carries what was measured.
	ErrIncomplete = errors.New("perf: run incomplete")
)

// SendMode is how producers send.
type SendMode string

// Send modes.
const (
	// SendSync sends one message and waits for its acknowledgement.
	SendSync SendMode = "sync"
	// SendAsync keeps up to Window sends in flight per producer.
	SendAsync SendMode = "async"
	// SendBatch sends Batch messages and waits until all are acknowledged:
	// one SEND_BATCH_MESSAGE on Comet, Batch async publishes on NATS.
	SendBatch SendMode = "batch"
)

// ConsumeMode is how consumers receive.
type ConsumeMode string

// Consume modes.
const (
	// ConsumePush hands messages to a callback: Comet's push consumer, a
	// JetStream pull consumer's Consume callback.
	ConsumePush ConsumeMode = "push"
	// ConsumePull fetches explicitly: Comet's pull consumer per queue,
	// JetStream Fetch.
	ConsumePull ConsumeMode = "pull"
)

// MinSize is the smallest message body: the timestamp header.
const MinSize = 8

// Workload is what a run does. The zero value is not valid; start from
// DefaultWorkload.
type Workload struct {
	Producers int `json:"producers"`
	Consumers int `json:"consumers"`
	// Size is the body size in bytes (at least MinSize).
	Size int `json:"size"`
	// Count is the messages to send in total; 0 means run for Duration.
	Count int64 `json:"count,omitempty"`
	// Duration bounds the send phase when Count is 0.
	Duration time.Duration `json:"duration_ns,omitempty"`
	// Rate is the target in messages per second over all producers (open
	// loop); 0 means as fast as acknowledgements allow.
	Rate float64  `json:"rate"`
	Mode SendMode `json:"mode"`
	// Batch is the messages per batch in batch mode.
	Batch int `json:"batch,omitempty"`
	// Window bounds the async sends in flight per producer.
	Window int `json:"window"`
	// Linger turns on Comet's automatic micro-batching of async sends (the
	// NATS peer ignores it).
	Linger time.Duration `json:"linger_ns,omitempty"`
	Topics int           `json:"topics"`
	// Queues is the queue count per topic (Comet; a NATS stream has none).
	Queues  int         `json:"queues"`
	Consume ConsumeMode `json:"consume"`
	// Backlog fills the topics first and then measures the consumers
	// draining them; otherwise consumers run while producers send.
	Backlog bool `json:"backlog"`
	// DrainTimeout is how long consumers may go without a new message,
	// once sending is over, before the run gives up on the rest.
	DrainTimeout time.Duration `json:"drain_timeout_ns"`
}

// DefaultWorkload is one producer, one consumer, 128-byte async sends of
// 100,000 messages to one topic of 8 queues at max rate.
func DefaultWorkload() Workload {
	return Workload{
		Producers: 1, Consumers: 1, Size: 128, Count: 100_000, Mode: SendAsync,
		Batch: 64, Window: 1024, Topics: 1, Queues: 8, Consume: ConsumePush,
		DrainTimeout: time.Minute,
	}
}

// Validate reports the first field out of range, wrapping ErrInvalidWorkload.
func (w *Workload) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidWorkload, fmt.Sprintf(format, args...))
	}
	switch {
	case w.Producers < 1 || w.Producers > 4096:
		return bad("producers %d not in 1..4096", w.Producers)
	case w.Consumers < 0 || w.Consumers > 4096:
		return bad("consumers %d not in 0..4096", w.Consumers)
	case w.Size < MinSize || w.Size > 4<<20:
		return bad("size %d not in %d..%d", w.Size, MinSize, 4<<20)
	case w.Count < 0 || w.Duration < 0:
		return bad("negative count or duration")
	case (w.Count == 0) == (w.Duration == 0):
		return bad("give exactly one of count and duration")
	case w.Rate < 0 || math.IsNaN(w.Rate) || math.IsInf(w.Rate, 0):
		return bad("rate %v must be finite and >= 0", w.Rate)
	case w.Window < 1:
		return bad("window %d must be positive", w.Window)
	case w.Linger < 0:
		return bad("negative linger")
	case w.Topics < 1 || w.Topics > 1024:
		return bad("topics %d not in 1..1024", w.Topics)
	case w.Queues < 1 || w.Queues > 1024:
		return bad("queues %d not in 1..1024", w.Queues)
	case w.Backlog && w.Consumers == 0:
		return bad("a backlog run needs consumers")
	case w.DrainTimeout <= 0:
		return bad("drain timeout must be positive")
	}
	return w.validateModes()
}

func (w *Workload) validateModes() error {
	switch w.Mode {
	case SendSync, SendAsync:
	case SendBatch:
		if w.Batch < 1 || w.Batch > 4096 {
			return fmt.Errorf("%w: batch %d not in 1..4096", ErrInvalidWorkload, w.Batch)
		}
		if int64(w.Batch)*int64(w.Size) > 4<<20 {
			return fmt.Errorf("%w: a batch of %d × %d bytes exceeds 4 MiB", ErrInvalidWorkload, w.Batch, w.Size)
		}
	default:
		return fmt.Errorf("%w: send mode %q is not sync, async or batch", ErrInvalidWorkload, w.Mode)
	}
	if w.Consume != ConsumePush && w.Consume != ConsumePull {
		return fmt.Errorf("%w: consume mode %q is not push or pull", ErrInvalidWorkload, w.Consume)
	}
	return nil
}

// opSize is the messages one send operation carries.
func (w *Workload) opSize() int {
	if w.Mode == SendBatch {
		return w.Batch
	}
	return 1
}

// String is a one-line description for tables and plots.
func (w *Workload) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d×%d, %s B, %s", w.Producers, w.Consumers, FormatCount(int64(w.Size)), w.Mode)
	if w.Mode == SendBatch {
		fmt.Fprintf(&b, " of %d", w.Batch)
	}
	if w.Mode == SendAsync {
		fmt.Fprintf(&b, " window %d", w.Window)
		if w.Linger > 0 {
			fmt.Fprintf(&b, " linger %v", w.Linger)
		}
	}
	if w.Count > 0 {
		fmt.Fprintf(&b, ", %s msgs", FormatCount(w.Count))
	} else {
		fmt.Fprintf(&b, ", %v", w.Duration)
	}
	if w.Rate > 0 {
		fmt.Fprintf(&b, " at %s/s", FormatCount(int64(w.Rate)))
	} else {
		b.WriteString(" at max rate")
	}
	fmt.Fprintf(&b, ", %d topic(s) × %d queue(s), %s consume", w.Topics, w.Queues, w.Consume)
	if w.Backlog {
		b.WriteString(" from backlog")
	}
	return b.String()
}

// ParseSize parses a byte size: a number with an optional unit B, K/KB/KiB,
// M/MB/MiB (all units binary: 1K = 1024).
func ParseSize(s string) (int, error) {
	num, unit := splitUnit(s)
	mult := int64(1)
	switch strings.ToLower(unit) {
	case "", "b":
	case "k", "kb", "kib":
		mult = 1 << 10
	case "m", "mb", "mib":
		mult = 1 << 20
	default:
		return 0, fmt.Errorf("%w: size %q: unknown unit %q", ErrInvalidWorkload, s, unit)
	}
	return parseScaled(s, num, mult, math.MaxInt32)
}

// ParseCount parses a count or rate: a number with an optional decimal
// suffix k (10³), M (10⁶) or G (10⁹).
func ParseCount(s string) (int64, error) {
	num, unit := splitUnit(s)
	mult := int64(1)
	switch unit {
	case "":
	case "k", "K":
		mult = 1e3
	case "m", "M":
		mult = 1e6
	case "g", "G":
		mult = 1e9
	default:
		return 0, fmt.Errorf("%w: count %q: unknown suffix %q", ErrInvalidWorkload, s, unit)
	}
	n, err := parseScaled(s, num, mult, 1e15)
	return int64(n), err
}

func splitUnit(s string) (num, unit string) {
	s = strings.TrimSpace(s)
	i := strings.IndexFunc(s, func(r rune) bool { return (r < '0' || r > '9') && r != '.' && r != '_' })
	if i < 0 {
		return s, ""
	}
	return s[:i], strings.TrimSpace(s[i:])
}

func parseScaled(orig, num string, mult int64, limit float64) (int, error) {
	v, err := strconv.ParseFloat(strings.ReplaceAll(num, "_", ""), 64)
	if err != nil || num == "" {
		return 0, fmt.Errorf("%w: %q is not a number", ErrInvalidWorkload, orig)
	}
	v *= float64(mult)
	if v < 0 || v > limit || v != math.Trunc(v) {
		return 0, fmt.Errorf("%w: %q is not a whole number in 0..%.0f", ErrInvalidWorkload, orig, limit)
	}
	return int(v), nil
}

// FormatCount writes n with a k/M/G suffix when it divides evenly.
func FormatCount(n int64) string {
	switch {
	case n >= 1e9 && n%1e9 == 0:
		return strconv.FormatInt(n/1e9, 10) + "G"
	case n >= 1e6 && n%1e6 == 0:
		return strconv.FormatInt(n/1e6, 10) + "M"
	case n >= 1e3 && n%1e3 == 0:
		return strconv.FormatInt(n/1e3, 10) + "k"
	}
	return strconv.FormatInt(n, 10)
}

// RegisterFlags maps the workload's fields onto fs, with w's current values
// as defaults. Call Validate after fs.Parse.
func (w *Workload) RegisterFlags(fs *flag.FlagSet) {
	fs.IntVar(&w.Producers, "producers", w.Producers, "producer goroutines, each with its own connection")
	fs.IntVar(&w.Consumers, "consumers", w.Consumers, "consumers, each with its own connection (0: send only)")
	fs.Var(sizeFlag{&w.Size}, "size", "message body size (128, 1KiB, 4M)")
	fs.Var(countFlag{&w.Count}, "count", "messages to send in total (100k, 1M); 0 with -duration")
	fs.DurationVar(&w.Duration, "duration", w.Duration, "send for this long instead of a count (set -count 0)")
	fs.Var(rateFlag{&w.Rate}, "rate", "target msgs/s over all producers, open loop (0: max rate)")
	fs.Var(modeFlag{&w.Mode}, "mode", "send mode: sync, async or batch")
	fs.IntVar(&w.Batch, "batch", w.Batch, "messages per batch in batch mode")
	fs.IntVar(&w.Window, "window", w.Window, "async sends in flight per producer")
	fs.DurationVar(&w.Linger, "linger", w.Linger, "Comet micro-batching of async sends: linger time (0: off)")
	fs.IntVar(&w.Topics, "topics", w.Topics, "topics (NATS: one stream each)")
	fs.IntVar(&w.Queues, "queues", w.Queues, "queues per topic (Comet)")
	fs.Var(consumeFlag{&w.Consume}, "consume", "consume mode: push (callback) or pull (fetch)")
	fs.BoolVar(&w.Backlog, "backlog", w.Backlog, "fill first, then measure the consumers draining the backlog")
	fs.DurationVar(&w.DrainTimeout, "drain-timeout", w.DrainTimeout, "after the last send, give up when consumers see nothing new for this long")
}

type sizeFlag struct{ p *int }

func (f sizeFlag) String() string {
	if f.p == nil {
		return ""
	}
	return strconv.Itoa(*f.p)
}

func (f sizeFlag) Set(s string) (err error) { *f.p, err = ParseSize(s); return err }

type countFlag struct{ p *int64 }

func (f countFlag) String() string {
	if f.p == nil {
		return ""
	}
	return FormatCount(*f.p)
}

func (f countFlag) Set(s string) (err error) { *f.p, err = ParseCount(s); return err }

type rateFlag struct{ p *float64 }

func (f rateFlag) String() string {
	if f.p == nil {
		return ""
	}
	return FormatCount(int64(*f.p))
}

func (f rateFlag) Set(s string) error {
	n, err := ParseCount(s)
	*f.p = float64(n)
	return err
}

type modeFlag struct{ p *SendMode }

func (f modeFlag) String() string {
	if f.p == nil {
		return ""
	}
	return string(*f.p)
}

func (f modeFlag) Set(s string) error { *f.p = SendMode(s); return nil }

type consumeFlag struct{ p *ConsumeMode }

func (f consumeFlag) String() string {
	if f.p == nil {
		return ""
	}
	return string(*f.p)
}

func (f consumeFlag) Set(s string) error { *f.p = ConsumeMode(s); return nil }
