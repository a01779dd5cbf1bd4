#!/bin/sh
# tests/preload/sysdeny.sh — fail closed when the kernel says no to the
# library's own system calls: tests/progs/sysdeny.c installs, after
# start-up, a seccomp filter answering one system call with EPERM or
# ENOSYS for every thread (as vsftpd, openssh's privsep child, tor and
# chrony sandbox themselves), or lowers RLIMIT_NOFILE, then talks to a
# TLS echo peer behind a recording relay (failclosed_wire.py): the
# sentinel never crosses in clear, and the program gets no byte TLS did
# not authenticate.
#  * connect() with getsockopt refused (the library cannot tell TCP from
#    another protocol): the connect fails with the filter's errno and a
#    log line (it went out plain before);
#  * a socket of unknown origin (made with raw system calls, as one
#    received or inherited) with getsockopt, getsockname, getpeername or
#    newfstatat refused: the write fails with ECONNRESET (it was
#    classified plain and went out in clear before);
#  * a session put on standard output (dup2) with no pump process
#    possible (pipe2 or clone refused, RLIMIT_NOFILE 5): the connection
#    is shut down, stdio's write fails (it went out in clear after the
#    handshake before);
#  * a TLS listening socket, inheritable, and an exec of a program that
#    does not run the library, with getsockopt or getsockname refused:
#    the listener is withheld (close-on-exec) as without a filter (the
#    refused question read as "not a TLS listener" before);
#  * a Unix socket of unknown origin with getsockopt refused: the kernel's
#    getsockname says AF_UNIX, so it is used as it is (it was refused),
#    and inherited through an exec (it was withheld as a listener);
#  * a UDP socket socket() made, connected to the TLS port with getsockopt
#    refused: socket() told it is not TCP (the connect was refused);
#  * a filter on a call the library can do without (getsockname,
#    newfstatat on a connect): the exchange still works, over TLS;
#  * RLIMIT_AS leaving no memory: the connection fails, and the log line
#    says out of memory (OpenSSL's "internal error" before);
#  * before start-up: another library's constructor (it runs before the
#    library's) installs a filter refusing fstat and newfstatat (as one
#    inherited through exec would), then writes on an inherited socket
#    the policy makes TLS: the write fails with ECONNRESET and a log line
#    (the refused fstat let it pass unclassified, in clear, before);
#  * exit() with the connection open and getpid refused: the exit handler
#    still ends the session with close_notify (it ended none before);
#  * getpid refused, SCM_RIGHTS to a helper that does not run the library:
#    a session (before or after its handshake) goes to a pump, a TLS
#    listener is refused (both passed as they were before: the helper's
#    line in clear, a listener that accepts plain);
#  * getpid refused, the program's syscall(SYS_ppoll) with a time-out: it
#    waits (EFAULT before);
#  * getpid refused, a worker forked after the filter makes a session and
#    forks a child that writes on it, then writes itself: the peer gets
#    every line, in order, through the pump the fork hands the session to
#    (every process under the filter had the id -1, so the child took the
#    worker's session for its own and encrypted with its keys and
#    sequence numbers too: the worker's next record repeated a nonce);
#    getpid and gettid refused: no id to own a session with, the worker's
#    write fails, a log line;
#  * getpid killed for, an exec from a thread that does not lead the
#    process: the exec is reached (the process died of SIGSYS before);
#    daemon() with a session open, getpid refused or killed for: the
#    survivor keeps and uses the session;
#  * close_range refused (EPERM, ENOSYS): a pump still closes what it
#    inherited, and ends its session with close_notify (it held the
#    connection open for ever before); also a number above
#    RLIMIT_NOFILE, lowered after it was opened (it stayed open in the
#    pump before);
#  * ppoll refused: the handshake waits with poll (x86_64; it failed
#    before); both refused: the connection fails, the log line says why
#    (it said nothing before);
#  * connect(AF_UNSPEC) on a TLS connection refused (connect:EPERM): the
#    connection and its session go on, the next line over TLS (the
#    session was ended and the number made plain first: in clear before).
. "$TLSSHIM_TOP/tests/lib.sh"
. "$TLSSHIM_TOP/tests/preload/failclosed_common.inc"
need_shim
[ -x "$PROGS/sysdeny" ] || { fail setup "$PROGS/sysdeny missing (make test-build)"; exit 1; }
if ! fc_start peer --mode echo; then
	fail "sysdeny: setup" "peer or relay did not start $(show "$T/peer.srv.out" "$T/peer.relay.out")"
	exit 1
fi
fc_policy "$T/fc.conf"
# an accept rule's port, for the listeners
L=$(free_port)
policy "$T/listen.conf" <<EOC
rules = ( { name = "sd-in"; direction = "accept"; port = $L;
            cert = "$CERTS/server.crt"; key = "$CERTS/server.key"; } );
EOC

# run NAME DENY MODE: sysdeny under the library against the relay; its
# report in $T/NAME.out (modes stdout*: $T/NAME.err), log $T/NAME.log,
# captures checked (WIRE_OUT, wrc), exit status rc.  _settle: how many
# connections to wait for (1).
run() {
	_n=$1
	TLSSHIM_LOG_FILE="$T/$_n.log" timeout -k 2 $((20 * TS)) env LD_PRELOAD="$SHIM_PRELOAD" \
		TLSSHIM_CONFIG="$T/fc.conf" "$PROGS/sysdeny" "$2" "$3" "$R" "$SENT" \
		>"$T/$_n.out" 2>"$T/$_n.err"
	rc=$?
	case $3 in stdout*) mv "$T/$_n.err" "$T/$_n.out" ;; esac
	# (a connect refused by the library made no connection to wait for)
	grep -q '^connect rc=-1' "$T/$_n.out" || srv_settled peer "${_settle:-1}" 2
	fc_collect peer "$_n"
	fc_wire "$_n"
	wrc=$?
}

# what NAME: the report on one line, for a message.
what() { tr '\n' '|' <"$T/$1.out" | cut -c1-300; }

# works NAME DENY MODE: the exchange works, over TLS only.
works() {
	run "$1" "$2" "$3"
	if [ $rc -eq 0 ] && [ $wrc -eq 0 ] && grep -q -x -F "read rc=$((${#SENT} + 1)) errno=0 data=$SENT." "$T/$1.out" &&
	   srv_data "$1" | grep -q -x -F "$SENT"; then
		pass "$3 with $2: echoed over TLS ($WIRE_OUT)"
	else
		fail "$3 with $2: echoed over TLS" "exit $rc; $WIRE_OUT; $(what "$1"); log: $(log_tail "$T/$1.log")"
	fi
}

# refused NAME DENY MODE STEP-LINE LOG-REGEX: nothing in clear, no data
# to the peer, the step failed as said, the log says why.
refused() {
	run "$1" "$2" "$3"
	# (_sent_ok: an .out line after which the data may have reached the
	# peer over TLS, the wire audit vouching for it: the step that failed
	# came after the write)
	_leak=0
	if [ $wrc -ne 0 ]; then
		_leak=1
	elif srv_data "$1" | grep -q -F "$SENT" &&
	     { [ -z "${_sent_ok:-}" ] || ! grep -q -x -E "$_sent_ok" "$T/$1.out"; }; then
		_leak=1
	fi
	if [ $_leak -ne 0 ]; then
		fail "$3 with $2: refused, nothing in clear" "exit $rc; $WIRE_OUT; $(what "$1"); log: $(log_tail "$T/$1.log")"
	elif ! grep -q -x -E "$4" "$T/$1.out" || grep -q '^read rc=[1-9]' "$T/$1.out"; then
		fail "$3 with $2: the call fails" "exit $rc; want '$4': $(what "$1")"
	elif ! grep -q -E "$5" "$T/$1.log"; then
		fail "$3 with $2: a log line says why" "want /$5/; log: $(log_tail "$T/$1.log")"
	else
		pass "$3 with $2: $(grep -x -E "$4" "$T/$1.out" | head -n 1), nothing in clear ($WIRE_OUT, exit $rc)"
	fi
}

# Controls: no filter, and filters the library does without.
works plain none connect
works plain_unknown none unknown
works noname getsockname:EPERM connect
works nostat newfstatat:ENOSYS connect

# exit() with the connection open and getpid() refused (vsftpd's filter
# kills its processes for it): the library's exit handler asked getpid()
# which sessions are this process's, got -1 and ended none: no
# close_notify, the peer saw a truncation (and under vsftpd's filter the
# process died of SIGSYS instead of exiting).  Now the id comes from the
# library's own page (core/self.c).  Against a tlspeer.py server of its
# own, with --strict-eof: its status tells a clean end from a truncation
# (without it Debian's Python reads a truncation as a clean end).
for e in none getpid:EPERM getpid:ENOSYS; do
	_n=exit_${e#*:}
	X=$(free_port)
	start_peer "$_n.peer" server --port "$X" --cert "$CERTS/server.crt" --key "$CERTS/server.key" \
		--mode echo --status "$T/$_n.status" --timeout $((10 * TS)) --strict-eof
	_pp=$PEER
	policy "$T/$_n.conf" <<EOC
rules = ( { name = "exit-out"; direction = "connect"; port = $X; ca = "$CERTS/ca.crt"; } );
EOC
	TLSSHIM_LOG_FILE="$T/$_n.log" timeout -k 2 $((20 * TS)) env LD_PRELOAD="$SHIM_PRELOAD" \
		TLSSHIM_CONFIG="$T/$_n.conf" "$PROGS/sysdeny" "$e" exit "$X" "$SENT" >"$T/$_n.out" 2>&1
	rc=$?
	wait_exit "$_pp" 15
	if [ $rc -eq 0 ] && grep -q -x -F "read rc=$((${#SENT} + 1)) errno=0 data=$SENT." "$T/$_n.out" &&
	   grep -q -x 'eof clean' "$T/$_n.status" && grep -q -x 'unwrap ok' "$T/$_n.status"; then
		pass "exit() with the connection open, $e: the peer gets close_notify"
	else
		fail "exit() with the connection open, $e: the peer gets close_notify" "exit $rc; $(what "$_n"); peer: $(tr '\n' '|' <"$T/$_n.status" 2>/dev/null); log: $(log_tail "$T/$_n.log")"
	fi
done

# A prefork daemon under a filter refusing getpid(): its worker's child
# writes on the worker's session.  Only one process may ever encrypt with
# a session (AES-GCM's nonce is the record's sequence number): the fork
# hands it to a pump, and the peer gets the three lines in order.
for e in getpid:EPERM getpid:ENOSYS; do
	_n=forkfork_${e#*:}
	run "$_n" "$e" forkfork
	_got=$(srv_data "$_n" | tr '\n' '|')
	if [ $wrc -eq 0 ] && grep -q -x 'worker exit 0' "$T/$_n.out" && ! grep -q 'write rc=-' "$T/$_n.out" &&
	   [ "$_got" = "$SENT|child $SENT|$SENT|" ]; then
		pass "forkfork with $e: the worker's child and the worker share the session through a pump ($WIRE_OUT)"
	else
		fail "forkfork with $e: the worker's child and the worker share the session through a pump" \
			"exit $rc; $WIRE_OUT; $(what "$_n"); server got: $_got; log: $(log_tail "$T/$_n.log")"
	fi
done
refused forkfork_noid getpid+gettid:EPERM forkfork 'write rc=-1 errno=E[A-Z]+' "id is unknown"

# SCM_RIGHTS to a helper that does not run the library (started before
# the filter, on a socketpair), getpid() refused: shim/msg.c asked
# getpid() whether the session is this process's and whether the
# socketpair's other end is this process (its SO_PEERCRED).  The -1 it
# got made the session "not ours", passed as it was, and the helper's
# line went out in clear (before the handshake: the connection's first
# bytes; after it: unless the program's close shut it down first); and
# made the helper "a process that maps the library": a TLS listener
# was passed, to accept plain on the TLS port.  Now the id comes from
# the library's own page: the session goes to a pump, the listener
# stays.
for e in getpid:EPERM getpid:ENOSYS; do
	for m in passfd0 passfd; do
		_n=${m}_${e#*:}
		run "$_n" "$e" "$m"
		_c="SCM_RIGHTS of a session ($m) to a helper without the library, $e"
		if [ $wrc -ne 0 ]; then
			fail "$_c: nothing in clear" "$WIRE_OUT; $(what "$_n"); log: $(log_tail "$T/$_n.log")"
		elif ! grep -q -x -F "helper read rc=$((${#SENT} + 1)) errno=0 data=$SENT." "$T/$_n.out" ||
		     ! srv_data "$_n" | grep -q -x -F "$SENT"; then
			fail "$_c: the helper's line echoed over TLS" "exit $rc; $(what "$_n"); log: $(log_tail "$T/$_n.log")"
		else
			pass "$_c: pumped, echoed over TLS ($WIRE_OUT)"
		fi
	done
	_n=passlisten_${e#*:}
	TLSSHIM_LOG_FILE="$T/$_n.log" timeout -k 2 $((20 * TS)) env LD_PRELOAD="$SHIM_PRELOAD" \
		TLSSHIM_CONFIG="$T/listen.conf" "$PROGS/sysdeny" "$e" passlisten "$L" "$SENT" >"$T/$_n.out" 2>&1
	if grep -q -x 'sendmsg rc=-1 errno=EOPNOTSUPP' "$T/$_n.out" && grep -q -x 'helper got nothing' "$T/$_n.out" &&
	   grep -q 'sendmsg refused: it would pass fd [0-9]*, a listening socket' "$T/$_n.log"; then
		pass "SCM_RIGHTS of a TLS listener to a helper without the library, $e: refused"
	else
		fail "SCM_RIGHTS of a TLS listener to a helper without the library, $e: refused" \
			"$(what "$_n"); log: $(log_tail "$T/$_n.log")"
	fi
done

# The program's own syscall(SYS_ppoll) with a time-out, getpid()
# refused: the library copies the time-out with process_vm_readv on its
# own id, which it asked getpid() for: -1, ESRCH, and the program's
# wait failed with EFAULT.  (The reply is read only after the wait.)
works rawppoll_EPERM getpid:EPERM rawppoll
works rawppoll_ENOSYS getpid:ENOSYS rawppoll

# connect(): whether the socket is TCP cannot be told.
for e in EPERM ENOSYS; do
	refused "conn_$e" getsockopt:$e connect "connect rc=-1 errno=$e" \
		"connect on fd [0-9]+ to 127\.0\.0\.1:$R: cannot tell whether the socket is TCP"
done

# A socket of unknown origin: its rule cannot be told.
for d in getsockopt:EPERM getsockname:EPERM getpeername:ENOSYS newfstatat:EPERM; do
	refused "unk_${d%%:*}" "$d" unknown "write rc=-1 errno=ECONNRESET" \
		"fd 3 .*(cannot tell which rule applies|whether it is another number of a session's socket cannot be told)"
done

# The program's own Unix sockets of unknown origin (a pair moved by raw
# dup3) with getsockopt refused: the kernel's getsockname says AF_UNIX,
# no TCP can be behind them: they work (both ends were refused before).
for d in getsockopt:EPERM getsockopt:ENOSYS; do
	_n=unix_${d#*:}
	TLSSHIM_LOG_FILE="$T/$_n.log" timeout -k 2 $((20 * TS)) env LD_PRELOAD="$SHIM_PRELOAD" \
		TLSSHIM_CONFIG="$T/fc.conf" "$PROGS/sysdeny" "$d" unixraw "$R" "$SENT" >"$T/$_n.out" 2>&1
	if grep -q -x "write rc=$((${#SENT} + 1)) errno=0" "$T/$_n.out" &&
	   grep -q -x -F "read rc=$((${#SENT} + 1)) errno=0 data=$SENT." "$T/$_n.out"; then
		pass "unknown Unix socketpair with $d: it works"
	else
		fail "unknown Unix socketpair with $d: it works" "$(what "$_n"); log: $(log_tail "$T/$_n.log")"
	fi
done

# A UDP socket socket() made, connected to the TLS rule's port with
# getsockopt refused: socket() said it is no TCP socket, so the connect
# is the kernel's (it was refused with the filter's errno).
for d in getsockopt:EPERM getsockopt:ENOSYS; do
	_n=udp_${d#*:}
	TLSSHIM_LOG_FILE="$T/$_n.log" timeout -k 2 $((20 * TS)) env LD_PRELOAD="$SHIM_PRELOAD" \
		TLSSHIM_CONFIG="$T/fc.conf" "$PROGS/sysdeny" "$d" udp "$R" "$SENT" >"$T/$_n.out" 2>&1
	if grep -q -x "connect rc=0 errno=0" "$T/$_n.out" && grep -q -x "send rc=$((${#SENT} + 1)) errno=0" "$T/$_n.out"; then
		pass "UDP connect to the rule's port with $d: it works"
	else
		fail "UDP connect to the rule's port with $d: it works" "$(what "$_n"); log: $(log_tail "$T/$_n.log")"
	fi
done

# The same with a DCCP socket (SOCK_DCCP: preload_lookupfail.so makes a
# TCP one, this kernel has none): socket() said it is no datagram socket,
# so whether it may go to the TLS port cannot be told: refused, nothing
# sent (the old library took every type but SOCK_STREAM for "not TCP":
# the sentinel went in clear).
_n=dccp_EPERM
TLSSHIM_LOG_FILE="$T/$_n.log" TLSSHIM_TEST_LOOKUPFAIL=protocol=33,type=6,socket timeout -k 2 $((20 * TS)) \
	env LD_PRELOAD="$SHIM_PRELOAD $PROGS/preload_lookupfail.so" TLSSHIM_CONFIG="$T/fc.conf" \
	"$PROGS/sysdeny" getsockopt:EPERM dccp "$R" "$SENT" >"$T/$_n.out" 2>&1
grep -q '^connect rc=-1' "$T/$_n.out" || srv_settled peer 1 2
fc_collect peer "$_n"
fc_wire "$_n"
_w=$?
if [ $_w -eq 0 ] && grep -q -x "connect rc=-1 errno=EPERM" "$T/$_n.out" &&
   grep -q 'error: connect on fd [0-9]* to 127.0.0.1:[0-9]*: cannot tell whether the socket is TCP (getsockopt: Operation not permitted)' "$T/$_n.log"; then
	pass "DCCP connect to the rule's port with getsockopt:EPERM: refused"
else
	fail "DCCP connect to the rule's port with getsockopt:EPERM: refused" "$WIRE_OUT; $(what "$_n"); log: $(log_tail "$T/$_n.log")"
fi

# No memory to be had (RLIMIT_AS below what the process maps already):
# OpenSSL's allocation fails mid-session, and the log says so (it said
# "internal error", OpenSSL's last error, not its first).  Not with a
# sanitizer, whose allocator cannot live under such a limit.
case "$SHIM_PRELOAD" in
*libasan*|*libtsan*) ;;
*)
	# (what was sent before went as TLS: the wire check)
	run oom as:1 connect
	if [ $wrc -ne 0 ]; then
		fail "connect with as:1: nothing in clear" "$WIRE_OUT; $(what oom); log: $(log_tail "$T/oom.log")"
	elif ! grep -q -x -E "(connect rc=-1 errno=ECONNREFUSED|read rc=-1 errno=ECONNRESET data=)" "$T/oom.out" ||
	     ! grep -q -E "rule \"fc-out\": (handshake failed: )?out of memory: OpenSSL could not allocate" "$T/oom.log"; then
		fail "connect with as:1: the connection fails, the log says out of memory" \
			"exit $rc; $(what oom); log: $(log_tail "$T/oom.log")"
	else
		pass "connect with as:1: $(grep -E '^(connect|read) rc=-1' "$T/oom.out"), out of memory logged ($WIRE_OUT)"
	fi
	;;
esac

# A session on standard output with no pump: stdio's write must not pass.
# (EPIPE, or ECONNRESET once the relay's reset came back.)
for d in pipe2:EPERM clone:ENOSYS nofile:5; do
	refused "std_${d%%:*}" "$d" stdout "fputs rc=-1 errno=E(PIPE|CONNRESET)" \
		"fd 1: no pump, so its connection is shut down"
done

# A pump with close_range() refused (a filter older than Linux 5.9, or
# such a kernel: ENOSYS): the pump closed nothing it inherited, kept a
# copy of the program's end of its channel, and so never saw the
# program's end: the session stayed open, no close_notify, until the
# peer gave up.  Now it closes them one by one.  And a filter that kills
# for getpid() (vsftpd's): the pump asked it for its own id and died
# before it ran; now the fork's child takes its thread id.
for d in close_range:EPERM close_range:ENOSYS getpid:KILL; do
	_n=cr_${d#*:}
	run "$_n" "$d" stdout
	if [ $rc -eq 0 ] && [ $wrc -eq 0 ] && grep -q -x -F "read rc=$((${#SENT} + 1)) errno=0 data=$SENT." "$T/$_n.out" &&
	   grep -q -x 'eof clean' "$T/$_n.srv"/*.status 2>/dev/null; then
		pass "stdout with $d: the pump ends the session with close_notify ($WIRE_OUT)"
	else
		fail "stdout with $d: the pump ends the session with close_notify" \
			"exit $rc; $WIRE_OUT; $(what "$_n"); peer: $(srv_status "$_n"); log: $(log_tail "$T/$_n.log")"
	fi
done

# The same with a descriptor above both RLIMIT_NOFILE (lowered after it
# was opened) and every number the library saw (a pipe's write end moved
# there by a raw dup3): the pump's one-by-one close stopped at the limit
# and kept it, so the program's close of its copy did not end the pipe
# (a plaintext socket there would have stayed open in a process the
# program does not know).  Now the pump closes what /proc/self/fd lists.
for d in close_range:EPERM close_range:ENOSYS; do
	_n=crh_${d#*:}
	run "$_n" "$d" stdouthigh
	if [ $rc -eq 0 ] && [ $wrc -eq 0 ] && grep -q -x -F "read rc=$((${#SENT} + 1)) errno=0 data=$SENT." "$T/$_n.out" &&
	   grep -q -x 'pipe read rc=0 errno=0' "$T/$_n.out"; then
		pass "stdout with $d, a number above the lowered limit: the pump closes it ($WIRE_OUT)"
	else
		fail "stdout with $d, a number above the lowered limit: the pump closes it" \
			"exit $rc; $WIRE_OUT; $(grep -v '^filtered\|^socket\|^connect' "$T/$_n.out" | tr '\n' '|'); log: $(log_tail "$T/$_n.log")"
	fi
done

# ppoll() refused (a filter written for poll()): the handshake's wait
# failed, the connection with it, and the log line said nothing after
# the rule's name.  Now the wait is poll()'s where ppoll is refused (a
# system call of its own on x86_64 only); with both refused the
# connection fails and the log line says why.
_d=ppoll:EPERM
if [ "$(uname -m)" = x86_64 ]; then
	works noppoll ppoll:EPERM connect
	works noppoll_nosys ppoll:ENOSYS connect
	_d=ppoll+poll:EPERM
fi
# (The handshake, or where it did not have to wait, the read's wait.)
# Where the handshake did not have to wait, the write went out over TLS
# before the read's wait was refused: the peer then has it, encrypted.
_sent_ok='read rc=-1 errno=EPERM data='
refused nopoll "$_d" connect "(connect rc=-1 errno=ECONNREFUSED|read rc=-1 errno=EPERM data=)" \
	'rule "fc-out": (handshake failed: )?cannot wait for the socket \(poll: Operation not permitted\)'
_sent_ok=

# A listening socket an accept rule makes TLS, left inheritable, then an
# exec of a program that does not run the library (no LD_PRELOAD): it
# must not get the listener (it would accept plain on the TLS port),
# also when the library's questions about the socket are refused.
for d in none getsockopt:EPERM getsockname:ENOSYS; do
	TLSSHIM_LOG_FILE="$T/xl_${d%%:*}.log" timeout -k 2 $((20 * TS)) env LD_PRELOAD="$SHIM_PRELOAD" \
		TLSSHIM_CONFIG="$T/listen.conf" "$PROGS/sysdeny" "$d" execlisten "$L" "$SENT" \
		>"$T/xl_${d%%:*}.out" 2>&1
	if grep -q -x 'listener withheld' "$T/xl_${d%%:*}.out" &&
	   grep -q 'not passed on (close-on-exec)' "$T/xl_${d%%:*}.log"; then
		pass "exec without the library, $d: the TLS listener withheld"
	else
		fail "exec without the library, $d: the TLS listener withheld" \
			"$(what "xl_${d%%:*}"); log: $(log_tail "$T/xl_${d%%:*}.log")"
	fi
done
# listen() on a socket the library did not make (raw socket and bind
# before the filter) at a port a tls accept rule names: with getsockopt
# refused it may be an SCTP one-to-many socket, whose associations no
# accept() would see: refused (EOPNOTSUPP, error line; the old library
# let it listen).  Without the filter the kernel says TCP: it listens.
for d in none getsockopt:EPERM; do
	_n=lu_${d%%:*}
	TLSSHIM_LOG_FILE="$T/$_n.log" timeout -k 2 $((20 * TS)) env LD_PRELOAD="$SHIM_PRELOAD" \
		TLSSHIM_CONFIG="$T/listen.conf" "$PROGS/sysdeny" "$d" listenunknown "$L" "$SENT" >"$T/$_n.out" 2>&1
	if [ "$d" = none ]; then
		if grep -q -x 'listen rc=0 errno=0' "$T/$_n.out"; then
			pass "listen on a socket of unknown origin, $d: it listens"
		else
			fail "listen on a socket of unknown origin, $d: it listens" "$(what "$_n"); log: $(log_tail "$T/$_n.log")"
		fi
	elif grep -q -x 'listen rc=-1 errno=EOPNOTSUPP' "$T/$_n.out" &&
	     grep -q 'error: rule "sd-in": listen on fd [0-9]*: cannot tell whether the socket is TCP (getsockopt: Operation not permitted), and the rule says TLS for its port; refused' "$T/$_n.log"; then
		pass "listen on a socket of unknown origin, $d: refused"
	else
		fail "listen on a socket of unknown origin, $d: refused" "$(what "$_n"); log: $(log_tail "$T/$_n.log")"
	fi
done
# A filter that kills for getpid() (vsftpd's): the exec asked getpid()
# whether it ran in a CLONE_VM child, and the process died there, before
# the exec; now the main thread's id answers.  (The shell exec'd then dies
# of its own getpid(): only the library's part is looked at.)  The same
# exec made by a thread that does not lead the process (execthread) still
# asked getpid() and died of SIGSYS before the exec; now tgkill() asks the
# kernel whether the thread belongs to the process the library's page
# names.
for _m in execlisten:xl:"exec without the library" execthread:xt:"exec from a second thread"; do
	_n=${_m#*:}
	_w=${_n#*:}
	_n=${_n%%:*}_kill
	TLSSHIM_LOG_FILE="$T/$_n.log" timeout -k 2 $((20 * TS)) env LD_PRELOAD="$SHIM_PRELOAD" \
		TLSSHIM_CONFIG="$T/listen.conf" "$PROGS/sysdeny" getpid:KILL "${_m%%:*}" "$L" "$SENT" >"$T/$_n.out" 2>&1
	if grep -q 'not passed on (close-on-exec)' "$T/$_n.log"; then
		pass "$_w, getpid:KILL: the exec is reached, the TLS listener withheld"
	else
		fail "$_w, getpid:KILL: the exec is reached, the TLS listener withheld" \
			"$(what "$_n"); log: $(log_tail "$T/$_n.log")"
	fi
done
# daemon() with a session open, getpid refused or killed for: the
# survivor keeps the session (it owns it now) and uses it, over TLS.
for d in none getpid:EPERM getpid:KILL; do
	_n=dm_${d#*:}
	run "$_n" "$d" daemon
	if [ $wrc -eq 0 ] && grep -q -x -F "survivor read rc=$((${#SENT} + 1)) errno=0 data=$SENT." "$T/$_n.out" &&
	   grep -q -x 'survivor exit 0' "$T/$_n.out" && ! grep -q 'killed by' "$T/$_n.out"; then
		pass "daemon() with $d: the survivor keeps the session, over TLS ($WIRE_OUT)"
	else
		fail "daemon() with $d: the survivor keeps the session, over TLS" \
			"exit $rc; $WIRE_OUT; $(what "$_n"); log: $(log_tail "$T/$_n.log")"
	fi
done
# The program's own Unix socket (a socketpair's end) is no listener: it
# is inherited through the exec also when getsockopt is refused (it was
# withheld as an unknown listener, a helper's channel lost).
for d in getsockopt:EPERM getsockopt:ENOSYS; do
	_n=xu_${d#*:}
	TLSSHIM_LOG_FILE="$T/$_n.log" timeout -k 2 $((20 * TS)) env LD_PRELOAD="$SHIM_PRELOAD" \
		TLSSHIM_CONFIG="$T/listen.conf" "$PROGS/sysdeny" "$d" execunix "$L" "$SENT" >"$T/$_n.out" 2>&1
	if grep -q -x 'listener inherited' "$T/$_n.out" && ! grep -q 'not passed on' "$T/$_n.log"; then
		pass "exec without the library, $d: a Unix socket inherited"
	else
		fail "exec without the library, $d: a Unix socket inherited" "$(what "$_n"); log: $(log_tail "$T/$_n.log")"
	fi
done

# Before start-up: the write of another library's constructor, fstat refused.
cat >"$T/early.c" <<'EOC'
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>
#if defined(__x86_64__)
#define ARCH AUDIT_ARCH_X86_64
#define FSTAT_NR SYS_fstat
#else
#define ARCH AUDIT_ARCH_AARCH64
#define FSTAT_NR SYS_newfstatat
#endif
static long rc = -2;
static int err;
long early_rc(int *e) { *e = err; return rc; }
__attribute__((constructor)) static void early(void)
{
	const char *fd = getenv("EARLY_FD"), *msg = getenv("EARLY_SENT");
	/* fstat and newfstatat refused: of EARLY_FD only, or (EARLY_ALL) of
	 * every file (the policy's too) */
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ARCH, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_newfstatat, 1, 0),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, FSTAT_NR, 0, 3),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[0])),
		getenv("EARLY_ALL") ? (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JA, 0, 0, 0)
				    : (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K,
								   (unsigned)atoi(fd ? fd : "-1"), 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { .len = sizeof f / sizeof f[0], .filter = f };

	if (!fd || !msg || prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
	    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) < 0)
		return;
	rc = write(atoi(fd), msg, strlen(msg));
	err = errno;
}
EOC
cat >"$T/early_main.c" <<'EOC'
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>
long early_rc(int *e);
int main(void)
{
	int e;
	long r = early_rc(&e);

	printf("ctor write rc=%ld errno=%s\n", r, r < 0 ? strerrorname_np(e) : "0");
	return 0;
}
EOC
# (a parent without the library connects, and the socket is inherited)
early() {
	_n=$1
	TLSSHIM_LOG_FILE="$T/$_n.log" TLSSHIM_CONFIG="$T/fc.conf" EARLY_SENT="$SENT
" timeout -k 2 $((20 * TS)) "$PY" -c '
import os, socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
os.set_inheritable(s.fileno(), True)
os.environ["EARLY_FD"] = str(s.fileno())
os.environ["LD_PRELOAD"] = sys.argv[2]
os.execv(sys.argv[3], sys.argv[3:])' "$R" "$SHIM_PRELOAD" "$T/early" >"$T/$_n.out" 2>&1
	rc=$?
	srv_settled peer 1 2
	fc_collect peer "$_n"
	fc_wire "$_n"
	wrc=$?
}
if ! cc -shared -fPIC -o "$T/libearly.so" "$T/early.c" 2>"$T/cc.err" ||
   ! cc -o "$T/early" "$T/early_main.c" -L"$T" -Wl,--no-as-needed -learly -Wl,-rpath,"$T" 2>>"$T/cc.err"; then
	fail "early: setup" "cannot build the program$(show "$T/cc.err")"
else
	# The socket's fstat refused: classified without it (refused).
	early early_nostat
	_c="before start-up, a constructor's write with the socket's fstat refused"
	if [ $wrc -ne 0 ] || srv_data early_nostat | grep -q -F "$SENT"; then
		fail "$_c: nothing in clear" "$WIRE_OUT; $(what early_nostat); log: $(log_tail "$T/early_nostat.log")"
	elif ! grep -q -x 'ctor write rc=-1 errno=ECONNRESET' "$T/early_nostat.out" ||
	     ! grep -q "fd [0-9]* (not made through this library): fstat refused" "$T/early_nostat.log"; then
		fail "$_c: ECONNRESET, a log line" "exit $rc; $(what early_nostat); log: $(log_tail "$T/early_nostat.log")"
	else
		pass "$_c: ECONNRESET, nothing in clear ($WIRE_OUT)"
	fi
	# Every fstat refused: the policy file cannot be read either, so the
	# library refuses to start, before the write.
	EARLY_ALL=1 early early_nostat_all
	_c="before start-up, a constructor's write with every fstat refused"
	if [ $wrc -ne 0 ] || srv_data early_nostat_all | grep -q -F "$SENT"; then
		fail "$_c: nothing in clear" "$WIRE_OUT; $(what early_nostat_all); log: $(log_tail "$T/early_nostat_all.log")"
	elif [ $rc -ne 78 ] || grep -q '^ctor write' "$T/early_nostat_all.out" ||
	     ! grep -q "refusing to start: .*cannot read policy file" "$T/early_nostat_all.log"; then
		fail "$_c: the library refuses to start" "exit $rc; $(what early_nostat_all); log: $(log_tail "$T/early_nostat_all.log")"
	else
		pass "$_c: exit 78 before it, nothing in clear ($WIRE_OUT)"
	fi
fi
# connect(AF_UNSPEC) on a TLS connection, refused by the filter: the
# connection goes on, and so does its session.  The library ended the
# session and made the number plain before it asked the kernel: the
# refused disconnect left the socket connected, and the program's next
# write went out in clear.
run unspec_EPERM connect:EPERM unspec
_c="connect(AF_UNSPEC) refused by a filter on a TLS connection"
_got=$(srv_data unspec_EPERM | tr '\n' '|')
if [ $wrc -ne 0 ] || ! grep -q -x 'unspec rc=-1 errno=EPERM' "$T/unspec_EPERM.out"; then
	fail "$_c: nothing in clear" "$WIRE_OUT; $(what unspec_EPERM); log: $(log_tail "$T/unspec_EPERM.log")"
elif [ "$(grep -c -x -F "read rc=$((${#SENT} + 1)) errno=0 data=$SENT." "$T/unspec_EPERM.out")" -ne 2 ] ||
     [ "$_got" != "$SENT|$SENT|" ]; then
	fail "$_c: the session goes on" "exit $rc; $(what unspec_EPERM); server got: $_got"
else
	pass "$_c: EPERM, the session goes on, both lines over TLS ($WIRE_OUT)"
fi
# The control: without a filter the association is dissolved, the
# session ends with it, and a connect() again to the TLS port makes a
# new one (the number is classified afresh): both lines over TLS.
_settle=2
run unspec_none none unspec
_settle=
_c="connect(AF_UNSPEC) on a TLS connection, then connect() again"
_got=$(srv_data unspec_none | tr '\n' '|')
if [ $wrc -ne 0 ] || ! grep -q -x 'unspec rc=0 errno=0' "$T/unspec_none.out" ||
   ! grep -q -x 'reconnect rc=0 errno=0' "$T/unspec_none.out" ||
   [ "$(grep -c -x -F "read rc=$((${#SENT} + 1)) errno=0 data=$SENT." "$T/unspec_none.out")" -ne 2 ] ||
   [ "$_got" != "$SENT|$SENT|" ]; then
	fail "$_c: a new session" "exit $rc; $WIRE_OUT; $(what unspec_none); server got: $_got; log: $(log_tail "$T/unspec_none.log")"
else
	pass "$_c: a new session, both lines over TLS ($WIRE_OUT)"
fi
fc_stop
