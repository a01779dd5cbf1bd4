#!/bin/sh
# The counts the wrappers walk, taken as the kernel takes them
# (tests/progs/counts.c; each array ends at an unreadable page, so an
# entry read past the kernel's count faults, in every build):
#  - poll/ppoll's nfds is the kernel's unsigned int: with bit 32 set and
#    one entry (the TLS connection, or a plain pipe), the answer is the
#    kernel's for that one entry; also through syscall(SYS_poll/SYS_ppoll).
#    Before h213 the wrappers walked the whole nfds_t: a fault, or ENOMEM
#    (an array of 2^32 entries), and a decision on another set than the
#    kernel's.
#  - syscall(SYS_readv/SYS_writev)'s count is the kernel's unsigned long:
#    bit 32 set is above UIO_MAXIOV, EINVAL, nothing read or written
#    (before, the wrapper got its low 32 bits, one buffer, and moved it).
#  - epoll_wait's maxevents above EP_MAX_EVENTS: EINVAL, as the kernel
#    (before, a managed instance answered).
# With the AddressSanitizer build, libasan, preloaded first, has poll and
# ppoll interceptors of its own in front of the library's (syscall()'s
# calls to them too) that walk the whole nfds_t themselves (libsanitizer's
# read_pollfd: the same overread): poll, ppoll and poll-plain call the
# library's own functions there (X_DIRECT), and sys-poll and sys-ppoll
# are not run.
. "$TLSSHIM_TOP/tests/lib.sh"
. "$TLSSHIM_TOP/tests/preload/common.inc"

CASES="poll ppoll sys-poll sys-ppoll poll-plain sys-readv sys-writev epoll-max"
if asan_build; then
	for c in sys-poll sys-ppoll; do
		pass "counts: $c: not run with ASan (its own poll interceptor reads the whole nfds_t)"
	done
	CASES="poll ppoll poll-plain sys-readv sys-writev epoll-max"
	export X_DIRECT=1
fi
P=$(free_port)
policy "$T/c.conf" <<EOC
rules = ( { name = "counts-out"; direction = "connect"; port = $P; ca = "$CERTS/ca.crt"; } );
EOC
bg "$PY" "$TLSSHIM_TOP/tests/preload/tls_echo_server.py" "$P" "$CERTS/server.crt" "$CERTS/server.key" \
	"$(echo $CASES | wc -w)" >"$T/srv.out" 2>&1
srv=$!
if ! wait_for "$T/srv.out" '^listening' 15; then
	fail "counts: setup" "the echo server never listened$(tail_of "$T/srv.out")"
	stop "$srv"
	exit 0
fi
for c in $CASES; do
	out=$(TLSSHIM_LOG_FILE="$T/$c.log" timeout -k 2 $((30 * TS)) env LD_PRELOAD="$SHIM_PRELOAD" \
		TLSSHIM_CONFIG="$T/c.conf" "$PROGS/counts" "$c" "$P" 2>&1)
	rc=$?
	if [ $rc -eq 0 ] && [ "$out" = "$c ok" ]; then
		pass "counts: $c: the kernel's count (bit 32 of the count set)"
	else
		fail "counts: $c: the kernel's count" "exit $rc: $(echo "$out" | tr '\n' ' ')$(tail_of "$T/$c.log")"
	fi
done
wait_exit "$srv" 20
