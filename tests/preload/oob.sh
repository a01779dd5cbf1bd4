#!/bin/sh
# MSG_OOB on a TLS fd: refused (EOPNOTSUPP), one warn line per call.  Also
# on the program's end of a pump (the session moved there for a fork):
# there the kernel took the urgent byte, the call said it was sent, and
# the pump's reads passed over it, so the peer never got it ("abcX" sent
# with MSG_OOB, then "def": the peer got "abcdef").
#
# Urgent data an attacker on the path puts on the TLS stream (a TCP
# urgent byte between two records; tests/preload/py/urgent_peer.py): the
# program never gets that byte.  recv(MSG_OOB) at the mark is EOPNOTSUPP
# (passed to the kernel it gave the byte: checked with a library that
# did, h210).  Without SO_OOBINLINE the kernel takes the byte out of the
# stream: the program reads the two records' plain text exactly.  With
# SO_OOBINLINE it lands among the ciphertext: the program reads the
# first record, then ECONNRESET; the byte never.
. "$TLSSHIM_TOP/tests/lib.sh"
. "$TLSSHIM_TOP/tests/preload/common.inc"
EOPNOTSUPP=95

# oob MODE: oob_client.py MODE against an echo server; its output in $out,
# its log in $T/MODE.log.
oob() {
	P=$(free_port)
	policy "$T/$1.conf" <<EOC
rules = ( { name = "oob-$1"; direction = "connect"; port = $P; ca = "$CERTS/ca.crt"; } );
EOC
	bg "$PY" "$TLSSHIM_TOP/tests/preload/tls_echo_server.py" "$P" "$CERTS/server.crt" "$CERTS/server.key" \
		>"$T/$1.srv" 2>&1
	_srv=$!
	wait_for "$T/$1.srv" '^listening' 15
	out=$(TLSSHIM_LOG_FILE="$T/$1.log" shimmed "$PY" "$PYD/oob_client.py" "$P" "$1" 2>&1)
	wait_exit "$_srv" 20
}

E=$EOPNOTSUPP
oob direct
n=$(lines "$T/direct.log" 'MSG_OOB is not available')
if [ "$out" = "direct $E $E $E $E $E $E" ] && [ "$n" = 6 ]; then
	pass "MSG_OOB on a TLS fd (send, sendto, sendmsg, recv, recvfrom, recvmsg): EOPNOTSUPP, one warn line each"
else
	fail "MSG_OOB on a TLS fd" "$out; $n warn lines for 6 calls$(tail_of "$T/direct.log")"
fi
oob pump
n=$(lines "$T/pump.log" 'in a pump.*MSG_OOB is not available')
if [ "$out" = "pump $E $E echo b'def'" ] && [ "$n" = 2 ]; then
	pass "MSG_OOB on the program's end of a pump (send, sendmsg): EOPNOTSUPP, one warn line each, nothing of it sent"
else
	fail "MSG_OOB on a pump's end" "$out; $n warn lines for 2 calls$(tail_of "$T/pump.log" "$T/pump.srv")"
fi

# urgent MODE: oob_client.py MODE against urgent_peer.py; $out, $T/MODE.log.
urgent() {
	P=$(free_port)
	audit_exclude "$P" "$1: the peer's urgent byte among its records on purpose"
	policy "$T/$1.conf" <<EOC
rules = ( { name = "oob-$1"; direction = "connect"; port = $P; ca = "$CERTS/ca.crt"; } );
EOC
	bg "$PY" "$PYD/urgent_peer.py" "$P" "$CERTS/server.crt" "$CERTS/server.key" >"$T/$1.srv" 2>&1
	_srv=$!
	wait_for "$T/$1.srv" '^listening' 15
	out=$(TLSSHIM_LOG_FILE="$T/$1.log" shimmed "$PY" "$PYD/oob_client.py" "$P" "$1" 2>&1)
	wait_exit "$_srv" 20
}

urgent urgent
if [ "$out" = "urgent b'first-record' $E b'second-record' 0" ] && grep -q '^sent' "$T/urgent.srv"; then
	pass "an urgent byte on the TLS stream (the peer's MSG_OOB): recv(MSG_OOB) at the mark EOPNOTSUPP, the byte taken out by the kernel, both records read exactly"
else
	fail "an urgent byte on the TLS stream" "$out$(tail_of "$T/urgent.log" "$T/urgent.srv")"
fi
urgent urgent-inline
case "$out" in
"urgent-inline b'first-record' $E b'' 104") ok=1 ;;
*) ok= ;;
esac
if [ -n "$ok" ] && grep -q '^sent' "$T/urgent-inline.srv"; then
	pass "an urgent byte on the TLS stream with SO_OOBINLINE: recv(MSG_OOB) EOPNOTSUPP, the byte among the ciphertext: ECONNRESET after the first record, the byte never read"
else
	fail "an urgent byte on the TLS stream with SO_OOBINLINE" "$out$(tail_of "$T/urgent-inline.log" "$T/urgent-inline.srv")"
fi
