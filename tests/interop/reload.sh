#!/bin/sh
# tests/interop/reload.sh — certificates, keys, CAs and CRLs reloaded when
# their files change (tlsshim.conf(5), RELOAD), against real peers.
#
# Server side: the shimmed thread_server (plain, threaded echo).
#  * cert_swap_*: a Python ssl client streams data while the certificate
#    and key files are replaced; the stream goes on intact with the old
#    certificate, new openssl s_client connections see the new serial.
#  * broken_*: a replacement that is unparsable, a key that does not match
#    the certificate, an expired certificate: the old certificate stays in
#    use, one warning per change naming the file (a later check of the
#    same files, seen by its debug line, adds none), no key material.
#  * ca_change_*: the client CA file gets another CA: a client certificate
#    of that CA is refused before and accepted after.
#  * ca_change_during_reload: the client CA file changes while another
#    thread reloads (slowly): a handshake that starts then is not verified
#    against the old file.
#  * crl_update_*: the CRL file is replaced by one that revokes a client:
#    that client, accepted before, is refused (log line, no data crossed),
#    and its session saved before (s_client -sess_out, ticket_key_file
#    shared keys) does not resume (-sess_in) after the change.
# Client side: one shimmed Python program connects again and again to a
# Python ssl server whose certificate is of another CA; the rule's ca file
# gets that CA: refused before, accepted after, in the same process.
#
# Waits: the check runs at most once a second, on new connections; the
# test makes connections ("pokes") until the log says what happened,
# bounded, never a fixed sleep.
. "$(dirname "$0")/../lib.sh"
. "$TLSSHIM_TOP/tests/preload/common.inc"
need_shim reload_setup
command -v openssl >/dev/null || { fail reload_setup "openssl not installed"; exit 1; }
[ -x "$PROGS/thread_server" ] || { fail reload_setup "thread_server missing (make test-build)"; exit 1; }

# --- a second server certificate, a client to revoke, two CRLs -----------------
. "$TLSSHIM_TOP/tests/interop/testca.inc"
if ! mkcert srv2 localhost server_ext 0x5E12E10AD0000002 ||
	! mkcert revokee tlsshim-revokee client_ext "0x$(openssl rand -hex 8)" ||
	! openssl ca -config "$C/ca.cnf" -gencrl -out "$T/crl0.pem" >"$C/log" 2>&1 ||
	! openssl ca -config "$C/ca.cnf" -revoke "$T/revokee.crt" >>"$C/log" 2>&1 ||
	! openssl ca -config "$C/ca.cnf" -gencrl -out "$T/crl1.pem" >>"$C/log" 2>&1; then
	fail reload_setup "openssl failed$(show "$C/log")"; exit 1
fi
SERIAL1=$(openssl x509 -in "$CERTS/server.crt" -noout -serial | sed 's/^serial=//')
SERIAL2=$(openssl x509 -in "$T/srv2.crt" -noout -serial | sed 's/^serial=//')
export TLSSHIM_LOG=debug

# put SRC DST: replace DST by a copy of SRC in one rename (a new inode), as
# certificate tools do.
put() { cp "$1" "$2.new.$$" && mv -f "$2.new.$$" "$2"; }

# serial PORT: the serial of the certificate a new s_client connection sees.
serial() {
	timeout $((10 * TS)) openssl s_client -connect "127.0.0.1:$1" -servername localhost \
		-CAfile "$CERTS/ca.crt" </dev/null 2>/dev/null | openssl x509 -noout -serial 2>/dev/null |
		sed 's/^serial=//'
}

# poke_until PORT LOG REGEX [MIN]: new connections (each may run the
# check), until LOG has at least MIN (1) lines matching REGEX; at most
# 15 s (scaled).  1 when it never did.
poke_until() {
	_pu_n=0 _pu_min=${4:-1}
	_pu_end=$(($(date +%s) + 15 * TS))
	while [ "$(lines "$2" "$3")" -lt "$_pu_min" ]; do
		[ "$(date +%s)" -ge "$_pu_end" ] && return 1
		serial "$1" >/dev/null
		_pu_n=$((_pu_n + 1))
	done
	return 0
}

# --- cert_swap: a stream keeps its certificate, new connections get the new --
P=$(free_port)
cp "$CERTS/server.crt" "$T/live.crt"
cp "$CERTS/server.key" "$T/live.key"
policy "$T/swap.conf" <<EOF
rules = ( { name = "live"; direction = "accept"; port = $P;
  cert = "$T/live.crt"; key = "$T/live.key"; } );
EOF
export TLSSHIM_LOG_FILE="$T/swap.log"
shimbg "$PROGS/thread_server" "$P" 100000 >"$T/swap.out" 2>"$T/swap.err"
SRV=$!
if ! wait_for "$T/swap.out" '^listening' 10; then
	fail cert_swap_setup "thread_server never listened$(show "$T/swap.err" "$T/swap.log")"; exit 1
fi
s=$(serial "$P")
check cert_swap_first_serial [ "$s" = "$SERIAL1" ]
bg "$PY" "$PYD/reload_stream.py" "$P" "$CERTS/ca.crt" "$T/stop" >"$T/stream.out" 2>&1
STREAM=$!
if ! wait_for "$T/stream.out" '^streaming' 10; then
	fail cert_swap_setup "the stream never started$(show "$T/stream.out" "$T/swap.log")"; exit 1
fi
put "$T/srv2.key" "$T/live.key"
put "$T/srv2.crt" "$T/live.crt"
if ! poke_until "$P" "$T/swap.log" 'rule "live": reloaded'; then
	fail cert_swap_reloaded "no reload logged$(show "$T/swap.log")"
else
	pass cert_swap_reloaded
fi
s=$(serial "$P")
if [ "$s" = "$SERIAL2" ]; then pass cert_swap_new_connection_new_serial
else fail cert_swap_new_connection_new_serial "serial '$s', want $SERIAL2"; fi
: >"$T/stop"
wait_exit "$STREAM" 30; rc=$?
if [ "$rc" -ne 0 ] || ! grep -q '^ok [1-9]' "$T/stream.out"; then
	fail cert_swap_stream_intact "stream exit $rc$(show "$T/stream.out" "$T/swap.err" "$T/swap.log")"
elif ! grep -q "^serial $SERIAL1\$" "$T/stream.out"; then
	fail cert_swap_stream_intact "the stream did not have the old certificate$(show "$T/stream.out")"
else
	pass cert_swap_stream_intact
fi
check cert_swap_no_program_error [ ! -s "$T/swap.err" ]

# --- broken replacements: the old stays, one line per change ----------------
# broken NAME CERT KEY REGEX: replace the files; one warning matching REGEX,
# none more at a later check of the same files; SERIAL2 still served.
broken() {
	name=$1 crt=$2 key=$3 want=$4
	skips=$(lines "$T/swap.log" 'reload: the files are as at the failed reload')
	[ "$key" = - ] || put "$key" "$T/live.key"
	[ "$crt" = - ] || put "$crt" "$T/live.crt"
	if ! poke_until "$P" "$T/swap.log" "rule \"live\": reload failed, the previous certificates stay in use: .*$want"; then
		fail "$name" "no failure logged$(show "$T/swap.log")"; return
	fi
	# A later check that sees the same files (its debug line) logs nothing.
	if ! poke_until "$P" "$T/swap.log" 'reload: the files are as at the failed reload' $((skips + 1)); then
		fail "$name" "no later check$(show "$T/swap.log")"; return
	fi
	n=$(lines "$T/swap.log" "reload failed.*$want")
	s=$(serial "$P")
	if [ "$n" -ne 1 ]; then
		fail "$name" "$n failure lines, want 1$(show "$T/swap.log")"
	elif [ "$s" != "$SERIAL2" ]; then
		fail "$name" "serial '$s' served, want the old $SERIAL2"
	else
		pass "$name"
	fi
}
printf 'this is not a certificate\n' >"$T/garbage.crt"
broken broken_unparsable_cert_keeps_old "$T/garbage.crt" - "cannot load certificate file \"$T/live.crt\""
broken broken_key_mismatch_keeps_old "$T/srv2.crt" "$CERTS/server.key" "key does not match certificate"
broken broken_expired_cert_keeps_old "$CERTS/expired.crt" "$CERTS/expired.key" "certificate \"$T/live.crt\" has expired"
# Good files again: reloaded, the first certificate is back.
put "$CERTS/server.key" "$T/live.key"
put "$CERTS/server.crt" "$T/live.crt"
if poke_until "$P" "$T/swap.log" 'rule "live": reloaded' 2 && [ "$(serial "$P")" = "$SERIAL1" ]; then
	pass broken_then_good_reloaded
else
	fail broken_then_good_reloaded "$(show "$T/swap.log")"
fi
if grep -q -e 'PRIVATE KEY' -e 'BEGIN' "$T/swap.log"; then
	fail reload_log_no_key_material "PEM text in the log$(show "$T/swap.log")"
else
	pass reload_log_no_key_material
fi
stop "$SRV"

# --- mutual TLS: the client CA file, the CRL, and resumption ------------------
# mtls_sc NAME PORT CERT KEY [S_CLIENT-ARGS]: one line sent, 0 when echoed.
mtls_sc() {
	_m_n=$1 _m_p=$2 _m_c=$3 _m_k=$4
	shift 4
	_m_line="SECRET-$_m_n"
	: >"$T/$_m_n.sc"; : >"$T/$_m_n.sc.err"
	feed2 "$T/$_m_n.sc" "$T/$_m_n.sc.err" "$_m_line" |
		timeout $((20 * TS)) openssl s_client -connect "127.0.0.1:$_m_p" -servername localhost \
			-CAfile "$CERTS/ca.crt" -cert "$_m_c" -key "$_m_k" "$@" >"$T/$_m_n.sc" 2>"$T/$_m_n.sc.err"
	grep -q "$_m_line" "$T/$_m_n.sc"
}
# feed2 OUT ERR LINE: print LINE, then keep s_client's input open until its
# output has the echo or its error output an error (the server's alert),
# at most 10 s (scaled).
feed2() {
	printf '%s\n' "$3"
	_f_end=$(($(date +%s) + 10 * TS))
	until grep -q "$3" "$1" || grep -q ':error:' "$2" || [ "$(date +%s)" -ge "$_f_end" ]; do
		sleep 0.05
	done
}
# mpoke_until PORT LOG REGEX MIN: like poke_until, with the good client.
mpoke_until() {
	_mp_end=$(($(date +%s) + 15 * TS))
	while [ "$(lines "$2" "$3")" -lt "$4" ]; do
		[ "$(date +%s)" -ge "$_mp_end" ] && return 1
		mtls_sc poke "$1" "$CERTS/client.crt" "$CERTS/client.key" >/dev/null 2>&1
	done
	return 0
}

P2=$(free_port)
cp "$CERTS/ca.crt" "$T/clientca.pem"
cp "$T/crl0.pem" "$T/live-crl.pem"
openssl rand 80 >"$T/ticket.key" && chmod 600 "$T/ticket.key"
policy "$T/mtls.conf" <<EOF
rules = ( { name = "mtls"; direction = "accept"; port = $P2;
  cert = "$CERTS/server.crt"; key = "$CERTS/server.key";
  require_client_cert = true; ca = "$T/clientca.pem"; } );
EOF
export TLSSHIM_LOG_FILE="$T/mtls.log"
shimbg "$PROGS/thread_server" "$P2" 100000 >"$T/mtls.out" 2>"$T/mtls.err"
SRV=$!
if ! wait_for "$T/mtls.out" '^listening' 10; then
	fail mtls_setup "thread_server never listened$(show "$T/mtls.err" "$T/mtls.log")"; exit 1
fi

# The other CA's client: refused, then accepted once the CA file has both.
if mtls_sc ca_before "$P2" "$CERTS/client-untrusted.crt" "$CERTS/client-untrusted.key"; then
	fail ca_change_refused_before "echoed$(show "$T/ca_before.sc")"
elif [ "$(lines "$T/mtls.log" 'rule "mtls": .*certificate verification failed')" -lt 1 ]; then
	fail ca_change_refused_before "no refusal logged$(show "$T/mtls.log")"
else
	pass ca_change_refused_before
fi
cat "$CERTS/ca.crt" "$CERTS/other-ca.crt" >"$T/both-ca.pem"
put "$T/both-ca.pem" "$T/clientca.pem"
if ! mpoke_until "$P2" "$T/mtls.log" 'rule "mtls": reloaded' 1; then
	fail ca_change_accepted_after "no reload$(show "$T/mtls.log")"
elif ! mtls_sc ca_after "$P2" "$CERTS/client-untrusted.crt" "$CERTS/client-untrusted.key"; then
	fail ca_change_accepted_after "no echo$(show "$T/ca_after.sc" "$T/mtls.log")"
else
	pass ca_change_accepted_after
fi

stop "$SRV"

P2=$(free_port)
policy "$T/crl.conf" <<EOF
rules = ( { name = "mtls"; direction = "accept"; port = $P2;
  cert = "$CERTS/server.crt"; key = "$CERTS/server.key";
  require_client_cert = true; ca = "$CERTS/ca.crt"; crl = "$T/live-crl.pem";
  ticket_key_file = "$T/ticket.key"; } );
EOF
export TLSSHIM_LOG_FILE="$T/crl.log"
shimbg "$PROGS/thread_server" "$P2" 100000 >"$T/crl.out" 2>"$T/crl.err"
SRV=$!
if ! wait_for "$T/crl.out" '^listening' 10; then
	fail crl_setup "thread_server never listened$(show "$T/crl.err" "$T/crl.log")"; exit 1
fi

# The client to be revoked: accepted, its session saved and resumed (the
# shared ticket keys make the ticket readable by any generation).
for v in tls1_3 tls1_2; do
	rm -f "$T/revokee-$v.sess"
	if ! mtls_sc "rv_a_$v" "$P2" "$T/revokee.crt" "$T/revokee.key" "-$v" -sess_out "$T/revokee-$v.sess" ||
		[ ! -s "$T/revokee-$v.sess" ]; then
		fail "crl_update_${v}_session_saved" "$(show "$T/rv_a_$v.sc" "$T/crl.log")"
	elif ! mtls_sc "rv_b_$v" "$P2" "$T/revokee.crt" "$T/revokee.key" "-$v" -sess_in "$T/revokee-$v.sess" ||
		! grep -q '^Reused, ' "$T/rv_b_$v.sc"; then
		fail "crl_update_${v}_session_saved" "not resumed before the change$(show "$T/rv_b_$v.sc")"
	else
		pass "crl_update_${v}_session_saved"
	fi
done
put "$T/crl1.pem" "$T/live-crl.pem"
if ! mpoke_until "$P2" "$T/crl.log" 'rule "mtls": reloaded' 1; then
	fail crl_update_reloaded "no reload$(show "$T/crl.log")"
else
	pass crl_update_reloaded
fi
before=$(lines "$T/crl.log" 'rule "mtls": .*certificate verification failed: certificate revoked')
if mtls_sc rv_new "$P2" "$T/revokee.crt" "$T/revokee.key"; then
	fail crl_update_revoked_refused "echoed$(show "$T/rv_new.sc")"
elif grep -q SECRET-rv_new "$T/crl.out" "$T/rv_new.sc"; then
	fail crl_update_revoked_refused "data crossed"
elif [ "$(lines "$T/crl.log" 'rule "mtls": .*certificate verification failed: certificate revoked')" -ne $((before + 1)) ]; then
	fail crl_update_revoked_refused "no 'certificate revoked' line$(show "$T/crl.log")"
else
	pass crl_update_revoked_refused
fi
for v in tls1_3 tls1_2; do
	before=$(lines "$T/crl.log" 'certificate verification failed: certificate revoked')
	if mtls_sc "rv_c_$v" "$P2" "$T/revokee.crt" "$T/revokee.key" "-$v" -sess_in "$T/revokee-$v.sess"; then
		fail "crl_update_${v}_no_resumption" "echoed$(show "$T/rv_c_$v.sc")"
	elif grep -q '^Reused, ' "$T/rv_c_$v.sc"; then
		fail "crl_update_${v}_no_resumption" "the session resumed$(show "$T/rv_c_$v.sc")"
	elif grep -q "SECRET-rv_c_$v" "$T/crl.out"; then
		fail "crl_update_${v}_no_resumption" "data crossed"
	elif [ "$(lines "$T/crl.log" 'certificate verification failed: certificate revoked')" -ne $((before + 1)) ]; then
		fail "crl_update_${v}_no_resumption" "no 'certificate revoked' line$(show "$T/crl.log")"
	else
		pass "crl_update_${v}_no_resumption"
	fi
done
if mtls_sc good_after "$P2" "$CERTS/client.crt" "$CERTS/client.key"; then
	pass crl_update_good_client_still_served
else
	fail crl_update_good_client_still_served "$(show "$T/good_after.sc" "$T/crl.log")"
fi
stop "$SRV"

# --- the CA changes between a connection's accept and its ClientHello --------
# A session made under the old client CA file must not resume after the
# file is replaced, even on a connection accepted before the change (its
# ClientHello comes after), nor on one made right after it (within the
# second in which no check was due: the old library resumed both).
P2=$(free_port)
cp "$CERTS/ca.crt" "$T/rr-ca.pem"
policy "$T/rr.conf" <<EOF
rules = ( { name = "rr"; direction = "accept"; port = $P2;
  cert = "$CERTS/server.crt"; key = "$CERTS/server.key";
  require_client_cert = true; ca = "$T/rr-ca.pem"; ticket_key_file = "$T/ticket.key"; } );
EOF
export TLSSHIM_LOG_FILE="$T/rr.log"
shimbg "$PROGS/thread_server" "$P2" 100000 >"$T/rr.out" 2>"$T/rr.err"
SRV=$!
if ! wait_for "$T/rr.out" '^listening' 10; then
	fail rr_setup "thread_server never listened$(show "$T/rr.err" "$T/rr.log")"
else
	bg "$PY" "$PYD/reload_resume.py" "$P2" "$CERTS/ca.crt" "$CERTS/client.crt" "$CERTS/client.key" \
		"$T/rr.go" >"$T/rr.cl" 2>&1
	RR=$!
	if ! wait_for "$T/rr.cl" '^connected' 10 || ! grep -q '^saved' "$T/rr.cl"; then
		fail ca_change_no_resumption_after "no session$(show "$T/rr.cl" "$T/rr.log")"
	else
		# the client's CA is no longer trusted
		put "$CERTS/other-ca.crt" "$T/rr-ca.pem"
		: >"$T/rr.go"
		wait_exit "$RR" 20
		for n in 2 3; do
			if grep -q "^$n resumed" "$T/rr.cl" || grep -q "line-$n" "$T/rr.out"; then
				fail "ca_change_no_resumption_$n" "resumed under the old CA$(show "$T/rr.cl" "$T/rr.log")"
			elif ! grep -q "^$n failed" "$T/rr.cl"; then
				fail "ca_change_no_resumption_$n" "not refused$(show "$T/rr.cl" "$T/rr.log")"
			else
				pass "ca_change_no_resumption_$n"
			fi
		done
		if [ "$(lines "$T/rr.log" 'rule "rr": reloaded')" -ne 1 ] ||
			[ "$(lines "$T/rr.log" 'rule "rr": .*certificate verification failed')" -ne 2 ]; then
			fail ca_change_refusals_logged "expected one reload and two refusals$(show "$T/rr.log")"
		else
			pass ca_change_refusals_logged
		fi
	fi
fi
stop "$SRV"

# --- the CA changes while another thread is reloading ----------------------
# Two handshakes see the change: the first (a connection accepted before
# it, whose first byte comes after) reloads every rule, and the other
# rule's new CA file (2,000 certificates) keeps it busy; the second, a
# client of the CA the rule no longer trusts, starts meanwhile.  It must
# wait for that reload, not be verified against the old file (the old
# library: "2 echo", the client accepted).
P3=$(free_port)
cp "$CERTS/ca.crt" "$T/rc-ca.pem"
cp "$CERTS/ca.crt" "$T/rc-slow.pem"
copies "$CERTS/other-ca.crt" 2000 >"$T/rc-big.pem"
policy "$T/rc.conf" <<EOF
rules = ( { name = "rc-slow"; direction = "connect"; port = 1; ca = "$T/rc-slow.pem"; },
  { name = "rc"; direction = "accept"; port = $P3;
  cert = "$CERTS/server.crt"; key = "$CERTS/server.key";
  require_client_cert = true; ca = "$T/rc-ca.pem"; } );
EOF
export TLSSHIM_LOG_FILE="$T/rc.log"
shimbg "$PROGS/thread_server" "$P3" 100000 >"$T/rc.out" 2>"$T/rc.err"
SRV=$!
if ! wait_for "$T/rc.out" '^listening' 10; then
	fail rc_setup "thread_server never listened$(show "$T/rc.err" "$T/rc.log")"
else
	bg "$PY" "$PYD/reload_race.py" "$P3" "$CERTS/ca.crt" "$CERTS/client.crt" "$CERTS/client.key" \
		"$SRV" "$T/rc.go" >"$T/rc.cl" 2>&1
	RC=$!
	if ! wait_for "$T/rc.cl" '^connected' 10 || ! wait_for "$T/rc.log" 'rule "rc": accepted' 10; then
		fail ca_change_during_reload "no connection$(show "$T/rc.cl" "$T/rc.log")"
	else
		put "$T/rc-big.pem" "$T/rc-slow.pem"
		put "$CERTS/other-ca.crt" "$T/rc-ca.pem"
		: >"$T/rc.go"
		wait_exit "$RC" 20
		if grep -q '^2 failed' "$T/rc.cl" && ! grep -q 'line-2' "$T/rc.out"; then
			pass ca_change_during_reload
		else
			fail ca_change_during_reload "verified against the old CA file$(show "$T/rc.cl" "$T/rc.log")"
		fi
	fi
fi
stop "$SRV"

# --- connect rule: the server's CA changes, one client process -------------
Q=$(free_port)
cp "$CERTS/ca.crt" "$T/srvca.pem"
policy "$T/client.conf" <<EOF
rules = ( { name = "out"; direction = "connect"; port = $Q; server_name = "localhost";
  ca = "$T/srvca.pem"; } );
EOF
export TLSSHIM_LOG_FILE="$T/client.log"
if ! start_peer cpeer server --port "$Q" --cert "$CERTS/untrusted.crt" --key "$CERTS/untrusted.key" \
	--mode echo --count 1000; then
	fail connect_setup "tlspeer never ready$(show "$T/cpeer.err")"; exit 1
fi
: >"$T/ctl"
shimbg "$PY" "$PYD/reload_client.py" "$Q" "$T/ctl" >"$T/rc.out" 2>"$T/rc.err"
CL=$!
echo "SECRET-connect-1" >>"$T/ctl"
if ! wait_for "$T/rc.out" '^(ok|fail) 1( |$)' 10; then
	fail connect_ca_change_refused_before "no answer$(show "$T/rc.out" "$T/rc.err" "$T/client.log")"
elif ! grep -q '^fail 1 ' "$T/rc.out" || grep -q SECRET "$T/cpeer.out"; then
	fail connect_ca_change_refused_before "not refused$(show "$T/rc.out")"
elif [ "$(lines "$T/client.log" 'rule "out": .*certificate verification failed')" -lt 1 ]; then
	fail connect_ca_change_refused_before "no refusal logged$(show "$T/client.log")"
else
	pass connect_ca_change_refused_before
fi
put "$CERTS/other-ca.crt" "$T/srvca.pem"
i=1 end=$(($(date +%s) + 15 * TS))
while ! grep -q '^ok ' "$T/rc.out" && [ "$(date +%s)" -lt "$end" ]; do
	i=$((i + 1))
	echo "connect-$i" >>"$T/ctl"
	wait_for "$T/rc.out" "^(ok|fail) $i( |\$)" 10 || break
done
if ! grep -q '^ok ' "$T/rc.out"; then
	fail connect_ca_change_accepted_after "$(show "$T/rc.out" "$T/client.log")"
elif [ "$(lines "$T/client.log" 'rule "out": reloaded')" -ne 1 ]; then
	fail connect_ca_change_accepted_after "no reload line$(show "$T/client.log")"
else
	pass connect_ca_change_accepted_after
fi
echo quit >>"$T/ctl"
wait_exit "$CL" 10
stop "$PEER"
