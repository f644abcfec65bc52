package httpapi

import "net/http"

// Access is what an API operation needs.
type Access int

// Accesses, from the least to the most powerful.
const (
	// AccessRead lists metadata: cluster, brokers, topics, groups, lag.
	AccessRead Access = iota
	// AccessReadBodies reveals stored message bodies and properties
	// (message lookups, traces, DLQ browsing).
	AccessReadBodies
	// AccessProduce stores messages in Operation.Topic.
	AccessProduce
	// AccessConsume fetches as Operation.Group and commits its offsets.
	AccessConsume
	// AccessAdmin changes the cluster: topics, offset resets, DLQ resends,
	// store verification.
	AccessAdmin
)

var accessNames = [...]string{"read", "read-bodies", "produce", "consume", "admin"}

func (a Access) String() string { return accessNames[a] }

// Operation names the request an Authorizer decides.
type Operation struct {
	Access Access
	Name   string // the operation id in the OpenAPI document ("createTopic")
	Topic  string // the topic the request names, if any
	Group  string // the consumer group the request names, if any
}

// Authorizer admits or refuses each API request before its handler runs.
// A nil error admits it; an error wrapping ErrUnauthenticated answers 401
// (with a WWW-Authenticate challenge), any other error 403. The console's
// pages are public; every call they make goes through this.
//
// Until an access-control list is configured the API has no Authorizer and
// admits every request: the HTTP endpoint listens on loopback by default.
type Authorizer interface {
	Authorize(r *http.Request, op Operation) error
}
