#!/bin/sh
# A pump killed while the channel's end it was to connect still waits
# (helper-190).  A client session whose handshake has not ended, passed
# with SCM_RIGHTS (danted), goes to a pump as a connect in progress: the
# program's end is in SYN_SENT towards the pump's listener on
# 127.254.0.1, whose full queue drops its SYNs, and the pump connects its
# own end to it once the handshake is verified (shim/pump.c,
# pending_channel).  py/pump_squat_client.py passes a connect at once
# after EINPROGRESS to a copy of itself without the library (the
# receiver), as scm_connect.sh's early case does.
#   * pump_squat_killed_mid_handshake_nothing_leaks: the server reads the
#     ClientHello and says nothing; the receiver SIGKILLs the pump, and a
#     process of another user (65534, setpriv) binds the pump's address
#     and port as soon as they are free and listens.  The end's next SYN
#     must not make a connection there: not connected, the squatter
#     accepts nothing and gets no byte, and the end ends in an error when
#     the kernel gives up (the receiver makes that the next SYN,
#     TCP_SYNCNT, instead of 127 s).  Before helper-190 the port was free
#     with the pump dead, the squatter's listener answered the SYN, the
#     receiver's end was connected, and the squatter got the SECRET the
#     program wrote (libtlsshim(7), BUGS, until then).  Now the end is
#     signed (TCP-MD5, a key only the channel's sockets have: "md5 keys"
#     counts the signed sockets ss lists, as root): another listener drops
#     its SYN.
#   * pump_squat_killed_after_cross_ends: a good server; the end is
#     connected, "ping" is echoed, and the keys are off both ends ("md5
#     keys 0": signing every segment costs about 3 s of CPU a GiB); then
#     the pump is SIGKILLed: the receiver's read ends (end of file or an
#     error) at once, never waits (nothing of the pump's is left holding
#     the channel).
#   * pump_squat_killed_refusing_nothing_leaks: the same, but the server's
#     certificate names another host, and it takes the ClientHello just
#     after the end has sent a SYN again: the handshake fails, and the pump
#     is SIGKILLed while it waits for the end's next SYN to be refused (its
#     listener gone).  The refusal would have come from the pump's
#     refuser, which dies with it; the end, still signed, must not connect
#     to the squatter either.  Before helper-190 it did.
#   * pump_squat_killed_mid_handshake_nothing_leaks_any, _v6: the same,
#     with the squatter's listener bound to 0.0.0.0 (SO_REUSEPORT,
#     TCP_FASTOPEN) or to [::] dual-stack instead of 127.254.0.1: the
#     kernel drops the signed SYN at any listener without the key (h194).
# The squatter needs root (setpriv); without it the killed_mid_handshake
# and killed_refusing cases are not run.
. "$(dirname "$0")/../lib.sh"
. "$TLSSHIM_TOP/tests/preload/common.inc"
need_shim

# killed_mid_handshake [SQUAT]: SQUAT (pump_squat_client.py's squatter)
# empty: a listener on 127.254.0.1; any: on 0.0.0.0, with SO_REUSEPORT
# and TCP_FASTOPEN; v6: on [::], dual-stack.
mid_case() {
	_n=pump_squat_killed_mid_handshake_nothing_leaks${1:+_$1}
	if [ "$(id -u)" != 0 ] || ! command -v setpriv >/dev/null; then
		pass "$_n: (not run: needs root and setpriv)"
		return
	fi
	Q=$(free_port)
	policy "$T/silent.conf" <<EOC
rules = ( { name = "up"; direction = "connect"; port = $Q; ca = "$CERTS/ca.crt"; server_name = "localhost"; } );
EOC
	bg "$PY" "$PYD/pump_squat_client.py" --silent "$Q" >"$T/silent.out" 2>"$T/silent.err"
	_srv=$!
	wait_for "$T/silent.out" '^ready' 10 || fail "$_n: the silent server listens" "$(show "$T/silent.err")"
	# (the squatter, user 65534, runs this script's helper)
	chmod o+x "$T"
	export SQUAT="${1:-}"
	TLSSHIM_LOG=info TLSSHIM_LOG_FILE="$T/$_n.log" shimmed "$PY" "$PYD/pump_squat_client.py" "$Q" silent \
		>"$T/$_n.out" 2>"$T/$_n.err"
	_rc=$?
	unset SQUAT
	stop "$_srv"
	_o=$T/$_n.out
	if [ $_rc -eq 0 ] && grep -q '^pending revents none so_error 0$' "$_o" && grep -q '^pump killed$' "$_o" &&
	   grep -q '^md5 keys [1-9]' "$_o" &&
	   grep -q '^squatter: bound$' "$_o" && grep -q '^syn after bind$' "$_o" &&
	   grep -q '^not connected: state 2 ' "$_o" && grep -q '^ended E[A-Z]*$' "$_o" &&
	   ! grep -q -e '^connected' -e '^squatter: accepted' -e '^squatter: got' "$_o" &&
	   grep -q 'connected once its handshake is verified' "$T/$_n.log"; then
		pass "$_n: the pump killed mid-handshake, another user's listener on its port got no connection and no byte; the end ended $(sed -n 's/^ended //p' "$_o")"
	else
		fail "$_n: the program's end went to another user's listener, or did not end in an error" \
			"exit $_rc; $(show "$_o" "$T/$_n.err" "$T/$_n.log")"
	fi
}
mid_case
mid_case any
mid_case v6

# killed_refusing: the same, with the pump killed while it waits for the
# refusal of a failed handshake (a server of another name)
_n=pump_squat_killed_refusing_nothing_leaks
if [ "$(id -u)" != 0 ] || ! command -v setpriv >/dev/null; then
	pass "$_n: (not run: needs root and setpriv)"
else
	W=$(free_port)
	policy "$T/wrong.conf" <<EOC
rules = ( { name = "up"; direction = "connect"; port = $W; ca = "$CERTS/ca.crt"; server_name = "localhost"; } );
EOC
	bg "$PY" "$PYD/pump_squat_client.py" --wrong "$W" "$CERTS/wrongname.crt" "$CERTS/wrongname.key" \
		"$T/wrong.go" >"$T/wrong.out" 2>"$T/wrong.err"
	_srv=$!
	wait_for "$T/wrong.out" '^ready' 10 || fail "$_n: the server listens" "$(show "$T/wrong.err")"
	chmod o+x "$T"
	TLSSHIM_LOG=info TLSSHIM_LOG_FILE="$T/$_n.log" shimmed "$PY" "$PYD/pump_squat_client.py" "$W" \
		"refused=$T/wrong.go" >"$T/$_n.out" 2>"$T/$_n.err"
	_rc=$?
	stop "$_srv"
	_o=$T/$_n.out
	if [ $_rc -eq 0 ] && grep -q '^pending revents none so_error 0$' "$_o" && grep -q '^listener gone$' "$_o" &&
	   grep -q '^pump killed$' "$_o" && grep -q '^md5 keys [1-9]' "$_o" &&
	   grep -q '^squatter: bound$' "$_o" && grep -q '^syn after bind$' "$_o" &&
	   grep -q '^not connected: state 2 ' "$_o" && grep -q '^ended E[A-Z]*$' "$_o" &&
	   ! grep -q -e '^connected' -e '^squatter: accepted' -e '^squatter: got' "$_o" &&
	   grep -q 'hostname mismatch' "$T/$_n.log"; then
		pass "$_n: the pump killed while its end waited to be refused, another user's listener on its port got no connection and no byte; the end ended $(sed -n 's/^ended //p' "$_o")"
	else
		fail "$_n: the program's end went to another user's listener, or did not end in an error" \
			"exit $_rc; $(show "$_o" "$T/$_n.err" "$T/$_n.log")"
	fi
fi

# killed_after_cross
_n=pump_squat_killed_after_cross_ends
R=$(free_port)
policy "$T/cross.conf" <<EOC
rules = ( { name = "up"; direction = "connect"; port = $R; ca = "$CERTS/ca.crt"; server_name = "localhost"; } );
EOC
start_peer cross.peer server --port "$R" --cert "$CERTS/server.crt" --key "$CERTS/server.key" \
	--mode echo --timeout $((15 * TS)) || fail "$_n: the server listens" "$(show "$T/cross.peer.err")"
_peer=$PEER
TLSSHIM_LOG=info TLSSHIM_LOG_FILE="$T/$_n.log" shimmed "$PY" "$PYD/pump_squat_client.py" "$R" cross \
	>"$T/$_n.out" 2>"$T/$_n.err"
_rc=$?
stop "$_peer"
_o=$T/$_n.out
if [ $_rc -eq 0 ] && grep -q '^echo ok$' "$_o" && grep -q '^md5 keys 0$' "$_o" && grep -q '^pump killed$' "$_o" &&
   grep -q -E '^after kill (EOF|E[A-Z]+)$' "$_o" &&
   grep -q 'connected once its handshake is verified' "$T/$_n.log"; then
	pass "$_n: connected and echoed; the pump killed, the receiver's read ended ($(sed -n 's/^after kill //p' "$_o"))"
else
	fail "$_n: want the keys off once connected, then a read that ends after the pump's death" \
		"exit $_rc; $(show "$_o" "$T/$_n.err" "$T/$_n.log")"
fi
