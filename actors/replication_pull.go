package actors

// suggestBroker is the suggestWhichBrokerId of a pull response, as
// RocketMQ's master and slaves compute it: a consumer reading further
// behind the log end than ReplicaReadLagBytes (data no longer in the page
// cache) is sent to an in-sync replica, and one reading near the end to
// the master (0). A replica suggests itself for such a cold read and the
// master otherwise; the client falls back to any member it knows when the
// suggested one is missing from its route.
func (b *Broker) suggestBroker(q *pullQuery, res *pullResult) int64 {
	r := b.repl
	if r == nil {
		return 0
	}
	cq := b.store.ConsumeQueue(q.topic, q.queueID)
	if cq == nil {
		return 0
	}
	e, ok := cq.Entry(res.next)
	if !ok || b.store.MaxPhysicalOffset()-e.CommitLogOffset <= b.opts.ReplicaReadLagBytes {
		return 0
	}
	if !r.master() {
		return r.routeID()
	}
	if r.server == nil {
		return 0
	}
	for _, m := range r.server.Members() {
		if m.InSync && m.Connected {
			return m.ID
		}
	}
	return 0
}
