package admin

import (
	"fmt"
	"time"

	"github.com/cometmq/comet/internal/adminwire"
	"github.com/cometmq/comet/netio/remoting"
)

// verifyRequestSeconds is how long one verify request reads on the broker:
// short, so every request answers well within the time limit.
const verifyRequestSeconds = 2

// VerifyResult is one broker's verify of its commit log.
type VerifyResult struct {
	Broker  string                   `json:"broker"`
	From    int64                    `json:"from"`
	To      int64                    `json:"to"`
	Records int64                    `json:"records"`
	Damaged []adminwire.DamagedRange `json:"damaged"`
}

// VerifyBroker walks one broker's log from from to the end it had when
// the walk began, one short request at a time, reading at most
// bytesPerSecond on the broker.
func (c *Client) VerifyBroker(addr string, from, bytesPerSecond int64) (VerifyResult, error) {
	res := VerifyResult{Broker: addr, From: -1, Damaged: []adminwire.DamagedRange{}}
	end := int64(-1)
	for end < 0 || from < end {
		cmd := remoting.NewRequest(remoting.RequestCometVerifyStore)
		cmd.SetExtInt64("from", from)
		cmd.SetExtInt64("bytesPerSecond", bytesPerSecond)
		cmd.SetExtInt64("maxBytes", bytesPerSecond*verifyRequestSeconds)
		resp, err := c.InvokeWithin(addr, cmd, c.opts.Timeout+verifyRequestSeconds*time.Second)
		if err != nil {
			return res, err
		}
		rep, err := adminwire.DecodeVerifyReport(resp.Body)
		if err != nil {
			return res, bodyError(addr, err)
		}
		if res.From < 0 {
			res.From, end = rep.From, rep.LogEnd
		}
		res.Records += rep.Records
		res.Damaged = append(res.Damaged, rep.Damaged...)
		res.To = rep.To
		if rep.To <= from && rep.To < end {
			return res, fmt.Errorf("%w: %s: verify made no progress at %d", ErrBroker, addr, from)
		}
		from = rep.To
	}
	return res, nil
}
