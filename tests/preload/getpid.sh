#!/bin/sh
# tests/preload/getpid.sh — libcrypto's getpid() calls (its random
# generators' fork check, at every generation: nine per handshake) are
# answered without a system call, from the page the kernel wipes in every
# child (shim/getpid.c), and fork detection still works:
#  * randfork (tests/progs/randfork.c) under the shim: after fork(),
#    _Fork(), syscall(SYS_fork), the C library's clone() and an inline
#    fork system call (which only the kernel sees: its wipe of the page is
#    all that tells the child) the child's random bytes differ from the
#    parent's (its generator noticed the fork), every getpid() is the
#    kernel's answer, a clone(CLONE_VM) child's getpid() is its own, and a
#    CLONE_VM|CLONE_VFORK child's random bytes are not the parent's next;
#  * strace of a shimmed echo_server serving 3 TLS clients (Python ssl):
#    fewer getpid system calls than one handshake made before (9), and
#    every client served.
. "$(dirname "$0")/../lib.sh"
. "$TLSSHIM_TOP/tests/preload/common.inc"
need_shim getpid_setup
command -v strace >/dev/null || { fail getpid_setup "strace not installed (.ci/packages lists it)"; exit 1; }
[ -x "$PROGS/randfork" ] || { fail getpid_setup "$PROGS/randfork missing (make test-build)"; exit 1; }

P=$(free_port)
policy "$T/p.conf" <<EOC
rules = ( { name = "pid-in"; direction = "accept"; port = $P;
            cert = "$CERTS/server.crt"; key = "$CERTS/server.key"; } );
EOC

TLSSHIM_LOG_FILE="$T/rf.log" shimmed "$PROGS/randfork" >"$T/rf.out" 2>&1
rc=$?
if [ $rc -eq 0 ] && grep -q '^randfork ok' "$T/rf.out"; then
	pass "getpid_fork_detection_kept (fork, _Fork, syscall(SYS_fork), clone(), an inline fork system call: the child's random bytes differ; getpid right, also in a clone(CLONE_VM) child)"
else
	fail getpid_fork_detection_kept "exit $rc$(show "$T/rf.out" "$T/rf.log")"
fi
# A CLONE_VM child that forks (randfork newpid, in pid namespaces of its
# own): the child reads its parent's id in the page it shares; its fork
# child is given the parent's id.  Answered with the parent's id, the
# CLONE_VM child's OpenSSL would not reseed, nor would the fork child's
# copy of it: the same bytes twice.
TLSSHIM_LOG_FILE="$T/rfn.log" shimmed "$PROGS/randfork" newpid >"$T/rfn.out" 2>&1
rc=$?
if [ $rc -eq 0 ] && grep -q '^randfork ok' "$T/rfn.out"; then
	pass "getpid_clone_vm_child_that_forks ($(grep -c differ "$T/rfn.out") of 2: its fork child given the parent's id draws other bytes)"
else
	fail getpid_clone_vm_child_that_forks "exit $rc$(show "$T/rfn.out" "$T/rfn.log")"
fi
# The same where madvise() says yes and does nothing (an emulator's:
# preload_fakemadvise.so): no page, every call is the C library's (the
# first version looped for ever there: a tail call kept libcrypto's
# return address).
SHIM_PRELOAD="$SHIM_PRELOAD $PROGS/preload_fakemadvise.so" TLSSHIM_LOG_FILE="$T/rff.log" \
	shimmed "$PROGS/randfork" >"$T/rff.out" 2>&1
rc=$?
if [ $rc -eq 0 ] && grep -q '^randfork ok' "$T/rff.out"; then
	pass "getpid_fork_detection_kept_without_wipeonfork (madvise ignored)"
else
	fail getpid_fork_detection_kept_without_wipeonfork "exit $rc$(show "$T/rff.out" "$T/rff.log")"
fi

export TLSSHIM_LOG_FILE="$T/srv.log" TLSSHIM_LOG=info
shimbg strace -qq -f -e trace=getpid -o "$T/srv.st" \
	"$PROGS/echo_server" "$P" >"$T/srv.out" 2>"$T/srv.err"
pid=$!
if ! wait_for "$T/srv.out" '^listening' 20; then
	fail getpid_setup "echo_server never listened$(show "$T/srv.err")"
	stop "$pid"
	exit 1
fi
why=""
for i in 1 2 3; do
	peer client --port "$P" --ca "$CERTS/ca.crt" --server-name localhost --send "pid $i
" >"$T/cli$i" 2>&1 </dev/null
	grep -q '^echo ok' "$T/cli$i" || why="$why; client $i not served$(show "$T/cli$i")"
done
# strace lets its program go on when it is stopped: the program first
for kid in $(cat "/proc/$pid/task/$pid/children" 2>/dev/null); do
	kill "$kid" 2>/dev/null
done
stop "$pid"
n=$(lines "$T/srv.st" 'getpid\(')
[ "$(lines "$T/srv.log" 'rule "pid-in": accepted')" -ge 3 ] || why="$why; not 3 TLS connections$(show "$T/srv.log")"
[ "$n" -lt 9 ] || why="$why; $n getpid system calls for 3 handshakes$(show "$T/srv.st")"
if [ -z "$why" ]; then
	pass "getpid_no_system_call_for_libcrypto ($n getpid system calls for 3 handshakes; 27 or more before)"
else
	fail getpid_no_system_call_for_libcrypto "${why#; }"
fi
