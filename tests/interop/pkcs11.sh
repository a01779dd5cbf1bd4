#!/bin/sh
# tests/interop/pkcs11.sh — key = "pkcs11:..." (policy/pkcs11.c): private
# keys in a softhsm2 token (its configuration and token directory in the
# test's directory), imported with pkcs11-tool, used through OpenSSL's
# PKCS#11 engine inside the shim's own library context.
#   * a shimmed echo_server whose key is in the token serves openssl
#     s_client (TLS 1.3 and 1.2; ECDSA, RSA-PSS, and RSA PKCS#1 in 1.2)
#     and curl;
#   * a shimmed client whose client key is in the token, to openssl
#     s_server -Verify (ECDSA and RSA, TLS 1.3 and 1.2);
#   * a forking server: each child signs with the token session its parent
#     opened (libp11 initialises the module again in the child: counted
#     with OpenSC's pkcs11-spy), with softhsm keeping its state across
#     fork and with softhsm resetting itself in the child (reset_on_fork);
#   * refusals: wrong PIN, missing key, missing token, no PIN, key not
#     matching the certificate, ... : tlsshim --check names FILE:LINE of
#     the setting at fault; a shimmed server or client with such a policy
#     does not start (exit 78, the log line), no data crosses; the PIN
#     appears in no message.
. "$(dirname "$0")/../lib.sh"
. "$TLSSHIM_TOP/tests/preload/common.inc"
need_shim pkcs11_setup

MOD=""
for d in /usr/lib/x86_64-linux-gnu /usr/lib/aarch64-linux-gnu /usr/lib; do
	[ -f "$d/softhsm/libsofthsm2.so" ] && { MOD=$d/softhsm/libsofthsm2.so; SPY=$d/pkcs11/pkcs11-spy.so; break; }
done
for c in softhsm2-util pkcs11-tool openssl curl; do
	command -v $c >/dev/null || { fail pkcs11_setup "$c not installed (.ci/packages)"; exit 1; }
done
[ -n "$MOD" ] || { fail pkcs11_setup "libsofthsm2.so not found (package softhsm2)"; exit 1; }
[ -f "$SPY" ] || { fail pkcs11_setup "pkcs11-spy.so not found (package opensc-pkcs11)"; exit 1; }
ENGDIR=$(openssl version -e | sed -n 's/^ENGINESDIR: "\(.*\)"$/\1/p')
[ -f "$ENGDIR/pkcs11.so" ] || { fail pkcs11_setup "no $ENGDIR/pkcs11.so (package libengine-pkcs11-openssl)"; exit 1; }

# --- the token ----------------------------------------------------------------
PIN=pin-7Q3x9w
mkdir -p "$T/tokens"
cat >"$T/softhsm2.conf" <<EOF
directories.tokendir = $T/tokens
objectstore.backend = file
log.level = ERROR
slots.removable = false
library.reset_on_fork = false
EOF
export SOFTHSM2_CONF="$T/softhsm2.conf"
softhsm2-util --init-token --free --label tlsshim --pin "$PIN" --so-pin so-4711 >"$T/init.out" 2>&1 ||
	{ fail pkcs11_setup "softhsm2-util --init-token$(show "$T/init.out")"; exit 1; }

# RSA certificates (the test CA's): a server one and a client one.
rsa_cert() {
	openssl req -new -newkey rsa:2048 -nodes -keyout "$T/$1.key" -subj "/CN=$2" -out "$T/$1.csr" 2>/dev/null &&
	printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=%s\nsubjectAltName=%s\n' \
		"$3" "$4" >"$T/$1.ext" &&
	openssl x509 -req -in "$T/$1.csr" -CA "$CERTS/ca.crt" -CAkey "$CERTS/ca.key" -CAcreateserial \
		-CAserial "$T/ca.srl" -days 2 -extfile "$T/$1.ext" -out "$T/$1.crt" 2>/dev/null
}
rsa_cert srv-rsa localhost serverAuth "DNS:localhost,IP:127.0.0.1" &&
rsa_cert cli-rsa tlsshim-rsa-client clientAuth "DNS:tlsshim-rsa-client" ||
	{ fail pkcs11_setup "cannot make the RSA certificates"; exit 1; }

# put ID LABEL KEY CERT: the private key and its certificate (same id).
put() {
	pkcs11-tool --module "$MOD" --login --pin "$PIN" --write-object "$3" --type privkey --id "$1" --label "$2" \
		>>"$T/import.out" 2>&1 &&
	pkcs11-tool --module "$MOD" --login --pin "$PIN" --write-object "$4" --type cert --id "$1" --label "$2" \
		>>"$T/import.out" 2>&1
}
put 01 srv-ec "$CERTS/server.key" "$CERTS/server.crt" &&
put 02 srv-rsa "$T/srv-rsa.key" "$T/srv-rsa.crt" &&
put 03 cli-ec "$CERTS/client.key" "$CERTS/client.crt" &&
put 04 cli-rsa "$T/cli-rsa.key" "$T/cli-rsa.crt" ||
	{ fail pkcs11_setup "pkcs11-tool --write-object$(show "$T/import.out")"; exit 1; }
# Only the token holds them from now on.
rm -f "$T/srv-rsa.key" "$T/cli-rsa.key"
umask 077
printf '%s\n' "$PIN" >"$T/pin"
printf 'not-the-pin\n' >"$T/badpin"
umask 022

uri() { echo "pkcs11:token=tlsshim;object=$1;type=private"; }
MODLINE="pkcs11_module = \"$MOD\";"
PINLINE="pin_file = \"$T/pin\";"

# accept_policy PORT CERT KEY-URI [MORE]: one accept rule, the key in the token.
accept_policy() {
	policy "$T/p.conf" <<EOF
rules = (
  { name = "p11-in"; direction = "accept"; port = $1;
    cert = "$2";
    key = "$3";
    $MODLINE
    pin_file = "$T/pin"; ${4:-}
  }
);
EOF
}

# --- s_client against the shimmed server ----------------------------------------
# s_client_case NAME CERT OBJECT PROTO SIGTYPE S_CLIENT-ARGS...
s_client_case() {
	name=$1 cert=$2 obj=$3 proto=$4 sig=$5
	shift 5
	P=$(free_port); accept_policy "$P" "$cert" "$(uri "$obj")"
	export TLSSHIM_LOG_FILE="$T/$name.log"
	if ! start_echo "$name" -1 "$P"; then
		fail "$name" "echo_server never listened$(show "$T/$name.err" "$T/$name.log")"; return
	fi
	line="hello from s_client $name"
	feed_until "$T/$name.got" "^$line\$" "$line" |
		timeout $((20 * TS)) openssl s_client -connect "127.0.0.1:$P" -servername localhost \
			-CAfile "$CERTS/ca.crt" -verify_return_error -brief "$@" >"$T/$name.got" 2>"$T/$name.ossl"
	wait_exit "$SRV" 10; rc=$?
	if ! grep -q "^$line\$" "$T/$name.got"; then
		fail "$name" "no echo$(show "$T/$name.ossl" "$T/$name.err" "$T/$name.log")"
	elif ! grep -q "^Protocol version: $proto\$" "$T/$name.ossl"; then
		fail "$name" "s_client did not negotiate $proto$(show "$T/$name.ossl")"
	elif ! grep -q "^Signature type: $sig\$" "$T/$name.ossl"; then
		fail "$name" "the server did not sign with $sig$(show "$T/$name.ossl")"
	elif ! grep -q '^Verification: OK' "$T/$name.ossl"; then
		fail "$name" "s_client did not verify the server$(show "$T/$name.ossl")"
	elif [ "$rc" -ne 0 ]; then
		fail "$name" "echo_server exited $rc$(show "$T/$name.err" "$T/$name.log")"
	else
		pass "$name"
	fi
}

s_client_case server_ecdsa_tls13 "$CERTS/server.crt" srv-ec TLSv1.3 ECDSA -tls1_3
s_client_case server_ecdsa_tls12 "$CERTS/server.crt" srv-ec TLSv1.2 ECDSA -tls1_2
s_client_case server_rsa_pss_tls13 "$T/srv-rsa.crt" srv-rsa TLSv1.3 RSA-PSS -tls1_3
s_client_case server_rsa_pss_tls12 "$T/srv-rsa.crt" srv-rsa TLSv1.2 RSA-PSS -tls1_2
s_client_case server_rsa_pkcs1_tls12 "$T/srv-rsa.crt" srv-rsa TLSv1.2 RSA -tls1_2 -sigalgs RSA+SHA256
# No pkcs11_module: the p11-kit proxy, which reaches softhsm2 through its
# p11-kit registration (/usr/share/p11-kit/modules/softhsm2.module).
if [ -f /usr/share/p11-kit/modules/softhsm2.module ]; then
	MODLINE_SAVED=$MODLINE MODLINE=""
	s_client_case server_default_module_p11kit_proxy "$CERTS/server.crt" srv-ec TLSv1.3 ECDSA -tls1_3
	MODLINE=$MODLINE_SAVED
else
	fail server_default_module_p11kit_proxy "softhsm2 is not registered with p11-kit (package softhsm2)"
fi

# --- curl against the shimmed server ---------------------------------------------
# curl_case NAME CERT OBJECT CURL-TLS-OPTION PROTO
curl_case() {
	name=$1 cert=$2 obj=$3 opt=$4 proto=$5
	P=$(free_port); accept_policy "$P" "$cert" "$(uri "$obj")"
	export TLSSHIM_LOG_FILE="$T/$name.log"
	if ! start_echo "$name" -1 -c "$P"; then
		fail "$name" "echo_server never listened$(show "$T/$name.err" "$T/$name.log")"; return
	fi
	# shellcheck disable=SC2086 # $opt: one or two curl options
	timeout $((20 * TS)) curl --http0.9 -sS -v --max-time 15 --cacert "$CERTS/ca.crt" $opt \
		"https://localhost:$P/p11-test" >"$T/$name.got" 2>"$T/$name.curl"
	crc=$?
	wait_exit "$SRV" 10; rc=$?
	if [ "$crc" -ne 0 ] || ! grep -q '^GET /p11-test HTTP/1.1' "$T/$name.got"; then
		fail "$name" "curl exited $crc, no echo$(show "$T/$name.curl" "$T/$name.err" "$T/$name.log")"
	elif ! grep -q "SSL connection using $proto " "$T/$name.curl" || ! grep -q 'SSL certificate verify ok' "$T/$name.curl"; then
		fail "$name" "curl did not negotiate $proto or did not verify$(show "$T/$name.curl")"
	elif [ "$rc" -ne 0 ]; then
		fail "$name" "echo_server exited $rc$(show "$T/$name.err" "$T/$name.log")"
	else
		pass "$name"
	fi
}
curl_case curl_ecdsa_tls13 "$CERTS/server.crt" srv-ec --tlsv1.3 TLSv1.3
curl_case curl_rsa_tls12 "$T/srv-rsa.crt" srv-rsa "--tlsv1.2 --tls-max 1.2" TLSv1.2

# --- the shimmed client, its key in the token, to s_server -Verify -------------
printf 'hello world\nsecond line\n' >"$T/rev.in"
printf 'dlrow olleh\nenil dnoces\n' >"$T/rev.expect"
connect_policy() {
	policy "$T/p.conf" <<EOF
rules = (
  { name = "p11-out"; direction = "connect"; port = $1; ca = "$CERTS/ca.crt";
    cert = "$2";
    key = "$3";
    $MODLINE
    ${4:-$PINLINE} }
);
EOF
}
# s_server_case NAME CERT OBJECT CN PROTO S_SERVER-ARGS...
s_server_case() {
	name=$1 cert=$2 obj=$3 cn=$4 proto=$5
	shift 5
	P=$(free_port); connect_policy "$P" "$cert" "$(uri "$obj")"
	export TLSSHIM_LOG_FILE="$T/$name.log"
	rev_exchange "$name" -cert "$CERTS/server.crt" -key "$CERTS/server.key" \
		-Verify 1 -CAfile "$CERTS/ca.crt" -verify_return_error "$@" || return
	if [ "$rc" -ne 0 ] || ! cmp -s "$T/rev.expect" "$T/$name.got"; then
		fail "$name" "client exit $rc, reversed text not received$(show "$T/$name.got" "$T/$name.err" "$T/$name.log" "$T/$name.srv")"
	elif ! grep -q -F "$cn" "$T/$name.srv" || ! grep -q "Protocol version: $proto" "$T/$name.srv"; then
		fail "$name" "s_server did not verify $cn over $proto$(show "$T/$name.srv")"
	else
		pass "$name"
	fi
}
CLIENT_CN=$(openssl x509 -in "$CERTS/client.crt" -noout -subject -nameopt multiline | sed -n 's/^ *commonName *= *//p')
s_server_case client_ecdsa_tls13 "$CERTS/client.crt" cli-ec "$CLIENT_CN" TLSv1.3
s_server_case client_ecdsa_tls12 "$CERTS/client.crt" cli-ec "$CLIENT_CN" TLSv1.2 -tls1_2
s_server_case client_rsa_pss_tls13 "$T/cli-rsa.crt" cli-rsa tlsshim-rsa-client TLSv1.3
s_server_case client_rsa_tls12 "$T/cli-rsa.crt" cli-rsa tlsshim-rsa-client TLSv1.2 -tls1_2

# --- a forking server: children sign with the parent's token session ------------
# fork_case NAME RESET_ON_FORK: fork_server (accept, fork, the child
# serves) with the key behind pkcs11-spy, 4 verified clients.  The spy's
# log must show the module initialised again and a login per child.
fork_case() {
	name=$1
	sed "s/^library.reset_on_fork = .*/library.reset_on_fork = $2/" "$T/softhsm2.conf" >"$T/$name.softhsm2.conf"
	P=$(free_port)
	policy "$T/p.conf" <<EOF
rules = (
  { name = "p11-fork"; direction = "accept"; port = $P;
    cert = "$T/srv-rsa.crt"; key = "$(uri srv-rsa)";
    pkcs11_module = "$SPY"; pin_file = "$T/pin"; }
);
EOF
	export TLSSHIM_LOG_FILE="$T/$name.log"
	rm -f "$T/$name.spy"
	SOFTHSM2_CONF="$T/$name.softhsm2.conf" PKCS11SPY="$MOD" PKCS11SPY_OUTPUT="$T/$name.spy" \
		shimbg "$PROGS/fork_server" "$P" 4 >"$T/$name.out" 2>&1
	srv=$!
	if ! wait_listen "$P" 10; then
		fail "$name" "fork_server never listened$(show "$T/$name.out" "$T/$name.log")"; return
	fi
	out=$(timeout $((60 * TS)) "$PY" "$TLSSHIM_TOP/tests/preload/py/fork_clients.py" "$P" "$CERTS/ca.crt" 4 2>&1)
	wait_exit "$srv" 20; rc=$?
	inits=$(grep -c ': C_Initialize$' "$T/$name.spy" 2>/dev/null)
	logins=$(grep -c ': C_Login$' "$T/$name.spy" 2>/dev/null)
	if [ "$out" != "4/4 ok" ] || [ "$rc" -ne 0 ]; then
		fail "$name" "clients: $out; server exit $rc$(show "$T/$name.out" "$T/$name.log")"
	elif [ "${inits:-0}" -lt 5 ] || [ "${logins:-0}" -lt 5 ]; then
		fail "$name" "expected C_Initialize and C_Login in the parent and again in each of 4 children; got $inits and $logins"
	else
		pass "$name ($inits C_Initialize, $logins C_Login for 1 parent + 4 children)"
	fi
}
fork_case forking_server_children_sign 'false'
fork_case forking_server_children_sign_reset_on_fork 'true'

# --- the token gone when a child must sign: the handshake fails closed --------
# softhsm2 with reset_on_fork reads its token directory again in the
# child; with the directory moved away, the child cannot sign: the client
# gets an alert, its data never reaches the program, one log line.  With
# the directory back, the next child serves again.
name=token_gone_at_handshake
sed "s/^library.reset_on_fork = .*/library.reset_on_fork = true/" "$T/softhsm2.conf" >"$T/$name.softhsm2.conf"
P=$(free_port)
accept_policy "$P" "$T/srv-rsa.crt" "$(uri srv-rsa)"
export TLSSHIM_LOG_FILE="$T/$name.log"
SOFTHSM2_CONF="$T/$name.softhsm2.conf" shimbg "$PROGS/fork_server" "$P" 2 >"$T/$name.out" 2>&1
srv=$!
if ! wait_listen "$P" 10; then
	fail "$name" "fork_server never listened$(show "$T/$name.out" "$T/$name.log")"
else
	mv "$T/tokens" "$T/tokens.away"
	feed_until "$T/$name.log" 'handshake failed' "SECRET-$name" |
		timeout $((20 * TS)) openssl s_client -connect "127.0.0.1:$P" -servername localhost \
			-CAfile "$CERTS/ca.crt" -brief >"$T/$name.got" 2>&1
	mv "$T/tokens.away" "$T/tokens"
	out=$(timeout $((60 * TS)) "$PY" "$TLSSHIM_TOP/tests/preload/py/fork_clients.py" "$P" "$CERTS/ca.crt" 1 2>&1)
	wait_exit "$srv" 20
	if grep -q -e SECRET -e 'CONNECTION ESTABLISHED' "$T/$name.got" || grep -q SECRET "$T/$name.out"; then
		fail "$name" "the handshake without the token completed or data crossed$(show "$T/$name.got" "$T/$name.out")"
	elif [ "$(lines "$T/$name.log" 'handshake failed')" -ne 1 ]; then
		fail "$name" "expected one log line 'handshake failed'$(show "$T/$name.log")"
	elif ! grep -q 'alert' "$T/$name.got"; then
		fail "$name" "s_client got no alert$(show "$T/$name.got")"
	elif [ "$out" != "1/1 ok" ]; then
		fail "$name" "with the token back, the next child did not serve: $out$(show "$T/$name.log")"
	else
		pass "$name (alert, no data, one log line; served again with the token back)"
	fi
fi

# --- certs: ECDSA and RSA keys of one name, both in the token -------------------
name=certs_ecdsa_and_rsa_in_token
P=$(free_port)
policy "$T/p.conf" <<EOF
rules = (
  { name = "p11-sni"; direction = "accept"; port = $P;
    certs = ( { cert = "$CERTS/server.crt"; key = "$(uri srv-ec)"; },
              { cert = "$T/srv-rsa.crt"; key = "$(uri srv-rsa)"; } );
    $MODLINE $PINLINE }
);
EOF
export TLSSHIM_LOG_FILE="$T/$name.log"
if ! start_echo "$name" "$P"; then
	fail "$name" "echo_server never listened$(show "$T/$name.err" "$T/$name.log")"
else
	ok=0
	for sig in ECDSA+SHA256:ECDSA rsa_pss_rsae_sha256:RSA-PSS; do
		alg=${sig%%:*} want=${sig#*:}
		feed_until "$T/$name.$want.got" "^hello $want\$" "hello $want" |
			timeout $((20 * TS)) openssl s_client -connect "127.0.0.1:$P" -servername localhost -tls1_3 \
				-sigalgs "$alg" -CAfile "$CERTS/ca.crt" -verify_return_error -brief >"$T/$name.$want.got" 2>&1
		grep -q "^Signature type: $want\$" "$T/$name.$want.got" && grep -q "^hello $want\$" "$T/$name.$want.got" &&
			ok=$((ok + 1))
	done
	stop "$SRV"
	if [ "$ok" -eq 2 ]; then
		pass "$name (ECDSA and RSA-PSS picked by the client's signature algorithms)"
	else
		fail "$name" "expected both keys to serve$(show "$T/$name.ECDSA.got" "$T/$name.RSA-PSS.got" "$T/$name.log")"
	fi
fi

# --- refusals -------------------------------------------------------------------
# check_case NAME LINE REGEX: tlsshim --check on $POLICY fails with
# "FILE:LINE: ...REGEX", and no message holds the PIN.
check_case() {
	"$TLSSHIM_LAUNCHER" --check "$POLICY" >"$T/$1.check" 2>&1; crc=$?
	if [ "$crc" -eq 0 ]; then
		fail "$1" "--check accepted it$(show "$T/$1.check")"
	elif ! grep -q -E -e "^tlsshim: $POLICY:$2: .*$3" "$T/$1.check"; then
		fail "$1" "expected $POLICY:$2 and /$3/$(show "$T/$1.check")"
	elif grep -q -F -e "$PIN" -e not-the-pin "$T/$1.check"; then
		fail "$1" "the PIN is in the message$(show "$T/$1.check")"
	else
		pass "$1"
	fi
}
# refused_server NAME REGEX: the shimmed server does not start: exit 78,
# the log line, and a client's data never reaches it.
refused_server() {
	export TLSSHIM_LOG_FILE="$T/$1.srvlog"
	shimmed "$PROGS/echo_server" -1 "$P" >"$T/$1.out" 2>"$T/$1.err"; rc=$?
	printf 'SECRET-%s\n' "$1" | timeout $((10 * TS)) openssl s_client -connect "127.0.0.1:$P" \
		-CAfile "$CERTS/ca.crt" -brief >"$T/$1.got" 2>&1
	if [ "$rc" -ne 78 ] || grep -q listening "$T/$1.out"; then
		fail "$1 (server)" "expected the program to be stopped before main (exit 78); exit $rc$(show "$T/$1.out" "$T/$1.err")"
	elif ! grep -q -E -e "refusing to start: .*$2" "$T/$1.srvlog"; then
		fail "$1 (server)" "no log line /$2/$(show "$T/$1.srvlog")"
	elif grep -q -F -e "$PIN" -e not-the-pin "$T/$1.srvlog" "$T/$1.err"; then
		fail "$1 (server)" "the PIN is in the log"
	elif grep -q 'CONNECTION ESTABLISHED' "$T/$1.got"; then
		fail "$1 (server)" "a client got a TLS connection"
	else
		pass "$1 (server: not started, log line, no connection)"
	fi
}
# refused_client NAME REGEX: the shimmed client does not start; s_server
# sees no connection.
refused_client() {
	export TLSSHIM_LOG_FILE="$T/$1.clilog"
	bg openssl s_server -accept "127.0.0.1:$P" -naccept 1 -rev -cert "$CERTS/server.crt" \
		-key "$CERTS/server.key" >"$T/$1.srv" 2>&1
	srv=$!
	wait_for "$T/$1.srv" '^ACCEPT' 10
	printf 'SECRET-%s\n' "$1" | shimmed "$PROGS/client" localhost "$P" >"$T/$1.got" 2>"$T/$1.err"; rc=$?
	stop "$srv"
	if [ "$rc" -ne 78 ] || [ -s "$T/$1.got" ]; then
		fail "$1 (client)" "expected the client to be stopped before main (exit 78); exit $rc$(show "$T/$1.got" "$T/$1.err")"
	elif ! grep -q -E -e "refusing to start: .*$2" "$T/$1.clilog"; then
		fail "$1 (client)" "no log line /$2/$(show "$T/$1.clilog")"
	elif grep -q -E 'SECRET|CONNECTION ESTABLISHED|BEGIN SSL SESSION' "$T/$1.srv"; then
		fail "$1 (client)" "s_server saw a connection$(show "$T/$1.srv")"
	else
		pass "$1 (client: not started, log line, nothing sent)"
	fi
}

# Line numbers: rule at 2, cert 3, key 4, pkcs11_module 5, pin_file 6.
P=$(free_port)
accept_policy "$P" "$T/srv-rsa.crt" "$(uri srv-rsa)"
sed -i "s|\"$T/pin\"|\"$T/badpin\"|" "$T/p.conf"
check_case check_wrong_pin 6 'wrong PIN for "pkcs11:token=tlsshim;object=srv-rsa;type=private" \(PIN incorrect\)'
refused_server refused_wrong_pin 'wrong PIN'
P=$(free_port)
connect_policy "$P" "$CERTS/client.crt" "$(uri cli-ec)" "pin_file = \"$T/badpin\";"
refused_client refused_client_wrong_pin 'wrong PIN'

P=$(free_port)
accept_policy "$P" "$T/srv-rsa.crt" "$(uri no-such-key)"
check_case check_key_not_found 4 'no private key matches ".*object=no-such-key.*" on token "tlsshim" \(key not found\)'
refused_server refused_key_not_found 'key not found'
P=$(free_port)
connect_policy "$P" "$CERTS/client.crt" "$(uri no-such-key)"
refused_client refused_client_key_not_found 'key not found'

P=$(free_port)
accept_policy "$P" "$T/srv-rsa.crt" "pkcs11:token=no-such-token;object=srv-rsa;type=private"
check_case check_token_not_found 4 'no token matches .* \(token not found; tokens present: "tlsshim"\)'

mkdir -p "$T/empty-tokens"
sed "s|^directories.tokendir = .*|directories.tokendir = $T/empty-tokens|" "$T/softhsm2.conf" >"$T/empty.softhsm2.conf"
export SOFTHSM2_CONF="$T/empty.softhsm2.conf"
check_case check_no_token_in_module 4 'no initialised token in pkcs11_module ".*" \(token not found\)'
export SOFTHSM2_CONF="$T/softhsm2.conf"

P=$(free_port)
accept_policy "$P" "$CERTS/server.crt" "$(uri srv-rsa)"
check_case check_key_not_matching_cert 4 'key does not match certificate'
refused_server refused_key_not_matching_cert 'key does not match certificate'

P=$(free_port)
accept_policy "$P" "$T/srv-rsa.crt" "$(uri srv-rsa)"
sed -i "/pin_file/d" "$T/p.conf"
check_case check_no_pin 4 'needs a PIN: none given'

P=$(free_port)
accept_policy "$P" "$T/srv-rsa.crt" "$(uri srv-rsa);pin-value=$PIN"
check_case check_pin_twice 6 'both pin_file and a pin-value in ".*pin-value=\*\*\*"'
sed -i "/pin_file/d" "$T/p.conf"
if "$TLSSHIM_LAUNCHER" --check "$POLICY" >"$T/pinvalue.check" 2>&1; then
	pass check_pin_value_in_uri
else
	fail check_pin_value_in_uri "$(show "$T/pinvalue.check")"
fi
sed -i "s|pin-value=$PIN|pin-value=not-the-pin|" "$T/p.conf"
check_case check_wrong_pin_value 4 'wrong PIN for ".*pin-value=\*\*\*" \(PIN incorrect\)'

P=$(free_port)
accept_policy "$P" "$T/srv-rsa.crt" "$(uri srv-rsa)"
sed -i "s|pkcs11_module = \"$MOD\"|pkcs11_module = \"$T/no-such-module.so\"|" "$T/p.conf"
check_case check_module_missing 5 'cannot load pkcs11_module ".*no-such-module.so": No such file or directory'

P=$(free_port)
accept_policy "$P" "$T/srv-rsa.crt" "$(uri srv-rsa)"
chmod 644 "$T/pin"
check_case check_pin_file_readable_by_others 6 'pin_file ".*" is accessible by others'
chmod 600 "$T/pin"

P=$(free_port)
accept_policy "$P" "$CERTS/server.crt" "$CERTS/server.key"
check_case check_module_without_token_key 5 '"pkcs11_module" needs a key in a PKCS#11 token'

# A clean --check with the key in the token.
P=$(free_port)
accept_policy "$P" "$T/srv-rsa.crt" "$(uri srv-rsa)"
if "$TLSSHIM_LAUNCHER" --check "$POLICY" >"$T/ok.check" 2>&1 && grep -q ': OK (1 rule)' "$T/ok.check"; then
	pass check_token_key_ok
else
	fail check_token_key_ok "$(show "$T/ok.check")"
fi
