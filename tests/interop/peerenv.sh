#!/bin/sh
# tests/interop/peerenv.sh — the peer's identity in the environment of an
# exec'd service (libtlsshim(7), "ENVIRONMENT OF EXEC'D SERVICES"):
# openbsd-inetd under the shim runs a shell-script service that prints
# every TLS_* and REMOTE_* variable it got; verifying TLS clients (Python
# ssl, openssl s_client) connect with and without a client certificate.
# inetd itself runs with forged values of every variable in its
# environment (-E: it passes its environment on), which must never reach
# the service.
# Asserted, byte for byte:
#   * with a client certificate (DNS, URI and IP subjectAltNames):
#     TLS_PEER_SUBJECT (RFC 2253, as `openssl x509 -nameopt RFC2253`),
#     TLS_PEER_SANS, TLS_PEER_SPKI_SHA256 (as pin_spki), TLS_VERSION and
#     TLS_CIPHER as the client negotiated them (TLS 1.3 and 1.2),
#     REMOTE_ADDR and REMOTE_PORT the client's own;
#   * without one: no TLS_PEER_* (not even the forged ones), the rest set;
#   * one with 120 DNS subjectAltNames, too long for the environment:
#     no TLS_PEER_SANS, but TLS_PEER_INCOMPLETE=TLS_PEER_SANS and a warn
#     line (never a silent absence), the other values there;
#   * a URI subjectAltName holding a comma: one name in TLS_PEER_SANS,
#     its comma (and a backslash) written \xNN, never a second name;
#   * a failed handshake (a certificate from another CA): the service
#     gets none of the variables (not the forged ones);
#   * inetd without -E (a clean environment; the service runs without the
#     shim: the session is pumped before the exec): the same values.
. "$(dirname "$0")/../lib.sh"
. "$TLSSHIM_TOP/tests/preload/common.inc"
. "$TLSSHIM_TOP/tests/interop/daemons.inc"
need_shim peerenv_setup
[ -x /usr/sbin/inetd ] || { fail peerenv_setup "/usr/sbin/inetd not installed (openbsd-inetd)"; exit 1; }
[ -n "$T" ] && [ -d "$T" ] || { echo "FAIL peerenv_setup: no test directory"; exit 1; }

# ---- a client certificate with SANs of three types ----------------------
printf '%s\n' 'basicConstraints = critical, CA:FALSE' 'keyUsage = critical, digitalSignature' \
	'extendedKeyUsage = clientAuth' \
	'subjectAltName = DNS:dave.clients.example, URI:spiffe://example.org/ns/prod/sa/dave, IP:10.1.2.3, IP:fd00::7' \
	>"$T/dave.ext"
if ! { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$T/dave.key" 2>/dev/null &&
       openssl req -new -key "$T/dave.key" -subj "/O=tlsshim test/OU=ops+UID=d1/CN=dave, the client" \
	       -multivalue-rdn -out "$T/dave.csr" 2>/dev/null &&
       openssl x509 -req -in "$T/dave.csr" -CA "$CERTS/ca.crt" -CAkey "$CERTS/ca.key" \
	       -set_serial "0x$(openssl rand -hex 12)" -days 2 -sha256 -extfile "$T/dave.ext" \
	       -out "$T/dave.crt" 2>/dev/null; }; then
	fail peerenv_setup "cannot make the client certificate"; exit 1
fi
W_SUBJECT=$(openssl x509 -in "$T/dave.crt" -noout -subject -nameopt RFC2253 | sed 's/^subject=//')
W_SANS="DNS:dave.clients.example,URI:spiffe://example.org/ns/prod/sa/dave,IP:10.1.2.3,IP:fd00::7"
W_PIN=$(openssl x509 -in "$T/dave.crt" -noout -pubkey | openssl pkey -pubin -outform der |
	openssl dgst -sha256 -binary | openssl base64)

# ---- the service and inetd ---------------------------------------------------
printf '%s\n' '# Every TLS_* and REMOTE_* variable, sorted, to a file and to the client.' \
	"env | grep -E '^(TLS_[A-Z0-9_]*|REMOTE_ADDR|REMOTE_PORT)=' | sort >\"\$1.\$\$.env\"" \
	'cat "$1.$$.env"' >"$T/svc.sh"
P1=$(free_port); P2=$(free_port); P3=$(free_port)
while [ "$P2" = "$P1" ]; do P2=$(free_port); done
while [ "$P3" = "$P1" ] || [ "$P3" = "$P2" ]; do P3=$(free_port); done
me=$(id -un)
printf '127.0.0.1:%s\tstream\ttcp4\tnowait\t%s\t/bin/sh\tsh %s %s\n' \
	"$P1" "$me" "$T/svc.sh" "$T/cert" "$P2" "$me" "$T/svc.sh" "$T/nocert" >"$T/inetd.conf"
policy "$T/pol.conf" <<EOC
rules = (
  { name = "svc-mtls"; direction = "accept"; port = $P1;
    cert = "$CERTS/server.crt"; key = "$CERTS/server.key";
    require_client_cert = true; ca = "$CERTS/ca.crt"; },
  { name = "svc-open"; direction = "accept"; port = [$P2, $P3];
    cert = "$CERTS/server.crt"; key = "$CERTS/server.key"; } );
EOC
TLSSHIM_LOG=info TLSSHIM_LOG_FILE="$T/inetd.log" \
	TLS_PEER_SUBJECT="CN=forged" TLS_PEER_SANS="DNS:forged.example" TLS_PEER_SPKI_SHA256="AAAA" \
	TLS_VERSION="SSLv2" TLS_CIPHER="NULL" REMOTE_ADDR="6.6.6.6" REMOTE_PORT="666" TLS_PEER_INCOMPLETE="forged" \
	shimbg /usr/sbin/inetd -i -E "$T/inetd.conf" >"$T/inetd.out" 2>&1
INETD=$!
track "$INETD"
if ! wait_listen "$P1" 15 || ! wait_listen "$P2" 15; then
	fail peerenv_setup "inetd did not listen$(show "$T/inetd.out" "$T/inetd.log")"; exit 1
fi

CLIENT="$TLSSHIM_TOP/tests/interop/py/peerenv_client.py"
# expect NAME OUT WITH-CERT: OUT is the client's output; the service's
# variables must be exactly what the client negotiated.
expect() {
	_n=$1 _o=$2 _cert=$3
	_lp=$(sed -n 's/^local_port=//p' "$_o")
	_ver=$(sed -n 's/^version=//p' "$_o")
	_ci=$(sed -n 's/^cipher=//p' "$_o")
	{
		echo "REMOTE_ADDR=127.0.0.1"
		echo "REMOTE_PORT=$_lp"
		echo "TLS_CIPHER=$_ci"
		if [ "$_cert" = yes ]; then
			echo "TLS_PEER_SANS=$W_SANS"
			echo "TLS_PEER_SPKI_SHA256=$W_PIN"
			echo "TLS_PEER_SUBJECT=$W_SUBJECT"
		fi
		echo "TLS_VERSION=$_ver"
	} | sort >"$T/$_n.want"
	sed -n '/^---$/,$p' "$_o" | sed 1d >"$T/$_n.got"
	if [ -n "$_lp" ] && [ -n "$_ci" ] && cmp -s "$T/$_n.want" "$T/$_n.got"; then
		pass "$_n"
	else
		fail "$_n" "want '$(tr '\n' '|' <"$T/$_n.want")' got '$(tr '\n' '|' <"$T/$_n.got")' client '$(head -c 300 "$_o" | tr '\n' '|')'$(show "$T/inetd.log")"
	fi
}

timeout $((30 * TS)) "$PY" "$CLIENT" "$P1" "$CERTS/ca.crt" "$T/dave.crt" "$T/dave.key" 1.3 >"$T/c13.out" 2>&1
expect peerenv_client_cert_tls13 "$T/c13.out" yes
timeout $((30 * TS)) "$PY" "$CLIENT" "$P1" "$CERTS/ca.crt" "$T/dave.crt" "$T/dave.key" 1.2 >"$T/c12.out" 2>&1
expect peerenv_client_cert_tls12 "$T/c12.out" yes
timeout $((30 * TS)) "$PY" "$CLIENT" "$P2" "$CERTS/ca.crt" - - 1.3 >"$T/n13.out" 2>&1
expect peerenv_no_client_cert "$T/n13.out" no

# openssl s_client: the cipher it chose is the service's TLS_CIPHER.
name=peerenv_openssl_s_client
timeout $((30 * TS)) openssl s_client -connect "127.0.0.1:$P1" -CAfile "$CERTS/ca.crt" \
	-verify_return_error -cert "$T/dave.crt" -key "$T/dave.key" -tls1_3 \
	-ciphersuites TLS_CHACHA20_POLY1305_SHA256 -ign_eof </dev/null >"$T/sc.out" 2>"$T/sc.err"
if grep -q -F -x "TLS_PEER_SUBJECT=$W_SUBJECT" "$T/sc.out" &&
   grep -q -x 'TLS_CIPHER=TLS_CHACHA20_POLY1305_SHA256' "$T/sc.out" &&
   grep -q -x 'TLS_VERSION=TLSv1.3' "$T/sc.out" &&
   grep -q -F -x "TLS_PEER_SPKI_SHA256=$W_PIN" "$T/sc.out" &&
   grep -q 'Cipher is TLS_CHACHA20_POLY1305_SHA256' "$T/sc.out"; then
	pass "$name"
else
	fail "$name" "$(grep -E '^(TLS_|REMOTE_)|Cipher is' "$T/sc.out" | tr '\n' '|')$(show "$T/sc.err")"
fi

# client_cert NAME: $T/NAME.key and $T/NAME.crt, a client certificate with
# the subject CN=NAME and the extensions of $T/NAME.ext, from the test CA.
client_cert() {
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$T/$1.key" 2>/dev/null &&
	openssl req -new -key "$T/$1.key" -subj "/CN=$1" -out "$T/$1.csr" 2>/dev/null &&
	openssl x509 -req -in "$T/$1.csr" -CA "$CERTS/ca.crt" -CAkey "$CERTS/ca.key" \
		-set_serial "0x$(openssl rand -hex 12)" -days 2 -sha256 -extfile "$T/$1.ext" -out "$T/$1.crt" 2>/dev/null
}

# A certificate with 120 DNS subjectAltNames (about 3 KB): too long for
# the environment.  TLS_PEER_SANS is left out, not silently:
# TLS_PEER_INCOMPLETE names it, the rest is there, a warn line says so.
name=peerenv_too_many_sans_named_incomplete
i=0 sans=""
while [ $i -lt 120 ]; do sans="$sans${sans:+, }DNS:host-$i.many-names.clients.example"; i=$((i + 1)); done
printf '%s\n' 'basicConstraints = critical, CA:FALSE' 'extendedKeyUsage = clientAuth' \
	"subjectAltName = $sans" >"$T/many.ext"
if client_cert many; then
	timeout $((30 * TS)) "$PY" "$CLIENT" "$P1" "$CERTS/ca.crt" "$T/many.crt" "$T/many.key" 1.3 >"$T/many.out" 2>&1
	if grep -q -x 'TLS_PEER_INCOMPLETE=TLS_PEER_SANS' "$T/many.out" && ! grep -q '^TLS_PEER_SANS=' "$T/many.out" &&
	   grep -q -x 'TLS_PEER_SUBJECT=CN=many' "$T/many.out" && grep -q '^TLS_PEER_SPKI_SHA256=' "$T/many.out" &&
	   grep -q '^REMOTE_PORT=' "$T/many.out" &&
	   grep -q 'warn: .*rule "svc-mtls": TLS_PEER_SANS too long for an exec.d service.s environment' "$T/inetd.log"; then
		pass "$name"
	else
		fail "$name" "client '$(grep -E '^(TLS_|REMOTE_)' "$T/many.out" | cut -c1-80 | tr '\n' '|')'$(show "$T/inetd.log")"
	fi
else
	fail "$name" "cannot make the certificate"
fi

# A comma inside a subjectAltName (legal in a URI) is no separator: a URI
# "spiffe://.../dev/eve,URI:spiffe://.../prod/admin" must not read as a
# second name, the admin's.  A comma and a backslash inside a name are
# written \xNN (the library before wrote the comma as is).
name=peerenv_comma_in_san_escaped
printf '%s\n' 'basicConstraints = critical, CA:FALSE' 'extendedKeyUsage = clientAuth' 'subjectAltName = @alt' \
	'[alt]' 'URI.1 = spiffe://example.org/ns/dev/eve,URI:spiffe://example.org/ns/prod/admin' \
	'DNS.1 = eve\\x2C.example' >"$T/eve.ext"
if client_cert eve; then
	timeout $((30 * TS)) "$PY" "$CLIENT" "$P1" "$CERTS/ca.crt" "$T/eve.crt" "$T/eve.key" 1.3 >"$T/eve.out" 2>&1
	want='TLS_PEER_SANS=URI:spiffe://example.org/ns/dev/eve\x2CURI:spiffe://example.org/ns/prod/admin,DNS:eve\x5Cx2C.example'
	if grep -q -F -x "$want" "$T/eve.out" && grep -q -x 'TLS_PEER_SUBJECT=CN=eve' "$T/eve.out"; then
		pass "$name"
	else
		fail "$name" "want '$want', client '$(grep -E '^(TLS_|REMOTE_)' "$T/eve.out" | tr '\n' '|')'$(show "$T/inetd.log")"
	fi
else
	fail "$name" "cannot make the certificate"
fi

# A failed handshake: a certificate from another CA.  The service still
# runs (inetd execs it), with none of the variables.
name=peerenv_failed_handshake_sets_nothing
ls "$T"/cert.*.env >"$T/before" 2>/dev/null
timeout $((30 * TS)) "$PY" "$CLIENT" "$P1" "$CERTS/ca.crt" \
	"$CERTS/client-untrusted.crt" "$CERTS/client-untrusted.key" 1.3 >"$T/bad.out" 2>&1
n=0
newenv() { ls "$T"/cert.*.env 2>/dev/null | grep -v -x -F -f "$T/before"; }
while [ "$n" -lt $((100 * TS)) ] && [ -z "$(newenv)" ]; do sleep 0.1; n=$((n + 1)); done
sleep 0.2      # the service's sort may still be writing
f=$(newenv | head -n 1)
if [ -n "$f" ] && [ ! -s "$f" ] && ! grep -q '^TLS_' "$T/bad.out" &&
   grep -q 'svc-mtls.*certificate' "$T/inetd.log"; then
	pass "$name"
else
	fail "$name" "service env file '${f}': '$(cat "$f" 2>/dev/null | tr '\n' '|')' client '$(tr '\n' '|' <"$T/bad.out")'$(show "$T/inetd.log")"
fi

# The forged values were in inetd's environment, and nowhere in what the
# services printed.
name=peerenv_forged_parent_env_never_reaches_service
if tr '\0' '\n' <"/proc/$INETD/environ" 2>/dev/null | grep -q -x 'TLS_PEER_SUBJECT=CN=forged'; then
	if cat "$T"/*.env | grep -q -E 'forged|6\.6\.6\.6|=666$|SSLv2|=NULL$|=AAAA$'; then
		fail "$name" "$(cat "$T"/*.env | grep -E 'forged|6\.6\.6\.6|666|SSLv2|NULL|AAAA')"
	elif [ "$(cat "$T"/*.env | grep -c '^TLS_VERSION=')" -lt 4 ] || [ "$(ls "$T"/*.env | wc -l)" -lt 5 ]; then
		fail "$name" "fewer service runs than expected: $(ls "$T"/*.env | tr '\n' ' ')"
	else
		pass "$name"
	fi
else
	fail "$name" "inetd's environment lacks the forged TLS_PEER_SUBJECT (test setup)"
fi
kill_tree "$INETD"

# ---- inetd without -E: the service runs without the shim -----------------
printf '127.0.0.1:%s\tstream\ttcp4\tnowait\t%s\t/bin/sh\tsh %s %s\n' \
	"$P3" "$me" "$T/svc.sh" "$T/clean" >"$T/inetd2.conf"
TLSSHIM_LOG=info TLSSHIM_LOG_FILE="$T/inetd2.log" shimbg /usr/sbin/inetd -d "$T/inetd2.conf" >"$T/inetd2.out" 2>&1
INETD2=$!
track "$INETD2"
if wait_listen "$P3" 15; then
	timeout $((30 * TS)) "$PY" "$CLIENT" "$P3" "$CERTS/ca.crt" - - 1.2 >"$T/clean.out" 2>&1
	expect peerenv_clean_env_unshimmed_service "$T/clean.out" no
else
	fail peerenv_clean_env_unshimmed_service "inetd did not listen$(show "$T/inetd2.out")"
fi
kill_tree "$INETD2"
