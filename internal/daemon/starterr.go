package daemon

import (
	"errors"
	"fmt"

	"github.com/cometmq/comet/actors"
)

// brokerListenKeys maps the broker option of a listener to its setting.
var brokerListenKeys = map[string]string{"Listen": "listen", "HAListen": "ha-listen"}

// listenFailed names the setting whose address could not be opened, its
// value and where that value came from, so a busy port points at the key
// to change.
func (p *process) listenFailed(key, addr string, err error) error {
	return fmt.Errorf("comet: cannot listen on %s = %q (%s): %w", key, addr, p.cfg.DescribeOrigin(key), err)
}

// brokerStartFailed names the setting of a broker listener that failed.
func (p *process) brokerStartFailed(err error) error {
	var le *actors.ListenError
	if errors.As(err, &le) {
		if key, ok := brokerListenKeys[le.Option]; ok {
			return p.listenFailed(key, le.Addr, le.Err)
		}
	}
	return err
}

// warnUnknownEnv logs each COMET_* variable that names no setting.
func (p *process) warnUnknownEnv() {
	for _, name := range p.cfg.UnknownEnv {
		p.log.Warn("comet: ignoring an environment variable that names no setting", "name", name)
	}
}
