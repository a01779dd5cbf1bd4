#!/bin/sh
# tests/preload/linger.sh — the lingering close (shim/linger.c), and when
# it is left out.
#
# A TLS peer's records that arrive after the program closed its socket
# (its close_notify, sent when it closes after us) would make the kernel
# answer with a RST, which destroys what the peer has not read yet.  The
# last close of a session therefore hands the socket to the linger thread
# (FIN at once, late records read until the peer's FIN), unless the peer
# has ended its side already (its close_notify or FIN came in): nothing
# can arrive then, and the socket is closed at once.  Every case counts
# the RSTs sent in the test's own network namespace (Tcp OutRsts,
# TcpExt TCPAbortOnData and TCPAbortOnClose): none may be sent.
#
#   * server_closes_first_lingers: a shimmed pingpong server answers and
#     closes; the client (Python ssl, no shim) reads the pong and the
#     server's close_notify and FIN, and only then sends its own
#     close_notify: it arrives after the program's close, and must be read
#     by the linger thread (the debug line "lingering close"), not reset;
#   * client_peer_ended_first_no_linger: a shimmed plain client (Python
#     sockets) reads the pong, then to the end of the stream (the shimmed
#     server's close_notify), then closes: no lingering ("the peer ended
#     first"), no RST, and the server lingered;
#   * pingpong_both_ends_no_reset: 50 connections, both ends shimmed:
#     each close, at either end, either lingers or finds the peer ended
#     (which one depends on timing: a server preempted between its answer
#     and its close may find the client's close_notify in); no RST; the
#     client's exit() waited until each of its lingering sockets had its
#     peer's FIN (the debug line "lingering socket done: the peer's FIN");
#   * closes_in_a_row_no_wakeup: the server's lingering closes of those
#     50 connections, one after another, did not each wake the linger
#     thread (which ticks on for 50 ms after its last socket went): each
#     debug line "linger thread woken" says 50 ms or more after it;
#   * many_linger_at_once: 30 connections kept open by the client after
#     the server closed each, then all ended at once: 30 sockets linger
#     together and all get their peer's records and FIN in the same tick
#     of the linger thread; no RST;
#   * linger_released_at_fin: every lingering socket of the server was let
#     go because its peer's FIN came in, none at the 5 s deadline;
#   * linger_idle_ticks_bounded: once nothing lingers, the linger thread
#     (named tlsshim-linger) wakes about 5 more times, then sleeps: a
#     connection to a server whose thread slept costs it about 8 wake-ups;
#   * linger_slow_peer_backoff: while one socket lingers on (its peer holds
#     its side open), the thread's looks space out (10, 20, 40, 80, then
#     160 ms apart): at most 5 + 1 per 40 ms wake-ups over a second, where
#     a tick every 10 ms gave 100; the socket is still let go at the FIN;
#   * linger_upload_after_close: a peer that goes on sending after the
#     server's close (12 MiB of TLS records, then close_notify and FIN) is
#     read at one tick, not backed off: its socket is let go at the FIN
#     within close_timeout_ms = 4000, the client's sends succeed, no RST;
#   * linger_cap_rlimit: a server whose soft RLIMIT_NOFILE is 128 lets 32
#     sockets (a quarter) linger at once, no more: of 40 connections kept
#     open by the client after the server's close, 32 linger (each let go
#     at its peer's FIN) and 8 close at once, each with a debug line.  The
#     client closes none before the server's 40th close is over;
#   * linger_one_read_at_fin: a lingering socket whose peer's close_notify
#     and FIN are both in is read once (POLLRDHUP: nothing can follow),
#     not a second time to see the end (strace counts the reads);
#   * linger_reset_no_errqueue_read: lingering sockets whose peers reset
#     them after their close_notify (POLLERR with POLLHUP) are let go
#     without a read of their error queue (strace counts MSG_ERRQUEUE);
#   * linger_urgent_data_no_reset: a server that closed with 300 KB still
#     queued, and a peer that then sends urgent data (a read stops short at
#     its mark) and its FIN: the lingering socket is read to the FIN, not
#     closed after the first short read (a RST would destroy the data);
#   * linger_dup2_during_poll: a program's dup2 onto a lingering socket's
#     number while the thread polls (held there by preload_lingerpark.so)
#     does not let the socket go on the word of the program's file;
#   * linger_exit_errqueue_no_spin: exit() waits on a lingering socket
#     whose error queue holds send timestamps (POLLERR) without spinning:
#     the queue is emptied (strace counts the waits);
#   * close_timeout_ms_bounds_linger: with close_timeout_ms = 300 a socket
#     whose peer neither closes nor sends is let go after 300 ms (the
#     debug line "no FIN from the peer in 300 ms"), while the peer still
#     holds it;
#   * close_timeout_ms_zero_no_linger: with close_timeout_ms = 0 the close
#     does not linger (the debug line "close_timeout_ms is 0").
#
# The servers' rules set close_timeout_ms = 120000 unless the case is about
# it: on a loaded machine (or under ThreadSanitizer) 30 or 40 handshakes
# take longer than the default 5 s, and a socket let go at its deadline
# would change the counts.
# tlsshim-test: big-capture (tests/run.sh: its capture needs the large buffer)
. "$(dirname "$0")/../lib.sh"
. "$TLSSHIM_TOP/tests/preload/common.inc"
need_shim linger_setup

# The counters are the namespace's: without one (tests/run.sh could not
# isolate) other tests' connections would be counted too.
isolated=1
[ "$(ip -o link 2>/dev/null | wc -l)" -eq 1 ] || isolated=0

# rsts: RSTs sent so far (all three counters summed); rsts_each: the
# three, named, for a failure message.
rsts_each() {
	{ cat /proc/net/snmp; cat /proc/net/netstat; } | awk '
		/^(Tcp|TcpExt):/ { if (!(($1) in hdr)) { hdr[$1] = 1; for (i = 2; i <= NF; i++) k[$1, i] = $i; next }
				   for (i = 2; i <= NF; i++) { n = k[$1, i]
					if (n == "OutRsts" || n == "TCPAbortOnData" || n == "TCPAbortOnClose") printf "%s=%s ", n, $i } }'
}
rsts() { rsts_each | tr ' =' '\n ' | awk '{ s += $2 } END { print s + 0 }'; }
PING=0123456789abcdef0123456789ABCDEF   # 32 bytes, as pingpong wants
# N TLS connections, each: the ping, its echo, the server's close_notify (the
# server has closed), and only once all are in, our close_notify on each
LINGER_CLIENT=$TLSSHIM_TOP/tests/preload/py/linger_many_client.py

# srv_policy FILE NAME PORT [CLOSE_TIMEOUT_MS]: an accept rule on PORT (by
# default the servers' long close_timeout_ms, as above); sets POLICY.
srv_policy() {
	policy "$1" <<EOF
rules = ( { name = "$2"; direction = "accept"; port = $3; close_timeout_ms = ${4:-120000};
            cert = "$CERTS/server.crt"; key = "$CERTS/server.key"; } );
EOF
}

P=$(free_port)
policy "$T/srv.conf" <<EOF
rules = ( { name = "linger-in"; direction = "accept"; port = $P; close_timeout_ms = 120000;
            cert = "$CERTS/server.crt"; key = "$CERTS/server.key"; } );
EOF
policy "$T/cli.conf" <<EOF
rules = ( { name = "linger-out"; direction = "connect"; port = $P; ca = "$CERTS/ca.crt";
            server_name = "localhost"; close_timeout_ms = 120000; } );
EOF
export TLSSHIM_LOG=debug
POLICY="$T/srv.conf" TLSSHIM_LOG_FILE="$T/srv.log" shimbg "$PROGS/pingpong" server "$P" >"$T/srv.out" 2>"$T/srv.err"
SRV=$!
if ! wait_for "$T/srv.out" '^listening'; then
	fail linger_setup "pingpong server never listened$(show "$T/srv.err")"
	exit 1
fi

# --- the server closes first: the client's close_notify comes later -----------
name=server_closes_first_lingers
before=$(rsts) before_each=$(rsts_each)
n_ok=0
for i in 1 2 3; do
	"$PY" "$LINGER_CLIENT" "$P" "$CERTS/ca.crt" "$PING" 1 >"$T/$name.$i" 2>&1 &&
		grep -q '^ok 1$' "$T/$name.$i" && n_ok=$((n_ok + 1))
done
after=$(rsts)
lingered=$(lines "$T/srv.log" 'lingering close')
if [ "$n_ok" -ne 3 ]; then
	fail "$name" "$n_ok of 3 clients ended cleanly$(show "$T/$name.1" "$T/$name.3" "$T/srv.log")"
elif [ "$lingered" -ne 3 ]; then
	fail "$name" "$lingered server closes lingered, not 3$(show "$T/srv.log")"
elif [ "$isolated" = 1 ] && [ "$after" -ne "$before" ]; then
	fail "$name" "$((after - before)) RST(s) sent: the late close_notify met a closed socket (counters before: $before_each; after: $(rsts_each))"
else
	pass "$name (3 connections: each server close lingered, the client's late close_notify was read, $((after - before)) RSTs$( [ "$isolated" = 1 ] || echo ', not counted: no namespace'))"
fi

# --- the peer ended first: the client closes without lingering ----------------
name=client_peer_ended_first_no_linger
: >"$T/$name.log"
before=$(rsts) before_each=$(rsts_each)
srv_before=$(lines "$T/srv.log" 'lingering close')
POLICY="$T/cli.conf" TLSSHIM_LOG_FILE="$T/$name.log" shimmed "$PY" "$TLSSHIM_TOP/tests/preload/py/read_to_end_client.py" "$P" "$PING" 5 >"$T/$name.out" 2>&1
rc=$?
after=$(rsts)
ended=$(lines "$T/$name.log" 'the peer ended first: closed without lingering')
clingered=$(lines "$T/$name.log" 'lingering close')
slingered=$(( $(lines "$T/srv.log" 'lingering close') - srv_before ))
if [ "$rc" -ne 0 ] || ! grep -q '^ok$' "$T/$name.out"; then
	fail "$name" "the client failed (exit $rc)$(show "$T/$name.out" "$T/$name.log" "$T/srv.log")"
elif [ "$ended" -ne 5 ] || [ "$clingered" -ne 0 ]; then
	fail "$name" "client closes: $ended without lingering, $clingered lingering (want 5 and 0)$(show "$T/$name.log")"
elif [ "$slingered" -ne 5 ]; then
	fail "$name" "$slingered server closes lingered, not 5$(show "$T/srv.log")"
elif [ "$isolated" = 1 ] && [ "$after" -ne "$before" ]; then
	fail "$name" "$((after - before)) RST(s) sent (counters before: $before_each; after: $(rsts_each); sockets: $(ss -tanH 2>/dev/null | awk '{ print $1 }' | sort | uniq -c | tr -s ' \n' ' '))"
else
	pass "$name (5 connections: the client read to the end and closed at once, the server lingered, $((after - before)) RSTs)"
fi

# --- both ends shimmed, 50 short connections ------------------------------------
name=pingpong_both_ends_no_reset
: >"$T/$name.log"
before=$(rsts) before_each=$(rsts_each)
srv_before=$(lines "$T/srv.log" 'lingering close')
srv_ended=$(lines "$T/srv.log" 'the peer ended first')
srv_wakes=$(lines "$T/srv.log" 'linger thread woken')
POLICY="$T/cli.conf" TLSSHIM_LOG_FILE="$T/$name.log" shimmed "$PROGS/pingpong" client 127.0.0.1 "$P" 50 >"$T/$name.out" 2>&1
rc=$?
after=$(rsts)
ended=$(lines "$T/$name.log" 'the peer ended first')
clingered=$(lines "$T/$name.log" 'lingering close')
slingered=$(( $(lines "$T/srv.log" 'lingering close') - srv_before ))
sended=$(( $(lines "$T/srv.log" 'the peer ended first') - srv_ended ))
if [ "$rc" -ne 0 ] || ! grep -q '^50 connections in ' "$T/$name.out"; then
	fail "$name" "pingpong client failed (exit $rc)$(show "$T/$name.out" "$T/$name.log" "$T/srv.err")"
elif [ $((ended + clingered)) -ne 50 ] || [ $((sended + slingered)) -ne 50 ]; then
	fail "$name" "client closes: $ended at once + $clingered lingering; server: $sended at once + $slingered lingering (want 50 in all at each end)$(show "$T/$name.log" "$T/srv.log")"
elif [ "$(lines "$T/$name.log" "lingering socket done: the peer's FIN")" -ne "$clingered" ]; then
	fail "$name" "the client exited before its $clingered lingering sockets had their peer's FIN$(show "$T/$name.log")"
elif [ "$isolated" = 1 ] && [ "$after" -ne "$before" ]; then
	fail "$name" "$((after - before)) RST(s) sent (counters before: $before_each; after: $(rsts_each); sockets: $(ss -tanH 2>/dev/null | awk '{ print $1 }' | sort | uniq -c | tr -s ' \n' ' '))"
else
	pass "$name (50 connections: client closes $ended at once, $clingered lingering, each done at its peer's FIN before exit; server $sended at once, $slingered lingering; $((after - before)) RSTs)"
fi

# --- closes in a row do not wake the linger thread one by one -------------------
# The thread goes on ticking for 50 ms (by the clock) after its last socket
# went: the server's 50 closes of the case above (each a few ms after the
# one before; 6 ms under ThreadSanitizer) hand their sockets over without
# a wake-up write; only a close 50 ms or more after the last socket went
# does.  Each debug line "linger thread woken" says how long after (taken
# at the hand-over): none may say less than 50 ms.  Not a count of the
# wake-ups: on a loaded machine (load 17-26 on 2 cores) the closes
# themselves came more than 50 ms apart, and each rightly woke the
# thread.  A thread that slept as soon as its last socket went shows
# wake-ups a few ms after it.
name=closes_in_a_row_no_wakeup
wakes=$(( $(lines "$T/srv.log" 'linger thread woken') - srv_wakes ))
# the wake-up lines of the case above, each one's ms (or "?": no time)
gaps=$(grep 'linger thread woken' "$T/srv.log" | tail -n +$((srv_wakes + 1)) |
	grep -v 'its first socket' | sed 's/.*a socket to linger \([0-9]*\) ms after the last went.*/\1/; t; s/.*/?/' | tr '\n' ' ')
early=$(echo "$gaps" | tr ' ' '\n' | awk '$1 != "" && ($1 == "?" || $1 < 50) { n++ } END { print n + 0 }')
if [ "$slingered" -lt 10 ]; then
	fail "$name" "only $slingered of the 50 server closes lingered: too few to tell$(show "$T/srv.log")"
elif [ "$early" -ne 0 ]; then
	fail "$name" "$early of the $wakes wake-ups of the linger thread came less than 50 ms after its last socket went (ms after: ${gaps% }; \"?\": the line has no time)$(show "$T/srv.log")"
else
	pass "$name ($slingered lingering closes in a row, $wakes wake-up writes, each 50 ms or more after the last socket went${gaps:+: $gaps}ms)"
fi

# --- 30 sockets linger at once ------------------------------------------------
name=many_linger_at_once
before=$(rsts) before_each=$(rsts_each)
srv_before=$(lines "$T/srv.log" 'lingering close')
done_before=$(lines "$T/srv.log" "lingering socket done: the peer's FIN")
"$PY" "$LINGER_CLIENT" "$P" "$CERTS/ca.crt" "$PING" 30 >"$T/$name.out" 2>&1
rc=$?
# the server lets go of them within a tick of their FIN (bounded wait)
wait_lines "$T/srv.log" "lingering socket done: the peer's FIN" $((done_before + 30))
after=$(rsts)
slingered=$(( $(lines "$T/srv.log" 'lingering close') - srv_before ))
sdone=$(( $(lines "$T/srv.log" "lingering socket done: the peer's FIN") - done_before ))
if [ "$rc" -ne 0 ] || ! grep -q '^ok 30$' "$T/$name.out"; then
	fail "$name" "the client failed (exit $rc)$(show "$T/$name.out" "$T/srv.log")"
elif [ "$slingered" -ne 30 ] || [ "$sdone" -ne 30 ]; then
	fail "$name" "$slingered server closes lingered and $sdone were let go at their peer's FIN (want 30 and 30)$(show "$T/srv.log")"
elif [ "$isolated" = 1 ] && [ "$after" -ne "$before" ]; then
	fail "$name" "$((after - before)) RST(s) sent (counters before: $before_each; after: $(rsts_each); sockets: $(ss -tanH 2>/dev/null | awk '{ print $1 }' | sort | uniq -c | tr -s ' \n' ' '))"
else
	pass "$name (30 sockets lingered together, each let go at its peer's FIN, $((after - before)) RSTs)"
fi

# --- no lingering socket waited for the deadline --------------------------------
name=linger_released_at_fin
wait_lines "$T/srv.log" "lingering socket done: the peer's FIN" "$(lines "$T/srv.log" 'lingering close')"
total=$(lines "$T/srv.log" 'lingering close')
fin=$(lines "$T/srv.log" "lingering socket done: the peer's FIN")
late=$(lines "$T/srv.log" 'lingering socket done: no FIN')
if [ "$fin" -ne "$total" ] || [ "$late" -ne 0 ]; then
	fail "$name" "of $total lingering sockets $fin were let go at their peer's FIN and $late at the deadline$(show "$T/srv.log")"
else
	pass "$name ($total lingering sockets, each let go at its peer's FIN)"
fi
# --- with nothing lingering, the thread stops ticking ---------------------------
# Every tick is a wake-up of a sleeping thread (tens of microseconds of CPU
# on the test machines), and so is the write that wakes a sleeping one:
# after its last socket went, the server's linger thread (named
# tlsshim-linger) ticks IDLE_TICKS (5) more times, then sleeps until the
# next hand-over.  A sparse server: 5 connections, each one only once the
# thread sleeps (its voluntary context switches unchanged over three
# readings 100 ms apart; bounded: 15 s x TLSSHIM_TIME_SCALE each).  Per connection the thread
# wakes for the hand-over's write, a tick or two while the socket lingers
# (the client's FIN follows at once), the 5 idle ticks, maybe a sweep of
# the connection's buffers: about 8.  Allowed: 15 on average; 20 idle
# ticks (before 2026-12-05) showed 21.5, a second's worth over 100.
name=linger_idle_ticks_bounded
ltask=""
for t in /proc/"$SRV"/task/*; do
	[ "$(cat "$t/comm" 2>/dev/null)" = tlsshim-linger ] && ltask=$t
done
switches() { sed -n 's/^voluntary_ctxt_switches:[[:space:]]*//p' "$ltask/status" 2>/dev/null; }
# until the thread sleeps: prints the count, or "busy" after 15 s x TLSSHIM_TIME_SCALE
settled() {
	_last=$(switches) _same=0 _n=0
	while [ "$_same" -lt 3 ] && [ "$_n" -lt $((150 * TS)) ]; do
		sleep 0.1
		_now=$(switches)
		if [ "$_now" = "$_last" ]; then _same=$((_same + 1)); else _same=0; fi
		_last=$_now _n=$((_n + 1))
	done
	if [ "$_same" -lt 3 ]; then echo busy; else echo "$_last"; fi
}
if [ -z "$ltask" ]; then
	fail "$name" "the server has no thread named tlsshim-linger ($(cat /proc/"$SRV"/task/*/comm 2>/dev/null | tr '\n' ' '))"
else
	first=$(settled) last=$first bad=""
	done_before=$(lines "$T/srv.log" "lingering socket done: the peer's FIN")
	for i in 1 2 3 4 5; do
		[ "$last" = busy ] && break
		if ! "$PY" "$LINGER_CLIENT" "$P" "$CERTS/ca.crt" "$PING" 1 >"$T/$name.out" 2>&1 ||
		   ! grep -q '^ok 1$' "$T/$name.out"; then
			bad="connection $i: the client failed$(show "$T/$name.out" "$T/srv.log")"
			break
		fi
		if ! wait_lines "$T/srv.log" "lingering socket done: the peer's FIN" $((done_before + i)) 10; then
			bad="connection $i: its lingering socket was not let go at its peer's FIN (a lost wake-up?)$(show "$T/srv.log")"
			break
		fi
		last=$(settled)
	done
	if [ -n "$bad" ]; then
		fail "$name" "$bad"
	elif [ -z "$first" ] || [ -z "$last" ]; then
		fail "$name" "no voluntary_ctxt_switches in $ltask/status"
	elif [ "$first" = busy ] || [ "$last" = busy ]; then
		fail "$name" "the linger thread kept waking with nothing lingering ($((15 * TS)) s)"
	elif [ $((last - first)) -gt 75 ]; then
		fail "$name" "$((last - first)) wake-ups of the linger thread for 5 connections each made once it slept (want at most 75: 15 each; 5 idle ticks, then a sleep without a deadline)"
	else
		pass "$name ($((last - first)) wake-ups of the linger thread for 5 connections made while it slept)"
	fi
fi

# --- a peer slow to send its FIN: the thread's looks space out --------------------
# While the same socket lingers on (nothing handed over, nothing gone),
# each look doubles the wait before the next, up to 160 ms: a peer that
# keeps its side open (here the client holds the connection after the
# server's close) no longer costs a wake-up every 10 ms for as long as
# the socket lingers.  Over a second or more of it (sampled every 100 ms)
# the thread may wake at most 5 + 1 per 40 ms (30 in a second; about 8
# expected: 10, 20, 40, 80, then 160 ms apart); ticks every 10 ms gave
# 100.  Then the client closes, and the socket must still be let go at
# its peer's FIN (not at the 120 s deadline).
name=linger_slow_peer_backoff
if [ -z "$ltask" ]; then
	fail "$name" "the server has no thread named tlsshim-linger"
else
	done_before=$(lines "$T/srv.log" "lingering socket done: the peer's FIN")
	"$PY" "$LINGER_CLIENT" "$P" "$CERTS/ca.crt" "$PING" 1 "$T/$name.go" >"$T/$name.out" 2>&1 &
	cl=$!
	if ! wait_for "$T/$name.out" '^held 1$' 20; then
		touch "$T/$name.go"
		wait_exit "$cl" 20
		fail "$name" "the client did not hold its connection$(show "$T/$name.out" "$T/srv.log")"
	else
		w0=$(switches) t0=$(date +%s%N) t1=$t0
		while [ $(((t1 - t0) / 1000000)) -lt 1000 ]; do
			sleep 0.1
			t1=$(date +%s%N)
		done
		w1=$(switches) ms=$(((t1 - t0) / 1000000))
		touch "$T/$name.go"
		wait_exit "$cl" 20
		if ! grep -q '^ok 1$' "$T/$name.out"; then
			fail "$name" "the client failed$(show "$T/$name.out" "$T/srv.log")"
		elif ! wait_lines "$T/srv.log" "lingering socket done: the peer's FIN" $((done_before + 1)) 10; then
			fail "$name" "the lingering socket was not let go at its peer's FIN (a lost wake-up?)$(show "$T/srv.log")"
		elif [ -z "$w0" ] || [ -z "$w1" ]; then
			fail "$name" "no voluntary_ctxt_switches in $ltask/status"
		elif [ $((w1 - w0)) -gt $((5 + ms / 40)) ]; then
			fail "$name" "$((w1 - w0)) wake-ups of the linger thread in $ms ms while one socket lingered on (want at most $((5 + ms / 40)): looks spaced out up to 160 ms, not a tick every 10 ms)"
		else
			pass "$name ($((w1 - w0)) wake-ups of the linger thread in $ms ms while one socket lingered on; let go at its peer's FIN)"
		fi
	fi
fi

# --- a peer still sending after the close: read at full speed, not backed off ---
# The looks space out only while the lingering sockets are quiet: a look
# reads at most 256 KiB a socket, so a peer that goes on sending after the
# server's close (12 MiB of TLS records here, then its close_notify and
# FIN) must keep the thread at one tick, or its socket would reach
# close_timeout_ms (4000 here) with data unread and be reset (backed off
# to 160 ms: about 1.6 MB/s, 7.5 s; at one tick: about 0.4 s).  The socket
# is let go at its peer's FIN, the client's sends all succeed, no RST.
name=linger_upload_after_close
UPLOAD_CLIENT=$TLSSHIM_TOP/tests/preload/py/linger_upload_client.py
PUP=$(free_port)
srv_policy "$T/srvup.conf" linger-upload "$PUP" 4000
POLICY="$T/srvup.conf" TLSSHIM_LOG_FILE="$T/srvup.log" shimbg "$PROGS/pingpong" server "$PUP" >"$T/srvup.out" 2>"$T/srvup.err"
SRVUP=$!
if ! wait_for "$T/srvup.out" '^listening'; then
	fail "$name" "pingpong never listened$(show "$T/srvup.err")"
else
	before=$(rsts) before_each=$(rsts_each)
	"$PY" "$UPLOAD_CLIENT" "$PUP" "$CERTS/ca.crt" 12 >"$T/$name.out" 2>&1
	rc=$?
	wait_lines "$T/srvup.log" 'lingering socket done' 1 10
	after=$(rsts)
	if [ $rc -ne 0 ] || ! grep -q '^ok 12 MiB' "$T/$name.out"; then
		fail "$name" "the client's sends after the server's close failed (exit $rc)$(show "$T/$name.out" "$T/srvup.log")"
	elif [ "$(lines "$T/srvup.log" "lingering socket done: the peer's FIN")" -ne 1 ]; then
		fail "$name" "the lingering socket was not let go at its peer's FIN$(show "$T/srvup.log")"
	elif [ "$isolated" = 1 ] && [ "$after" -ne "$before" ]; then
		fail "$name" "RSTs were sent: before $before_each, after $(rsts_each)"
	else
		pass "$name ($(sed -n 's/^ok //p' "$T/$name.out") read by the lingering socket, let go at its peer's FIN, no RST)"
	fi
fi
stop "$SRVUP"

# --- the most sockets that linger at once: a quarter of RLIMIT_NOFILE -------------
name=linger_cap_rlimit
P2=$(free_port)
policy "$T/srv2.conf" <<EOF
rules = ( { name = "linger-cap"; direction = "accept"; port = $P2; close_timeout_ms = 120000;
            cert = "$CERTS/server.crt"; key = "$CERTS/server.key"; } );
EOF
POLICY="$T/srv2.conf" TLSSHIM_LOG_FILE="$T/srv2.log" shimbg sh -c 'ulimit -S -n 128 && exec "$0" server "$1"' \
	"$PROGS/pingpong" "$P2" >"$T/srv2.out" 2>"$T/srv2.err"
SRV2=$!
if ! wait_for "$T/srv2.out" '^listening'; then
	fail "$name" "pingpong server (128 descriptors) never listened$(show "$T/srv2.err")"
else
	# The client holds all 40 until the server's last close is over (its
	# 8th close at once is logged): a connection it ended earlier would
	# free a place (seen under ThreadSanitizer: 33 lingered, 7 at once).
	"$PY" "$LINGER_CLIENT" "$P2" "$CERTS/ca.crt" "$PING" 40 "$T/$name.go" >"$T/$name.out" 2>&1 &
	CLI=$!
	wait_for "$T/$name.out" '^held 40$' 60
	wait_lines "$T/srv2.log" 'no lingering close: 32 sockets' 8 30
	: >"$T/$name.go"
	wait "$CLI"
	rc=$?
	wait_lines "$T/srv2.log" "lingering socket done: the peer's FIN" 32
	done32=$(lines "$T/srv2.log" "lingering socket done: the peer's FIN")
	atonce=$(lines "$T/srv2.log" 'no lingering close: 32 sockets linger already')
	if [ "$rc" -ne 0 ] || ! grep -q '^held 40$' "$T/$name.out" || ! grep -q '^ok 40$' "$T/$name.out"; then
		fail "$name" "the client failed (exit $rc)$(show "$T/$name.out" "$T/srv2.log")"
	elif [ "$done32" -ne 32 ] || [ "$atonce" -ne 8 ]; then
		fail "$name" "$done32 sockets lingered (let go at their FIN) and $atonce closed at once (want 32 and 8)$(show "$T/srv2.log")"
	else
		pass "$name (soft RLIMIT_NOFILE 128: 32 sockets lingered at once, each let go at its FIN, 8 closed at once)"
	fi
	stop "$SRV2"
fi

# held20 NAME TAG [reset]: a shimmed pingpong server under strace (its
# recvmsg calls, in $T/NAME.strace), 20 connections held by the client
# until all 20 server closes have lingered, then each ended at once
# (with "reset", by a reset after its close_notify).  Returns 1, having
# failed NAME, when the server did not start, the client failed, or not
# every socket was let go at its peer's FIN (or reset).
held20() {
	hp=$(free_port)
	srv_policy "$T/$2.conf" "$2" "$hp"
	POLICY="$T/$2.conf" TLSSHIM_LOG_FILE="$T/$2.log" shimbg strace -f -qq -s 0 -e trace=recvmsg \
		-o "$T/$1.strace" "$PROGS/pingpong" server "$hp" >"$T/$2.out" 2>"$T/$2.err"
	hsrv=$!
	if ! wait_for "$T/$2.out" '^listening'; then
		fail "$1" "pingpong server (under strace) never listened$(show "$T/$2.err")"
		return 1
	fi
	"$PY" "$LINGER_CLIENT" "$hp" "$CERTS/ca.crt" "$PING" 20 "$T/$1.go" ${3:-} >"$T/$1.out" 2>&1 &
	hcli=$!
	wait_for "$T/$1.out" '^held 20$' 60
	wait_lines "$T/$2.log" 'lingering close' 20 30
	: >"$T/$1.go"
	wait "$hcli"
	rc=$?
	wait_lines "$T/$2.log" "lingering socket done: the peer's FIN" 20 30
	done20=$(lines "$T/$2.log" "lingering socket done: the peer's FIN")
	# the traced server first (strace's child), then strace
	stop "$(cat "/proc/$hsrv/task/$hsrv/children" 2>/dev/null)"
	wait_exit "$hsrv" 10
	if [ "$rc" -ne 0 ] || ! grep -q '^ok 20$' "$T/$1.out"; then
		fail "$1" "the client failed (exit $rc)$(show "$T/$1.out" "$T/$2.log")"
	elif [ "$done20" -ne 20 ]; then
		fail "$1" "$done20 of 20 lingering sockets let go at their peer's FIN or reset$(show "$T/$2.log")"
	else
		return 0
	fi
	return 1
}

# --- the peer's FIN with its last record: one read, not two ----------------------
# poll says POLLRDHUP once the FIN is in, and every byte before a FIN is
# queued when it is: the linger thread reads the close_notify and lets the
# socket go, without a second read to see the end.  20 connections are held
# by the client until all 20 server closes have lingered, then each is
# ended at once (close_notify, then FIN); strace counts the server's
# recvmsg calls (only the linger thread makes them: pingpong reads with
# read()).  Two per socket before; now one, and three for a socket whose
# close_notify the thread happened to see before its FIN.
name=linger_one_read_at_fin
if ! command -v strace >/dev/null; then
	fail "$name" "strace not installed (strace)"
elif held20 "$name" linger-reads; then
	reads=$(grep -c 'recvmsg(' "$T/$name.strace")
	if [ "$reads" -ge 40 ]; then
		fail "$name" "$reads reads for 20 lingering sockets (want fewer than 40: one read each when the FIN came with the close_notify)$(show "$T/$name.strace")"
	else
		pass "$name (20 sockets, each let go at its peer's FIN, $reads reads in all)"
	fi
fi

# --- the peer's reset: no look at the error queue ---------------------------------
# A peer that closes over records it did not read resets the connection
# (native pp-client: our close_notify).  poll then says POLLERR and
# POLLHUP; the error queue is empty (the reset is a pending error, not a
# queued one) and the socket goes at this look, so the linger thread does
# not read the queue (before: one recvmsg(MSG_ERRQUEUE) per socket).  20
# connections held as above, each then closed with SO_LINGER 0 after its
# close_notify.
name=linger_reset_no_errqueue_read
if ! command -v strace >/dev/null; then
	fail "$name" "strace not installed (strace)"
elif held20 "$name" linger-reset reset; then
	eq=$(grep -c 'MSG_ERRQUEUE' "$T/$name.strace")
	reads=$(grep -c 'recvmsg(' "$T/$name.strace")
	if [ "$eq" -ne 0 ]; then
		fail "$name" "$eq reads of an error queue for 20 reset sockets (want none)$(show "$T/$name.strace")"
	else
		pass "$name (20 sockets reset by their peer, each let go, $reads reads, none of an error queue)"
	fi
fi

# --- urgent data before the FIN: read to the end, no RST ---------------------------
# A read stops short at an urgent mark (SO_OOBINLINE or not), so a short
# read after POLLRDHUP has not taken everything when urgent data is queued
# (POLLPRI): the linger thread must read on to the FIN.  send_close writes
# 300 KB to a client with a small receive buffer and closes: its FIN waits
# behind the data, and closing over unread bytes then sends a RST, which
# destroys what was still in flight.  After the close lingered, the client
# sends "abcX" (X urgent), "def" and its FIN on the raw socket; once the
# linger thread let the socket go, it reads: all 300 KB, then close_notify.
name=linger_urgent_data_no_reset
URGENT_CLIENT=$TLSSHIM_TOP/tests/preload/py/linger_urgent_client.py
P4=$(free_port)
audit_exclude "$P4" "linger_urgent_data_no_reset: the client sends raw urgent bytes after the server's close"
srv_policy "$T/srv4.conf" linger-urgent "$P4"
POLICY="$T/srv4.conf" TLSSHIM_LOG_FILE="$T/srv4.log" shimbg "$PROGS/send_close" "$P4" 300000 >"$T/srv4.out" 2>"$T/srv4.err"
SRV4=$!
if ! wait_for "$T/srv4.out" '^listening'; then
	fail "$name" "send_close never listened$(show "$T/srv4.err")"
else
	before=$(rsts) before_each=$(rsts_each)
	"$PY" "$URGENT_CLIENT" "$P4" "$CERTS/ca.crt" 300000 "$T/$name.go1" "$T/$name.go2" >"$T/$name.out" 2>&1 &
	CLI=$!
	wait_for "$T/srv4.out" '^closed$' 60
	wait_lines "$T/srv4.log" 'lingering close' 1 30
	: >"$T/$name.go1"
	wait_for "$T/$name.out" '^sent$' 60
	wait_lines "$T/srv4.log" 'lingering socket done' 1 30
	: >"$T/$name.go2"
	wait "$CLI"
	rc=$?
	after=$(rsts)
	sdone=$(lines "$T/srv4.log" "lingering socket done: the peer's FIN")
	if [ "$rc" -ne 0 ] || ! grep -q '^got 300000$' "$T/$name.out" || ! grep -q '^clean end$' "$T/$name.out"; then
		fail "$name" "the client did not get all 300000 bytes and the close_notify (exit $rc)$(show "$T/$name.out" "$T/srv4.log")"
	elif [ "$sdone" -ne 1 ]; then
		fail "$name" "the lingering socket was not let go at its peer's FIN ($sdone)$(show "$T/srv4.log")"
	elif [ "$isolated" = 1 ] && [ "$after" -ne "$before" ]; then
		fail "$name" "$((after - before)) RST(s) sent (counters before: $before_each; after: $(rsts_each))"
	else
		pass "$name (urgent data and a FIN after the server's close: read to the FIN, all 300000 bytes delivered, $((after - before)) RSTs$( [ "$isolated" = 1 ] || echo ', not counted: no namespace'))"
	fi
	stop "$SRV4"
fi

# --- a dup2 onto a lingering socket's number while the thread polls ---------------
# The thread copies the numbers of its sockets, lets go of its lock and
# polls.  A program's dup2 onto one of those numbers meanwhile moves our
# socket to another number (own.c), and the poll then answers for the
# program's file.  preload_lingerpark.so holds the thread there;
# send_close dup2s onto the number a socketpair end whose peer has shut
# down (POLLIN|POLLRDHUP).  Our socket holds the client's close_notify,
# not its FIN: taking the program's POLLRDHUP for ours let it go after one
# short read, and the client's next bytes met a RST.  It must linger on
# until the client's FIN.
name=linger_dup2_during_poll
P6=$(free_port)
mkdir -p "$T/park"
srv_policy "$T/srv6.conf" linger-park "$P6"
SHIM_PRELOAD="$SHIM_PRELOAD $PROGS/preload_lingerpark.so" LINGERPARK_DIR="$T/park" POLICY="$T/srv6.conf" \
	TLSSHIM_LOG_FILE="$T/srv6.log" shimbg "$PROGS/send_close" "$P6" 100 park "$T/park" >"$T/srv6.out" 2>"$T/srv6.err"
SRV6=$!
if ! wait_for "$T/srv6.out" '^listening'; then
	fail "$name" "send_close never listened$(show "$T/srv6.err")"
else
	"$PY" "$TLSSHIM_TOP/tests/preload/py/linger_hold_client.py" "$P6" "$CERTS/ca.crt" 100 "$T/$name.go" >"$T/$name.out" 2>&1 &
	CLI=$!
	wait_for "$T/$name.out" '^unwrapped$' 60
	: >"$T/park/go"
	wait_for "$T/srv6.out" '^moved ' 60
	i=0
	while [ ! -e "$T/park/drained" ] && [ "$i" -lt $((300 * TS)) ]; do sleep 0.1; i=$((i + 1)); done
	early=$(lines "$T/srv6.log" 'lingering socket done')
	: >"$T/$name.go"
	wait "$CLI"
	rc=$?
	wait_lines "$T/srv6.log" "lingering socket done" 1 30
	fin=$(lines "$T/srv6.log" "lingering socket done: the peer's FIN")
	if [ "$rc" -ne 0 ] || ! grep -q '^ok$' "$T/$name.out" || ! grep -q '^moved ' "$T/srv6.out" || [ ! -e "$T/park/drained" ]; then
		fail "$name" "the setup failed (client exit $rc)$(show "$T/$name.out" "$T/srv6.out" "$T/srv6.err" "$T/srv6.log")"
	elif [ "$early" -ne 0 ]; then
		fail "$name" "the lingering socket was let go before its peer's FIN, on the word of the program's file dup2'ed onto its number$(show "$T/srv6.log")"
	elif [ "$fin" -ne 1 ]; then
		fail "$name" "the lingering socket was not let go at its peer's FIN ($fin)$(show "$T/srv6.log")"
	else
		pass "$name (dup2 onto the polled number: the socket moved and lingered on to its peer's FIN)"
	fi
	stop "$SRV6"
fi

# --- exit() waits on the sockets, without spinning on their error queue ----------
# At exit the linger thread sleeps on the lingering sockets themselves.  A
# socket whose error queue holds something (send timestamps the program
# asked for with SO_TIMESTAMPING) always polls POLLERR: unless the queue is
# emptied, every wait returned at once and the thread spun (1.9 s of CPU
# in 2 s).  send_close ts-exit writes 20 KB with timestamps, closes and
# calls exit() while the client holds the connection; once the exit wait
# has begun (its debug line) the client reads everything and closes.
# strace counts the waits on the wake-up pipe and the socket (a poll of
# two descriptors: made only at exit): a few, not hundreds.
name=linger_exit_errqueue_no_spin
P5=$(free_port)
srv_policy "$T/srv5.conf" linger-exit "$P5"
POLICY="$T/srv5.conf" TLSSHIM_LOG_FILE="$T/srv5.log" shimbg strace -f -qq -e trace=poll \
	-o "$T/$name.strace" "$PROGS/send_close" "$P5" 20000 ts-exit >"$T/srv5.out" 2>"$T/srv5.err"
SRV5=$!
if ! wait_for "$T/srv5.out" '^listening'; then
	fail "$name" "send_close (under strace) never listened$(show "$T/srv5.err")"
else
	"$PY" "$URGENT_CLIENT" "$P5" "$CERTS/ca.crt" 20000 "$T/$name.go" "$T/$name.go" nojunk >"$T/$name.out" 2>&1 &
	CLI=$!
	wait_lines "$T/srv5.log" 'exit waits for 1 lingering socket' 1 30
	: >"$T/$name.go"
	wait "$CLI"
	rc=$?
	wait_exit "$SRV5" 30
	src=$?
	waits=$(grep -c 'poll(\[{fd=[0-9]*, events=POLLIN}, {fd=[0-9]*, events=POLLIN}\], 2,' "$T/$name.strace")
	if [ "$rc" -ne 0 ] || ! grep -q '^got 20000$' "$T/$name.out"; then
		fail "$name" "the client failed (exit $rc)$(show "$T/$name.out" "$T/srv5.log")"
	elif [ "$src" -ne 0 ] || [ "$(lines "$T/srv5.log" "lingering socket done: the peer's FIN")" -ne 1 ]; then
		fail "$name" "the server's exit (status $src) did not end with its lingering socket let go at the peer's FIN$(show "$T/srv5.log" "$T/srv5.err")"
	elif [ "$waits" -gt 20 ]; then
		fail "$name" "$waits waits on the lingering socket during exit (want at most 20: the error queue emptied, no spinning)"
	else
		pass "$name (exit waited on a socket with send timestamps queued: $waits waits)"
	fi
fi

# --- close_timeout_ms: the lingering close's bound, and none at 0 ------------------
# close_case NAME MS: a server whose rule has close_timeout_ms = MS, and one
# connection that the client holds (neither FIN nor record) until NAME.go
# exists.  Sets CSRV and CLI.
close_case() {
	_p=$(free_port)
	policy "$T/$1.conf" <<EOF
rules = ( { name = "$1"; direction = "accept"; port = $_p; close_timeout_ms = $2;
            cert = "$CERTS/server.crt"; key = "$CERTS/server.key"; } );
EOF
	POLICY="$T/$1.conf" TLSSHIM_LOG_FILE="$T/$1.log" shimbg "$PROGS/pingpong" server "$_p" >"$T/$1.srv" 2>&1
	CSRV=$!
	if ! wait_for "$T/$1.srv" '^listening'; then
		fail "$1" "pingpong server never listened$(show "$T/$1.srv")"
		return 1
	fi
	"$PY" "$LINGER_CLIENT" "$_p" "$CERTS/ca.crt" "$PING" 1 "$T/$1.go" >"$T/$1.out" 2>&1 &
	CLI=$!
	if ! wait_for "$T/$1.out" '^held 1$' 60; then
		: >"$T/$1.go"; wait "$CLI"
		fail "$1" "the client did not get its answer$(show "$T/$1.out" "$T/$1.log")"
		return 1
	fi
	return 0
}

name=close_timeout_ms_bounds_linger
if close_case "$name" 300; then
	wait_lines "$T/$name.log" 'lingering socket done' 1 30
	gone=$(lines "$T/$name.log" 'lingering socket done: no FIN from the peer in 300 ms')
	alive "$CLI"; held=$?
	: >"$T/$name.go"
	wait "$CLI"
	if [ "$(lines "$T/$name.log" 'lingering close .*at most 300 ms')" -ne 1 ]; then
		fail "$name" "the close did not linger with its 300 ms bound$(show "$T/$name.log")"
	elif [ "$gone" -ne 1 ] || [ "$held" -ne 0 ]; then
		fail "$name" "the socket was not let go at its 300 ms deadline while the peer held it (deadline lines $gone, client running: $((1 - held)))$(show "$T/$name.log")"
	else
		pass "$name (a peer that neither closed nor sent: let go after close_timeout_ms = 300)"
	fi
	stop "$CSRV"
fi

name=close_timeout_ms_zero_no_linger
if close_case "$name" 0; then
	: >"$T/$name.go"
	wait "$CLI"
	wait_lines "$T/$name.log" 'close_timeout_ms is 0: closed without lingering' 1
	if [ "$(lines "$T/$name.log" 'close_timeout_ms is 0: closed without lingering')" -ne 1 ] ||
	   [ "$(lines "$T/$name.log" 'lingering close|lingering socket')" -ne 0 ]; then
		fail "$name" "the close lingered with close_timeout_ms = 0$(show "$T/$name.log")"
	else
		pass "$name (close_timeout_ms = 0: closed at once, no lingering)"
	fi
	stop "$CSRV"
fi

if [ -s "$T/srv.err" ]; then
	fail linger_server_errors "the pingpong server reported errors$(show "$T/srv.err")"
fi
if grep -q "$PING" "$T/srv.log" "$T"/*.log 2>/dev/null; then
	fail linger_log "program data in the shim's log"
fi
stop "$SRV"
