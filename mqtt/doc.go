// Package mqtt is Comet's MQTT gateway: MQTT 3.1.1 and 5.0 over TCP and
// over WebSocket, as another front door onto the broker's event-loop
// network layer, its writer and its store. MQTT messages are ordinary
// Comet messages: stored in the commit log through the same writer as
// RocketMQ sends, consumable by RocketMQ clients, and every message
// RocketMQ producers store reaches the MQTT subscribers whose filters match
// (mapping.go draws the mapping both ways).
//
// The package owns: the packet codec (packet.go, encode.go, props.go), the
// WebSocket upgrade and framing (ws.go), its gnet listeners and the
// per-connection state machine (server.go, conn.go, connect.go,
// publish.go, subscribe.go), sessions with their in-flight windows
// (session.go, deliver.go), the subscription tree (tree.go), retained
// messages (retained.go), the fan-out that delivers stored records
// (fanout.go, catchup.go), and the session journal and snapshot
// (journal.go, snapshot.go).
//
// What it must never do: block an event loop (a connection whose publish
// needs a new topic stops reading until the topic table answers; every
// disk write goes through the broker's writer or the snapshot goroutine);
// append to the store other than through actors.Broker.GatewayAppend;
// acknowledge a QoS 1/2 publish (PUBACK, PUBREC), a persistent session's
// SUBSCRIBE/UNSUBSCRIBE, a PUBREL (PUBCOMP) or send an outbound QoS 2
// PUBLISH before the record that makes it durable is stored under the
// broker's flush mode; hold a queue of messages per session (the backlog
// is the log: memory per session is its in-flight window).
//
// # Message flow
//
// Inbound: gnet loop → splitPacket/decodePacket → PUBLISH → a persist.Message
// (mapping.go) → GatewayAppend (inline on the loop in async flush when the
// writer is idle, else the writer's ring) → the completion on the writer
// goroutine answers PUBACK/PUBREC and updates retained messages.
//
// Outbound: the writer's publish hook wakes the fan-out, which reads the
// newly visible records from the log, matches their MQTT topics in the
// subscription tree and offers each to the matching live sessions: QoS 0
// is written at once, QoS 1/2 enter the session's in-flight window (its
// client's Receive Maximum, capped by Options.MaxInflight). A session
// whose window is full, or which is offline, leaves live mode at a log
// offset and catches up from the log later (catchup.go), so nothing is
// dropped and nothing queues in memory. Writes to a connection from any
// goroutine go through its outbox, one gnet AsyncWrite at a time.
//
// # Durability
//
// A QoS 1/2 publish is acknowledged only once stored, exactly like
// SEND_OK. QoS 2 inbound is "method B": the message is stored and visible
// at once, its packet id waits for PUBREL in the session. Persistent
// sessions (3.1.1 clean session 0, or an MQTT 5 Session Expiry Interval)
// keep their subscriptions, their position in the log, their QoS 2 state
// and their Will in the session journal, records of the system topic
// rmq_sys_MQTT_SESSIONS in the commit log, compacted into a snapshot file;
// retained messages are in the snapshot and replayed from the stored
// publishes since (journal.go, snapshot.go). After a restart or kill -9 a
// persistent session receives every QoS 1 message not acknowledged before
// (at least once) and every QoS 2 message exactly once, as long as the
// client keeps its own half of the protocol. Session expiry is capped at
// the log's retention (announced in the MQTT 5 CONNACK).
//
// # Bad input
//
// A malformed packet, a protocol violation, an oversize packet, a packet
// before CONNECT, invalid UTF-8, a wildcard in a topic name: the
// connection is closed — after an MQTT 5 DISCONNECT with the reason code
// (0x81, 0x82, 0x95, 0x90, ...) when past CONNECT — counted in
// comet_mqtt_events_total{event="protocol_error"} and logged at most a few
// times a second per kind. Other connections are not affected. Reason
// codes come from one table (codes.go).
//
// # Limits
//
// Shared subscriptions deliver each message to one member that can take
// it now; when none can, it waits in the group's in-memory backlog
// (bounded, the oldest dropped and counted), which does not survive a
// restart. QoS 0 messages are not held for slow consumers: above
// Options.MaxPendingBytes of unwritten output they are dropped and
// counted. Retained messages delivered on SUBSCRIBE are not journaled as
// in-flight (after a restart, SUBSCRIBE sends them again). Enhanced
// authentication (AUTH) is refused; user name and password go to the
// Authenticator hook.
package mqtt
