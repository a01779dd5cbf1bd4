#!/bin/sh
# tests/preload/hsflight.sh — a handshake step that read until the
# kernel's queue was empty, then sent its flight, does not ask the kernel
# for the answer before waiting for it (core/tls.c, sock_read): the
# receive would say EAGAIN (the peer answers a flight after it has read
# it), and anything that arrives later wakes the wait, or the program's
# poll or edge-triggered epoll.
#
# strace (main thread: the engine's recvfrom and sendto are the
# program's thread's) of shimmed servers, each serving 3 TLS clients
# (Python ssl) one after another: echo_server (blocking, iterative: the
# handshake waits in the library), the same with TLS 1.2 clients (the
# server's ServerHello..ServerHelloDone flight), and epoll_server -e
# (non-blocking, edge-triggered: the program waits).  On every accepted
# socket no recvfrom says EAGAIN between the server's first send
# (ServerHello .. Finished) and the first recvfrom after it that returns
# data, and every client is served.  Before, every such recvfrom said EAGAIN (the client
# verifies the certificate before it answers).
. "$(dirname "$0")/../lib.sh"
. "$TLSSHIM_TOP/tests/preload/common.inc"
need_shim hsflight_setup
command -v strace >/dev/null || { fail hsflight_setup "strace not installed (.ci/packages lists it)"; exit 1; }

# doomed FILE: "N M": N accepted sockets whose flight strace saw, M of
# them with an EAGAIN recvfrom between the flight and the answer.
doomed() {
	awk '
	/^accept4?\(/ && / = [0-9]+$/ { fd = $NF; st[fd] = 0; bad[fd] = 0; next }
	/^sendto\(/ { split($0, a, /[(,]/); fd = a[2]
		if ((fd in st) && st[fd] == 0 && $NF + 0 > 0) { st[fd] = 1; n++ } next }
	/^recvfrom\(/ { split($0, a, /[(,]/); fd = a[2]
		if (!(fd in st) || st[fd] != 1) next
		if ($0 ~ /= -1 EAGAIN/) { bad[fd]++; next }
		if ($0 ~ /= [0-9]+$/ && $NF + 0 > 0) { st[fd] = 2; if (bad[fd]) m++ } }
	END { print n + 0, m + 0 }' "$1"
}

# label, program, client's version flag ("-": any), the program's flags
while read -r label prog ver flags; do
	[ "$ver" != - ] || ver=""
	name=hsflight_${label}_no_receive_between_flight_and_answer
	f="$T/$label"
	P=$(free_port)
	policy "$f.conf" <<EOF
rules = ( { name = "hs-in"; direction = "accept"; port = $P;
            cert = "$CERTS/server.crt"; key = "$CERTS/server.key"; } );
EOF
	export TLSSHIM_LOG_FILE="$f.log"
	# shellcheck disable=SC2086
	shimbg strace -qq -s 0 -e trace=accept,accept4,sendto,recvfrom -o "$f.st" \
		"$PROGS/$prog" $flags "$P" >"$f.out" 2>"$f.err"
	pid=$!
	if ! wait_for "$f.out" '^listening' 20; then
		fail "$name" "$prog never listened$(show "$f.err")"; stop "$pid"; continue
	fi
	why=""
	for i in 1 2 3; do
		# shellcheck disable=SC2086
		peer client $ver --port "$P" --ca "$CERTS/ca.crt" --server-name localhost --send "flight $i
" >"$f.cli$i" 2>&1 </dev/null
		grep -q '^echo ok' "$f.cli$i" || why="$why; client $i not served$(show "$f.cli$i")"
	done
	if [ "$prog" = epoll_server ]; then
		wait_exit "$pid" 20 || why="$why; epoll_server did not exit after 3 connections"
	fi
	# strace lets its program go on when it is stopped: the program first
	for kid in $(cat "/proc/$pid/task/$pid/children" 2>/dev/null); do
		kill "$kid" 2>/dev/null
	done
	stop "$pid"
	# shellcheck disable=SC2046
	set -- $(doomed "$f.st")
	[ "$1" -ge 3 ] || why="$why; strace saw $1 flights, not 3$(show "$f.st")"
	[ "$2" -eq 0 ] || why="$why; $2 of $1 handshakes asked the kernel for the answer before waiting$(show "$f.st")"
	if [ -z "$why" ]; then
		pass "$name ($1 flights, no EAGAIN receive after any)"
	else
		fail "$name" "${why#; }"
	fi
done <<CASES
echo_server echo_server - -a
echo_server_tls12 echo_server --tls12 -a
epoll_server_edge epoll_server - -e -b 4096 -n 3
CASES
