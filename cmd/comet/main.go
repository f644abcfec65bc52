// Command comet runs a RocketMQ-compatible broker with its embedded name
// server, or (`comet namesrv`) a name server alone. Flags, a TOML config
// file (-config) and COMET_* environment variables configure it; see
// deploy/comet.example.toml.
package main

import (
	"os"

	"github.com/cometmq/comet/internal/daemon"
)

func main() {
	os.Exit(daemon.Main(os.Args[1:], os.Stderr))
}
