// Package httpapi is Comet's HTTP API: JSON under /api/v1 for everything
// cometctl does (cluster, brokers, topics, groups with lag, offset resets
// with a preview, message lookups, store verification), dead-letter
// browsing and resending, message traces, and producing and consuming for
// HTTP clients. openapi.json describes every endpoint; it is served at
// /api/v1/openapi.json and a test holds it to the handlers.
//
// It owns no broker state and never imports the broker. Administration
// goes through internal/admin, the one implementation cometctl uses too;
// producing goes through the SDK's producer (client), so an HTTP send is
// a native send: its answer is the broker's SEND_OK, given only once the
// message is stored under the broker's flush and replication modes; other
// send statuses answer 202 with the status named. Consuming pulls and
// commits with internal/admin (PULL_MESSAGE with long polling,
// UPDATE_CONSUMER_OFFSET). The API reaches the cluster through its name
// servers, so one process's API serves the whole cluster.
//
// # Requests and answers
//
// Bodies are JSON (Content-Type application/json, else 415), one value with
// no unknown fields, at most Options.MaxBodyBytes (else 413). Errors are RFC
// 9457 problem details (application/problem+json, drawn at Problem) with
// the status from one table (statusOf): 400 bad input, 401/403 refused, 404
// no such topic/group/message, 413, 415, 502 a broker failed, 503 busy, 504
// timeout. Listings are {"items": [...], "partial": "..."}: partial is set
// when some brokers did not answer and items holds what the others said.
// Part of the format: do not change.
//
// Produce (POST /api/v1/topics/{topic}/messages), one message or a batch:
//
//	{"body": "text", "bodyEncoding": "utf8"|"base64", "tag": "t",
//	 "keys": ["k1"], "properties": {"p": "v"}, "delayLevel": 0}
//	{"messages": [ <message>, ... ]}                  at most 1024
//	-> {"results": [{"msgId", "offsetMsgId", "topic", "brokerName",
//	                 "queueId", "queueOffset", "status"}]}
//
// Consume (POST /api/v1/groups/{group}/fetch, then .../commit):
//
//	{"topic": "T", "max": 32, "waitMs": 10000, "tag": "a || b"}
//	-> {"messages": [...], "commit": [{"topic", "brokerName", "queueId", "offset"}]}
//	{"offsets": [{"topic", "brokerName", "queueId", "offset"}]}  -> {"committed": n}
//
// A fetch returns at once when messages are there; otherwise it long-polls
// every queue for up to waitMs (at most 20 s; at most Options.MaxFetches
// fetches wait at once, more answer 503). Offsets are the next offset to
// consume. Each message is handed out once per process until its group's
// cursor idles for a minute or its offsets are reset; then fetching starts
// again from the committed offsets (at least once).
//
// # Security
//
// An Authorizer, when set, decides every request from its Operation (what
// it needs: read, read-bodies, produce, consume, admin; and the topic or
// group it names). State-changing requests are refused when a browser sends
// them from another origin (net/http's CrossOriginProtection: Sec-Fetch-Site
// and Origin), and their bodies must be JSON, which a cross-site form cannot
// send. Without an Authorizer every request is admitted: the HTTP endpoint
// listens on loopback by default.
package httpapi
