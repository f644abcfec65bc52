// Command comet runs a RocketMQ-compatible broker with its embedded name
// server, (`comet namesrv`) a name server alone, or (`comet controller`)
// one member of the controller quorum that fails broker groups over.
// Flags, a TOML config
// file (-config) and COMET_* environment variables configure it; see
// deploy/comet.example.toml. `comet --version` prints the build.
package main

import (
	"os"

	"github.com/cometmq/comet/internal/daemon"
)

func main() {
	os.Exit(daemon.Run(os.Args[1:], os.Stdout, os.Stderr))
}
