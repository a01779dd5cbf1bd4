#!/bin/sh
# tests/interop/crl.sh — the `crl` key against OpenSSL's peers.
#
# A CRL made with `openssl ca -revoke` / `-gencrl` (a minimal CA
# configuration in the test's directory, the test CA's key) revokes one
# server and one client certificate.  The shimmed echo_server with
# require_client_cert refuses the revoked client (openssl s_client) and
# serves the good one; the shimmed client refuses openssl s_server with the
# revoked certificate (CRL file, and CRL directory) and talks to the good
# one; an expired CRL fails every handshake.  Each refusal: the log line
# names the reason, and no program data crossed.  tlsshim --check rejects
# a crl where no certificate is checked, and files without CRLs.  A
# certificate put into the CRL directory once the rule is in use (with its
# CRL) is no trust anchor: the shimmed client still refuses a server of
# that CA (the previous library's hash_dir lookup trusted it).
. "$(dirname "$0")/../lib.sh"
. "$TLSSHIM_TOP/tests/preload/common.inc"
need_shim crl_setup
command -v openssl >/dev/null || { fail crl_setup "openssl not installed"; exit 1; }

# --- the CA's work: two more certificates, two revoked, three CRLs ----------
. "$TLSSHIM_TOP/tests/interop/testca.inc"
mkdir -p "$T/crldir"
if ! mkcert server-revoked localhost server_ext || ! mkcert client-revoked tlsshim-revoked-client client_ext ||
	! openssl ca -config "$C/ca.cnf" -revoke "$T/server-revoked.crt" -crl_reason keyCompromise >"$C/log" 2>&1 ||
	! openssl ca -config "$C/ca.cnf" -revoke "$T/client-revoked.crt" >>"$C/log" 2>&1 ||
	! openssl ca -config "$C/ca.cnf" -gencrl -out "$T/crl.pem" >>"$C/log" 2>&1 ||
	! openssl ca -config "$C/ca.cnf" -gencrl -crl_lastupdate 20200101000000Z \
		-crl_nextupdate 20200102000000Z -out "$T/crl-expired.pem" >>"$C/log" 2>&1; then
	fail crl_setup "openssl ca failed$(show "$C/log")"; exit 1
fi
cp "$T/crl.pem" "$T/crldir/" && openssl rehash "$T/crldir" >/dev/null 2>&1
hashed=""
for f in "$T"/crldir/????????.r0; do [ -e "$f" ] && hashed=$f; done
if [ -z "$hashed" ]; then
	fail crl_setup "openssl rehash made no .r0 name$(show "$C/log")"; exit 1
fi
# The CRL really revokes what it should (openssl's own view).
if openssl verify -crl_check -CAfile "$CERTS/ca.crt" -CRLfile "$T/crl.pem" "$T/server-revoked.crt" >/dev/null 2>&1 ||
	! openssl verify -crl_check -CAfile "$CERTS/ca.crt" -CRLfile "$T/crl.pem" "$CERTS/server.crt" >/dev/null 2>&1; then
	fail crl_setup "openssl verify disagrees with the CRL"; exit 1
fi
export TLSSHIM_LOG=info

# --- the shimmed server, clients with good and revoked certificates ----------
# server_case NAME WANT(ok|refused) CRL CLIENT-CERT CLIENT-KEY
server_case() {
	name=$1 want=$2 crl=$3 ccert=$4 ckey=$5
	P=$(free_port)
	policy "$T/$name.conf" <<EOF
rules = ( { name = "crl-in"; direction = "accept"; port = $P;
  cert = "$CERTS/server.crt"; key = "$CERTS/server.key";
  require_client_cert = true; ca = "$CERTS/ca.crt"; crl = "$crl"; } );
EOF
	export TLSSHIM_LOG_FILE="$T/$name.log"
	if ! start_echo "$name" -1 "$P"; then
		fail "$name" "echo_server never listened$(show "$T/$name.err")"; return
	fi
	line="SECRET-PLAINTEXT-$name"
	if [ "$want" = ok ]; then
		feed_until "$T/$name.got" "^$line\$" "$line" |
			timeout $((20 * TS)) openssl s_client -connect "127.0.0.1:$P" -servername localhost \
				-CAfile "$CERTS/ca.crt" -cert "$ccert" -key "$ckey" -brief >"$T/$name.got" 2>"$T/$name.ossl"
	else
		(printf '%s\n' "$line"; wait_for "$T/$name.err" 'read:' 10) |
			timeout $((20 * TS)) openssl s_client -connect "127.0.0.1:$P" -servername localhost \
				-CAfile "$CERTS/ca.crt" -cert "$ccert" -key "$ckey" -brief >"$T/$name.got" 2>"$T/$name.ossl"
	fi
	wait_exit "$SRV" 10; rc=$?
	if [ "$want" = ok ]; then
		if ! grep -q "^$line\$" "$T/$name.got" || [ "$rc" -ne 0 ]; then
			fail "$name" "no echo or echo_server exit $rc$(show "$T/$name.ossl" "$T/$name.err" "$T/$name.log")"
		elif [ "$(lines "$T/$name.log" 'rule "crl-in": accepted .* verified')" -ne 1 ]; then
			fail "$name" "no accepted line$(show "$T/$name.log")"
		else
			pass "$name"
		fi
	elif grep -q SECRET "$T/$name.got" || grep -q SECRET "$T/$name.out"; then
		fail "$name" "data crossed"
	elif [ "$rc" -ne 1 ] || ! grep -q '^echo_server: read: Connection reset by peer$' "$T/$name.err"; then
		fail "$name" "expected the program's read to fail with ECONNRESET; exit $rc$(show "$T/$name.err" "$T/$name.log")"
	elif [ "$(lines "$T/$name.log" "rule \"crl-in\": .*certificate verification failed: $want")" -ne 1 ]; then
		fail "$name" "expected one log line 'certificate verification failed: $want'$(show "$T/$name.log")"
	else
		pass "$name"
	fi
}

server_case server_crl_accepts_good_client ok "$T/crl.pem" "$CERTS/client.crt" "$CERTS/client.key"
server_case server_crl_refuses_revoked_client "certificate revoked" "$T/crl.pem" "$T/client-revoked.crt" "$T/client-revoked.key"
server_case server_crl_dir_refuses_revoked_client "certificate revoked" "$T/crldir" "$T/client-revoked.crt" "$T/client-revoked.key"
server_case server_expired_crl_refuses_good_client "CRL has expired" "$T/crl-expired.pem" "$CERTS/client.crt" "$CERTS/client.key"

# --- the shimmed client, openssl s_server with good and revoked certificates -
printf 'SECRET-PLAINTEXT-from-client\n' >"$T/rev.in"
printf 'tneilc-morf-TXETNIALP-TERCES\n' >"$T/rev.expect"

# client_case NAME WANT(ok|reason) CRL SERVER-CERT SERVER-KEY [S_SERVER-ARGS...]
client_case() {
	name=$1 want=$2 crl=$3 scert=$4 skey=$5
	shift 5
	P=$(free_port)
	policy "$T/$name.conf" <<EOF
rules = ( { name = "crl-out"; direction = "connect"; port = $P; ca = "$CERTS/ca.crt"; crl = "$crl"; } );
EOF
	export TLSSHIM_LOG_FILE="$T/$name.log"
	rev_exchange "$name" -cert "$scert" -key "$skey" "$@" || return
	if [ "$want" = ok ]; then
		if [ "$rc" -ne 0 ] || ! cmp -s "$T/rev.expect" "$T/$name.got"; then
			fail "$name" "client exit $rc, reversed text not received$(show "$T/$name.err" "$T/$name.log" "$T/$name.srv")"
		else
			pass "$name"
		fi
	elif ! refused_clean "$name"; then
		:
	elif [ "$(lines "$T/$name.log" "rule \"crl-out\": .*certificate verification failed: $want")" -ne 1 ]; then
		fail "$name" "expected one log line 'certificate verification failed: $want'$(show "$T/$name.log")"
	else
		pass "$name"
	fi
}

client_case client_crl_accepts_good_server ok "$T/crl.pem" "$CERTS/server.crt" "$CERTS/server.key"
client_case client_crl_refuses_revoked_server "certificate revoked" "$T/crl.pem" "$T/server-revoked.crt" "$T/server-revoked.key"
client_case client_crl_dir_accepts_good_server ok "$T/crldir" "$CERTS/server.crt" "$CERTS/server.key"
client_case client_crl_dir_refuses_revoked_server "certificate revoked" "$T/crldir" "$T/server-revoked.crt" "$T/server-revoked.key"
client_case client_expired_crl_refuses_good_server "CRL has expired" "$T/crl-expired.pem" "$CERTS/server.crt" "$CERTS/server.key"
# A CRL of another CA covers nothing of this chain: no CRL, no connection.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=unrelated CA" -days 30 \
	-keyout "$T/other.key" -out "$T/other.crt" 2>/dev/null
openssl ca -config "$C/ca.cnf" -gencrl -cert "$T/other.crt" -keyfile "$T/other.key" -out "$T/crl-other.pem" >>"$C/log" 2>&1
client_case client_crl_of_other_ca_refuses "unable to get certificate CRL" "$T/crl-other.pem" "$CERTS/server.crt" "$CERTS/server.key"
# Every certificate of the chain is checked, not the leaf alone: a server
# certificate of an intermediate CA that the root's CRL revokes is refused
# (the file holds the root's CRL and the intermediate's, which revokes
# nothing of the server's).
printf 'basicConstraints = critical, CA:TRUE\nkeyUsage = critical, keyCertSign, cRLSign\n' >"$T/inter.ext"
printf '[ ext ]\nbasicConstraints = critical, CA:FALSE\nkeyUsage = critical, digitalSignature\nextendedKeyUsage = serverAuth\nsubjectAltName = DNS:localhost, IP:127.0.0.1\n' >"$T/ileaf.ext"
if openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/O=tlsshim test/CN=revoked intermediate" \
		-keyout "$T/inter.key" -out "$T/inter.csr" 2>>"$C/log" &&
	openssl x509 -req -in "$T/inter.csr" -CA "$CERTS/ca.crt" -CAkey "$CERTS/ca.key" -set_serial "0x$(openssl rand -hex 8)" \
		-days 30 -extfile "$T/inter.ext" -out "$T/inter.crt" 2>>"$C/log" &&
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/O=tlsshim test/CN=localhost" \
		-keyout "$T/ileaf.key" -out "$T/ileaf.csr" 2>>"$C/log" &&
	openssl x509 -req -in "$T/ileaf.csr" -CA "$T/inter.crt" -CAkey "$T/inter.key" -set_serial "0x$(openssl rand -hex 8)" \
		-days 30 -extfile "$T/ileaf.ext" -extensions ext -out "$T/ileaf.crt" 2>>"$C/log" &&
	openssl ca -config "$C/ca.cnf" -revoke "$T/inter.crt" >>"$C/log" 2>&1 &&
	openssl ca -config "$C/ca.cnf" -gencrl -out "$T/crl-root2.pem" >>"$C/log" 2>&1 &&
	openssl ca -config "$C/ca.cnf" -gencrl -cert "$T/inter.crt" -keyfile "$T/inter.key" -out "$T/crl-inter.pem" >>"$C/log" 2>&1 &&
	cat "$T/crl-root2.pem" "$T/crl-inter.pem" >"$T/crl-chain.pem"; then
	client_case client_crl_refuses_revoked_intermediate "certificate revoked" "$T/crl-chain.pem" \
		"$T/ileaf.crt" "$T/ileaf.key" -cert_chain "$T/inter.crt"
else
	fail client_crl_refuses_revoked_intermediate "cannot make the intermediate CA and its CRLs$(show "$C/log")"
fi

# A CA certificate and its CRL put into the CRL directory after the first
# handshake (the lookup reads the directory at each verification): still
# no trust anchor.  One client process, two connections to a server of
# other-ca, the files added between them.
name=client_crl_dir_late_certificate_not_trusted
mkdir -p "$T/latedir" && cp "$T/crl.pem" "$T/latedir/" && openssl rehash "$T/latedir" >/dev/null 2>&1
openssl ca -config "$C/ca.cnf" -gencrl -cert "$CERTS/other-ca.crt" -keyfile "$CERTS/other-ca.key" \
	-out "$T/crl-otherca.pem" >>"$C/log" 2>&1
cat >"$T/twice.py" <<'EOF'
import os, socket, sys, time
port, flag = int(sys.argv[1]), sys.argv[2]
def once():
    s = socket.socket()
    s.settimeout(20)
    try:
        s.connect(("127.0.0.1", port))
        s.sendall(b"SECRET\n")
        print("connected", s.recv(100))
    except OSError as e:
        print("refused", e.errno)
    sys.stdout.flush()
once()
open(flag + ".ready", "w").write("ready\n")
for _ in range(600):
    if os.path.exists(flag):
        break
    time.sleep(0.05)
once()
EOF
P=$(free_port)
policy "$T/$name.conf" <<EOF
rules = ( { name = "crl-out"; direction = "connect"; port = $P; ca = "$CERTS/ca.crt"; crl = "$T/latedir"; } );
EOF
export TLSSHIM_LOG_FILE="$T/$name.log"
bg openssl s_server -accept "127.0.0.1:$P" -naccept 2 -rev -cert "$CERTS/untrusted.crt" -key "$CERTS/untrusted.key" >"$T/$name.srv" 2>&1
srv=$!
if wait_for "$T/$name.srv" '^ACCEPT' 10; then
	bg shimmed python3 "$T/twice.py" "$P" "$T/$name.go" >"$T/$name.got" 2>&1
	cli=$!
	if wait_for "$T/$name.go.ready" "^ready" 30; then
		cp "$CERTS/other-ca.crt" "$T/crl-otherca.pem" "$T/latedir/" && openssl rehash "$T/latedir" >/dev/null 2>&1
	fi
	: >"$T/$name.go"
	wait_exit "$cli" 30
	stop "$srv"
	if grep -q connected "$T/$name.got" || grep -q SECRET "$T/$name.srv"; then
		fail "$name" "a server of a CA from the CRL directory was trusted$(show "$T/$name.got" "$T/$name.log")"
	elif [ "$(grep -c '^refused' "$T/$name.got")" -ne 2 ] ||
		[ "$(lines "$T/$name.log" 'rule "crl-out": .*certificate verification failed: unable to get local issuer certificate')" -ne 2 ]; then
		fail "$name" "expected two refusals (unable to get local issuer certificate)$(show "$T/$name.got" "$T/$name.log")"
	else
		pass "$name"
	fi
else
	fail "$name" "s_server did not start$(show "$T/$name.srv")"; stop "$srv"
fi

# --- tlsshim --check -----------------------------------------------------------
# check_bad NAME REGEX DIRECTION RULE-KEYS
check_bad() {
	cat >"$T/$1.conf" <<EOF
rules = (
  { name = "r"; direction = "$3"; port = 1;
    cert = "$CERTS/server.crt"; key = "$CERTS/server.key"; ca = "$CERTS/ca.crt";
    $4 }
);
EOF
	"$TLSSHIM_LAUNCHER" --check "$T/$1.conf" >"$T/$1.chk" 2>&1
	rc=$?
	if [ "$rc" -ne 0 ] && grep -q -E "$T/$1.conf:4: .*$2" "$T/$1.chk"; then
		pass "$1"
	else
		fail "$1" "expected exit != 0 and '$T/$1.conf:4: ...$2'$(show "$T/$1.chk")"
	fi
}
mkdir -p "$T/emptydir"
check_bad check_crl_without_client_cert 'needs "require_client_cert"' accept "crl = \"$T/crl.pem\";"
check_bad check_crl_with_verify_none 'verify' connect "crl = \"$T/crl.pem\"; verify = \"none\";"
check_bad check_crl_file_without_crl 'holds no PEM CRL' connect "crl = \"$CERTS/ca.crt\";"
check_bad check_crl_missing 'No such file' connect "crl = \"$T/none.pem\";"
check_bad check_crl_dir_unhashed 'openssl rehash' connect "crl = \"$T/emptydir\";"
cat >"$T/ok.conf" <<EOF
rules = ( { direction = "connect"; port = 1; ca = "$CERTS/ca.crt"; crl = "$T/crl.pem"; } );
EOF
check check_crl_valid "$TLSSHIM_LAUNCHER" --check "$T/ok.conf"
# From defaults, crl reaches only the rules that check a peer certificate.
cat >"$T/defaults.conf" <<EOF
defaults = { crl = "$T/crl.pem"; ca = "$CERTS/ca.crt"; };
rules = (
  { direction = "accept"; port = 1; cert = "$CERTS/server.crt"; key = "$CERTS/server.key"; },
  { direction = "connect"; port = 2; verify = "none"; },
  { direction = "connect"; port = 3; }
);
EOF
check check_crl_from_defaults_only_where_used "$TLSSHIM_LAUNCHER" --check "$T/defaults.conf"
# A CRL directory that also holds hashed certificates would add trust anchors.
mkdir -p "$T/mixeddir" && cp "$T/crl.pem" "$T/other.crt" "$T/mixeddir/" && openssl rehash "$T/mixeddir" >/dev/null 2>&1
check_bad check_crl_dir_with_certificates 'would be trusted as CAs' connect "crl = \"$T/mixeddir\";"
