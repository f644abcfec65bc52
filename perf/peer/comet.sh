#!/bin/sh
# comet.sh builds the comet binary of this repository and runs it on
# 127.0.0.1 as the broker under test of comet-bench, so that broker and
# harness are separate processes (as they are for the NATS peer). It sets
# the production store file sizes (1 GiB segments, 16 Mi key-index
# entries), which a loopback-only broker would otherwise make small.
#
#   perf/peer/comet.sh build               go build ./cmd/comet into the cache dir
#   perf/peer/comet.sh start [sync|async]  start it with that --flush mode
#                                          (default sync), detached (its output
#                                          goes to comet.log in the state dir);
#                                          prints the name server. Rebuilds first
#                                          when a Go source, go.mod or go.sum is
#                                          newer than the cached binary.
#   perf/peer/comet.sh stop                kill the PID it wrote, and only that
#   perf/peer/comet.sh pid                 print that PID (for comet-bench -comet-pid)
#
# Environment:
#   COMET_CACHE          where the binary goes
#                        (default ${XDG_CACHE_HOME:-$HOME/.cache}/comet-perf)
#   COMET_PORT           broker port (default 19911)
#   COMET_NAMESRV_PORT   embedded name server port (default 19876)
#   COMET_MQTT_PORT      MQTT gateway port (default 11883)
#   COMET_STATE          where the PID file, log and data live
#                        (default a fresh temp dir, remembered in $COMET_CACHE/comet-state)
set -eu

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
COMET_CACHE=${COMET_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/comet-perf}
COMET_PORT=${COMET_PORT:-19911}
COMET_NAMESRV_PORT=${COMET_NAMESRV_PORT:-19876}
COMET_MQTT_PORT=${COMET_MQTT_PORT:-11883}
BIN="$COMET_CACHE/comet"
STATE_FILE="$COMET_CACHE/comet-state"

build() {
	mkdir -p "$COMET_CACHE"
	(cd "$ROOT" && CGO_ENABLED=0 go build -o "$BIN" ./cmd/comet)
}

# stale: the cached binary is missing or older than a source it is built from.
stale() {
	[ -x "$BIN" ] || return 0
	newer=$(find "$ROOT" -path "$ROOT/.git" -prune -o \( -name '*.go' -o -name go.mod -o -name go.sum \) \
		-newer "$BIN" -print 2>/dev/null | head -n 1)
	[ -n "$newer" ]
}

state_dir() {
	if [ -n "${COMET_STATE:-}" ]; then
		echo "$COMET_STATE"
	elif [ -f "$STATE_FILE" ]; then
		cat "$STATE_FILE"
	fi
}

wait_listening() {
	i=0
	while [ $i -lt 100 ]; do
		if grep -q "comet: ready" "$1/comet.log" 2>/dev/null; then
			return 0
		fi
		if ! kill -0 "$2" 2>/dev/null; then
			echo "comet.sh: comet exited; see $1/comet.log" >&2
			return 1
		fi
		sleep 0.1
		i=$((i + 1))
	done
	echo "comet.sh: comet not listening after 10 s; see $1/comet.log" >&2
	return 1
}

start() {
	flush=${1:-sync}
	if stale; then
		echo "comet.sh: building $BIN" >&2
		build
	fi
	dir=$(state_dir)
	if [ -n "$dir" ] && [ -f "$dir/comet.pid" ] && kill -0 "$(cat "$dir/comet.pid")" 2>/dev/null; then
		echo "comet.sh: already running (pid $(cat "$dir/comet.pid")); stop it first" >&2
		return 1
	fi
	if [ -z "${COMET_STATE:-}" ]; then
		dir=$(mktemp -d "${TMPDIR:-/tmp}/comet-perf-comet.XXXXXX")
	fi
	mkdir -p "$dir/data"
	echo "$dir" >"$STATE_FILE"
	"$BIN" --data-dir "$dir/data" --listen "127.0.0.1:$COMET_PORT" \
		--namesrv-listen "127.0.0.1:$COMET_NAMESRV_PORT" --http-listen "" \
		--mqtt-listen "127.0.0.1:$COMET_MQTT_PORT" --mqtt-ws-listen "" --ha-listen "" \
		--flush "$flush" --segment-size 1073741824 --index-entries 16777216 \
		</dev/null >>"$dir/comet.log" 2>&1 &
	pid=$!
	echo "$pid" >"$dir/comet.pid"
	wait_listening "$dir" "$pid"
	echo "127.0.0.1:$COMET_NAMESRV_PORT"
}

stop() {
	dir=$(state_dir)
	if [ -z "$dir" ] || [ ! -f "$dir/comet.pid" ]; then
		echo "comet.sh: no PID file; nothing to stop" >&2
		return 0
	fi
	pid=$(cat "$dir/comet.pid")
	if kill "$pid" 2>/dev/null; then
		i=0
		while kill -0 "$pid" 2>/dev/null && [ $i -lt 300 ]; do
			sleep 0.1
			i=$((i + 1))
		done
	fi
	rm -f "$dir/comet.pid"
	if [ -z "${COMET_STATE:-}" ]; then
		rm -rf "$dir"
		rm -f "$STATE_FILE"
	fi
}

case "${1:-}" in
build) build ;;
start) shift; start "$@" ;;
stop) stop ;;
pid) cat "$(state_dir)/comet.pid" ;;
*)
	echo "usage: $0 build | start [sync|async] | stop | pid" >&2
	exit 2
	;;
esac
