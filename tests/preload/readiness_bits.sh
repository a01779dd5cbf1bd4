#!/bin/sh
# Readiness bits besides POLLIN/POLLOUT on a TLS fd: POLLRDNORM and
# POLLWRNORM are reported as the kernel reports them on a socket, POLLRDHUP
# after the peer's FIN, and an urgent byte (outside the TLS stream, which
# nothing can read: MSG_OOB is refused) is neither shown to select's
# exception set or EPOLLPRI nor makes the wait spin (each of these was a
# kernel answer the shim hid without consuming: the wait spun until its
# time-out).
. "$TLSSHIM_TOP/tests/lib.sh"
. "$TLSSHIM_TOP/tests/preload/common.inc"

P=$(free_port)
audit_exclude "$P" "readiness_bits: the server sends a raw urgent byte (the case under test)"
policy "$T/cli.conf" <<EOC
rules = ( { name = "bits-out"; direction = "connect"; port = $P; ca = "$CERTS/ca.crt"; } );
EOC
bg "$PY" "$PYD/readiness_bits.py" server "$P" "$CERTS/server.crt" "$CERTS/server.key" >"$T/srv.out" 2>&1
srv=$!
if ! wait_for "$T/srv.out" '^listening' 15; then
	fail "readiness_bits_setup" "server never listened$(tail_of "$T/srv.out")"
	stop "$srv"
	exit 0
fi
export TLSSHIM_LOG_FILE="$T/log"
shimmed "$PY" "$PYD/readiness_bits.py" client "$P" >"$T/cli.out" 2>&1
wait_exit "$srv" 10
for c in pollrdnorm pollwrnorm pollrdhup "select urgent" "epoll urgent"; do
	name="readiness_bits_$(echo "$c" | tr ' ' _)"
	if grep -qx "$c ok" "$T/cli.out"; then
		pass "$name"
	else
		fail "$name" "$(grep "^$c" "$T/cli.out")$(tail_of "$T/cli.out" "$T/srv.out" "$TLSSHIM_LOG_FILE")"
	fi
done

# select() with sets larger than FD_SETSIZE (a program with descriptors
# past 1023, as Ruby allocates them): a TLS fd below 1024 beside an empty
# pipe at 1500 reports the TLS fd alone (the shim rewrote only the first
# 1024 bits, so the pipe's bit stayed set: "ready"), and the same
# connection at 1200 with plaintext held in the shim reports it (the
# kernel was asked alone and slept: the rest of the echo never showed).
# echo_up NAME: a fresh port $P, a connect rule for it in $T/NAME.conf and
# a TLS echo server of one connection on it (its pid in $echo, its output
# in $T/NAME.echo); false if it never listened.
echo_up() {
	P=$(free_port)
	policy "$T/$1.conf" <<EOC
rules = ( { name = "$1-out"; direction = "connect"; port = $P; ca = "$CERTS/ca.crt"; } );
EOC
	bg "$PY" "$TLSSHIM_TOP/tests/preload/tls_echo_server.py" "$P" "$CERTS/server.crt" "$CERTS/server.key" 1 >"$T/$1.echo" 2>&1
	echo=$!
	wait_for "$T/$1.echo" '^listening' 15
}
# big_case NAME CASE [JAIL]: select_big against a fresh echo server
# (echo_up NAME), $big_preload added to LD_PRELOAD: CASE passes when both
# lines are as the kernel would answer.
big_case() {
	if echo_up "$1"; then
		out=$(TLSSHIM_LOG_FILE="$T/$1.log" timeout $((30 * TS)) env LD_PRELOAD="$SHIM_PRELOAD$big_preload" \
			TLSSHIM_CONFIG="$T/$1.conf" "$PROGS/select_big" localhost "$P" ${3:+"$3"} 2>&1)
		if [ "$out" = "mixed: 1 low=1 pipe=0
high: 1 high=1" ]; then
			pass "$2"
		else
			fail "$2" "$out$(tail_of "$T/$1.log" "$T/$1.echo")"
		fi
	else
		fail "$2" "echo server never listened$(tail_of "$T/$1.echo")"
	fi
	stop "$echo"
}
big_preload=
big_case big select_sets_past_fd_setsize
# The same after a chroot into a directory whose proc/self/status says
# "FDSize: 64": the library read the fd table's size there, left the
# TLS fds past 64 out, and select waited out its 10 s on the echo's
# buffered rest ("high: 0").  Now it reads only the start root's procfs.
mkdir -p "$T/sjail/proc/self" && printf 'Name:\tx\nFDSize:\t64\n' >"$T/sjail/proc/self/status"
big_case bigjail select_sets_past_fd_setsize_after_chroot "$T/sjail"
# The same without a chroot, with another thread's dup2() of a pipe of the
# program's onto the number the library had just opened /proc/self/status
# at (tests/progs/preload_slotswap.so, right after the library's procfs
# check): at the lowest free number, the library read the program's pipe
# as the file ("FDSize: 64": "mixed: 1 low=1 pipe=1") and closed the
# program's descriptor after.  Now its descriptors of /proc files are at
# its own high numbers from the moment they are opened.
big_preload=" $PROGS/preload_slotswap.so"
TLSSHIM_TEST_SLOTSWAP_TEXT=$(printf 'Name:\tx\nFDSize:\t64\n')
export TLSSHIM_TEST_SLOTSWAP_TEXT
big_case bigswap select_bound_proc_file_never_at_program_number
unset TLSSHIM_TEST_SLOTSWAP_TEXT
big_preload=

# pwritev2() with a flag the library first tries on a socket pair of its
# own (RWF_NOSIGNAL), with another thread's dup2() of the program's
# socket pair onto that pair's number before the probe's write
# (tests/progs/preload_slotswap.so): at the lowest free numbers the
# probe's byte went onto the program's socket (and its close closed the
# program's number).  Now the pair is at the library's own numbers.
if echo_up rwf; then
	out=$(TLSSHIM_LOG_FILE="$T/rwf.log" timeout $((30 * TS)) env \
		LD_PRELOAD="$SHIM_PRELOAD $PROGS/preload_slotswap.so" \
		TLSSHIM_CONFIG="$T/rwf.conf" "$PROGS/rwfslot" localhost "$P" 2>&1)
	if [ "$out" = "leaked 0 echo 1" ]; then
		pass "rwf_probe_pair_never_at_program_number"
	else
		fail "rwf_probe_pair_never_at_program_number" "$out$(tail_of "$T/rwf.log" "$T/rwf.echo")"
	fi
else
	fail "rwf_probe_pair_never_at_program_number" "echo server never listened$(tail_of "$T/rwf.echo")"
fi
stop "$echo"

# The time-outs of ppoll, pselect, select and epoll_pwait2 on a TLS fd
# as the kernel reads them (tests/progs/timeouts.c): one past what int64
# nanoseconds hold waited for the pipe, not 0 s (2^62 s wrapped to 0) nor
# an overflow (UBSan stopped the program); a negative one, or a tv_nsec of
# a second, is EINVAL, not a wait for ever.  And the same calls through
# syscall(): the shim's answers (a byte held in the shim is ready, the
# program's epoll data), not the kernel's alone.
if echo_up to; then
	TLSSHIM_LOG_FILE="$T/to.log" timeout $((60 * TS)) env LD_PRELOAD="$SHIM_PRELOAD" \
		TLSSHIM_CONFIG="$T/to.conf" "$PROGS/timeouts" localhost "$P" >"$T/to.out" 2>&1
	for c in ppoll pselect select epoll_pwait2; do
		for k in big max neg nsec; do
			grep -qx "$c $k ok" "$T/to.out" && pass "timeout_${c}_$k" ||
				fail "timeout_${c}_$k" "$(grep "^$c $k" "$T/to.out")$(tail_of "$T/to.out" "$T/to.log")"
		done
	done
	for c in "select usec" "raw ppoll" "raw pselect6" "raw select" "raw epoll_wait" "raw mem" "raw mem pipe" "raw select norm" "recvmmsg fault" \
		"recvmmsg nsec"; do
		name="timeout_$(echo "$c" | tr ' ' _)"
		grep -qx "$c ok" "$T/to.out" && pass "$name" ||
			fail "$name" "$(grep "^$c" "$T/to.out")$(tail_of "$T/to.out" "$T/to.log")"
	done
else
	fail "timeout_setup" "echo server never listened$(tail_of "$T/to.echo")"
fi
stop "$echo"

# select() with a TLS fd in the exception set alone, after the peer's
# reset: select has no set for the error, so the kernel's select sleeps to
# its time-out; the shim returned 0 at once (a loop of selects spun).
P=$(free_port)
policy "$T/ex.conf" <<EOC
rules = ( { name = "ex-out"; direction = "connect"; port = $P; ca = "$CERTS/ca.crt"; } );
EOC
cat >"$T/ex.py" <<'PYEOF'
import select, socket, ssl, struct, sys, time
from strict_tls import strict_server_ctx, listener
if sys.argv[1] == "server":
    ctx = strict_server_ctx(sys.argv[3], sys.argv[4])
    ls = listener(int(sys.argv[2]), 1, 20)
    print("listening", flush=True)
    raw, _ = ls.accept()
    raw.settimeout(20)
    s = ctx.wrap_socket(raw, server_side=True, suppress_ragged_eofs=False)
    s.recv(1)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()
else:
    s = socket.create_connection(("localhost", int(sys.argv[2])))
    s.sendall(b"x")
    r, _, _ = select.select([s], [], [], 10)   # the reset arrives
    t = time.monotonic()
    r, w, x = select.select([], [], [s], 1.0)
    print("exception-only select:", len(r) + len(w) + len(x), "slept", "yes" if time.monotonic() - t >= 0.9 else "no")
PYEOF
bg "$PY" "$T/ex.py" server "$P" "$CERTS/server.crt" "$CERTS/server.key" >"$T/ex.srv" 2>&1
exsrv=$!
if wait_for "$T/ex.srv" '^listening' 15; then
	out=$(TLSSHIM_LOG_FILE="$T/ex.log" timeout $((30 * TS)) env LD_PRELOAD="$SHIM_PRELOAD" \
		TLSSHIM_CONFIG="$T/ex.conf" "$PY" "$T/ex.py" client "$P" 2>&1)
	if [ "$out" = "exception-only select: 0 slept yes" ]; then
		pass "select_exception_set_only_after_reset_sleeps"
	else
		fail "select_exception_set_only_after_reset_sleeps" "$out$(tail_of "$T/ex.log" "$T/ex.srv")"
	fi
else
	fail "select_exception_set_only_after_reset_sleeps" "server never listened$(tail_of "$T/ex.srv")"
fi
stop "$exsrv"
