package perf

import (
	"math"
	"sync"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Latencies are recorded in nanoseconds, from 1 ns to 10 minutes, to three
// significant digits (every value within 0.1 % of what was recorded).
const (
	histLowest  = 1
	histHighest = int64(10 * time.Minute)
	histDigits  = 3
)

func newHistogram() *hdrhistogram.Histogram {
	return hdrhistogram.New(histLowest, histHighest, histDigits)
}

// Recorder is a latency histogram safe for concurrent use. Give each
// producer or consumer its own, so that they rarely contend, and merge
// them with Merge.
type Recorder struct {
	mu struct {
		sync.Mutex
		h *hdrhistogram.Histogram
	}
}

// NewRecorder returns an empty recorder.
func NewRecorder() *Recorder {
	r := &Recorder{}
	r.mu.h = newHistogram()
	return r
}

// Record adds one latency; values outside the range are clamped to it.
func (r *Recorder) Record(d time.Duration) { r.RecordN(d, 1) }

// RecordN adds n equal latencies (a batch's messages).
func (r *Recorder) RecordN(d time.Duration, n int64) {
	v := min(max(int64(d), histLowest), histHighest)
	r.mu.Lock()
	_ = r.mu.h.RecordValues(v, n) // in range by construction
	r.mu.Unlock()
}

// mergeInto adds everything recorded so far to dst.
func (r *Recorder) mergeInto(dst *hdrhistogram.Histogram) {
	r.mu.Lock()
	dst.Merge(r.mu.h)
	r.mu.Unlock()
}

// Merge returns one histogram holding everything the recorders recorded.
func Merge(recorders []*Recorder) *hdrhistogram.Histogram {
	h := newHistogram()
	for _, r := range recorders {
		r.mergeInto(h)
	}
	return h
}

// Summary is a latency distribution's headline figures, in microseconds.
type Summary struct {
	Count   int64   `json:"count"`
	MinUS   float64 `json:"min_us"`
	MeanUS  float64 `json:"mean_us"`
	P50US   float64 `json:"p50_us"`
	P90US   float64 `json:"p90_us"`
	P99US   float64 `json:"p99_us"`
	P999US  float64 `json:"p99_9_us"`
	MaxUS   float64 `json:"max_us"`
	StdevUS float64 `json:"stdev_us"`
}

// Summarize reads the headline figures off h.
func Summarize(h *hdrhistogram.Histogram) Summary {
	if h == nil || h.TotalCount() == 0 {
		return Summary{}
	}
	us := func(ns int64) float64 { return roundMicros(float64(ns)) }
	return Summary{
		Count:   h.TotalCount(),
		MinUS:   us(h.Min()),
		MeanUS:  roundMicros(h.Mean()),
		P50US:   us(h.ValueAtQuantile(50)),
		P90US:   us(h.ValueAtQuantile(90)),
		P99US:   us(h.ValueAtQuantile(99)),
		P999US:  us(h.ValueAtQuantile(99.9)),
		MaxUS:   us(h.Max()),
		StdevUS: roundMicros(h.StdDev()),
	}
}

// roundMicros converts nanoseconds to microseconds with one decimal.
func roundMicros(ns float64) float64 { return math.Round(ns/100) / 10 }

// CurvePoint is one point of a percentile curve.
type CurvePoint struct {
	Percentile float64 `json:"percentile"`
	LatencyUS  float64 `json:"latency_us"`
}

// Curve samples h's percentile curve from 0 to 99.999 %, evenly in
// log(1/(1-p)) with steps points per decade, ending with the maximum.
func Curve(h *hdrhistogram.Histogram, steps int) []CurvePoint {
	if h == nil || h.TotalCount() == 0 || steps < 1 {
		return nil
	}
	var pts []CurvePoint
	for i := 0; i <= 5*steps; i++ {
		tail := math.Pow(10, -float64(i)/float64(steps)) // 1 - p
		p := 100 * (1 - tail)
		pts = append(pts, CurvePoint{Percentile: p, LatencyUS: float64(h.ValueAtQuantile(p)) / 1e3})
	}
	pts = append(pts, CurvePoint{Percentile: 100, LatencyUS: float64(h.Max()) / 1e3})
	return pts
}
