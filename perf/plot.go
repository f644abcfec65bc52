package perf

import (
	"bytes"
	"fmt"
	"html"
	"io"
	"math"
	"strings"
)

// The plot is one self-contained HTML page: an inline SVG of the latency
// percentile curves (x: percentile on a log(1/(1-p)) scale, y: latency on a
// log scale), a legend under the plot area (one line per curve, with its
// p50, p99 and max written out, since the scale that spreads the tail
// squeezes the median into the left edge) and the summary table. It loads
// nothing from anywhere.

const (
	plotWidth, plotHeight = 900, 480 // the plot area and its axes; the legend adds rows below
	plotLeft, plotRight   = 70, 30
	plotTop, plotBottom   = 30, 50
	legendRow             = 18
	plotMaxX              = 5.5 // where the maximum is drawn (x = 5 is 99.999 %)
	plotStepsPerDecade    = 20
)

var plotColors = []string{"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#17becf", "#7f7f7f"}

// PlotSeries is one percentile curve.
type PlotSeries struct {
	Name   string
	Points []CurvePoint
	// Note is written after the name in the legend (its p50, p99, max).
	Note string
}

// SeriesOf returns the curves of results: send latency and, where
// measured, end-to-end latency.
func SeriesOf(results ...*Result) []PlotSeries {
	var out []PlotSeries
	for _, r := range results {
		name := columnName(r)
		if pts := Curve(r.send, plotStepsPerDecade); pts != nil {
			out = append(out, PlotSeries{Name: name + " send", Points: pts, Note: percentileNote(Summarize(r.send))})
		}
		if pts := Curve(r.e2e, plotStepsPerDecade); pts != nil {
			out = append(out, PlotSeries{Name: name + " end-to-end", Points: pts, Note: percentileNote(Summarize(r.e2e))})
		}
	}
	return out
}

func percentileNote(s Summary) string {
	return "p50 " + formatMicros(s.P50US) + ", p99 " + formatMicros(s.P99US) + ", max " + formatMicros(s.MaxUS)
}

// WritePlot writes the HTML page for rep.
func (rep *Report) WritePlot(w io.Writer, title string) error {
	var table bytes.Buffer
	if err := rep.WriteTable(&table); err != nil {
		return err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>%s</title>\n", html.EscapeString(title))
	b.WriteString("<style>body{font-family:sans-serif;margin:2em}pre{background:#f6f6f6;padding:1em}</style>\n")
	fmt.Fprintf(&b, "</head><body>\n<h1>%s</h1>\n", html.EscapeString(title))
	b.WriteString(PercentileSVG(SeriesOf(rep.Results...)))
	fmt.Fprintf(&b, "\n<pre>%s</pre>\n</body></html>\n", html.EscapeString(table.String()))
	_, err := io.WriteString(w, b.String())
	return err
}

// PercentileSVG draws series as an SVG element.
func PercentileSVG(series []PlotSeries) string {
	lo, hi := yRange(series)
	p := plotFrame{lo: lo, hi: hi}
	var b strings.Builder
	height := plotHeight + legendRow*len(series) + 10
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`,
		plotWidth, height, plotWidth, height)
	b.WriteString("\n")
	p.axes(&b)
	for i, s := range series {
		p.curve(&b, s, plotColors[i%len(plotColors)], i)
	}
	b.WriteString("</svg>")
	return b.String()
}

// yRange is the decades (log10 µs) the curves span.
func yRange(series []PlotSeries) (lo, hi float64) {
	lo, hi = math.Inf(1), math.Inf(-1)
	for _, s := range series {
		for _, pt := range s.Points {
			v := math.Log10(math.Max(pt.LatencyUS, 0.1))
			lo, hi = math.Min(lo, v), math.Max(hi, v)
		}
	}
	if math.IsInf(lo, 0) {
		return 0, 3
	}
	lo, hi = math.Floor(lo), math.Ceil(hi)
	if hi <= lo {
		hi = lo + 1
	}
	return lo, hi
}

type plotFrame struct{ lo, hi float64 }

func (p plotFrame) x(percentile float64) float64 {
	v := plotMaxX
	if percentile < 100 {
		v = math.Min(math.Log10(1/(1-percentile/100)), plotMaxX)
	}
	return plotLeft + v/plotMaxX*(plotWidth-plotLeft-plotRight)
}

func (p plotFrame) y(us float64) float64 {
	v := math.Log10(math.Max(us, 0.1))
	return plotHeight - plotBottom - (v-p.lo)/(p.hi-p.lo)*(plotHeight-plotTop-plotBottom)
}

func (p plotFrame) axes(b *strings.Builder) {
	bottom, right := float64(plotHeight-plotBottom), float64(plotWidth-plotRight)
	fmt.Fprintf(b, `<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="#888"/>`+"\n",
		plotLeft, plotTop, plotWidth-plotLeft-plotRight, plotHeight-plotTop-plotBottom)
	for _, tick := range []struct {
		percentile float64
		label      string
	}{{0, "0%"}, {50, "50%"}, {90, "90%"}, {99, "99%"}, {99.9, "99.9%"}, {99.99, "99.99%"}, {99.999, "99.999%"}} {
		x := p.x(tick.percentile)
		fmt.Fprintf(b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%.1f" stroke="#ddd"/>`, x, plotTop, x, bottom)
		fmt.Fprintf(b, `<text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`+"\n", x, bottom+16, tick.label)
	}
	fmt.Fprintf(b, `<text x="%.1f" y="%.1f" text-anchor="middle">max</text>`+"\n", p.x(100), bottom+16)
	fmt.Fprintf(b, `<text x="%.1f" y="%.1f" text-anchor="middle">percentile</text>`+"\n", (plotLeft+right)/2, bottom+36)
	for d := p.lo; d <= p.hi; d++ {
		y := p.y(math.Pow(10, d))
		fmt.Fprintf(b, `<line x1="%d" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#ddd"/>`, plotLeft, y, right, y)
		fmt.Fprintf(b, `<text x="%d" y="%.1f" text-anchor="end">%s</text>`+"\n", plotLeft-6, y+4, decadeLabel(int(d)))
	}
	fmt.Fprintf(b, `<text x="14" y="%.1f" transform="rotate(-90 14 %.1f)" text-anchor="middle">latency</text>`+"\n",
		bottom/2+plotTop/2, bottom/2+plotTop/2)
}

func (p plotFrame) curve(b *strings.Builder, s PlotSeries, color string, i int) {
	var pts strings.Builder
	for _, pt := range s.Points {
		fmt.Fprintf(&pts, "%.1f,%.1f ", p.x(pt.Percentile), p.y(pt.LatencyUS))
	}
	fmt.Fprintf(b, `<polyline fill="none" stroke="%s" stroke-width="2" points="%s"><title>%s</title></polyline>`+"\n",
		color, strings.TrimSpace(pts.String()), html.EscapeString(s.Name))
	ly := float64(plotHeight + legendRow*i + 4)
	lx := float64(plotLeft)
	label := s.Name
	if s.Note != "" {
		label += ": " + s.Note
	}
	fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="3"/>`, lx, ly, lx+18, ly, color)
	fmt.Fprintf(b, `<text x="%.1f" y="%.1f">%s</text>`+"\n", lx+24, ly+4, html.EscapeString(label))
}

// decadeLabel names 10^d microseconds: 1µs, 10µs, ..., 1ms, ..., 1s, 10s.
func decadeLabel(d int) string {
	units := []string{"µs", "ms", "s"}
	u := min(max(d, 0)/3, len(units)-1)
	return fmt.Sprintf("%g%s", math.Pow(10, float64(d-3*u)), units[u])
}
