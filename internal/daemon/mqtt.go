package daemon

import (
	"context"

	"github.com/cometmq/comet/actors"
	"github.com/cometmq/comet/mqtt"
)

// startMQTT starts the MQTT gateway on a started broker, when configured.
func (p *process) startMQTT(b *actors.Broker) error {
	if !p.cfg.MQTT.Enabled() {
		return nil
	}
	gw, err := mqtt.New(b, p.cfg.MQTTOptions(p.log))
	if err != nil {
		return err
	}
	if err := gw.Start(); err != nil {
		return err
	}
	p.registry.MustRegister(gw.Collector())
	p.mqtt.Store(gw)
	return nil
}

// stopMQTT stops the gateway before the broker: its last session records
// go through the broker's writer.
func (p *process) stopMQTT(ctx context.Context) error {
	if gw := p.mqtt.Load(); gw != nil {
		return gw.Stop(ctx)
	}
	return nil
}

// mqttAttrs are the gateway's addresses for the ready line.
func (p *process) mqttAttrs() []any {
	gw := p.mqtt.Load()
	if gw == nil {
		return nil
	}
	return []any{"mqtt", gw.Addr(), "mqttWs", gw.WSAddr()}
}
