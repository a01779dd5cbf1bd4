#!/bin/sh
# A session whose handshake has not started, copied by fork(), used by BOTH
# processes (tests/progs/fork_unstarted: each writes a line of its own and
# reads once), as a client (a non-blocking connect, fork at once) and as a
# server (accept, fork), against a real peer, under the run's wire audit (nothing in clear on a
# TLS port).  The owner word (c->owner, claim() in core/tls.c) is in each
# process's own memory: after such a fork both see the session free.  The
# first user also takes a POSIX record lock (F_SETLK) on the socket: such
# locks belong to a process, not to the open file description that parent
# and child share, and a child never inherits its parent's; so the second
# user finds it taken (EAGAIN or EACCES) and its reads and writes fail with
# ECONNRESET before it sends a byte.  Before h217 both started a handshake
# on the one TCP stream: the peer failed the connection (two ClientHellos,
# or a ServerHello it was not waiting for), and mostly neither was served
# (both got ECONNRESET).
# Asserted here, for both sides:
#  - no process hangs (bounded by timeout; each reports one line);
#  - the peer never decrypts both processes' lines;
#  - at most one process gets data, and only its own session's;
#  - exactly one is served, the peer saw one clean session (close_notify),
#    and the other process's write and read fail with ECONNRESET.
# The cases the ECONNRESET claim always covered (a session started before
# the fork, a child made by the raw fork system call) and the classic
# forking server (the parent closes its copy unused) are in fork.sh.
. "$TLSSHIM_TOP/tests/lib.sh"
. "$TLSSHIM_TOP/tests/preload/common.inc"

RST="Connection reset by peer"

# judge NAME OUT PEERLINES SERVED-READ: OUT is fork_unstarted's output,
# PEERLINES the lines the peer decrypted; a process is served when its
# read got SERVED-READ ("" = its own line, echoed).
judge() {
	_n=$1 _o=$2 _pl=$3 _sr=$4 served= other= fails=0
	for who in parent child; do
		l=$(printf '%s\n' "$_o" | sed -n "s/^$who: //p")
		want=${_sr:-$who}
		case "$l" in
		"write ok; read $want") served="$served $who" ;;
		"write $RST; read $RST") other="$other $who" ;;
		"write "*"; read parent" | "write "*"; read child" | "write "*"; read peer")
			fail "$_n: $who got only its own session's data" "$l"; fails=1 ;;
		"") fail "$_n: $who reported" "no line from $who: $_o"; fails=1 ;;
		esac
	done
	if printf '%s\n' "$_pl" | grep -qx parent && printf '%s\n' "$_pl" | grep -qx child; then
		fail "$_n: the peer never decrypts both processes' lines" "peer got: $_pl"
	else
		pass "$_n: the peer did not decrypt both processes' lines (it got: $(echo $_pl))"
	fi
	set -- $served
	if [ $# -le 1 ] && [ $fails -eq 0 ]; then
		pass "$_n: at most one process served (${served:-none}), none got data of another session"
	else
		fail "$_n: at most one process served" "served:$served; $_o"
	fi
	set -- $other
	if [ -n "$served" ] && [ "${served# }" != "${other# }" ] && [ $# -eq 1 ] &&
	   [ "$(echo $_pl)" = "${served# }" ]; then
		pass "$_n: the first user (${served# }) is served, the other's write and read$(
			) fail with ECONNRESET"
	else
		fail "$_n: first user served, the other gets ECONNRESET" \
			"served:$served; reset:$other; peer: $(echo $_pl); $_o"
	fi
}

# The refusal is logged by the second user, naming the first (the lock's
# holder, from F_GETLK) and itself: two different pids.
lock_logged() {
	_l=$(grep "took the socket's lock first" "$2" | head -n 1)
	_w=$(printf '%s\n' "$_l" | sed -n 's/^tlsshim\[\([0-9]*\)\].*in use by process \([0-9]*\) .*'\
'; process \([0-9]*\) may not.*/\1 \2 \3/p')
	set -- "$1" $_w
	if [ $# -eq 4 ] && [ "$2" = "$4" ] && [ "$2" != "$3" ]; then
		pass "$1: the second user logs the refusal, naming the first ($_l)"
	else
		fail "$1: the second user logs the refusal" "$(show "$2")"
	fi
}

# ---- a client: a non-blocking connect(), fork(), both use it -----------
P=$(free_port)
policy "$T/cli.conf" <<EOC
rules = ( { name = "fork-unstarted-out"; direction = "connect"; port = $P; ca = "$CERTS/ca.crt";
            handshake_timeout_ms = 3000; } );
EOC
bg "$PY" "$TLSPEER" server --port "$P" --cert "$CERTS/server.crt" --key "$CERTS/server.key" \
	--mode echo --record "$T/cli.rec" --status "$T/cli.status" >"$T/cli.out" 2>&1
peer=$!
wait_for "$T/cli.out" '^ready' 15
out=$(TLSSHIM_LOG_FILE="$T/cli.log" timeout -k 2 $((30 * TS)) env LD_PRELOAD="$SHIM_PRELOAD" \
	TLSSHIM_CONFIG="$T/cli.conf" "$PROGS/fork_unstarted" connect localhost "$P" 2>&1)
rc=$?
wait_exit "$peer" 20
if [ $rc -eq 0 ]; then
	pass "client: neither process hangs ($(printf '%s\n' "$out" | tr '\n' '|'))"
else
	fail "client: neither process hangs" "exit $rc: $out$(show "$T/cli.log")"
fi
judge client "$out" "$(cat "$T/cli.rec" 2>/dev/null)" ""
if grep -q '^eof clean' "$T/cli.status" && ! grep -q -i error "$T/cli.status"; then
	pass "client: the peer saw one session, no error, close_notify at the end"
else
	fail "client: the peer saw one clean session" "status: $(tr '\n' '|' <"$T/cli.status" 2>/dev/null)"
fi
lock_logged client "$T/cli.log"

# ---- a server: accept(), fork(), both use it ----------------------------
P=$(free_port)
policy "$T/srv.conf" <<EOC
rules = ( { name = "fork-unstarted-in"; direction = "accept"; port = $P;
            cert = "$CERTS/server.crt"; key = "$CERTS/server.key"; handshake_timeout_ms = 3000; } );
EOC
TLSSHIM_LOG_FILE="$T/srv.log" bg timeout -k 2 $((30 * TS)) env LD_PRELOAD="$SHIM_PRELOAD" \
	TLSSHIM_CONFIG="$T/srv.conf" "$PROGS/fork_unstarted" accept "$P" >"$T/srv.out" 2>&1
srv=$!
wait_for "$T/srv.out" '^listening' 15
pout=$(timeout -k 2 $((30 * TS)) "$PY" "$PYD/fork_unstarted_peer.py" "$P" "$CERTS/ca.crt" 2>&1)
wait_exit "$srv" 30; rc=$?
out=$(grep -v '^listening' "$T/srv.out")
if [ $rc -eq 0 ]; then
	pass "server: neither process hangs ($(printf '%s\n' "$out" | tr '\n' '|'))"
else
	fail "server: neither process hangs" "exit $rc: $out$(show "$T/srv.log")"
fi
judge server "$out" "$(printf '%s\n' "$pout" | sed -n 's/^got //p')" peer
if printf '%s\n' "$pout" | grep -qx 'eof clean'; then
	pass "server: the peer's session ended with close_notify"
else
	fail "server: the peer's session ended with close_notify" "peer: $pout"
fi
lock_logged server "$T/srv.log"

# ---- in order: the lock must outlive the owner's closes of a copy --------
# The parent uses the session first (served), then closes a descriptor of
# its socket other than the session's: a dup() of its own (dupclose), or
# the copy the library holds for connect() called again, which answers
# EISCONN (reconnect: the non-blocking connect idiom), or forks again,
# which hands its live session to a pump (pump: the program's dup2 of the
# channel onto its number closes the socket there), or calls fsconfig's
# FSCONFIG_SET_FD with it, refused (EPERM) after the library judged a copy
# it then closes (fsconfig: until h223 that close, of a copy in no
# session's list, was not followed by a new lock, nor were the other
# refused bpf/ADDFD/KCM/NBD/9p copies' or a cancelled connect() again's).  POSIX drops a
# process's record locks on a file at its close of ANY descriptor of it;
# before h219 the lock went with that close, the child's later first use
# found it free, and the child started a handshake of its own in the
# middle of the parent's stream: the peer failed the connection, the
# parent's next exchange failed (nothing in clear: the wire audit; the
# child's copy was forked before the handshake began, so it never held
# the parent's keys).  The library takes the lock again after such a
# close of its process (tls_conn_relock), and a pump takes it over from
# the program (tls_conn_sock_lock): the child is refused before it sends a
# byte and the parent is served again (by the pump, in the pump case).
for how in dupclose reconnect pump fsconfig; do
	P=$(free_port)
	policy "$T/$how.conf" <<EOC
rules = ( { name = "fork-unstarted-$how"; direction = "connect"; port = $P; ca = "$CERTS/ca.crt";
            handshake_timeout_ms = 3000; } );
EOC
	bg "$PY" "$TLSPEER" server --port "$P" --cert "$CERTS/server.crt" --key "$CERTS/server.key" \
		--mode echo --record "$T/$how.rec" --status "$T/$how.status" >"$T/$how.out" 2>&1
	peer=$!
	wait_for "$T/$how.out" '^ready' 15
	out=$(TLSSHIM_LOG_FILE="$T/$how.log" timeout -k 2 $((30 * TS)) env LD_PRELOAD="$SHIM_PRELOAD" \
		TLSSHIM_CONFIG="$T/$how.conf" "$PROGS/fork_unstarted" connect localhost "$P" "$how" 2>&1)
	rc=$?
	wait_exit "$peer" 20
	want="parent: write ok; read parent|child: write $RST; read $RST|again: write ok; read again|"
	got=$(printf '%s\n' "$out" | tr '\n' '|')
	if [ $rc -eq 0 ] && [ "$got" = "$want" ]; then
		pass "$how: the owner served, the later user refused (ECONNRESET), the owner served again"
	else
		fail "$how: the owner served, the later user refused, the owner served again" \
			"exit $rc: $got$(show "$T/$how.log")"
	fi
	if [ "$(cat "$T/$how.rec" 2>/dev/null | tr '\n' ' ')" = "parent again " ] &&
	   grep -q '^eof clean' "$T/$how.status" && ! grep -q -i error "$T/$how.status"; then
		pass "$how: the peer saw one clean session: the owner's two lines, close_notify"
	else
		fail "$how: the peer saw one clean session" "rec: $(cat "$T/$how.rec" 2>/dev/null |
			tr '\n' ' '); status: $(cat "$T/$how.status" 2>/dev/null | tr '\n' '|')"
	fi
	lock_logged "$how" "$T/$how.log"
done
# ---- a server session never used, handed to a pump at spawn --------------
# accept(), fork() a child that keeps its copy unused, fork() a second child
# that runs posix_spawn of /bin/true with no environment: its session,
# inherited through fork and never started (so not completed for the peer
# names, shim/peerenv.c; owner 0, claim() never took the lock), goes to a
# pump process.  Before h223 the pump took the lock only if the program's
# claim() had (sock_locked), and its own claim() skipped F_SETLK (it is made
# the owner): the first child's use found the lock free and started a
# handshake in the middle of the pump's stream (peer BAD_RECORD_TYPE, both
# reset).  The pump now always takes the lock (tls_conn_pump_lock): the
# first child's write and read fail with ECONNRESET, the pump's session
# serves the second child ("again") and ends with close_notify.
P=$(free_port)
policy "$T/spawn.conf" <<EOC
rules = ( { name = "fork-unstarted-spawn"; direction = "accept"; port = $P;
            cert = "$CERTS/server.crt"; key = "$CERTS/server.key"; handshake_timeout_ms = 3000; } );
EOC
TLSSHIM_LOG_FILE="$T/spawn.log" bg timeout -k 2 $((30 * TS)) env LD_PRELOAD="$SHIM_PRELOAD" \
	TLSSHIM_CONFIG="$T/spawn.conf" "$PROGS/fork_unstarted" accept "$P" spawn >"$T/spawn.out" 2>&1
srv=$!
wait_for "$T/spawn.out" '^listening' 15
pout=$(timeout -k 2 $((30 * TS)) "$PY" "$PYD/fork_unstarted_peer.py" "$P" "$CERTS/ca.crt" 2>&1)
wait_exit "$srv" 30; rc=$?
got=$(grep -v '^listening' "$T/spawn.out" | tr '\n' '|')
if [ $rc -eq 0 ] && [ "$got" = "child: write $RST; read $RST|again: write ok; read peer|" ]; then
	pass "spawn: the child's unused copy refused (ECONNRESET), the pump serves the spawner"
else
	fail "spawn: the child's unused copy refused, the pump serves the spawner" \
		"exit $rc: $got$(show "$T/spawn.log")"
fi
if [ "$(printf '%s\n' "$pout" | tr '\n' '|')" = "got again|eof clean|" ]; then
	pass "spawn: the peer saw one clean session: the spawner's line, close_notify"
else
	fail "spawn: the peer saw one clean session" "peer: $(printf '%s\n' "$pout" | tr '\n' '|')"
fi
lock_logged spawn "$T/spawn.log"
