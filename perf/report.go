package perf

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
)

// metric is one row of the summary table and one key of the JSON ratios.
type metric struct {
	key   string // JSON ratio key
	label string // table label
	get   func(*Result) (float64, bool)
	fmt   func(float64) string
	// lowerIsBetter: latencies and CPU; throughput is better higher.
	lowerIsBetter bool
}

// better names the direction in which a metric improves.
func (m metric) better() string {
	if m.lowerIsBetter {
		return "lower"
	}
	return "higher"
}

func phaseMetric(key, label string, phase func(*Result) *Phase, field func(*Phase) float64, f func(float64) string) metric {
	return metric{key: key, label: label, fmt: f, get: func(r *Result) (float64, bool) {
		p := phase(r)
		if p == nil || p.Messages == 0 {
			return 0, false
		}
		return field(p), true
	}}
}

func latencyMetric(key, label string, sum func(*Result) *Summary, field func(*Summary) float64) metric {
	return metric{key: key, label: label, fmt: formatMicros, lowerIsBetter: true, get: func(r *Result) (float64, bool) {
		s := sum(r)
		if s == nil || s.Count == 0 {
			return 0, false
		}
		return field(s), true
	}}
}

func metrics() []metric {
	pub := func(r *Result) *Phase { return &r.Publish }
	con := func(r *Result) *Phase { return r.Consume }
	rate := func(p *Phase) float64 { return p.MsgsPerSec }
	mb := func(p *Phase) float64 { return p.MBPerSec }
	send := func(r *Result) *Summary { return &r.SendLatency }
	e2e := func(r *Result) *Summary { return r.EndToEnd }
	ms := []metric{
		phaseMetric("publish_msgs_per_sec", "publish msgs/s", pub, rate, formatThousands),
		phaseMetric("publish_mb_per_sec", "publish MB/s", pub, mb, formatOneDecimal),
		phaseMetric("consume_msgs_per_sec", "consume msgs/s", con, rate, formatThousands),
		phaseMetric("consume_mb_per_sec", "consume MB/s", con, mb, formatOneDecimal),
	}
	for _, q := range []struct {
		key, label string
		field      func(*Summary) float64
	}{
		{"p50", "p50", func(s *Summary) float64 { return s.P50US }},
		{"p90", "p90", func(s *Summary) float64 { return s.P90US }},
		{"p99", "p99", func(s *Summary) float64 { return s.P99US }},
		{"p99_9", "p99.9", func(s *Summary) float64 { return s.P999US }},
		{"max", "max", func(s *Summary) float64 { return s.MaxUS }},
	} {
		ms = append(ms, latencyMetric("send_"+q.key+"_us", "send "+q.label, send, q.field))
	}
	for _, q := range []struct {
		key, label string
		field      func(*Summary) float64
	}{
		{"p50", "p50", func(s *Summary) float64 { return s.P50US }},
		{"p99", "p99", func(s *Summary) float64 { return s.P99US }},
		{"max", "max", func(s *Summary) float64 { return s.MaxUS }},
	} {
		ms = append(ms, latencyMetric("e2e_"+q.key+"_us", "end-to-end "+q.label, e2e, q.field))
	}
	cpu := func(pick func(*Result) float64) func(*Result) (float64, bool) {
		return func(r *Result) (float64, bool) { v := pick(r); return v, v > 0 }
	}
	return append(ms,
		metric{"client_cpu_pct", "client CPU %", cpu(func(r *Result) float64 { return r.ClientCPUPercent }), formatPercent, true},
		metric{"server_cpu_pct", "server CPU %", cpu(func(r *Result) float64 { return r.ServerCPUPercent }), formatPercent, true},
	)
}

// Report is the JSON document of one or more runs of one workload.
type Report struct {
	Results []*Result `json:"results"`
	// Ratios are first result / second result by metric, when two ran.
	Ratios map[string]float64 `json:"ratios,omitempty"`
	// Better says, for each ratio, which way is better: "higher" or "lower".
	Better map[string]string `json:"better,omitempty"`
}

// NewReport gathers results; with two it computes their ratios.
func NewReport(results ...*Result) *Report {
	rep := &Report{Results: results}
	if len(results) != 2 {
		return rep
	}
	rep.Ratios, rep.Better = make(map[string]float64), make(map[string]string)
	for _, m := range metrics() {
		if r, ok := ratio(m, results[0], results[1]); ok {
			rep.Ratios[m.key], rep.Better[m.key] = r, m.better()
		}
	}
	return rep
}

func ratio(m metric, a, b *Result) (float64, bool) {
	va, okA := m.get(a)
	vb, okB := m.get(b)
	if !okA || !okB || vb == 0 {
		return 0, false
	}
	return va / vb, true
}

// WriteJSON writes the report as indented JSON.
func (rep *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(rep)
}

// WriteTable writes the summary table: one column per result and, with
// two, the ratio of the first to the second.
func (rep *Report) WriteTable(w io.Writer) error {
	if len(rep.Results) == 0 {
		return nil
	}
	fmt.Fprintf(w, "workload: %s\n", rep.Results[0].Workload.String())
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	// AlignRight suits the numbers; labels padded to one width read left.
	width := len("metric")
	for _, m := range metrics() {
		width = max(width, len(m.label))
	}
	header := []string{padRight("metric", width)}
	for _, r := range rep.Results {
		header = append(header, columnName(r))
	}
	if len(rep.Results) == 2 {
		header = append(header, rep.Results[0].Target+"/"+rep.Results[1].Target, "better")
	}
	fmt.Fprintln(tw, strings.Join(header, "\t")+"\t")
	for _, m := range metrics() {
		if row, ok := rep.row(m); ok {
			row[0] = padRight(row[0], width)
			fmt.Fprintln(tw, strings.Join(row, "\t")+"\t")
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	rep.writeNotes(w)
	return nil
}

func columnName(r *Result) string {
	if r.Label != "" {
		return r.Target + " (" + r.Label + ")"
	}
	return r.Target
}

func (rep *Report) row(m metric) ([]string, bool) {
	row := []string{m.label}
	present := false
	for _, r := range rep.Results {
		v, ok := m.get(r)
		if !ok {
			row = append(row, "-")
			continue
		}
		present = true
		row = append(row, m.fmt(v))
	}
	if len(rep.Results) == 2 {
		cell, better := "-", ""
		if v, ok := rep.Ratios[m.key]; ok {
			cell = strconv.FormatFloat(v, 'f', 2, 64) + "×"
			better = m.better() + ": " + rep.winner(m, v)
		}
		row = append(row, cell, better)
	}
	return row, present
}

// winner names the target a ratio favours, or "even".
func (rep *Report) winner(m metric, ratio float64) string {
	switch {
	case ratio == 1:
		return "even"
	case (ratio > 1) != m.lowerIsBetter:
		return rep.Results[0].Target
	}
	return rep.Results[1].Target
}

func (rep *Report) writeNotes(w io.Writer) {
	for _, r := range rep.Results {
		if r.Failed > 0 {
			fmt.Fprintf(w, "%s: %d sends failed, first: %s\n", r.Target, r.Failed, r.FirstError)
		}
		if r.Consume != nil && r.Consume.Messages < r.Publish.Messages {
			fmt.Fprintf(w, "%s: consumers saw %d of %d messages\n", r.Target, r.Consume.Messages, r.Publish.Messages)
		}
		if behind, ok := r.ConsumersLagged(); ok {
			fmt.Fprintf(w, "%s: LAGGING CONSUMERS: the last delivery came %.2fs after the last acknowledgement "+
				"(consume %s msgs/s against publish %s): end-to-end latency measures the backlog, not the broker\n",
				r.Target, behind, formatThousands(r.Consume.MsgsPerSec), formatThousands(r.Publish.MsgsPerSec))
		}
	}
	if len(rep.Results) == 2 {
		fmt.Fprintf(w, "ratio: %s / %s; the better column names the winner of each row\n", rep.Results[0].Target, rep.Results[1].Target)
	}
}

// ConsumersLagged reports whether live consumers fell behind the
// producers: they finished more than a tenth of the publish time (and
// more than 100 ms) after the last acknowledgement. behind is that gap
// in seconds. Backlog runs consume afterwards by design and never lag.
func (r *Result) ConsumersLagged() (behind float64, lagged bool) {
	if r.Consume == nil || r.Workload.Backlog || r.Consume.Messages == 0 {
		return 0, false
	}
	behind = r.Consume.Seconds - r.Publish.Seconds
	return behind, behind > 0.1 && behind > r.Publish.Seconds/10
}

func padRight(s string, width int) string {
	return s + strings.Repeat(" ", max(0, width-len(s)))
}

func formatThousands(v float64) string {
	s := strconv.FormatInt(int64(v+0.5), 10)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

func formatOneDecimal(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }

func formatPercent(v float64) string { return strconv.FormatFloat(v, 'f', 0, 64) + "%" }
