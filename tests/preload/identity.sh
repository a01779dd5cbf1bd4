#!/bin/sh
# tests/preload/identity.sh — peer identity allow lists (allow_cn,
# allow_ou, allow_dns, allow_uri, allow_ip, pin_spki) on both sides,
# against real peers.
#   Server side: the shimmed echo_server (accept rule, require_client_cert)
#   and openssl s_client presenting allowed and refused client
#   certificates, curl, and Python's ssl (TLS 1.3 and 1.2).
#   Client side: the shimmed client (connect rule) against openssl
#   s_server presenting allowed and refused server certificates.
# Wildcard and SPIFFE prefix matches and their near misses, pin match and
# mismatch, "any entry of any list", a non-blocking client.  Every refusal
# asserts the log line (naming the peer's subject and SANs) and that no
# program data crossed.
. "$(dirname "$0")/../lib.sh"
. "$TLSSHIM_TOP/tests/preload/common.inc"
need_shim identity_setup
# Info: the handshake's "client ... verified" / "server ... verified" lines.
export TLSSHIM_LOG=info
command -v openssl >/dev/null || { fail identity_setup "openssl not installed"; exit 1; }

# ---- certificates, issued by the test CA ----------------------------------
# mkcert NAME SUBJECT EKU SAN
mkcert() {
	cat >"$T/$1.ext" <<EOF
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = $3
subjectAltName = $4
EOF
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$T/$1.key" 2>/dev/null &&
	openssl req -new -key "$T/$1.key" -subj "$2" -out "$T/$1.csr" 2>/dev/null &&
	openssl x509 -req -in "$T/$1.csr" -CA "$CERTS/ca.crt" -CAkey "$CERTS/ca.key" \
		-set_serial "0x$(openssl rand -hex 12)" -days 2 -sha256 -extfile "$T/$1.ext" \
		-out "$T/$1.crt" 2>/dev/null
}
# pin NAME: base64 SHA-256 of the certificate's SubjectPublicKeyInfo.
pin() {
	openssl x509 -in "$T/$1.crt" -noout -pubkey | openssl pkey -pubin -outform der |
		openssl dgst -sha256 -binary | openssl base64
}

ok=true
mkcert alice "/O=tlsshim test/OU=ops/CN=alice" clientAuth \
	"URI:spiffe://example.org/ns/prod/sa/alice, DNS:alice.clients.example, IP:10.1.2.3" || ok=false
mkcert bob "/O=tlsshim test/OU=dev/CN=bob" clientAuth \
	"URI:spiffe://example.org/ns/prodX/a, DNS:a.b.clients.example, IP:10.1.2.4" || ok=false
mkcert carol "/O=tlsshim test/OU=ops2/CN=carol" clientAuth \
	"URI:spiffe://example.org/ns/prod, DNS:clients.example" || ok=false
# A dNSName with a NUL byte in it ("x\0.clients.example", as DER: the
# config syntax cannot write one): a C string comparison would read it as
# one label under clients.example.
mkcert nulsan "/O=tlsshim test/OU=ops3/CN=nulsan" clientAuth \
	"DER:3014821278002e636c69656e74732e6578616d706c65" || ok=false
mkcert sdb "/O=tlsshim test/OU=data/CN=db" serverAuth \
	"DNS:localhost, DNS:db.svc.example, URI:spiffe://example.org/ns/prod/db, IP:127.0.0.1" || ok=false
mkcert srogue "/O=tlsshim test/OU=data/CN=rogue" serverAuth \
	"DNS:localhost, DNS:x.db.svc.example, URI:spiffe://example.org/ns/prodX/db, IP:127.0.0.1" || ok=false
if ! $ok; then
	fail identity_setup "cannot make the test certificates"; exit 1
fi
PIN_ALICE=$(pin alice)
PIN_SDB=$(pin sdb)

# ---- server side: shimmed echo_server, openssl s_client -------------------
# accept_policy PORT KEYS
accept_policy() {
	policy "$T/p.conf" <<EOF
rules = (
  { name = "id-in"; direction = "accept"; port = $1;
    cert = "$CERTS/server.crt"; key = "$CERTS/server.key";
    require_client_cert = true; ca = "$CERTS/ca.crt";
    $2 }
);
EOF
}

# srv_case NAME ok|refused CLIENT-CERT KEYS [LOG-REGEX]
# The shimmed echo_server -1; s_client with CLIENT-CERT sends a line.
#   ok: the line comes back, echo_server ends cleanly, the log says
#       "client ... verified".
#   refused: no echo, echo_server's read fails (ECONNRESET), exactly one
#       log line "peer identity not in the rule's allow lists" that also
#       matches LOG-REGEX (the peer's identity), and the secret line
#       never reached the program (its output has no "SECRET").
srv_case() {
	name=$1 want=$2 who=$3 keys=$4 re=${5:-}
	P=$(free_port)
	accept_policy "$P" "$keys"
	export TLSSHIM_LOG_FILE="$T/$name.log"
	if ! start_echo "$name" -1 "$P"; then
		fail "$name" "echo_server never listened$(show "$T/$name.err")"; return
	fi
	line="SECRET-$name"
	if [ "$want" = ok ]; then
		feed_until "$T/$name.got" "^$line\$" "$line" |
			timeout $((20 * TS)) openssl s_client -connect "127.0.0.1:$P" -CAfile "$CERTS/ca.crt" \
				-verify_return_error -brief -cert "$T/$who.crt" -key "$T/$who.key" \
				>"$T/$name.got" 2>"$T/$name.ossl"
	else
		(printf '%s\n' "$line"; wait_for "$T/$name.err" 'read:' 10) |
			timeout $((20 * TS)) openssl s_client -connect "127.0.0.1:$P" -CAfile "$CERTS/ca.crt" \
				-brief -cert "$T/$who.crt" -key "$T/$who.key" \
				>"$T/$name.got" 2>"$T/$name.ossl"
	fi
	wait_exit "$SRV" 10; rc=$?
	if [ "$want" = ok ]; then
		if ! grep -q "^$line\$" "$T/$name.got"; then
			fail "$name" "no echo$(show "$T/$name.ossl" "$T/$name.err" "$T/$name.log")"
		elif [ "$rc" -ne 0 ]; then
			fail "$name" "echo_server exited $rc$(show "$T/$name.err" "$T/$name.log")"
		elif ! grep -q "accepted TLSv1.3 .*client .*CN *= *$who.* verified" "$T/$name.log"; then
			fail "$name" "no 'client ... verified' log line$(show "$T/$name.log")"
		else
			pass "$name"
		fi
		return
	fi
	if grep -q SECRET "$T/$name.got"; then
		fail "$name" "the refused client got its echo"
	elif grep -q SECRET "$T/$name.out"; then
		fail "$name" "the program saw the refused client's data"
	elif [ "$rc" -ne 1 ] || ! grep -q '^echo_server: read: Connection reset by peer$' "$T/$name.err"; then
		fail "$name" "expected the program's read to fail with ECONNRESET; exit $rc$(show "$T/$name.err" "$T/$name.log")"
	elif [ "$(lines "$T/$name.log" "peer identity not in the rule's allow lists")" -ne 1 ]; then
		fail "$name" "expected one log line naming the refused identity$(show "$T/$name.log")"
	elif ! grep "peer identity not in" "$T/$name.log" | grep -q -E -e "CN=$who[,\"]" ||
		! grep "peer identity not in" "$T/$name.log" | grep -q -E -e "$re"; then
		fail "$name" "the log line does not name the peer ($who, /$re/)$(show "$T/$name.log")"
	elif ! grep -q -i 'alert' "$T/$name.ossl"; then
		fail "$name" "s_client got no alert$(show "$T/$name.ossl")"
	else
		pass "$name"
	fi
}

srv_case id_srv_cn_allowed ok alice 'allow_cn = "alice";'
srv_case id_srv_cn_refused refused bob 'allow_cn = "alice";' 'SAN "URI:spiffe://example.org/ns/prodX/a, DNS:a.b.clients.example, IP:10.1.2.4"'
# A name that only begins with the certificate's is not it: the whole
# entry is compared, not the certificate's length of it.
srv_case id_srv_cn_longer_name_refused refused alice 'allow_cn = "alice-admin";' 'SAN "URI:spiffe://example.org/ns/prod/sa/alice'
srv_case id_srv_ou_allowed ok alice 'allow_ou = ["dev", "ops"];'
srv_case id_srv_ou_near_miss_refused refused carol 'allow_ou = "ops";' 'OU=ops2'
srv_case id_srv_spiffe_prefix_allowed ok alice 'allow_uri = "spiffe://example.org/ns/prod/*";'
srv_case id_srv_spiffe_prefix_near_miss_refused refused bob 'allow_uri = "spiffe://example.org/ns/prod/*";' 'URI:spiffe://example.org/ns/prodX/a'
srv_case id_srv_spiffe_prefix_parent_refused refused carol 'allow_uri = "spiffe://example.org/ns/prod/*";' 'URI:spiffe://example.org/ns/prod[,"]'
srv_case id_srv_spiffe_exact_allowed ok carol 'allow_uri = "spiffe://example.org/ns/prod";'
srv_case id_srv_dns_wildcard_allowed ok alice 'allow_dns = "*.clients.example";'
srv_case id_srv_dns_wildcard_two_labels_refused refused bob 'allow_dns = "*.clients.example";' 'DNS:a.b.clients.example'
srv_case id_srv_dns_wildcard_bare_suffix_refused refused carol 'allow_dns = "*.clients.example";' 'DNS:clients.example'
srv_case id_srv_dns_wildcard_nul_byte_refused refused nulsan 'allow_dns = "*.clients.example";' 'DNS:x[?]\.clients\.example'
srv_case id_srv_dns_exact_case_blind_allowed ok alice 'allow_dns = "ALICE.Clients.Example";'
srv_case id_srv_ip_allowed ok alice 'allow_ip = "10.1.2.3";'
srv_case id_srv_ip_refused refused bob 'allow_ip = ["10.1.2.3", "::1"];' 'IP:10.1.2.4'
srv_case id_srv_pin_allowed ok alice "pin_spki = \"$PIN_ALICE\";"
srv_case id_srv_pin_mismatch_refused refused bob "pin_spki = \"$PIN_ALICE\";" 'SPKI sha256 "'
# Any entry of any list: bob matches allow_ou only, alice matches nothing.
srv_case id_srv_any_list_allowed ok bob 'allow_cn = "nobody"; allow_ou = "dev"; allow_uri = "spiffe://example.org/ns/prod/sa/nobody";'
srv_case id_srv_any_list_refused refused alice 'allow_cn = "nobody"; allow_ou = "dev"; allow_uri = "spiffe://example.org/ns/prod/sa/nobody";' 'subject "CN=alice,OU=ops'

# The refusal log line carries the refused peer's SPKI pin, and that pin,
# put in the policy, lets the same peer in: what an operator would do.
name=id_srv_logged_pin_is_the_peers
logged=$(sed -n 's/.*SPKI sha256 "\([^"]*\)".*/\1/p' "$T/id_srv_pin_mismatch_refused.log" | head -n 1)
if [ -n "$logged" ] && [ "$logged" = "$(pin bob)" ]; then
	pass "$name"
else
	fail "$name" "logged pin '$logged', expected '$(pin bob)'"
fi

# TLS 1.2: the identity check is the same (here a refusal during the
# TLS 1.2 handshake, before the server's Finished).
name=id_srv_tls12_refused
P=$(free_port)
accept_policy "$P" 'allow_cn = "alice";'
export TLSSHIM_LOG_FILE="$T/$name.log"
if start_echo "$name" -1 "$P"; then
	(printf 'SECRET-tls12\n'; wait_for "$T/$name.err" 'read:' 10) |
		timeout $((20 * TS)) openssl s_client -connect "127.0.0.1:$P" -CAfile "$CERTS/ca.crt" -tls1_2 \
			-brief -cert "$T/bob.crt" -key "$T/bob.key" >"$T/$name.got" 2>"$T/$name.ossl"
	wait_exit "$SRV" 10; rc=$?
	if grep -q SECRET "$T/$name.got" "$T/$name.out"; then
		fail "$name" "data crossed"
	elif [ "$rc" -ne 1 ] || [ "$(lines "$T/$name.log" 'peer identity not in.*CN=bob')" -ne 1 ]; then
		fail "$name" "exit $rc$(show "$T/$name.err" "$T/$name.log" "$T/$name.ossl")"
	elif grep -q 'Protocol version: TLSv1.2' "$T/$name.ossl" && ! grep -q -i 'alert' "$T/$name.ossl"; then
		fail "$name" "s_client finished its TLS 1.2 handshake without an alert$(show "$T/$name.ossl")"
	else
		pass "$name"
	fi
else
	fail "$name" "echo_server never listened$(show "$T/$name.err")"
fi

# curl with a client certificate: an allowed SPIFFE identity gets its
# answer, a near miss gets nothing.
if command -v curl >/dev/null; then
	for c in alice:ok bob:refused; do
		who=${c%%:*} want=${c#*:}
		name=id_srv_curl_$want
		P=$(free_port)
		accept_policy "$P" 'allow_uri = "spiffe://example.org/ns/prod/*";'
		export TLSSHIM_LOG_FILE="$T/$name.log"
		if ! start_echo "$name" -1 -c "$P"; then
			fail "$name" "echo_server never listened$(show "$T/$name.err")"; continue
		fi
		timeout $((20 * TS)) curl -sS --http0.9 --max-time $((10 * TS)) --cacert "$CERTS/ca.crt" \
			--resolve "localhost:$P:127.0.0.1" --cert "$T/$who.crt" --key "$T/$who.key" \
			-H "X-Secret: SECRET-curl" "https://localhost:$P/" >"$T/$name.got" 2>"$T/$name.curl"
		wait_exit "$SRV" 10; rc=$?
		if [ "$want" = ok ]; then
			# The one-shot echo answers curl's request with itself.
			if grep -q 'X-Secret: SECRET-curl' "$T/$name.got" || grep -q 'X-Secret' "$T/$name.curl"; then
				pass "$name"
			else
				fail "$name" "no echo of the request$(show "$T/$name.got" "$T/$name.curl" "$T/$name.log")"
			fi
		elif grep -q SECRET "$T/$name.got" "$T/$name.out"; then
			fail "$name" "data crossed"
		elif [ "$(lines "$T/$name.log" 'peer identity not in.*URI:spiffe://example.org/ns/prodX/a')" -ne 1 ]; then
			fail "$name" "no log line naming the refused peer$(show "$T/$name.log")"
		else
			pass "$name"
		fi
	done
fi

# ---- client side: shimmed client, openssl s_server ------------------------
connect_policy() {
	policy "$T/p.conf" <<EOF
rules = ( { name = "id-out"; direction = "connect"; port = $1; ca = "$CERTS/ca.crt"; $2 } );
EOF
}
printf 'SECRET hello world\nsecond line\n' >"$T/rev.in"
printf 'dlrow olleh TERCES\nenil dnoces\n' >"$T/rev.expect"

# cli_case NAME ok|refused SERVER-CERT KEYS [LOG-REGEX]
#   ok: s_server -rev answers, the client gets the reversed text.
#   refused: connect() fails with ECONNREFUSED (as for any verification
#       failure), one log line naming the server (LOG-REGEX), nothing
#       received, and s_server (no -rev: it prints what it receives)
#       never saw the secret.
cli_case() {
	name=$1 want=$2 who=$3 keys=$4 re=${5:-}
	P=$(free_port)
	connect_policy "$P" "$keys"
	export TLSSHIM_LOG_FILE="$T/$name.log"
	if [ "$want" = ok ]; then rev=-rev; else rev=""; fi
	# s_server without -rev ends at the end of its standard input: keep
	# that open until the client is done.
	wait_for "$T/$name.done" '^done' 30 |
		openssl s_server -accept "127.0.0.1:$P" -naccept 1 $rev \
			-cert "$T/$who.crt" -key "$T/$who.key" >"$T/$name.srv" 2>&1 &
	srv=$!
	if ! wait_for "$T/$name.srv" '^ACCEPT' 10; then
		fail "$name" "s_server did not start$(show "$T/$name.srv")"; stop "$srv"; return
	fi
	shimmed "$PROGS/client" localhost "$P" <"$T/rev.in" >"$T/$name.got" 2>"$T/$name.err"
	rc=$?
	echo done >"$T/$name.done"
	wait_exit "$srv" 10 || true
	if [ "$want" = ok ]; then
		rev_verified "$name" "$rc" "connected TLSv1.3 .*server .*CN *= *${who#s}.* verified for \"localhost\"" \
			"no 'server ... verified' log line"
		return
	fi
	if ! refused_clean "$name"; then
		:
	elif [ "$(lines "$T/$name.log" "peer identity not in the rule's allow lists")" -ne 1 ]; then
		fail "$name" "expected one log line naming the refused server$(show "$T/$name.log")"
	elif ! grep "peer identity not in" "$T/$name.log" | grep -q -E -e "CN=${who#s}[,\"]" ||
		! grep "peer identity not in" "$T/$name.log" | grep -q -E -e "$re"; then
		fail "$name" "the log line does not name the server (/$re/)$(show "$T/$name.log")"
	else
		pass "$name"
	fi
}

cli_case id_cli_cn_allowed ok sdb 'allow_cn = "db";'
cli_case id_cli_cn_refused refused srogue 'allow_cn = "db";' 'SAN "DNS:localhost, DNS:x.db.svc.example, URI:spiffe://example.org/ns/prodX/db, IP:127.0.0.1"'
cli_case id_cli_spiffe_prefix_allowed ok sdb 'allow_uri = "spiffe://example.org/ns/prod/*";'
cli_case id_cli_spiffe_prefix_near_miss_refused refused srogue 'allow_uri = "spiffe://example.org/ns/prod/*";' 'URI:spiffe://example.org/ns/prodX/db'
cli_case id_cli_dns_wildcard_allowed ok sdb 'allow_dns = "*.svc.example";'
cli_case id_cli_dns_wildcard_two_labels_refused refused srogue 'allow_dns = "*.svc.example";' 'DNS:x.db.svc.example'
cli_case id_cli_pin_allowed ok sdb "pin_spki = \"$PIN_SDB\";"
cli_case id_cli_pin_mismatch_refused refused srogue "pin_spki = \"$PIN_SDB\";" 'SPKI sha256 "'
cli_case id_cli_ou_any_list_allowed ok sdb 'allow_cn = "nobody"; allow_ou = "data";'
cli_case id_cli_ip_refused refused sdb 'allow_ip = "127.0.0.2";' 'IP:127.0.0.1'

# A non-blocking client: connect() returns at once; the refusal shows as
# for any other verification failure: SO_ERROR ECONNREFUSED once
# writable, then the first I/O fails; s_server never sees the data.
name=id_cli_nonblocking_refused
P=$(free_port)
connect_policy "$P" 'allow_uri = "spiffe://example.org/ns/prod/*";'
export TLSSHIM_LOG_FILE="$T/$name.log"
wait_for "$T/$name.done" '^done' 30 |
	openssl s_server -accept "127.0.0.1:$P" -naccept 1 \
		-cert "$T/srogue.crt" -key "$T/srogue.key" >"$T/$name.srv" 2>&1 &
srv=$!
if wait_for "$T/$name.srv" '^ACCEPT' 10; then
	shimmed "$PY" "$PYD/nonblocking_connect_client.py" "$P" >"$T/$name.got" 2>"$T/$name.err"
	echo done >"$T/$name.done"
	wait_exit "$srv" 10 || true
	if grep -q SECRET "$T/$name.srv"; then
		fail "$name" "s_server received the program's data"
	elif ! grep -q '^so_error ECONNREFUSED$' "$T/$name.got" || ! grep -q '^send E' "$T/$name.got"; then
		fail "$name" "expected SO_ERROR ECONNREFUSED and a failed send$(show "$T/$name.got" "$T/$name.err" "$T/$name.log")"
	elif [ "$(lines "$T/$name.log" "peer identity not in the rule's allow lists: subject \"CN=rogue.*URI:spiffe://example.org/ns/prodX/db")" -ne 1 ]; then
		fail "$name" "expected one log line naming the server$(show "$T/$name.log")"
	else
		pass "$name"
	fi
else
	fail "$name" "s_server did not start$(show "$T/$name.srv")"
	echo done >"$T/$name.done"
fi

# ---- Python's ssl as the peer (another client stack, TLS 1.3 and 1.2) ----
for c in alice:ok:--tls13 bob:refused:--tls13 bob:refused:--tls12; do
	who=${c%%:*} rest=${c#*:}
	want=${rest%%:*} ver=${rest#*:}
	name=id_srv_python_${want}_${who}${ver#--}
	P=$(free_port)
	accept_policy "$P" 'allow_dns = "*.clients.example";'
	export TLSSHIM_LOG_FILE="$T/$name.log"
	if ! start_echo "$name" -1 "$P"; then
		fail "$name" "echo_server never listened$(show "$T/$name.err")"; continue
	fi
	peer client --port "$P" --ca "$CERTS/ca.crt" --cert "$T/$who.crt" --key "$T/$who.key" $ver \
		--send "SECRET-python-$who" >"$T/$name.cli" 2>&1
	wait_exit "$SRV" 10; rc=$?
	if [ "$want" = ok ]; then
		if grep -q '^echo ok' "$T/$name.cli" && [ "$rc" -eq 0 ]; then
			pass "$name"
		else
			fail "$name" "exit $rc$(show "$T/$name.cli" "$T/$name.err" "$T/$name.log")"
		fi
	elif grep -q '^echo ok' "$T/$name.cli" || grep -q SECRET "$T/$name.out"; then
		fail "$name" "data crossed$(show "$T/$name.cli")"
	elif [ "$rc" -ne 1 ] || [ "$(lines "$T/$name.log" 'peer identity not in.*DNS:a\.b\.clients\.example')" -ne 1 ]; then
		fail "$name" "exit $rc, expected one log line naming bob$(show "$T/$name.cli" "$T/$name.log")"
	else
		pass "$name"
	fi
done
