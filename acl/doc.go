// Package acl is Comet's access control, compatible with RocketMQ 4.x's
// plain ACL: accounts with access and secret keys, per-topic and per-group
// permissions, IP white lists and admin accounts, read from a
// plain_acl.yml file; the verification of the signature the official
// clients put on every request; and the decision, per request, to admit or
// refuse it.
//
// It owns the rules and the decisions. It must never import netio, actors
// or any server package, never do I/O on a request's path (the file is
// read by the Watcher's goroutine or on Reload), and never hold a lock a
// request waits on: a Gate runs on the event loops. Front doors call it
// through the Authorizer interface: netio's gate hook for the RocketMQ
// remoting servers (broker and name server), and Login for gateways and
// peers that present an account's keys directly.
//
// # File
//
// The file is YAML, as RocketMQ's plain_acl.yml:
//
//	globalWhiteRemoteAddresses:      # addresses admitted without an account
//	  - 10.10.103.*
//	  - 192.168.0.{1,2}
//	accounts:
//	  - accessKey: RocketMQ          # at least 7 characters
//	    secretKey: 12345678          # at least 7 characters
//	    whiteRemoteAddress: 192.168.1.*   # admitted from here without a signature
//	    admin: false
//	    defaultTopicPerm: DENY       # for topics not listed; absent: DENY
//	    defaultGroupPerm: SUB        # for groups not listed; absent: DENY
//	    topicPerms: [topicA=DENY, topicB=PUB|SUB, topicC=SUB]
//	    groupPerms: [groupA=DENY, groupB=PUB|SUB, groupC=SUB]
//	dataVersion: ...                 # written by RocketMQ's tools; ignored
//
// Permissions are DENY, PUB, SUB, PUB|SUB (or SUB|PUB). Addresses are "*",
// one IPv4 or IPv6 address, a comma list, a brace list in the last part,
// or IPv4 parts that are numbers, ranges a-b or "*". Part of the format: do
// not change (RocketMQ's tools write it). Where RocketMQ silently reads a
// mistake as DENY or skips it (an unknown permission word, a duplicate
// account, an unknown key), Comet refuses the file with an error naming
// the line; a reload that fails keeps the rules in force.
//
// # Decisions
//
// In RocketMQ's order (PlainPermissionManager.validate): a globally
// white-listed address is admitted; otherwise the request's AccessKey must
// name an account; an address on the account's own white list is admitted
// with no signature and no permission check; otherwise the Signature must
// match (the rule is drawn in netio/remoting's Credentials.Sign and in
// docs/reference/acl.md) and the account must hold what the request needs
// (Profile.authorize): PUB on a send's topic, SUB on the topic and group
// of pulls, offsets and heartbeats, an admin account for administration.
// A %RETRY%group topic takes the group's permission. A refusal is
// ErrUnauthenticated or ErrDenied, whose message names the account, the
// resource and the missing permission.
//
// Replay: RocketMQ's signature covers the header fields and the body but
// carries no timestamp or nonce, so a captured request can be replayed
// as is (it cannot be altered). Comet adds none, which the official
// clients would not send; TLS keeps requests from being captured.
package acl
