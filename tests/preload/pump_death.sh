#!/bin/sh
# A session handed to a pump ends "clean" (close_notify) only when the
# program ended it: a program that dies mid-stream leaves the peer a
# truncation, as a direct session's death by a signal does (helper-146;
# libtlsshim(7), "The pump").  py/pump_death_client.py says hello over
# TLS, puts the live session on fd 1 with dup2() (or fdopen()s it): the
# session goes to a pump; it writes "part one", then ends.  The TLS peer
# (failclosed_wire.py server --mode record, strict: OP_IGNORE_UNEXPECTED_EOF
# cleared) records what it got and how the stream ended.  One peer,
# started once, serves every case (a thread per connection, each
# connection's bytes and events in files of its own): each case's
# program makes one connection to it, whose files become the case's once
# the peer has ended it.  (A tlspeer.py per case before: a Python start
# with ssl, about 0.1 s of CPU, 23 times per build.)
#   * pump_death_kill_truncates / pump_death_abort_truncates: SIGKILL,
#     abort(): the kernel closes the program's end of the channel as
#     close() would; the peer must read "eof ragged" (it read "eof clean"
#     before 2026-12-07) and a warn line says why;
#   * pump_death_badshut_kill_truncates / _badshut_forked_kill_truncates:
#     shutdown(1, 7), which the kernel refuses (EINVAL, no FIN), then
#     SIGKILL (after a fork, the child killed too once the parent is
#     dead): "eof ragged" (before h214 the library told the pump of an
#     end for any how but SHUT_RD, and the forked case read "eof clean");
#   * pump_death_exit_clean, _exit_clean, close_clean, fclose_clean: exit
#     without closing, _exit(), close() of every number, fclose() of an
#     fdopen()ed stream: every byte, then close_notify ("eof clean");
#   * pump_death_forked_clean: a fork after the hand-over: the child
#     writes "part two" and exits, the parent, which writes nothing more,
#     is then killed: "eof clean" (the child's graceful end came after
#     the last byte);
# Several holders (fork, exec): every end the library sees tells the pump
# how many bytes the socket had by then (a marker, pump.c); the pump ends
# with close_notify only if the last marker counts every byte it read.
# Before 2026-12-07 a fork or an exec took the arming off and every one
# of these read "eof clean":
#   * pump_death_forked_kill_truncates: the parent closes first, then the
#     child writes "part two" and is SIGKILLed: "eof ragged";
#   * pump_death_exec_kill_truncates: the program execs a Python program
#     (the library preloaded) that writes "part two" and is SIGKILLed;
#   * pump_death_linger0_truncates: after a fork, SO_LINGER {1, 0} set by
#     the program on its end, then close: an abortive close, no
#     close_notify;
# and the ends that stay clean: pump_death_forked_close_clean (child and
# parent close), pump_death_exec_exit_clean (the exec'd program, with the
# library, exits normally), pump_death_exec_nolib_clean (the new image
# runs without the library, which can tell the pump of no end: the exec
# told the pump so, and an end there reads as a close, as before; the
# documented limit, libtlsshim(7) BUGS), pump_death_seccomp_clean (a
# forked child installs a seccomp filter that kills for socket(), as
# sshd's sandbox does, writes and closes: it must not be killed for a
# marker, and the parent's close then ends the stream clean),
# pump_death_seccomp_exec_clean (the same child execs a program that
# runs the library under that filter: it reads /proc/self/status the
# first time it would send a marker, and sends none),
# pump_death_shutclose_clean (shutdown(SHUT_WR), then close, read by the
# pump together (it is stopped meanwhile): the close's marker counted the
# FIN's sequence number as a byte, and the end read as cut short),
# pump_death_passed_clean (the session passed with SCM_RIGHTS to a
# process that runs the library, which writes and closes: its end must
# be told; it held the end as a plain socket and told nothing, and the
# end read as cut short).
. "$(dirname "$0")/../lib.sh"
. "$TLSSHIM_TOP/tests/preload/common.inc"
need_shim

# The policy (port P) and the recording TLS peer of every case: connection
# N's bytes in $T/peer/sN.data, its events in sN.status.
P=$(free_port)
policy "$T/death.conf" <<EOC
rules = ( { name = "out"; direction = "connect"; port = $P; ca = "$CERTS/ca.crt"; } );
EOC
mkdir "$T/peer"
bg "$PY" "$TLSSHIM_TOP/tests/preload/failclosed_wire.py" server --port "$P" \
	--cert "$CERTS/server.crt" --key "$CERTS/server.key" --dir "$T/peer" --mode record \
	--timeout $((30 * TS)) >"$T/peer.out" 2>&1
_peer=$!
if ! wait_for "$T/peer.out" '^ready' 10; then
	fail "pump_death: setup" "the TLS peer did not start$(show "$T/peer.out")"
	exit 1
fi
_conn=0         # the peer's connections so far

# death_collect NAME: wait until the peer has ended the case's connection
# (the peer's next one: a line of its end among its events; at most 20 s,
# the bound of the wait for the case's own peer before), then move its
# files to $T/NAME.rec and $T/NAME.status.  Any other connection made
# meanwhile (a case's own peer served one, and refused the rest) goes to
# $T/NAME.sN.*.
death_collect() {
	_k=$((_conn + 1))
	wait_for "$T/peer/s$_k.status" '^(unwrap|error|handshake-error|sent fin)' 20
	for _f in "$T/peer"/s*.data; do
		[ -e "$_f" ] || continue
		_c=${_f##*/s}
		_c=${_c%.data}
		if [ "$_c" = "$_k" ]; then
			mv "$_f" "$T/$1.rec"
			mv "$T/peer/s$_c.status" "$T/$1.status" 2>/dev/null
		else
			mv "$_f" "$T/$1.s$_c.data"
			mv "$T/peer/s$_c.status" "$T/$1.s$_c.status" 2>/dev/null
		fi
		[ "$_c" -le "$_conn" ] || _conn=$_c
	done
}

# death_case NAME HOW WANT(clean|ragged) [EXTRA-LINE]
death_case() {
	_n=$1 _h=$2 _w=$3 _x=${4:+
$4}
	TLSSHIM_LOG=info TLSSHIM_LOG_FILE="$T/$_n.log" shimmed "$PY" "$PYD/pump_death_client.py" "$P" "$_h" \
		>"$T/$_n.out" 2>"$T/$_n.err"
	death_collect "$_n"
	_ok=true
	[ "$_w" = ragged ] && ! grep -q "the peer sees the stream cut short" "$T/$_n.log" && _ok=false
	[ "$_w" = clean ] && grep -q "the peer sees the stream cut short" "$T/$_n.log" && _ok=false
	# (a child the case expects to end well reports any other end)
	grep -q '^child status' "$T/$_n.err" && _ok=false
	if $_ok && grep -q '^pumped' "$T/$_n.err" && grep -q 'session handed to a pump process' "$T/$_n.log" &&
	   [ "$(cat "$T/$_n.rec" 2>/dev/null)" = "hello
part one$_x" ] && grep -q "^eof $_w" "$T/$_n.status"; then
		pass "$_n: the peer got every byte, then \"eof $_w\""
	else
		fail "$_n: want every byte, then \"eof $_w\"" \
			"$(show "$T/$_n.status" "$T/$_n.rec" "$T/$_n.err" "$T/$_n.log")"
	fi
}

death_case pump_death_kill_truncates kill ragged
death_case pump_death_abort_truncates abort ragged
death_case pump_death_badshut_kill_truncates badshut_kill ragged
death_case pump_death_badshut_forked_kill_truncates badshut_forked_kill ragged
death_case pump_death_exit_clean exit clean
death_case pump_death__exit_clean _exit clean
death_case pump_death_close_clean close clean
# (the C library's syscall(SYS_exit_group): Go's os.Exit in a cgo
# program makes the system call itself, unseen: libtlsshim(7), BUGS)
death_case pump_death_sys_exit_group_clean sys_exit_group clean
death_case pump_death_fclose_clean fclose clean
death_case pump_death_forked_clean forked clean "part two"
death_case pump_death_forked_kill_truncates forked_kill ragged "part two"
death_case pump_death_forked_close_clean forked_close clean "part two"
death_case pump_death_exec_kill_truncates exec_kill ragged "part two"
death_case pump_death_exec_exit_clean exec_exit clean "part two"
death_case pump_death_exec_nolib_clean exec_nolib clean "part two"
death_case pump_death_linger0_truncates linger0 ragged "part two"
death_case pump_death_seccomp_clean seccomp clean "part two"
death_case pump_death_seccomp_exec_clean seccomp_exec clean "part two"
death_case pump_death_shutclose_clean shutclose clean
death_case pump_death_passed_clean passed clean "part two"

# pump_death_squat_refused: another user (65534) binds the pumps' marker
# names for every pair of ports the ephemeral range (narrowed to four in
# this test's network namespace) can give a channel, before the program
# starts.  The program's ends must not hand their socket to it: it would
# read the program's plaintext and write into the session ("injected").
# The session may end cut short (the pump cannot hear its markers): a
# denial of service, not a forgery.
squat_case() {
	_n=pump_death_squat_refused
	if [ "$(id -u)" != 0 ] || ! command -v setpriv >/dev/null; then
		pass "$_n: (not run: needs root and setpriv)"
		return
	fi
	_rng=$(cat /proc/sys/net/ipv4/ip_local_port_range)
	_lo=$((P + 10000))
	mkdir -m 1777 "$T/squat" && chmod o+x "$T"
	bg setpriv --reuid=65534 --regid=65534 --clear-groups "$PY" "$PYD/pump_squat.py" \
		"$_lo" $((_lo + 3)) "$T/squat/ready" "$T/squat/done" >"$T/$_n.squat" 2>&1
	_sq=$!
	wait_for "$T/squat/ready" '^ready' 10
	echo "$_lo $((_lo + 3))" >/proc/sys/net/ipv4/ip_local_port_range
	TLSSHIM_LOG=info TLSSHIM_LOG_FILE="$T/$_n.log" shimmed "$PY" "$PYD/pump_death_client.py" "$P" \
		forked_close >"$T/$_n.out" 2>"$T/$_n.err"
	echo "$_rng" >/proc/sys/net/ipv4/ip_local_port_range
	death_collect "$_n"
	: >"$T/squat/done"
	wait_exit "$_sq" 10
	stop "$_sq"
	if grep -q '^pumped' "$T/$_n.err" && grep -q 'session handed to a pump process' "$T/$_n.log" &&
	   ! grep -q stolen "$T/$_n.squat" && ! grep -q injected "$T/$_n.rec"; then
		pass "$_n: another user's squatted names got no socket of the program's"
	else
		fail "$_n: the program's end went to another user's socket" \
			"$(show "$T/$_n.squat" "$T/$_n.rec" "$T/$_n.status" "$T/$_n.err" "$T/$_n.log")"
	fi
}
squat_case

# pump_flood_other_clean / pump_flood_same_clean: a local process, of
# another user (65534) or of the program's, floods the pump's marker name
# (py/pump_flood.py) while the pump is stopped: it fills a datagram
# queue there (ten messages: net.unix.max_dgram_qlen) and makes 64
# connections to the pump's listener, half of them silent.  Then a child
# writes "part two" and closes, and the parent closes: both graceful, so
# "eof clean".  Before 2026-12-07 the markers went to that datagram
# queue, found it full (a send that may not block), and the end read as
# cut short: any local user could make every pumped session end as a
# truncation.  pump_flood_idle_clean: 200 silent connections while the
# pump runs must not stall its relay nor its end, nor hold more than 16
# of its descriptors (24 at most in all: .fds).
flood_case() {
	_n=$1 _fm=$3
	set --
	if [ "$2" = other ]; then
		if [ "$(id -u)" != 0 ] || ! command -v setpriv >/dev/null; then
			pass "$_n: (not run: needs root and setpriv)"
			return
		fi
		set -- setpriv --reuid=65534 --regid=65534 --clear-groups
	fi
	_fd=$T/$_n.flood
	mkdir -m 1777 "$_fd" && chmod o+x "$T"
	bg "$@" "$PY" "$PYD/pump_flood.py" "$_fd" "$_fm" >"$T/$_n.flooder" 2>&1
	_fl=$!
	PUMP_FLOOD_DIR=$_fd
	export PUMP_FLOOD_DIR
	death_case "$_n" "$([ "$_fm" = full ] && echo flood || echo flood_idle)" clean "part two"
	unset PUMP_FLOOD_DIR
	: >"$_fd/done"
	wait_exit "$_fl" 10
	stop "$_fl"
	if [ "$_fm" = idle ]; then
		_pf=$(sed -n 's/^pump fds //p' "$T/$_n.err")
		if [ -n "$_pf" ] && [ "$_pf" -le 24 ]; then
			pass "$_n.fds: the pump held $_pf descriptors under the flood"
		else
			fail "$_n.fds: the pump held ${_pf:-?} descriptors under the flood (want 24 at most)" \
				"$(show "$T/$_n.err")"
		fi
	fi
	# (the flood must have happened: else the case above proved nothing)
	if grep -q 'conns=[1-9]' "$_fd/full" 2>/dev/null; then
		pass "$_n.flooded: $(cat "$_fd/full")"
	else
		fail "$_n.flooded: the flooder did not flood" "$(show "$_fd/full" "$T/$_n.flooder")"
	fi
}
flood_case pump_flood_other_clean other full
flood_case pump_flood_same_clean same full
flood_case pump_flood_idle_clean other idle

# pump_death_exit_late_clean: a write after the library's exit handler
# (an atexit handler registered before it, by preload_exitlate.so, and
# the destructor of a dlopen()ed library, preload_exitdtor.so), then the
# program's exit: "eof clean" with both lines (it read "eof ragged"
# before 2026-12-07: the exit marker went from the handler, before them).
SHIM_PRELOAD_KEEP=$SHIM_PRELOAD
SHIM_PRELOAD="$SHIM_PRELOAD $PROGS/preload_exitlate.so" EXITLATE_FD=1 EXITDTOR_FD=1 \
EXITDTOR_SO=$PROGS/preload_exitdtor.so
export EXITLATE_FD EXITDTOR_FD EXITDTOR_SO
death_case pump_death_exit_late_clean exit_late clean "late atexit
late dtor"
unset EXITLATE_FD EXITDTOR_FD EXITDTOR_SO
SHIM_PRELOAD=$SHIM_PRELOAD_KEEP
stop "$_peer"
