#!/bin/sh
# Calls that could move bytes past the TLS layer: sendfile() on a TLS fd
# encrypts (same byte count, file offset advanced exactly), and a second
# connect() on a connected TLS socket (EISCONN) leaves the session in place
# so later writes are still encrypted.  Bytes a TLS connection received,
# taken past read() by the kernel (sendfile() from the socket into a pipe,
# getsockopt(TCP_ZEROCOPY_RECEIVE)), never reach the program: a plain
# client's line on a TLS port is refused (EINVAL, EOPNOTSUPP), and arrives
# as the kernel's on a port a plain rule names.  aio_write on a number the
# library refused fails as every call there (ECONNRESET), and the number
# is not passed on (exec, SCM_RIGHTS) to a program that does not run the
# library.  An io_uring instance taken from a process without the library
# (pidfd_getfd) is refused, and one inherited through exec is replaced at
# start-up: its IORING_OP_SEND wrote a TLS socket in clear.
. "$TLSSHIM_TOP/tests/lib.sh"
. "$TLSSHIM_TOP/tests/preload/common.inc"

# A plain server that answers every connection with sendfile() of a file.
head -c 3000000 /dev/urandom >"$T/file"
P=$(free_port)
policy "$T/srv.conf" <<EOC
rules = ( { name = "sf-in"; direction = "accept"; port = $P;
            cert = "$CERTS/server.crt"; key = "$CERTS/server.key"; } );
EOC
TLSSHIM_LOG_FILE="$T/srv.log" shimbg "$PY" "$PYD/sendfile_server.py" "$P" "$T/file" >"$T/srv.out" 2>&1
srv=$!
wait_for "$T/srv.out" '^listening' 15
out=$(timeout $((30 * TS)) "$PY" "$PYD/sendfile_client.py" "$P" "$CERTS/ca.crt" "$T/file" 2>&1
)
wait_exit "$srv" 30; rc=$?
if [ "$out" = ok ] && grep -q "sent 2000000 2500000 pos 2500000" "$T/srv.out" && [ $rc -eq 0 ]; then
	pass "sendfile on a TLS fd: 4.5 MB encrypted intact, offsets and file position exact"
else
	fail "sendfile on a TLS fd" "client: $out; server exit $rc$(tail_of "$T/srv.out" "$T/srv.log")"
fi

# connect() again on a connected TLS socket: EISCONN, and the session stays.
P=$(free_port)
policy "$T/cli.conf" <<EOC
rules = ( { name = "eis-out"; direction = "connect"; port = $P; ca = "$CERTS/ca.crt"; } );
EOC
bg "$PY" "$TLSSHIM_TOP/tests/preload/tls_echo_server.py" "$P" "$CERTS/server.crt" "$CERTS/server.key" 1 >"$T/echo.out" 2>&1
echo1=$!
wait_for "$T/echo.out" '^listening' 15
out=$(TLSSHIM_LOG_FILE="$T/cli.log" timeout $((20 * TS)) env LD_PRELOAD="$SHIM_PRELOAD" TLSSHIM_CONFIG="$POLICY" "$PY" "$PYD/eisconn_client.py" "$P" 2>&1
)
# (CPython reports the kernel's EISCONN on a non-blocking socket as success.)
case "$out" in "EISCONN still encrypted"|"connected still encrypted") ok=1 ;; *) ok= ;; esac
if [ -n "$ok" ]; then
	pass "second connect() on a connected TLS socket: EISCONN, session kept, data still encrypted"
else
	fail "second connect() keeps the session" "$out$(tail_of "$T/cli.log" "$T/echo.out")"
fi
stop "$echo1"

# splice() from a pipe into a TLS socket encrypts (and counts exactly);
# splice() out of a TLS socket is refused with EINVAL.
P=$(free_port)
policy "$T/sp.conf" <<EOC
rules = ( { name = "sp-out"; direction = "connect"; port = $P; ca = "$CERTS/ca.crt"; } );
EOC
bg "$PY" "$TLSSHIM_TOP/tests/preload/tls_echo_server.py" "$P" "$CERTS/server.crt" "$CERTS/server.key" 1 >"$T/spe.out" 2>&1
echo2=$!
wait_for "$T/spe.out" '^listening' 15
out=$(TLSSHIM_LOG_FILE="$T/sp.log" timeout $((20 * TS)) env LD_PRELOAD="$SHIM_PRELOAD" TLSSHIM_CONFIG="$T/sp.conf" "$PY" "$PYD/splice_client.py" "$P" 2>&1
)
if [ "$out" = "spliced 51200 echoed ok; splice out: errno 22" ]; then
	pass "splice from a pipe into a TLS fd encrypts 50 KB exactly; splice out of a TLS fd: EINVAL"
else
	fail "splice into a TLS fd" "$out$(tail_of "$T/sp.log" "$T/spe.out")"
fi
stop "$echo2"

# sendfile() from a socket into a pipe, and getsockopt(TCP_ZEROCOPY_RECEIVE)
# (its copy buffer, or pages moved into a mapping of the socket), hand the
# program what the socket received, past read(): on a TLS port a plain
# client's line (an attacker's) must not reach the program.  Before, only
# sendfile()'s output was looked at and getsockopt() not at all: both gave
# the program the attacker's line (tests/progs/rawread_server.c).  The
# same calls on a port a plain rule names get the line, as without the
# library.
LINE="PLAINTEXT-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
for how in sendfile zerocopy; do
	case $how in
	sendfile) want="refused: EINVAL" said='sendfile() out of a TLS connection: EINVAL' ;;
	zerocopy) want="refused: EOPNOTSUPP" said='TCP_ZEROCOPY_RECEIVE is not available on a TLS connection' ;;
	esac
	for action in tls plain; do
		P=$(free_port)
		if [ $action = tls ]; then
			audit_exclude "$P" "$how: a plain client's line on the TLS port on purpose (the program must not get it)"
			keys="cert = \"$CERTS/server.crt\"; key = \"$CERTS/server.key\";"
		else
			keys='action = "plain";'
		fi
		policy "$T/raw-$how-$action.conf" <<EOC
rules = ( { name = "raw-in"; direction = "accept"; port = $P; $keys } );
EOC
		: >"$T/raw-$how-$action.log"
		TLSSHIM_LOG_FILE="$T/raw-$how-$action.log" bg env LD_PRELOAD="$SHIM_PRELOAD" \
			TLSSHIM_CONFIG="$T/raw-$how-$action.conf" "$PROGS/rawread_server" "$P" "$how" \
			>"$T/raw-$how-$action.out" 2>&1
		srv=$!
		if ! wait_for "$T/raw-$how-$action.out" '^listening' 10; then
			fail "$how out of a $action connection: setup" "never listened$(show "$T/raw-$how-$action.out")"
			stop "$srv"
			continue
		fi
		peer raw --port "$P" --send "$LINE" >/dev/null 2>&1
		wait_exit "$srv" 20; rc=$?
		first=$(sed -n 2p "$T/raw-$how-$action.out")
		if [ $action = tls ]; then
			if [ $rc -eq 0 ] && [ "$first" = "$want" ] && has_no "$T/raw-$how-$action.out" "$LINE" &&
			   grep -q -F "$said" "$T/raw-$how-$action.log"; then
				pass "$how out of a TLS connection: $want; a plain client's line never reaches the program"
			else
				fail "$how out of a TLS connection" "exit $rc; $(tr '\n' '|' <"$T/raw-$how-$action.out"); log: $(tail -n 3 "$T/raw-$how-$action.log" | tr '\n' '|')"
			fi
		elif [ $rc -eq 0 ] && [ "$first" = "got ${#LINE}: $LINE" ]; then
			pass "$how out of a connection a plain rule names: the line, as the kernel's"
		else
			fail "$how out of a plain connection" "exit $rc; $(tr '\n' '|' <"$T/raw-$how-$action.out")"
		fi
	done
done

# A number the library refused: a connection to a TLS rule's port that
# carried a byte before the library met it (inherited across exec) fails
# every call with ECONNRESET, aio_write too, and is not passed on to a
# program that does not run the library (close-on-exec: its write fails
# with EBADF; sendmsg with SCM_RIGHTS: EOPNOTSUPP).  Before, aio was
# refused on TLS fds only, and aio_write on the refused one wrote the
# program's line in clear from the C library's helper thread; and a shell
# exec'd without LD_PRELOAD, or a process without the library that got
# the connection with SCM_RIGHTS, wrote its line on the connection in
# clear (tests/progs/refused_conn.c).  The peer records
# what it receives: the byte sent before the library, nothing more.
for how in aio exec scm; do
	case $how in
	aio) want="write: ECONNRESET|aio_write: ECONNRESET|" said= ;;
	exec) want="write: ECONNRESET|exec|" said='a connection this library refused, not passed on (close-on-exec)' ;;
	scm) want="write: ECONNRESET|sendmsg: EOPNOTSUPP|receiver: nothing|"
	     said='sendmsg refused: it would pass fd 3, a connection this library refused' ;;
	esac
	P=$(free_port)
	audit_exclude "$P" "$how on a refused number: its first byte was sent in clear before the library, on purpose"
	policy "$T/refused-$how.conf" <<EOC
rules = ( { name = "refused-out"; direction = "connect"; port = $P; address = "127.0.0.1/32";
            ca = "$CERTS/ca.crt"; } );
EOC
	if ! start_peer "refused-$how.peer" server --port "$P" --plain --mode record \
		--record "$T/refused-$how.data" --status "$T/refused-$how.status"; then
		fail "$how on a refused number: setup" "the peer never listened$(show "$T/refused-$how.peer.err")"
		continue
	fi
	: >"$T/refused-$how.log"
	out=$(TLSSHIM_LOG_FILE="$T/refused-$how.log" TLSSHIM_CONFIG="$T/refused-$how.conf" \
		timeout -k 2 $((20 * TS)) "$PROGS/refused_conn" "$P" "$SHIM_PRELOAD" "$LINE" "$how" \
		2>"$T/refused-$how.err" | tr '\n' '|')
	wait_exit "$PEER" 20
	if [ "$out" = "$want" ] && [ "$(cat "$T/refused-$how.data")" = x ] &&
	   { [ -z "$said" ] || grep -q -F "$said" "$T/refused-$how.log"; }; then
		pass "$how on a number refused for plaintext before the library: nothing more in clear ($(echo "$out" | tr '|' ' '))"
	else
		fail "$how on a refused number" "$out; the peer got: $(cut -c1-80 "$T/refused-$how.data" | tr '\n' '|'); $(tr '\n' '|' <"$T/refused-$how.err")$(show "$T/refused-$how.log")"
	fi
done

# An io_uring instance made by a process that does not run the library
# (which refuses to make one while the policy has TLS rules), taken with
# pidfd_getfd(): IORING_OP_SEND on a TLS socket, entered with a raw
# system call as liburing does, passes no wrapper.  Before, the
# program's line went out in clear after the handshake (the peer: "wrong
# version number").  Now pidfd_getfd() refuses the ring (EPERM, a log
# line), and the line stays inside TLS.  Linux itself refuses to pass a
# ring with SCM_RIGHTS or to open one through /proc/PID/fd: the program
# checks both ways too (tests/progs/sysdeny.c, modes uring*).
#   getfd-nosys, getfd-perm: the same, with readlink (the name /proc
# gives: as without /proc) and io_uring_register refused by a seccomp
# filter (ENOSYS, EPERM: Docker's default profile refuses io_uring).  The
# library asked io_uring_register without /proc, and took the filter's
# answer for the kernel's: ENOSYS made the ring none (its send went out in
# clear), EPERM made every descriptor a ring (pidfd_getfd of the helper's
# socket and eventfd failed with EPERM).  Now a socket is no ring by its
# fstat, and an eventfd by io_uring_enter's EOPNOTSUPP.
#   exec: a parent without the library makes the ring, clears its
# FD_CLOEXEC and execs the program with the library: before, the ring
# was not looked at and its send went out in clear; now the library puts
# a closed socket on its number at start-up (mmap: ENODEV), with a log line.
# exec-nosys: the same, the library starting under the filter (the ring
# known by io_uring_enter).
#   rawgetfd: the ring taken with a raw pidfd_getfd (no wrapper sees it),
# then poll()ed, as a program waits for completions: the library meets an
# unseen number there and does the same (before: sent in clear).
for how in getfd scm procfd getfd-nosys getfd-perm exec exec-nosys rawgetfd; do
	P=$(free_port)
	policy "$T/uring-$how.conf" <<EOC
rules = ( { name = "uring-out"; direction = "connect"; port = $P; ca = "$CERTS/ca.crt"; } );
EOC
	if ! start_peer "uring-$how.peer" server --port "$P" --cert "$CERTS/server.crt" --key "$CERTS/server.key" \
		--mode echo --record "$T/uring-$how.data" --status "$T/uring-$how.status"; then
		fail "io_uring ring taken with $how: setup" "the peer never listened$(show "$T/uring-$how.peer.err")"
		continue
	fi
	deny=none mode=uring${how%-*} pre=$SHIM_PRELOAD
	case $how in
	*-nosys) deny=readlink+io_uring_register:ENOSYS ;;
	*-perm) deny=readlink+io_uring_register:EPERM ;;
	esac
	case $how in exec*) pre= ;; esac
	TLSSHIM_LOG_FILE="$T/uring-$how.log" timeout -k 2 $((20 * TS)) env LD_PRELOAD="$pre" \
		SYSDENY_PRELOAD="$SHIM_PRELOAD" TLSSHIM_CONFIG="$T/uring-$how.conf" \
		"$PROGS/sysdeny" "$deny" "$mode" "$P" "$LINE" >"$T/uring-$how.out" 2>&1
	rc=$?
	wait_exit "$PEER" 20
	others=
	case $how in
	getfd*) ring='ring rc=-1 errno=EPERM' said='pidfd_getfd: fd [0-9]* of the other process is an io_uring instance'
		others='eventfd socket' ;;
	scm) ring='ring none' said= ;;
	procfd) ring='ring rc=-1 errno=ENXIO' said= ;;
	exec*) ring='mmap rc=-1 errno=ENODEV'
		said='fd [0-9]* (inherited, not made through this library) is an io_uring instance.*replaced by a closed socket' ;;
	rawgetfd) ring='mmap rc=-1 errno=ENODEV'
		said='fd [0-9]* (unseen, not made through this library) is an io_uring instance.*replaced by a closed socket' ;;
	esac
	taken=yes
	for o in $others; do
		grep -q "^getfd $o rc=[0-9][0-9]* errno=0\$" "$T/uring-$how.out" || taken=no
	done
	_c="io_uring ring taken from a process without the library ($how)"
	if [ $rc -ne 0 ] || ! grep -q -x "$ring" "$T/uring-$how.out" || grep -q '^send res' "$T/uring-$how.out" ||
	   [ "$(cat "$T/uring-$how.data")" != "$LINE" ] || ! grep -q -x 'eof clean' "$T/uring-$how.status" ||
	   [ $taken = no ] || { [ -n "$said" ] && ! grep -q "$said" "$T/uring-$how.log"; }; then
		fail "$_c: refused, nothing in clear" "exit $rc; want '$ring'; $(tr '\n' '|' <"$T/uring-$how.out"); peer: $(tr '\n' '|' <"$T/uring-$how.status"); got: $(cut -c1-80 "$T/uring-$how.data" | tr '\n' '|')$(show "$T/uring-$how.log")"
	else
		pass "$_c: $ring${others:+ (its socket and eventfd taken)}, the peer got the line over TLS only"
	fi
done

# Control: under a policy without TLS rules an inherited ring is the
# program's (mapped and entered: "enter rc=1"; nobody listens on the port,
# so its send fails), and no warn line names it.
P=$(free_port)
policy "$T/uring-keep.conf" <<EOC
rules = ( { name = "plain-out"; direction = "connect"; port = $P; action = "plain"; } );
EOC
TLSSHIM_LOG_FILE="$T/uring-keep.log" timeout -k 2 $((20 * TS)) env SYSDENY_PRELOAD="$SHIM_PRELOAD" \
	TLSSHIM_CONFIG="$T/uring-keep.conf" "$PROGS/sysdeny" none uringexec "$P" "$LINE" >"$T/uring-keep.out" 2>&1
rc=$?
if [ $rc -eq 0 ] && grep -q -x 'mmap rc=0 errno=0' "$T/uring-keep.out" && grep -q -x 'enter rc=1 errno=0' "$T/uring-keep.out" &&
   ! grep -q 'io_uring instance' "$T/uring-keep.log" 2>/dev/null; then
	pass "an inherited io_uring ring under a policy without TLS rules: kept, mapped and entered"
else
	fail "an inherited ring without TLS rules: kept" "exit $rc; $(tr '\n' '|' <"$T/uring-keep.out")$(show "$T/uring-keep.log")"
fi

# glibc's own Sun RPC over TCP (the compatibility symbols a program linked
# before glibc 2.32 is bound to) connects, reads and writes with the C
# library's internal calls: clnttcp_create() to a port a tls rule names
# then clnt_call() sent the call, the program's string in it, in clear;
# svctcp_create() on a port a tls accept rule names would serve in clear.
# Now each transport a tls rule names is destroyed as it is made (no byte
# has moved yet): NULL, ECONNREFUSED, a log line; the peer gets nothing.
# rpc_client_case LABEL TAG CALL ARGS...: sunrpc_client ARGS under
# $T/TAG.conf, whose rule "rpc-out" makes the peer ($PEER, recording to
# $T/TAG.data) TLS: CALL refused, logged, and the peer got nothing.
rpc_client_case() {
	_rl=$1 _rt=$2 _rw=$3
	shift 3
	out=$(TLSSHIM_LOG_FILE="$T/$_rt.log" timeout -k 2 $((20 * TS)) env LD_PRELOAD="$SHIM_PRELOAD" \
		TLSSHIM_CONFIG="$T/$_rt.conf" "$PROGS/sunrpc_client" "$@" 2>&1 | tr '\n' '|')
	wait_exit "$PEER" 20
	if [ "$out" = "$_rw NULL errno=ECONNREFUSED|" ] && ! grep -q -F "$LINE" "$T/$_rt.data" &&
	   grep -q "rule \"rpc-out\": $_rw() (the C library.s Sun RPC) .*refused" "$T/$_rt.log"; then
		pass "Sun RPC $_rl to a TLS port: refused (ECONNREFUSED), nothing in clear"
	else
		fail "Sun RPC $_rl to a TLS port: refused" "$out; the peer got: $(cut -c1-120 "$T/$_rt.data" | tr -c '[:print:]' '.')$(show "$T/$_rt.log")"
	fi
}
P=$(free_port)
if ! start_peer rpc.peer server --port "$P" --plain --mode record --record "$T/rpc.data" --status "$T/rpc.status"; then
	fail "Sun RPC client: setup" "the peer never listened$(show "$T/rpc.peer.err")"
else
	Q=$(free_port)
	policy "$T/rpc.conf" <<EOC
rules = ( { name = "rpc-out"; direction = "connect"; port = $P; ca = "$CERTS/ca.crt"; },
          { name = "rpc-in"; direction = "accept"; port = $Q;
            cert = "$CERTS/server.crt"; key = "$CERTS/server.key"; } );
EOC
	: >"$T/rpc.data"
	rpc_client_case clnttcp_create rpc clnttcp_create client "$P" "$LINE"
	out=$(TLSSHIM_LOG_FILE="$T/rpcs.log" timeout -k 2 $((20 * TS)) env LD_PRELOAD="$SHIM_PRELOAD" \
		TLSSHIM_CONFIG="$T/rpc.conf" "$PROGS/sunrpc_client" service "$Q" 2>&1 | tr '\n' '|')
	if [ "$out" = "svctcp_create NULL errno=ECONNREFUSED|" ] &&
	   grep -q 'rule "rpc-in": svctcp_create() (the C library.s Sun RPC) .*refused' "$T/rpcs.log"; then
		pass "Sun RPC svctcp_create on a TLS accept port: refused (ECONNREFUSED)"
	else
		fail "Sun RPC svctcp_create on a TLS accept port: refused" "$out$(show "$T/rpcs.log")"
	fi
fi

# clnt_create() takes its protocol by name from /etc/protocols
# (getprotobyname): "TCP", tcp's alias there, made the same TCP transport
# as "tcp", but only "tcp" was judged: clnt_call() then sent the program's
# string in clear to the port a tls rule names.  Each client is judged by
# its socket now.  And a TCP client made for port 0 (clnt_create, or
# clnttcp_create with sin_port 0) first asks the portmapper of the host,
# over TCP to port 111, with the C library's own calls: with a tls rule
# on port 111 that query went in clear; refused now before it is made.
# pmap_getmaps asks it over TCP always, and rtime() without a timeout asks
# the time server (TCP port 37) the same way: its 4 bytes were the
# program's answer, unauthenticated.  The portmapper here (TCP and UDP,
# 127.0.0.1:111) answers every GETPORT with the recording peer's port, the
# time server (TCP, 127.0.0.1:37) a time, and each says "tcp query" for
# each TCP one.
P=$(free_port)
if ! grep -q '^tcp[[:space:]].*[[:space:]]TCP' /etc/protocols 2>/dev/null; then
	pass "Sun RPC clnt_create(\"TCP\") to a TLS port: skipped (no TCP alias in /etc/protocols)"
elif ! start_peer rpc2.peer server --port "$P" --plain --mode record --record "$T/rpc2.data" --status "$T/rpc2.status"; then
	fail "Sun RPC clnt_create(\"TCP\"): setup" "the peer never listened$(show "$T/rpc2.peer.err")"
else
	bg "${PY:-python3}" -c '
import socket, struct, sys, threading
def reply(m):
    # xid, REPLY, MSG_ACCEPTED, AUTH_NULL verifier, SUCCESS, the port
    return m[:4] + struct.pack(">IIIIII", 1, 0, 0, 0, 0, int(sys.argv[1]))
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(("127.0.0.1", 111)); u.settimeout(60)
def tcp(port, answer):
    t = socket.socket(); t.bind(("127.0.0.1", port)); t.listen(8); t.settimeout(60)
    return t, answer
def serve(t, answer):
    for _ in range(8):
        try:
            c, _ = t.accept()
        except OSError:
            return
        c.settimeout(10)
        print("tcp query", flush=True)     # (before any answer)
        try:
            answer(c)
            c.recv(16)
        except OSError:
            pass
        c.close()
def pmap(c):
    r = reply(c.recv(4096)[4:])
    c.sendall(struct.pack(">I", 0x80000000 | len(r)) + r)
servers = [tcp(111, pmap), tcp(37, lambda c: c.sendall(struct.pack(">I", 3900000000)))]
def udp():
    for _ in range(8):
        try:
            m, a = u.recvfrom(1024)
        except OSError:
            return
        u.sendto(reply(m), a)
threading.Thread(target=udp, daemon=True).start()
threading.Thread(target=serve, args=servers[1], daemon=True).start()
print("ready", flush=True)
serve(*servers[0])
' "$P" >"$T/pmap.out" 2>&1
	policy "$T/rpc2.conf" <<EOC
rules = ( { name = "rpc-out"; direction = "connect"; port = $P; ca = "$CERTS/ca.crt"; } );
EOC
	policy "$T/pmap.conf" <<EOC
rules = ( { name = "pmap-out"; direction = "connect"; port = 111; ca = "$CERTS/ca.crt"; },
          { name = "time-out"; direction = "connect"; port = 37; ca = "$CERTS/ca.crt"; } );
EOC
	: >"$T/rpc2.data"
	if ! wait_for "$T/pmap.out" '^ready' 10; then
		fail "Sun RPC clnt_create(\"TCP\"): setup" "the portmapper never bound: $(tr '\n' '|' <"$T/pmap.out")"
	else
		# (port 111 is plain under rpc2.conf: its query is in clear rightly)
		audit_exclude_during 111 "a portmapper query under a policy without a port-111 rule" \
			rpc_client_case 'clnt_create("TCP")' rpc2 clnt_create create TCP "$LINE"
		for how in "create tcp" "client 0" "getmaps 0" "rtime 0"; do
			case $how in
			create*) what=clnt_create whom=portmapper rule=pmap-out ;;
			client*) what=clnttcp_create whom=portmapper rule=pmap-out ;;
			getmaps*) what=pmap_getmaps whom=portmapper rule=pmap-out ;;
			rtime*) what=rtime whom="time server" rule=time-out ;;
			esac
			before=$(grep -c '^tcp query' "$T/pmap.out")
			out=$(TLSSHIM_LOG_FILE="$T/pmap.log" timeout -k 2 $((20 * TS)) env LD_PRELOAD="$SHIM_PRELOAD" \
				TLSSHIM_CONFIG="$T/pmap.conf" "$PROGS/sunrpc_client" $how "$LINE" 2>&1 | tr '\n' '|')
			after=$(grep -c '^tcp query' "$T/pmap.out")
			if [ "$out" = "$what NULL errno=ECONNREFUSED|" ] && [ "$after" = "$before" ] &&
			   grep -q "rule \"$rule\": $what() would ask this $whom over TCP.*refused" "$T/pmap.log"; then
				pass "Sun RPC $what, a tls rule on the $whom's port: refused before its TCP query"
			else
				fail "Sun RPC $what, a tls rule on the $whom's port: refused" "$out; TCP queries at the stub: $before then $after$(show "$T/pmap.log")"
			fi
		done
	fi
fi
