package actors

// registerAdminHandlers installs the operator-facing requests (broker
// runtime info, topic and consumer statistics, offset reset) used by
// cometctl and the RocketMQ admin tools.
func (b *Broker) registerAdminHandlers() {}
