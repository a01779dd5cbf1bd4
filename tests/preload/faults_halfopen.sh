#!/bin/sh
# tests/preload/faults_halfopen.sh — true half-open connections: a peer
# that vanishes without FIN or RST.  Inside the test's own network
# namespace (tests/run.sh) an nftables rule drops every packet of the
# peer's connection (its port, both ways), then the peer is killed: what
# its kernel sends at the kill is dropped too, so the other side hears
# nothing, ever.  Each scenario runs shimmed (TLS) and plain (the same
# program, no shim) in the same test, and the shimmed program must see
# what the plain one sees.
#
# Server side: tests/progs/halfopen server, a non-blocking poll() server
# and the same under epoll.  Its vanishing clients (py/vanishing_client.py):
#   * "read": the program set SO_KEEPALIVE (idle 1 s, interval 1 s,
#     5 x TS - 1 probes) and waits for input: its read fails with ETIMEDOUT;
#   * "write": the program set TCP_USER_TIMEOUT (5000 x TS ms) and keeps
#     writing (the client reads a little every 0.1 s until it vanishes):
#     its write fails with ETIMEDOUT;
#   * (TLS only) "hello": a whole ClientHello, then the client vanishes:
#     handshake_timeout_ms (5000 x TS) ends the handshake under poll/epoll
#     (a "handshake timeout" log line, the program's read says ECONNRESET).
# Meanwhile (all three still half-open: the server's line "peer N echoed"
# comes before their ends) a TLS client, connected before, is served (echo,
# close_notify both ways).  When every half-open
# connection has ended, the server's descriptor count is the one it had
# before them (nothing held by the library; counted from /proc/PID/fd
# once steady, after a warm-up connection), and a last client is served.
#
# Client side: tests/progs/halfopen client against a real TLS server
# (tlspeer.py, Python ssl) that vanishes after the exchange: "read"
# (keepalive, a blocking read; and -p: waiting in poll() first) and
# "write" (TCP_USER_TIMEOUT, blocking writes) fail with ETIMEDOUT, as
# with plain TCP, and the client's descriptor count after the close is
# the one before the connection.  In the poll() case the client keeps a
# second TLS connection to another server and pings on it (every 200 ms)
# while the first is half-open: it is served meanwhile and after.  Nothing crosses in clear (wire audit).
# tlsshim-test: big-capture (tests/run.sh: its capture needs the large buffer)
. "$(dirname "$0")/../lib.sh"
. "$TLSSHIM_TOP/tests/preload/common.inc"
need_shim faults_halfopen_setup
if [ ! -x "$PROGS/halfopen" ]; then
	fail faults_halfopen_setup "$PROGS/halfopen missing (make test-build)"; exit 1
fi
if ! command -v nft >/dev/null; then
	fail faults_halfopen_setup "nft not installed (nftables, .ci/packages)"; exit 1
fi
if ! nft add table inet halfopen ||
   ! nft add chain inet halfopen out '{ type filter hook output priority 0; policy accept; }'; then
	fail faults_halfopen_setup "cannot add an nftables table in the test's network namespace"; exit 1
fi
# Scenario times, long enough for the served-meanwhile exchange on a busy
# machine (scaled like bounds): keepalive probes (1 s apart after 1 s idle),
# the user timeout and the handshake timeout of the server side.  All three
# end together (about 15 s x TS / 3): the case waits for the longest anyway,
# and the exchange has all of it.  (Keepalive and user timeout 9 s, the
# handshake 15 s: at load 25 on 2 cores the write connection timed out
# before the exchange, in both server cases.)
KCNT=$((5 * TS - 1))
UTO=$((5000 * TS))
HT=$((5000 * TS))
TO="Connection timed out"
# vanish_all CPORT SPORT PID [CPORT SPORT PID ...]: every packet of the
# connection between the client's port CPORT and the server's port SPORT
# is dropped from now on, both ways; then the process PID is killed (its
# FIN or RST is dropped as well).  Both ports: a rule on CPORT alone also
# dropped every later connection whose source port the kernel picked
# equal to it (its SYNs lost for good: "connect: Connection timed out" in
# a later case, twice in one round of make check-stress).  One nft call
# for all the rules, then the kills: their timers start together (an nft
# call per rule took seconds on a loaded machine).
vanish_all() {
	_va_rules="" _va_pids=""
	while [ $# -ge 3 ]; do
		[ -n "$1" ] || return 1
		_va_rules="$_va_rules
add rule inet halfopen out tcp sport $1 tcp dport $2 drop
add rule inet halfopen out tcp sport $2 tcp dport $1 drop"
		_va_pids="$_va_pids $3"
		shift 3
	done
	echo "$_va_rules" | nft -f - || return 1
	for _va_p in $_va_pids; do
		kill -9 "$_va_p" 2>/dev/null
		wait "$_va_p" 2>/dev/null
		forget "$_va_p"
	done
	return 0
}
# localport FILE: the "local N" line's N
localport() { sed -n 's/^local \([0-9]*\)$/\1/p' "$1"; }
# steady PID: its descriptor count once unchanged for 0.5 s (the library's
# lingering close holds a socket until the peer's FIN, or at most 5 s)
steady() {
	_s_last=$(ls "/proc/$1/fd" 2>/dev/null | wc -l) _s_same=0 _s_n=0
	while [ $_s_same -lt 5 ] && [ $_s_n -lt $((100 * TS)) ]; do
		sleep 0.1
		_s_now=$(ls "/proc/$1/fd" 2>/dev/null | wc -l)
		if [ "$_s_now" = "$_s_last" ]; then _s_same=$((_s_same + 1)); else _s_same=0; fi
		_s_last=$_s_now _s_n=$((_s_n + 1))
	done
	echo "$_s_last"
}

# --- server side -----------------------------------------------------------
# server_case NAME FLAG: halfopen server (FLAG "" poll, -e epoll) shimmed on
# a TLS port and plain on another.
server_case() {
	name=$1 flag=$2
	policy "$T/$name.conf" <<EOF
rules = ( { name = "ho-in"; direction = "accept"; port = $P; handshake_timeout_ms = $HT;
            cert = "$CERTS/server.crt"; key = "$CERTS/server.key"; } );
EOF
	export TLSSHIM_LOG_FILE="$T/$name.log"
	# shellcheck disable=SC2086
	shimbg "$PROGS/halfopen" server $flag -k "$KCNT" -u "$UTO" "$P" >"$T/$name.out" 2>"$T/$name.err"
	srv=$!
	# shellcheck disable=SC2086
	bg "$PROGS/halfopen" server $flag -k "$KCNT" -u "$UTO" "$PP" >"$T/$name.pout" 2>"$T/$name.perr"
	psrv=$!
	if ! wait_for "$T/$name.out" '^listening' 10 || ! wait_for "$T/$name.pout" '^listening' 10; then
		fail "$name" "halfopen server never listened$(show "$T/$name.err" "$T/$name.perr")"
		return
	fi
	# warm-up: the library makes its own descriptors on first need
	peer client --port "$P" --ca "$CERTS/ca.crt" --send "warm-up" --timeout $((20 * TS)) >"$T/$name.warm" 2>&1
	before=$(steady "$srv")
	pbefore=$(steady "$psrv")
	for m in read write; do
		bg "$PY" "$PYD/vanishing_client.py" "$P" "$m" "$CERTS/ca.crt" >"$T/$name.$m" 2>&1
		eval "pid_$m=\$!"
		bg "$PY" "$PYD/vanishing_client.py" "$PP" "$m" >"$T/$name.p$m" 2>&1
		eval "ppid_$m=\$!"
	done
	# the client served meanwhile: connected now, its line sent on a cue
	bg "$PY" "$PYD/vanishing_client.py" "$P" echo "$CERTS/ca.crt" "$T/$name.go" >"$T/$name.cli" 2>&1
	mpid=$!
	# The half-open ClientHello last: its handshake time-out runs from
	# then, not from before the other clients' handshakes.
	for f in read write pread pwrite cli hello; do
		if [ $f = hello ]; then
			bg "$PY" "$PYD/vanishing_client.py" "$P" hello "$CERTS/ca.crt" >"$T/$name.hello" 2>&1
			pid_hello=$!
		fi
		if ! wait_for "$T/$name.$f" '^ready' 20; then
			fail "$name" "the $f client did not get ready$(show "$T/$name.$f" "$T/$name.out" "$TLSSHIM_LOG_FILE")"
			return
		fi
	done
	# shellcheck disable=SC2154
	vanish_all "$(localport "$T/$name.read")" "$P" "$pid_read" "$(localport "$T/$name.write")" "$P" "$pid_write" \
		"$(localport "$T/$name.hello")" "$P" "$pid_hello" "$(localport "$T/$name.pread")" "$PP" "$ppid_read" \
		"$(localport "$T/$name.pwrite")" "$PP" "$ppid_write" || { fail "$name" "nft rules failed"; return; }
	# meanwhile: other clients are served
	touch "$T/$name.go"
	wait_for "$T/$name.cli" '^echo' 20
	# How many were still half-open when it was served: all three (the
	# scenario times leave room for the exchange).  Told by the server's
	# own order of lines ("peer N echoed" before each one's end), not by
	# when this shell got to look: a loaded machine delays the look.
	ml=$(localport "$T/$name.cli")
	wait_for "$T/$name.out" "^peer $ml echoed" 20
	echoed_at=$(grep -n "^peer $ml echoed" "$T/$name.out" | sed -n '1s/:.*//p')
	held=0
	for m in read write hello; do
		ended_at=$(grep -n "^peer $(localport "$T/$name.$m") " "$T/$name.out" | sed -n '1s/:.*//p')
		[ -n "$echoed_at" ] && { [ -z "$ended_at" ] || [ "$ended_at" -gt "$echoed_at" ]; } && held=$((held + 1))
	done
	wait_exit "$mpid" 10
	why=""
	for m in read write; do
		l=$(localport "$T/$name.$m") pl=$(localport "$T/$name.p$m")
		wait_for "$T/$name.out" "^peer $l " 30
		wait_for "$T/$name.pout" "^peer $pl " 30
		got=$(sed -n "s/^peer $l $m: //p" "$T/$name.out")
		pgot=$(sed -n "s/^peer $pl $m: //p" "$T/$name.pout")
		[ "$pgot" = "$m: $TO" ] || why="$why; plain TCP $m mode: '$pgot', not '$m: $TO' (the test's premise)"
		[ "$got" = "$pgot" ] || why="$why; shimmed $m mode: '$got', plain TCP: '$pgot'"
	done
	l=$(localport "$T/$name.hello")
	wait_for "$T/$name.out" "^peer $l " 30
	hgot=$(sed -n "s/^peer $l -: //p" "$T/$name.out")
	[ "$hgot" = "read: Connection reset by peer" ] ||
		why="$why; the vanished handshake: '$hgot', not 'read: Connection reset by peer'"
	[ "$(lines "$TLSSHIM_LOG_FILE" "handshake timeout.*$HT ms")" -eq 1 ] ||
		why="$why; not one handshake timeout log line$(show "$TLSSHIM_LOG_FILE")"
	after=$(steady "$srv")
	pafter=$(steady "$psrv")
	peer client --port "$P" --ca "$CERTS/ca.crt" --send "served after $$" --timeout $((20 * TS)) >"$T/$name.cli2" 2>&1
	if ! grep -q '^echo ok' "$T/$name.warm" || ! grep -q '^echo ok' "$T/$name.cli" || ! grep -q '^echo ok' "$T/$name.cli2"; then
		fail "$name" "TLS clients next to the half-open connections not served$(show "$T/$name.cli" "$T/$name.cli2" "$T/$name.out" "$TLSSHIM_LOG_FILE")"
	elif [ "$held" -ne 3 ]; then
		fail "$name" "the TLS client was served only after $((3 - held)) of the 3 half-open connections had ended (not meanwhile)$(show "$T/$name.out")"
	elif [ -n "$why" ]; then
		fail "$name" "${why#; }$(show "$T/$name.out" "$T/$name.pout" "$TLSSHIM_LOG_FILE")"
	elif [ "$before" != "$after" ]; then
		fail "$name" "the shimmed server's descriptors: $before before the half-open connections, $after after (plain: $pbefore, $pafter)"
	elif ! alive "$srv"; then
		fail "$name" "the shimmed server died$(show "$T/$name.err")"
	elif grep -q "meanwhile" "$TLSSHIM_LOG_FILE"; then
		fail "$name" "program data in the shim's log"
	else
		pass "$name (keepalive read and TCP_USER_TIMEOUT write: '$TO' as plain TCP; vanished ClientHello ended by handshake_timeout_ms; another TLS client served while all 3 were half-open; fds $before before, $after after)"
	fi
	stop "$srv"; stop "$psrv"
}
# The cases of both sides run at the same time (each waits seconds for
# the kernel's timers), each with its own ports, taken here one after the
# other, and its own files; their lines are printed when all have ended.
cases=""
started() { cases="$cases $!:$1"; }
all_ended() {
	for _c in $cases; do
		wait "${_c%%:*}"
		_rc=$?
		cat "$T/${_c#*:}.case"
		# (a case that died says so: its lines may be missing)
		[ $_rc -eq 0 ] || fail "faults_halfopen_case_${_c#*:}" "the case's subshell ended with status $_rc"
		grep -q -E '^(PASS|FAIL) ' "$T/${_c#*:}.case" || fail "faults_halfopen_case_${_c#*:}" "the case printed no result"
	done
	cases=""
}
P=$(free_port); PP=$(free_port)
server_case poll_server_half_open_peers_time_out_as_plain_tcp "" >"$T/poll.case" 2>&1 &
started poll
P=$(free_port); PP=$(free_port)
server_case epoll_server_half_open_peers_time_out_as_plain_tcp -e >"$T/epoll.case" 2>&1 &
started epoll
# (the client side's cases start now too: all five at the same time)

# --- client side -----------------------------------------------------------
# client_case NAME MODE [-p [other]]: halfopen client MODE, shimmed against
# a TLS server and plain against a plain one; both servers vanish after
# "ready".  other: the client keeps another connection (to a server that
# stays) in its poll() and pings on it while the first is half-open.
client_case() {
	name=$1 mode=$2 flag=${3:-} other=${4:-}
	policy "$T/$name.conf" <<EOF
rules = ( { name = "ho-out"; direction = "connect"; port = $P; ca = "$CERTS/ca.crt"; },
          { name = "ho-other"; direction = "connect"; port = $PO; ca = "$CERTS/ca.crt"; } );
EOF
	if [ -n "$other" ]; then
		start_peer "$name.osrv" server --port "$PO" --cert "$CERTS/server.crt" --key "$CERTS/server.key" \
			--timeout 60 --status "$T/$name.ost" || { fail "$name" "the other TLS server did not start"; return; }
		start_peer "$name.posrv" server --port "$PPO" --plain --timeout 60 ||
			{ fail "$name" "the other plain server did not start"; return; }
		oflag="-o $PO" poflag="-o $PPO"
	else
		oflag="" poflag=""
	fi
	export TLSSHIM_LOG_FILE="$T/$name.log"
	start_peer "$name.srv" server --port "$P" --cert "$CERTS/server.crt" --key "$CERTS/server.key" \
		--count 2 --timeout 60 --status "$T/$name.st" || { fail "$name" "the TLS server did not start$(show "$T/$name.srv.err")"; return; }
	spid=$PEER
	start_peer "$name.psrv" server --port "$PP" --plain --count 2 --timeout 60 ||
		{ fail "$name" "the plain server did not start$(show "$T/$name.psrv.err")"; return; }
	pspid=$PEER
	# shellcheck disable=SC2086
	shimbg "$PROGS/halfopen" client $flag $oflag "$mode" "$P" >"$T/$name.out" 2>"$T/$name.err"
	cli=$!
	# shellcheck disable=SC2086
	bg "$PROGS/halfopen" client $flag $poflag "$mode" "$PP" >"$T/$name.pout" 2>"$T/$name.perr"
	pcli=$!
	# (two handshakes and a steady descriptor count, at most 10 s, first)
	if ! wait_for "$T/$name.out" '^ready' 60 || ! wait_for "$T/$name.pout" '^ready' 60; then
		fail "$name" "the client did not get ready$(show "$T/$name.out" "$T/$name.err" "$T/$name.pout" "$T/$name.srv.out" "$T/$name.srv.err" "$TLSSHIM_LOG_FILE")"
		return
	fi
	vanish_all "$(localport "$T/$name.out")" "$P" "$spid" "$(localport "$T/$name.pout")" "$PP" "$pspid" ||
		{ fail "$name" "nft rules failed"; return; }
	wait_exit "$cli" 40; rc=$?
	wait_exit "$pcli" 40
	got=$(grep -E "^($mode: |eof\$)" "$T/$name.out")
	pgot=$(grep -E "^($mode: |eof\$)" "$T/$name.pout")
	if [ "$pgot" != "$mode: $TO" ]; then
		fail "$name" "plain TCP said '$pgot', not '$mode: $TO' (the test's premise)$(show "$T/$name.pout")"
	elif [ "$got" != "$pgot" ]; then
		fail "$name" "shimmed: '$got', plain TCP: '$pgot'$(show "$T/$name.out" "$TLSSHIM_LOG_FILE")"
	elif [ "$rc" -ne 0 ]; then
		fail "$name" "the shimmed client's descriptors after the close: $(grep '^fds' "$T/$name.out") (exit $rc)$(show "$T/$name.err")"
	elif [ "$(lines "$T/$name.st" '^tls version=')" -ne 2 ]; then
		fail "$name" "the TLS server did not see two TLS connections$(show "$T/$name.st" "$TLSSHIM_LOG_FILE")"
	elif [ -n "$other" ] && { ! grep -q '^other echoes [1-9][0-9]* while half-open$' "$T/$name.out" ||
				  ! grep -q '^other ok after$' "$T/$name.out" ||
				  [ "$(lines "$T/$name.ost" '^tls version=')" -ne 1 ]; }; then
		fail "$name" "the other TLS connection was not served while the first was half-open$(show "$T/$name.out" "$T/$name.ost")"
	else
		pass "$name ('$got' as plain TCP; $(grep -h '^other echoes' "$T/$name.out" | sed 's/$/; /')$(grep '^fds' "$T/$name.out"))"
	fi
}
P=$(free_port); PP=$(free_port); PO=$(free_port); PPO=$(free_port)
client_case client_keepalive_read_half_open_times_out read >"$T/cread.case" 2>&1 &
started cread
P=$(free_port); PP=$(free_port); PO=$(free_port); PPO=$(free_port)
client_case client_poll_keepalive_read_half_open_times_out_other_served read -p other >"$T/cpoll.case" 2>&1 &
started cpoll
P=$(free_port); PP=$(free_port); PO=$(free_port); PPO=$(free_port)
client_case client_user_timeout_write_half_open_times_out write >"$T/cwrite.case" 2>&1 &
started cwrite
all_ended
