#!/bin/sh
# tests/preload/selfid.sh — the library takes no other process's id for
# its own (core/self.c): the id decides which process may use a TLS
# session (two processes must never encrypt with one), and prefixes every
# log line.
#
# tests/progs/selfid: P is made by a fork the library cannot see (an
# inline system call), so the page that holds its id reads 0.  Before P
# asks anything, its CLONE_VM child G, which shares P's memory, runs the
# library's code first (a refused connect, one log line).  If G stored its
# id in the page it shares with P, P would take G's id for its own: once G
# is gone and a fork child of P is given G's id, P and that child would
# each pass the other's ownership check.  P's own lines must carry P's id.
# H is another such child, made through the C library's clone() (the
# library's wrapper must not take it for a fork child with its own
# memory), and P asks getpid() at each of its N checks (it stores none).
# M, the program's first process, logs once under its own id, also when
# another library's constructor (preload_early.so) made a CLONE_VM child E
# that was the first to call into the library (the library initialised in
# E: it must not have kept E's id as the process's).
# C, made by the C library's clone() without CLONE_VM, is a fork the
# library sees: it must know its id without a getpid() per question.
. "$(dirname "$0")/../lib.sh"
. "$TLSSHIM_TOP/tests/preload/common.inc"
need_shim selfid_setup
[ -x "$PROGS/selfid" ] || { fail selfid_setup "$PROGS/selfid missing (make test-build)"; exit 1; }

N=20
P=$(free_port)
policy "$T/p.conf" <<EOC
rules = ( { name = "selfid-deny"; direction = "connect"; port = $P; action = "deny"; } );
EOC

# run TAG [EXTRA-PRELOAD]: selfid under the library; sets pid_P pid_G pid_C.
run() {
	SHIM_PRELOAD="$SHIM_PRELOAD${2:+ $2}" TLSSHIM_LOG_FILE="$T/$1.log" \
		shimmed "$PROGS/selfid" "$P" "$N" >"$T/$1.out" 2>"$T/$1.err"
	rc=$?
	pid_P=$(sed -n 's/^P //p' "$T/$1.out")
	pid_G=$(sed -n 's/^G //p' "$T/$1.out")
	pid_H=$(sed -n 's/^H //p' "$T/$1.out")
	pid_C=$(sed -n 's/^C //p' "$T/$1.out")
	pid_M=$(sed -n 's/^M //p' "$T/$1.out")
	pid_E=$(sed -n 's/^E //p' "$T/$1.out")
	if [ $rc -ne 0 ] || [ -z "$pid_P" ] || [ -z "$pid_G" ] || [ -z "$pid_H" ] || [ -z "$pid_C" ] || [ -z "$pid_M" ]; then
		fail "selfid_$1_ran" "exit $rc$(show "$T/$1.out" "$T/$1.err" "$T/$1.log")"
		return 1
	fi
}

# ids TAG WHAT: each process's refused connects logged under its own id.
ids() {
	refused='rule "selfid-deny": connection refused by policy'
	nP=$(lines "$T/$1.log" "^tlsshim\\[$pid_P\\]: .*$refused")
	nG=$(lines "$T/$1.log" "^tlsshim\\[$pid_G\\]: .*$refused")
	nH=$(lines "$T/$1.log" "^tlsshim\\[$pid_H\\]: .*$refused")
	nC=$(lines "$T/$1.log" "^tlsshim\\[$pid_C\\]: .*$refused")
	nM=$(lines "$T/$1.log" "^tlsshim\\[$pid_M\\]: .*$refused")
	nE=0 wantE=0
	if [ -n "$pid_E" ]; then
		nE=$(lines "$T/$1.log" "^tlsshim\\[$pid_E\\]: .*$refused")
		wantE=1
	fi
	all=$(lines "$T/$1.log" "$refused")
	if [ "$nP" -eq "$N" ] && [ "$nG" -eq 1 ] && [ "$nH" -eq 1 ] && [ "$nC" -eq "$N" ] &&
	   [ "$nM" -eq 1 ] && [ "$nE" -eq "$wantE" ] && [ "$all" -eq $((2 * N + 3 + wantE)) ]; then
		pass "selfid_$1: $2: each process's lines carry its own id (P $nP, G $nG, H $nH, C $nC, M $nM${pid_E:+, E $nE} of $all)"
	else
		fail "selfid_$1" "$2: lines under P ($pid_P) $nP of $N, G ($pid_G) $nG of 1, H ($pid_H) $nH of 1, C ($pid_C) $nC of $N, M ($pid_M) $nM of 1${pid_E:+, E ($pid_E) $nE of 1}, $all in all$(show "$T/$1.log")"
	fi
}

if run page; then
	ids page "a CLONE_VM child that runs first in an unseen fork's child, and a clone() child"
	calls=$(sed -n 's/^getpid C //p' "$T/page.out")
	if [ "${calls% *}" -le 2 ]; then
		pass "selfid_clone_child_id_kept: the clone() child asked getpid() ${calls% *} times for $N connects"
	else
		fail selfid_clone_child_id_kept "the clone() child asked getpid() ${calls% *} times for $N connects (its id is not kept)"
	fi
	calls=$(sed -n 's/^getpid P //p' "$T/page.out")
	if [ "${calls% *}" -ge "$N" ]; then
		pass "selfid_unseen_fork_asks: the child of an unseen fork asked getpid() ${calls% *} times for $N connects (it stores no id)"
	else
		fail selfid_unseen_fork_asks "the child of an unseen fork asked getpid() ${calls% *} times for $N connects (fewer than one per check: an id was stored, or the count does not see the library's calls)"
	fi
fi
# The library initialised first in a CLONE_VM child of another library's
# constructor (preload_early.so, listed after the library: its constructor
# runs first).
if PRELOAD_EARLY_PORT=$P run early "$PROGS/preload_early.so"; then
	ids early "the library initialised in another library's constructor's CLONE_VM child"
fi
# Where madvise() accepts everything and does nothing (an emulator's), the
# library keeps no page and asks getpid() every time.
if run fake "$PROGS/preload_fakemadvise.so"; then
	ids fake "madvise ignored"
fi
