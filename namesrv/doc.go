// Package namesrv is Comet's name server and the broker side of talking to
// it. Registry holds the broker registry (cluster → broker names → broker
// id → address) and the topic routes built from master registrations, and
// answers the name server's requests; Server puts a Registry behind a netio
// server; Registrar keeps one broker registered with every name server. The
// bodies these requests carry are drawn in package routing.
//
// Registry never does networking of its own: the server layer decodes
// frames and calls Registry.Handle. The package must never import the
// broker's storage or actors.
//
// The registry also answers the operator requests of mqadmin (admin.go):
// the KV config (kept in RegistryOptions.KVConfigPath through
// internal/atomicfile, or in memory), wiping and adding back a broker's
// write permission in every route, and its own settings.
//
// Only master (brokerId 0) registrations contribute queue data; each master
// registration replaces that broker's whole topic set. A broker expires
// BrokerExpiry after its last registration and at once when the connection
// it registered over closes.
package namesrv
