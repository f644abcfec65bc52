// Package controller is Comet's controller quorum: a few members that
// agree, through hashicorp/raft, on who is master of every broker group,
// under which epoch, and which members are in sync. Brokers register,
// heartbeat and ask for in-sync set changes over the RocketMQ remoting
// framing; when a master's lease lapses the leader elects a new master
// from the in-sync set. It is RocketMQ 5's controller mode with Kafka's
// in-sync replicas and leader epochs.
//
// The package owns the replicated state, its log and snapshots (a bbolt
// file and raft's file snapshot store under the data directory), the
// listener shared by raft and the broker API, the leader's liveness table
// and the client brokers and tools use. It must never import the broker
// (actors, persist, netio's server): it knows groups by name, members by
// id and logs by offset only. Only netio/remoting, for the frame codec and
// the code table, is shared.
//
// # Replicated state
//
// One Group per (cluster, broker name):
//
//	+-------------------+---------------------------------------------------+
//	| field             | meaning                                           |
//	+-------------------+---------------------------------------------------+
//	| Members           | id (1, 2, ... never reused), remoting address,    |
//	|                   | HA address, registration code, last reported      |
//	|                   | epoch and confirmed (durable) commit-log offset   |
//	| NextID            | the id the next new member gets                   |
//	| MasterID          | the master's id; 0 while the group has none       |
//	| Epoch             | +1 on every change of master, including to none   |
//	| SyncStateSet      | in-sync member ids, ascending; holds the master   |
//	| SyncStateSetEpoch | +1 on every change of the set                     |
//	| LeaseExpiry       | when the master's lease lapses, ns on the clock   |
//	|                   | of the leader that last granted or reset it       |
//	+-------------------+---------------------------------------------------+
//
// Registrations can create at most MaxGroups groups of MaxMembersPerGroup
// members. A snapshot is that state as JSON, {"format":1,"groups":{"cluster/name":
// Group}}; raft keeps the two newest. Part of the format: do not change.
//
// # Commands
//
// Every log entry is one JSON Command. Only the leader writes them and it
// puts every time (Now, Lease) and every liveness fact (Alive: the
// members it heard within the election timeout, with their reports) into
// the command, so Apply reads nothing but the command and the state and
// every member reaches the same state. Each command is a compare-and-set
// on the epochs it names, so a deposed leader's late proposal fails the
// same way everywhere (testdata/transitions.golden shows every rule):
//
//	+-------------------+-----------------------------------------------------+
//	| op                | effect                                              |
//	+-------------------+-----------------------------------------------------+
//	| register          | adds a member (id 0: new; found again by its code)  |
//	|                   | or updates its addresses; the first member of a     |
//	|                   | group that never had a master becomes master at     |
//	|                   | epoch 1 with set {itself}                           |
//	| heartbeat         | records reports; the master at the current epoch    |
//	|                   | renews its lease to max(expiry, Now+Lease)          |
//	| alterSyncStateSet | from the master at the current epoch and set epoch: |
//	|                   | a new set holding the master, known members only,   |
//	|                   | joiners alive; set epoch +1                         |
//	| elect             | at the current epoch, by reason: "expire" (Now past |
//	|                   | the lease; the old master is not a candidate),      |
//	|                   | "vacant" (no master), "handover" (the named member) |
//	|                   | chooses a live in-sync member, newest LastEpoch,    |
//	|                   | then highest ConfirmedOffset, then lowest id; epoch |
//	|                   | +1; set = live members of the old set + the new     |
//	|                   | master, set epoch +1. An expiry with no candidate   |
//	|                   | leaves the group without a master, epoch +1         |
//	| takeOffice        | a new leader restarts every master's lease at       |
//	|                   | Now+Lease on its own clock                          |
//	+-------------------+-----------------------------------------------------+
//
// Nobody outside the in-sync set is ever elected, and there is no unclean
// election: a group whose in-sync members are all gone stays without a
// master until one of them returns.
//
// Stored raft entries are drawn in store.go. Part of the format: do not
// change.
//
// # Wire API
//
// Requests are remoting frames (netio/remoting) whose body is compact
// JSON; answers carry the request's opaque, a response code from
// remoting's table and, on success, a JSON body. Field names are those of
// the Go types in wire.go. Part of the format: do not change.
//
//	+------+---------------------------------+---------------------------+----------------------+
//	| code | request                         | body                      | answer body          |
//	+------+---------------------------------+---------------------------+----------------------+
//	| 1003 | CONTROLLER_REGISTER_BROKER      | RegisterRequest           | RegisterResponse     |
//	|  904 | BROKER_HEARTBEAT                | HeartbeatRequest          | HeartbeatResponse    |
//	| 1004 | CONTROLLER_GET_REPLICA_INFO     | GroupRequest              | ReplicaInfo          |
//	| 1001 | CONTROLLER_ALTER_SYNC_STATE_SET | AlterSyncStateSetRequest  | ReplicaInfo          |
//	| 1002 | CONTROLLER_ELECT_MASTER         | ElectMasterRequest        | ReplicaInfo          |
//	| 1006 | CONTROLLER_GET_SYNC_STATE_DATA  | SyncStateDataRequest      | SyncStateData        |
//	| 1005 | CONTROLLER_GET_METADATA_INFO    | (none)                    | Metadata             |
//	| 1008 | NOTIFY_BROKER_ROLE_CHANGED      | controller → broker,      | (oneway)             |
//	|      |                                 | ReplicaInfo               |                      |
//	+------+---------------------------------+---------------------------+----------------------+
//
// For example:
//
//	RegisterRequest   {"clusterName":"DefaultCluster","brokerName":"broker-a","brokerId":0,
//	                   "registerCode":"9f3c...","brokerAddress":"10.0.0.1:10911","haAddress":"10.0.0.1:10912"}
//	HeartbeatRequest  {"clusterName":"DefaultCluster","brokerName":"broker-a","brokerId":2,
//	                   "masterEpoch":3,"lastEpoch":3,"confirmedOffset":1048576}
//	HeartbeatResponse {"role":"master","leaseMillis":2980,"clusterName":"DefaultCluster","brokerName":"broker-a",
//	                   "masterId":2,"masterAddress":"10.0.0.2:10911","masterHaAddress":"10.0.0.2:10912",
//	                   "masterEpoch":3,"syncStateSet":[1,2],"syncStateSetEpoch":5,
//	                   "members":[{"brokerId":1,"brokerAddress":"...","haAddress":"...","lastEpoch":3,
//	                               "confirmedOffset":1048000,"inSync":true,"alive":true}, ...]}
//
// Refusals use RocketMQ 5's controller codes: 2000 fenced master epoch,
// 2001 fenced set epoch, 2002 not the master, 2003 unknown member in a
// set, 2004 the lease lapsed and nobody could be elected, 2005 invalid
// request, 2006 a joining member is not alive, 2007 not the leader, 2008
// unknown member id, 2010 not registered, 2011 the master still holds its
// lease, 2012 nobody electable, 2013 set unchanged or without the master,
// 2014 the id belongs to another registration code.
//
// Only the leader, once in office, answers the API; every member answers
// GET_METADATA_INFO (who it is, who leads, the peers). Any other member
// answers CONTROLLER_NOT_LEADER with the leader's address in the ext field
// "leaderAddress" when it knows it: the caller redirects, nothing is
// forwarded between members, so a request costs one hop and a member
// never holds a broker's call while raft elects. Client follows the
// redirect, then tries the other members, backing off, until its
// deadline. Reads (replica info, sync state data) run VerifyLeader first,
// so a deposed leader never answers from stale state.
//
// Raft and the API share the member's one address: a raft connection
// starts with the byte 'R' (0x52), which a remoting frame never does (its
// first byte is the top byte of a length below 16 MiB). Part of the
// format: do not change.
//
// # Leases and timing
//
// A master holds mastership while the controller hears it. The leader
// keeps, in memory only, when it last heard each member; a master's
// heartbeat commits a renewal when its lease has under three quarters of
// ElectionTimeout left. Every ElectionTimeout/10 (at most 100 ms) the
// leader proposes "expire" for each master whose LeaseExpiry its clock has
// passed, and "vacant" for each group without a master that has a live
// in-sync member, once it has been in office for one ElectionTimeout
// (so that it knows who is alive). A member's clock is its wall time at
// start plus monotonic time since: it never steps while the process runs.
//
// The heartbeat answer grants the master LeaseMillis, the time from the
// answer to the committed LeaseExpiry. A master that sent the heartbeat
// at its monotonic time s may act as master until
//
//	s + LeaseMillis·(1−ρ) − m
//
// (ρ a clock-rate bound such as 10⁻³, m a margin for pauses), and must stop
// accepting writes after that unless a later answer extends it. Because s
// precedes the answer, and the answer precedes nothing the leader later
// commits, the master's lease always ends before the controller can elect
// a successor. A new leader's takeOffice restarts every lease at its own
// Now+Lease: every grant of an earlier leader was computed from an expiry
// that leader committed before this one's term, so each ends before it,
// whatever the two clocks say.
//
// Failover time after a master dies: at most ElectionTimeout (lease) plus
// one scan interval and one commit, plus the time until the new master
// hears (NOTIFY_BROKER_ROLE_CHANGED at once to members heartbeating on a
// live connection; otherwise its next heartbeat). Defaults: ElectionTimeout
// 3 s, RaftTimeout 500 ms, so under 4 s. When the controller leader dies
// too, raft replaces it within one to two RaftTimeouts and the new leader
// waits one ElectionTimeout in office before electing: under 5 s.
// hashicorp/raft's HeartbeatTimeout and ElectionTimeout are RaftTimeout and
// its LeaderLeaseTimeout is half of it, for a LAN.
//
// # Loss of quorum
//
// Without a majority no member leads, so nothing commits: no election, no
// set change, no registration, and no lease renewal. Calls fail with
// ErrUnavailable at their deadline. An existing master keeps serving on
// the lease it was last granted and must stop writing when that lapses
// (the broker's side of the rule above); a group whose master dies
// meanwhile stays without one until the quorum returns. A restarted
// member recovers its state from its log and snapshots.
//
// # Membership
//
// On first start (no raft state in the data directory) each member
// bootstraps the quorum from Peers, which must be identical on every
// member; on later starts Peers is ignored and the stored configuration
// rules. A member's data directory must never be wiped and bootstrapped
// again while the others keep theirs.
package controller
