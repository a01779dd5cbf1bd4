#!/bin/sh
# Spawn paths attacked (helper h220): posix_spawn file actions that move a
# TLS session's descriptor (adddup2 onto 0/1, onto 7, onto its own number
# with FD_CLOEXEC set), close it (addclose, addclosefrom_np) or replace
# it (addopen), addfchdir with a relative program, POSIX_SPAWN_SETSID and
# RESETIDS, a child without the library (LD_PRELOAD removed from envp),
# a server session not started yet handed to such a child, system() while
# another thread is blocked reading the connection, popen() while another
# thread writes on it, two threads' system() calls overlapping (environ),
# a setenv() while a system() runs (the copy it makes keeps none of ours),
# openpty() onto the number a session just left,
# forkpty() with the session on fd 0, and a vfork() child that writes.
# tests/progs/spawn_attack.c is the client; the peer is tlspeer.py (echo),
# which records every byte it decrypted and how the connection ended.  In
# every case the peer must decrypt exactly the lines the program's
# processes wrote (one, child, two, or one, two where the child must not
# reach it), without a record error, ending with close_notify; the run's
# wire audit checks that only TLS records crossed the port.
. "$TLSSHIM_TOP/tests/lib.sh"
. "$TLSSHIM_TOP/tests/preload/common.inc"

# attack CASE [MODE]: spawn_attack against a fresh peer (tlspeer.py's
# MODE, echo by default); sets out, rc, rec, st.
attack() {
	P=$(free_port)
	policy "$T/$1.conf" <<EOC
rules = ( { name = "sa-$1"; direction = "connect"; port = $P; ca = "$CERTS/ca.crt"; } );
EOC
	bg "$PY" "$TLSSHIM_TOP/tests/interop/tlspeer.py" server --port "$P" --cert "$CERTS/server.crt" \
		--key "$CERTS/server.key" --mode "${2:-echo}" --record "$T/$1.rec" --status "$T/$1.status" >"$T/$1.out" 2>&1
	peer=$!
	wait_for "$T/$1.out" '^ready' 15
	out=$(TLSSHIM_LOG=info TLSSHIM_LOG_FILE="$T/$1.log" timeout $((30 * TS)) env LD_PRELOAD="$SHIM_PRELOAD" \
		TLSSHIM_CONFIG="$T/$1.conf" "$PROGS/spawn_attack" localhost "$P" "$1" 2>&1)
	rc=$?
	wait_exit "$peer" 20
	rec=$(cat "$T/$1.rec" 2>/dev/null)
	st=$(cat "$T/$1.status" 2>/dev/null | tr '\n' '|')
}

# expect CASE DESC OUT REC: run CASE; its output must be OUT, the peer's
# record REC, its status a clean end with no error.
expect() {
	attack "$1"
	if [ $rc -eq 0 ] && [ "$out" = "$3" ] && [ "$rec" = "$4" ] && \
	   grep -q '^eof clean' "$T/$1.status" && ! grep -q -i error "$T/$1.status"; then
		pass "$1: $2"
	else
		fail "$1: $2" "exit $rc; got: $(printf '%s' "$out" | tr '\n' '|'); peer got: $(printf '%s' "$rec" | tr '\n' '|'); status: $st$(show "$T/$1.log")"
	fi
}

OCT="first: one
child: child
second: two"
OCT_REC="one
child
two"
expect dup2-0 "adddup2 of a live session onto 0 and 1, the child runs the library: its write reaches the peer through a pump" "$OCT" "$OCT_REC"
expect dup2-0-nopre "adddup2 of a live session onto 0 and 1, LD_PRELOAD removed: the child's plaintext reaches the peer encrypted" "$OCT" "$OCT_REC"
expect dup2-7 "adddup2 of a close-on-exec live session onto 7, no library in the child" "$OCT" "$OCT_REC"
expect dup2-self "adddup2(fd, fd) of a close-on-exec live session (glibc clears FD_CLOEXEC), no library in the child" "$OCT" "$OCT_REC"
expect fresh-nopre "no exchange before the spawn, the fd inherited by a child without the library: its first write is encrypted" "child: child
second: two" "child
two"
expect fresh-dup2 "no exchange before the spawn, adddup2 onto 0 and 1 for a child without the library" "child: child
second: two" "child
two"

# A client's handshake is made at connect, so the cases above hand over a
# live session.  A server's waits for the first use: srv-* accept two
# connections (fds 8 and 9) and, before any use, spawn a shell without
# the library that reads a line on each and writes it back (9 by adddup2
# onto 0 and 1 in srv-dup2).  At the spawn the library completes the
# handshake of the lowest inherited session (8: it names the peer to the
# new program, shim/peerenv.c), so 9's is the one not started.  Both must
# go to pumps; given as it is, the shell would read 9's ClientHello and
# answer in clear (that client fails, the wire audit sees plaintext).
srv() {
	P=$(free_port)
	policy "$T/$1.conf" <<EOC
rules = ( { name = "sa-$1"; direction = "accept"; port = $P;
            cert = "$CERTS/server.crt"; key = "$CERTS/server.key"; } );
EOC
	TLSSHIM_LOG=info TLSSHIM_LOG_FILE="$T/$1.log" shimbg "$PROGS/spawn_attack" 127.0.0.1 "$P" "$1" \
		>"$T/$1.out" 2>&1
	sp=$!
	wait_for "$T/$1.out" '^listening' 15
	for k in 8 9; do
		bg "$PY" "$TLSSHIM_TOP/tests/interop/tlspeer.py" client --port "$P" --ca "$CERTS/ca.crt" \
			--server-name localhost --send "line $k
" --finish unwrap >"$T/$1.cli$k" 2>&1
		eval "cli$k=\$!"
		# the second connects once the first is accepted (fd 8)
		[ $k = 9 ] || wait_for "$T/$1.cli$k" '^local' 15
	done
	wait_exit "$cli8" 30; c8=$?
	wait_exit "$cli9" 30; c9=$?
	wait_exit "$sp" 20; rc=$?
	if [ $c8 -eq 0 ] && [ $c9 -eq 0 ] && [ $rc -eq 0 ] && grep -q '^echo ok' "$T/$1.cli8" &&
	   grep -q '^echo ok' "$T/$1.cli9" && grep -q '^unwrap ok' "$T/$1.cli9" &&
	   grep -q '^child: done' "$T/$1.out"; then
		pass "$1: $2"
	else
		fail "$1: $2" "clients exit $c8 $c9, server exit $rc; $(tail_of "$T/$1.cli8" "$T/$1.cli9" \
			"$T/$1.out" "$T/$1.log")"
	fi
}
srv srv-nopre "two server sessions, one not started, inherited by a shell without the library: pumps make the handshakes, the shell's echoes are encrypted"
srv srv-dup2 "a server session not started, adddup2 onto 0 and 1 for a shell without the library: through a pump"
expect fchdir "addfchdir and a relative program without the library: the session goes to a pump" "$OCT" "$OCT_REC"
expect setsid "POSIX_SPAWN_SETSID|POSIX_SPAWN_RESETIDS, no library in the child" "$OCT" "$OCT_REC"
OT="first: one
child: no fd
second: two"
OT_REC="one
two"
expect addclose "addclose of the session's fd: the child has no such number, the parent goes on" "$OT" "$OT_REC"
expect closefrom "addclosefrom_np(3): the child has no such number, the parent goes on" "$OT" "$OT_REC"
expect addopen "addopen onto the session's number: the child's write goes to /dev/null, never the peer" "first: one
child: wrote
second: two" "$OT_REC"
expect system-read "system() whose shell writes on the session while another thread is blocked reading it: the reader gets the echo through the pump" "first: one
system: 0
reader: child
reader: two" "$OCT_REC"
attack popen-write
nw=$(printf '%s\n' "$rec" | grep -c '^w$')
nc=$(printf '%s\n' "$rec" | grep -c '^child$')
if [ $rc -eq 0 ] && [ "$out" = "first: one
popen: ok
echoed: 406
second: two" ] && [ "$nw" = 200 ] && [ "$nc" = 1 ] && [ "$(printf '%s\n' "$rec" | head -n 1)" = one ] && \
   [ "$(printf '%s\n' "$rec" | tail -n 1)" = two ] && grep -q '^eof clean' "$T/popen-write.status" && \
   ! grep -q -i error "$T/popen-write.status"; then
	pass "popen-write: popen() whose shell writes on the session while another thread writes 200 lines: the peer decrypts all 200, the child's line, no error"
else
	fail "popen-write: popen() while another thread writes" "exit $rc; got: $(printf '%s' "$out" | tr '\n' '|'); peer: $nw w, $nc child; status: $st$(show "$T/popen-write.log")"
fi
# The same with 16 KiB writes (64 of them, each a letter repeated and a
# newline), the peer only recording: the hand-over must come between two
# of the writer's records, and the pump must carry on where the program's
# session stopped (a byte lost, doubled or reordered changes the record).
attack popen-bulk record
exp=$(i=0; while [ $i -lt 64 ]; do
	printf '%16383s\n' '' | tr ' ' "$(echo abcdefghijklmnopqrstuvwxyz | cut -c$((i % 26 + 1)))"
	i=$((i + 1)); done; echo two)
got=$(printf '%s\n' "$rec" | grep -v '^child$')
if [ $rc -eq 0 ] && [ "$out" = "popen: ok" ] && [ "$got" = "$exp" ] && \
   [ "$(printf '%s\n' "$rec" | grep -c '^child$')" = 1 ] && grep -q '^eof clean' "$T/popen-bulk.status" && \
   ! grep -q -i error "$T/popen-bulk.status"; then
	pass "popen-bulk: popen() whose shell writes on the session while another thread writes 64 x 16 KiB: the peer decrypts every byte in order, the child's line once"
else
	fail "popen-bulk: popen() while another thread writes 16 KiB blocks" \
		"exit $rc; got: $(printf '%s' "$out" | tr '\n' '|'); peer: $(printf '%s' "$rec" | wc -c) bytes\
 ($(printf '%s' "$exp" | wc -c) + child expected); status: $st$(show "$T/popen-bulk.log")"
fi
# system() in two threads at once, the first to start ending first (its
# shell waits on a pipe the program closes): each call puts its own array
# (our pumped list added) in environ.  Before h220 the second put back
# the first's array, on a stack frame that was gone, as the program's
# environ: "another array", and getenv("PATH") read garbage.
expect system-race "two threads' system() calls overlap, the first ends first: environ is the program's array again, getenv finds PATH" "first: one
environ: the program's
PATH: same
second: two" "one
two"
# A setenv() while a system() call's shell runs: glibc copies environ,
# the library's array for the call, TLSSHIM_PUMPED included, and that copy
# stays the program's.  Before h222 its TLSSHIM_PUMPED pointed into the
# call's struct, freed at its end (getenv read freed memory; ASan:
# heap-use-after-free).  Now the library's entries are taken out first.
expect system-setenv "setenv() while a system() runs: the program keeps its variable, and no entry of the call's freed array" "first: one
pumped entries: 0
H222_SET: during
second: two" "one
two"
attack openpty
if [ $rc -eq 0 ] && [ "$out" = "first: one
pty slave read: to slave
pty master read: to master" ] && [ "$rec" = one ] && grep -q '^eof clean' "$T/openpty.status"; then
	pass "openpty onto the number a closed session left: the terminal carries bytes both ways, the peer got one and close_notify"
else
	fail "openpty onto a closed session's number" "exit $rc; got: $(printf '%s' "$out" | tr '\n' '|'); peer: $rec; status: $st$(show "$T/openpty.log")"
fi
expect forkpty-0 "forkpty with the live session on fd 0: the child's login_tty puts the terminal there, the parent's fd 0 goes on" "first: one
child: exit 0
second: two" "$OT_REC"
expect vfork "vfork: the child's write() before _exit reaches the peer through a pump, the parent goes on" "first: one
child: exit 0
echo: child
second: two" "$OCT_REC"
