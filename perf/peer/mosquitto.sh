#!/bin/sh
# mosquitto.sh runs Debian's mosquitto on 127.0.0.1 as an MQTT peer of
# comet-bench (apt-get install mosquitto).
#
#   perf/peer/mosquitto.sh start   start it in the background; prints host:port
#   perf/peer/mosquitto.sh stop    kill the PID it wrote, and only that
#   perf/peer/mosquitto.sh pid     print that PID (for comet-bench -peer-pids)
#
# Environment:
#   MOSQUITTO_PORT   listener port (default 11884)
#   MOSQUITTO_STATE  where the PID file, config and log live
#                    (default a fresh temp dir, remembered in $MOSQUITTO_CACHE/state)
#   MOSQUITTO_CACHE  default ${XDG_CACHE_HOME:-$HOME/.cache}/comet-perf
#
# The configuration is mosquitto 2.0's defaults on one listener with
# anonymous clients allowed (max_inflight_messages 20, max_queued_messages
# 1000, in-memory only: mosquitto does not make a QoS 1 message durable
# before its PUBACK).
set -eu

MOSQUITTO_PORT=${MOSQUITTO_PORT:-11884}
MOSQUITTO_CACHE=${MOSQUITTO_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/comet-perf}
STATE_FILE="$MOSQUITTO_CACHE/mosquitto-state"
BIN=$(command -v mosquitto || true)
[ -n "$BIN" ] || BIN=/usr/sbin/mosquitto

state_dir() {
	if [ -n "${MOSQUITTO_STATE:-}" ]; then
		echo "$MOSQUITTO_STATE"
	elif [ -f "$STATE_FILE" ]; then
		cat "$STATE_FILE"
	fi
}

start() {
	if [ ! -x "$BIN" ]; then
		echo "mosquitto.sh: mosquitto is not installed (apt-get install mosquitto)" >&2
		return 1
	fi
	mkdir -p "$MOSQUITTO_CACHE"
	dir=${MOSQUITTO_STATE:-$(mktemp -d "${TMPDIR:-/tmp}/comet-perf-mosquitto.XXXXXX")}
	echo "$dir" >"$STATE_FILE"
	cat >"$dir/mosquitto.conf" <<CONF
listener $MOSQUITTO_PORT 127.0.0.1
allow_anonymous true
user $(id -un)
persistence false
log_dest file $dir/mosquitto.log
CONF
	"$BIN" -c "$dir/mosquitto.conf" &
	pid=$!
	echo "$pid" >"$dir/mosquitto.pid"
	i=0
	while [ $i -lt 50 ]; do
		if (echo >"/dev/tcp/127.0.0.1/$MOSQUITTO_PORT") 2>/dev/null || grep -q "Opening ipv4 listen socket" "$dir/mosquitto.log" 2>/dev/null; then
			echo "127.0.0.1:$MOSQUITTO_PORT"
			return 0
		fi
		sleep 0.1
		i=$((i + 1))
	done
	echo "mosquitto.sh: not listening after 5 s; see $dir/mosquitto.log" >&2
	return 1
}

stop() {
	dir=$(state_dir)
	if [ -z "$dir" ] || [ ! -f "$dir/mosquitto.pid" ]; then
		echo "mosquitto.sh: no PID file; nothing to stop" >&2
		return 0
	fi
	kill "$(cat "$dir/mosquitto.pid")" 2>/dev/null || true
	rm -f "$dir/mosquitto.pid"
	if [ -z "${MOSQUITTO_STATE:-}" ]; then
		rm -rf "$dir"
		rm -f "$STATE_FILE"
	fi
}

case "${1:-}" in
start) start ;;
stop) stop ;;
pid) cat "$(state_dir)/mosquitto.pid" ;;
*)
	echo "usage: $0 start | stop | pid" >&2
	exit 2
	;;
esac
