package ops

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// Logging is the process logger with the knobs a reload may turn.
type Logging struct {
	Logger  *slog.Logger
	Level   *slog.LevelVar
	Limiter *RateLimiter
}

// NewLogging builds a text or JSON logger at level whose warnings and
// errors are rate limited to perSecond lines per message (0: unlimited).
func NewLogging(w io.Writer, format string, level slog.Level, perSecond int) (*Logging, error) {
	lv := &slog.LevelVar{}
	lv.Set(level)
	ho := &slog.HandlerOptions{Level: lv}
	var inner slog.Handler
	switch format {
	case "text", "":
		inner = slog.NewTextHandler(w, ho)
	case "json":
		inner = slog.NewJSONHandler(w, ho)
	default:
		return nil, fmt.Errorf("ops: log format %q: want text or json", format)
	}
	rl := NewRateLimiter(inner, perSecond, time.Now)
	return &Logging{Logger: slog.New(rl), Level: lv, Limiter: rl}, nil
}

// maxTrackedMessages bounds the distinct messages whose suppressed counts
// are remembered; beyond it the extra counts are summed under one entry.
const maxTrackedMessages = 1024

// otherMessages is where suppressed counts go once maxTrackedMessages
// distinct messages are tracked.
const otherMessages = "(other messages)"

// RateLimiter is a slog.Handler that lets at most a limit of records per
// second through for each distinct message at Warn level or above, drops
// the rest, and reports how many it dropped on the next record of that
// message it lets through (attribute "suppressed"). Debug and Info records
// pass untouched: the limit is for hot error paths that repeat per request.
type RateLimiter struct {
	inner slog.Handler
	state *limiterState // shared by the handlers WithAttrs/WithGroup derive
}

type limiterState struct {
	limit atomic.Int64
	now   func() time.Time
	mu    struct {
		sync.Mutex
		second     int64
		counts     map[string]int64 // lines let through this second
		suppressed map[string]int64 // dropped since the last line let through
	}
}

// NewRateLimiter wraps inner; perSecond <= 0 disables limiting.
func NewRateLimiter(inner slog.Handler, perSecond int, now func() time.Time) *RateLimiter {
	st := &limiterState{now: now}
	st.limit.Store(int64(perSecond))
	st.mu.counts = map[string]int64{}
	st.mu.suppressed = map[string]int64{}
	return &RateLimiter{inner: inner, state: st}
}

// SetLimit changes the per-message limit (reloadable).
func (r *RateLimiter) SetLimit(perSecond int) { r.state.limit.Store(int64(perSecond)) }

// Suppressed is the number of records dropped and not yet reported.
func (r *RateLimiter) Suppressed() int64 {
	r.state.mu.Lock()
	defer r.state.mu.Unlock()
	var n int64
	for _, v := range r.state.mu.suppressed {
		n += v
	}
	return n
}

// Enabled implements slog.Handler.
func (r *RateLimiter) Enabled(ctx context.Context, level slog.Level) bool {
	return r.inner.Enabled(ctx, level)
}

// Handle implements slog.Handler.
func (r *RateLimiter) Handle(ctx context.Context, rec slog.Record) error {
	limit := r.state.limit.Load()
	if rec.Level < slog.LevelWarn || limit <= 0 {
		return r.inner.Handle(ctx, rec)
	}
	pass, dropped := r.state.admit(rec.Message, limit)
	if !pass {
		return nil
	}
	if dropped > 0 {
		rec = rec.Clone()
		rec.AddAttrs(slog.Int64("suppressed", dropped))
	}
	return r.inner.Handle(ctx, rec)
}

// admit decides for one record and returns the count to report with it.
func (s *limiterState) admit(msg string, limit int64) (bool, int64) {
	sec := s.now().Unix()
	s.mu.Lock()
	defer s.mu.Unlock()
	if sec != s.mu.second {
		s.mu.second = sec
		clear(s.mu.counts)
	}
	if s.mu.counts[msg] >= limit {
		key := msg
		if _, tracked := s.mu.suppressed[msg]; !tracked && len(s.mu.suppressed) >= maxTrackedMessages {
			key = otherMessages
		}
		s.mu.suppressed[key]++
		return false, 0
	}
	s.mu.counts[msg]++
	dropped := s.mu.suppressed[msg]
	delete(s.mu.suppressed, msg)
	return true, dropped
}

// WithAttrs implements slog.Handler.
func (r *RateLimiter) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &RateLimiter{inner: r.inner.WithAttrs(attrs), state: r.state}
}

// WithGroup implements slog.Handler.
func (r *RateLimiter) WithGroup(name string) slog.Handler {
	return &RateLimiter{inner: r.inner.WithGroup(name), state: r.state}
}
