package perf

import (
	"bytes"
	"encoding/json"
	"math"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestRecorderSummary(t *testing.T) {
	r := NewRecorder()
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := g; i < 10_000; i += 4 {
				r.Record(time.Duration(i+1) * time.Microsecond) // 1 µs .. 10 ms, uniform
			}
		})
	}
	wg.Wait()
	r.RecordN(time.Hour, 1) // clamped to the 10-minute ceiling
	s := Summarize(Merge([]*Recorder{r, NewRecorder()}))
	if s.Count != 10_001 {
		t.Fatalf("count %d, want 10001", s.Count)
	}
	near := func(name string, got, want float64) {
		if math.Abs(got-want) > want*0.002+0.1 {
			t.Errorf("%s = %v µs, want about %v", name, got, want)
		}
	}
	near("min", s.MinUS, 1)
	near("p50", s.P50US, 5000)
	near("p90", s.P90US, 9000)
	near("p99", s.P99US, 9900)
	near("p99.9", s.P999US, 9990)
	near("max", s.MaxUS, 600e6)
	if z := Summarize(nil); z != (Summary{}) {
		t.Errorf("Summarize(nil) = %+v", z)
	}
}

func TestCurve(t *testing.T) {
	r := NewRecorder()
	for i := range 100_000 {
		r.Record(time.Duration(i) * time.Nanosecond * 100)
	}
	pts := Curve(Merge([]*Recorder{r}), 10)
	if len(pts) != 52 {
		t.Fatalf("%d points, want 52", len(pts))
	}
	for i := 1; i < len(pts); i++ {
		if pts[i].Percentile <= pts[i-1].Percentile || pts[i].LatencyUS < pts[i-1].LatencyUS {
			t.Fatalf("curve not monotone at %d: %+v then %+v", i, pts[i-1], pts[i])
		}
	}
	if last := pts[len(pts)-1]; last.Percentile != 100 || last.LatencyUS < 9999 {
		t.Errorf("last point %+v, want the max (~10 ms)", last)
	}
}

// sampleResult is a result as Run would fill it in.
func sampleResult(target string, rate, p50 float64) *Result {
	send, e2e := NewRecorder(), NewRecorder()
	for i := range 1000 {
		send.Record(time.Duration(p50*float64(1+i%3)) * time.Microsecond)
		e2e.Record(time.Duration(2*p50*float64(1+i%3)) * time.Microsecond)
	}
	w := DefaultWorkload()
	res := &Result{
		Target: target, Workload: w,
		Publish: Phase{Messages: 1000, Seconds: 1000 / rate, MsgsPerSec: rate, MBPerSec: rate * 128 / 1e6},
		Consume: &Phase{Messages: 1000, Seconds: 1000 / rate, MsgsPerSec: rate, MBPerSec: rate * 128 / 1e6},
		send:    Merge([]*Recorder{send}), e2e: Merge([]*Recorder{e2e}), ClientCPUPercent: 120,
	}
	res.SendLatency = Summarize(res.send)
	s := Summarize(res.e2e)
	res.EndToEnd = &s
	return res
}

func TestReportJSONShape(t *testing.T) {
	rep := NewReport(sampleResult("comet", 300_000, 50), sampleResult("nats", 100_000, 100))
	var buf bytes.Buffer
	if err := rep.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Results []map[string]json.RawMessage `json:"results"`
		Ratios  map[string]float64           `json:"ratios"`
	}
	if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatalf("%v\n%s", err, buf.String())
	}
	if len(doc.Results) != 2 {
		t.Fatalf("%d results", len(doc.Results))
	}
	for _, key := range []string{"target", "workload", "started", "publish", "consume", "send_latency", "end_to_end_latency", "failed", "client_cpu_pct"} {
		if _, ok := doc.Results[0][key]; !ok {
			t.Errorf("result lacks %q: %s", key, buf.String())
		}
	}
	var lat map[string]float64
	if err := json.Unmarshal(doc.Results[0]["send_latency"], &lat); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"count", "min_us", "mean_us", "p50_us", "p90_us", "p99_us", "p99_9_us", "max_us"} {
		if _, ok := lat[key]; !ok {
			t.Errorf("send_latency lacks %q", key)
		}
	}
	if r := doc.Ratios["publish_msgs_per_sec"]; math.Abs(r-3) > 1e-9 {
		t.Errorf("publish ratio %v, want 3", r)
	}
	if r := doc.Ratios["send_p50_us"]; math.Abs(r-0.5) > 0.01 {
		t.Errorf("p50 ratio %v, want 0.5", r)
	}
	if _, ok := doc.Ratios["server_cpu_pct"]; ok {
		t.Error("ratio of an unmeasured metric")
	}
	var better struct {
		Better map[string]string `json:"better"`
	}
	if err := json.Unmarshal(buf.Bytes(), &better); err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]string{"publish_msgs_per_sec": "higher", "send_p50_us": "lower", "client_cpu_pct": "lower"} {
		if got := better.Better[key]; got != want {
			t.Errorf("better[%s] = %q, want %q", key, got, want)
		}
	}
}

// TestReportTableSaysWhichWayIsBetter: each ratio row names the direction
// that is better and the target that wins it.
func TestReportTableSaysWhichWayIsBetter(t *testing.T) {
	var buf bytes.Buffer
	// comet: 3× the throughput and half the latency of nats.
	if err := NewReport(sampleResult("comet", 300_000, 50), sampleResult("nats", 100_000, 100)).WriteTable(&buf); err != nil {
		t.Fatal(err)
	}
	rows := map[string]string{}
	for _, line := range strings.Split(buf.String(), "\n") {
		if f := strings.Fields(line); len(f) > 2 {
			rows[strings.Join(f[:2], " ")] = line
		}
	}
	for row, want := range map[string]string{"publish msgs/s": "higher: comet", "send p50": "lower: comet",
		"metric comet": "better"} {
		if !strings.HasSuffix(strings.TrimSpace(rows[row]), want) {
			t.Errorf("row %q = %q, want it to end in %q\n%s", row, rows[row], want, buf.String())
		}
	}
}

func TestReportFlagsLaggingConsumers(t *testing.T) {
	keeping := sampleResult("comet", 100_000, 50)
	lagging := sampleResult("nats", 100_000, 50)
	lagging.Publish.Seconds, lagging.Consume.Seconds = 10, 13
	lagging.Consume.MsgsPerSec = lagging.Publish.MsgsPerSec * 10 / 13
	if _, lag := keeping.ConsumersLagged(); lag {
		t.Error("consumers that kept up are flagged")
	}
	if behind, lag := lagging.ConsumersLagged(); !lag || math.Abs(behind-3) > 1e-9 {
		t.Errorf("ConsumersLagged = %v, %v; want 3 s behind, lagging", behind, lag)
	}
	lagging.Consume.Seconds = 10.05 // within the 100 ms floor
	if _, lag := lagging.ConsumersLagged(); lag {
		t.Error("50 ms behind is flagged")
	}
	lagging.Consume.Seconds = 13
	var buf bytes.Buffer
	if err := NewReport(keeping, lagging).WriteTable(&buf); err != nil {
		t.Fatal(err)
	}
	if out := buf.String(); !strings.Contains(out, "nats: LAGGING CONSUMERS") || strings.Contains(out, "comet: LAGGING") {
		t.Errorf("table notes:\n%s", out)
	}
	lagging.Workload.Backlog = true
	if _, lag := lagging.ConsumersLagged(); lag {
		t.Error("a backlog run (consumers start after the producers) is flagged")
	}
}

func TestReportTable(t *testing.T) {
	var buf bytes.Buffer
	if err := NewReport(sampleResult("comet", 300_000, 50), sampleResult("nats", 100_000, 100)).WriteTable(&buf); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{"comet/nats", "300,000", "100,000", "3.00×", "send p99.9", "end-to-end p50"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "server CPU") {
		t.Errorf("table shows an unmeasured row:\n%s", out)
	}
	buf.Reset()
	single := sampleResult("comet", 1000, 10)
	single.Consume, single.EndToEnd, single.e2e = nil, nil, nil
	if err := NewReport(single).WriteTable(&buf); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(buf.String(), "consume msgs/s") || strings.Contains(buf.String(), "comet/") {
		t.Errorf("single-result table:\n%s", buf.String())
	}
}

func TestPlotSelfContained(t *testing.T) {
	var buf bytes.Buffer
	rep := NewReport(sampleResult("comet", 300_000, 50), sampleResult("nats<&>", 100_000, 100))
	if err := rep.WritePlot(&buf, "a <b> run"); err != nil {
		t.Fatal(err)
	}
	page := buf.String()
	if !strings.HasPrefix(page, "<!DOCTYPE html>") || !strings.Contains(page, "<svg") || !strings.Contains(page, "</html>") {
		t.Fatalf("not an HTML page with an SVG:\n%.300s", page)
	}
	if n := strings.Count(page, "<polyline"); n != 4 {
		t.Errorf("%d curves, want 4 (send and end-to-end of two targets)", n)
	}
	for _, external := range []string{"src=", "href=", "<script", "<link", "url(", "@import"} {
		if strings.Contains(page, external) {
			t.Errorf("page refers to an external asset (%q)", external)
		}
	}
	if strings.Contains(page, "nats<&>") || strings.Contains(page, "a <b> run") {
		t.Error("names not escaped")
	}
	// The legend sits under the plot area, inside the picture, left-aligned
	// with the plot, and writes out each curve's p50.
	height, _ := strconv.ParseFloat(regexp.MustCompile(`<svg [^>]*height="(\d+)"`).FindStringSubmatch(page)[1], 64)
	legend := regexp.MustCompile(`<text x="([\d.]+)" y="([\d.]+)">([^<]*)</text>`).FindAllStringSubmatch(page, -1)
	if len(legend) != 4 {
		t.Fatalf("%d legend entries, want 4", len(legend))
	}
	for _, m := range legend {
		x, _ := strconv.ParseFloat(m[1], 64)
		y, _ := strconv.ParseFloat(m[2], 64)
		if y <= plotHeight-plotBottom || y > height || x > plotWidth/4 {
			t.Errorf("legend %q at (%v, %v): want it under the plot, inside height %v, starting at the left", m[3], x, y, height)
		}
		if !strings.Contains(m[3], ": p50 ") || !strings.Contains(m[3], ", p99 ") {
			t.Errorf("legend %q lacks the p50 and p99", m[3])
		}
	}
	if !strings.Contains(page, ">50%</text>") {
		t.Error("no 50% tick on the percentile axis")
	}
	coord := regexp.MustCompile(`points="([^"]*)"`)
	for _, m := range coord.FindAllStringSubmatch(page, -1) {
		if strings.Contains(m[1], "NaN") || strings.Contains(m[1], "Inf") {
			t.Errorf("bad coordinates %q", m[1])
		}
	}
}

func TestDecadeLabel(t *testing.T) {
	for d, want := range map[int]string{-1: "0.1µs", 0: "1µs", 2: "100µs", 3: "1ms", 5: "100ms", 6: "1s", 7: "10s"} {
		if got := decadeLabel(d); got != want {
			t.Errorf("decadeLabel(%d) = %q, want %q", d, got, want)
		}
	}
}
