#!/bin/sh
# Fail closed on the less travelled entry points (classes 3, 5, 6, 7, 8):
# tests/progs/fc_entry.c and fc_ctor.c against a TLS echo peer behind a
# recording relay.
#  3  sendmmsg/sendto/sendmsg with MSG_FASTOPEN to a TLS destination:
#     EOPNOTSUPP; TCP_FASTOPEN_CONNECT + connect + write: TLS only.
#  5  aio_write/aio_read/lio_listio: EOPNOTSUPP; __connect, __write, __send,
#     __recv, __read, __dup2, __fcntl, __close, pwritev2/preadv2(-1),
#     dprintf/vdprintf, syscall(SYS_write/SYS_sendto/SYS_read/SYS_recvfrom/
#     SYS_connect) behave as the named calls; backtrace_symbols_fd (the C
#     library's internal writev) and eventfd_write/eventfd_read (its
#     internal write and read) are encrypted; io_uring_setup through
#     syscall(): ENOSYS with TLS rules, works without (and with high
#     bits in the number, which the kernel ignores: before h210 such a
#     syscall(SYS_write) went past the wrappers, in clear); printf after
#     dup2(tls, 1) reaches the peer over TLS.  An x32 system call
#     through syscall() (tests/progs/preload_x32.so standing in for a
#     kernel with the x32 ABI): ENOSYS.  Arguments with high bits the
#     kernel does not read (fc_entry widths: a descriptor, flags, counts,
#     poll's nfds, unshare's flags) through syscall(): the calls the
#     kernel would make, over TLS.  And a fork made with
#     syscall(SYS_clone) while the session is live: never two processes
#     encrypting with one session.
#  6  another library's constructor connects and writes before the shim's
#     constructor ran: encrypted (or refused), never in clear.
#  7  connect() to 0.0.0.0, ::, ::ffff:0.0.0.0 (and ::ffff:127.0.0.1) with
#     rules naming only 127.0.0.1/32 or ::1/128: TLS.
#  8  a second connect() elsewhere while a non-blocking TLS connect is in
#     progress: EALREADY (once connected: 0 for the first connect() after
#     completion, as the kernel says, then EISCONN); the session stays, data
#     encrypted, the other address hears nothing.
. "$TLSSHIM_TOP/tests/lib.sh"
. "$TLSSHIM_TOP/tests/preload/failclosed_common.inc"
need_shim
for p in fc_entry fc_ctor; do
	[ -x "$PROGS/$p" ] || { fail setup "$PROGS/$p missing (make test-build)"; exit 1; }
done

# One echo peer (Q) and its relay (R) serve every case; each case's
# records are moved aside (fc_collect) once its connections have ended.
if ! fc_start peer --mode echo; then
	fail "entry points: setup" "peer or relay did not start $(show "$T/peer.srv.out" "$T/peer.relay.out")"
	exit 1
fi
fc_policy "$T/fc.conf"

# run_entry NAME CONNS DESC ARGS...: fc_entry under the shim; PASS when it
# exits 0 and the wire of its CONNS connections is clean.
run_entry() {
	_n=$1 _k=$2 _d=$3; shift 3
	TLSSHIM_LOG_FILE="$T/$_n.log" timeout -k 2 60 env LD_PRELOAD="$SHIM_PRELOAD" \
		TLSSHIM_CONFIG="$T/fc.conf" "$PROGS/fc_entry" "$@" >"$T/$_n.out" 2>"$T/$_n.err"
	rc=$?
	srv_settled peer "$_k" 5
	fc_collect peer "$_n"
	fc_wire "$_n" --min-conns "$_k"
	wrc=$?
	if [ $rc -eq 0 ] && [ $wrc -eq 0 ]; then
		pass "$_d ($(grep -c '^step .*: ok' "$T/$_n.err") steps ok; $WIRE_OUT)"
	else
		fail "$_d" "exit $rc; $WIRE_OUT; $(grep -E 'FAIL|note' "$T/$_n.err" | head -n 8 | tr '\n' '|') $(tail -n 3 "$T/$_n.out" | tr '\n' '|') log: $(log_tail "$T/$_n.log")"
	fi
}

# ---- 3: TCP Fast Open ---------------------------------------------------------
run_entry fastopen 2 \
	"MSG_FASTOPEN (sendmmsg, sendto, sendmsg) to a TLS destination: EOPNOTSUPP; TCP_FASTOPEN_CONNECT + connect + write: only TLS on the wire" \
	fastopen 127.0.0.1 "$R" "$SENT"

# ---- 5: entry points --------------------------------------------------------------
run_entry entry 2 \
	"aio/lio_listio refused (EOPNOTSUPP); __connect/__write/__send/__recv/__read/__dup2/__fcntl/__close, pwritev2/preadv2(-1), dprintf/vdprintf, syscall(SYS_write/sendto/read/recvfrom/connect, and write/read numbered with high bits), eventfd_write/eventfd_read, backtrace_symbols_fd, printf after dup2(tls,1): all over TLS; io_uring_setup: ENOSYS (high bits too)" \
	entry 127.0.0.1 "$R" "$SENT"
# Every line the program wrote reached the peer, decrypted.
missing=""
for s in __write __send pwritev2 dprintf vdprintf syscall-SYS_write syscall-SYS_sendto __dup2 \
	__fcntl-F_DUPFD syscall-SYS_connect syscall-SYS_write-high stdio-printf; do
	srv_data entry | grep -q -x -F "$SENT $s" || missing="$missing $s"
done
srv_data entry | grep -q -x -F "evfd-8b" || missing="$missing eventfd_write"
for s in aio_write lio_listio; do
	srv_data entry | grep -q -F "$SENT $s" && missing="$missing (refused $s arrived)"
done
if [ -z "$missing" ]; then
	pass "entry points: the peer decrypted exactly the lines of the named calls, none of the refused ones"
else
	fail "entry points: what the peer received" "missing or unexpected:$missing"
fi

# io_uring without TLS rules: works as without the shim (if the kernel has it).
native=$("$PROGS/fc_entry" uring 2>&1)
if [ "$native" != "uring fd" ]; then
	pass "io_uring_setup with a policy without TLS rules: not testable here, the kernel itself says: $native"
else
	policy "$T/notls.conf" <<EOC
rules = ( { name = "plain-only"; direction = "connect"; port = 9; action = "plain"; } );
EOC
	out=$(timeout 20 env LD_PRELOAD="$SHIM_PRELOAD" TLSSHIM_CONFIG="$T/notls.conf" "$PROGS/fc_entry" uring 2>&1)
	if [ "$out" = "uring fd" ]; then
		pass "io_uring_setup through syscall() works normally under a policy without TLS rules"
	else
		fail "io_uring_setup without TLS rules" "got: $out"
	fi
fi

# syscall(SYS_clone) with a live session: the child is a second process
# holding the session; it must not encrypt with it (the peer would see
# repeated record sequence numbers: a bad record MAC).
TLSSHIM_LOG_FILE="$T/sysfork.log" timeout -k 2 30 env LD_PRELOAD="$SHIM_PRELOAD" \
	TLSSHIM_CONFIG="$T/fc.conf" "$PROGS/fc_entry" sysfork 127.0.0.1 "$R" "$SENT" \
	>"$T/sysfork.out" 2>"$T/sysfork.err"
srv_settled peer 1 5
fc_collect peer sysfork
fc_wire sysfork
wrc=$?
st=$(srv_status sysfork)
if [ $wrc -eq 0 ] && ! echo "$st" | grep -q -E 'error|ragged' &&
   srv_data sysfork | grep -q -x -F "$SENT parent-after-sysfork"; then
	pass "fork through syscall(SYS_clone) with a live session: no second encryptor (peer: $st; $(grep child "$T/sysfork.err"))"
else
	fail "fork through syscall(SYS_clone) with a live session: one session, one encryptor" "peer: $st; program: $(tr '\n' '|' <"$T/sysfork.err" | cut -c1-400); $WIRE_OUT; log: $(log_tail "$T/sysfork.log")"
fi

# An x32 system call through syscall() (x86_64): a kernel built with the
# x32 ABI runs syscall(__X32_SYSCALL_BIT | SYS_write) as write(), past
# every wrapper; refused with ENOSYS while the policy has TLS rules.
# preload_x32.so, after the library, stands in for such a kernel
# (checked first: without the library its x32 write reaches standard
# output).  Before h210 the line went out in clear.
if [ "$(uname -m)" != x86_64 ]; then
	pass "x32 system call through syscall(): not an x86_64 machine ($(uname -m)), no x32 ABI"
elif [ "$(env LD_PRELOAD="$PROGS/preload_x32.so" "$PROGS/fc_entry" x32probe 2>&1 | tr '\n' '|')" != \
	"x32 probe|x32 write: 10|" ]; then
	fail "x32 system call through syscall(): setup" "preload_x32.so does not stand in for an x32 kernel: $(env LD_PRELOAD="$PROGS/preload_x32.so" "$PROGS/fc_entry" x32probe 2>&1 | tr '\n' '|')"
else
	TLSSHIM_LOG_FILE="$T/x32.log" timeout -k 2 30 env LD_PRELOAD="$SHIM_PRELOAD $PROGS/preload_x32.so" \
		TLSSHIM_CONFIG="$T/fc.conf" "$PROGS/fc_entry" x32 127.0.0.1 "$R" "$SENT" \
		>"$T/x32.out" 2>"$T/x32.err"
	rc=$?
	srv_settled peer 1 5
	fc_collect peer x32
	fc_wire x32 --min-conns 1
	wrc=$?
	if [ $rc -eq 0 ] && [ $wrc -eq 0 ] && srv_data x32 | grep -q -x -F "$SENT after-x32" &&
	   ! srv_data x32 | grep -q -F "$SENT x32-write" && grep -q "an x32 system call, refused" "$T/x32.log"; then
		pass "x32 system call through syscall() on a TLS fd (a kernel with x32): ENOSYS, warn line, nothing in clear, session intact ($WIRE_OUT)"
	else
		fail "x32 system call through syscall() on a TLS fd: ENOSYS" "exit $rc; $WIRE_OUT; $(tr '\n' '|' <"$T/x32.err" | cut -c1-400) log: $(log_tail "$T/x32.log")"
	fi
fi

# Arguments with high bits set that the kernel does not read (its int and
# unsigned int parameters take a register's low 32 bits): the calls it
# would make.  Writes on (5L << 32) | fd through syscall() go over TLS;
# poll and ppoll of one pollfd with nfds (1L << 32) | 1 answer POLLIN
# (before h214 the library walked 2^32 + 1 entries: SIGSEGV or ENOMEM);
# syscall(SYS_unshare) with bit 32 set fails with EINVAL, as the kernel
# says (before h214 the library dropped the bit and unshared).
# close_range(2^31, ~0U): 0, the session intact (before h214 the library
# read the first as INT_MIN and ended every session from fd 0).  dup3
# with flag bit 31 set: EINVAL (before h214 the library made a dup2).  On the
# ASan build poll() itself is left out: the sanitizer's poll interceptor,
# before the library, reads the count at 64 bits and faults.
wide_libc="wide-poll-nfds"
if asan_build; then
	FC_NO_LIBC_POLL=1 wide_libc=""
	export FC_NO_LIBC_POLL
fi
run_entry widths 1 \
	"high bits the kernel ignores through syscall(): write/sendto/writev/sendmsg over TLS, poll/ppoll/poll() nfds as the kernel's unsigned int, unshare EINVAL" \
	widths 127.0.0.1 "$R" "$SENT"
missing=""
for s in wide-SYS_write wide-SYS_sendto wide-SYS_writev wide-SYS_sendmsg wide-SYS_poll-nfds \
	wide-SYS_ppoll-nfds $wide_libc after-close_range-2^31 after-widths; do
	srv_data widths | grep -q -x -F "$SENT $s" || missing="$missing $s"
done
if [ -z "$missing" ]; then
	pass "argument widths: the peer decrypted every line the widened calls wrote"
else
	fail "argument widths: what the peer received" "missing:$missing"
fi
unset FC_NO_LIBC_POLL

# ---- 6: another library's constructor ------------------------------------------
cat >"$T/fcctor.c" <<'EOC'
/* A library whose constructor talks to the network before main(). */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static char result[600] = "constructor did not run";

const char *fc_ctor_result(void)
{
	return result;
}

__attribute__((constructor)) static void early(void)
{
	const char *port = getenv("FC_CTOR_PORT"), *sent = getenv("FC_CTOR_SENTINEL");
	struct sockaddr_in a = { .sin_family = AF_INET };
	char line[256], got[256];
	size_t have = 0, n;
	int fd;

	if (!port || !sent)
		return;
	a.sin_port = htons((unsigned short)atoi(port));
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	n = (size_t)snprintf(line, sizeof line, "%s from-a-constructor\n", sent);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
		snprintf(result, sizeof result, "refused: connect: %s", strerror(errno));
		return;
	}
	if (write(fd, line, n) != (ssize_t)n) {
		snprintf(result, sizeof result, "refused: write: %s", strerror(errno));
		close(fd);
		return;
	}
	while (have < n) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t r;
		if (poll(&p, 1, 10000) <= 0)
			break;
		r = read(fd, got + have, n - have);
		if (r <= 0)
			break;
		have += (size_t)r;
	}
	got[have] = 0;
	if (have == n && !memcmp(got, line, n))
		snprintf(result, sizeof result, "echo ok");
	else
		snprintf(result, sizeof result, "echo bad: %zu bytes \"%s\" (%s)", have, got, strerror(errno));
	close(fd);
}
EOC
if ! cc -shared -fPIC -o "$T/libfcctor.so" "$T/fcctor.c" 2>"$T/cc.err" ||
   ! cc -D_GNU_SOURCE -o "$T/fc_ctor" "$TLSSHIM_TOP/tests/progs/fc_ctor.c" -L"$T" \
	-Wl,--no-as-needed -lfcctor -Wl,-rpath,"$T" 2>>"$T/cc.err"; then
	fail "a library constructor connects before the shim's" "cannot build it: $(head -c 400 "$T/cc.err")"
else
	# The premise: the library's constructor runs before the shim's.
	LD_DEBUG=files LD_PRELOAD="$SHIM_PRELOAD" TLSSHIM_CONFIG="$T/fc.conf" "$T/fc_ctor" \
		>/dev/null 2>"$T/ctor.ldd"
	order=$(grep -o -E 'calling init: [^ ]*(libfcctor|libtlsshim)[^ ]*' "$T/ctor.ldd" |
		sed 's|.*/||' | tr '\n' ' ')
	FC_CTOR_PORT=$R FC_CTOR_SENTINEL=$SENT TLSSHIM_LOG_FILE="$T/ctor.log" timeout -k 2 30 \
		env LD_PRELOAD="$SHIM_PRELOAD" TLSSHIM_CONFIG="$T/fc.conf" "$T/fc_ctor" \
		>"$T/ctor.out" 2>&1
	srv_settled peer 1 5
	fc_collect peer ctor
	fc_wire ctor --min-conns 1
	wrc=$?
	res=$(cat "$T/ctor.out")
	case "$order" in libfcctor.so*libtlsshim.so*) first=yes ;; *) first=no ;; esac
	case "$res" in "constructor: echo ok"|"constructor: refused"*) ok=yes ;; *) ok=no ;; esac
	if [ $first = no ]; then
		fail "a library constructor connects before the shim's" "premise not met: init order $order"
	elif [ $ok = yes ] && [ $wrc -eq 0 ]; then
		pass "a library constructor (run before the shim's) connects and writes: $res; $WIRE_OUT"
	else
		fail "a library constructor connects before the shim's: encrypted or refused" "$res; $WIRE_OUT; peer: $(srv_status ctor); log: $(log_tail "$T/ctor.log")"
	fi
fi

# ---- 7: wildcard destinations ---------------------------------------------------
# The peer's relay R listens on 127.0.0.1; a second relay R6 on ::1.
R6=$(fc_ports 1)
mkdir -p "$T/peer6.wire"
bg "$PY" "$WIRE" relay --host ::1 --port "$R6" --to "$Q" --dir "$T/peer6.wire" >"$T/peer6.relay.out" 2>&1
RELAY6=$!
if ! wait_for "$T/peer6.relay.out" '^ready' 10; then
	fail "wildcard destinations" "no IPv6 loopback relay: $(cat "$T/peer6.relay.out")"
else
	policy "$T/wild.conf" <<EOC
rules = ( { name = "v4-only"; direction = "connect"; port = $R; address = "127.0.0.1/32";
            ca = "$CERTS/ca.crt"; },
          { name = "v6-only"; direction = "connect"; port = $R6; address = "::1/128";
            ca = "$CERTS/ca.crt"; } );
EOC
	k=0
	for dst in "0.0.0.0 $R" ":: $R6" "::ffff:0.0.0.0 $R" "::ffff:127.0.0.1 $R"; do
		set -- $dst
		k=$((k + 1))
		TLSSHIM_LOG_FILE="$T/wild.log" timeout -k 2 30 env LD_PRELOAD="$SHIM_PRELOAD" \
			TLSSHIM_CONFIG="$T/wild.conf" "$PROGS/fc_entry" connect "$1" "$2" "$SENT" \
			>"$T/wild$k.out" 2>"$T/wild$k.err"
		rc=$?
		res=$(grep '^step' "$T/wild$k.err")
		srv_settled peer 1 5
		fc_collect peer "wild$k"
		fc_collect peer6 "wild$k"
		fc_wire "wild$k" --min-conns 1
		wrc=$?
		if [ $rc -eq 0 ] && [ $wrc -eq 0 ]; then
			pass "connect() to $1 (rule names only $([ "$2" = "$R6" ] && echo ::1/128 || echo 127.0.0.1/32)): the kernel connects to loopback, and it is TLS ($res; $WIRE_OUT)"
		else
			fail "connect() to $1 must be TLS" "exit $rc; $res; $WIRE_OUT; peer: $(srv_status "wild$k"); log: $(log_tail "$T/wild.log")"
		fi
	done
fi
stop "$RELAY6"

# ---- 8: a second connect() while the first is in progress ----------------------
# A relay RG whose queue holds one connection (backlog 0) and that accepts
# nothing until the gate file exists: a connection that waits there first
# keeps the program's SYN unanswered, so its non-blocking connect stays in
# progress until the gate opens.
set -- $(fc_ports 2)
OP=$1 RG=$2
mkdir -p "$T/gated.wire"
bg "$PY" "$TLSPEER" server --plain --port "$OP" --mode record --record "$T/other.rec" \
	--status "$T/other.status" --timeout 25 >"$T/other.out" 2>&1
OTHER=$!
bg "$PY" "$WIRE" relay --port "$RG" --to "$Q" --dir "$T/gated.wire" --backlog 0 --gate "$T/gate" \
	>"$T/gated.relay.out" 2>&1
GATED=$!
if wait_for "$T/other.out" '^ready' 10 && wait_for "$T/gated.relay.out" '^ready' 10; then
	policy "$T/again.conf" <<EOC
rules = ( { name = "fc-out"; direction = "connect"; port = $RG; address = "127.0.0.1/32";
            ca = "$CERTS/ca.crt"; } );
EOC
	bg "$PY" "$WIRE" hold --port "$RG" --secs 25 >"$T/filler.out" 2>&1
	FILLER=$!
	wait_for "$T/filler.out" '^connected' 10
	TLSSHIM_LOG_FILE="$T/again.log" timeout -k 2 40 env LD_PRELOAD="$SHIM_PRELOAD" \
		TLSSHIM_CONFIG="$T/again.conf" "$PROGS/fc_entry" again 127.0.0.1 "$RG" 127.0.0.1 "$OP" \
		"$T/gate" "$SENT" >"$T/again.out" 2>"$T/again.err" &
	prog=$!
	wait_for "$T/again.out" '^second:' 15
	touch "$T/gate"
	wait "$prog"
	rc=$?
	stop "$FILLER"
	srv_settled peer 2 5
	stop "$GATED"
	fc_collect peer again
	fc_collect gated again
	fc_wire again --min-conns 2
	wrc=$?
	first=$(grep '^first:' "$T/again.out")
	second=$(grep '^second:' "$T/again.out")
	other=$(head -c 200 "$T/other.rec" 2>/dev/null)
	if [ "$first" != "first: EINPROGRESS" ] || [ "$second" = "second: EISCONN" ]; then
		note=" (the first connect was not kept in progress: $first, $second)"
	else
		note=""
	fi
	if [ $rc -eq 0 ] && [ $wrc -eq 0 ] && [ -z "$other" ]; then
		pass "second connect() elsewhere during a non-blocking TLS connect: $second, then $(grep '^third' "$T/again.out" | cut -d' ' -f2) and EISCONN (the kernel's answers); the session stays, data encrypted ($WIRE_OUT)$note"
	else
		fail "second connect() during a non-blocking TLS connect" "exit $rc; $(tr '\n' '|' <"$T/again.out") $(grep FAIL "$T/again.err" | tr '\n' '|') other port got: \"$other\"; $WIRE_OUT; log: $(log_tail "$T/again.log")$note"
	fi
else
	fail "second connect() during a non-blocking TLS connect" "peers did not start"
fi
stop "$OTHER"
fc_stop
