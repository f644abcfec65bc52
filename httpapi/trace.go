package httpapi

import (
	"strconv"
	"strings"
)

// Trace records are what the official clients' trace option sends to
// RMQ_SYS_TRACE_TOPIC (or the configured trace topic): ordinary messages
// whose keys are the traced message ids and whose body is a list of
// records, each ending in \x02, fields separated by \x01. Part of the
// format (the clients write it): do not change.
//
//	Pub:       Pub ts region group topic msgId tags keys storeHost bodyLength costMs msgType offsetMsgId success [clientHost]
//	SubBefore: SubBefore ts region group requestId msgId retryTimes keys [clientHost]
//	SubAfter:  SubAfter requestId msgId costMs success keys [contextCode [ts [group]]]
//
// Times are unix milliseconds; success is "true" or "false"; an empty key
// list is written "null" by the consumers. Fields a client does not write
// (older or newer versions) are left zero; records of other types and
// records too short for their type are skipped and counted.

// TraceEvent is one decoded trace record.
type TraceEvent struct {
	Type        string `json:"type"` // Pub, SubBefore or SubAfter
	Timestamp   int64  `json:"timestamp,omitempty"`
	Region      string `json:"region,omitempty"`
	Group       string `json:"group,omitempty"`
	Topic       string `json:"topic,omitempty"`
	MsgID       string `json:"msgId"`
	Tags        string `json:"tags,omitempty"`
	Keys        string `json:"keys,omitempty"`
	StoreHost   string `json:"storeHost,omitempty"`
	BodyLength  int    `json:"bodyLength,omitempty"`
	CostMs      int64  `json:"costMs"`
	MsgType     int    `json:"msgType,omitempty"`
	OffsetMsgID string `json:"offsetMsgId,omitempty"`
	Success     bool   `json:"success"`
	ClientHost  string `json:"clientHost,omitempty"`
	RequestID   string `json:"requestId,omitempty"`
	RetryTimes  int    `json:"retryTimes,omitempty"`
	ContextCode int    `json:"contextCode,omitempty"`
}

// Trace record types and the fewest fields each must have.
const (
	tracePub       = "Pub"
	traceSubBefore = "SubBefore"
	traceSubAfter  = "SubAfter"
)

var traceMinFields = map[string]int{tracePub: 14, traceSubBefore: 8, traceSubAfter: 6}

// ParseTraceRecords decodes a trace message body. It never fails: records
// it cannot read are skipped and counted in skipped.
func ParseTraceRecords(body []byte) (events []TraceEvent, skipped int) {
	for rec := range strings.SplitSeq(string(body), "\x02") {
		if strings.TrimSpace(rec) == "" {
			continue
		}
		f := strings.Split(rec, "\x01")
		if min, ok := traceMinFields[f[0]]; !ok || len(f) < min {
			skipped++
			continue
		}
		events = append(events, parseTraceFields(f))
	}
	return events, skipped
}

// field returns f[i], or "" past the end.
func field(f []string, i int) string {
	if i < len(f) {
		return f[i]
	}
	return ""
}

func atoi64(s string) int64 {
	v, _ := strconv.ParseInt(s, 10, 64)
	return v
}

func nullKeys(s string) string {
	if s == "null" {
		return ""
	}
	return s
}

func parseTraceFields(f []string) TraceEvent {
	e := TraceEvent{Type: f[0]}
	switch f[0] {
	case tracePub:
		e.Timestamp, e.Region, e.Group, e.Topic, e.MsgID = atoi64(f[1]), f[2], f[3], f[4], f[5]
		e.Tags, e.Keys, e.StoreHost = f[6], nullKeys(f[7]), f[8]
		e.BodyLength, e.CostMs, e.MsgType = int(atoi64(f[9])), atoi64(f[10]), int(atoi64(f[11]))
		e.OffsetMsgID, e.Success, e.ClientHost = f[12], f[13] == "true", field(f, 14)
	case traceSubBefore:
		e.Timestamp, e.Region, e.Group, e.RequestID, e.MsgID = atoi64(f[1]), f[2], f[3], f[4], f[5]
		e.RetryTimes, e.Keys, e.ClientHost = int(atoi64(f[6])), nullKeys(f[7]), field(f, 8)
	case traceSubAfter:
		e.RequestID, e.MsgID, e.CostMs, e.Success, e.Keys = f[1], f[2], atoi64(f[3]), f[4] == "true", nullKeys(f[5])
		e.ContextCode, e.Timestamp, e.Group = int(atoi64(field(f, 6))), atoi64(field(f, 7)), field(f, 8)
	}
	return e
}

// Consumption is one delivery of a message to a consumer group, joined
// from its SubBefore and SubAfter records.
type Consumption struct {
	Group      string `json:"group"`
	ClientHost string `json:"clientHost,omitempty"`
	RequestID  string `json:"requestId"`
	StartedAt  int64  `json:"startedAt,omitempty"` // unix ms
	RetryTimes int    `json:"retryTimes"`
	CostMs     int64  `json:"costMs"`
	// Result is "success", "failed", or "unknown" (no SubAfter record:
	// still running, or its record was lost).
	Result string `json:"result"`
}

// consumptions joins the Sub records of msgID by request id, in order of
// their start.
func consumptions(events []TraceEvent, msgID string) []Consumption {
	byReq := map[string]*Consumption{}
	var order []string
	get := func(req string) *Consumption {
		c := byReq[req]
		if c == nil {
			c = &Consumption{RequestID: req, Result: "unknown"}
			byReq[req] = c
			order = append(order, req)
		}
		return c
	}
	for _, e := range events {
		if e.MsgID != msgID {
			continue
		}
		switch e.Type {
		case traceSubBefore:
			c := get(e.RequestID)
			c.Group, c.ClientHost, c.StartedAt, c.RetryTimes = e.Group, e.ClientHost, e.Timestamp, e.RetryTimes
		case traceSubAfter:
			c := get(e.RequestID)
			c.CostMs, c.Result = e.CostMs, "failed"
			if e.Success {
				c.Result = "success"
			}
			if c.Group == "" {
				c.Group = e.Group
			}
		}
	}
	out := make([]Consumption, 0, len(order))
	for _, req := range order {
		out = append(out, *byReq[req])
	}
	return out
}
