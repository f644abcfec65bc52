#!/bin/sh
# nats.sh builds nats-server from the Go module proxy and runs it on
# 127.0.0.1 as the peer broker of comet-bench.
#
#   perf/peer/nats.sh build            install nats-server into the cache dir
#   perf/peer/nats.sh start [always]   start it (JetStream, file storage)
#                                      detached; prints its URL
#   perf/peer/nats.sh stop             kill the PID it wrote, and only that
#   perf/peer/nats.sh url              print the URL of the running server
#
# Environment:
#   NATS_VERSION    nats-server module version (default v2.15.2)
#   NATS_CACHE      where the binary is installed
#                   (default ${XDG_CACHE_HOME:-$HOME/.cache}/comet-perf)
#   NATS_PORT       client port (default 4222)
#   NATS_MQTT_PORT  when set, also serve MQTT 3.1.1 on this port (MQTT needs
#                   a server name and JetStream, both configured here)
#   NATS_STATE      where the PID file, config, log and store live
#                   (default a fresh temp dir, remembered in $NATS_CACHE/state)
#
# "start always" writes `jetstream { sync_interval: always }` into the config
# (nats-server v2.15.2 has no command-line flag for it), so every message is
# fsynced before its PubAck: the durable mode to compare with comet --flush sync.
set -eu

NATS_VERSION=${NATS_VERSION:-v2.15.2}
NATS_CACHE=${NATS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/comet-perf}
NATS_PORT=${NATS_PORT:-4222}
BIN="$NATS_CACHE/nats-server-$NATS_VERSION/nats-server"
STATE_FILE="$NATS_CACHE/state"

build() {
	if [ -x "$BIN" ]; then
		return 0
	fi
	mkdir -p "$(dirname "$BIN")"
	echo "nats.sh: installing nats-server $NATS_VERSION into $(dirname "$BIN")" >&2
	(cd "$NATS_CACHE" && GOBIN="$(dirname "$BIN")" go install "github.com/nats-io/nats-server/v2@$NATS_VERSION")
}

state_dir() {
	if [ -n "${NATS_STATE:-}" ]; then
		echo "$NATS_STATE"
	elif [ -f "$STATE_FILE" ]; then
		cat "$STATE_FILE"
	fi
}

wait_listening() {
	i=0
	while [ $i -lt 100 ]; do
		if grep -q "Server is ready" "$1/nats.log" 2>/dev/null; then
			return 0
		fi
		if ! kill -0 "$2" 2>/dev/null; then
			echo "nats.sh: nats-server exited; see $1/nats.log" >&2
			return 1
		fi
		sleep 0.1
		i=$((i + 1))
	done
	echo "nats.sh: nats-server not ready after 10 s; see $1/nats.log" >&2
	return 1
}

start() {
	build
	dir=$(state_dir)
	if [ -n "$dir" ] && [ -f "$dir/nats.pid" ] && kill -0 "$(cat "$dir/nats.pid")" 2>/dev/null; then
		echo "nats.sh: already running (pid $(cat "$dir/nats.pid")); stop it first" >&2
		return 1
	fi
	if [ -z "${NATS_STATE:-}" ]; then
		dir=$(mktemp -d "${TMPDIR:-/tmp}/comet-perf-nats.XXXXXX")
	fi
	mkdir -p "$dir/store"
	mkdir -p "$NATS_CACHE"
	echo "$dir" >"$STATE_FILE"
	sync_interval=""
	if [ "${1:-}" = "always" ]; then
		sync_interval="sync_interval: always"
	fi
	mqtt_block=""
	if [ -n "${NATS_MQTT_PORT:-}" ]; then
		mqtt_block="server_name: comet_perf_nats
mqtt { listen: 127.0.0.1:$NATS_MQTT_PORT }"
	fi
	cat >"$dir/nats.conf" <<CONF
$mqtt_block
jetstream {
  max_file_store: 20GB
  max_memory_store: 1GB
  $sync_interval
}
CONF
	# Detached: nothing of the server holds the caller's stdout or stderr,
	# so `url=$(nats.sh start)` and pipes return once it is ready.
	"$BIN" -js -sd "$dir/store" -a 127.0.0.1 -p "$NATS_PORT" -c "$dir/nats.conf" -l "$dir/nats.log" \
		</dev/null >>"$dir/nats.out" 2>&1 &
	pid=$!
	echo "$pid" >"$dir/nats.pid"
	wait_listening "$dir" "$pid"
	echo "nats://127.0.0.1:$NATS_PORT"
}

stop() {
	dir=$(state_dir)
	if [ -z "$dir" ] || [ ! -f "$dir/nats.pid" ]; then
		echo "nats.sh: no PID file; nothing to stop" >&2
		return 0
	fi
	pid=$(cat "$dir/nats.pid")
	if kill "$pid" 2>/dev/null; then
		i=0
		while kill -0 "$pid" 2>/dev/null && [ $i -lt 100 ]; do
			sleep 0.1
			i=$((i + 1))
		done
	fi
	rm -f "$dir/nats.pid"
	if [ -z "${NATS_STATE:-}" ]; then
		rm -rf "$dir"
		rm -f "$STATE_FILE"
	fi
}

case "${1:-}" in
build) build ;;
start) shift; start "$@" ;;
stop) stop ;;
url) echo "nats://127.0.0.1:$NATS_PORT" ;;
*)
	echo "usage: $0 build | start [always] | stop | url" >&2
	exit 2
	;;
esac
