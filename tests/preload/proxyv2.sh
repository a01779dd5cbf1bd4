#!/bin/sh
# tests/preload/proxyv2.sh — proxy_protocol = "v2" on an accept rule
# (tlsshim.conf(5)): a Python backend under the shim reads a PROXY
# protocol v2 header ahead of the client's plaintext and checks that it
# behaves as bytes in the socket (select, epoll edge-triggered, FIONREAD
# exactly its length, MSG_PEEK, readv/recvmsg in two pieces); every field
# is compared byte for byte with what the client negotiated:
#   * Python ssl client (TLS 1.3, client certificate, ALPN, SNI, its own
#     source port): addresses and ports, PP2_TYPE_ALPN, PP2_TYPE_AUTHORITY,
#     PP2_TYPE_SSL (flags SSL|CERT_CONN|CERT_SESS, verify 0) with
#     SSL_VERSION, SSL_CN, SSL_CIPHER;
#   * openssl s_client (TLS 1.2, a chosen cipher, another ALPN, SNI);
#   * IPv6 (::1), and IPv4 on a dual-stack socket (IPv4-mapped: as IPv4);
#   * a resumed session (TLS 1.2 and 1.3): PP2_CLIENT_CERT_SESS without
#     PP2_CLIENT_CERT_CONN, the CN still there;
#   * a client without a certificate (no CN sub-TLV, flags SSL only,
#     verify non-zero) and without SNI or ALPN (no such TLVs);
#   * a BMPString CN: as UTF-8 (its raw bytes spell "root"); two CNs:
#     no CN sub-TLV;
#   * an SNI with CR, LF, ESC and 0xff: each as '?' in PP2_TYPE_AUTHORITY.
# A client refused by the handshake (a certificate from another CA): the
# backend reads no header and no data, the refusal is logged.
# And `tlsshim --check` rejects proxy_protocol on a connect rule and with
# action "plain" (FILE:LINE), and a value other than "v2"/"none".
. "$(dirname "$0")/../lib.sh"
. "$TLSSHIM_TOP/tests/preload/common.inc"
need_shim proxyv2_setup
[ -n "$T" ] && [ -d "$T" ] || { echo "FAIL proxyv2_setup: no test directory"; exit 1; }
BACKEND="$TLSSHIM_TOP/tests/preload/py/proxyv2_backend.py"
CLIENT="$TLSSHIM_TOP/tests/preload/py/proxyv2_client.py"
export TLSSHIM_LOG=info

# start_backend NAME PORT MTLS(yes|no) [ADDR [COUNT]]
start_backend() {
	if [ "$3" = yes ]; then
		_sb_keys="require_client_cert = true; ca = \"$CERTS/ca.crt\";"
	else
		_sb_keys=""
	fi
	policy "$T/$1.conf" <<EOC
rules = ( { name = "pp2-in"; direction = "accept"; port = $2;
            cert = "$CERTS/server.crt"; key = "$CERTS/server.key";
            alpn = ["proto/1", "h2"]; proxy_protocol = "v2"; $_sb_keys } );
EOC
	TLSSHIM_LOG_FILE="$T/$1.log" shimbg "$PY" "$BACKEND" "$2" ${4:-} ${5:-} >"$T/$1.out" 2>"$T/$1.err"
	BE=$!
	wait_for "$T/$1.out" '^listening' 10
}

# check NAME WANT-FILE: the backend's fields are exactly WANT-FILE.
check() {
	wait_exit "$BE" 20
	grep -v -E '^(listening|got )' "$T/$1.out" >"$T/$1.got"
	if cmp -s "$T/$1.want" "$T/$1.got" && grep -q "^got 'hello" "$T/$1.out"; then
		pass "$1"
	else
		fail "$1" "want '$(tr '\n' '|' <"$T/$1.want")' got '$(tr '\n' '|' <"$T/$1.out")'$(show "$T/$1.err" "$T/$1.log")"
	fi
}

# header_len SNI ALPN CN VERSION CIPHER [ADDRBYTES]: the header's length
# (IPv4: 12 address bytes; IPv6: 36).
header_len() {
	_hl=$((16 + ${6:-12} + 3 + 5 + 3 + ${#4} + 3 + ${#5}))
	[ -n "$1" ] && _hl=$((_hl + 3 + ${#1}))
	[ -n "$2" ] && _hl=$((_hl + 3 + ${#2}))
	[ -n "$3" ] && _hl=$((_hl + 3 + ${#3}))
	echo "$_hl"
}

# ---- Python client: TLS 1.3, certificate, ALPN, SNI ------------------------
name=proxyv2_python_client_every_tlv
P=$(free_port)
if start_backend py "$P" yes; then
	timeout $((30 * TS)) "$PY" "$CLIENT" "$P" "$CERTS/ca.crt" "$CERTS/client.crt" "$CERTS/client.key" \
		"h2,proto/1" "backend.example" >"$T/py.client" 2>&1
	lp=$(sed -n 's/^local_port=//p' "$T/py.client")
	ver=$(sed -n 's/^version=//p' "$T/py.client")
	ci=$(sed -n 's/^cipher=//p' "$T/py.client")
	al=$(sed -n 's/^alpn=//p' "$T/py.client")
	cat >"$T/$name.want" <<EOW
fionread_header=$(header_len backend.example "$al" tlsshim-client "$ver" "$ci")
family=0x11
src=127.0.0.1:$lp
dst=127.0.0.1:$P
tlv_0x01=$al
tlv_0x02=backend.example
ssl_client=0x07
ssl_verify=0
ssl.tlv_0x21=$ver
ssl.tlv_0x22=tlsshim-client
ssl.tlv_0x23=$ci
EOW
	wait_exit "$BE" 20
	cp "$T/py.out" "$T/$name.out"
	check "$name"
	if [ -n "$al" ] && [ "$ver" = TLSv1.3 ] && grep -q -F "server 'echo hello" "$T/py.client"; then
		pass proxyv2_python_client_data_after_header
	else
		fail proxyv2_python_client_data_after_header "$(tr '\n' '|' <"$T/py.client")"
	fi
else
	fail "$name" "backend did not listen$(show "$T/py.err" "$T/py.log")"
fi

# ---- IPv6, and IPv4 on a dual-stack socket ---------------------------------
# v6_case NAME LISTEN CONNECT FAMILY ADDRBYTES SRC-DST
v6_case() {
	name=$1
	P=$(free_port)
	if ! start_backend "$name" "$P" yes "$2"; then
		fail "$name" "backend did not listen$(show "$T/$name.err" "$T/$name.log")"; return
	fi
	timeout $((30 * TS)) "$PY" "$CLIENT" "$P" "$CERTS/ca.crt" "$CERTS/client.crt" "$CERTS/client.key" \
		"proto/1" "v6.example" "$3" >"$T/$name.client" 2>&1
	lp=$(sed -n 's/^local_port=//p' "$T/$name.client")
	ver=$(sed -n 's/^version=//p' "$T/$name.client")
	ci=$(sed -n 's/^cipher=//p' "$T/$name.client")
	{
		echo "fionread_header=$(header_len v6.example proto/1 tlsshim-client "$ver" "$ci" "$5")"
		echo "family=$4"
		echo "src=$6:$lp"
		echo "dst=$6:$P"
		echo "tlv_0x01=proto/1"
		echo "tlv_0x02=v6.example"
		echo "ssl_client=0x07"
		echo "ssl_verify=0"
		echo "ssl.tlv_0x21=$ver"
		echo "ssl.tlv_0x22=tlsshim-client"
		echo "ssl.tlv_0x23=$ci"
	} >"$T/$name.want"
	check "$name"
}
if "$PY" -c 'import socket; s = socket.socket(socket.AF_INET6); s.bind(("::1", 0))' 2>/dev/null; then
	v6_case proxyv2_ipv6 ::1 ::1 0x21 36 ::1
	v6_case proxyv2_dual_stack_ipv4_mapped_as_ipv4 :: 127.0.0.1 0x11 12 127.0.0.1
else
	fail proxyv2_ipv6 "no IPv6 loopback in this namespace"
fi

# ---- a resumed session: PP2_CLIENT_CERT_SESS without PP2_CLIENT_CERT_CONN ----
# TLS 1.2 and 1.3: the second connection resumes the first's session; the
# certificate came with the session, not on this connection.
for v in 1.2 1.3; do
	name=proxyv2_resumed_tls${v#1.}_cert_sess_not_conn
	P=$(free_port)
	if ! start_backend "res$v" "$P" yes 127.0.0.1 2; then
		fail "$name" "backend did not listen$(show "$T/res$v.err")"; continue
	fi
	timeout $((30 * TS)) "$PY" "$CLIENT" "$P" "$CERTS/ca.crt" "$CERTS/client.crt" "$CERTS/client.key" \
		"proto/1" "res.example" 127.0.0.1 2 "$v" >"$T/res$v.client" 2>&1
	wait_exit "$BE" 20
	reused=$(sed -n 's/^reused=//p' "$T/res$v.client" | tr '\n' ' ')
	flags=$(sed -n 's/^ssl_client=//p' "$T/res$v.out" | tr '\n' ' ')
	verify=$(sed -n 's/^ssl_verify=//p' "$T/res$v.out" | tr '\n' ' ')
	cns=$(grep -c '^ssl.tlv_0x22=tlsshim-client$' "$T/res$v.out")
	if [ "$reused" = "False True " ] && [ "$flags" = "0x07 0x05 " ] && [ "$verify" = "0 0 " ] &&
	   [ "$cns" = 2 ] && [ "$(grep -c "^got 'hello" "$T/res$v.out")" = 2 ]; then
		pass "$name"
	else
		fail "$name" "reused '$reused' flags '$flags' verify '$verify' CN sub-TLVs $cns$(show "$T/res$v.out" "$T/res$v.client" "$T/res$v.err")"
	fi
done

# ---- the CN sub-TLV: one name, in UTF-8, or none --------------------------
# A BMPString CN whose raw bytes read "root" (U+726F U+6F74) arrives as
# UTF-8, its bytes written \xNN, never "root" (nor "??????", which every
# CN of six non-ASCII bytes gave: U+4E2D U+6587 too), as the log line
# writes them; a subject with two CNs (alice, then root) has no CN sub-TLV.
"$PY" - "$CERTS" "$T" <<'PYEOF2'
import datetime, sys
from cryptography import x509
from cryptography.x509.oid import NameOID, ExtendedKeyUsageOID
from cryptography.x509.name import _ASN1Type
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
certs, out = sys.argv[1], sys.argv[2]
ca = x509.load_pem_x509_certificate(open(certs + "/ca.crt", "rb").read())
cak = serialization.load_pem_private_key(open(certs + "/ca.key", "rb").read(), None)
A, CN = x509.NameAttribute, NameOID.COMMON_NAME
now = datetime.datetime.now(datetime.timezone.utc)
for name, attrs in (("bmp", [A(CN, "\u726f\u6f74", _type=_ASN1Type.BMPString)]),
                    ("twocn", [A(CN, "alice"), A(CN, "root")])):
    k = ec.generate_private_key(ec.SECP256R1())
    c = (x509.CertificateBuilder().subject_name(x509.Name(attrs)).issuer_name(ca.subject)
         .public_key(k.public_key()).serial_number(x509.random_serial_number())
         .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=2))
         .add_extension(x509.BasicConstraints(ca=False, path_length=None), True)
         .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), False)
         .sign(cak, hashes.SHA256()))
    open(out + "/" + name + ".crt", "wb").write(c.public_bytes(serialization.Encoding.PEM))
    open(out + "/" + name + ".key", "wb").write(k.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
PYEOF2
for who in bmp twocn; do
	name=proxyv2_cn_$who
	P=$(free_port)
	if ! start_backend "cn$who" "$P" yes; then
		fail "$name" "backend did not listen$(show "$T/cn$who.err")"; continue
	fi
	{ wait_for "$T/cn$who.sc" '^ready' 20; printf 'hello\n'; wait_for "$T/cn$who.out" "^got 'hello" 20; } |
		timeout $((30 * TS)) openssl s_client -quiet -connect "127.0.0.1:$P" -CAfile "$CERTS/ca.crt" \
			-cert "$T/$who.crt" -key "$T/$who.key" >"$T/cn$who.sc" 2>&1
	wait_exit "$BE" 20
	cn=$(sed -n 's/^ssl.tlv_0x22=//p' "$T/cn$who.out")
	# The log line names the subject as UTF-8 too.
	case $who in
	bmp) want='\xE7\x89\xAF\xE6\xBD\xB4' subj='/CN=\\xE7\\x89\\xAF\\xE6\\xBD\\xB4' ;;
	*) want='' subj='/CN=alice/CN=root' ;;
	esac
	if grep -q "^got 'hello" "$T/cn$who.out" && grep -q '^ssl_verify=0$' "$T/cn$who.out" && [ "$cn" = "$want" ] &&
	   [ "$(lines "$T/cn$who.log" "accepted TLS.* client $subj verified")" -eq 1 ]; then
		pass "$name"
	else
		fail "$name" "CN sub-TLV '$cn', want '$want'$(show "$T/cn$who.out" "$T/cn$who.sc" "$T/cn$who.err")"
	fi
done

# ---- openssl s_client: TLS 1.2, chosen cipher, certificate, SNI, ALPN ------
name=proxyv2_openssl_s_client_tls12
P=$(free_port)
if start_backend sc "$P" yes; then
	{ wait_for "$T/sc.client" '^ready' 20; printf 'hello\n'; wait_for "$T/sc.client" '^echo hello' 20; } |
		timeout $((30 * TS)) openssl s_client -connect "127.0.0.1:$P" -CAfile "$CERTS/ca.crt" \
			-cert "$CERTS/client.crt" -key "$CERTS/client.key" -tls1_2 \
			-cipher 'ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256' \
			-servername sni.example -alpn h2 >"$T/sc.client" 2>"$T/sc.cerr"
	ci=$(sed -n 's/^New, TLSv1.2, Cipher is //p' "$T/sc.client" | head -n 1)
	al=$(sed -n 's/^ALPN protocol: //p' "$T/sc.client" | head -n 1)
	cat >"$T/$name.want" <<EOW
fionread_header=$(header_len sni.example "$al" tlsshim-client TLSv1.2 "$ci")
family=0x11
src=127.0.0.1:PORT
dst=127.0.0.1:$P
tlv_0x01=$al
tlv_0x02=sni.example
ssl_client=0x07
ssl_verify=0
ssl.tlv_0x21=TLSv1.2
ssl.tlv_0x22=tlsshim-client
ssl.tlv_0x23=$ci
EOW
	wait_exit "$BE" 20
	sed -i 's/^src=127\.0\.0\.1:[0-9][0-9]*$/src=127.0.0.1:PORT/' "$T/sc.out"
	cp "$T/sc.out" "$T/$name.out"
	if [ -n "$ci" ] && [ "$al" = h2 ]; then
		check "$name"
	else
		fail "$name" "s_client: cipher '$ci' ALPN '$al'$(show "$T/sc.client" "$T/sc.cerr")"
	fi
else
	fail "$name" "backend did not listen$(show "$T/sc.err" "$T/sc.log")"
fi

# nocert_case NAME TAG AUTHORITY S_CLIENT-ARGS...: an s_client without a
# certificate or ALPN (TLS 1.3); the header's fields, with AUTHORITY as
# PP2_TYPE_AUTHORITY (none when empty).
nocert_case() {
	name=$1 _t=$2 _au=$3
	shift 3
	P=$(free_port)
	if ! start_backend "$_t" "$P" no; then
		fail "$name" "backend did not listen$(show "$T/$_t.err" "$T/$_t.log")"
		return
	fi
	{ wait_for "$T/$_t.client" '^ready' 20; printf 'hello\n'; wait_for "$T/$_t.client" '^echo hello' 20; } |
		timeout $((30 * TS)) openssl s_client -connect "127.0.0.1:$P" -CAfile "$CERTS/ca.crt" \
			-tls1_3 "$@" >"$T/$_t.client" 2>"$T/$_t.cerr"
	ci=$(sed -n 's/^New, TLSv1.3, Cipher is //p' "$T/$_t.client" | head -n 1)
	{
		echo "fionread_header=$(header_len "$_au" "" "" TLSv1.3 "$ci")"
		echo "family=0x11"
		echo "src=127.0.0.1:PORT"
		echo "dst=127.0.0.1:$P"
		[ -n "$_au" ] && echo "tlv_0x02=$_au"
		echo "ssl_client=0x01"
		echo "ssl_verify=1"
		echo "ssl.tlv_0x21=TLSv1.3"
		echo "ssl.tlv_0x23=$ci"
	} >"$T/$name.want"
	wait_exit "$BE" 20
	sed -i 's/^src=127\.0\.0\.1:[0-9][0-9]*$/src=127.0.0.1:PORT/' "$T/$_t.out"
	cp "$T/$_t.out" "$T/$name.out"
	check "$name"
}

# ---- no certificate, no SNI, no ALPN -----------------------------------------
nocert_case proxyv2_no_cert_no_sni_no_alpn nc "" -noservername

# ---- an SNI with control bytes: printable ASCII in PP2_TYPE_AUTHORITY ------
# A client with no certificate chooses the AUTHORITY a backend may log or
# route by: CR, LF, ESC and a byte over 0x7f each arrive as '?'.
nocert_case proxyv2_sni_control_bytes_as_question_marks ns "evil.example??X-Injected: 1?[2J?" \
	-servername "$(printf 'evil.example\r\nX-Injected: 1\033[2J\377')"

# ---- a refused client: no header, no byte reaches the program --------------
name=proxyv2_refused_client_no_header
P=$(free_port)
if start_backend ref "$P" yes; then
	timeout $((30 * TS)) "$PY" "$CLIENT" "$P" "$CERTS/ca.crt" "$CERTS/client-untrusted.crt" \
		"$CERTS/client-untrusted.key" "proto/1" "ref.example" >"$T/ref.client" 2>&1
	wait_exit "$BE" 20
	if ! grep -q -E '^(fionread_header|family|got )' "$T/ref.out" && grep -q '^error\|Error' "$T/ref.out" "$T/ref.err" &&
	   grep -q 'rule "pp2-in".*certificate' "$T/ref.log" && ! grep -q "^server 'echo" "$T/ref.client"; then
		pass "$name"
	else
		fail "$name" "$(show "$T/ref.out" "$T/ref.err" "$T/ref.log" "$T/ref.client")"
	fi
else
	fail "$name" "backend did not listen$(show "$T/ref.err")"
fi

# ---- tlsshim --check ------------------------------------------------------------
# check_bad NAME LINE REGEX: the policy $T/bad.conf is refused at LINE.
check_bad() {
	out=$("$TLSSHIM_LAUNCHER" --check "$T/bad.conf" 2>&1); rc=$?
	if [ "$rc" -ne 0 ] && echo "$out" | grep -q -E "$T/bad.conf:$2: .*$3"; then
		pass "$1"
	else
		fail "$1" "exit $rc: $out"
	fi
}
cat >"$T/bad.conf" <<EOC
rules = ( { name = "out"; direction = "connect"; port = 443;
            proxy_protocol = "v2"; } );
EOC
check_bad proxyv2_check_connect_rule_refused 2 'proxy_protocol.*only to accept rules'
cat >"$T/bad.conf" <<EOC
rules = ( { name = "in"; direction = "accept"; port = 8080; action = "plain";

            proxy_protocol = "v2"; } );
EOC
check_bad proxyv2_check_plain_rule_refused 3 'proxy_protocol.*action "tls"'
cat >"$T/bad.conf" <<EOC
rules = ( { name = "in"; direction = "accept"; port = 8443;
            cert = "$CERTS/server.crt"; key = "$CERTS/server.key";
            proxy_protocol = "v1"; } );
EOC
check_bad proxyv2_check_bad_value_refused 3 'proxy_protocol.*"none" or "v2"'
cat >"$T/bad.conf" <<EOC
defaults = { proxy_protocol = "v2"; };
rules = ( { name = "in"; direction = "accept"; port = 8443;
            cert = "$CERTS/server.crt"; key = "$CERTS/server.key"; },
          { name = "out"; direction = "connect"; port = 443; } );
EOC
if out=$("$TLSSHIM_LAUNCHER" --check "$T/bad.conf" 2>&1); then
	pass proxyv2_check_defaults_apply_to_accept_tls_only
else
	fail proxyv2_check_defaults_apply_to_accept_tls_only "$out"
fi
