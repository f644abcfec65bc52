#!/bin/sh
# ha-local.sh runs a replicated Comet cluster on this machine, on loopback:
# three controllers (a raft quorum), one name server, and two broker
# groups (broker-a, broker-b) of three members each in controller mode,
# with sync replication and min-insync-replicas 2.
#
#   deploy/ha-local.sh start   build ./cmd/comet and start everything
#   deploy/ha-local.sh stop    kill the PIDs it wrote, and only those
#   deploy/ha-local.sh status  cometctl cluster list against it
#
# Ports: controllers 9880-9882, name server 9876, broker-a members 10911,
# 10921, 10931 (HA one above each), broker-b members 11911, 11921, 11931.
# Environment: COMET_HA_DIR holds data, logs and PIDs (default ./ha-local).
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
DIR=${COMET_HA_DIR:-$PWD/ha-local}
BIN="$DIR/bin/comet"
CTL="$DIR/bin/cometctl"
PEERS=n0=127.0.0.1:9880,n1=127.0.0.1:9881,n2=127.0.0.1:9882
CONTROLLERS=127.0.0.1:9880,127.0.0.1:9881,127.0.0.1:9882
NAMESRV=127.0.0.1:9876

# run NAME CMD...: start CMD in the background, its log and PID under DIR.
run() {
	name=$1
	shift
	"$@" >"$DIR/$name.log" 2>&1 &
	echo $! >"$DIR/$name.pid"
}

# wait_ready NAME: until its log says it serves (30 s at most).
wait_ready() {
	i=0
	until grep -q "comet: ready" "$DIR/$1.log" 2>/dev/null; do
		if ! kill -0 "$(cat "$DIR/$1.pid")" 2>/dev/null; then
			echo "ha-local.sh: $1 exited; see $DIR/$1.log" >&2
			exit 1
		fi
		i=$((i + 1))
		[ $i -lt 300 ] || { echo "ha-local.sh: $1 not ready after 30 s" >&2; exit 1; }
		sleep 0.1
	done
}

start() {
	mkdir -p "$DIR/bin"
	(cd "$ROOT" && go build -o "$BIN" ./cmd/comet && go build -o "$CTL" ./cmd/cometctl)
	for i in 0 1 2; do
		run "controller-n$i" "$BIN" controller --id "n$i" --peers "$PEERS" --data-dir "$DIR/controller-n$i"
	done
	run namesrv "$BIN" namesrv --namesrv-listen "$NAMESRV" --http-listen ""
	for i in 0 1 2; do wait_ready "controller-n$i"; done
	for group in a b; do
		base=10911
		[ "$group" = b ] && base=11911
		for m in 0 1 2; do
			port=$((base + 10 * m))
			name="broker-$group-$m"
			run "$name" "$BIN" --data-dir "$DIR/$name" --listen "127.0.0.1:$port" --ha-listen "127.0.0.1:$((port + 1))" \
				--namesrv-listen "" --namesrv "$NAMESRV" --http-listen "" --broker-name "broker-$group" \
				--controller "$CONTROLLERS" --replication sync --min-insync-replicas 2
			wait_ready "$name" # the first member of a group to register becomes its master
		done
	done
	echo "ha-local.sh: running; name server $NAMESRV, controllers $CONTROLLERS, logs in $DIR"
	echo "  $CTL cluster list -namesrv $NAMESRV"
}

stop() {
	for f in "$DIR"/*.pid; do
		[ -f "$f" ] || continue
		kill "$(cat "$f")" 2>/dev/null || true
		rm -f "$f"
	done
}

case ${1:-} in
start) start ;;
stop) stop ;;
status) "$CTL" cluster list -namesrv "$NAMESRV" ;;
*)
	echo "usage: $0 start|stop|status" >&2
	exit 1
	;;
esac
