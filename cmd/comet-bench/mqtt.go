package main

import (
	"errors"
	"flag"
	"fmt"
	"strconv"
	"strings"

	"github.com/cometmq/comet/perf"
)

// mqttSettings are the flags of the MQTT workload: -target mqtt runs it
// against Comet's gateway (-mqtt-addr) and then against each MQTT peer
// (-mqtt-peers), side by side in one report.
type mqttSettings struct {
	addr  string
	qos   int
	peers string // name=host:port,...
	pids  string // name=pid,... (server CPU)
}

func (m *mqttSettings) defineFlags(fs *flag.FlagSet) {
	fs.StringVar(&m.addr, "mqtt-addr", "127.0.0.1:11883", "-target mqtt: Comet's MQTT address (perf/peer/comet.sh)")
	fs.IntVar(&m.qos, "mqtt-qos", 1, "-target mqtt: QoS of publishes and subscriptions, 0 or 1")
	fs.StringVar(&m.peers, "mqtt-peers", "", "-target mqtt: other MQTT servers to compare, name=host:port,... "+
		"(perf/peer/mosquitto.sh, NATS_MQTT_PORT=11885 perf/peer/nats.sh)")
	fs.StringVar(&m.pids, "mqtt-pids", "", "-target mqtt: server PIDs for their CPU use, name=pid,... (comet=... too)")
}

func (m *mqttSettings) validate(s *settings) error {
	if m.qos < 0 || m.qos > 1 {
		return fmt.Errorf("-mqtt-qos %d: 0 or 1", m.qos)
	}
	if s.embedded || s.peer != "" {
		return errors.New("-target mqtt runs against -mqtt-addr and -mqtt-peers; -embedded and -peer do not apply")
	}
	if _, err := parsePairs(m.peers); err != nil {
		return fmt.Errorf("-mqtt-peers: %w", err)
	}
	_, err := parsePairs(m.pids)
	return err
}

// targetNames are "comet" then each peer's name.
func (m *mqttSettings) targetNames() []string {
	names := []string{"comet"}
	pairs, _ := parsePairs(m.peers)
	for _, p := range pairs {
		names = append(names, p[0])
	}
	return names
}

func (m *mqttSettings) open(name string, opts *perf.Options) (perf.Target, func(), error) {
	addr := m.addr
	if name != "comet" {
		pairs, _ := parsePairs(m.peers)
		for _, p := range pairs {
			if p[0] == name {
				addr = p[1]
			}
		}
	}
	pids, _ := parsePairs(m.pids)
	for _, p := range pids {
		if p[0] == name {
			opts.ServerPID, _ = strconv.Atoi(p[1])
		}
	}
	opts.Label = fmt.Sprintf("mqtt qos %d", m.qos)
	t, err := perf.NewMQTT(perf.MQTTOptions{Name: name, Addr: addr, QoS: byte(m.qos)})
	return t, func() {}, err
}

// parsePairs reads "a=b,c=d".
func parsePairs(s string) ([][2]string, error) {
	var out [][2]string
	for _, part := range strings.Split(s, ",") {
		if part = strings.TrimSpace(part); part == "" {
			continue
		}
		k, v, ok := strings.Cut(part, "=")
		if !ok || k == "" || v == "" {
			return nil, fmt.Errorf("%q is not name=value", part)
		}
		out = append(out, [2]string{k, v})
	}
	return out, nil
}
