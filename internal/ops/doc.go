// Package ops owns the process-level operator plumbing of a comet server:
// the HTTP endpoint (/metrics, /healthz, /readyz, /status), systemd
// notification (sd_notify over the NOTIFY_SOCKET datagram socket, watchdog
// pings) and the slog set-up with its rate limiter for repeated warnings.
// It knows nothing of the broker: callers hand it a Prometheus gatherer and
// a status function. It never exits the process and never reads config
// files.
package ops
