#!/bin/sh
# tests/preload/server.sh — the shimmed blocking echo_server (an "accept"
# rule) against Python ssl clients: every read/write family, sequential
# connections, IPv6, optional and required client certificates, and a
# client speaking plaintext to a TLS port.
. "$(dirname "$0")/../lib.sh"
. "$TLSSHIM_TOP/tests/preload/common.inc"
need_shim server_setup

# accept_policy PORT [EXTRA-KEYS]: one accept rule "echo-in" on PORT.
accept_policy() {
	policy "$T/p.conf" <<EOF
rules = (
  { name = "echo-in"; direction = "accept"; port = $1;
    cert = "$CERTS/server.crt"; key = "$CERTS/server.key"; ${2:-} }
);
EOF
}

# echo_case NAME POLICY-FN 'ECHO-ARGS' 'WANT' CLIENT-ARGS...: POLICY-FN
# PORT (accept_policy or mtls_policy) for a fresh PORT, the shimmed
# echo_server ECHO-ARGS PORT, one tlspeer.py client with CLIENT-ARGS.  A
# pass when each regex of WANT (';' between them) matches a line of the
# client's output and echo_server exits 0.
echo_case() {
	name=$1 _ec_policy=$2 _ec_args=$3 _ec_want=$4
	shift 4
	P=$(free_port)
	"$_ec_policy" "$P"
	export TLSSHIM_LOG_FILE="$T/$name.log"
	# shellcheck disable=SC2086
	if ! start_echo "$name" $_ec_args "$P"; then
		fail "$name" "echo_server $_ec_args never listened$(show "$T/$name.err")"; return
	fi
	peer client --port "$P" --ca "$CERTS/ca.crt" "$@" >"$T/$name.cli" 2>&1
	wait_exit "$SRV" 10; rc=$?
	_ec_ok=$((rc == 0))
	_ec_ifs=$IFS; IFS=';'
	for _ec_re in $_ec_want; do
		grep -q -e "$_ec_re" "$T/$name.cli" || _ec_ok=0
	done
	IFS=$_ec_ifs
	if [ "$_ec_ok" = 1 ]; then
		pass "$name"
	else
		fail "$name" "exit $rc$(show "$T/$name.cli" "$T/$name.err" "$T/$name.log")"
	fi
}

# --- each I/O family of the program carries the TLS stream both ways -----
# 300 000 random bytes, echoed exactly; the client's close_notify makes the
# program's read return 0, so echo_server -1 exits 0 with a silent stderr.
for m in rw:"" recvsend:-m readv:-v recvmsg:-M recvfrom:-f; do
	name=server_io_${m%%:*}
	flag=${m#*:}
	P=$(free_port)
	accept_policy "$P"
	export TLSSHIM_LOG_FILE="$T/$name.log"
	if ! start_echo "$name" -1 $flag "$P"; then
		fail "$name" "echo_server never listened$(show "$T/$name.err")"; continue
	fi
	peer client --port "$P" --ca "$CERTS/ca.crt" --random 300000 >"$T/$name.cli" 2>&1
	wait_exit "$SRV" 10; rc=$?
	if ! grep -q '^echo ok 300000$' "$T/$name.cli"; then
		fail "$name" "echo of 300000 bytes not exact$(show "$T/$name.cli" "$T/$name.err" "$T/$name.log")"
	elif ! grep -q '^unwrap ok' "$T/$name.cli"; then
		fail "$name" "no clean TLS closure from the server$(show "$T/$name.cli" "$T/$name.log")"
	elif [ "$rc" -ne 0 ]; then
		fail "$name" "echo_server -1 exited $rc, expected 0$(show "$T/$name.err" "$T/$name.log")"
	elif [ -s "$T/$name.err" ]; then
		fail "$name" "echo_server reported an error$(show "$T/$name.err")"
	else
		pass "$name"
	fi
done

# --- accept4() is intercepted like accept() --------------------------------
echo_case server_accept4 accept_policy "-1 -a" '^echo ok 10000$;^version TLSv1.3$' --random 10000

# --- an iterative server serves 10 TLS connections one after the other ----
name=server_sequential_connections
P=$(free_port)
accept_policy "$P"
export TLSSHIM_LOG_FILE="$T/$name.log"
if start_echo "$name" "$P"; then
	ok=0
	i=1
	while [ $i -le 10 ]; do
		peer client --port "$P" --ca "$CERTS/ca.crt" --send "connection number $i" \
			>"$T/$name.cli.$i" 2>&1 && grep -q '^echo ok' "$T/$name.cli.$i" && ok=$((ok + 1))
		i=$((i + 1))
	done
	wait_for "$T/$name.out" '^closed' 5
	closed=$(lines "$T/$name.out" '^closed$')
	if [ "$ok" -eq 10 ] && [ "$closed" -eq 10 ] && [ ! -s "$T/$name.err" ]; then
		pass "$name"
	else
		fail "$name" "$ok of 10 echoes exact, $closed of 10 closed cleanly$(show "$T/$name.err" "$T/$name.log")"
	fi
	stop "$SRV"
else
	fail "$name" "echo_server never listened$(show "$T/$name.err")"
fi

# --- IPv6: echo_server -6 on ::1, the client verifies the IP SAN ::1 ------
echo_case server_ipv6 accept_policy "-6 -1" '^echo ok 20000$;^version TLSv1.3$' --host ::1 --random 20000

# --- TLS 1.2 client (the server offers 1.2 and 1.3) ------------------------
echo_case server_tls12_client accept_policy -1 '^version TLSv1.2$;^echo ok 5000$' --tls12 --random 5000

# --- a client certificate offered to a server that does not ask for one ---
echo_case server_client_cert_not_required accept_policy -1 '^echo ok' \
	--cert "$CERTS/client.crt" --key "$CERTS/client.key" --send "with a certificate"

# --- mutual TLS: require_client_cert = true; ca = ca.crt -------------------
mtls_policy() { accept_policy "$1" "require_client_cert = true; ca = \"$CERTS/ca.crt\";"; }

echo_case server_mtls_client_cert_accepted mtls_policy -1 '^echo ok;^unwrap ok' \
	--cert "$CERTS/client.crt" --key "$CERTS/client.key" --send "mutual TLS works"

# A refused client: it gets no echo, the program's read fails with
# ECONNRESET (so echo_server -1 exits 1), the program never saw the data,
# and one log line names the reason.
# mtls_refused NAME REASON-REGEX CLIENT-ARGS...
mtls_refused() {
	name=$1 why=$2
	shift 2
	P=$(free_port)
	mtls_policy "$P"
	export TLSSHIM_LOG_FILE="$T/$name.log"
	if ! start_echo "$name" -1 "$P"; then
		fail "$name" "echo_server never listened$(show "$T/$name.err")"; return
	fi
	peer client --port "$P" --ca "$CERTS/ca.crt" "$@" --send "SECRET-PLAINTEXT-1234" >"$T/$name.cli" 2>&1
	wait_exit "$SRV" 10; rc=$?
	n=$(lines "$T/$name.log" "$why")
	if grep -q '^echo ok' "$T/$name.cli"; then
		fail "$name" "the refused client got its echo$(show "$T/$name.cli")"
	elif [ "$rc" -ne 1 ]; then
		fail "$name" "echo_server -1 exited $rc, expected 1 (read error)$(show "$T/$name.err" "$T/$name.log")"
	elif ! grep -q '^echo_server: read: Connection reset by peer$' "$T/$name.err"; then
		fail "$name" "the program's read did not fail with ECONNRESET$(show "$T/$name.err")"
	elif grep -q '^closed' "$T/$name.out"; then
		fail "$name" "the program saw a clean end of a refused connection"
	elif [ "$n" -ne 1 ]; then
		fail "$name" "expected 1 log line matching /$why/, found $n$(show "$T/$name.log")"
	elif ! grep -i -E -e "$why" "$T/$name.log" | grep -F 'echo-in' |
		grep -q -F "$(sed -n 's/^local //p' "$T/$name.cli")"; then
		fail "$name" "the log line does not name the connection (rule echo-in, the client's address:port)$(show "$T/$name.log" "$T/$name.cli")"
	else
		pass "$name"
	fi
}
mtls_refused server_mtls_no_client_cert 'certificate'
mtls_refused server_mtls_untrusted_client_cert 'unknown ca|unable to get|issuer|verif.*fail|untrusted' \
	--cert "$CERTS/client-untrusted.crt" --key "$CERTS/client-untrusted.key"

# --- a client that speaks plaintext to the TLS port -----------------------
# The program never sees the plaintext (its read fails with ECONNRESET) and
# nothing is echoed back in clear.
name=server_plaintext_client_refused
P=$(free_port)
accept_policy "$P"
audit_exclude "$P" "server_plaintext_client_refused: a plaintext client sends to the TLS port on purpose"
export TLSSHIM_LOG_FILE="$T/$name.log"
if start_echo "$name" -1 "$P"; then
	peer raw --port "$P" --send "SECRET-PLAINTEXT-1234 GET / HTTP/1.0
" --record "$T/$name.back" --timeout $((10 * TS)) >"$T/$name.cli" 2>&1
	wait_exit "$SRV" 10; rc=$?
	if [ -f "$T/$name.back" ] && ! has_no "$T/$name.back" "SECRET-PLAINTEXT-1234"; then
		fail "$name" "the plaintext came back in clear"
	elif [ "$rc" -ne 1 ] || ! grep -q '^echo_server: read: Connection reset by peer$' "$T/$name.err"; then
		fail "$name" "expected the program's read to fail with ECONNRESET (exit 1), got exit $rc$(show "$T/$name.err" "$T/$name.log")"
	elif [ "$(lines "$T/$name.log" '.')" -lt 1 ]; then
		fail "$name" "no log line names the failed handshake"
	else
		pass "$name"
	fi
else
	fail "$name" "echo_server never listened$(show "$T/$name.err")"
fi
