package config

import (
	"flag"
	"log/slog"
	"time"

	"github.com/cometmq/comet/mqtt"
	"github.com/cometmq/comet/netio/remoting"
)

// MQTTConfig is the MQTT gateway's part of the configuration.
type MQTTConfig struct {
	Listen        string
	WSListen      string
	FallbackTopic string
	MaxInflight   int
	DefaultQoS    int
	MaxKeepAlive  time.Duration
}

// The default MQTT addresses are optional: when another server holds one,
// comet warns and serves without that listener; an address set otherwise
// must bind.
const (
	defaultMQTTListen   = "127.0.0.1:1883"
	defaultMQTTWSListen = "127.0.0.1:8083"
)

func defineMQTTFlags(fs *flag.FlagSet, m *MQTTConfig) {
	fs.StringVar(&m.Listen, "mqtt-listen", defaultMQTTListen, "MQTT 3.1.1/5.0 over TCP (empty disables)")
	fs.StringVar(&m.WSListen, "mqtt-ws-listen", defaultMQTTWSListen, "MQTT over WebSocket, path /mqtt, subprotocol mqtt (empty disables)")
	fs.StringVar(&m.FallbackTopic, "mqtt-fallback-topic", "MQTT_FALLBACK", "Comet topic of MQTT publishes whose first topic level is not a usable topic")
	fs.IntVar(&m.MaxInflight, "mqtt-max-inflight", 256, "unacknowledged QoS 1/2 messages towards one MQTT client (its Receive Maximum caps it)")
	fs.IntVar(&m.DefaultQoS, "mqtt-default-qos", 1, "QoS of RocketMQ producers' messages for MQTT subscribers (capped by their grant)")
	fs.DurationVar(&m.MaxKeepAlive, "mqtt-max-keepalive", 0, "cap on the keep-alive MQTT clients ask for (0: theirs)")
}

func (m *MQTTConfig) validate() error {
	if err := hostPort("mqtt-listen", m.Listen, true); err != nil {
		return err
	}
	if err := hostPort("mqtt-ws-listen", m.WSListen, true); err != nil {
		return err
	}
	switch {
	case remoting.ValidateTopic(m.FallbackTopic) != nil:
		return invalid("mqtt-fallback-topic", "%q: want a topic name (^[%%|a-zA-Z0-9_-]+$, at most 127 bytes)", m.FallbackTopic)
	case m.MaxInflight < 1 || m.MaxInflight > 65535:
		return invalid("mqtt-max-inflight", "%d: want 1..65535", m.MaxInflight)
	case m.DefaultQoS < 0 || m.DefaultQoS > 2:
		return invalid("mqtt-default-qos", "%d: want 0, 1 or 2", m.DefaultQoS)
	case m.MaxKeepAlive < 0 || m.MaxKeepAlive > 65535*time.Second:
		return invalid("mqtt-max-keepalive", "%s: want 0..18h12m15s", m.MaxKeepAlive)
	}
	return nil
}

// Enabled reports whether any MQTT listener is configured.
func (m *MQTTConfig) Enabled() bool { return m.Listen != "" || m.WSListen != "" }

// MQTTOptions maps the configuration onto the gateway's options.
func (c *Config) MQTTOptions(log *slog.Logger) mqtt.Options {
	m := &c.MQTT
	return mqtt.Options{Listen: m.Listen, WSListen: m.WSListen, FallbackTopic: m.FallbackTopic,
		ListenOptional: m.Listen == defaultMQTTListen, WSListenOptional: m.WSListen == defaultMQTTWSListen,
		MaxInflight: uint16(m.MaxInflight), DefaultQoS: byte(m.DefaultQoS), MaxKeepAlive: m.MaxKeepAlive, Logger: log}
}
