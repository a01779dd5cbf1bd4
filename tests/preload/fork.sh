#!/bin/sh
# fork() and TLS sessions: the classic forking server (accept, fork, child
# serves, parent closes) works, and the parent's close sends nothing; a
# session already in use at fork moves to a pump process, so parent and
# child can both use the connection and no two processes ever encrypt
# with one session (that would repeat AES-GCM nonces); the same for a
# child made by forkpty(), whose fork is inside the C library.
. "$TLSSHIM_TOP/tests/lib.sh"
. "$TLSSHIM_TOP/tests/preload/common.inc"
HERE=$TLSSHIM_TOP/tests/preload


P=$(free_port)
policy "$T/srv.conf" <<EOC
rules = ( { name = "fork-in"; direction = "accept"; port = $P;
            cert = "$CERTS/server.crt"; key = "$CERTS/server.key"; } );
EOC
TLSSHIM_LOG_FILE="$T/srv.log" shimbg "$PROGS/fork_server" "$P" 10 >"$T/srv.out" 2>&1
srv=$!
wait_for "$T/srv.out" 'listening' 15
out=$(timeout $((60 * TS)) "$PY" "$PYD/fork_clients.py" "$P" "$CERTS/ca.crt" 10 2>&1)
wait_exit "$srv" 30; rc=$?
if [ "$out" = "10/10 ok" ] && [ $rc -eq 0 ]; then
	pass "forking server: 10 verified TLS clients served by children (clean close_notify both ways)"
else
	fail "forking server: 10 verified TLS clients" "clients: $out; server exit $rc; $(cat "$T/srv.out" "$T/srv.log" 2>/dev/null)"
fi
if [ ! -s "$T/srv.log" ]; then
	pass "forking server: the parent's close of an unused session sends nothing and logs nothing"
else
	fail "forking server: parent's close is silent" "$(cat "$T/srv.log")"
fi

# forkpeer NAME FORK [EXTRA-PRELOAD]: fork_client (a client that forks;
# FORK "raw": by the bare system call, "": by fork()) against
# tlspeer.py, which records every byte it decrypted in $T/NAME.rec and how
# the connection ended in $T/NAME.status; the client's log is $T/NAME.log
# (level info); sets out and rc.
forkpeer() {
	P=$(free_port)
	policy "$T/$1.conf" <<EOC
rules = ( { name = "fork-$1"; direction = "connect"; port = $P; ca = "$CERTS/ca.crt"; } );
EOC
	bg "$PY" "$TLSSHIM_TOP/tests/interop/tlspeer.py" server --port "$P" --cert "$CERTS/server.crt" \
		--key "$CERTS/server.key" --mode echo --record "$T/$1.rec" --status "$T/$1.status" >"$T/$1.out" 2>&1
	peer=$!
	wait_for "$T/$1.out" '^ready' 15
	out=$(TLSSHIM_LOG=info TLSSHIM_LOG_FILE="$T/$1.log" timeout $((20 * TS)) env LD_PRELOAD="$SHIM_PRELOAD${3:+ $3}" \
		TLSSHIM_CONFIG="$T/$1.conf" "$PROGS/fork_client" localhost "$P" ${2:+"$2"} 2>&1)
	rc=$?
	wait_exit "$peer" 20
}

forkpeer cli ""
# Both processes wrote through one session, which a pump process now owns:
# the parent's read after the child's write gets the child's line back
# first (the child wrote first), so the parent's connection continues.
case "$out" in
"first: one
child write: succeeded
second: child"*) ok=1 ;;
*) ok= ;;
esac
if [ -n "$ok" ] && [ $rc -eq 0 ]; then
	pass "fork with a live session: the child's write works and the parent's connection continues"
else
	fail "fork with a live session: both processes write" "exit $rc; got: $out; $(cat "$T/cli.log")"
fi
# The peer decrypted every record without error, and got both processes'
# lines in order: a repeated sequence number (two processes encrypting
# with one session) would fail record authentication ("error ..." in the
# status); the parent's close ends with close_notify ("eof clean").
if [ "$(cat "$T/cli.rec" 2>/dev/null)" = "one
child
two" ] && grep -q '^eof clean' "$T/cli.status" && ! grep -q -i error "$T/cli.status"; then
	pass "fork with a live session: the peer decrypted both processes' data (one, child, two) without error; close_notify at the end"
else
	fail "fork with a live session: the peer decrypts both processes' data" "received: $(od -c "$T/cli.rec" 2>/dev/null | head -n 3 | tr '\\\n' '/ '); status: $(cat "$T/cli.status" 2>/dev/null | tr '\n' '|')"
fi
if grep -q "session handed to a pump process" "$T/cli.log"; then
	pass "fork with a live session: the hand-over to the pump is logged"
else
	fail "fork with a live session: hand-over logged" "$(cat "$T/cli.log")"
fi

# forkpty(): the C library forks inside it, past our fork(), so the live
# session was not handed to a pump and the child's write got ECONNRESET
# (before h213).  Now it is made of our fork() and login_tty(): the
# child writes a line on the connection and reads its echo, the parent's
# connection goes on, and the peer decrypted one, child, two without
# error (TLS only on the wire: the run's audit).
forkpeer pty pty
if [ $rc -eq 0 ] && [ "$out" = "first: one
child: child
second: two" ] && [ "$(cat "$T/pty.rec" 2>/dev/null)" = "one
child
two" ] && grep -q '^eof clean' "$T/pty.status" && ! grep -q -i error "$T/pty.status"; then
	pass "forkpty with a live session: the child writes and reads the echo, the parent's connection goes on; the peer got one, child, two"
else
	fail "forkpty with a live session: the child uses the connection" "exit $rc; got: $out; peer: $(cat "$T/pty.rec" 2>/dev/null | tr '\n' ' ')$(show "$T/pty.log")"
fi

# A fork the shim cannot see: the fork system call made by an inline
# `syscall` instruction (no C library wrapper, no atfork handler, nothing
# interposed), so no pump takes the session and nothing tells the child it
# is a new process.  The child's write must be refused, not encrypted with
# the parent's keys and sequence numbers (the peer would see the parent's
# next record under a repeated AES-GCM nonce), and its close must send
# nothing; the parent's connection goes on.  Before core/self.c the child
# believed it was the parent: "child write: succeeded", and its close ended
# the parent's connection.
forkpeer raw raw
if [ $rc -eq 0 ] && [ "$out" = "first: one
child write: Connection reset by peer
second: two" ]; then
	pass "raw fork (no C library, no atfork handler): the child's write is refused, the parent's connection goes on"
else
	fail "raw fork: the child may not use the parent's session" "exit $rc; got: $out$(show "$T/raw.log")"
fi
if [ "$(cat "$T/raw.rec" 2>/dev/null)" = "one
two" ] && grep -q '^eof clean' "$T/raw.status" && ! grep -q -i error "$T/raw.status"; then
	pass "raw fork: the peer got the parent's records only (one, two), no error, close_notify at the end"
else
	fail "raw fork: the peer gets the parent's records only" "received: $(od -c "$T/raw.rec" 2>/dev/null | head -n 3 | tr '\\\n' '/ '); status: $(cat "$T/raw.status" 2>/dev/null | tr '\n' '|')"
fi
# The line comes from the child and says so: its prefix names the child
# (the process that may not use the session), not the parent.
line_=$(grep 'belongs to process' "$T/raw.log" | head -n 1)
who=$(printf '%s\n' "$line_" | sed -n 's/^tlsshim\[\([0-9]*\)\].*; process \([0-9]*\) may not use it.*/\1 \2/p')
if [ -n "$who" ] && [ "${who% *}" = "${who#* }" ]; then
	pass "raw fork: the refusal is logged under the child's own pid ($line_)"
else
	fail "raw fork: the refusal is logged under the child's pid" "$(show "$T/raw.log")"
fi

# The same raw fork where madvise() says yes to everything and does
# nothing (an emulator's: tests/progs/preload_fakemadvise.so): the page
# that holds the pid is never wiped, so the library must notice that the
# advice is not honoured (an advice that does not exist is accepted too)
# and ask getpid() instead; the child must still be refused.
forkpeer fake raw "$PROGS/preload_fakemadvise.so"
if [ $rc -eq 0 ] && [ "$out" = "first: one
child write: Connection reset by peer
second: two" ] && [ "$(cat "$T/fake.rec" 2>/dev/null)" = "one
two" ] && ! grep -q -i error "$T/fake.status"; then
	pass "raw fork under a madvise() that ignores MADV_WIPEONFORK: the child is still refused; the peer got one, two"
else
	fail "raw fork, madvise ignored: the child may not use the parent's session" "exit $rc; got: $out; peer: $(cat "$T/fake.rec" 2>/dev/null | tr '\n' ' ')$(show "$T/fake.log")"
fi

# fork gives the child a wake-up eventfd of its own.  A thread that waits in
# the shim (a blocking read or handshake) sleeps on its socket and on an
# eventfd that a hand-over to a pump writes to (shim/wait.c).  The child of
# a fork inherited the forking thread's eventfd: one file in two processes,
# so a wake-up written in one could be read away by a waiter in the other,
# which would then sleep on a socket that moved to a pump.  The child must
# hold none of the parent's eventfds once it has waited itself (each
# process waits for a ServerHello from a listener that never answers, for
# the rule's handshake_timeout_ms of 300).
P=$(free_port)
policy "$T/evfd.conf" <<EOC
rules = ( { name = "fork-evfd"; direction = "connect"; port = $P; ca = "$CERTS/ca.crt";
            handshake_timeout_ms = 300; } );
EOC
out=$(TLSSHIM_LOG_FILE="$T/evfd.log" timeout $((20 * TS)) env LD_PRELOAD="$SHIM_PRELOAD" \
	TLSSHIM_CONFIG="$T/evfd.conf" "$PY" "$PYD/fork_evfd_client.py" "$P" 2>&1)
rc=$?
parent=$(printf '%s\n' "$out" | sed -n 's/^parent *//p')
child=$(printf '%s\n' "$out" | sed -n 's/^child *//p')
shared=
for id in $child; do
	for pid_ in $parent; do
		[ "$id" = "$pid_" ] && shared="$shared $id"
	done
done
if [ $rc -ne 0 ] || [ -z "$parent" ] || [ -z "$child" ]; then
	fail "fork: the child's own wake-up eventfd" "exit $rc; the parent and the child each must have waited (an eventfd): $out$(show "$T/evfd.log")"
elif printf '%s %s\n' "$parent" "$child" | grep -q 'no-id'; then
	fail "fork: the child's own wake-up eventfd" "this kernel shows no eventfd-id in /proc/PID/fdinfo: cannot tell eventfds apart ($out)"
elif [ -n "$shared" ]; then
	fail "fork: the child's own wake-up eventfd" "the child still holds the parent's eventfd(s)$shared (parent: $parent; child: $child)"
else
	pass "fork: the child waits on a wake-up eventfd of its own (parent's eventfd-id: $parent; child's: $child)"
fi

# fork() from a signal handler that interrupted the shim's poll() on a TLS
# fd: the child returns into the interrupted poll, whose copy of the
# thread's eventfd number must still name an open eventfd (the child's
# own, put under the same number): a closed one made every ppoll answer
# POLLNVAL at once and the child's poll looped forever (seen: 8 children
# of 200).  60 forks at 3 ms intervals; each child polls 1000 more times
# and exits.
P=$(free_port)
policy "$T/sigfork.conf" <<EOC
rules = ( { name = "sigfork-in"; direction = "accept"; port = $P;
            cert = "$CERTS/server.crt"; key = "$CERTS/server.key"; } );
EOC
out=$(TLSSHIM_LOG_FILE="$T/sigfork.log" timeout -k 1 $((120 * TS)) env LD_PRELOAD="$SHIM_PRELOAD" \
	TLSSHIM_CONFIG="$T/sigfork.conf" "$PROGS/sigfork_poll" "$P" 60 2>&1)
rc=$?
if [ $rc -eq 0 ] && [ "$out" = "forks 60 ok 60 stuck 0 other 0" ]; then
	pass "fork in a signal handler during the shim's poll: 60 children went on and exited"
else
	fail "fork in a signal handler during the shim's poll" "exit $rc: $out$(show "$T/sigfork.log")"
fi
