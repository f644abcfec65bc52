// Package admin is the one implementation of Comet's administrative
// operations: cluster and broker listings, topics (list, create, update,
// delete, route, queue offsets), consumer groups (list, progress with lag,
// members, offset reset and its preview) and message lookups (by offset
// id, by key or unique key, by queue range, by store time). Each operation
// talks to the name servers and brokers over the RocketMQ remoting protocol
// with netio/remoting's Client and returns typed values; cometctl prints
// them as tables or JSON, the HTTP API (httpapi) serves them as JSON.
//
// It holds no state but its connections, never prints, and never imports
// the broker: what it knows of a broker it learns over the wire, so it
// works against any RocketMQ 4.x cluster as well.
//
// Every error wraps one class, tested with errors.Is: ErrInvalid (the
// caller's argument is wrong; ErrReserved, a kind of it, is a change to a
// retry, dead-letter or system topic made without force), ErrUnreachable
// (no answer), ErrNotFound (no such topic, group, message or route) or
// ErrBroker (an error code or an unreadable body). Operations that address
// several brokers return what the brokers that answered said together with
// the most telling error of the others: a non-nil result with a non-nil
// error is a partial answer.
package admin
