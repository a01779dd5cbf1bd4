#!/bin/sh
# Many idle TLS connections in one epoll instance: the shim parks idle
# connections out of its per-wait look (shim/epoll.c), so every connection
# must still be served when it wakes up: by the kernel (data from the
# client), or by the program writing to it outside any event of its own
# (asyncio broadcast, with writes the kernel does not take at once).
# tlsshim-test: big-capture (tests/run.sh: its capture needs the large buffer)
. "$(dirname "$0")/../lib.sh"
. "$TLSSHIM_TOP/tests/preload/common.inc"
need_shim epoll_idle_setup

N=60
accept_policy() {
	policy "$T/p.conf" <<EOC
rules = ( { name = "idle-in"; direction = "accept"; port = $1;
            cert = "$CERTS/server.crt"; key = "$CERTS/server.key"; } );
EOC
}

# epoll_server: LT 1-byte reads (plaintext left inside TLS after each
# wake-up), ET, ET+ONESHOT, LT+ONESHOT.
for m in lt:-b,1 et:-e,-b,7 et_oneshot:-e,-o,-b,7 lt_oneshot:-o,-b,3; do
	label=${m%%:*}
	flags=$(echo "${m#*:}" | tr ',' ' ')
	name=epoll_idle_${label}_${N}_conns_all_served
	P=$(free_port); accept_policy "$P"
	export TLSSHIM_LOG_FILE="$T/$name.log"
	# shellcheck disable=SC2086
	shimbg "$PROGS/epoll_server" $flags -n "$N" "$P" >"$T/$name.out" 2>"$T/$name.err"
	srv=$!
	if ! wait_for "$T/$name.out" '^listening' 10; then
		fail "$name" "epoll_server never listened$(show "$T/$name.err")"; stop "$srv"; continue
	fi
	out=$(timeout $((120 * TS)) "$PY" "$PYD/idle_conns_client.py" echo "$P" "$CERTS/ca.crt" "$N" 2>&1)
	wait_exit "$srv" 20; rc=$?
	if [ "$out" = "ok echo $N" ] && [ "$rc" = 0 ]; then
		pass "$name"
	else
		fail "$name" "client: $out; server exit $rc$(show "$T/$name.err" "$TLSSHIM_LOG_FILE")"
	fi
done

# A best-effort writer (no EPOLLOUT interest): what the kernel did not
# take of the last record written to an idle connection stays in the
# shim's out-buffer, and only the wait's look at that connection (the
# write unparked it) has the kernel watch for room to send it.
name=epoll_idle_flood_best_effort_writes_to_idle_conns_complete
P=$(free_port); accept_policy "$P"
export TLSSHIM_LOG_FILE="$T/$name.log"
shimbg "$PY" "$PYD/flood_server.py" "$P" 6 >"$T/$name.out" 2>"$T/$name.err"
srv=$!
if ! wait_for "$T/$name.out" '^listening' 15; then
	fail "$name" "flood_server never listened$(show "$T/$name.err")"; stop "$srv"
else
	out=$(timeout $((120 * TS)) "$PY" "$PYD/idle_conns_client.py" flood "$P" "$CERTS/ca.crt" 6 2>&1)
	wait_exit "$srv" 30; rc=$?
	if [ "$out" = "ok flood 6" ] && [ "$rc" = 0 ]; then
		pass "$name"
	else
		fail "$name" "client: $out; server exit $rc$(show "$T/$name.err" "$TLSSHIM_LOG_FILE")"
	fi
fi

name=epoll_idle_asyncio_broadcast_to_${N}_idle_conns
P=$(free_port); accept_policy "$P"
export TLSSHIM_LOG_FILE="$T/$name.log"
shimbg "$PY" "$PYD/broadcast_server.py" "$P" "$N" >"$T/$name.out" 2>"$T/$name.err"
srv=$!
if ! wait_for "$T/$name.out" '^listening' 15; then
	fail "$name" "broadcast_server never listened$(show "$T/$name.err")"; stop "$srv"
else
	out=$(timeout $((120 * TS)) "$PY" "$PYD/idle_conns_client.py" broadcast:1048576 "$P" "$CERTS/ca.crt" "$N" 2>&1)
	wait_exit "$srv" 30; rc=$?
	if [ "$out" = "ok broadcast $N" ] && [ "$rc" = 0 ]; then
		pass "$name"
	else
		fail "$name" "client: $out; server exit $rc$(show "$T/$name.err" "$TLSSHIM_LOG_FILE")"
	fi
fi
