package ctl

import (
	"flag"
	"fmt"
	"time"

	"github.com/cometmq/comet/internal/adminwire"
	"github.com/cometmq/comet/netio/remoting"
)

func init() {
	register(&command{name: "broker verify", args: "[-from N] [-rate MiB/s]",
		help: "check every record of each broker's commit log against its checksum and list the damaged ranges (exit 5 if any)",
		flags: func(fs *flag.FlagSet, o *cmdOpts) {
			fs.Int64Var(&o.offset, "from", 0, "commit-log offset to start at")
			fs.Int64Var(&o.rateMiB, "rate", adminwire.VerifyDefaultRate>>20, "read rate bound on the broker, MiB/s")
		}, run: runBrokerVerify})
}

// verifyRequestSeconds is how long one verify request reads on the broker:
// short, so every request answers well within -timeout.
const verifyRequestSeconds = 2

// verifyResult is one broker's verify, as printed.
type verifyResult struct {
	Broker  string                   `json:"broker"`
	From    int64                    `json:"from"`
	To      int64                    `json:"to"`
	Records int64                    `json:"records"`
	Damaged []adminwire.DamagedRange `json:"damaged"`
}

func runBrokerVerify(e *env, o *cmdOpts, _ []string) error {
	if o.offset < 0 || o.rateMiB < 1 || o.rateMiB > adminwire.VerifyMaxRate>>20 {
		return usageError("-from must be >= 0 and -rate 1..%d", adminwire.VerifyMaxRate>>20)
	}
	brokers, err := e.masters()
	if err != nil {
		return err
	}
	var results []verifyResult
	var errs []error
	t := newTable("BROKER", "SEGMENT", "OFFSET", "LENGTH", "REASON")
	damaged := 0
	for _, b := range brokers {
		res, err := e.verifyBroker(b.Addr, o.offset, o.rateMiB<<20)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, d := range res.Damaged {
			t.add(b.Addr, d.Segment, d.Offset, d.Length, d.Reason)
		}
		damaged += len(res.Damaged)
		results = append(results, res)
		fmt.Fprintf(e.stderr, "cometctl: %s: %d records in [%d, %d) verified, %d damaged ranges\n",
			b.Addr, res.Records, res.From, res.To, len(res.Damaged))
	}
	if err := e.emit(results, t); err != nil {
		return err
	}
	if err := worst(errs); err != nil {
		return err
	}
	if damaged > 0 {
		return fmt.Errorf("%w: %d damaged ranges", ErrDamaged, damaged)
	}
	return nil
}

// verifyBroker walks one broker's log from from to the end it had when
// the walk began, one short request at a time.
func (e *env) verifyBroker(addr string, from, rate int64) (verifyResult, error) {
	res := verifyResult{Broker: addr, From: -1, Damaged: []adminwire.DamagedRange{}}
	end := int64(-1)
	for end < 0 || from < end {
		cmd := remoting.NewRequest(remoting.RequestCometVerifyStore)
		cmd.SetExtInt64("from", from)
		cmd.SetExtInt64("bytesPerSecond", rate)
		cmd.SetExtInt64("maxBytes", rate*verifyRequestSeconds)
		resp, err := e.invokeWithin(addr, cmd, e.timeout+verifyRequestSeconds*time.Second)
		if err != nil {
			return res, err
		}
		rep, err := adminwire.DecodeVerifyReport(resp.Body)
		if err != nil {
			return res, brokerBodyError(addr, err)
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
