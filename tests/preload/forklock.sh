#!/bin/sh
# fork() while another thread is inside the shim: the atfork handlers take
# every lock of the shim (epoll table and instances, registry, each
# connection, linger, resolver) in one global order and release them in
# parent and child, so a child never inherits a lock held mid-operation.
# 300 forks while a thread polls a TLS fd; each child closes that fd.
. "$TLSSHIM_TOP/tests/lib.sh"
P=$(free_port)
policy "$T/p.conf" <<EOC
rules = ( { name = "fl-in"; direction = "accept"; port = $P;
            cert = "$CERTS/server.crt"; key = "$CERTS/server.key"; } );
EOC
out=$(TLSSHIM_LOG_FILE="$T/log" timeout $((120 * TS)) env LD_PRELOAD="$SHIM_PRELOAD" TLSSHIM_CONFIG="$POLICY" \
	"$PROGS/fork_stress" "$P" 300 2>&1)
if [ "$out" = "300 forks, 0 hung" ]; then
	pass "300 forks while a thread is inside the shim: no child hangs on an inherited lock"
else
	fail "fork while locked" "$out $(cat "$T/log")"
fi
# A copy of the process made past fork() (syscall(SYS_clone) or clone()),
# right after the first TLS connection: vsftpd's listener accept()s and
# clones its session process at once (CLONE_NEWIPC), while the linger
# thread, started by that connection, may hold its lock for a moment.
# The C library runs no fork handler for such a clone, so the child kept
# the lock held for ever, and its first new TLS connection (vsftpd's
# passive data connection) waited on it: the client timed out after "230
# Login successful".  preload_lingerhold.so holds the thread's lock until
# the clone is done, or until the cloning thread asks for it (the library
# now runs its own fork handlers around such a clone).
for how in syscall clone; do
	out=$(TLSSHIM_LOG_FILE="$T/log.$how" timeout $((60 * TS)) env LD_PRELOAD="$SHIM_PRELOAD $PROGS/preload_lingerhold.so" \
		LINGERHOLD_S=$((10 * TS)) TLSSHIM_CONFIG="$POLICY" "$PROGS/clone_linger" "$P" "$how" 2>&1)
	if [ "$out" = "child accepted and exited" ]; then
		pass "clone_linger_$how: a copy made by $how() while the linger thread held its lock makes its next TLS connection"
	else
		fail "clone_linger_$how" "$out $(cat "$T/log.$how")"
	fi
done
# fork() while another thread of the program walks the loaded objects
# (dl_iterate_phdr, as an unwinder does): glibc does not reset the loader's
# lock in the child, and the library's pthread_create looked at the
# objects with dl_iterate_phdr, so each child's first pthread_create
# waited on that lock for ever (19-20 of 20 children hung; none without
# the library).  A child now looks only once it has loaded something.
# The default build only: AddressSanitizer's runtime walks the objects
# itself when a thread starts, and hangs such a child without the library
# (libasan alone: 1 of 20 children hung); ThreadSanitizer reports a thread
# created in a child of a threaded fork ("dup thread with used id").
case "${ASAN_OPTIONS:-}${TSAN_OPTIONS:-}" in *exitcode=86*|*exitcode=66*) exit 0 ;; esac
out=$(TLSSHIM_LOG_FILE="$T/log2" timeout $((120 * TS)) env LD_PRELOAD="$SHIM_PRELOAD" TLSSHIM_CONFIG="$POLICY" \
	"$PROGS/fork_stress" walk 20 2>&1)
if [ "$out" = "20 forks, 0 hung" ]; then
	pass "20 forks while a thread walks the loaded objects: each child's pthread_create returns"
else
	fail "fork while the loader's lock is held: the child's pthread_create" "$out $(cat "$T/log2")"
fi
