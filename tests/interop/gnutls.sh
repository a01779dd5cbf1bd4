#!/bin/sh
# tests/interop/gnutls.sh — the shim (OpenSSL inside) against another TLS
# implementation: gnutls-cli talking to the shimmed echo_server (TLS 1.3,
# TLS 1.2, mutual TLS), and the shimmed client talking to gnutls-serv
# --echo (TLS 1.3, TLS 1.2 only, client certificate required).
. "$(dirname "$0")/../lib.sh"
. "$TLSSHIM_TOP/tests/preload/common.inc"
need_shim gnutls_setup
for t in gnutls-cli gnutls-serv; do
	command -v $t >/dev/null || { fail gnutls_setup "$t not installed (Debian: gnutls-bin)"; exit 1; }
done

accept_policy() {
	policy "$T/p.conf" <<EOF
rules = (
  { name = "gnutls-in"; direction = "accept"; port = $1;
    cert = "$CERTS/server.crt"; key = "$CERTS/server.key"; ${2:-} }
);
EOF
}

# gnutls_cli_case NAME EXPECT-VERSION GNUTLS-CLI-ARGS...
# gnutls-cli sends a line; at the end of its input it sends close_notify
# (the shimmed echo_server -1 then exits 0) and reads the rest.
gnutls_cli_case() {
	name=$1 ver=$2
	shift 2
	export TLSSHIM_LOG_FILE="$T/$name.log"
	if ! start_echo "$name" -1 "$P"; then
		fail "$name" "echo_server never listened$(show "$T/$name.err")"; return
	fi
	line="hello from gnutls-cli $name"
	feed_until "$T/$name.got" "^$line\$" "$line" |
		timeout $((20 * TS)) gnutls-cli --x509cafile "$CERTS/ca.crt" -p "$P" "$@" localhost \
			>"$T/$name.got" 2>"$T/$name.gerr"
	wait_exit "$SRV" 10; rc=$?
	if ! grep -q "^$line\$" "$T/$name.got"; then
		fail "$name" "no echo$(show "$T/$name.got" "$T/$name.gerr" "$T/$name.err" "$T/$name.log")"
	elif ! grep -q "(${ver}-" "$T/$name.got"; then
		fail "$name" "gnutls-cli did not negotiate $ver$(show "$T/$name.got")"
	elif ! grep -q 'The certificate is trusted' "$T/$name.got"; then
		fail "$name" "gnutls-cli did not trust the server$(show "$T/$name.got")"
	elif [ "$rc" -ne 0 ]; then
		fail "$name" "echo_server exited $rc$(show "$T/$name.err" "$T/$name.log")"
	else
		pass "$name"
	fi
}

P=$(free_port); accept_policy "$P"
gnutls_cli_case gnutls_cli_tls13 TLS1.3
P=$(free_port); accept_policy "$P"
gnutls_cli_case gnutls_cli_tls12 TLS1.2 --priority NORMAL:-VERS-TLS1.3
P=$(free_port); accept_policy "$P" "require_client_cert = true; ca = \"$CERTS/ca.crt\";"
gnutls_cli_case gnutls_cli_mtls TLS1.3 --x509certfile "$CERTS/client.crt" --x509keyfile "$CERTS/client.key"

# --- the shimmed client against gnutls-serv --echo --------------------------
# (gnutls-serv has no option to bind to one address: it listens on all;
# the test traffic is loopback only.)
printf 'hello gnutls-serv\nline two\n' >"$T/small.in"

# gnutls_serv_case NAME EXPECT(ok|refused|fail) RULE-KEYS GNUTLS-SERV-ARGS...
# refused: connect() fails with ECONNREFUSED; fail: the program gets an
# error (at connect or at the first read: with TLS 1.3 a server rejects a
# client certificate only after the client's handshake is done) and no data.
gnutls_serv_case() {
	name=$1 want=$2 keys=$3
	shift 3
	P=$(free_port)
	policy "$T/p.conf" <<EOF
rules = ( { name = "gnutls-out"; direction = "connect"; port = $P; ca = "$CERTS/ca.crt"; $keys } );
EOF
	export TLSSHIM_LOG_FILE="$T/$name.log"
	bg gnutls-serv --echo -p "$P" --x509certfile "$CERTS/server.crt" --x509keyfile "$CERTS/server.key" \
		"$@" >"$T/$name.srv" 2>&1
	srv=$!
	if ! wait_for "$T/$name.srv" 'listening' 10; then
		fail "$name" "gnutls-serv did not start$(show "$T/$name.srv")"; stop "$srv"; return
	fi
	shimmed "$PROGS/client" localhost "$P" <"$T/small.in" >"$T/$name.got" 2>"$T/$name.err"
	rc=$?
	stop "$srv"
	if [ "$want" = ok ]; then
		if [ "$rc" -eq 0 ] && cmp -s "$T/small.in" "$T/$name.got"; then
			pass "$name"
		else
			fail "$name" "client exit $rc$(show "$T/$name.got" "$T/$name.err" "$T/$name.log" "$T/$name.srv")"
		fi
	elif [ "$want" = refused ]; then
		if [ "$rc" -eq 2 ] && [ "$(cat "$T/$name.err")" = "client: connect: Connection refused" ] &&
			[ ! -s "$T/$name.got" ]; then
			pass "$name"
		else
			fail "$name" "expected 'client: connect: Connection refused' (exit 2); exit $rc$(show "$T/$name.got" "$T/$name.err")"
		fi
	else
		if [ "$rc" -ne 0 ] && [ ! -s "$T/$name.got" ]; then
			pass "$name"
		else
			fail "$name" "expected the connection to fail with no data; exit $rc$(show "$T/$name.got" "$T/$name.err")"
		fi
	fi
}

gnutls_serv_case gnutls_serv_tls13 ok ""
gnutls_serv_case gnutls_serv_tls12_only ok "" --priority NORMAL:-VERS-TLS1.3
gnutls_serv_case gnutls_serv_requires_client_cert ok \
	"cert = \"$CERTS/client.crt\"; key = \"$CERTS/client.key\";" -r --x509cafile "$CERTS/ca.crt"
gnutls_serv_case gnutls_serv_requires_client_cert_none_given fail "" -r --x509cafile "$CERTS/ca.crt"
gnutls_serv_case gnutls_serv_tls12_only_refused_under_min_tls13 refused 'min_version = "TLSv1.3";' \
	--priority NORMAL:-VERS-TLS1.3
