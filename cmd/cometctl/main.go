// Command cometctl is the operator's command line for Comet (and any
// RocketMQ 4.x name server and broker): cluster, broker, topic, consumer
// group and message commands. Run it without arguments for the list;
// exit codes are documented in internal/ctl.
package main

import (
	"os"

	"github.com/cometmq/comet/internal/ctl"
)

func main() {
	os.Exit(ctl.Run(os.Args[1:], os.Stdout, os.Stderr))
}
