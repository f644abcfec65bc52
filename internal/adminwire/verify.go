package adminwire

import (
	"encoding/json"
	"fmt"
)

// COMET_VERIFY_STORE (a Comet request, outside RocketMQ's codes) checks a
// range of the broker's commit log. Request ext fields, all optional
// decimals:
//
//	from            commit-log offset to start at (default: the log's start)
//	maxBytes        stop after about this many bytes (default and cap: what
//	                bytesPerSecond reads in VerifyMaxSeconds)
//	bytesPerSecond  read-rate bound (default VerifyDefaultRate)
//
// The response body is VerifyReport as standard JSON; a client resumes at
// its "to" until "to" reaches "logEnd". Part of the format: do not change.
//
//	{"from":0,"to":134217728,"logEnd":5368709120,"records":912345,
//	 "damaged":[{"segment":"00000000000000000000","offset":4096,
//	             "length":1187,"reason":"body crc 0x1b2c3d4e, stored 0x..."}]}
type VerifyReport struct {
	From             int64          `json:"from"`
	To               int64          `json:"to"`
	LogEnd           int64          `json:"logEnd"`
	Records          int64          `json:"records"`
	Damaged          []DamagedRange `json:"damaged"`
	DamagedTruncated bool           `json:"damagedTruncated,omitempty"`
}

// DamagedRange is a stretch of the commit log holding no valid record.
type DamagedRange struct {
	Segment string `json:"segment"`
	Offset  int64  `json:"offset"`
	Length  int64  `json:"length"`
	Reason  string `json:"reason"`
}

// Verify request defaults and bounds.
const (
	VerifyDefaultRate = 64 << 20 // bytes per second
	VerifyMaxRate     = 1 << 30
	VerifyMaxSeconds  = 10 // one request reads at most this long at its rate
)

// Encode is the JSON body.
func (r *VerifyReport) Encode() []byte {
	b, _ := json.Marshal(r)
	return b
}

// DecodeVerifyReport parses a COMET_VERIFY_STORE response body.
func DecodeVerifyReport(body []byte) (*VerifyReport, error) {
	var r VerifyReport
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, fmt.Errorf("adminwire: verify report: %w", err)
	}
	return &r, nil
}
