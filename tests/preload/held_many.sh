#!/bin/sh
# tests/preload/held_many.sh — the copies of the program's numbers that
# the library holds for one system call (shim/own.c, shim_own_hold) are
# not a small shared pool.  connect() again on a TLS number (again()),
# and a pumped number's connect() and Fast Open, run on such a copy for
# the kernel's whole call (shim/connect.c, held_call), and that call may
# wait: a blocking connect() again on a connecting socket (as a program
# makes it after EINTR) waits with the kernel for the connection.  The
# table had 64 places for the whole process: the 65th waiting thread got
# EMFILE from connect(), and so did every other held call meanwhile (a
# connect() again on a connected session, whose answer is the kernel's:
# 0 or EISCONN; bpf() and seccomp ADDFD judgements; h215).
#
#   * held_many_waiting_threads: tests/progs/held_many makes a socket
#     whose connect() waits (its listener's backlog full, the SYN
#     dropped; SO_SNDTIMEO 25 s bounds it) and 80 threads that call
#     connect() on it again, waiting too; then connect() again on another
#     socket once its connection is established.  Wanted: none of the 80
#     returned while the socket was connecting ("returned 0"), and the
#     last call has the kernel's answer, 0 (the first connect() after a
#     non-blocking one completed; "again 0").  main: "returned 16 EMFILE
#     ...", "again EMFILE".
#   * held_many_fork_child, held_many__Fork_child: the same with 3
#     threads waiting, then a child made by fork() or by _Fork() (which
#     runs no fork handler) counts its descriptors of the waiting socket:
#     only its own number (1).  A fork()'s child closed the copies other
#     threads held (shim_own_fork_unlock); a _Fork()'s kept them, at
#     numbers its program could neither close (EBADF) nor dup2() onto, and
#     held the parent's socket for its whole life (main: "child copies
#     4"; now shim_own_forked).
#   * held_many_closefrom: 3 threads waiting, then closefrom() from the
#     number above the program's: the copies held for their calls stay
#     open ("held before 3", "held after 3": close_range closes around
#     them), and a pipe of the program's put at each of their numbers or
#     above (F_DUPFD) is still open after the calls returned (the socket
#     let connect) and the library closed its copies ("program's open 3
#     of 3").  With the copies closed by closefrom (a scratch build whose
#     own_next() finds none), the pipe took their numbers and the
#     library's close after each call closed the program's pipe.
. "$(dirname "$0")/../lib.sh"
. "$TLSSHIM_TOP/tests/preload/common.inc"
need_shim held_many_setup

P=$(free_port)
Q=$(free_port)
policy "$T/cli.conf" <<EOF
rules = ( { name = "held-out"; direction = "connect"; port = [ $P, $Q ]; ca = "$CERTS/ca.crt";
            server_name = "localhost"; } );
EOF

name=held_many_waiting_threads
TLSSHIM_LOG_FILE="$T/held.log" shimmed "$PROGS/held_many" "$P" "$Q" 80 \
	>"$T/held.out" 2>"$T/held.err"
rc=$?
if [ "$rc" -ne 0 ]; then
	fail "$name" "held_many exited $rc$(show "$T/held.out" "$T/held.err" "$T/held.log")"
elif ! grep -qx 'returned 0' "$T/held.out" || ! grep -qx 'again 0' "$T/held.out"; then
	fail "$name" "a held call refused$(show "$T/held.out" "$T/held.log")"
else
	pass "$name"
fi

for how in fork _Fork; do
	name=held_many_${how}_child
	TLSSHIM_LOG_FILE="$T/$how.log" shimmed "$PROGS/held_many" "$P" "$Q" 3 "$how" \
		>"$T/$how.out" 2>"$T/$how.err"
	rc=$?
	if [ "$rc" -ne 0 ]; then
		fail "$name" "held_many exited $rc$(show "$T/$how.out" "$T/$how.err" "$T/$how.log")"
	elif ! grep -qx 'child copies 1' "$T/$how.out"; then
		fail "$name" "the child holds copies of the socket$(show "$T/$how.out")"
	elif ! grep -qx 'returned 0' "$T/$how.out" || ! grep -qx 'again 0' "$T/$how.out"; then
		fail "$name" "a held call refused$(show "$T/$how.out" "$T/$how.log")"
	else
		pass "$name"
	fi
done

name=held_many_closefrom
TLSSHIM_LOG_FILE="$T/closefrom.log" shimmed "$PROGS/held_many" "$P" "$Q" 3 closefrom \
	>"$T/closefrom.out" 2>"$T/closefrom.err"
rc=$?
if [ "$rc" -ne 0 ]; then
	fail "$name" "held_many exited $rc$(show "$T/closefrom.out" "$T/closefrom.err" "$T/closefrom.log")"
elif ! grep -qx 'held before 3' "$T/closefrom.out" ||
	! grep -qx 'held after 3' "$T/closefrom.out"; then
	fail "$name" "closefrom closed copies held for a call$(show "$T/closefrom.out")"
elif ! grep -qx "program's open 3 of 3" "$T/closefrom.out"; then
	fail "$name" "the library closed the program's descriptors$(show "$T/closefrom.out")"
else
	pass "$name"
fi
