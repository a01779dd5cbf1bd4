#!/bin/sh
# tests/preload/faults_timeout.sh — clients that connect and never finish
# a handshake cannot hold a non-blocking, event-driven server: the
# handshake_timeout_ms of the accept rule applies under poll(), select()
# and epoll (redis-server), not only to blocking calls, and the server
# keeps serving other clients meanwhile.
#
# For each server: three silent clients (TCP only, not a byte sent) and one
# that sends half a ClientHello, then a real TLS client.  handshake_timeout_ms
# is 4000 * TS: a scenario time long enough for the TLS client's own
# exchange on a busy machine, so that "served meanwhile" is visible: the
# TLS client finishes before the first stalled connection is closed.
# Then each stalled handshake fails: one "handshake timeout" log line
# each, the program's read says ECONNRESET, the program closes the fd and
# the silent client sees EOF (a FIN, not a reset).  (Also covered:
# tests/preload/asyncio.sh, epoll_server with one silent client;
# tests/preload/handshake.sh, a blocking iterative server.)
. "$(dirname "$0")/../lib.sh"
. "$TLSSHIM_TOP/tests/preload/common.inc"
need_shim faults_timeout_setup
HT=$((4000 * TS))
NSILENT=3

timeout_policy() {
	policy "$T/$1.conf" <<EOF
rules = ( { name = "stall-in"; direction = "accept"; port = $2; handshake_timeout_ms = $HT;
            cert = "$CERTS/server.crt"; key = "$CERTS/server.key"; } );
EOF
}

# stall NAME PORT: start the stalled clients; returns when they are in.
stall() {
	bg "$PY" "$PYD/silent_clients.py" "$2" "$NSILENT" $((60 * TS)) >"$T/$1.silent" 2>&1
	SILENT=$!
	bg "$PY" "$PYD/half_hello.py" "$2" $((60 * TS)) >"$T/$1.stalled" 2>&1
	STALLED=$!
	wait_for "$T/$1.silent" '^connected' 10 && wait_for "$T/$1.stalled" '^sent' 10
}

# check_stalled NAME SERVED-FILE LOG: the common assertions; prints
# nothing when they hold, else the reason.
check_stalled() {
	_cs_served=$(cat "$2" 2>/dev/null)
	_cs_first=$(awk '$1 == "eof" || $1 == "reset" { print $2 }' "$T/$1.silent" | sort -n | head -1)
	if [ "$(lines "$T/$1.silent" '^eof ')" -ne "$NSILENT" ]; then
		echo "the silent clients were not all closed by the server (FIN)$(show "$T/$1.silent" "$3")"
	elif ! grep -q '^closed$' "$T/$1.stalled"; then
		echo "the half-ClientHello connection was not closed$(show "$T/$1.stalled" "$3")"
	elif [ "$(lines "$3" 'handshake timeout')" -ne $((NSILENT + 1)) ]; then
		echo "expected $((NSILENT + 1)) log lines naming the handshake timeout$(show "$3")"
	elif [ -z "$_cs_served" ] || [ -z "$_cs_first" ] ||
	     ! awk -v a="$_cs_served" -v b="$_cs_first" 'BEGIN { exit !(a < b) }'; then
		echo "the TLS client was not served while the stalled ones were held (served at '$_cs_served', first stalled closed at '$_cs_first')"
	fi
}

# The three servers run at the same time (each waits out its own timeout:
# one after the other, they were 36 s of a test that used 5 s of CPU).
# Each scenario runs in a subshell of its own with a port given here
# (free_port in subshells at once could hand two of them the same one).

# --- poll() and select(): poll_server, one read per wake-up ----------------
# poll_scenario MODE PORT
poll_scenario() {
	mode=$1 P=$2
	name=${mode}_server_stalled_handshakes_time_out_others_served
	flag=""; [ "$mode" = select ] && flag=-s
	timeout_policy "$name" "$P"
	export TLSSHIM_LOG_FILE="$T/$name.log"
	# shellcheck disable=SC2086
	shimbg "$PROGS/poll_server" $flag -b 7 -n $((NSILENT + 2)) "$P" >"$T/$name.out" 2>"$T/$name.err"
	srv=$!
	if ! wait_for "$T/$name.out" '^listening' 10; then
		fail "$name" "poll_server never listened$(show "$T/$name.err")"; stop "$srv"; return
	fi
	if ! stall "$name" "$P"; then
		fail "$name" "the stalled clients did not connect$(show "$T/$name.silent" "$T/$name.stalled")"
		stop "$srv"; return
	fi
	timeout $((40 * TS)) "$PY" "$PYD/lines_client.py" "$P" "$CERTS/ca.crt" >"$T/$name.cli" 2>&1
	date +%s.%N >"$T/$name.served"
	wait_exit "$SILENT" 60; wait_exit "$STALLED" 60
	wait_exit "$srv" 10; rc=$?
	why=$(check_stalled "$name" "$T/$name.served" "$TLSSHIM_LOG_FILE")
	if ! grep -q '^echo ok$' "$T/$name.cli"; then
		fail "$name" "the TLS client next to the stalled ones was not served$(show "$T/$name.cli" "$T/$name.err" "$TLSSHIM_LOG_FILE")"
	elif [ -n "$why" ]; then
		fail "$name" "$why"
	elif [ "$(lines "$T/$name.err" '^poll_server: read: Connection reset by peer$')" -ne $((NSILENT + 1)) ]; then
		fail "$name" "each stalled connection's read must fail with ECONNRESET$(show "$T/$name.err")"
	elif [ "$rc" -ne 0 ]; then
		fail "$name" "poll_server exited $rc$(show "$T/$name.err")"
	else
		pass "$name ($NSILENT silent + 1 half ClientHello, timeout ${HT} ms)"
	fi
}

# --- epoll: redis-server, a real event-loop daemon -------------------------
# redis_scenario PORT
redis_scenario() {
	P=$1
	name=redis_stalled_handshakes_time_out_others_served
	if ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null; then
		fail "$name" "redis-server / redis-cli not installed (redis-server, redis-tools)"
		return
	fi
	timeout_policy "$name" "$P"
	export TLSSHIM_LOG_FILE="$T/$name.log"
	mkdir -p "$T/redis.d"
	shimbg redis-server --save '' --appendonly no --bind 127.0.0.1 --daemonize no --port "$P" \
		--dir "$T/redis.d" --logfile '' --loglevel notice >"$T/redis.out" 2>&1
	rsrv=$!
	rcli() { timeout $((30 * TS)) redis-cli --tls --cacert "$CERTS/ca.crt" --sni localhost -h 127.0.0.1 -p "$P" "$@"; }
	if ! wait_for "$T/redis.out" 'Ready to accept connections' 15; then
		fail "$name" "shimmed redis-server did not start$(show "$T/redis.out" "$TLSSHIM_LOG_FILE")"
		return
	fi
	if ! stall "$name" "$P"; then
		fail "$name" "the stalled clients did not connect$(show "$T/$name.silent" "$T/$name.stalled")"
		return
	fi
	pongs=0
	for i in 1 2 3; do
		[ "$(rcli PING 2>&1)" = PONG ] && pongs=$((pongs + 1))
	done
	out=$(rcli SET k "value $$" 2>&1; rcli GET k 2>&1)
	date +%s.%N >"$T/$name.served"
	wait_exit "$SILENT" 60; wait_exit "$STALLED" 60
	why=$(check_stalled "$name" "$T/$name.served" "$TLSSHIM_LOG_FILE")
	clients=$(rcli INFO clients 2>&1 | tr -d '\r' | sed -n 's/^connected_clients://p')
	if [ "$pongs" -ne 3 ] || [ "$out" != "OK
value $$" ]; then
		fail "$name" "redis did not serve TLS clients next to the stalled ones ($pongs PONGs, '$out')$(show "$TLSSHIM_LOG_FILE")"
	elif [ -n "$why" ]; then
		fail "$name" "$why"
	elif [ "$clients" != 1 ]; then
		fail "$name" "redis still counts the stalled clients: connected_clients '$clients' (want 1, the INFO client)"
	elif ! alive "$rsrv"; then
		fail "$name" "redis-server died$(show "$T/redis.out")"
	else
		pass "$name ($NSILENT silent + 1 half ClientHello, timeout ${HT} ms, connected_clients back to 1)"
	fi
	stop "$rsrv"
}

PPOLL=$(free_port); PSELECT=$(free_port); PREDIS=$(free_port)
# (each one's result lines go to stdout and to $T/results, to be counted)
poll_scenario poll "$PPOLL" | tee -a "$T/results" &
j1=$!
poll_scenario select "$PSELECT" | tee -a "$T/results" &
j2=$!
redis_scenario "$PREDIS" | tee -a "$T/results" &
j3=$!
# (each scenario's waits are bounded; a scenario that died without its
# result line is a FAIL)
wait "$j1" "$j2" "$j3"
nres=$(grep -c -E '^(PASS|FAIL) ' "$T/results" 2>/dev/null)
if [ "${nres:-0}" -ne 3 ]; then
	fail faults_timeout_scenario "expected one result line from each of the 3 scenarios: $(tr '\n' '|' <"$T/results" 2>/dev/null)"
fi
