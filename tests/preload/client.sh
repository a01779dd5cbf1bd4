#!/bin/sh
# tests/preload/client.sh — the shimmed plain client (a "connect" rule)
# against Python ssl servers: server name (from the resolved host name,
# from the IP address, explicit), every read/write family, full duplex,
# server-speaks-first, IPv6, client certificates, a TLS 1.2-only server.
. "$(dirname "$0")/../lib.sh"
. "$TLSSHIM_TOP/tests/preload/common.inc"
need_shim client_setup

# connect_policy PORT [EXTRA-KEYS]: one connect rule "echo-out" to PORT.
connect_policy() {
	policy "$T/p.conf" <<EOF
rules = (
  { name = "echo-out"; direction = "connect"; port = $1;
    ca = "$CERTS/ca.crt"; ${2:-} }
);
EOF
}

# run_client NAME INPUT-FILE PEER-ARGS -- CLIENT-ARGS...
# Start a tlspeer.py echo server with PEER-ARGS (status in $T/NAME.st),
# run the shimmed client with INPUT-FILE on stdin (stdout $T/NAME.got,
# stderr $T/NAME.err); sets RC to the client's exit status.
run_client() {
	_rc_n=$1 _rc_in=$2
	shift 2
	_rc_pa=""
	while [ $# -gt 0 ] && [ "$1" != -- ]; do _rc_pa="$_rc_pa $1"; shift; done
	shift
	export TLSSHIM_LOG_FILE="$T/$_rc_n.log"
	# shellcheck disable=SC2086
	if ! start_peer "$_rc_n.peer" server --port "$P" --status "$T/$_rc_n.st" $_rc_pa; then
		RC=99; echo "peer did not start" >"$T/$_rc_n.err"; return
	fi
	shimmed "$PROGS/client" "$@" <"$_rc_in" >"$T/$_rc_n.got" 2>"$T/$_rc_n.err"
	RC=$?
	wait_exit "$PEER" 10
}

SRVCERT="--cert $CERTS/server.crt --key $CERTS/server.key"
printf 'hello through the shim\nline two\n' >"$T/small.in"

# verdict NAME EXPECTED-OUTPUT-FILE [STATUS-REGEX]: exit 0, output exact,
# and (if given) the server's status file matches the regex.
verdict() {
	if [ "$RC" -ne 0 ]; then
		fail "$1" "client exited $RC$(show "$T/$1.err" "$T/$1.log" "$T/$1.st")"
	elif ! cmp -s "$2" "$T/$1.got"; then
		fail "$1" "received data differs from what was sent$(show "$T/$1.got" "$T/$1.st")"
	elif [ -n "${3:-}" ] && ! grep -q -E -e "$3" "$T/$1.st"; then
		fail "$1" "server status does not match /$3/$(show "$T/$1.st")"
	else
		pass "$1"
	fi
}

# --- server_name defaults ---------------------------------------------------
# "localhost" resolved with getaddrinfo: SNI and verified name are localhost.
name=client_server_name_from_resolved_host
P=$(free_port); connect_policy "$P"
run_client $name "$T/small.in" $SRVCERT -- localhost "$P"
verdict $name "$T/small.in" 'sni=localhost '

# 127.0.0.1: checked against the certificate's IP SAN.
name=client_server_name_from_ip_address
P=$(free_port); connect_policy "$P"
run_client $name "$T/small.in" $SRVCERT -- 127.0.0.1 "$P"
verdict $name "$T/small.in" '^tls version=TLSv1.3'

# explicit server_name = "localhost" while the program dials 127.0.0.1.
name=client_explicit_server_name
P=$(free_port); connect_policy "$P" 'server_name = "localhost";'
run_client $name "$T/small.in" $SRVCERT -- 127.0.0.1 "$P"
verdict $name "$T/small.in" 'sni=localhost '

# explicit server_name = "other.example" wins over the resolved "localhost":
# the server's certificate (wrongname.crt) is valid only for other.example.
name=client_explicit_server_name_overrides_resolved
P=$(free_port); connect_policy "$P" 'server_name = "other.example";'
run_client $name "$T/small.in" --cert "$CERTS/wrongname.crt" --key "$CERTS/wrongname.key" -- localhost "$P"
verdict $name "$T/small.in" 'sni=other.example '

# --- the program's read/write families (and sendfile() for the sending) ----
head -c 60000 /dev/urandom >"$T/60k.in"
for m in rw:"" recvsend:-m readv:-v recvmsg:-M recvfrom:-f sendfile:-S; do
	name=client_io_${m%%:*}
	flag=${m#*:}
	P=$(free_port); connect_policy "$P"
	# shellcheck disable=SC2086
	run_client $name "$T/60k.in" $SRVCERT -- $flag 127.0.0.1 "$P"
	verdict $name "$T/60k.in" '^eof clean'
done

# --- full duplex: one thread writes 2 MB while the main thread reads --------
name=client_full_duplex_2MB
head -c 2000000 /dev/urandom >"$T/2m.in"
P=$(free_port); connect_policy "$P"
run_client $name "$T/2m.in" $SRVCERT -- -t 127.0.0.1 "$P"
verdict $name "$T/2m.in" '^eof clean'

# --- the server speaks first; its close_notify ends the program's read -----
name=client_server_speaks_first
printf 'hello from the server\n' >"$T/greet.expect"
P=$(free_port); connect_policy "$P"
run_client $name /dev/null $SRVCERT --mode greet -- -s localhost "$P"
verdict $name "$T/greet.expect"

# --- IPv6 --------------------------------------------------------------------
name=client_ipv6
P=$(free_port); connect_policy "$P"
run_client $name "$T/small.in" $SRVCERT --host ::1 -- -6 ::1 "$P"
verdict $name "$T/small.in" '^tls version=TLSv1.3'

# --- a client certificate from the rule (cert, key) for a server asking one -
name=client_certificate_to_mtls_server
P=$(free_port); connect_policy "$P" "cert = \"$CERTS/client.crt\"; key = \"$CERTS/client.key\";"
run_client $name "$T/small.in" $SRVCERT --ca "$CERTS/ca.crt" --require-cert -- localhost "$P"
cn=$(openssl x509 -in "$CERTS/client.crt" -noout -subject -nameopt multiline | sed -n 's/^ *commonName *= *//p')
verdict $name "$T/small.in" "peer_cn=$cn "

# --- a server that speaks TLS 1.2 only -------------------------------------
name=client_tls12_only_server
P=$(free_port); connect_policy "$P"
run_client $name "$T/small.in" $SRVCERT --tls12 -- localhost "$P"
verdict $name "$T/small.in" '^tls version=TLSv1.2 '

# --- ca = a directory of trust anchors (hashed, as "openssl rehash" makes) --
name=client_ca_directory
mkdir -p "$T/cadir"
cp "$CERTS/other-ca.crt" "$CERTS/ca.crt" "$T/cadir/"
if openssl rehash "$T/cadir" >/dev/null 2>&1 || c_rehash "$T/cadir" >/dev/null 2>&1; then
	P=$(free_port)
	policy "$T/p.conf" <<EOF
rules = ( { name = "echo-out"; direction = "connect"; port = $P; ca = "$T/cadir"; } );
EOF
	run_client $name "$T/small.in" $SRVCERT -- localhost "$P"
	verdict $name "$T/small.in" '^tls version=TLSv1.3'
else
	fail "$name" "could not hash the CA directory (openssl rehash)"
fi

# --- a server with an anonymous cipher suite (no certificate at all) -------
# The rule allows everything OpenSSL has ("ALL:@SECLEVEL=0", as for an old
# server), which includes anonymous ECDH suites.  verify = "full" must still
# mean a verified certificate: a server (or whoever sits on the path) that
# picks AECDH and sends none is refused, and never sees the program's data.
# (The previous library connected, "no server certificate", and the data
# went through: s_server -rev sent it back reversed.)
name=client_anonymous_suite_refused
P=$(free_port); connect_policy "$P" 'ciphers = "ALL:@SECLEVEL=0";'
bg openssl s_server -accept "127.0.0.1:$P" -nocert -tls1_2 -naccept 1 -rev \
	-cipher 'AECDH-AES128-SHA:@SECLEVEL=0' >"$T/$name.srv" 2>&1 </dev/null
SRV=$!
if ! wait_listen "$P"; then
	fail "$name" "openssl s_server did not start$(show "$T/$name.srv")"
else
	printf 'secret for a verified server only\nCLOSE\n' >"$T/$name.in"
	TLSSHIM_LOG_FILE="$T/$name.log" shimmed "$PROGS/client" 127.0.0.1 "$P" \
		<"$T/$name.in" >"$T/$name.got" 2>"$T/$name.err"
	RC=$?
	wait_exit "$SRV" 10
	if [ "$RC" -eq 0 ] || [ -s "$T/$name.got" ]; then
		fail "$name" "the anonymous server was taken for verified (client exit $RC)$(show "$T/$name.got" "$T/$name.log")"
	elif ! grep -q 'handshake' "$T/$name.log"; then
		fail "$name" "no handshake failure logged$(show "$T/$name.log" "$T/$name.err")"
	else
		pass "$name"
	fi
fi

# The same refusal from a process whose every suite of the rule's list has
# been asked about already: the answers are remembered per process
# (policy/ctx.c, cipher_unauthenticated), so the second connection, to the
# anonymous server, is judged by what the first (to a verified server)
# left behind.  One process, two connections: the first is answered, the
# second refused, and the anonymous server never sees the data.
name=client_anonymous_suite_refused_remembered
P=$(free_port); P2=$(free_port)
policy "$T/$name.conf" <<EOF
rules = (
  { name = "echo-out"; direction = "connect"; port = [$P, $P2];
    ca = "$CERTS/ca.crt"; ciphers = "ALL:@SECLEVEL=0"; }
);
EOF
cat >"$T/$name.py" <<'EOF'
import socket, sys
for port in sys.argv[1:]:
    s = socket.socket()
    s.settimeout(20)
    try:
        s.connect(("127.0.0.1", int(port)))
        s.sendall(b"SECRET\n")
        got = s.makefile("rb").readline()
        print("answered" if got == b"TERCES\n" else "other %r" % got)
    except OSError as e:
        print("refused", e.errno)
    s.close()
    sys.stdout.flush()
EOF
bg openssl s_server -accept "127.0.0.1:$P" -cert "$CERTS/server.crt" -key "$CERTS/server.key" -tls1_2 \
	-naccept 1 -rev >"$T/$name.srv1" 2>&1 </dev/null
SRV1=$!
bg openssl s_server -accept "127.0.0.1:$P2" -nocert -tls1_2 -naccept 1 -rev \
	-cipher 'AECDH-AES128-SHA:@SECLEVEL=0' >"$T/$name.srv2" 2>&1 </dev/null
SRV2=$!
if ! wait_listen "$P" || ! wait_listen "$P2"; then
	fail "$name" "openssl s_server did not start$(show "$T/$name.srv1" "$T/$name.srv2")"
else
	TLSSHIM_LOG_FILE="$T/$name.log" shimmed python3 "$T/$name.py" "$P" "$P2" >"$T/$name.got" 2>"$T/$name.err"
	if [ "$(sed -n 1p "$T/$name.got")" != answered ]; then
		fail "$name" "the verified server's connection failed$(show "$T/$name.got" "$T/$name.err" "$T/$name.log")"
	elif [ "$(sed -n 2p "$T/$name.got" | cut -d' ' -f1)" != refused ] || grep -q SECRET "$T/$name.srv2"; then
		fail "$name" "the anonymous server was taken for verified$(show "$T/$name.got" "$T/$name.srv2" "$T/$name.log")"
	elif ! grep -q 'handshake' "$T/$name.log"; then
		fail "$name" "no handshake failure logged$(show "$T/$name.log")"
	else
		pass "$name"
	fi
fi
stop "$SRV1"; stop "$SRV2"

# --- weak certificate chains under the same rule ("@SECLEVEL=0") -----------
# OpenSSL checks a chain's strength at the connection's security level, so
# "@SECLEVEL=0" in a rule's ciphers (for an old server's ciphers) also took
# away every check of the chain: the previous library verified a chain
# through a 512-bit RSA CA, a certificate signed with MD5 or with SHA-1,
# and sent the program's data (s_server -rev sent it back reversed): whoever
# can factor such a key or forge such a signature could pose as any server
# of the CA.  The chain is now checked at level 1 at least: each refused at
# verification, the log says why; a sound chain still connects.  The same
# for a client chain on an accept rule with require_client_cert.
W=$T/weak
mkdir -p "$W"
# wcert NAME ISSUER(self|NAME) KEYALG EXT-LINES [x509 ARGS...]
wcert() {
	_wn=$1 _wi=$2 _wk=$3 _we=$4
	shift 4
	case $_wk in
	ec) openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$W/$_wn.key" ;;
	rsa*) openssl genpkey -algorithm RSA -pkeyopt "rsa_keygen_bits:${_wk#rsa}" -out "$W/$_wn.key" ;;
	esac 2>/dev/null || return 1
	printf '%b\n' "$_we" >"$W/$_wn.ext"
	openssl req -new -key "$W/$_wn.key" -subj "/CN=$_wn" -out "$W/$_wn.csr" 2>/dev/null || return 1
	if [ "$_wi" = self ]; then
		set -- -signkey "$W/$_wn.key" "$@"
	else
		set -- -CA "$W/$_wi.crt" -CAkey "$W/$_wi.key" "$@"
	fi
	openssl x509 -req -in "$W/$_wn.csr" -extfile "$W/$_wn.ext" -set_serial "0x$(openssl rand -hex 8)" \
		-days 2 "$@" -out "$W/$_wn.crt" 2>/dev/null
}
WCA='basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign'
WSRV='basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=DNS:localhost,IP:127.0.0.1'
WCLI='basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth'
if ! { wcert wroot self ec "$WCA" && wcert rsaint wroot rsa2048 "$WCA" && wcert int512 wroot rsa512 "$WCA" &&
	wcert sound rsaint ec "$WSRV" && wcert md5 rsaint ec "$WSRV" -md5 && wcert sha1 wroot ec "$WSRV" -sha1 &&
	wcert via512 int512 ec "$WSRV" && wcert cli512 int512 ec "$WCLI"; }; then
	fail client_weak_chain_setup "cannot make the test certificates"
else
	# weak_case NAME LEAF CHAIN WANT(ok|refused) LOG-REASON
	weak_case() {
		name=client_weak_chain_$1
		P=$(free_port)
		policy "$T/$name.conf" <<EOC
rules = ( { name = "weak-out"; direction = "connect"; port = $P; address = "127.0.0.1/32";
            ca = "$W/wroot.crt"; ciphers = "ALL:@SECLEVEL=0"; } );
EOC
		bg openssl s_server -accept "127.0.0.1:$P" -naccept 1 -rev -cert "$W/$2.crt" -key "$W/$2.key" \
			-cert_chain "$W/$3.crt" -cipher 'ALL:@SECLEVEL=0' >"$T/$name.srv" 2>&1 </dev/null
		SRV=$!
		if ! wait_listen "$P"; then
			fail "$name" "openssl s_server did not start$(show "$T/$name.srv")"; stop "$SRV"; return
		fi
		printf 'secret for a sound chain only\nCLOSE\n' >"$T/$name.in"
		TLSSHIM_LOG_FILE="$T/$name.log" shimmed "$PROGS/client" 127.0.0.1 "$P" \
			<"$T/$name.in" >"$T/$name.got" 2>"$T/$name.err"
		RC=$?
		wait_exit "$SRV" 10 || stop "$SRV"
		if [ "$4" = ok ]; then
			if [ "$RC" -eq 0 ] && grep -q 'ylno niahc dnuos' "$T/$name.got"; then
				pass "$name"
			else
				fail "$name" "a sound chain under the same rule did not connect (exit $RC)$(show "$T/$name.err" "$T/$name.log")"
			fi
		elif [ "$RC" -eq 0 ] || [ -s "$T/$name.got" ]; then
			fail "$name" "verified and the data went through (client exit $RC)$(show "$T/$name.got" "$T/$name.log")"
		elif ! grep -q "rule \"weak-out\": certificate verification failed: $5" "$T/$name.log"; then
			fail "$name" "no verification failure \"$5\" logged$(show "$T/$name.log" "$T/$name.err")"
		else
			pass "$name ($(grep -o 'certificate verification failed: [^|]*' "$T/$name.log" | head -n 1))"
		fi
	}
	weak_case sound sound rsaint ok
	weak_case md5_signature md5 rsaint refused 'CA signature digest algorithm too weak'
	weak_case sha1_signature sha1 wroot refused 'CA signature digest algorithm too weak'
	weak_case rsa512_ca via512 int512 refused 'CA certificate key too weak'

	# The accept side: a client chain through the 512-bit CA.
	name=client_weak_chain_accept_rsa512_ca
	P=$(free_port)
	policy "$T/$name.conf" <<EOC
rules = ( { name = "weak-in"; direction = "accept"; port = $P; cert = "$CERTS/server.crt"; key = "$CERTS/server.key";
            require_client_cert = true; ca = "$W/wroot.crt"; ciphers = "ALL:@SECLEVEL=0"; } );
EOC
	TLSSHIM_LOG_FILE="$T/$name.log" shimbg "$PROGS/echo_server" -1 "$P" \
		>"$T/$name.out" 2>"$T/$name.err"
	ES=$!
	if ! wait_for "$T/$name.out" '^listening' 10; then
		fail "$name" "echo_server did not start$(show "$T/$name.err" "$T/$name.log")"
	else
		# -ign_eof: s_client reads until the server closes (the refusal).
		printf 'secret for a sound client chain only\n' >"$T/$name.in"
		timeout -k 2 $((10 * TS)) openssl s_client -connect "127.0.0.1:$P" -quiet -ign_eof \
			-cert "$W/cli512.crt" -key "$W/cli512.key" -cert_chain "$W/int512.crt" \
			-CAfile "$CERTS/ca.crt" -cipher 'ALL:@SECLEVEL=0' <"$T/$name.in" >"$T/$name.sc" 2>&1
		wait_exit "$ES" 10 || stop "$ES"
		if grep -q 'secret for' "$T/$name.sc"; then
			fail "$name" "the client was verified and its data echoed$(show "$T/$name.log")"
		elif ! grep -q 'rule "weak-in": certificate verification failed: CA certificate key too weak' "$T/$name.log"; then
			fail "$name" "no verification failure logged$(show "$T/$name.log" "$T/$name.sc")"
		else
			pass "$name"
		fi
	fi
fi
