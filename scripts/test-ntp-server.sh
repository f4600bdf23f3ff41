#!/bin/sh
# Test NTP server: runs chronyd on 127.0.0.1 serving its own (system) clock,
# for tests that need a real time server. Never touches the system clock.
#
#   scripts/test-ntp-server.sh start DIR PORT [TTL]   prints the chronyd pid
#   scripts/test-ntp-server.sh stop DIR
#
# DIR holds chrony.conf, chronyd.pid, drift and chronyd.log. TTL (seconds,
# default 300) makes chronyd exit on its own (-t) so a crashed test leaves no
# orphan for long. chronyd answers with LI=0, stratum 8 right after start.
set -eu

usage() {
	echo "usage: $0 start DIR PORT [TTL] | stop DIR" >&2
	exit 2
}

[ $# -ge 2 ] || usage
cmd=$1
dir=$2

case $cmd in
start)
	[ $# -ge 3 ] || usage
	port=$3
	ttl=${4:-300}
	chronyd=${CHRONYD:-/usr/sbin/chronyd}
	[ -x "$chronyd" ] || { echo "$0: $chronyd not found (apt-get install chrony)" >&2; exit 1; }
	mkdir -p "$dir"
	dir=$(cd "$dir" && pwd)
	rm -f "$dir/chronyd.pid"
	cat >"$dir/chrony.conf" <<CONF
port $port
bindaddress 127.0.0.1
local stratum 8
allow 127.0.0.1
cmdport 0
bindcmdaddress /
pidfile $dir/chronyd.pid
driftfile $dir/drift
CONF
	# -x: never control the system clock; -n: stay in the foreground (we
	# background it ourselves); as root keep root (-u root) so the files in
	# DIR stay writable, otherwise skip the root check (-U).
	if [ "$(id -u)" = 0 ]; then priv="-u root"; else priv="-U"; fi
	# shellcheck disable=SC2086
	"$chronyd" -x -n $priv -t "$ttl" -f "$dir/chrony.conf" -l "$dir/chronyd.log" \
		</dev/null >/dev/null 2>&1 &
	pid=$!
	# chronyd writes its pid file once the sockets are open; wait up to 10 s.
	i=0
	while [ ! -s "$dir/chronyd.pid" ]; do
		if ! kill -0 "$pid" 2>/dev/null; then
			echo "$0: chronyd exited during start-up:" >&2
			cat "$dir/chronyd.log" >&2 2>/dev/null || true
			exit 1
		fi
		i=$((i + 1))
		if [ $i -gt 100 ]; then
			echo "$0: chronyd did not start within 10 s" >&2
			kill "$pid" 2>/dev/null || true
			exit 1
		fi
		sleep 0.1
	done
	echo "$pid"
	;;
stop)
	[ -s "$dir/chronyd.pid" ] || exit 0
	pid=$(cat "$dir/chronyd.pid")
	kill "$pid" 2>/dev/null || exit 0
	# wait up to 5 s, then SIGKILL
	i=0
	while kill -0 "$pid" 2>/dev/null; do
		i=$((i + 1))
		if [ $i -gt 50 ]; then
			kill -9 "$pid" 2>/dev/null || true
			break
		fi
		sleep 0.1
	done
	rm -f "$dir/chronyd.pid"
	;;
*)
	usage
	;;
esac
