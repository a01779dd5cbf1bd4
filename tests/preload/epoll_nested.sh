#!/bin/sh
# An epoll instance waited for inside poll, select or another epoll
# instance (a libuv loop's backend fd embedded in another loop): a TLS fd
# in it with plain text held inside the shim makes it readable, though the
# kernel sees nothing to read (it slept until its time-out).
. "$TLSSHIM_TOP/tests/lib.sh"
. "$TLSSHIM_TOP/tests/preload/common.inc"

P=$(free_port)
policy "$T/cli.conf" <<EOC
rules = ( { name = "nested-out"; direction = "connect"; port = $P; ca = "$CERTS/ca.crt"; } );
EOC
bg "$PY" "$PYD/epoll_nested.py" server "$P" "$CERTS/server.crt" "$CERTS/server.key" >"$T/srv.out" 2>&1
srv=$!
if ! wait_for "$T/srv.out" '^listening' 15; then
	fail "epoll_nested_setup" "server never listened$(tail_of "$T/srv.out")"
	stop "$srv"
	exit 0
fi
export TLSSHIM_LOG_FILE="$T/log"
shimmed "$PY" "$PYD/epoll_nested.py" client "$P" >"$T/cli.out" 2>&1
wait_exit "$srv" 10
for m in poll select epoll epoll_oneshot; do
	name="epoll_nested_in_${m}_sees_plaintext_inside"
	if grep -qx "$m ok" "$T/cli.out"; then
		pass "$name"
	else
		fail "$name" "$(grep "^$m" "$T/cli.out")$(tail_of "$T/cli.out" "$T/srv.out" "$TLSSHIM_LOG_FILE")"
	fi
done
if grep -qx "epoll_et_unread ok" "$T/cli.out"; then
	pass "epoll_nested_et_outer_unread_plaintext_no_busy_loop"
else
	fail "epoll_nested_et_outer_unread_plaintext_no_busy_loop" "$(grep "^epoll_et_unread" "$T/cli.out")$(tail_of "$T/cli.out")"
fi

# An inner instance closed in one thread while others wait for it from
# outside (poll on its number, an outer instance's wait): the shim's look
# into it (shim_epoll_pending) used the freed instance when the close won
# the race (heap corruption, or ASan's use-after-free, within seconds).
name=epoll_nested_inner_closed_while_waited_for
if [ -x "$PROGS/epoll_nested_close" ]; then
	out=$(shimmed "$PROGS/epoll_nested_close" 50000 2>"$T/close.err"); rc=$?
	if [ "$rc" = 0 ] && [ "$out" = "ok 50000" ]; then
		pass "$name"
	else
		fail "$name" "exit $rc, output '$out'$(tail_of "$T/close.err")"
	fi
else
	fail "$name" "$PROGS/epoll_nested_close missing (make test-build)"
fi

# An instance closed (and its number taken by a new one) while other
# threads are inside epoll_wait and epoll_ctl on it: legal, the kernel's
# waiter keeps the instance.  The shim's wait and ctl locked the instance
# they had loaded before the close freed it (glibc abort, a hang on the
# freed lock, or ASan's use-after-free within 3,000 rounds).
name=epoll_wait_ctl_on_instance_closed_meanwhile
if [ -x "$PROGS/epoll_wait_close" ]; then
	out=$(shimmed "$PROGS/epoll_wait_close" 3000 2>"$T/wclose.err"); rc=$?
	if [ "$rc" = 0 ] && [ "$out" = "ok 3000" ]; then
		pass "$name"
	else
		fail "$name" "exit $rc, output '$out'$(tail_of "$T/wclose.err")"
	fi
else
	fail "$name" "$PROGS/epoll_wait_close missing (make test-build)"
fi

# An instance's number closed by close_range() or by dup2() onto it, then
# taken by a plain file (an eventfd, a pipe): the shim forgot the instance
# only at close(), so a poll() of the new file asked the old instance and
# said POLLIN for its failed TLS fd (a read of the eventfd or pipe then
# blocks for ever).  The program listens on $P in clear (the server above
# is gone) and fails its own TLS client there.  And a dup() of an instance
# names the same instance: a wait through the copy gave the program the
# shim's own event data (the fd's number: 0x4 for 0xabcd), a pointer to
# nowhere for a program that keeps one there.
name=epoll_number_closed_by_close_range_or_dup2_forgotten
name2=epoll_dup_of_an_instance_is_the_same_instance
if [ -x "$PROGS/epoll_stale_number" ]; then
	out=$(shimmed "$PROGS/epoll_stale_number" "$P" 2>"$T/stale.err"); rc=$?
	if [ "$rc" = 0 ] && [ "${out% dup *}" = "control 1 close_range 0 dup2 0" ]; then
		pass "$name"
	else
		fail "$name" "exit $rc, output '$out'$(tail_of "$T/stale.err")"
	fi
	if [ "$rc" = 0 ] && [ "${out##* dup }" = 1 ]; then
		pass "$name2"
	else
		fail "$name2" "exit $rc, output '$out'$(tail_of "$T/stale.err")"
	fi
else
	fail "$name" "$PROGS/epoll_stale_number missing (make test-build)"
fi

# A thread held inside a managed epoll_wait or fcntl(F_DUPFD) while another
# closes the instance (preload_epollgate.so holds the call at the point the
# case needs; tests/progs/epoll_gate.c says what each case does).  The wait
# asked the kernel by the number after its last check: a new instance made
# at the number in between was asked instead, and its event handed over
# with the old registration's data (reuse: 0xa0, for an EPOLLIN the old
# registration never asked for; an eventfd there: EINVAL).  A fork while a
# thread waited left the instance referenced for ever in the child (fork:
# its tables kept after the child's close; fork_closed: one closed before
# the fork kept though nothing names it).  A copy made while the original
# was being closed was left unmanaged (dupfd: the shim's data, the fd's
# number 0x9) or named the instance made next at the number (dupfd_reuse:
# its data, 0xb1).  The library's own copy of an instance's fd given to
# epoll_ctl as the fd to register (own_target) was taken: the program's
# data came back with the events of a file it never opened.  A dup2 onto
# the number of an instance's copy when the library's 64 high numbers are
# all taken (dodge_full: 70 instances, soft limit 1024) left the copy
# where it was: the instance's waits asked the program's pipe (EINVAL).
# A successful epoll_create1 left errno at the copy's failure (errno_kept:
# EINVAL under a lowered limit, EMFILE with the table full).
if [ -x "$PROGS/epoll_gate" ] && [ -f "$PROGS/preload_epollgate.so" ]; then
	for c in reuse reuse_other fork fork_closed dupfd dupfd_reuse own_target dodge_full errno_kept; do
		name=epoll_held_call_$c
		out=$(SHIM_PRELOAD="$SHIM_PRELOAD $PROGS/preload_epollgate.so" shimmed "$PROGS/epoll_gate" $c 2>"$T/gate.err"); rc=$?
		if [ "$rc" = 0 ] && [ "$out" = "$c ok" ]; then
			pass "$name"
		else
			fail "$name" "exit $rc, output '$out'$(tail_of "$T/gate.err")"
		fi
	done
else
	fail "epoll_held_call" "$PROGS/epoll_gate or preload_epollgate.so missing (make test-build)"
fi
