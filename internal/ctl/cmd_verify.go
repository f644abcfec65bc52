package ctl

import (
	"flag"
	"fmt"

	"github.com/cometmq/comet/internal/admin"
	"github.com/cometmq/comet/internal/adminwire"
)

func init() {
	register(&command{name: "broker verify", args: "[-from N] [-rate MiB/s]",
		help: "check every record of each broker's commit log against its checksum and list the damaged ranges (exit 5 if any)",
		flags: func(fs *flag.FlagSet, o *cmdOpts) {
			fs.Int64Var(&o.offset, "from", 0, "commit-log offset to start at")
			fs.Int64Var(&o.rateMiB, "rate", adminwire.VerifyDefaultRate>>20, "read rate bound on the broker, MiB/s")
		}, run: runBrokerVerify})
}

// verifyResult is one broker's verify, as printed.
type verifyResult = admin.VerifyResult

func runBrokerVerify(e *env, o *cmdOpts, _ []string) error {
	if o.offset < 0 || o.rateMiB < 1 || o.rateMiB > adminwire.VerifyMaxRate>>20 {
		return usageError("-from must be >= 0 and -rate 1..%d", adminwire.VerifyMaxRate>>20)
	}
	brokers, err := e.admin().Masters()
	if err != nil {
		return err
	}
	var results []verifyResult
	var errs []error
	t := newTable("BROKER", "SEGMENT", "OFFSET", "LENGTH", "REASON")
	damaged := 0
	for _, b := range brokers {
		res, err := e.admin().VerifyBroker(b.Addr, o.offset, o.rateMiB<<20)
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
