#!/bin/sh
# tests/interop/sni.sh — several certificates on one accept rule, picked
# by the client's SNI (`certs`, `sni_strict`; tlsshim.conf(5)).
#   A shimmed echo_server behind one accept rule with certs for a.test
#   (ECDSA and RSA side by side) and b.test; openssl s_client with
#   -servername a.test / b.test / an unknown name / none: the served
#   certificate's subject is checked (and verified for that name), and the
#   echo comes back.  The key type served follows the client's signature
#   algorithms (-sigalgs ecdsa_secp256r1_sha256 vs rsa_pss_rsae_sha256, and
#   TLS 1.2 ECDHE-ECDSA vs ECDHE-RSA).  curl --resolve a.test/b.test gets
#   the right certificate.  With sni_strict = true an unknown name and a
#   missing one are refused with an unrecognized_name alert, a log line
#   naming the (escaped) name, and no program data crossed; so are they
#   when they offer a session made for a.test (TLS 1.2 and 1.3).  A
#   session from b.test (the second SSL_CTX) resumes (TLS 1.3 and 1.2).
#   tlsshim --check refuses certs with cert, an empty list, an entry
#   without key, a key not matching its cert, with FILE:LINE.
. "$(dirname "$0")/../lib.sh"
. "$TLSSHIM_TOP/tests/preload/common.inc"
need_shim sni_setup
command -v openssl >/dev/null || { fail sni_setup "openssl not installed"; exit 1; }
export TLSSHIM_LOG=info

# An RSA certificate for a.test from the same CA, next to the ECDSA one.
openssl req -new -newkey rsa:2048 -nodes -keyout "$T/a-rsa.key" -subj "/CN=a.test RSA" \
	-out "$T/a-rsa.csr" 2>/dev/null &&
printf 'subjectAltName=DNS:a.test\nextendedKeyUsage=serverAuth\n' >"$T/ext" &&
openssl x509 -req -in "$T/a-rsa.csr" -CA "$CERTS/ca.crt" -CAkey "$CERTS/ca.key" -CAcreateserial \
	-days 2 -extfile "$T/ext" -out "$T/a-rsa.crt" 2>/dev/null ||
	{ fail sni_setup "cannot make the RSA certificate"; exit 1; }

sni_policy() {
	policy "$T/p.conf" <<EOF
rules = (
  { name = "sni-in"; direction = "accept"; port = $1;
    certs = ( { cert = "$CERTS/a-test.crt"; key = "$CERTS/a-test.key"; },
              { cert = "$T/a-rsa.crt"; key = "$T/a-rsa.key"; },
              { cert = "$CERTS/b-test.crt"; key = "$CERTS/b-test.key"; } ); ${2:-} }
);
EOF
}

# srv_case NAME SUBJECT-REGEX KEYTYPE S_CLIENT-ARGS...: one connection to
# a fresh echo_server; the echo comes back, the served leaf's subject
# matches SUBJECT-REGEX and its key is KEYTYPE (EC or RSA).
srv_case() {
	name=$1 subj=$2 ktype=$3
	shift 3
	P=$(free_port)
	sni_policy "$P" "${SNI_EXTRA:-}"
	export TLSSHIM_LOG_FILE="$T/$name.log"
	if ! start_echo "$name" -1 "$P"; then
		fail "$name" "echo_server never listened$(show "$T/$name.err")"; return
	fi
	line="SECRET-$name"
	feed_until "$T/$name.got" "^$line\$" "$line" |
		timeout $((20 * TS)) openssl s_client -connect "127.0.0.1:$P" -CAfile "$CERTS/ca.crt" \
			-showcerts "$@" >"$T/$name.got" 2>"$T/$name.ossl"
	wait_exit "$SRV" 10; rc=$?
	sed -n '/BEGIN CERT/,/END CERT/p' "$T/$name.got" | openssl x509 -noout -subject -text \
		>"$T/$name.leaf" 2>&1
	if ! grep -q "^$line\$" "$T/$name.got"; then
		fail "$name" "no echo$(show "$T/$name.ossl" "$T/$name.err" "$T/$name.log")"
	elif ! grep -q -E -e "^subject=.*$subj" "$T/$name.leaf"; then
		fail "$name" "served certificate is not '$subj'$(show "$T/$name.leaf")"
	elif [ "$ktype" = EC ] && ! grep -q 'Public Key Algorithm: id-ecPublicKey' "$T/$name.leaf"; then
		fail "$name" "expected an ECDSA key$(show "$T/$name.leaf")"
	elif [ "$ktype" = RSA ] && ! grep -q 'Public Key Algorithm: rsaEncryption' "$T/$name.leaf"; then
		fail "$name" "expected an RSA key$(show "$T/$name.leaf")"
	elif [ "$rc" -ne 0 ]; then
		fail "$name" "echo_server exited $rc$(show "$T/$name.err" "$T/$name.log")"
	else
		pass "$name"
	fi
}

srv_case sni_a_test 'CN ?= ?a\.test$' EC -servername a.test -verify_hostname a.test -verify_return_error
srv_case sni_b_test 'CN ?= ?b\.test$' EC -servername b.test -verify_hostname b.test -verify_return_error
srv_case sni_case_blind 'CN ?= ?b\.test$' EC -servername B.TEST
srv_case sni_unknown_gets_first 'CN ?= ?a\.test$' EC -servername nowhere.test
srv_case sni_none_gets_first 'CN ?= ?a\.test$' EC -noservername
srv_case sni_a_rsa_by_sigalgs 'CN ?= ?a\.test RSA$' RSA -servername a.test -sigalgs rsa_pss_rsae_sha256 \
	-verify_hostname a.test -verify_return_error
srv_case sni_a_ecdsa_by_sigalgs 'CN ?= ?a\.test$' EC -servername a.test -sigalgs ecdsa_secp256r1_sha256 \
	-verify_hostname a.test -verify_return_error
srv_case sni_a_rsa_tls12 'CN ?= ?a\.test RSA$' RSA -servername a.test -tls1_2 -cipher ECDHE-RSA-AES128-GCM-SHA256
srv_case sni_a_ecdsa_tls12 'CN ?= ?a\.test$' EC -servername a.test -tls1_2 -cipher ECDHE-ECDSA-AES128-GCM-SHA256

# The rule's other keys hold in the switched SSL_CTX: ALPN, and mutual TLS
# (a client certificate asked for and verified on b.test too).
SNI_EXTRA='alpn = ["h2"];' srv_case sni_b_test_alpn 'CN ?= ?b\.test$' EC -servername b.test -alpn h2
if ! grep -q '^ALPN protocol: h2$' "$T/sni_b_test_alpn.got"; then
	fail sni_b_test_alpn_negotiated "no ALPN h2 on b.test$(show "$T/sni_b_test_alpn.got")"
else
	pass sni_b_test_alpn_negotiated
fi
# mutual TLS on b.test: s_client -quiet (its verify lines name the served
# certificate on stderr), echo back, the client verified by the rule.
name=sni_b_test_mtls
P=$(free_port)
sni_policy "$P" "require_client_cert = true; ca = \"$CERTS/ca.crt\";"
export TLSSHIM_LOG_FILE="$T/$name.log"
if start_echo "$name" -1 "$P"; then
	feed_until "$T/$name.got" "^SECRET-$name\$" "SECRET-$name" |
		timeout $((20 * TS)) openssl s_client -quiet -no_ign_eof -connect "127.0.0.1:$P" -CAfile "$CERTS/ca.crt" \
			-servername b.test -cert "$CERTS/client.crt" -key "$CERTS/client.key" \
			>"$T/$name.got" 2>"$T/$name.ossl"
	wait_exit "$SRV" 10 || true
	if ! grep -q "^SECRET-$name\$" "$T/$name.got"; then
		fail "$name" "no echo$(show "$T/$name.ossl" "$T/$name.log")"
	elif ! grep -q -E '^depth=0 .*CN ?= ?b\.test$' "$T/$name.ossl"; then
		fail "$name" "b.test not served$(show "$T/$name.ossl")"
	elif ! grep -q 'accepted TLS.*client .*tlsshim-client.* verified' "$T/$name.log"; then
		fail "$name" "the log does not show the client verified$(show "$T/$name.log")"
	else
		pass "$name"
	fi
else
	fail "$name" "echo_server never listened"
fi

# ---- resumption across the switched contexts -------------------------------
# A session from b.test (the second SSL_CTX) resumes on b.test: the
# tickets are the rule's, whichever certificate served.
for v in tls1_3 tls1_2; do
	name=sni_resume_b_test_$v
	P=$(free_port)
	sni_policy "$P"
	export TLSSHIM_LOG_FILE="$T/$name.log"
	if ! start_echo "$name" "$P"; then
		fail "$name" "echo_server never listened$(show "$T/$name.err")"; continue
	fi
	for i in 1 2; do
		if [ $i = 1 ]; then sess="-sess_out $T/$name.sess"; else sess="-sess_in $T/$name.sess"; fi
		# shellcheck disable=SC2086
		feed_until "$T/$name.$i.got" "^SECRET-$name-$i\$" "SECRET-$name-$i" |
			timeout $((20 * TS)) openssl s_client -connect "127.0.0.1:$P" -CAfile "$CERTS/ca.crt" \
				-servername b.test -verify_hostname b.test -verify_return_error -"$v" $sess \
				>"$T/$name.$i.got" 2>"$T/$name.$i.ossl"
	done
	kill "$SRV" 2>/dev/null; wait_exit "$SRV" 10 || true
	if ! grep -q "^SECRET-$name-2\$" "$T/$name.2.got" || ! grep -q '^Reused, ' "$T/$name.2.got"; then
		fail "$name" "second connection not resumed$(show "$T/$name.2.got" "$T/$name.log")"
	elif ! grep -q '^subject=.*b\.test' "$T/$name.1.got"; then
		fail "$name" "first connection not served b.test$(show "$T/$name.1.got")"
	elif [ "$(lines "$T/$name.log" 'accepted TLS.*session resumed')" -ne 1 ]; then
		fail "$name" "expected one resumed line in the log$(show "$T/$name.log")"
	else
		pass "$name"
	fi
done

# ---- curl --resolve ----------------------------------------------------------
if command -v curl >/dev/null; then
	for host in a.test b.test; do
		name="sni_curl_$(echo "$host" | tr . _)"
		P=$(free_port)
		sni_policy "$P"
		export TLSSHIM_LOG_FILE="$T/$name.log"
		if ! start_echo "$name" -1 -c "$P"; then
			fail "$name" "echo_server never listened$(show "$T/$name.err")"; continue
		fi
		# The one-shot echo answers curl's request with itself.
		timeout $((20 * TS)) curl -sS --http1.1 --cacert "$CERTS/ca.crt" --resolve "$host:$P:127.0.0.1" \
			-o "$T/$name.body" -w '%{http_code}' "https://$host:$P/SECRET-$name" \
			>"$T/$name.code" 2>"$T/$name.curl"
		wait_exit "$SRV" 10
		# curl verified the certificate for $host; an echo is not HTTP,
		# so curl may complain about the answer, never about TLS.
		if grep -q -i -E 'SSL|certificate' "$T/$name.curl"; then
			fail "$name" "curl's TLS failed$(show "$T/$name.curl" "$T/$name.log")"
		elif ! grep -q "GET /SECRET-$name" "$T/$name.out" "$T/$name.body" "$T/$name.curl" 2>/dev/null &&
		     ! grep -q "accepted TLS" "$T/$name.log"; then
			fail "$name" "no TLS connection$(show "$T/$name.curl" "$T/$name.log")"
		else
			pass "$name"
		fi
	done
else
	fail sni_curl "curl not installed"
fi

# ---- sni_strict ----------------------------------------------------------------
# strict_case NAME EXPECT-LOG-REGEX S_CLIENT-ARGS...
strict_case() {
	name=$1 want=$2
	shift 2
	P=$(free_port)
	sni_policy "$P" 'sni_strict = true;'
	export TLSSHIM_LOG_FILE="$T/$name.log"
	if ! start_echo "$name" -1 "$P"; then
		fail "$name" "echo_server never listened$(show "$T/$name.err")"; return
	fi
	line="SECRET-$name"
	(printf '%s\n' "$line"; wait_for "$T/$name.err" 'read:' 10) |
		timeout $((20 * TS)) openssl s_client -connect "127.0.0.1:$P" -CAfile "$CERTS/ca.crt" \
			"$@" >"$T/$name.got" 2>"$T/$name.ossl"
	wait_exit "$SRV" 10; rc=$?
	if grep -q SECRET "$T/$name.got" "$T/$name.out"; then
		fail "$name" "data crossed"
	elif [ "$rc" -ne 1 ]; then
		fail "$name" "expected the program's read to fail; exit $rc$(show "$T/$name.err" "$T/$name.log")"
	elif [ "$(lines "$T/$name.log" "$want")" -ne 1 ]; then
		fail "$name" "expected one log line '$want'$(show "$T/$name.log")"
	elif ! grep -q -i 'unrecognized name' "$T/$name.ossl"; then
		fail "$name" "s_client did not report an unrecognized_name alert$(show "$T/$name.ossl")"
	else
		pass "$name"
	fi
}

strict_case sni_strict_unknown_refused 'unknown server name "nowhere\.test" refused \(sni_strict' \
	-servername nowhere.test
strict_case sni_strict_no_sni_refused 'client sent no server name \(SNI\) and sni_strict refuses it' \
	-noservername
strict_case sni_strict_escaped 'unknown server name "evil\\x22\\x5cname\.test" refused' \
	-servername 'evil"\name.test'
# and a known name still gets through under sni_strict
name=sni_strict_known_ok
P=$(free_port)
sni_policy "$P" 'sni_strict = true;'
export TLSSHIM_LOG_FILE="$T/$name.log"
if start_echo "$name" -1 "$P"; then
	feed_until "$T/$name.got" "^SECRET-$name\$" "SECRET-$name" |
		timeout $((20 * TS)) openssl s_client -connect "127.0.0.1:$P" -CAfile "$CERTS/ca.crt" \
			-servername b.test -verify_hostname b.test -verify_return_error >"$T/$name.got" 2>"$T/$name.ossl"
	wait_exit "$SRV" 10
	if grep -q "^SECRET-$name\$" "$T/$name.got"; then pass "$name"
	else fail "$name" "no echo$(show "$T/$name.ossl" "$T/$name.log")"; fi
else
	fail "$name" "echo_server never listened"
fi

# ---- sni_strict on a resumed session -------------------------------------------
# A session made for a.test, offered with another name or none: refused
# as a full handshake is.  OpenSSL resumes a TLS 1.2 session under the
# name stored in it, whatever the client sends now, so the rule judges
# the name the ClientHello carries (policy/sni.c).  The same session
# offered for a.test resumes: the refusals are not for want of a session.
for v in tls1_2 tls1_3; do
	name=sni_strict_resumed_session_other_name_$v
	P=$(free_port)
	sni_policy "$P" 'sni_strict = true;'
	export TLSSHIM_LOG_FILE="$T/$name.log"
	if ! start_echo "$name" "$P"; then
		fail "$name" "echo_server never listened$(show "$T/$name.err")"; continue
	fi
	rm -f "$T/$name.sess"
	feed_until "$T/$name.1.got" "^SECRET-$name-1\$" "SECRET-$name-1" |
		timeout $((20 * TS)) openssl s_client -connect "127.0.0.1:$P" -CAfile "$CERTS/ca.crt" -"$v" \
			-servername a.test -verify_hostname a.test -verify_return_error -sess_out "$T/$name.sess" \
			>"$T/$name.1.got" 2>"$T/$name.1.ossl"
	i=1
	for how in "-servername nowhere.test" -noservername; do
		i=$((i + 1))
		# shellcheck disable=SC2086
		printf 'SECRET-%s-%s\n' "$name" "$i" |
			timeout $((20 * TS)) openssl s_client -connect "127.0.0.1:$P" -CAfile "$CERTS/ca.crt" -"$v" \
				$how -sess_in "$T/$name.sess" >"$T/$name.$i.got" 2>"$T/$name.$i.ossl"
	done
	feed_until "$T/$name.4.got" "^SECRET-$name-4\$" "SECRET-$name-4" |
		timeout $((20 * TS)) openssl s_client -connect "127.0.0.1:$P" -CAfile "$CERTS/ca.crt" -"$v" \
			-servername a.test -sess_in "$T/$name.sess" >"$T/$name.4.got" 2>"$T/$name.4.ossl"
	kill "$SRV" 2>/dev/null; wait_exit "$SRV" 10 || true
	if ! grep -q "^SECRET-$name-1\$" "$T/$name.1.got" || [ ! -s "$T/$name.sess" ]; then
		fail "$name" "no first session$(show "$T/$name.1.got" "$T/$name.1.ossl" "$T/$name.log")"
	elif grep -q -E "SECRET-$name-[23]" "$T/$name.out" "$T/$name.2.got" "$T/$name.3.got"; then
		fail "$name" "data crossed$(show "$T/$name.log")"
	elif grep -q '^Reused, ' "$T/$name.2.got" "$T/$name.3.got" ||
	     ! grep -q -i 'unrecognized name' "$T/$name.2.ossl" || ! grep -q -i 'unrecognized name' "$T/$name.3.ossl"; then
		fail "$name" "expected unrecognized_name for both$(show "$T/$name.2.got" "$T/$name.2.ossl" "$T/$name.3.ossl")"
	elif [ "$(lines "$T/$name.log" 'unknown server name "nowhere\.test" refused \(sni_strict')" -ne 1 ] ||
	     [ "$(lines "$T/$name.log" 'client sent no server name \(SNI\) and sni_strict refuses it')" -ne 1 ]; then
		fail "$name" "expected the two refusals in the log$(show "$T/$name.log")"
	elif ! grep -q "^SECRET-$name-4\$" "$T/$name.4.got" || ! grep -q '^Reused, ' "$T/$name.4.got" ||
	     [ "$(lines "$T/$name.log" 'accepted TLS.*session resumed')" -ne 1 ]; then
		fail "$name" "the session did not resume for a.test$(show "$T/$name.4.got" "$T/$name.log")"
	else
		pass "$name"
	fi
done

# ---- tlsshim --check -------------------------------------------------------------
# check_case NAME EXPECT-REGEX: the policy on stdin is refused with it.
check_case() {
	name=$1 want=$2
	cat >"$T/$name.conf"
	if "$TLSSHIM_LAUNCHER" --check "$T/$name.conf" >"$T/$name.chk" 2>&1; then
		fail "$name" "--check accepted it"
	elif ! grep -q -E -e "$want" "$T/$name.chk"; then
		fail "$name" "expected '$want'$(show "$T/$name.chk")"
	else
		pass "$name"
	fi
}
A="cert = \"$CERTS/a-test.crt\"; key = \"$CERTS/a-test.key\";"
check_case sni_check_with_cert "$T/sni_check_with_cert.conf:3: .*\"certs\" and \"cert\" exclude each other" <<EOF
rules = ( { direction = "accept"; port = 1;
  cert = "$CERTS/b-test.crt"; key = "$CERTS/b-test.key";
  certs = ( { $A } ); } );
EOF
check_case sni_check_empty "$T/sni_check_empty.conf:2: .*\"certs\" must not be an empty list" <<EOF
rules = ( { direction = "accept"; port = 1;
  certs = ( ); } );
EOF
check_case sni_check_no_key "$T/sni_check_no_key.conf:3: .*\"certs\" entry 2 has no \"key\"" <<EOF
rules = ( { direction = "accept"; port = 1;
  certs = ( { $A },
            { cert = "$CERTS/b-test.crt"; } ); } );
EOF
check_case sni_check_mismatch "$T/sni_check_mismatch.conf:4: .*\"certs\" entry 2: key does not match certificate" <<EOF
rules = ( { direction = "accept"; port = 1;
  certs = ( { $A },
            { cert = "$CERTS/b-test.crt";
              key = "$CERTS/a-test.key"; } ); } );
EOF
check_case sni_check_strict_alone "$T/sni_check_strict_alone.conf:2: .*\"sni_strict\" needs \"certs\"" <<EOF
rules = ( { direction = "accept"; port = 1; $A
  sni_strict = true; } );
EOF
check_case sni_check_connect "$T/sni_check_connect.conf:2: .*\"certs\" applies only to accept rules" <<EOF
rules = ( { direction = "connect"; port = 1;
  certs = ( { $A } ); } );
EOF
check_case sni_check_same_type "$T/sni_check_same_type.conf:3: .*entry 2: same names and key type as entry 1" <<EOF
rules = ( { direction = "accept"; port = 1;
  certs = ( { $A },
            { cert = "$CERTS/a-test.crt"; key = "$CERTS/a-test.key"; } ); } );
EOF
# One defaults for every rule: certs and sni_strict there are not forced on
# a rule with its own cert (nor on connect rules); a rule's own certs
# replace a cert from defaults.
name=sni_check_defaults_inherit
cat >"$T/$name.conf" <<EOF
defaults = { certs = ( { $A } ); sni_strict = true; };
rules = ( { name = "own-cert"; direction = "accept"; port = 1;
            cert = "$CERTS/b-test.crt"; key = "$CERTS/b-test.key"; },
          { name = "from-defaults"; direction = "accept"; port = 2; },
          { name = "out"; direction = "connect"; port = 3; } );
EOF
cat >"$T/$name.2.conf" <<EOF
defaults = { cert = "$CERTS/b-test.crt"; key = "$CERTS/b-test.key"; };
rules = ( { direction = "accept"; port = 1; certs = ( { $A } ); } );
EOF
if ! "$TLSSHIM_LAUNCHER" --check "$T/$name.conf" >"$T/$name.chk" 2>&1; then
	fail "$name" "--check refused it$(show "$T/$name.chk")"
elif ! "$TLSSHIM_LAUNCHER" --check "$T/$name.2.conf" >"$T/$name.2.chk" 2>&1; then
	fail "$name" "--check refused own certs under a defaults cert$(show "$T/$name.2.chk")"
else
	pass "$name"
fi
