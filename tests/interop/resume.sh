#!/bin/sh
# tlsshim-test: long (tests/run.sh: its expiry rounds wait for real time)
# tests/interop/resume.sh — session resumption against OpenSSL's peers.
#
# Client: one shimmed process connects twice to openssl s_server (TLS 1.3
# tickets, TLS 1.2 tickets): the second handshake resumes (the shim's log
# line says "session resumed", s_server counts a cache hit); a forked
# child resumes its parent's session; session_cache = false resumes
# nothing.
# Server: the shimmed echo_server, openssl s_client -sess_out then
# -sess_in: "Reused" (TLS 1.3 and TLS 1.2); two shimmed servers with the
# same ticket_key_file resume each other's sessions, with different key
# files they do not, and after a rotation (new key first, old key second)
# the old tickets still resume, and a server with another certificate
# (same name and key file) does not take them; a session made without a client
# certificate, or under other allow lists, is not resumed by a rule of
# the same name and key file that requires one (a full handshake is).
# A rule with a current CRL resumes as any other; a connect rule whose CRL
# is replaced by one revoking the server does not resume.  A session whose
# verification has run out since it was made (the peer's certificate, an
# intermediate CA or the rule's CRL expired): the client does not offer
# the session, the server takes neither the ticket nor the TLS 1.2 session
# id (full handshakes, which refuse the peer).
# tlsshim --check rejects bad key files.
. "$(dirname "$0")/../lib.sh"
. "$TLSSHIM_TOP/tests/preload/common.inc"
need_shim resume_setup
command -v openssl >/dev/null || { fail resume_setup "openssl not installed"; exit 1; }
RECONNECT="$(cd "$(dirname "$0")" && pwd)/py/reconnect.py"
export TLSSHIM_LOG=info
# The test CA's work (C, mkcert): a CRL that revokes nothing, 30 days.
. "$TLSSHIM_TOP/tests/interop/testca.inc"
if ! openssl ca -config "$C/ca.cnf" -gencrl -out "$T/crl30.pem" >"$C/log" 2>&1; then
	fail resume_setup "openssl ca -gencrl failed$(show "$C/log")"; exit 1
fi

# --- the shimmed client against openssl s_server -rev ------------------------

# client_case NAME WANT(resumed|new) POLICY-EXTRA RECONNECT-EXTRA -- S_SERVER-ARGS...
client_case() {
	name=$1 want=$2 extra=$3 rextra=$4
	shift 5
	P=$(free_port)
	policy "$T/$name.conf" <<EOF
rules = ( { name = "resume-out"; direction = "connect"; port = $P; ca = "$CERTS/ca.crt"; $extra } );
EOF
	export TLSSHIM_LOG_FILE="$T/$name.log"
	bg openssl s_server -accept "127.0.0.1:$P" -naccept 2 -rev \
		-cert "$CERTS/server.crt" -key "$CERTS/server.key" "$@" >"$T/$name.srv" 2>&1
	srv=$!
	if ! wait_for "$T/$name.srv" '^ACCEPT' 10; then
		fail "$name" "s_server did not start$(show "$T/$name.srv")"; stop "$srv"; return
	fi
	# shellcheck disable=SC2086
	shimmed "$PY" "$RECONNECT" 127.0.0.1 "$P" 2 "hello world" $rextra >"$T/$name.got" 2>"$T/$name.err"
	rc=$?
	wait_exit "$srv" 10
	new=$(lines "$T/$name.log" 'rule "resume-out": connected .*, new session$')
	res=$(lines "$T/$name.log" 'rule "resume-out": connected .*, session resumed$')
	if [ "$rc" -ne 0 ] || [ "$(grep -c '^dlrow olleh$' "$T/$name.got")" -ne 2 ]; then
		fail "$name" "client exit $rc, expected two replies$(show "$T/$name.got" "$T/$name.err" "$T/$name.log" "$T/$name.srv")"
	elif [ "$want" = resumed ] && { [ "$new" -ne 1 ] || [ "$res" -ne 1 ]; }; then
		fail "$name" "expected one new session then one resumed, log has $new new, $res resumed$(show "$T/$name.log")"
	elif [ "$want" = resumed ] && ! grep -q '^ *1 session cache hits' "$T/$name.srv"; then
		fail "$name" "s_server saw no resumption$(show "$T/$name.srv")"
	elif [ "$want" = new ] && { [ "$new" -ne 2 ] || [ "$res" -ne 0 ] ||
			! grep -q '^ *0 session cache hits' "$T/$name.srv"; }; then
		fail "$name" "expected two new sessions, log has $new new, $res resumed$(show "$T/$name.log" "$T/$name.srv")"
	else
		pass "$name"
	fi
}

client_case client_tls13_second_connect_resumes resumed "" "" -- -tls1_3
client_case client_tls12_second_connect_resumes resumed "" "" -- -tls1_2
client_case client_forked_child_resumes_parent_session resumed "" fork -- -tls1_3
client_case client_session_cache_off_never_resumes new "session_cache = false;" "" -- -tls1_3
# A rule with a current CRL still resumes (a session's bound is the CRL's
# nextUpdate, 30 days ahead).
client_case client_crl_tls13_second_connect_resumes resumed "crl = \"$T/crl30.pem\";" "" -- -tls1_3
client_case client_crl_tls12_second_connect_resumes resumed "crl = \"$T/crl30.pem\";" "" -- -tls1_2

# Four threads of one process, five connections each, one s_server: the
# cache under concurrent offers and stores.  Every reply arrives, some
# handshakes resume, and s_server counts exactly the resumptions the
# shim logged.
name=client_threads_share_the_cache
P=$(free_port)
policy "$T/$name.conf" <<EOF
rules = ( { name = "resume-out"; direction = "connect"; port = $P; ca = "$CERTS/ca.crt"; } );
EOF
export TLSSHIM_LOG_FILE="$T/$name.log"
bg openssl s_server -accept "127.0.0.1:$P" -naccept 20 -rev \
	-cert "$CERTS/server.crt" -key "$CERTS/server.key" >"$T/$name.srv" 2>&1
srv=$!
if wait_for "$T/$name.srv" '^ACCEPT' 10; then
	shimmed "$PY" "$(dirname "$RECONNECT")/reconnect_threads.py" 127.0.0.1 "$P" 4 5 "hello world" \
		>"$T/$name.got" 2>"$T/$name.err"
	rc=$?
	wait_exit "$srv" 10
	res=$(lines "$T/$name.log" 'rule "resume-out": connected .*, session resumed$')
	hits=$(sed -n 's/^ *\([0-9][0-9]*\) session cache hits.*/\1/p' "$T/$name.srv")
	if [ "$rc" -ne 0 ] || [ "$(grep -c '^dlrow olleh$' "$T/$name.got")" -ne 20 ]; then
		fail "$name" "exit $rc, expected 20 replies$(show "$T/$name.err" "$T/$name.log")"
	elif [ "$res" -lt 1 ] || [ "$res" != "$hits" ]; then
		fail "$name" "shim logged $res resumed, s_server counted '$hits' hits$(show "$T/$name.log" "$T/$name.srv")"
	else
		pass "$name ($res of 20 resumed)"
	fi
else
	fail "$name" "s_server did not start$(show "$T/$name.srv")"; stop "$srv"
fi

# --- the shimmed echo_server against openssl s_client -sess_out/-sess_in -----

# server NAME PORT [EXTRA]: a shimmed echo_server on PORT (rule "resume-in",
# certificate $CERTS/$SCERT.crt, server.crt by default); its pid in SRV.
server() {
	policy "$T/$1.conf" <<EOF
rules = ( { name = "resume-in"; direction = "accept"; port = $2;
  cert = "$CERTS/${SCERT:-server}.crt"; key = "$CERTS/${SCERT:-server}.key"; ${3:-} } );
EOF
	export TLSSHIM_LOG_FILE="$T/$1.log"
	start_echo "$1" "$2"
}

# sc NAME PORT S_CLIENT-ARGS...: s_client sends one line, waits for its
# echo and ends; its output in $T/NAME.sc.  0 when the echo came back.
sc() {
	_sc_n=$1 _sc_p=$2
	shift 2
	_sc_line="hello $_sc_n"
	# Not anchored at the start: s_client's own lines about a late
	# TLS 1.3 ticket may run into the echo (its output is buffered, the
	# echo is not).
	feed_until "$T/$_sc_n.sc" "$_sc_line\$" "$_sc_line" |
		timeout $((20 * TS)) openssl s_client -connect "127.0.0.1:$_sc_p" -servername localhost \
			-CAfile "$CERTS/ca.crt" -verify_return_error "$@" >"$T/$_sc_n.sc" 2>&1
	grep -q "$_sc_line\$" "$T/$_sc_n.sc"
}

# reuse_case NAME WANT(Reused|New) PORT-A PORT-B "VERSION-FLAG [S_CLIENT-ARGS]"
# A session from the server on PORT-A, offered to the server on PORT-B.
reuse_case() {
	name=$1 want=$2 pa=$3 pb=$4 ver=$5
	rm -f "$T/$name.sess"
	# shellcheck disable=SC2086
	if ! sc "$name.a" "$pa" $ver -sess_out "$T/$name.sess"; then
		fail "$name" "first connection: no echo$(show "$T/$name.a.sc")"; return
	fi
	if ! grep -q '^New, ' "$T/$name.a.sc" || [ ! -s "$T/$name.sess" ]; then
		fail "$name" "first connection: no new session saved$(show "$T/$name.a.sc")"; return
	fi
	# shellcheck disable=SC2086
	if ! sc "$name.b" "$pb" $ver -sess_in "$T/$name.sess"; then
		fail "$name" "second connection: no echo$(show "$T/$name.b.sc")"; return
	fi
	if ! grep -q "^$want, " "$T/$name.b.sc"; then
		fail "$name" "second connection: expected '$want'$(show "$T/$name.b.sc")"
	else
		pass "$name"
	fi
}

P=$(free_port)
if server srv "$P"; then
	reuse_case server_tls13_s_client_reused Reused "$P" "$P" -tls1_3
	reuse_case server_tls12_s_client_reused Reused "$P" "$P" -tls1_2
	if [ "$(lines "$T/srv.log" 'rule "resume-in": accepted .*, session resumed$')" -eq 2 ] &&
		[ "$(lines "$T/srv.log" 'rule "resume-in": accepted .*, new session$')" -eq 2 ]; then
		pass server_log_says_resumed
	else
		fail server_log_says_resumed "expected 2 new and 2 resumed accepted lines$(show "$T/srv.log")"
	fi
else
	fail server_tls13_s_client_reused "echo_server never listened$(show "$T/srv.err")"
fi
stop "$SRV"

P=$(free_port)
if server nocache "$P" "session_cache = false;"; then
	rm -f "$T/nocache.sess"
	sc nocache.a "$P" -tls1_2 -sess_out "$T/nocache.sess"
	if [ -s "$T/nocache.sess" ] && sc nocache.b "$P" -tls1_2 -sess_in "$T/nocache.sess" &&
		grep -q '^Reused, ' "$T/nocache.b.sc"; then
		fail server_session_cache_off_not_reused "resumed$(show "$T/nocache.b.sc")"
	elif [ "$(lines "$T/nocache.log" 'session resumed')" -ne 0 ]; then
		fail server_session_cache_off_not_reused "the log says resumed$(show "$T/nocache.log")"
	else
		pass server_session_cache_off_not_reused
	fi
else
	fail server_session_cache_off_not_reused "echo_server never listened$(show "$T/nocache.err")"
fi
stop "$SRV"

# --- ticket_key_file: two servers, one key file -----------------------------
umask 077
openssl rand 80 >"$T/k1.key"
openssl rand 80 >"$T/k2.key"
cat "$T/k2.key" "$T/k1.key" >"$T/k21.key"   # rotated: k2 current, k1 previous
PA=$(free_port); PB=$(free_port); PC=$(free_port); PD=$(free_port); PE=$(free_port)
server A "$PA" "ticket_key_file = \"$T/k1.key\";"; SA=$SRV
server B "$PB" "ticket_key_file = \"$T/k1.key\";"; SB=$SRV
server C "$PC" "ticket_key_file = \"$T/k2.key\";"; SC=$SRV
server D "$PD" "ticket_key_file = \"$T/k21.key\";"; SD=$SRV
# E: the same rule name and key file as A, another certificate (a.test).
SCERT=a-test; server E "$PE" "ticket_key_file = \"$T/k1.key\";"; SE=$SRV; SCERT=
for s in A B C D E; do
	grep -q '^listening' "$T/$s.out" || fail ticket_key_setup "server $s never listened$(show "$T/$s.err")"
done
reuse_case shared_key_file_tls13_a_to_b_reused Reused "$PA" "$PB" -tls1_3
reuse_case shared_key_file_tls12_a_to_b_reused Reused "$PA" "$PB" -tls1_2
reuse_case other_key_file_tls13_a_to_c_new New "$PA" "$PC" -tls1_3
reuse_case other_key_file_tls12_a_to_c_new New "$PA" "$PC" -tls1_2
reuse_case rotated_previous_key_tls13_a_to_d_reused Reused "$PA" "$PD" -tls1_3
reuse_case rotated_previous_key_tls12_a_to_d_reused Reused "$PA" "$PD" -tls1_2
# The server that only knows the new key does not take the old tickets.
reuse_case rotated_dropped_key_c_to_b_new New "$PC" "$PB" -tls1_3
# A session from the server holding server.crt does not resume on the one
# holding a.test's certificate, though both read k1 under one rule name: a
# client whose connection is redirected there would talk to a server that
# never proved the identity the client verified; a full handshake shows
# it the other certificate.
reuse_case other_certificate_tls13_a_to_e_new New "$PA" "$PE" -tls1_3
reuse_case other_certificate_tls12_a_to_e_new New "$PA" "$PE" -tls1_2
if [ "$(lines "$T/B.log" 'session resumed$')" -eq 2 ] && [ "$(lines "$T/D.log" 'session resumed$')" -eq 2 ] &&
	[ "$(lines "$T/C.log" 'session resumed$')" -eq 0 ]; then
	pass ticket_key_logs_say_resumed
else
	fail ticket_key_logs_say_resumed "expected B 2, D 2, C 0 resumed$(show "$T/B.log" "$T/C.log" "$T/D.log")"
fi
for s in "$SA" "$SB" "$SC" "$SD" "$SE"; do stop "$s"; done

# --- a session never crosses to a rule that asks more of the peer ------------
# Servers of one rule name sharing k1 and the CA (as two hosts, or two rules
# of one name, may): L asks for no client certificate, M and M2 require one,
# N requires one with allow_cn for another peer.  A session made on L
# (no certificate) is not resumed on M, nor one made on M on N; the session
# id context holds the rule's terms, so a full handshake asks for (and
# checks) the certificate.  M's session resumes on M2: same terms.
PL=$(free_port); PM=$(free_port); PM2=$(free_port); PN=$(free_port)
CA_K1="ticket_key_file = \"$T/k1.key\"; ca = \"$CERTS/ca.crt\";"
server L "$PL" "$CA_K1"; SL=$SRV
server M "$PM" "$CA_K1 require_client_cert = true;"; SM=$SRV
server M2 "$PM2" "$CA_K1 require_client_cert = true;"; SM2=$SRV
server N "$PN" "$CA_K1 require_client_cert = true; allow_cn = \"admin\";"; SN=$SRV
for s in L M M2 N; do
	grep -q '^listening' "$T/$s.out" || fail terms_setup "server $s never listened$(show "$T/$s.err")"
done
CC="-cert $CERTS/client.crt -key $CERTS/client.key"

# refused_case NAME PORT-A A-ARGS PORT-B B-ARGS VERSION: a session from
# the server on PORT-A, offered to the server on PORT-B, is not resumed
# and the connection is refused (no echo); B's log has no resumption.
refused_case() {
	name=$1 pa=$2 aargs=$3 pb=$4 bargs=$5 ver=$6
	rm -f "$T/$name.sess"
	# shellcheck disable=SC2086
	if ! sc "$name.a" "$pa" "$ver" $aargs -sess_out "$T/$name.sess" || [ ! -s "$T/$name.sess" ]; then
		fail "$name" "first connection: no echo or no session$(show "$T/$name.a.sc")"; return
	fi
	_rb=$(lines "$T/$7.log" 'session resumed$')
	# shellcheck disable=SC2086
	printf 'hello %s\n' "$name.b" |
		timeout $((20 * TS)) openssl s_client -connect "127.0.0.1:$pb" -servername localhost \
			-CAfile "$CERTS/ca.crt" "$ver" $bargs -sess_in "$T/$name.sess" >"$T/$name.b.sc" 2>&1
	if grep -q "hello $name.b\$" "$T/$name.b.sc"; then
		fail "$name" "the second connection's data came back$(show "$T/$name.b.sc" "$T/$7.log")"
	elif grep -q '^Reused, ' "$T/$name.b.sc" || [ "$(lines "$T/$7.log" 'session resumed$')" -ne "$_rb" ]; then
		fail "$name" "the session was resumed$(show "$T/$name.b.sc" "$T/$7.log")"
	elif [ "$(lines "$T/$7.log" "$8")" -lt 1 ]; then
		fail "$name" "expected '$8' in the log$(show "$T/$7.log")"
	else
		pass "$name"
	fi
}
for v in tls1_3 tls1_2; do
	refused_case "no_cert_session_${v}_not_resumed_where_cert_required" "$PL" "" "$PM" "" "-$v" M \
		'handshake failed: peer did not return a certificate'
	refused_case "cert_session_${v}_not_resumed_under_other_allow_list" "$PM" "$CC" "$PN" "$CC" "-$v" N \
		'certificate verification failed: peer identity not in the rule.s allow lists'
	reuse_case "cert_session_${v}_resumed_under_same_terms" Reused "$PM" "$PM2" "-$v $CC"
done
# A rule with a current CRL still resumes (the session's bound is 30 days
# ahead).
PC=$(free_port)
server crl30 "$PC" "ca = \"$CERTS/ca.crt\"; require_client_cert = true; crl = \"$T/crl30.pem\";"
SC30=$SRV
for v in tls1_3 tls1_2; do
	reuse_case "crl_cert_session_${v}_resumed" Reused "$PC" "$PC" "-$v $CC"
done
stop "$SC30"
for s in "$SL" "$SM" "$SM2" "$SN"; do stop "$s"; done

# --- a session whose verification has run out since it was made -------------
# A session outlives the certificates it was made with (a TLS 1.3 ticket may
# live 7 days).  The library before 02aeb8b resumed it after the peer's
# certificate had expired, on both sides, and logged the peer "verified":
# a client whose short-lived certificate was not renewed (its access
# withdrawn) kept getting in, and a server whose certificate ran out kept
# being talked to.  The library before the next change looked at the leaf
# only: a session also outlived an intermediate CA that expired, and a
# rule's CRL that went past its nextUpdate (a full handshake then refuses
# every peer: "CRL has expired"), so a peer revoked in the CRL the operator
# had not installed yet kept resuming.  Now a session is bound to the
# earliest end of what verified it (every certificate of the chain, the
# CRLs checked): past it, the client does not offer the session and the
# server does not take its ticket or session id (full handshakes, which
# refuse).  Certificates, an intermediate CA and a CRL that end a few
# seconds from now: first connections before, second ones after (a round
# whose first connections came too late runs again with more time, at
# most three rounds).
XC=$T/xca
mkdir -p "$XC"
# xcert NAME EXT END: NAME.crt/.key of the test CA, valid until END.
xcert() {
	: >"$XC/index.txt"
	openssl rand -hex 8 >"$XC/serial"
	cat >"$XC/ca.cnf" <<EOF
[ ca ]
default_ca = x
[ x ]
database = $XC/index.txt
new_certs_dir = $XC
serial = $XC/serial
default_md = sha256
policy = any
unique_subject = no
[ any ]
commonName = supplied
[ srv ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, IP:127.0.0.1
[ cli ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
[ ica ]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
EOF
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$1" \
		-keyout "$T/$1.key" -out "$XC/$1.csr" 2>/dev/null &&
	openssl ca -batch -config "$XC/ca.cnf" -cert "$CERTS/ca.crt" -keyfile "$CERTS/ca.key" \
		-in "$XC/$1.csr" -extensions "$2" -startdate 20200101000000Z -enddate "$3" -notext \
		-out "$T/$1.crt" >/dev/null 2>&1
}
# icert NAME EXT: NAME.crt/.key issued by the intermediate ishort, valid
# 30 days (longer than its issuer: OpenSSL checks each certificate's own).
icert() {
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$1" \
		-keyout "$T/$1.key" -out "$XC/$1.csr" 2>/dev/null &&
	openssl x509 -req -in "$XC/$1.csr" -CA "$T/ishort.crt" -CAkey "$T/ishort.key" \
		-set_serial "0x$(openssl rand -hex 8)" -days 30 -extfile "$XC/ca.cnf" -extensions "$2" \
		-out "$T/$1.crt" 2>/dev/null
}
cat >"$T/twice.py" <<'EOF'
# twice.py HOST PORT GATE: connect, send a line, print the reply; when GATE
# exists (at most 60 s), the same again.  "N got LINE" or "N error WHY".
import os, socket, sys, time
host, port, gate = sys.argv[1], int(sys.argv[2]), sys.argv[3]
for i in (1, 2):
    if i == 2:
        end = time.time() + 60
        while not os.path.exists(gate) and time.time() < end:
            time.sleep(0.05)
    try:
        s = socket.create_connection((host, port), timeout=20)
        s.sendall(b"line %d\n" % i)
        print(i, "got", s.makefile().readline().strip(), flush=True)
        s.close()
    except OSError as e:
        print(i, "error", e, flush=True)
EOF
# xclient NAME RULE-KEYS S_SERVER-ARGS...: openssl s_server (two accepts)
# and, against it, the shimmed twice.py under connect rule NAME (log
# $T/NAME.log, output $T/NAME.got).  Its pids go to XPIDS, twice.py's to XCLI.
xclient() {
	_xn=$1 _xk=$2
	shift 2
	_xp=$(free_port)
	policy "$T/$_xn.conf" <<EOF
rules = ( { name = "$_xn"; direction = "connect"; port = $_xp; address = "127.0.0.1/32"; ca = "$CERTS/ca.crt"; $_xk } );
EOF
	bg openssl s_server -accept "127.0.0.1:$_xp" -naccept 2 -rev "$@" >"$T/$_xn.srv" 2>&1 </dev/null
	XPIDS="$XPIDS $!"
	wait_for "$T/$_xn.srv" '^ACCEPT' 10
	TLSSHIM_LOG_FILE="$T/$_xn.log" shimbg "$PY" "$T/twice.py" 127.0.0.1 "$_xp" "$T/xgate" >"$T/$_xn.got" 2>&1
	XCLI="$XCLI $!"
}
# xserver NAME RULE-KEYS S_CLIENT-ARGS...: the shimmed echo_server under an
# accept rule with require_client_cert (log $T/NAME.log) and, before
# the round ends, its first two connections, TLS 1.3 (ticket) and TLS 1.2 (session id), their sessions
# kept in $T/NAME.13.sess and $T/NAME.12.sess; a line in $T/xservers for
# the second ones.
xserver() {
	_xn=$1 _xk=$2
	shift 2
	_xp=$(free_port)
	server "$_xn" "$_xp" "ca = \"$CERTS/ca.crt\"; require_client_cert = true; $_xk"
	XPIDS="$XPIDS $SRV"
	# Too late for this round: no first connections (they would wait for
	# an echo that a refusal never sends).
	[ "$(date +%s)" -lt "$ends" ] || return 0
	sc "$_xn.13a" "$_xp" -tls1_3 "$@" -sess_out "$T/$_xn.13.sess"
	sc "$_xn.12a" "$_xp" -tls1_2 -no_ticket "$@" -sess_out "$T/$_xn.12.sess"
	echo "$_xn $_xp $*" >>"$T/xservers"
}
XCLIENTS="exp-out xint-out xcrl-out"
xround=0 xok=no
for secs in 12 24 48; do
	xround=$((xround + 1))
	rm -f "$T/xgate" "$T"/*.sess "$T/xservers"
	XPIDS="" XCLI=""
	ends=$(( $(date +%s) + secs ))
	xend=$(date -u -d "@$ends" +%Y%m%d%H%M%SZ)
	if ! xcert sshort srv "$xend" || ! xcert cshort cli "$xend" || ! xcert ishort ica "$xend" ||
		! icert sint srv || ! icert cint cli ||
		! openssl ca -config "$C/ca.cnf" -gencrl -crl_nextupdate "$xend" -out "$T/xcrl.pem" >>"$C/log" 2>&1; then
		fail expired_setup "cannot make the short-lived certificates and CRL$(show "$C/log")"; break
	fi
	# The client side: the shimmed twice.py against s_server with a
	# certificate that ends, one under an intermediate that ends, and a
	# lasting one under a rule whose CRL ends.
	xclient exp-out "" -cert "$T/sshort.crt" -key "$T/sshort.key"
	xclient xint-out "" -cert "$T/sint.crt" -key "$T/sint.key" -cert_chain "$T/ishort.crt"
	xclient xcrl-out "crl = \"$T/xcrl.pem\";" -cert "$CERTS/server.crt" -key "$CERTS/server.key"
	# The server side: the shimmed echo_server, s_client with the same.
	xserver xin "" -cert "$T/cshort.crt" -key "$T/cshort.key"
	xserver xint-in "" -cert "$T/cint.crt" -key "$T/cint.key" -cert_chain "$T/ishort.crt"
	xserver xcrl-in "crl = \"$T/xcrl.pem\";" -cert "$CERTS/client.crt" -key "$CERTS/client.key"
	for n in $XCLIENTS; do wait_for "$T/$n.got" '^1 ' 10; done
	xok=yes
	[ "$(date +%s)" -lt "$ends" ] || xok=no
	for n in $XCLIENTS; do grep -q '^1 got 1 enil$' "$T/$n.got" || xok=no; done
	for n in xin xint-in xcrl-in; do [ -s "$T/$n.13.sess" ] && [ -s "$T/$n.12.sess" ] || xok=no; done
	if [ $xok = yes ]; then
		# Until the certificates and the CRL have expired (bounded: ends is near).
		while [ "$(date +%s)" -le "$ends" ]; do sleep 0.2; done
		: >"$T/xgate"
		for p in $XCLI; do wait_exit "$p" 20; done
		while read -r n p args; do
			for v in 13 12; do
				a=-tls1_3; [ $v = 12 ] && a="-tls1_2 -no_ticket"
				# shellcheck disable=SC2086
				printf 'hello %s.%s.b\n' "$n" $v | timeout $((20 * TS)) openssl s_client \
					-connect "127.0.0.1:$p" -servername localhost -CAfile "$CERTS/ca.crt" \
					$a $args -sess_in "$T/$n.$v.sess" >"$T/$n.$v.b.sc" 2>&1
			done
		done <"$T/xservers"
	fi
	for p in $XCLI $XPIDS; do stop "$p"; done
	[ $xok = yes ] && break
done
# xclient_check CASE NAME REASON: NAME's second connection was not resumed,
# and a full handshake refused the server with REASON.
xclient_check() {
	if grep -q '^2 got' "$T/$2.got" || grep -q "rule \"$2\": connected .*session resumed" "$T/$2.log"; then
		fail "$1" "the session was resumed after $3$(show "$T/$2.got" "$T/$2.log")"
	elif ! grep -q "rule \"$2\": certificate verification failed: $3" "$T/$2.log"; then
		fail "$1" "no full handshake refusing the server ($3)$(show "$T/$2.got" "$T/$2.log")"
	else
		pass "$1${xr:-}"
	fi
}
# xserver_check CASE NAME VERSION REGEX: s_client's second connection to
# server NAME (VERSION 13 or 12) was not echoed (nor, in TLS 1.3, resumed:
# a TLS 1.2 session id the engine refuses after the handshake is "Reused"
# for s_client), and the server logged a line matching REGEX (after
# "resume-in": ).
xserver_check() {
	if grep -q "hello $2.$3.b\$" "$T/$2.$3.b.sc" ||
		{ [ "$3" = 13 ] && grep -q '^Reused, ' "$T/$2.$3.b.sc"; }; then
		fail "$1" "the session was resumed and the data echoed$(show "$T/$2.$3.b.sc" "$T/$2.log")"
	elif ! grep -q -E "rule \"resume-in\": ($4)" "$T/$2.log"; then
		fail "$1" "no refusal logged ($4)$(show "$T/$2.log")"
	else
		pass "$1"
	fi
}
if [ $xok = no ]; then
	fail expired_peer_sessions "the first connections never came before the certificates expired ($xround rounds)$(show "$T/exp-out.got" "$T/exp-out.log" "$T/xin.log")"
else
	xr=" (round $xround)"
	xclient_check expired_server_certificate_session_not_offered exp-out 'certificate has expired'
	xclient_check expired_server_intermediate_session_not_offered xint-out 'certificate has expired'
	xclient_check expired_crl_server_session_not_offered xcrl-out 'CRL has expired'
	expired='certificate verification failed: certificate has expired'
	xserver_check expired_client_certificate_ticket_not_resumed_tls13 xin 13 "$expired"
	# A TLS 1.2 session id: not resumed (a full handshake), or resumed and
	# refused by the engine's own look (core/tls.c resumed_peer_ok).
	xserver_check expired_client_certificate_session_id_refused_tls12 xin 12 \
		"$expired|resumed session refused: the peer's certificate has expired"
	xserver_check expired_client_intermediate_ticket_not_resumed_tls13 xint-in 13 "$expired"
	xserver_check expired_client_intermediate_session_id_not_resumed_tls12 xint-in 12 "$expired"
	xserver_check expired_crl_client_ticket_not_resumed_tls13 xcrl-in 13 'certificate verification failed: CRL has expired'
	xserver_check expired_crl_client_session_id_not_resumed_tls12 xcrl-in 12 'certificate verification failed: CRL has expired'
fi

# --- a connect rule's CRL replaced after the session was made -----------------
# The server's certificate is revoked by the new CRL: the client's cache
# forgets the sessions of the replaced context (policy/reload.c), so the
# next connection is a full handshake, which refuses the server.  (A guard:
# the library before passes it too.)
if ! mkcert srv-rv localhost server_ext ||
	! openssl ca -config "$C/ca.cnf" -revoke "$T/srv-rv.crt" >>"$C/log" 2>&1 ||
	! openssl ca -config "$C/ca.cnf" -gencrl -out "$T/crl-rv.pem" >>"$C/log" 2>&1; then
	fail crl_replaced_setup "openssl ca failed$(show "$C/log")"
else
	xr=""
	cp "$T/crl30.pem" "$T/live-crl.pem"
	rm -f "$T/xgate"
	XPIDS="" XCLI=""
	xclient rv-out "crl = \"$T/live-crl.pem\";" -cert "$T/srv-rv.crt" -key "$T/srv-rv.key"
	if ! wait_for "$T/rv-out.got" '^1 got 1 enil$' 10; then
		fail crl_replaced_server_session_not_offered "no first connection$(show "$T/rv-out.got" "$T/rv-out.log")"
	else
		cp "$T/crl-rv.pem" "$T/live-crl.tmp" && mv "$T/live-crl.tmp" "$T/live-crl.pem"
		: >"$T/xgate"
		for p in $XCLI; do wait_exit "$p" 20; done
		xclient_check crl_replaced_server_session_not_offered rv-out 'certificate revoked'
	fi
	for p in $XCLI $XPIDS; do stop "$p"; done
fi

# --- tlsshim --check on key files --------------------------------------------
# check_bad NAME REGEX RULE-KEYS: --check fails with FILE:LINE and REGEX.
check_bad() {
	cat >"$T/$1.conf" <<EOF
rules = (
  { name = "r"; direction = "accept"; port = 1;
    cert = "$CERTS/server.crt"; key = "$CERTS/server.key";
    $3 }
);
EOF
	"$TLSSHIM_LAUNCHER" --check "$T/$1.conf" >"$T/$1.chk" 2>&1
	rc=$?
	if [ "$rc" -ne 0 ] && grep -q -E "$T/$1.conf:4: .*$2" "$T/$1.chk" && has_no "$T/$1.chk" "$(head -c 8 "$T/k1.key" | od -An -tx1 | tr -d ' \n')"; then
		pass "$1"
	else
		fail "$1" "expected exit != 0 and '$T/$1.conf:4: ...$2'$(show "$T/$1.chk")"
	fi
}
head -c 79 "$T/k1.key" >"$T/short.key"
cp "$T/k1.key" "$T/open.key"; chmod 644 "$T/open.key"
cat "$T/k1.key" "$T/k1.key" >"$T/dup.key"
check_bad check_ticket_key_short '1 to 8 keys of 80 bytes' "ticket_key_file = \"$T/short.key\";"
check_bad check_ticket_key_world_readable 'readable or writable by other users' "ticket_key_file = \"$T/open.key\";"
check_bad check_ticket_key_duplicate_names 'same name' "ticket_key_file = \"$T/dup.key\";"
check_bad check_ticket_key_missing 'No such file' "ticket_key_file = \"$T/none.key\";"
check_bad check_ticket_key_without_cache 'session_cache' "ticket_key_file = \"$T/k1.key\"; session_cache = false;"
cat >"$T/conn.conf" <<EOF
rules = ( { direction = "connect"; port = 1; ticket_key_file = "$T/k1.key"; } );
EOF
if ! "$TLSSHIM_LAUNCHER" --check "$T/conn.conf" >"$T/conn.chk" 2>&1 &&
	grep -q "conn.conf:1: .*\"ticket_key_file\" applies only to accept rules" "$T/conn.chk"; then
	pass check_ticket_key_on_connect_rule
else
	fail check_ticket_key_on_connect_rule "expected an error$(show "$T/conn.chk")"
fi
