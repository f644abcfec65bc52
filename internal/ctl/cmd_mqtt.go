package ctl

import (
	"errors"
	"flag"
	"fmt"

	"github.com/cometmq/comet/internal/admin"
	"github.com/cometmq/comet/internal/adminwire"
	"github.com/cometmq/comet/netio/remoting"
)

func init() {
	register(&command{name: "mqtt clients", args: "",
		help: "list the MQTT sessions of each broker: connection, subscriptions, in-flight and queued messages",
		run:  runMQTTClients})
	register(&command{name: "mqtt kick", args: "<clientId> [-end]",
		help: "disconnect an MQTT client (MQTT 5: reason 0x98); -end also ends its session",
		flags: func(fs *flag.FlagSet, o *cmdOpts) {
			fs.BoolVar(&o.force, "end", false, "also end the session (subscriptions and queued messages)")
		}, run: runMQTTKick, minArgs: 1, maxArgs: 1})
}

// mqttClientRow is one session as printed with -json.
type mqttClientRow struct {
	Broker string `json:"broker"`
	adminwire.MQTTClient
}

func runMQTTClients(e *env, _ *cmdOpts, _ []string) error {
	brokers, err := e.admin().Masters()
	if err != nil {
		return err
	}
	t := newTable("BROKER", "CLIENT", "CONNECTED", "REMOTE", "LEVEL", "PERSISTENT", "EXPIRY", "SUBS", "INFLIGHT", "QUEUED")
	rows := []mqttClientRow{}
	var errs []error
	for _, b := range brokers {
		resp, err := e.admin().Invoke(b.Addr, remoting.NewRequest(remoting.RequestCometMQTTClients))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		clients, err := adminwire.DecodeMQTTClients(resp.Body)
		if err != nil {
			errs = append(errs, fmt.Errorf("%w: %s: %v", admin.ErrBroker, b.Addr, err))
			continue
		}
		for _, c := range clients {
			rows = append(rows, mqttClientRow{Broker: b.Addr, MQTTClient: c})
			remote := c.Remote
			if remote == "" {
				remote = "-"
			}
			t.add(b.Addr, c.ClientID, c.Connected, remote, c.Version, c.Persistent, fmt.Sprintf("%ds", c.ExpirySeconds),
				c.Subscriptions, c.Inflight, c.Queued)
		}
	}
	if err := e.emit(rows, t); err != nil {
		return err
	}
	return worst(errs)
}

func runMQTTKick(e *env, o *cmdOpts, args []string) error {
	brokers, err := e.admin().Masters()
	if err != nil {
		return err
	}
	var errs []error
	for _, b := range brokers {
		cmd := remoting.NewRequest(remoting.RequestCometMQTTKick)
		cmd.Ext.Set("clientId", args[0])
		cmd.Ext.Set("end", fmt.Sprint(o.force))
		_, err := e.admin().Invoke(b.Addr, cmd)
		if err == nil {
			fmt.Fprintf(e.stdout, "kicked %s on %s\n", args[0], b.Addr)
			return nil
		}
		errs = append(errs, err)
	}
	if err := worst(errs); err != nil && !errors.Is(err, ErrNotFound) {
		return err
	}
	return fmt.Errorf("%w: no broker has an MQTT session %q", ErrNotFound, args[0])
}
