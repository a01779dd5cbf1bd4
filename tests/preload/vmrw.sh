#!/bin/sh
# A child that shares the program's memory (clone(CLONE_VM) without
# CLONE_THREAD) writes on and reads from the program's TLS connection,
# closes its number and execs, while the program writes and reads on it
# too; then the program writes "two" once the child is gone
# (tests/progs/vmrw.c).  Each case runs vmrw through a recording relay to
# a TLS echo server (failclosed_wire.py): the capture must be TLS records
# only (no line of the program's in clear), the server must have
# decrypted every record without error (two processes encrypting with
# one session's sequence numbers fail record authentication) and
# received the lines "one" (when the connection was in use before the
# clone), "child", "parent" and "two", and the program's second exchange
# must succeed (the child's close of its own number ended nothing of
# the program's).  vmshare.sh covers a child that only changes a number
# in its own table; cloneshare's cases there a child without CLONE_VM.
# vm, vmfiles and vmvfork (the C library's clone(), a stack of the
# child's own) held.  sysvfork and c3vfork (syscall(SYS_clone) and
# syscall(SYS_clone3) with CLONE_VM|CLONE_VFORK and no stack: the child
# runs on the program's stack until it execs) died of SIGSEGV in the
# program: the child returned through the library's syscall() wrapper
# and its next calls wrote over that wrapper's frame, to which the
# parent returned.  Such a vfork is served by a copy of the process now
# (shim/syscall.c, vfork_copied); sysvforkfiles and c3vforkfiles, the
# same with CLONE_FILES, which the copy drops too.  c3bigvfork: c3vfork
# with a struct clone_args of 256 bytes (a zero tail, which the kernel
# takes): before h216 one above 128 bytes was left as it was, not served
# by a copy, and the program died of SIGSEGV as before; the library reads
# clone3's arguments once now and hands the kernel that copy
# (clone3_copied).  Last, the cases again
# with the pump's channel a socketpair (no loopback TCP for it: the
# fault injector tests/progs/preload_nopumptcp.so), which no test ran.
. "$TLSSHIM_TOP/tests/lib.sh"
. "$TLSSHIM_TOP/tests/preload/failclosed_common.inc"

[ -x "$PROGS/vmrw" ] || { fail setup "$PROGS/vmrw missing (make test-build)"; exit 1; }

# ThreadSanitizer cannot run a clone(CLONE_VM) child beside its parent
# (vmshare.sh): that build runs the cases where the parent waits.
case "${TSAN_OPTIONS:-}" in *exitcode=66*) TSAN=1 ;; *) TSAN= ;; esac

if ! fc_start peer --mode echo; then
	fail "vmrw: setup" \
		"server or relay did not start $(show "$T/peer.srv.out" "$T/peer.relay.out")"
	exit 1
fi
fc_policy "$T/vm.conf"

# rwcase NAME MODE WHAT
rwcase() {
	_n=$1 _m=$2
	FC_WIRE_ARGS="--min-conns 1" fc_run "$_n" "$T/vm.conf" "$PROGS/vmrw" 127.0.0.1 "$R" "$_m"
	for _l in '^child: made' '^parent: ok' '^second: ok'; do
		grep -q -e "$_l" "$T/$_n.out" || FC_BAD="$FC_BAD no '$_l';"
	done
	grep -q '^child: status' "$T/$_n.out" &&
		FC_BAD="$FC_BAD $(grep '^child: status' "$T/$_n.out");"
	_got=$(sort "$T/$_n.srv"/*.data 2>/dev/null | tr '\n' ' ')
	case $_m in
	*-fresh) _want="child parent two " ;;
	*) _want="child one parent two " ;;
	esac
	[ "$_got" = "$_want" ] || FC_BAD="$FC_BAD the server got '$_got', not '$_want';"
	if grep -q -E '^(error|handshake-error)' "$T/$_n.srv"/*.status 2>/dev/null ||
		! grep -q '^eof clean' "$T/$_n.srv"/*.status 2>/dev/null; then
		FC_BAD="$FC_BAD server: $(srv_status "$_n");"
	fi
	fc_verdict "$_n" "$3"
}

for m in vm vmfiles vmvfork sysvfork c3vfork c3bigvfork sysvforkfiles c3vforkfiles; do
	for f in "" -fresh; do
		case $m in vm|vmfiles)
			if [ -n "$TSAN" ]; then
				echo "SKIP $m$f: ThreadSanitizer cannot run a clone(CLONE_VM)" \
					"child beside its parent"
				continue
			fi
		esac
		rwcase "${m}${f#-}_rw" "$m$f" "a $m child writes, reads, closes and execs$(
			[ -n "$f" ] && echo " (connection not started)"), the program uses it too"
	done
done

# c3race: a clone3 of a plain copy whose flags another thread changes to
# CLONE_VM|CLONE_VFORK after the library's look
# (tests/progs/preload_clone3race.so): the kernel must get the library's
# copy of the arguments, the copy judged.  Before h216 it read the
# program's struct: a vfork on the library's frame, SIGSEGV.  (Not with
# a connection not started: a plain copy's two processes would both
# start its handshake, docs/fork.md.)
EXTRA_PRELOAD=$PROGS/preload_clone3race.so
rwcase c3race_rw c3race "a clone3 whose flags change after the library's look: the copy judged is made"
grep -q '^clone3 race: ' "$T/c3race_rw.out" ||
	fail c3race_raced "the race maker never ran: $(tr '\n' '|' <"$T/c3race_rw.out")"
EXTRA_PRELOAD=

# The same over a socketpair: the pump's loopback TCP channel taken away
# (tests/progs/preload_nopumptcp.so), as where no loopback address can be
# had; each case must say it used one.
EXTRA_PRELOAD=$PROGS/preload_nopumptcp.so
for m in vm vmfiles vmvfork sysvfork c3vforkfiles; do
	case $m in vm|vmfiles) [ -n "$TSAN" ] && continue ;; esac
	for f in "" -fresh; do
		n=sp_${m}${f#-}_rw
		rwcase "$n" "$m$f" "over a socketpair channel: a $m child writes, reads, closes and$(
			) execs$([ -n "$f" ] && echo " (connection not started)"), the program uses it too"
		grep -q 'a socketpair serves' "$T/$n.log" ||
			fail "${n}_socketpair" "no socketpair channel logged: $(log_tail "$T/$n.log")"
	done
done
EXTRA_PRELOAD=
fc_stop
