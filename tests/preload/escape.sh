#!/bin/sh
# Sockets that could escape classification:
#  - a connect() still in progress (SYN_SENT) when the socket changes
#    hands, by SCM_RIGHTS or pidfd_getfd(), to a process that runs the
#    shim: getpeername() says ENOTCONN until the connection is made, and
#    the receiver must still know it for a TLS one (its destination from
#    the kernel's table), so that what it writes once connected is TLS;
#    also when the connection completes between the library's
#    getpeername() and its TCP_INFO (preload_synrace.so holds that
#    window open), and for an MPTCP socket (its first subflow is in the
#    table under the socket's inode).
#  - a connected socket a process without the shim made, inherited across
#    exec by one with it, under a policy whose accept rule for every
#    address says plain and whose connect rule names the peer: it
#    connected out (no listener on its local port), so the connect rule
#    applies (TLS); an accepted one (its listener still open) stays plain.
#  - a FILE that fdopen() made on a number before a TLS session came to
#    it (fdopen on the socket, then connect; or fdopen on a pipe, then
#    dup2 of a TLS fd onto it): stdio writes there with the C library's
#    own calls, so that session goes to a pump, as on fds 0-2; also when
#    a signal interrupts the TLS handshake of a blocking connect() there
#    (EINTR, the connection goes on).  fdopen() past the connection table
#    (RLIMIT_NOFILE raised after start-up) works as without the library.
#  - liburing, which makes its system calls itself (never through
#    syscall()): a ring connects and sends past every wrapper, so making
#    one fails with ENOSYS while the policy has TLS rules, and works
#    without them.
#  - the C library's functions taken through its own handle (Python's
#    ctypes.CDLL("libc.so.6"), dlvsym): they must be the wrappers; while
#    RTLD_NEXT in a later preload library and a plug-in's own symbols are
#    left as they were.
# A real TLS echo peer behind a recording relay (for the first, one that
# holds the connection in SYN_SENT: backlog 0, a filler, a gate); the wire
# must carry TLS only.
. "$TLSSHIM_TOP/tests/lib.sh"
. "$TLSSHIM_TOP/tests/preload/failclosed_common.inc"
need_shim

if ! fc_start peer --mode echo; then
	fail "escape: setup" "peer or relay did not start $(show "$T/peer.srv.out" "$T/peer.relay.out")"
	exit 1
fi

# echo_case NAME CONF PASS FAIL CMD...: CMD under the library with the
# policy CONF (its log $T/NAME.log) against the echo peer: PASS (with the
# audit's figures) when it printed "echo ok" and every byte of its
# connection on the wire was TLS; otherwise FAIL.
echo_case() {
	_n=$1 _c=$2 _p=$3 _f=$4
	shift 4
	out=$(TLSSHIM_LOG_FILE="$T/$_n.log" timeout -k 2 $((20 * TS)) env LD_PRELOAD="$SHIM_PRELOAD" \
		TLSSHIM_CONFIG="$_c" "$@" 2>&1)
	srv_settled peer 1 5
	fc_collect peer "$_n"
	fc_wire "$_n" --min-conns 1
	_w=$?
	if [ "$out" = "echo ok" ] && [ $_w -eq 0 ]; then
		pass "$_p ($WIRE_OUT)"
	else
		fail "$_f" "$out; $WIRE_OUT; log: $(log_tail "$T/$_n.log")"
	fi
}

# ---- a connection in progress changes hands ------------------------------------
# (race: by SCM_RIGHTS, and preload_synrace.so makes the connection
# complete between the library's getpeername(), ENOTCONN, and its TCP_INFO)
# (scm-foreign: the socket says SCTP to the receiving process, whose
# TCP_INFO fails, as SCTP's does: whether it is connecting cannot be told,
# so it is refused; the old library took it for "not connected", plain)
for how in scm pidfd race scm-mptcp scm-foreign; do
	RG=$(fc_ports 1)
	rm -f "$T/gate"
	mkdir -p "$T/gated.wire"
	bg "$PY" "$WIRE" relay --port "$RG" --to "$Q" --dir "$T/gated.wire" --backlog 0 \
		--gate "$T/gate" >"$T/gated.relay.out" 2>&1
	GATED=$!
	policy "$T/conn.conf" <<EOC
rules = ( { name = "conn-out"; direction = "connect"; port = $RG; address = "127.0.0.1/32";
            ca = "$CERTS/ca.crt"; } );
EOC
	if ! wait_for "$T/gated.relay.out" '^ready' 10; then
		fail "connecting socket passed by $how" "relay did not start"
		stop "$GATED"
		continue
	fi
	bg "$PY" "$WIRE" hold --port "$RG" --secs 25 >"$T/filler.out" 2>&1
	FILLER=$!
	wait_for "$T/filler.out" '^connected' 10
	pre=$SHIM_PRELOAD hw=$how
	[ "$how" = race ] && pre="$SHIM_PRELOAD $PROGS/preload_synrace.so" hw=scm
	[ "$how" = scm-foreign ] && pre=""
	out=$(TLSSHIM_LOG_FILE="$T/conn-$how.log" SYNRACE_GATE="$T/gate" \
		FOREIGN_PRELOAD="$SHIM_PRELOAD $PROGS/preload_lookupfail.so" timeout -k 2 $((20 * TS)) \
		env LD_PRELOAD="$pre" TLSSHIM_CONFIG="$T/conn.conf" "$PY" "$PYD/connecting_pass.py" "$hw" \
		"$RG" "$T/gate" "$SENT" "$T" 2>&1 | tr '\n' ' ')
	# (the race's connection is made before the script asks its state)
	[ "$how" = race ] && out=$(printf '%s' "$out" | sed 's/^state other 1 /state syn-sent /')
	stop "$FILLER"
	srv_settled peer 1 5
	stop "$GATED"
	fc_collect peer "conn-$how"
	fc_collect gated "conn-$how"
	fc_wire "conn-$how" --min-conns 1
	wrc=$?
	case "$out" in
	"state unknown: ENOPROTOOPT echo failed: [Errno 104] Connection reset by peer ")
		if [ $wrc -eq 0 ] && grep -q 'error: fd [0-9]* (not made through this library): a socket over protocol 132, not TCP .* whether it is being connected, and to where, cannot be told while connect rules exist; refused' "$T/conn-$how.log"; then
			pass "a connect() in progress over SCTP passed by scm: refused, nothing sent ($WIRE_OUT)"
		else
			fail "connecting SCTP socket passed by scm: refused" "$out; $WIRE_OUT; log: $(log_tail "$T/conn-$how.log")"
		fi ;;
	*"pidfd_getfd failed"*)
		pass "connecting socket taken with pidfd_getfd: not testable here ($out)" ;;
	"state syn-sent echo ok ")
		if [ $wrc -eq 0 ]; then
			pass "a connect() in progress passed by $how to a process with the shim: TLS once connected ($WIRE_OUT)"
		else
			fail "connecting socket passed by $how" "$out; $WIRE_OUT"
		fi ;;
	*)
		fail "connecting socket passed by $how: TLS once connected" "$out; $WIRE_OUT; log: $(log_tail "$T/conn-$how.log")" ;;
	esac
done

# ---- inherited across exec from a process without the shim -----------------------
policy "$T/inh.conf" <<EOC
rules = ( { name = "in-any"; direction = "accept"; action = "plain"; },
          { name = "inh-out"; direction = "connect"; port = $R; address = "127.0.0.1/32";
            ca = "$CERTS/ca.crt"; },
          { name = "inh-loop"; direction = "connect"; address = "127.0.0.1/32"; ca = "$CERTS/ca.crt"; } );
EOC
out=$(X_PRELOAD="$SHIM_PRELOAD" TLSSHIM_CONFIG="$T/inh.conf" TLSSHIM_LOG_FILE="$T/inh-out.log" \
	timeout -k 2 $((20 * TS)) "$PY" "$PYD/inherit_exec.py" out "$R" "$SENT" 2>&1)
srv_settled peer 1 5
fc_collect peer inh-out
fc_wire inh-out --min-conns 1
wrc=$?
if [ "$out" = "echo ok" ] && [ $wrc -eq 0 ]; then
	pass "a connection made out without the shim, inherited by a process with it, under an accept rule plain for every address: the connect rule applies, TLS ($WIRE_OUT)"
else
	fail "a connection made out, inherited, accept rule plain for every address" "$out; $WIRE_OUT; log: $(log_tail "$T/inh-out.log")"
fi
IP=$(fc_ports 1)
audit_exclude "$IP" "a plain client accepted under a plain accept rule (inh-loop names its address)"
out=$(X_PRELOAD="$SHIM_PRELOAD" TLSSHIM_CONFIG="$T/inh.conf" TLSSHIM_LOG_FILE="$T/inh-in.log" \
	timeout -k 2 $((20 * TS)) "$PY" "$PYD/inherit_exec.py" in "$IP" "$SENT" 2>&1)
if [ "$out" = "echo ok" ]; then
	pass "an accepted connection (its listener open), inherited likewise: plain, as its accept rule says"
else
	fail "an accepted connection inherited under an accept rule plain for every address" "$out; log: $(log_tail "$T/inh-in.log")"
fi

# The same accepted connection, with another thread's dup2() of a pipe of
# the program's onto the number the library had just opened
# /proc/self/net/tcp at (tests/progs/preload_slotswap.so, before its first
# read; the pipe holds a table without the listener): at the lowest free
# number, the library read the program's pipe as the table, found no
# listener, and made the accepted connection a TLS client of the connect
# rule (the plain client got a ClientHello).  Now the table is read at
# the library's own high numbers.
out=$(X_PRELOAD="$SHIM_PRELOAD $PROGS/preload_slotswap.so" TLSSHIM_CONFIG="$T/inh.conf" \
	TLSSHIM_TEST_SLOTSWAP_TEXT="$(printf '  sl  local_address rem_address   st\n')" \
	TLSSHIM_LOG_FILE="$T/inh-swap.log" timeout -k 2 $((20 * TS)) "$PY" "$PYD/inherit_exec.py" in "$IP" "$SENT" 2>&1)
if [ "$out" = "echo ok" ]; then
	pass "tcp_table_never_read_at_program_number: an accepted connection inherited, its TCP table read where no dup2 reaches: plain, as its accept rule says"
else
	fail "tcp_table_never_read_at_program_number" "$out; log: $(log_tail "$T/inh-swap.log")"
fi

# ---- a FILE made before the session ------------------------------------------------
cat >"$T/fdo.c" <<'EOC'
/* fdo before|dup2 PORT SENTINEL: a FILE on the number first, then a TLS
 * connection there; fputs a line, fflush, read its echo. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	char line[256], got[256] = "";
	FILE *f;
	int s, p[2];

	if (argc < 4)
		return 2;
	a.sin_port = htons((unsigned short)atoi(argv[2]));
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	s = socket(AF_INET, SOCK_STREAM, 0);
	if (!strcmp(argv[1], "before")) {
		f = fdopen(s, "r+");
		if (!f || connect(s, (struct sockaddr *)&a, sizeof a) < 0) {
			printf("fdopen/connect: %s\n", strerror(errno));
			return 1;
		}
	} else {
		if (pipe(p) < 0 || !(f = fdopen(p[1], "w")) ||
		    connect(s, (struct sockaddr *)&a, sizeof a) < 0 || dup2(s, p[1]) != p[1]) {
			printf("pipe/fdopen/connect/dup2: %s\n", strerror(errno));
			return 1;
		}
		close(s);
	}
	snprintf(line, sizeof line, "%s stdio-%s\n", argv[3], argv[1]);
	if (fputs(line, f) < 0 || fflush(f) != 0) {
		printf("fputs/fflush: %s\n", strerror(errno));
		return 1;
	}
	/* The echo with read() on the number (the FILE may be write-only). */
	for (size_t have = 0; have < strlen(line) && have < sizeof got - 1;) {
		ssize_t r = read(fileno(f), got + have, strlen(line) - have);
		if (r <= 0)
			break;
		have += (size_t)r;
	}
	if (strcmp(got, line)) {
		printf("echo bad: \"%.60s\"\n", got);
		return 1;
	}
	printf("echo ok\n");
	return 0;
}
EOC
if ! cc -o "$T/fdo" "$T/fdo.c" 2>"$T/fdo.cc"; then
	fail "a FILE made before the session" "cannot build it: $(head -c 300 "$T/fdo.cc")"
else
	fc_policy "$T/fdo.conf"
	for how in before dup2; do
		echo_case "fdo-$how" "$T/fdo.conf" \
			"stdio on a FILE made before the TLS session came to its number ($how): over TLS" \
			"stdio on a FILE made before the TLS session ($how)" "$T/fdo" "$how" "$R" "$SENT"
	done
fi

# ---- a FILE on the number, a blocking connect() interrupted by a signal ------------
# The TLS handshake of a blocking connect() is interrupted (EINTR; the
# connection goes on, as TCP's does): what stdio writes on a FILE of that
# number (fdopen's, or stderr) must still go through the session.
cat >"$T/fdi.c" <<'EOC'
/* fdi fdopen|stderr PORT SENTINEL GATE: a FILE on the socket's number,
 * a blocking connect() whose handshake a SIGALRM interrupts (the relay
 * holds the connection until GATE exists), then GATE, fputs, fflush and
 * the echo read back. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

static void on_alarm(int sig)
{
	(void)sig;
}

int main(int argc, char **argv)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	struct sigaction sa = { .sa_handler = on_alarm };       /* no SA_RESTART */
	struct itimerval it = { .it_value = { 0, 300000 } };
	char line[256], got[256] = "";
	FILE *f;
	int s, r, g;

	if (argc < 5)
		return 2;
	a.sin_port = htons((unsigned short)atoi(argv[2]));
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sigaction(SIGALRM, &sa, NULL);
	s = socket(AF_INET, SOCK_STREAM, 0);
	if (!strcmp(argv[1], "stderr")) {
		if (dup2(s, 2) != 2)
			return 1;
		close(s);
		s = 2;
		f = stderr;
	} else if (!(f = fdopen(s, "r+"))) {
		printf("fdopen: %s\n", strerror(errno));
		return 1;
	}
	setitimer(ITIMER_REAL, &it, NULL);
	r = connect(s, (struct sockaddr *)&a, sizeof a);
	if (r == 0 || errno != EINTR) {
		printf("connect: %s (EINTR expected)\n", r ? strerror(errno) : "0");
		return 1;
	}
	if ((g = open(argv[4], O_WRONLY | O_CREAT, 0600)) >= 0)
		close(g);
	snprintf(line, sizeof line, "%s stdio-eintr-%s\n", argv[3], argv[1]);
	if (fputs(line, f) < 0 || fflush(f) != 0) {
		printf("fputs/fflush: %s\n", strerror(errno));
		return 1;
	}
	for (size_t have = 0; have < strlen(line) && have < sizeof got - 1;) {
		ssize_t n = read(s, got + have, strlen(line) - have);
		if (n <= 0)
			break;
		have += (size_t)n;
	}
	if (strcmp(got, line)) {
		printf("echo bad: \"%.60s\"\n", got);
		return 1;
	}
	printf("echo ok\n");
	return 0;
}
EOC
if ! cc -o "$T/fdi" "$T/fdi.c" 2>"$T/fdi.cc"; then
	fail "a FILE on the number, connect() interrupted" "cannot build it: $(head -c 300 "$T/fdi.cc")"
else
	for how in fdopen stderr; do
		RG=$(fc_ports 1)
		rm -f "$T/gate-i"
		mkdir -p "$T/gatedi.wire"
		bg "$PY" "$WIRE" relay --port "$RG" --to "$Q" --dir "$T/gatedi.wire" --gate "$T/gate-i" \
			>"$T/gatedi.relay.out" 2>&1
		GATED=$!
		policy "$T/fdi.conf" <<EOC
rules = ( { name = "fdi-out"; direction = "connect"; port = $RG; address = "127.0.0.1/32";
            ca = "$CERTS/ca.crt"; } );
EOC
		if ! wait_for "$T/gatedi.relay.out" '^ready' 10; then
			fail "a FILE on the number ($how), connect() interrupted" "relay did not start"
			stop "$GATED"
			continue
		fi
		out=$(TLSSHIM_LOG_FILE="$T/fdi-$how.log" timeout -k 2 $((20 * TS)) env LD_PRELOAD="$SHIM_PRELOAD" \
			TLSSHIM_CONFIG="$T/fdi.conf" "$T/fdi" "$how" "$RG" "$SENT" "$T/gate-i" 2>&1)
		srv_settled peer 1 5
		stop "$GATED"
		fc_collect peer "fdi-$how"
		fc_collect gatedi "fdi-$how"
		fc_wire "fdi-$how" --min-conns 1
		wrc=$?
		if [ "$out" = "echo ok" ] && [ $wrc -eq 0 ]; then
			pass "stdio on a FILE ($how) whose blocking connect() a signal interrupted in the handshake: over TLS ($WIRE_OUT)"
		else
			fail "stdio on a FILE ($how), connect() interrupted" "$out; $WIRE_OUT; log: $(log_tail "$T/fdi-$how.log")"
		fi
	done
fi

# ---- fdopen past the connection table ---------------------------------------------
# RLIMIT_NOFILE raised after start-up (preload_smallnofile.so: the table
# was sized for 1024): no session can come to a number past the table, so
# fdopen() there needs no mark and works as without the library.
cat >"$T/fdh.c" <<'EOC'
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

int main(void)
{
	struct rlimit rl;
	FILE *f;
	int fd, hi;

	if (prlimit(0, RLIMIT_NOFILE, NULL, &rl) < 0 || rl.rlim_max < 4096) {
		printf("skip: hard limit below 4096\n");
		return 0;
	}
	rl.rlim_cur = rl.rlim_max;
	(void)prlimit(0, RLIMIT_NOFILE, &rl, NULL);
	if ((fd = open("/dev/null", O_WRONLY)) < 0 || (hi = dup2(fd, 3000)) != 3000) {
		printf("open/dup2: %s\n", strerror(errno));
		return 1;
	}
	f = fdopen(hi, "w");
	printf("%s\n", f ? "fdopen ok" : strerror(errno));
	return !f;
}
EOC
if ! cc -o "$T/fdh" "$T/fdh.c" 2>"$T/fdh.cc"; then
	fail "fdopen past the connection table" "cannot build it: $(head -c 300 "$T/fdh.cc")"
else
	fc_policy "$T/fdh.conf"
	out=$(TLSSHIM_LOG_FILE="$T/fdh.log" timeout -k 2 $((10 * TS)) env \
		LD_PRELOAD="${SHIM_PRELOAD%"$TLSSHIM_LIB"}$PROGS/preload_smallnofile.so $TLSSHIM_LIB" TLSSHIM_CONFIG="$T/fdh.conf" "$T/fdh" 2>&1)
	case "$out" in
	"fdopen ok") pass "fdopen() on a number past the connection table (RLIMIT_NOFILE raised after start-up): works" ;;
	skip*) pass "fdopen() past the connection table: not testable here ($out)" ;;
	*) fail "fdopen() on a number past the connection table" "$out; log: $(log_tail "$T/fdh.log")" ;;
	esac
fi

# ---- liburing ---------------------------------------------------------------------
cat >"$T/uring.c" <<'EOC'
/* uring PORT SENTINEL: a ring connects to 127.0.0.1:PORT and sends a line. */
#include <arpa/inet.h>
#include <liburing.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int run(struct io_uring *ring, struct io_uring_sqe *sqe)
{
	struct io_uring_cqe *cqe;
	int r;

	(void)sqe;
	if ((r = io_uring_submit(ring)) < 0 || (r = io_uring_wait_cqe(ring, &cqe)) < 0)
		return r;
	r = cqe->res;
	io_uring_cqe_seen(ring, cqe);
	return r;
}

int main(int argc, char **argv)
{
	struct io_uring ring;
	struct sockaddr_in a = { .sin_family = AF_INET };
	char line[256];
	int fd, r;

	if (argc < 3)
		return 2;
	if ((r = io_uring_queue_init(4, &ring, 0)) < 0) {
		printf("queue_init: %s\n", strerror(-r));
		return 0;
	}
	a.sin_port = htons((unsigned short)atoi(argv[1]));
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
	io_uring_prep_connect(sqe, fd, (struct sockaddr *)&a, sizeof a);
	r = run(&ring, sqe);
	snprintf(line, sizeof line, "%s io_uring-send\n", argv[2]);
	sqe = io_uring_get_sqe(&ring);
	io_uring_prep_send(sqe, fd, line, strlen(line), 0);
	printf("ring: connect %d, send %d\n", r, run(&ring, sqe));
	close(fd);
	io_uring_queue_exit(&ring);
	return 0;
}
EOC
if [ ! -f /usr/include/liburing.h ]; then
	fail "liburing ring" "liburing-dev is not installed (.ci/packages lists it)"
elif ! cc -o "$T/uring" "$T/uring.c" -luring 2>"$T/uring.cc"; then
	fail "liburing ring" "cannot build it: $(head -c 300 "$T/uring.cc")"
else
	native=$("$T/uring" 1 probe 2>&1)
	fc_policy "$T/uring.conf"
	out=$(TLSSHIM_LOG_FILE="$T/uring.log" timeout -k 2 $((20 * TS)) env LD_PRELOAD="$SHIM_PRELOAD" \
		TLSSHIM_CONFIG="$T/uring.conf" "$T/uring" "$R" "$SENT" 2>&1)
	# (nothing may reach the peer: no wait while the relay is idle)
	relay_idle "$R" || srv_settled peer 1 2
	fc_collect peer uring
	fc_wire uring
	wrc=$?
	if [ "$out" = "queue_init: Function not implemented" ] && [ $wrc -eq 0 ]; then
		pass "liburing under a policy with TLS rules: io_uring_queue_init fails with ENOSYS, nothing on the wire"
	else
		fail "liburing ring under TLS rules: refused" "$out; $WIRE_OUT; log: $(log_tail "$T/uring.log")"
	fi
	case "$native" in
	"ring: connect"*)
		policy "$T/uring-plain.conf" <<EOC
rules = ( { name = "plain-only"; direction = "connect"; port = 9; action = "plain"; } );
EOC
		out=$(timeout -k 2 $((20 * TS)) env LD_PRELOAD="$SHIM_PRELOAD" \
			TLSSHIM_CONFIG="$T/uring-plain.conf" "$T/uring" 1 probe 2>&1)
		if [ "$out" = "$native" ]; then
			pass "liburing under a policy without TLS rules: works as without the shim ($out)"
		else
			fail "liburing without TLS rules" "got: $out; without the shim: $native"
		fi ;;
	*)
		pass "liburing without TLS rules: not testable here, without the shim the kernel says: $native" ;;
	esac
fi
# ---- the C library's functions taken through its own handle ----------------------
# ctypes.CDLL("libc.so.6").send (dlopen, then dlsym on that handle, as JNA,
# Fiddle or Perl's FFI do) and dlvsym(handle, "write", "GLIBC_2.2.5") get
# the library's wrappers, as ordinary calls do: TLS on the wire, the peer
# echoes what it decrypted.
fc_policy "$T/dl.conf"
for how in ctypes dlvsym; do
	if [ $how = ctypes ]; then
		set -- "$PY" "$PYD/ctypes_libc_client.py" "$R" "$SENT"
	else
		set -- "$PROGS/dlsym_client" libc "$R" "$SENT"
	fi
	echo_case "dl-$how" "$T/dl.conf" "libc functions through dlopen(\"libc.so.6\") + $how: over TLS, echoed" \
		"libc functions through dlopen(\"libc.so.6\") + $how" "$@"
done
# A program that interposes C library functions itself and forwards each
# to the next definition of its second name (Erlang's beam.smp: sigaction
# to dlsym(RTLD_NEXT, "__sigaction")) reaches the library's second names,
# which must not call the program's functions again: the library looped
# between the two until the stack overflowed (beam.smp died with SIGSEGV
# before its first line).  Over TLS, echoed.
echo_case alias "$T/dl.conf" "the program's sigaction/signal/sysv_signal/connect/write/read/send/recv forwarding to the library's __sigaction/ssignal/...: over TLS, echoed" \
	"the program's own sigaction, connect, write... forwarding to the library's second names" \
	"$PROGS/alias_interpose" "$R" "$SENT"
# ... and nothing else changes: RTLD_NEXT from a library preloaded after
# this one still means "after that library" (preload_dlnext.so wraps write
# and would recurse into itself), and dlsym on a plug-in's handle gives the
# plug-in's own write, on libm's libm's cos.
out=$(timeout -k 2 $((10 * TS)) env LD_PRELOAD="$SHIM_PRELOAD $PROGS/preload_dlnext.so" \
	TLSSHIM_CONFIG="$T/dl.conf" "$PROGS/dlsym_client" next 2>&1)
case "$out" in
"next ok libc.so"*) pass "dlsym(RTLD_NEXT) in a library preloaded after this one: the C library's write ($out)" ;;
*) fail "dlsym(RTLD_NEXT) in a library preloaded after this one" "$out" ;;
esac
out=$(timeout -k 2 $((10 * TS)) env LD_PRELOAD="$SHIM_PRELOAD" TLSSHIM_CONFIG="$T/dl.conf" \
	"$PROGS/dlsym_client" plugin "$PROGS/preload_dlnext.so" 2>&1)
if [ "$out" = "plugin ok" ]; then
	pass "dlsym on a plug-in's handle: the plug-in's own write; on libm's: its cos"
else
	fail "dlsym on a plug-in's handle" "$out"
fi
fc_stop
