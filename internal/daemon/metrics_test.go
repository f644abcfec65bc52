package daemon

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"

	"github.com/cometmq/comet/internal/cluster"
	"github.com/cometmq/comet/internal/ops"
	"github.com/cometmq/comet/netio/remoting"
)

func invokeOK(t *testing.T, c *remoting.Client, addr string, cmd *remoting.Command, codes ...int16) *remoting.Command {
	t.Helper()
	resp, err := c.Invoke(context.Background(), addr, cmd)
	if err != nil {
		t.Fatal(err)
	}
	ok := resp.Code == remoting.ResponseSuccess
	for _, code := range codes {
		ok = ok || resp.Code == code
	}
	if !ok {
		t.Fatalf("%s: %s %s", remoting.RequestName(cmd.Code), remoting.ResponseName(resp.Code), resp.Remark)
	}
	return resp
}

func sendRequest(topic string, queue int32, body string) *remoting.Command {
	h := remoting.SendHeader{ProducerGroup: "pg", Topic: topic, DefaultTopic: "TBW102", DefaultTopicQueueNums: 4,
		QueueID: queue, BornTimestamp: time.Now().UnixMilli()}
	cmd := remoting.NewRequest(remoting.RequestSendMessage)
	h.Apply(cmd)
	cmd.Body = []byte(body)
	return cmd
}

func pullRequest(group, topic string, queue int32, offset int64) *remoting.Command {
	h := remoting.PullHeader{ConsumerGroup: group, Topic: topic, QueueID: queue, QueueOffset: offset, MaxMsgNums: 32,
		SysFlag: remoting.PullFlagSubscription, Subscription: "*", ExpressionType: "TAG"}
	cmd := remoting.NewRequest(remoting.RequestPullMessage)
	h.Apply(cmd)
	return cmd
}

func scrape(t *testing.T, addr string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var parser expfmt.TextParser
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("/metrics does not parse as Prometheus text: %v", err)
	}
	return families
}

// value returns the value of the family's sample whose labels match.
func value(t *testing.T, fams map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	t.Helper()
	fam := fams[name]
	if fam == nil {
		t.Fatalf("family %s missing", name)
	}
	for _, m := range fam.GetMetric() {
		if !labelsMatch(m, labels) {
			continue
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue()
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount())
		}
	}
	t.Fatalf("family %s has no sample with labels %v", name, labels)
	return 0
}

func labelsMatch(m *dto.Metric, labels []string) bool {
	for i := 0; i+1 < len(labels); i += 2 {
		found := false
		for _, lp := range m.GetLabel() {
			found = found || (lp.GetName() == labels[i] && lp.GetValue() == labels[i+1])
		}
		if !found {
			return false
		}
	}
	return true
}

func TestMetricsExposition(t *testing.T) {
	env := cluster.StartTest(t, nil)
	reg := prometheus.NewRegistry()
	reg.MustRegister(env.Broker.Collector())
	env.Broker.SetTimerBacklog(func() int64 { return 7 })
	srv, err := ops.StartHTTP(ops.HTTPOptions{Addr: "127.0.0.1:0", Gatherer: reg})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown(context.Background())

	c := remoting.NewClient(remoting.ClientOptions{})
	defer c.Close()
	const sent = 12
	for i := range sent {
		invokeOK(t, c, env.BrokerAddr, sendRequest("Metered", int32(i%2), "payload-"+strconv.Itoa(i)))
	}
	invokeOK(t, c, env.BrokerAddr, pullRequest("g", "Metered", 0, 0))
	commit := remoting.NewRequest(remoting.RequestUpdateConsumerOffset)
	for k, v := range map[string]string{"consumerGroup": "g", "topic": "Metered", "queueId": "0", "commitOffset": "2"} {
		commit.Ext.Set(k, v)
	}
	invokeOK(t, c, env.BrokerAddr, commit)

	fams := scrape(t, srv.Addr())
	for _, name := range []string{"comet_topic_put_bytes_total", "comet_topic_get_bytes_total", "comet_commitlog_bytes",
		"comet_data_dir_bytes", "comet_disk_free_bytes", "comet_disk_total_bytes", "comet_ring_depth",
		"comet_ring_capacity", "comet_ring_high_water", "comet_ring_rejected_total", "comet_network_events_total",
		"comet_pull_parked", "comet_retry_messages_total", "comet_dlq_messages_total", "comet_transaction_half_messages",
		"comet_store_events_total", "comet_writer_events_total", "comet_uptime_seconds", "comet_put_failures_total",
		"comet_network_bytes_total", "comet_store_append_bytes_total"} {
		if fams[name] == nil {
			t.Errorf("family %s missing", name)
		}
	}
	checks := []struct {
		name   string
		labels []string
		want   func(float64) bool
	}{
		{"comet_topic_put_messages_total", []string{"topic", "Metered"}, func(v float64) bool { return v == sent }},
		{"comet_topic_get_messages_total", []string{"topic", "Metered"}, func(v float64) bool { return v == sent/2 }},
		{"comet_group_lag_messages", []string{"group", "g", "topic", "Metered"}, func(v float64) bool { return v == sent/2-2 }},
		{"comet_fsync_duration_seconds", nil, func(v float64) bool { return v >= 1 }},
		{"comet_messages_per_fsync", nil, func(v float64) bool { return v >= 1 }},
		{"comet_connections", nil, func(v float64) bool { return v >= 1 }},
		{"comet_timer_backlog_messages", nil, func(v float64) bool { return v == 7 }},
		{"comet_commitlog_max_offset", nil, func(v float64) bool { return v > 0 }},
		{"comet_ring_capacity", []string{"ring", "writer.appends"}, func(v float64) bool { return v > 0 }},
		{"comet_topics", nil, func(v float64) bool { return v >= 2 }},
		{"comet_network_events_total", []string{"event", "passes_deferred"}, func(v float64) bool { return v == 0 }},
		{"comet_network_bytes_total", []string{"direction", "in"}, func(v float64) bool { return v > sent*20 }},
		{"comet_network_bytes_total", []string{"direction", "out"}, func(v float64) bool { return v > 0 }},
		{"comet_store_append_bytes_total", nil, func(v float64) bool { return v > sent*20 }},
		{"comet_connections_closed_total", []string{"reason", "bad_frame"}, func(v float64) bool { return v == 0 }},
		{"comet_network_buffered_input_bytes", nil, func(v float64) bool { return v == 0 }},
		{"comet_writer_events_total", []string{"event", "inline_requests"}, func(v float64) bool { return v == 0 }}, // sync flush: never inline
	}
	for _, c := range checks {
		if v := value(t, fams, c.name, c.labels...); !c.want(v) {
			t.Errorf("%s%v = %v", c.name, c.labels, v)
		}
	}
	// Families named *_events_total count events; bytes have families of their own.
	for _, name := range []string{"comet_network_events_total", "comet_store_events_total", "comet_writer_events_total"} {
		for _, m := range fams[name].GetMetric() {
			for _, l := range m.GetLabel() {
				if strings.Contains(l.GetValue(), "bytes") {
					t.Errorf("%s mixes bytes into its counts: event=%s", name, l.GetValue())
				}
			}
		}
	}
	if typ := fams["comet_fsync_duration_seconds"].GetType(); typ != dto.MetricType_HISTOGRAM {
		t.Errorf("fsync latency is a %v, want a histogram", typ)
	}
}
