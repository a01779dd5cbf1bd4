#!/bin/sh
# tests/preload/faults_foreign.sh — sockets that are not TCP (SCTP, DCCP)
# and get a peer without connect(), or by connect() on a socket type that
# is not SOCK_STREAM, where a tls rule names the peer: refused with an
# error line naming the protocol, never a byte in clear (the wire audit
# sees no connection to the rule's port), never the peer's bytes handed
# to the program.
# This kernel has neither SCTP nor DCCP: preload_lookupfail.so makes a TCP
# socket say SO_PROTOCOL 132 or 33 (and SO_TYPE SOCK_SEQPACKET or
# SOCK_DCCP: ",type=N"), and with ",assoc" gives it the peer a real SCTP
# socket would get: sendto/sendmsg/sendmmsg with a destination, and
# sctp_connectx (setsockopt SCTP_SOCKOPT_CONNECTX, getsockopt
# SCTP_SOCKOPT_CONNECTX3) connect it; recvfrom/recvmsg name the source.
# (The old library let each through: the line reached the plain server in
# clear, or the program read the peer's.)
# One plain recording server (tlspeer.py --plain), started once on port S,
# serves every case that needs one (what it got and its connections,
# moved to the case's files after each case: srv_collect); the case
# whose plain rule's port the wire audit leaves out has one of its own,
# on a port of its own.  (A server per case before: a Python start, about
# 0.1 s of CPU, 23 times per build.)
. "$(dirname "$0")/../lib.sh"
. "$TLSSHIM_TOP/tests/preload/common.inc"
need_shim faults_foreign_setup
INJ=$PROGS/preload_lookupfail.so
[ -f "$INJ" ] || { fail faults_foreign_setup "$INJ missing (make test-build)"; exit 0; }

# The plain server on S, for every case: what it receives appended to
# $T/srv.rec, a line per connection to $T/srv.status; it serves one
# connection after another, waits for the next as long as the script may
# run, and every case checks that it still runs (gone, a connection
# would be refused by the kernel, as the library refuses it).
S=$(free_port)
if ! start_peer srv server --plain --port "$S" --count 1000 \
	--timeout "${TLSSHIM_TEST_TIME_LIMIT:-300}" --record "$T/srv.rec" \
	--status "$T/srv.status"; then
	fail faults_foreign_setup "the plain server never started$(show "$T/srv.err")"
	exit 0
fi
SRV=$PEER

# srv_collect NAME: what the server got during case NAME moved to
# $T/NAME.rec and $T/NAME.srv.status (the next case starts without);
# 1, and a FAIL line for NAME, when the server no longer runs.
srv_collect() {
	[ ! -f "$T/srv.rec" ] || mv "$T/srv.rec" "$T/$1.rec"
	[ ! -f "$T/srv.status" ] || mv "$T/srv.status" "$T/$1.srv.status"
	alive "$SRV" && return 0
	fail "$1" "the plain server is gone$(show "$T/srv.out" "$T/srv.err")"
	return 1
}

# refused_case NAME CALL LOOKUPFAIL RULE_ADDR CMD...: the plain server on
# port $P (S) that a tls connect rule names (at RULE_ADDR), CMD run
# under the library and the injector (a line on its standard input); the server must get nothing, CMD
# must print "refused 111" (or the client's "Connection refused"), and
# the log must name CALL and the protocol.  (Nothing: no byte, and no
# connection either, its "conn" lines; the check looked for those on the
# server's standard output before, where they never went.)
refused_case() {
	_n=$1 _call=$2 _lf=$3 _ra=$4
	shift 4
	policy "$T/$_n.conf" <<EOC
rules = ( { name = "out"; direction = "connect"; port = $P; address = "$_ra"; ca = "$CERTS/ca.crt"; } );
EOC
	echo "foreign-secret-$_n" | TLSSHIM_LOG_FILE="$T/$_n.log" TLSSHIM_TEST_LOOKUPFAIL=$_lf \
		timeout -k 2 $((20 * TS)) env LD_PRELOAD="$SHIM_PRELOAD $INJ" TLSSHIM_CONFIG="$POLICY" "$@" \
		>"$T/$_n.out" 2>"$T/$_n.err"
	srv_collect "$_n" || return
	_proto=${_lf#protocol=}
	_proto=${_proto%%,*}
	if [ -s "$T/$_n.rec" ] || grep -q '^conn' "$T/$_n.srv.status" 2>/dev/null; then
		fail "$_n" "the server got a connection: '$(cat "$T/$_n.rec" 2>/dev/null)'$(show "$T/$_n.out" "$T/$_n.log")"
	elif ! grep -q '^refused 111$\|^client: connect: Connection refused' "$T/$_n.out" "$T/$_n.err"; then
		fail "$_n" "not refused: $(cat "$T/$_n.out" "$T/$_n.err")$(show "$T/$_n.log")"
	elif ! grep -q "error: [0-9.]*:$P rule \"out\": $_call on fd [0-9]* over protocol $_proto, not TCP (SCTP, DCCP, or one this library does not know), where the policy says TLS; refused" "$T/$_n.log"; then
		fail "$_n" "no error line naming $_call and protocol $_proto$(show "$T/$_n.log")"
	else
		pass "$_n"
	fi
}

# foreign_peer_run NAME LOOKUPFAIL RULE MODE: a connect rule "out" for
# port $P (RULE: the rule's other settings), where a plain server listens
# (S's, or with FRESH set a server of the case's own, $PEER, recording in
# $T/NAME.rec), and foreign_peer.py MODE 127.0.0.1 $P under the library
# and the injector; 1 (a failure said) when the server never started.
foreign_peer_run() {
	if [ -n "${FRESH:-}" ] && ! start_peer "$1.srv" server --plain --port "$P" \
		--timeout $((10 * TS)) --record "$T/$1.rec"; then
		fail "$1" "the plain server never started$(show "$T/$1.srv.err")"
		return 1
	fi
	policy "$T/$1.conf" <<EOC
rules = ( { name = "out"; direction = "connect"; port = $P; $3 } );
EOC
	TLSSHIM_LOG_FILE="$T/$1.log" TLSSHIM_TEST_LOOKUPFAIL=$2 timeout -k 2 $((20 * TS)) \
		env LD_PRELOAD="$SHIM_PRELOAD $INJ" TLSSHIM_CONFIG="$POLICY" "$PY" "$PYD/foreign_peer.py" "$4" \
		127.0.0.1 "$P" </dev/null >"$T/$1.out" 2>"$T/$1.err"
}

# ---- connect() on a socket type that is not SOCK_STREAM ---------------------
P=$S
refused_case connect_dccp_refused_not_plain connect protocol=33,type=6 127.0.0.1/32 \
	"$PROGS/client" 127.0.0.1 "$P"
refused_case connect_sctp_seqpacket_refused_not_plain connect protocol=132,type=5 127.0.0.1/32 \
	"$PROGS/client" 127.0.0.1 "$P"

# ---- a peer without connect(): SCTP's implicit association, sctp_connectx ----
for mode in sendto sendmsg sendmmsg connectx connectx3; do
	call=$mode
	case $mode in connectx*) call=sctp_connectx ;; esac
	for style in stream seqpacket; do
		lf=protocol=132,assoc
		[ "$style" = seqpacket ] && lf=protocol=132,type=5,assoc
		refused_case "${mode}_sctp_${style}_refused_not_plain" "$call" "$lf" 127.0.0.1/32 \
			"$PY" "$PYD/foreign_peer.py" "$mode" 127.0.0.1 "$P"
	done
done
# The destination no rule names (127.0.0.1), another address of the same
# peer (SCTP_DSTADDRV4: 127.0.0.2, at the same port) one that a tls rule
# names: the association would have a path to it.
refused_case dstaddr_sctp_other_address_refused sendmsg protocol=132,assoc 127.0.0.2/32 \
	"$PY" "$PYD/foreign_peer.py" dstaddr 127.0.0.1 "$P" 127.0.0.2

# ---- a datagram socket's number that names another socket now ---------------
# A UDP socket's datagrams to the rule's address go (not TCP, not SCTP),
# and the library remembers the number as a datagram socket's, asking the
# kernel no more (passthrough.sh, udp_tls_rule_one_getsockopt_per_socket).
# Then the number names a socket that says SCTP: the UDP one closed and a
# socket() made at its number, or another dup2()'d onto it (dup3 with
# O_CLOEXEC); or the UDP one closed by fclose() past every wrapper (no
# close() to forget it), and the number handed out by socket(),
# fcntl(F_DUPFD_CLOEXEC) or SCM_RIGHTS, each of which must forget it.
# Its sendto() to the rule's address must be refused: the number's
# memory goes with the socket it named.  (A library that kept it sent
# the line in clear.)
for how in close dup2 dup3 fclose dupfd scm; do
	refused_case "reuse_${how}_udp_number_sctp_sendto_refused" sendto protocol=132,assoc 127.0.0.1/32 \
		"$PY" "$PYD/foreign_peer.py" "reuse-$how" 127.0.0.1 "$P"
done

# A child made by clone(CLONE_VM) without CLONE_FILES (against the rule
# that it only execs or exits) dup2()s a UDP socket onto the number of
# its parent's socket that says SCTP, in its own descriptor table, and
# sends datagrams from it: what it learns of the number is true of its
# table only, and must not be remembered in the memory it shares.  The
# parent's sendto() from its own socket at that number must be refused.
# (A library that remembered it sent the line in clear.)  With
# CLONE_VFORK as well: the same.
for how in clone vfork; do
	refused_case "vmchild_${how}_udp_number_sctp_sendto_refused" sendto protocol=132,assoc 127.0.0.1/32 \
		"$PROGS/vmchild_dgram" 127.0.0.1 "$P" "$how"
done

# ---- an association peeled off (SCTP_SOCKOPT_PEELOFF) -------------------------
# getsockopt(SOL_SCTP, SCTP_SOCKOPT_PEELOFF) hands out a new descriptor of
# one association, here of one to the rule's peer, at the lowest free
# number: one whose FILE fclose() closed, past every wrapper (the table
# still said PLAIN there).  Classified when it is handed out: its first
# write() is refused (ECONNRESET, 104), never sent in clear.  (The old
# library classified it at its first use, by the stale word: PLAIN, and
# the line reached the server in clear.)
# (The peel-off's association is a TCP connection to the server: it gets
# one, but never a byte.)
name=peeloff_sctp_to_tls_peer_refused_first_byte
P=$S
if foreign_peer_run "$name" "protocol=132,peeloff=$P" \
	"address = \"127.0.0.1/32\"; ca = \"$CERTS/ca.crt\";" peeloff && srv_collect "$name"; then
	if [ -s "$T/$name.rec" ]; then
		fail "$name" "the server got '$(cat "$T/$name.rec")'$(show "$T/$name.out" "$T/$name.err" "$T/$name.log")"
	elif ! grep -q '^refused 104$' "$T/$name.out"; then
		fail "$name" "not refused: $(cat "$T/$name.out" "$T/$name.err")$(show "$T/$name.log")"
	elif ! grep -q "error: 127.0.0.1:$P rule \"out\": fd [0-9]* (not made through this library) is a connection over protocol 132, not TCP" "$T/$name.log"; then
		fail "$name" "no error line$(show "$T/$name.log")"
	else
		pass "$name"
	fi
fi

# ---- the source a receive names: a peer a tls rule names ---------------------
for mode in recvfrom recvmsg; do
	name=${mode}_sctp_from_tls_peer_refused
	P=$(free_port)
	policy "$T/$name.conf" <<EOC
rules = ( { name = "out"; direction = "connect"; port = $P; address = "127.0.0.1/32"; ca = "$CERTS/ca.crt"; } );
EOC
	audit_exclude "$P" "$name: the peer bound to the rule's port sends a line in clear on purpose (the program must not get it)"
	TLSSHIM_LOG_FILE="$T/$name.log" TLSSHIM_TEST_LOOKUPFAIL=protocol=132,assoc timeout -k 2 $((20 * TS)) \
		env LD_PRELOAD="$SHIM_PRELOAD $INJ" TLSSHIM_CONFIG="$POLICY" "$PY" "$PYD/foreign_peer.py" "$mode" \
		127.0.0.1 "$P" </dev/null >"$T/$name.out" 2>"$T/$name.err"
	if grep -q '^got' "$T/$name.out" || ! grep -q '^refused 111$' "$T/$name.out"; then
		fail "$name" "$(cat "$T/$name.out" "$T/$name.err")$(show "$T/$name.log")"
	elif ! grep -q "error: 127.0.0.1:$P rule \"out\": $mode on fd [0-9]* over protocol 132, not TCP" "$T/$name.log"; then
		fail "$name" "no error line$(show "$T/$name.log")"
	else
		pass "$name"
	fi
done

# ---- a plain rule, or none, leaves such a socket alone ----------------------
# (A server of its own, on a port of its own: the wire audit leaves that
# port out, and S's connections must stay in it.)
name=sendto_sctp_plain_rule_passes
P=$(free_port)
audit_exclude "$P" "$name: plain by policy"
if FRESH=1 foreign_peer_run "$name" protocol=132,assoc 'action = "plain";' sendto; then
	wait_for "$T/$name.rec" 'foreign-secret-sendto' 10
	stop "$PEER"
	if grep -q '^sent$' "$T/$name.out" && grep -q 'foreign-secret-sendto' "$T/$name.rec"; then
		pass "$name"
	else
		fail "$name" "$(cat "$T/$name.out" "$T/$name.err") recorded '$(cat "$T/$name.rec" 2>/dev/null)'$(show "$T/$name.log")"
	fi
fi

# ---- listen() on a port a tls or deny accept rule names ---------------------
# An SCTP one-to-many socket (SOCK_SEQPACKET) takes associations with no
# accept(): its recvmsg()/read() would hand the program a peer's bytes in
# clear.  listen() on such a socket (or an SCTP or DCCP stream) where a
# tls or deny accept rule names its port is refused (EOPNOTSUPP, 95) with
# an error line naming the protocol; a plain rule leaves it alone.  (The
# old library had no listen(): "listening".)
# listen_case NAME ACTION LOOKUPFAIL EXPECT PROTO CMD...
listen_case() {
	_n=$1 _act=$2 _lf=$3 _want=$4 _proto=$5
	shift 5
	case $_act in
	TLS) _extra="cert = \"$CERTS/server.crt\"; key = \"$CERTS/server.key\";" ;;
	*) _extra="action = \"$_act\";" ;;
	esac
	policy "$T/$_n.conf" <<EOC
rules = ( { name = "in"; direction = "accept"; port = $P; $_extra } );
EOC
	TLSSHIM_LOG_FILE="$T/$_n.log" TLSSHIM_TEST_LOOKUPFAIL=$_lf CHILD_PRELOAD="$SHIM_PRELOAD $INJ" \
		timeout -k 2 $((20 * TS)) env TLSSHIM_CONFIG="$POLICY" "$@" </dev/null >"$T/$_n.out" 2>"$T/$_n.err"
	if ! grep -q "^$_want\$" "$T/$_n.out"; then
		fail "$_n" "wanted '$_want', got: $(cat "$T/$_n.out" "$T/$_n.err")$(show "$T/$_n.log")"
	elif [ "$_want" = listening ]; then
		if grep -q 'error:' "$T/$_n.log" 2>/dev/null; then
			fail "$_n" "an error line for a plain rule$(show "$T/$_n.log")"
		else
			pass "$_n"
		fi
	elif ! grep -q "error: rule \"in\": .*fd [0-9]* .*over protocol $_proto, not TCP (SCTP, DCCP, or one this library does not know), where the policy says $_act for its port; refused" "$T/$_n.log"; then
		fail "$_n" "no error line naming protocol $_proto$(show "$T/$_n.log")"
	else
		pass "$_n"
	fi
}
FP="$PY $PYD/foreign_peer.py"
P=$(free_port)
listen_case listen_sctp_one_to_many_tls_port_refused TLS protocol=132,type=5,socket 'refused 95' 132 \
	env LD_PRELOAD="$SHIM_PRELOAD $INJ" $FP listen 127.0.0.1 "$P" seqpacket
P=$(free_port)
listen_case listen_sctp_one_to_many_wildcard_deny_refused deny protocol=132,type=5,socket 'refused 95' 132 \
	env LD_PRELOAD="$SHIM_PRELOAD $INJ" $FP listen 0.0.0.0 "$P" seqpacket
P=$(free_port)
listen_case listen_sctp_stream_tls_port_refused TLS protocol=132,socket 'refused 95' 132 \
	env LD_PRELOAD="$SHIM_PRELOAD $INJ" $FP listen 127.0.0.1 "$P" stream
P=$(free_port)
listen_case listen_dccp_tls_port_refused TLS protocol=33,type=6,socket 'refused 95' 33 \
	env LD_PRELOAD="$SHIM_PRELOAD $INJ" $FP listen 127.0.0.1 "$P" dccp
P=$(free_port)
listen_case listen_sctp_one_to_many_plain_rule_passes plain protocol=132,type=5,socket listening 132 \
	env LD_PRELOAD="$SHIM_PRELOAD $INJ" $FP listen 127.0.0.1 "$P" seqpacket
# A TCP socket's number (socket() made it: listen() asks the kernel
# nothing) that names an SCTP socket now, by dup2(), or by SCM_RIGHTS
# after fclose() of a FILE on it closed it past every wrapper: asked, and
# refused.  (The old library took it for the TCP socket: "listening".)
for how in dup2 scm; do
	P=$(free_port)
	listen_case "listen_${how}_sctp_onto_tcp_number_refused" TLS protocol=132,type=5,socket 'refused 95' 132 \
		env LD_PRELOAD="$SHIM_PRELOAD $INJ" $FP "$how-listen" 127.0.0.1 "$P"
done
# The same by a dup3 no wrapper sees (inline assembly): the number is
# remembered with the inode of the TCP socket socket() made, and
# listen() finds another there.  (The old library took it for the TCP
# socket: "listening".)
P=$(free_port)
listen_case listen_rawdup3_sctp_onto_tcp_number_refused TLS protocol=132,type=5,socket 'refused 95' 132 \
	env LD_PRELOAD="$SHIM_PRELOAD $INJ" "$PROGS/rawdup_listen" 127.0.0.1 "$P"
# The same child of clone(CLONE_VM) without CLONE_FILES closes, in its
# own table, the number of its parent's socket(AF_INET, SOCK_SEQPACKET,
# 132) and makes a TCP socket there: the parent's listen() on its own
# one-to-many socket at that number must still ask the kernel, and be
# refused.  (A library that took the child's socket() for the parent's
# listened in clear on the TLS port.)
P=$(free_port)
listen_case listen_vmchild_tcp_number_sctp_refused TLS protocol=132,type=5,socket 'refused 95' 132 \
	env LD_PRELOAD="$SHIM_PRELOAD $INJ" "$PROGS/vmchild_dgram" 127.0.0.1 "$P" listen
# A socket the library did not make (bound by a parent without it, passed
# across exec): asked, and refused alike.
P=$(free_port)
listen_case listen_inherited_sctp_socket_refused TLS protocol=132,type=5 'refused 95' 132 \
	$FP parent-listen 127.0.0.1 "$P"
# A one-to-many listener inherited already listening: refused at start-up
# (every call on it fails with ECONNRESET, 104; the old library left it
# plain: recv() said ENOTCONN, 107, and associations would reach the
# program).
P=$(free_port)
listen_case listen_inherited_sctp_listener_refused TLS protocol=132,type=5 'refused 104' 132 \
	$FP parent-listening 127.0.0.1 "$P"
stop "$SRV"
