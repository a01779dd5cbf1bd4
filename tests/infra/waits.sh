#!/bin/sh
# tests/infra/waits.sh — tests/lib.sh's wait_for and common.inc's
# wait_lines (tests/progs/waitlines): the same meaning as the grep loop
# they replace, without a fork per look.
#  * a line appended while the wait runs ends it (0), also one without its
#    newline yet, also in a file created after the wait started;
#  * a file rewritten (truncated, then other lines) is read as it is now;
#  * several waiters on one file, each for its own line, all end with 0;
#  * no match within the bound: 1 (also for a file that never appears);
#  * wait_lines: at least N lines, case-blind, as lines() counts them;
#  * wait_exit (tests/progs/waitexit): the child's status, or 124 and
#    the child stopped past the bound;
#  * wait_listen (tests/progs/waitlisten): 0 for an IPv4 or IPv6 listener,
#    also one that comes after the wait started; 1 at its bound;
#  * _tree finds every descendant; wait_children: 1 while they live, 0
#    once they have ended;
#  * a wait forks no process per look: the processes created in this PID
#    namespace (the last pid, /proc/loadavg) during a 1-s wait that times
#    out are a few, not the grep and sleep (wait_exit: the sleep) ten times
#    a second of before.
# The library is not loaded here (tests/lib.sh's own helpers and
# tests/progs' tools, the same for every build): the first build only.
# tlsshim-test: once
. "$TLSSHIM_TOP/tests/lib.sh"
. "$TLSSHIM_TOP/tests/preload/common.inc"

# bound1 CMD...: a wait that must time out, with its bound not scaled
# (TS=1: its 1 s is 1 s, not 3): what it proves is the same at any bound,
# and the seven of them took 21 s of this script's 23 before.
bound1() { _b1_ts=$TS; TS=1; "$@"; _b1_rc=$?; TS=$_b1_ts; return $_b1_rc; }

# waiter NAME FILE REGEX: wait_for in the background; its pid in $!.
waiter() { ( wait_for "$2" "$3" 10; echo "$1 $?" >"$T/rc.$1" ) & }

# in the background, then the line: the wait must see it arrive
: >"$T/log"
waiter a "$T/log" '^ready'
WA=$!
waiter b "$T/log" '^second$'
WB=$!
waiter c "$T/log" 'third'
WC=$!
waiter d "$T/new/file" '^made'
WD=$!
printf 'noise\n' >>"$T/log"
printf 'ready 1\n' >>"$T/log"
printf 'second\n' >>"$T/log"
printf 'third, no newline' >>"$T/log"
mkdir "$T/new" && printf 'made\n' >"$T/new/file"
for w in "$WA a" "$WB b" "$WC c" "$WD d"; do
	set -- $w
	wait_exit "$1" 30
	if [ "$(cat "$T/rc.$2" 2>/dev/null)" = "$2 0" ]; then :; else fail "parallel waiters" "waiter $2: $(cat "$T/rc.$2" 2>/dev/null)"; W_BAD=1; fi
done
[ -n "${W_BAD:-}" ] || pass "four waiters on lines appended later (one without its newline, one in a file made later) all end with 0"

# rewritten: the old content is gone, the new one is seen
printf 'old\n' >"$T/rw"
waiter r "$T/rw" '^new$'
WR=$!
printf 'new\n' >"$T/rw"
wait_exit "$WR" 30
check "a truncated and rewritten file is read as it is now" [ "$(cat "$T/rc.r" 2>/dev/null)" = "r 0" ]

# the bound
printf 'nothing here\n' >"$T/none"
bound1 wait_for "$T/none" '^ready' 1
rc=$?
check "no match within the bound: 1" [ "$rc" = 1 ]
bound1 wait_for "$T/absent" '.' 1
rc=$?
check "a file that never appears: 1" [ "$rc" = 1 ]

# wait_lines
printf 'Accept\nx\naccept\nACCEPT y\n' >"$T/wl"
wait_lines "$T/wl" '^accept' 3 1
rc=$?
bound1 wait_lines "$T/wl" '^accept' 4 1
rc4=$?
check "wait_lines: 3 case-blind lines are there (0), a 4th never comes (1)" [ "$rc" = 0 ] && [ "$rc4" = 1 ]

# forks: the last pid of this namespace before and after a 1-s wait
# that times out: the grep loop made two processes a look
read -r _l1 _l5 _l15 _lr last0 </proc/loadavg
bound1 wait_for "$T/none" '^ready' 1
read -r _l1 _l5 _l15 _lr last1 </proc/loadavg
made=$((last1 - last0))
if [ "$made" -ge 0 ] && [ "$made" -le 5 ]; then
	pass "a wait that times out made $made processes (no fork per look)"
else
	fail "a wait forks per look" "$made processes in one 1-s wait (last pid $last0 -> $last1)"
fi

# wait_exit: the child's status when it ends within the bound; 124 and
# the child stopped when it does not; and no fork per look in between
mkfifo "$T/fifo"
sh -c 'read -r x <"$1"; exit 7' _ "$T/fifo" &
C=$!
_bg_pids="$_bg_pids $C"
echo go >"$T/fifo" &
wait_exit "$C" 10
rc=$?
check "wait_exit: the child's exit status (7)" [ "$rc" = 7 ]
bg sleep 1000
S=$!
read -r _l1 _l5 _l15 _lr last0 </proc/loadavg
bound1 wait_exit "$S" 1
rc=$?
read -r _l1 _l5 _l15 _lr last1 </proc/loadavg
made=$((last1 - last0))
# (the stop after the bound forks a few: a sleep, forget's sed)
if [ "$rc" = 124 ] && ! alive "$S" && [ "$made" -ge 0 ] && [ "$made" -le 10 ]; then
	pass "wait_exit past its bound: 124, the child stopped, $made processes made (no fork per look)"
else
	fail "wait_exit past its bound" "status $rc, $made processes made (last pid $last0 -> $last1)"
fi

# wait_listen (tests/progs/waitlisten): 0 once something listens (IPv4 or
# IPv6), also a listener that comes after the wait started; 1 at its
# bound; and no fork per look during a 1-s wait that times out (the loop
# forked a sleep ten times a second)
P4=$(free_port)
P6=$(free_port)
PN=$(free_port)
( wait_listen "$P4" 10; echo "$?" >"$T/rc.l4" ) &
WL=$!
listener() {
	exec "$PY" -c 'import socket, sys, time
s = socket.socket(socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET)
s.bind((sys.argv[1], int(sys.argv[2]))); s.listen(1); print("up", flush=True); time.sleep(60)' "$@"
}
bg listener 127.0.0.1 "$P4" >"$T/l4.out"
L4=$!
bg listener ::1 "$P6" >"$T/l6.out"
L6=$!
wait_exit "$WL" 30
check "wait_listen: a listener that comes after the wait started ends it (0)" [ "$(cat "$T/rc.l4" 2>/dev/null)" = 0 ]
wait_for "$T/l6.out" '^up' 10
wait_listen "$P6" 1
check "wait_listen: an IPv6 listener (0)" [ $? = 0 ]
read -r _l1 _l5 _l15 _lr last0 </proc/loadavg
bound1 wait_listen "$PN" 1
rc=$?
read -r _l1 _l5 _l15 _lr last1 </proc/loadavg
made=$((last1 - last0))
if [ "$rc" = 1 ] && [ "$made" -ge 0 ] && [ "$made" -le 5 ]; then
	pass "wait_listen on a port nobody listens on: 1 at its bound, $made processes made (no fork per look)"
else
	fail "wait_listen past its bound" "status $rc, $made processes made (last pid $last0 -> $last1)"
fi
stop "$L4"
stop "$L6"

# _tree and wait_children: every descendant (a grandchild too) is found,
# the wait ends once they have all ended
sh -c 'sleep 60 & sh -c "sleep 60 & wait" & wait' &
TR=$!
_bg_pids="$_bg_pids $TR"
n=0
while [ $n -lt 100 ]; do
	_tree "$TR"
	set -- $_tree
	[ $# -ge 4 ] && break
	n=$((n + 1))
	sleep 0.05
done
check "_tree: the root, its 2 children and its grandchild ($_tree)" [ $# = 4 ]
bound1 wait_children "$TR" 1
check "wait_children with descendants alive: 1" [ $? = 1 ]
kids=""
for p in $_tree; do [ "$p" != "$TR" ] && kids="$kids $p"; done
# shellcheck disable=SC2086
kill $kids 2>/dev/null
wait_children "$TR" 10
check "wait_children once they ended: 0" [ $? = 0 ]
wait_exit "$TR" 10 >/dev/null
