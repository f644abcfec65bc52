package actors

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/cometmq/comet/namesrv"
)

// Registration reports how each name server answered this broker's last
// registration; nil for a broker without name servers (or not started).
func (b *Broker) Registration() []namesrv.RegistrationState {
	if r := b.registrar.Load(); r != nil {
		return r.Registration()
	}
	return nil
}

// NotRegistered returns an error wrapping namesrv.ErrNotRegistered while
// no name server holds this broker's registration: clients cannot find it,
// so the broker is not ready. nil for a broker without name servers.
func (b *Broker) NotRegistered() error {
	if r := b.registrar.Load(); r != nil {
		return r.NotRegistered()
	}
	return nil
}

var (
	descRegistered = desc("namesrv_registered",
		"1 while the name server holds this broker's registration (its last REGISTER_BROKER succeeded).", "namesrv")
	descRegisterFailures = desc("namesrv_registration_failures_total",
		"Failed REGISTER_BROKER requests to the name server.", "namesrv")
)

// registrationCollector exposes the registration state per name server.
type registrationCollector struct{ b *Broker }

// RegistrationCollector returns the collector of comet_namesrv_registered
// and comet_namesrv_registration_failures_total.
func (b *Broker) RegistrationCollector() prometheus.Collector { return registrationCollector{b} }

func (c registrationCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descRegistered
	ch <- descRegisterFailures
}

func (c registrationCollector) Collect(ch chan<- prometheus.Metric) {
	for _, st := range c.b.Registration() {
		registered := 0.0
		if st.Registered {
			registered = 1
		}
		gauge(ch, descRegistered, prometheus.GaugeValue, registered, st.Namesrv)
		gauge(ch, descRegisterFailures, prometheus.CounterValue, float64(st.Failures), st.Namesrv)
	}
}
