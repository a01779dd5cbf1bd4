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
