#!/bin/sh
# tests/interop/ocsp.sh — OCSP: `ocsp_staple_file` on accept rules and
# `ocsp` on connect rules, against OpenSSL's and GnuTLS's peers.
#
# A CA of the test's own (openssl ca, an index file), a server certificate,
# a revoked one, an OCSP responder (OCSPSigning), a rogue responder (another
# CA) and a certificate of the CA without OCSPSigning.  Responses are made
# by `openssl ocsp -index ... -respout` (good, revoked, wrong signer) and by
# tests/interop/py/ocsp_resp.py (an expired one: openssl cannot backdate).
#
# Server: openssl s_client -status (TLS 1.2 and 1.3) and gnutls-cli
# --save-ocsp get exactly the staple file's response, curl --cert-status
# accepts it (and finds none from a server whose staple expired); a
# revoked certificate's response is stapled with a warning; a new file is served
# on new connections; a broken replacement keeps the old one and is logged
# once; an expired staple is not sent (logged once); with certs, each entry
# has its own staple.
# Client: openssl s_server -status_file with good, revoked, wrongly signed,
# expired and no staple to the shimmed client: require+good carries data
# both ways (TLS 1.2, 1.3, and a resumed TLS 1.3 session), require+none is
# refused, if_stapled+none goes through, revoked/forged/expired are refused
# in both modes.  Each refusal: its log line, and no program data crossed.
# Reload (a changed ca file rebuilds the context): a connect rule's
# ocsp = "require" still refuses a server without a staple and accepts a
# good one, in the same process; an accept rule still staples.
# tlsshim --check: FILE:LINE errors for wrong values and combinations.
. "$(dirname "$0")/../lib.sh"
. "$TLSSHIM_TOP/tests/preload/common.inc"
need_shim ocsp_setup
command -v openssl >/dev/null || { fail ocsp_setup "openssl not installed"; exit 1; }

# --- the CA's work ------------------------------------------------------------
C=$T/ca
mkdir -p "$C/new"
: >"$C/index.txt"
cat >"$C/ca.cnf" <<EOF
[ ca ]
default_ca = test_ca
[ test_ca ]
database = $C/index.txt
new_certs_dir = $C/new
certificate = $C/ca.crt
private_key = $C/ca.key
default_md = sha256
policy = any_cn
unique_subject = no
rand_serial = yes
[ any_cn ]
commonName = supplied
[ req ]
distinguished_name = dn
[ dn ]
[ ca_ext ]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[ server_ext ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, IP:127.0.0.1
[ b_ext ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:b.test
[ ocsp_ext ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = OCSPSigning
EOF
newkey() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>>"$C/log"; }
# mkcert NAME CN EXT: a certificate of the test CA (in its index: status V).
mkcert() {
	newkey "$T/$1.key" &&
	openssl req -new -key "$T/$1.key" -subj "/CN=$2" -config "$C/ca.cnf" -out "$T/$1.csr" 2>>"$C/log" &&
	openssl ca -batch -config "$C/ca.cnf" -extensions "$3" -days 30 -notext -in "$T/$1.csr" \
		-out "$T/$1.crt" >>"$C/log" 2>&1
}
# respond CERT SIGNER-CERT SIGNER-KEY OUT [DAYS]: the CA's answer for CERT
# from the index, as its responder would give it.
respond() {
	openssl ocsp -index "$C/index.txt" -CA "$C/ca.crt" -rsigner "$2" -rkey "$3" \
		-issuer "$C/ca.crt" -cert "$1" -respout "$4" -ndays "${5:-1}" >>"$C/log" 2>&1
}
if ! newkey "$C/ca.key" ||
	! openssl req -x509 -new -key "$C/ca.key" -subj "/CN=tlsshim OCSP test CA" -days 30 \
		-config "$C/ca.cnf" -extensions ca_ext -out "$C/ca.crt" >>"$C/log" 2>&1 ||
	! mkcert server localhost server_ext || ! mkcert revoked localhost server_ext ||
	! mkcert b b.test b_ext || ! mkcert responder "tlsshim OCSP responder" ocsp_ext ||
	! mkcert plain "not a responder" server_ext ||
	! openssl ca -config "$C/ca.cnf" -revoke "$T/revoked.crt" -crl_reason keyCompromise >>"$C/log" 2>&1 ||
	! newkey "$T/rogue.key" ||
	! openssl req -x509 -new -key "$T/rogue.key" -subj "/CN=rogue responder" -days 30 \
		-config "$C/ca.cnf" -out "$T/rogue.crt" >>"$C/log" 2>&1; then
	fail ocsp_setup "openssl failed to make the certificates$(show "$C/log")"; exit 1
fi
# The server's file holds its chain (the issuer is needed for the CertID).
cat "$T/server.crt" "$C/ca.crt" >"$T/server-chain.crt"
cat "$T/revoked.crt" "$C/ca.crt" >"$T/revoked-chain.crt"
cat "$T/b.crt" "$C/ca.crt" >"$T/b-chain.crt"
R="$T/responder.crt $T/responder.key"
# shellcheck disable=SC2086
if ! respond "$T/server.crt" $R "$T/good.der" 1 || ! respond "$T/server.crt" $R "$T/good2.der" 2 ||
	! respond "$T/revoked.crt" $R "$T/revoked.der" || ! respond "$T/b.crt" $R "$T/b.der" ||
	! respond "$T/server.crt" "$T/rogue.crt" "$T/rogue.key" "$T/rogue.der" ||
	! respond "$T/server.crt" "$T/plain.crt" "$T/plain.key" "$T/plain.der" ||
	! "$PY" "$TLSSHIM_TOP/tests/interop/py/ocsp_resp.py" "$T/server.crt" "$C/ca.crt" $R \
		-172800 -86400 "$T/expired.der" >>"$C/log" 2>&1 ||
	! "$PY" "$TLSSHIM_TOP/tests/interop/py/ocsp_resp.py" "$T/server.crt" "$C/ca.crt" $R \
		-90000 none "$T/old-nonext.der" >>"$C/log" 2>&1 ||
	! "$PY" "$TLSSHIM_TOP/tests/interop/py/ocsp_resp.py" "$T/server.crt" "$C/ca.crt" $R \
		-60 none "$T/fresh-nonext.der" >>"$C/log" 2>&1; then
	fail ocsp_setup "cannot make the OCSP responses$(show "$C/log")"; exit 1
fi
# openssl's own view of them.
# shellcheck disable=SC2086
if ! openssl ocsp -respin "$T/good.der" -no_nonce -CAfile "$C/ca.crt" -issuer "$C/ca.crt" -cert "$T/server.crt" 2>&1 |
		grep -q ': good$' ||
	! openssl ocsp -respin "$T/revoked.der" -no_nonce -CAfile "$C/ca.crt" -issuer "$C/ca.crt" -cert "$T/revoked.crt" 2>&1 |
		grep -q ': revoked$'; then
	fail ocsp_setup "openssl ocsp disagrees with the responses"; exit 1
fi
# nonce FILE: what tells two responses apart (each request had its nonce).
nonce() { grep -A1 'OCSP Nonce' "$1" | tail -n 1 | tr -d ' \t'; }
openssl ocsp -respin "$T/good.der" -resp_text -noverify >"$T/good.txt" 2>&1
openssl ocsp -respin "$T/good2.der" -resp_text -noverify >"$T/good2.txt" 2>&1
GOOD=$(nonce "$T/good.txt") GOOD2=$(nonce "$T/good2.txt")
if [ -z "$GOOD" ] || [ "$GOOD" = "$GOOD2" ]; then
	fail ocsp_setup "cannot tell the two good responses apart ($GOOD, $GOOD2)"; exit 1
fi
export TLSSHIM_LOG=info

# --- the shimmed server ----------------------------------------------------------
# sclient NAME [ARGS...]: one openssl s_client -status connection to $SP that
# sends a line and waits for its echo; output in $T/NAME.sc.
sclient() {
	_n=$1; shift
	_line="hello-$_n"
	feed_until "$T/$_n.sc" "^$_line\$" "$_line" |
		timeout $((20 * TS)) openssl s_client -connect "127.0.0.1:$SP" -servername localhost -status \
			-CAfile "$C/ca.crt" "$@" >"$T/$_n.sc" 2>&1
	grep -q "^$_line\$" "$T/$_n.sc"
}

SP=$(free_port)
policy "$T/server.conf" <<EOF
rules = ( { name = "ocsp-in"; direction = "accept"; port = $SP;
  cert = "$T/server-chain.crt"; key = "$T/server.key"; ocsp_staple_file = "$T/staple.der"; } );
EOF
cp "$T/good.der" "$T/staple.der"
export TLSSHIM_LOG_FILE="$T/server.log"
if ! start_echo server -c "$SP"; then
	fail server_setup "echo_server never listened$(show "$T/server.err" "$T/server.log")"; exit 1
fi

for v in 1_2 1_3; do
	name=server_staples_good_tls$v
	if ! sclient "$name" "-tls$v"; then
		fail "$name" "no echo$(show "$T/$name.sc" "$T/server.log")"
	elif ! grep -q 'OCSP Response Status: successful' "$T/$name.sc" || ! grep -q 'Cert Status: good' "$T/$name.sc"; then
		fail "$name" "s_client saw no good OCSP response$(show "$T/$name.sc")"
	elif [ "$(nonce "$T/$name.sc")" != "$GOOD" ]; then
		fail "$name" "not the staple file's response (nonce $(nonce "$T/$name.sc"), want $GOOD)"
	elif ! grep -q "Protocol *: TLSv$(echo "$v" | tr _ .)" "$T/$name.sc"; then
		fail "$name" "wrong protocol$(show "$T/$name.sc")"
	else
		pass "$name"
	fi
done

# A client that does not ask gets no status (and the connection works).
name=server_no_status_unless_asked
line="hello-$name"
feed_until "$T/$name.sc" "^$line\$" "$line" |
	timeout $((20 * TS)) openssl s_client -connect "127.0.0.1:$SP" -CAfile "$C/ca.crt" >"$T/$name.sc" 2>&1
if grep -q "^$line\$" "$T/$name.sc" && ! grep -q -e 'OCSP response:' -e 'OCSP Response Data' "$T/$name.sc"; then
	pass "$name"
else
	fail "$name" "expected an echo and no OCSP response$(show "$T/$name.sc")"
fi

if command -v gnutls-cli >/dev/null; then
	name=server_staple_gnutls
	rm -f "$T/gnutls.der"
	feed_until "$T/$name.out" "^hello-gnutls\$" "hello-gnutls" |
		timeout $((20 * TS)) gnutls-cli --x509cafile "$C/ca.crt" --ocsp --save-ocsp="$T/gnutls.der" \
			-p "$SP" localhost >"$T/$name.out" 2>&1
	if ! grep -q '^hello-gnutls$' "$T/$name.out"; then
		fail "$name" "no echo$(show "$T/$name.out")"
	elif ! cmp -s "$T/gnutls.der" "$T/good.der"; then
		fail "$name" "gnutls-cli did not receive the staple file's response$(show "$T/$name.out")"
	else
		pass "$name"
	fi
fi

# curl --cert-status: verifies the stapled response itself (OpenSSL).
if command -v curl >/dev/null; then
	name=server_staple_curl_cert_status
	timeout $((20 * TS)) curl -sS --cacert "$C/ca.crt" --cert-status --http0.9 "https://localhost:$SP/" \
		>"$T/$name.out" 2>&1
	rc=$?
	if [ $rc -eq 0 ] && grep -q '^GET / HTTP/1.1' "$T/$name.out"; then
		pass "$name"
	else
		fail "$name" "curl exit $rc$(show "$T/$name.out" "$T/server.log")"
	fi
fi

# Reload: a new file (renamed over the old one) is served on new
# connections; the shim looks at most once a second, so try a few times.
# until_nonce NAME WANT: connections until one shows WANT (bounded).
until_nonce() {
	_i=0
	while [ $_i -lt $((20 * TS)) ]; do
		sclient "$1-$_i" -tls1_3 >/dev/null
		[ "$(nonce "$T/$1-$_i.sc")" = "$2" ] && return 0
		_i=$((_i + 1))
		sleep 0.25
	done
	return 1
}
cp "$T/good2.der" "$T/staple.new" && mv "$T/staple.new" "$T/staple.der"
name=server_staple_reloaded
if ! until_nonce "$name" "$GOOD2"; then
	fail "$name" "the new staple was never served$(show "$T/server.log")"
elif [ "$(lines "$T/server.log" "rule \"ocsp-in\": OCSP staple \"$T/staple.der\" loaded")" -ne 1 ]; then
	fail "$name" "expected one 'OCSP staple ... loaded' line$(show "$T/server.log")"
else
	pass "$name"
fi

# poke_until_log NAME REGEX: connections until the server's log has a line
# matching REGEX (the shim reads the file at an accept, at most once a
# second; bounded).
poke_until_log() {
	_i=0
	while ! grep -q -E -e "$2" "$T/server.log" && [ $_i -lt $((20 * TS)) ]; do
		sclient "$1-$_i" -tls1_3 >/dev/null
		_i=$((_i + 1))
		sleep 0.25
	done
	grep -q -E -e "$2" "$T/server.log"
}

# A broken replacement: the previous response stays, one log line.
printf 'not an OCSP response\n' >"$T/staple.new" && mv "$T/staple.new" "$T/staple.der"
name=server_broken_staple_keeps_old
if ! poke_until_log "$name-poke" 'OCSP staple .*is not a DER OCSP response.*still stapling the previous response'; then
	fail "$name" "no log line for the broken staple$(show "$T/server.log")"
else
	# More connections over more than two seconds: still the old
	# response, and still one line.
	start=$(date +%s) i=0 ok=1
	while [ $(($(date +%s) - start)) -lt 3 ] && [ $i -lt 40 ]; do
		sclient "$name-$i" -tls1_2 || ok=0
		[ "$(nonce "$T/$name-$i.sc")" = "$GOOD2" ] || ok=0
		i=$((i + 1))
		sleep 0.3
	done
	if [ $ok -ne 1 ]; then
		fail "$name" "a connection did not get the previous response$(show "$T/$name-$((i - 1)).sc")"
	elif [ "$(lines "$T/server.log" 'OCSP staple .*is not a DER OCSP response')" -ne 1 ]; then
		fail "$name" "expected exactly one line about the broken file$(show "$T/server.log")"
	else
		pass "$name"
	fi
fi

# The good file back: served again.
cp "$T/good.der" "$T/staple.new" && mv "$T/staple.new" "$T/staple.der"
name=server_staple_after_broken
if until_nonce "$name" "$GOOD"; then pass "$name"; else fail "$name" "never served$(show "$T/server.log")"; fi

# An expired replacement: not served (the old one stays), one line.
cp "$T/expired.der" "$T/staple.new" && mv "$T/staple.new" "$T/staple.der"
name=server_expired_replacement_not_served
if ! poke_until_log "$name-poke" 'OCSP staple .*has expired.*still stapling the previous response'; then
	fail "$name" "no log line for the expired staple$(show "$T/server.log")"
elif ! sclient "$name" -tls1_3 || [ "$(nonce "$T/$name.sc")" != "$GOOD" ]; then
	fail "$name" "the previous response is not served$(show "$T/$name.sc")"
elif [ "$(lines "$T/server.log" 'OCSP staple .*has expired')" -ne 1 ]; then
	fail "$name" "expected one line about the expired file$(show "$T/server.log")"
else
	pass "$name"
fi
stop "$SRV"
if grep -q ': error: ' "$T/server.log"; then
	fail server_log_clean "unexpected error lines$(show "$T/server.log")"
fi

# Expired from the start: nothing stapled, one line however many connections.
SP=$(free_port)
policy "$T/expired.conf" <<EOF
rules = ( { name = "ocsp-old"; direction = "accept"; port = $SP;
  cert = "$T/server-chain.crt"; key = "$T/server.key"; ocsp_staple_file = "$T/expired.der"; } );
EOF
export TLSSHIM_LOG_FILE="$T/expired.log"
name=server_expired_staple_not_sent
if ! start_echo expired -c "$SP"; then
	fail "$name" "echo_server never listened$(show "$T/expired.err" "$T/expired.log")"
else
	ok=1 i=0 start=$(date +%s)
	while [ $i -lt 3 ] || { [ $(($(date +%s) - start)) -lt 2 ] && [ $i -lt 40 ]; }; do
		sclient "$name-$i" || ok=0
		grep -q 'OCSP response: no response sent' "$T/$name-$i.sc" || ok=0
		i=$((i + 1))
		sleep 0.3
	done
	timeout $((20 * TS)) curl -sS --cacert "$C/ca.crt" --cert-status --http0.9 "https://localhost:$SP/" \
		>"$T/$name.curl" 2>&1
	crc=$?
	if [ $ok -ne 1 ]; then
		fail "$name" "expected an echo and no OCSP response$(show "$T/$name-$((i - 1)).sc")"
	elif command -v curl >/dev/null && { [ $crc -eq 0 ] || ! grep -q -i 'no OCSP response' "$T/$name.curl"; }; then
		fail "$name" "curl --cert-status should find no staple; exit $crc$(show "$T/$name.curl")"
	elif [ "$(lines "$T/expired.log" "rule \"ocsp-old\": OCSP staple \"$T/expired.der\" has expired .*no response is stapled")" -ne 1 ]; then
		fail "$name" "expected one log line$(show "$T/expired.log")"
	else
		pass "$name"
	fi
	stop "$SRV"
fi

# No nextUpdate, thisUpdate 25 hours ago: older than the 24 hours such a
# response is used for; not sent, one line (the old library stapled it).
SP=$(free_port)
policy "$T/nonext.conf" <<EOF
rules = ( { name = "ocsp-nonext"; direction = "accept"; port = $SP;
  cert = "$T/server-chain.crt"; key = "$T/server.key"; ocsp_staple_file = "$T/old-nonext.der"; } );
EOF
export TLSSHIM_LOG_FILE="$T/nonext.log"
name=server_old_staple_without_next_update_not_sent
if ! start_echo nonext -c "$SP"; then
	fail "$name" "echo_server never listened$(show "$T/nonext.err" "$T/nonext.log")"
else
	if ! sclient "$name" || ! grep -q 'OCSP response: no response sent' "$T/$name.sc"; then
		fail "$name" "expected an echo and no OCSP response$(show "$T/$name.sc")"
	elif [ "$(lines "$T/nonext.log" "rule \"ocsp-nonext\": OCSP staple \"$T/old-nonext.der\" has no nextUpdate and is older than 24 hours \(thisUpdate [0-9-]+ [0-9:]+ UTC\); no response is stapled")" -ne 1 ]; then
		fail "$name" "expected one log line$(show "$T/nonext.log")"
	else
		pass "$name"
	fi
	stop "$SRV"
fi

# Not valid yet (thisUpdate 305 s ahead, 5 minutes of skew allowed): not
# sent, one line; read again at each look, and stapled once it is valid.
# shellcheck disable=SC2086
"$PY" "$TLSSHIM_TOP/tests/interop/py/ocsp_resp.py" "$T/server.crt" "$C/ca.crt" $R 305 86400 "$T/soon.der"
SP=$(free_port)
policy "$T/soon.conf" <<EOF
rules = ( { name = "ocsp-soon"; direction = "accept"; port = $SP;
  cert = "$T/server-chain.crt"; key = "$T/server.key"; ocsp_staple_file = "$T/soon.der"; } );
EOF
export TLSSHIM_LOG_FILE="$T/soon.log"
name=server_not_yet_valid_staple_served_later
openssl ocsp -respin "$T/soon.der" -resp_text -noverify >"$T/soon.txt" 2>&1
if ! start_echo soon -c "$SP"; then
	fail "$name" "echo_server never listened$(show "$T/soon.err" "$T/soon.log")"
else
	sclient "$name-0"
	first=$(grep -c 'OCSP response: no response sent' "$T/$name-0.sc")
	i=1
	while [ $i -lt $((40 * TS)) ] && ! grep -q 'Cert Status: good' "$T/$name-$((i - 1)).sc"; do
		sclient "$name-$i"
		i=$((i + 1))
		sleep 0.25
	done
	if [ "$first" -ne 1 ]; then
		fail "$name" "the first client got a response$(show "$T/$name-0.sc")"
	elif ! grep -q 'Cert Status: good' "$T/$name-$((i - 1)).sc"; then
		fail "$name" "never stapled$(show "$T/soon.log")"
	elif [ "$(lines "$T/soon.log" 'OCSP staple .*is not valid yet')" -ne 1 ] ||
		[ "$(lines "$T/soon.log" 'OCSP staple .*loaded')" -ne 1 ]; then
		fail "$name" "expected one 'not valid yet' and one 'loaded' line$(show "$T/soon.log")"
	else
		pass "$name"
	fi
	stop "$SRV"
fi

# certs: each entry has its own staple; b.test has none.
SP=$(free_port)
policy "$T/sni.conf" <<EOF
rules = ( { name = "ocsp-sni"; direction = "accept"; port = $SP;
  certs = ( { cert = "$T/server-chain.crt"; key = "$T/server.key"; ocsp_staple_file = "$T/good.der"; },
            { cert = "$T/b-chain.crt"; key = "$T/b.key"; } ); } );
EOF
export TLSSHIM_LOG_FILE="$T/sni.log"
if ! start_echo sni "$SP"; then
	fail server_sni_staples "echo_server never listened$(show "$T/sni.err" "$T/sni.log")"
else
	name=server_sni_staple_per_cert
	sclient "$name-a" -servername localhost; a=$?
	sclient "$name-b" -servername b.test; b=$?
	if [ $a -ne 0 ] || [ $b -ne 0 ]; then
		fail "$name" "no echo$(show "$T/$name-a.sc" "$T/$name-b.sc")"
	elif [ "$(nonce "$T/$name-a.sc")" != "$GOOD" ]; then
		fail "$name" "localhost did not get its staple$(show "$T/$name-a.sc")"
	elif ! grep -q 'OCSP response: no response sent' "$T/$name-b.sc" || ! grep -q 'CN *= *b.test' "$T/$name-b.sc"; then
		fail "$name" "b.test: expected its certificate and no staple$(show "$T/$name-b.sc")"
	else
		pass "$name"
	fi
	stop "$SRV"
fi

# A threaded server: handshakes (status callbacks) run in the connection
# threads while the accepting thread swaps responses in; every client of
# three batches of 12 at once gets one of the two good responses.
SP=$(free_port)
cp "$T/good.der" "$T/tstaple.der"
policy "$T/threads.conf" <<EOF
rules = ( { name = "ocsp-thr"; direction = "accept"; port = $SP;
  cert = "$T/server-chain.crt"; key = "$T/server.key"; ocsp_staple_file = "$T/tstaple.der"; } );
EOF
export TLSSHIM_LOG_FILE="$T/threads.log"
name=server_threads_staple_while_reloading
shimbg "$PROGS/thread_server" "$SP" 36 >"$T/threads.out" 2>"$T/threads.err"
TSRV=$!
if ! wait_for "$T/threads.out" '^listening' 10; then
	fail "$name" "thread_server never listened$(show "$T/threads.err" "$T/threads.log")"
	stop "$TSRV"
else
	for batch in 1 2 3; do
		pids=""
		for i in 1 2 3 4 5 6 7 8 9 10 11 12; do
			o="$T/thr-$batch-$i.sc"
			( (printf 'hello-%s\n' "$i"; wait_for "$o" "^hello-$i\$" 10) |
				timeout $((20 * TS)) openssl s_client -connect "127.0.0.1:$SP" -status \
					-CAfile "$C/ca.crt" >"$o" 2>&1 ) &
			pids="$pids $!"
		done
		# shellcheck disable=SC2086
		wait $pids
		if [ $batch = 1 ]; then f=good2.der; else f=good.der; fi
		cp "$T/$f" "$T/tstaple.new" && mv "$T/tstaple.new" "$T/tstaple.der"
	done
	wait_exit "$TSRV" 20; rc=$?
	bad=0
	for o in "$T"/thr-*.sc; do
		nn=$(nonce "$o")
		if ! grep -q '^hello-' "$o" || { [ "$nn" != "$GOOD" ] && [ "$nn" != "$GOOD2" ]; }; then
			bad=$((bad + 1)); last=$o
		fi
	done
	if [ "$rc" -ne 0 ] || [ $bad -ne 0 ]; then
		fail "$name" "thread_server exit $rc, $bad clients without an echo and a good staple$(show "${last:-/dev/null}" "$T/threads.err" "$T/threads.log")"
	else
		pass "$name"
	fi
fi

# A revoked certificate's response is stapled (it is the truth), with one
# warning line.
SP=$(free_port)
policy "$T/revoked.conf" <<EOF
rules = ( { name = "ocsp-rev"; direction = "accept"; port = $SP;
  cert = "$T/revoked-chain.crt"; key = "$T/revoked.key"; ocsp_staple_file = "$T/revoked.der"; } );
EOF
export TLSSHIM_LOG_FILE="$T/revoked.log"
name=server_staples_revoked_with_warning
if ! start_echo revoked "$SP"; then
	fail "$name" "echo_server never listened$(show "$T/revoked.err" "$T/revoked.log")"
else
	sclient "$name-1"; a=$?
	sclient "$name-2"; b=$?
	if [ $a -ne 0 ] || [ $b -ne 0 ] || ! grep -q 'Cert Status: revoked' "$T/$name-2.sc"; then
		fail "$name" "expected an echo and a revoked status$(show "$T/$name-2.sc")"
	elif [ "$(lines "$T/revoked.log" "rule \"ocsp-rev\": OCSP staple \"$T/revoked.der\" says the certificate /CN=localhost .* is revoked \(stapled all the same\)")" -ne 1 ]; then
		fail "$name" "expected one warning line$(show "$T/revoked.log")"
	else
		pass "$name"
	fi
	stop "$SRV"
fi

# --- the shimmed client --------------------------------------------------------
printf 'SECRET-PLAINTEXT-from-client\n' >"$T/rev.in"
printf 'tneilc-morf-TXETNIALP-TERCES\n' >"$T/rev.expect"

# client_case NAME MODE WANT(ok|reason) SERVER-CERT SERVER-KEY STAPLE|- [S_SERVER-ARGS...]
client_case() {
	name=$1 mode=$2 want=$3 scert=$4 skey=$5 staple=$6
	shift 6
	P=$(free_port)
	policy "$T/$name.conf" <<EOF
rules = ( { name = "ocsp-out"; direction = "connect"; port = $P; ca = "$C/ca.crt"; ocsp = "$mode"; } );
EOF
	export TLSSHIM_LOG_FILE="$T/$name.log"
	[ "$staple" = - ] || set -- -status_file "$staple" "$@"
	rev_exchange "$name" -cert "$scert" -key "$skey" "$@" || return
	if [ "$want" = ok ]; then
		if [ "$rc" -ne 0 ] || ! cmp -s "$T/rev.expect" "$T/$name.got"; then
			fail "$name" "client exit $rc, reversed text not received$(show "$T/$name.err" "$T/$name.log" "$T/$name.srv")"
		elif [ "$(lines "$T/$name.log" 'rule "ocsp-out": connected .* verified for "localhost"')" -ne 1 ]; then
			fail "$name" "no connected line$(show "$T/$name.log")"
		else
			pass "$name"
		fi
	elif ! refused_clean "$name"; then
		:
	elif [ "$(lines "$T/$name.log" "rule \"ocsp-out\": OCSP: server certificate /CN=localhost \(serial [0-9A-F]+\): .*$want")" -ne 1 ]; then
		fail "$name" "expected one log line 'OCSP: server certificate /CN=localhost (serial ...): $want'$(show "$T/$name.log")"
	else
		pass "$name"
	fi
}

SC="$T/server-chain.crt" SK="$T/server.key" RC="$T/revoked-chain.crt" RK="$T/revoked.key"
client_case client_require_good_tls13 require ok "$SC" "$SK" "$T/good.der" -tls1_3
client_case client_require_good_tls12 require ok "$SC" "$SK" "$T/good.der" -tls1_2
client_case client_if_stapled_good if_stapled ok "$SC" "$SK" "$T/good.der"
client_case client_require_refuses_no_staple require 'no OCSP response stapled' "$SC" "$SK" -
client_case client_require_refuses_no_staple_tls12 require 'no OCSP response stapled' "$SC" "$SK" - -tls1_2
client_case client_if_stapled_allows_no_staple if_stapled ok "$SC" "$SK" -
client_case client_require_refuses_revoked require 'REVOKED .*keyCompromise' "$RC" "$RK" "$T/revoked.der"
client_case client_if_stapled_refuses_revoked if_stapled 'REVOKED .*keyCompromise' "$RC" "$RK" "$T/revoked.der"
client_case client_if_stapled_refuses_revoked_tls12 if_stapled 'REVOKED' "$RC" "$RK" "$T/revoked.der" -tls1_2
client_case client_refuses_rogue_responder require 'not signed by the issuer or a responder it authorised' \
	"$SC" "$SK" "$T/rogue.der"
client_case client_if_stapled_refuses_rogue_responder if_stapled 'not signed by the issuer' "$SC" "$SK" "$T/rogue.der"
client_case client_refuses_responder_without_ocspsigning require 'not signed by the issuer or a responder it authorised' \
	"$SC" "$SK" "$T/plain.der"
client_case client_refuses_expired_response require 'the stapled OCSP response has expired' "$SC" "$SK" "$T/expired.der"
# No nextUpdate: good for 24 hours from thisUpdate (the old library took
# one of any age).
client_case client_refuses_old_response_without_next_update require \
	'the stapled OCSP response has no nextUpdate and is older than 24 hours: thisUpdate' \
	"$SC" "$SK" "$T/old-nonext.der"
client_case client_accepts_fresh_response_without_next_update require ok "$SC" "$SK" "$T/fresh-nonext.der"
client_case client_refuses_response_for_another_cert if_stapled 'the stapled OCSP response has no status for it' \
	"$SC" "$SK" "$T/revoked.der"
# ocsp = "off" (the default) does not even ask.
client_case client_off_ignores_revoked_staple off ok "$RC" "$RK" "$T/revoked.der"

# require with a resumed TLS 1.3 session: the second connection of one
# process resumes (no certificate, no status) and is not refused.
name=client_require_resumed_session
P=$(free_port)
policy "$T/$name.conf" <<EOF
rules = ( { name = "ocsp-out"; direction = "connect"; port = $P; ca = "$C/ca.crt"; ocsp = "require"; } );
EOF
export TLSSHIM_LOG_FILE="$T/$name.log"
bg openssl s_server -accept "127.0.0.1:$P" -naccept 2 -rev -tls1_3 -cert "$SC" -key "$SK" \
	-status_file "$T/good.der" >"$T/$name.srv" 2>&1
srv=$!
if ! wait_for "$T/$name.srv" '^ACCEPT' 10; then
	fail "$name" "s_server did not start$(show "$T/$name.srv")"
else
	shimmed "$PY" -c '
import socket, sys
for i in range(2):
    s = socket.create_connection(("localhost", int(sys.argv[1])), timeout=30)
    s.sendall(b"abc%d\n" % i)
    d = b""
    while not d.endswith(b"\n"):
        x = s.recv(100)
        if not x:
            break
        d += x
    print(d.decode().strip())
    s.close()
' "$P" >"$T/$name.got" 2>"$T/$name.err"
	wait_exit "$srv" 10
	if [ "$(cat "$T/$name.got")" != "$(printf '0cba\n1cba')" ]; then
		fail "$name" "expected two answers$(show "$T/$name.got" "$T/$name.err" "$T/$name.log")"
	elif [ "$(lines "$T/$name.log" 'rule "ocsp-out": connected .*new session')" -ne 1 ] ||
		[ "$(lines "$T/$name.log" 'rule "ocsp-out": connected .*session resumed')" -ne 1 ]; then
		fail "$name" "expected one new and one resumed session$(show "$T/$name.log")"
	else
		pass "$name"
	fi
fi
stop "$srv"

# --- reload keeps the OCSP settings ----------------------------------------------
# A reloaded context is built again from the files; the rule's OCSP settings
# must come with it (policy/reload.c, ocsp_again).  The CA file changes
# (the same CA plus another, renamed over it: a new inode and mtime); one
# process connects before and after the reload it causes.
# put SRC DST: replace DST by a copy of SRC in one rename.
put() { cp "$1" "$2.new.$$" && mv -f "$2.new.$$" "$2"; }

# Connect rule, ocsp = "require": one reload_client.py process.  Its lines
# are palindromes, so that s_server -rev echoes them.
P=$(free_port)
cp "$C/ca.crt" "$T/rl-ca.pem"
cat "$C/ca.crt" "$CERTS/other-ca.crt" >"$T/rl-two-ca.pem"
policy "$T/rl-out.conf" <<EOF
rules = ( { name = "ocsp-rl"; direction = "connect"; port = $P; ca = "$T/rl-ca.pem"; ocsp = "require"; } );
EOF
export TLSSHIM_LOG_FILE="$T/rl-out.log"
REFUSED='rule "ocsp-rl": OCSP: server certificate /CN=localhost \(serial [0-9A-F]+\): .*no OCSP response stapled'
# rl_line N: connection N's line (SECRET-N-reversed N-TERCES: a palindrome).
rl_line() {
	echo "$1" | awk '{ r = ""; for (i = length($0); i > 0; i--) r = r substr($0, i, 1); print "SECRET-" $0 "-" r "-TERCES" }'
}
# rl_send N: one connection of the client; 0 when it answered.
rl_send() { rl_line "$1" >>"$T/rl.ctl"; wait_for "$T/rl.out" "^(ok|fail) $1( |\$)" 10; }
bg openssl s_server -accept "127.0.0.1:$P" -rev -cert "$SC" -key "$SK" >"$T/rl-none.srv" 2>&1
RLSRV=$!
: >"$T/rl.ctl"
if ! wait_for "$T/rl-none.srv" '^ACCEPT' 10; then
	fail reload_connect_setup "s_server did not start$(show "$T/rl-none.srv")"
else
	shimbg "$PY" "$TLSSHIM_TOP/tests/interop/py/reload_client.py" "$P" "$T/rl.ctl" >"$T/rl.out" 2>"$T/rl.err"
	RLCL=$!
	name=reload_connect_require_refuses_before
	if ! rl_send 1 || ! grep -q '^fail 1 Connection refused$' "$T/rl.out"; then
		fail "$name" "expected a refused connect$(show "$T/rl.out" "$T/rl.err" "$T/rl-out.log")"
	elif [ "$(lines "$T/rl-out.log" "$REFUSED")" -ne 1 ]; then
		fail "$name" "expected one 'no OCSP response stapled' line$(show "$T/rl-out.log")"
	else
		pass "$name"
	fi
	put "$T/rl-two-ca.pem" "$T/rl-ca.pem"
	# Connections until one reloads (the check runs at most once a
	# second, at a connect); each of them is still refused.
	i=1 end=$(($(date +%s) + 15 * TS))
	while [ "$(lines "$T/rl-out.log" 'rule "ocsp-rl": reloaded')" -eq 0 ] && [ "$(date +%s)" -lt "$end" ]; do
		i=$((i + 1))
		rl_send $i || break
		sleep 0.2
	done
	name=reload_connect_require_still_refuses_no_staple
	before=$(lines "$T/rl-out.log" "$REFUSED")
	i=$((i + 1))
	if [ "$(lines "$T/rl-out.log" 'rule "ocsp-rl": reloaded')" -ne 1 ]; then
		fail "$name" "no reload logged$(show "$T/rl.out" "$T/rl-out.log")"
	elif ! rl_send $i || ! grep -q "^fail $i Connection refused\$" "$T/rl.out"; then
		fail "$name" "the server without a staple was accepted after the reload$(show "$T/rl.out" "$T/rl-out.log")"
	elif grep -q '^ok ' "$T/rl.out" || grep -q SECRET "$T/rl-none.srv"; then
		fail "$name" "data crossed$(show "$T/rl.out" "$T/rl-none.srv")"
	elif [ "$(lines "$T/rl-out.log" "$REFUSED")" -ne $((before + 1)) ]; then
		fail "$name" "expected one more 'no OCSP response stapled' line$(show "$T/rl-out.log")"
	else
		pass "$name"
	fi
	stop "$RLSRV"
	# The same process, a server that staples a good response: accepted.
	bg openssl s_server -accept "127.0.0.1:$P" -rev -cert "$SC" -key "$SK" -status_file "$T/good.der" \
		>"$T/rl-good.srv" 2>&1
	RLSRV=$!
	name=reload_connect_require_accepts_good_staple
	i=$((i + 1))
	if ! wait_for "$T/rl-good.srv" '^ACCEPT' 10; then
		fail "$name" "s_server did not start$(show "$T/rl-good.srv")"
	elif ! rl_send $i || ! grep -q "^ok $i\$" "$T/rl.out"; then
		fail "$name" "no echo$(show "$T/rl.out" "$T/rl-out.log" "$T/rl-good.srv")"
	elif [ "$(lines "$T/rl-out.log" 'rule "ocsp-rl": reloaded')" -ne 1 ] ||
		[ "$(lines "$T/rl-out.log" 'rule "ocsp-rl": connected .*server /CN=localhost verified')" -ne 1 ]; then
		fail "$name" "expected one reload and one connected line$(show "$T/rl-out.log")"
	else
		pass "$name"
	fi
	echo quit >>"$T/rl.ctl"
	wait_exit "$RLCL" 10
fi
stop "$RLSRV"

# Accept rule with a staple file and client certificates: the client CA
# file changes (the certificate does not); still stapled after the reload.
SP=$(free_port)
cp "$CERTS/ca.crt" "$T/rla-ca.pem"
cat "$CERTS/ca.crt" "$CERTS/other-ca.crt" >"$T/rla-two-ca.pem"
policy "$T/rl-in.conf" <<EOF
rules = ( { name = "ocsp-rla"; direction = "accept"; port = $SP;
  cert = "$T/server-chain.crt"; key = "$T/server.key"; ocsp_staple_file = "$T/good.der";
  require_client_cert = true; ca = "$T/rla-ca.pem"; } );
EOF
export TLSSHIM_LOG_FILE="$T/rl-in.log"
# TLS 1.2: with a client certificate, TLS 1.3's late session tickets make
# s_client print its note about them into the middle of the echoed line.
CC="-tls1_2 -cert $CERTS/client.crt -key $CERTS/client.key"
shimbg "$PROGS/thread_server" "$SP" 100000 >"$T/rlin.out" 2>"$T/rlin.err"
SRV=$!
if ! wait_for "$T/rlin.out" '^listening' 10; then
	fail reload_accept_setup "thread_server never listened$(show "$T/rlin.err" "$T/rl-in.log")"
else
	name=reload_accept_staples_before
	# shellcheck disable=SC2086
	if ! sclient "$name" $CC || [ "$(nonce "$T/$name.sc")" != "$GOOD" ]; then
		fail "$name" "no echo or not the staple$(show "$T/$name.sc" "$T/rl-in.log")"
	else
		pass "$name"
	fi
	put "$T/rla-two-ca.pem" "$T/rla-ca.pem"
	i=0 end=$(($(date +%s) + 15 * TS))
	while [ "$(lines "$T/rl-in.log" 'rule "ocsp-rla": reloaded')" -eq 0 ] && [ "$(date +%s)" -lt "$end" ]; do
		# shellcheck disable=SC2086
		sclient "rla-poke-$i" $CC >/dev/null
		i=$((i + 1))
		sleep 0.2
	done
	name=reload_accept_still_staples
	# shellcheck disable=SC2086
	if [ "$(lines "$T/rl-in.log" 'rule "ocsp-rla": reloaded')" -ne 1 ]; then
		fail "$name" "no reload logged$(show "$T/rl-in.log")"
	elif ! sclient "$name" $CC; then
		fail "$name" "no echo$(show "$T/$name.sc" "$T/rl-in.log")"
	elif ! grep -q 'Cert Status: good' "$T/$name.sc" || [ "$(nonce "$T/$name.sc")" != "$GOOD" ]; then
		fail "$name" "the staple is gone after the reload$(show "$T/$name.sc")"
	else
		pass "$name"
	fi
	stop "$SRV"
fi

# --- tlsshim --check ---------------------------------------------------------------
# check_bad NAME REGEX DIRECTION RULE-KEYS [DEFAULTS]: the error is on line 4.
check_bad() {
	cat >"$T/$1.conf" <<EOF
defaults = { ${5:-} };
rules = (
  { name = "r"; direction = "$3"; port = 1; ca = "$C/ca.crt";
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
SRVKEYS="cert = \"$SC\"; key = \"$SK\";"
check_bad check_ocsp_on_accept_rule 'applies only to connect rules' accept "$SRVKEYS ocsp = \"require\";"
check_bad check_staple_on_connect_rule 'applies only to accept rules' connect "ocsp_staple_file = \"$T/good.der\";"
check_bad check_ocsp_with_verify_none '"verify" = "none"' connect "ocsp = \"require\"; verify = \"none\";"
check_bad check_ocsp_unknown_word '"ocsp" must be "off", "if_stapled" or "require"' connect "ocsp = \"yes\";"
check_bad check_ocsp_on_plain_rule 'applies only to rules with action "tls"' connect "ocsp = \"if_stapled\"; action = \"plain\";"
check_bad check_staple_for_another_cert 'has no status for the certificate /CN=localhost' accept \
	"$SRVKEYS ocsp_staple_file = \"$T/b.der\";"
check_bad check_staple_not_ocsp 'is not a DER OCSP response' accept "$SRVKEYS ocsp_staple_file = \"$C/ca.crt\";"
check_bad check_staple_missing 'No such file' accept "$SRVKEYS ocsp_staple_file = \"$T/none.der\";"
check_bad check_staple_with_certs 'each certificate has its own response' accept \
	"certs = ( { cert = \"$SC\"; key = \"$SK\"; } ); ocsp_staple_file = \"$T/good.der\";"
check_bad check_staple_in_certs_entry_wrong 'entry 1: .*has no status' accept \
	"certs = ( { cert = \"$SC\"; key = \"$SK\"; ocsp_staple_file = \"$T/b.der\"; } );"
# In defaults: ocsp_staple_file never (line 1), ocsp only where it applies.
cat >"$T/defaults_staple.conf" <<EOF
defaults = { ocsp_staple_file = "$T/good.der"; };
rules = ( { direction = "accept"; port = 1; $SRVKEYS } );
EOF
"$TLSSHIM_LAUNCHER" --check "$T/defaults_staple.conf" >"$T/defaults_staple.chk" 2>&1
if [ $? -ne 0 ] && grep -q "$T/defaults_staple.conf:1: .*not allowed in defaults" "$T/defaults_staple.chk"; then
	pass check_staple_not_in_defaults
else
	fail check_staple_not_in_defaults "expected a FILE:1 error$(show "$T/defaults_staple.chk")"
fi
cat >"$T/defaults_ocsp.conf" <<EOF
defaults = { ocsp = "require"; ca = "$C/ca.crt"; };
rules = (
  { direction = "accept"; port = 1; $SRVKEYS ocsp_staple_file = "$T/good.der"; },
  { direction = "connect"; port = 2; verify = "none"; },
  { direction = "connect"; port = 3; action = "plain"; },
  { direction = "connect"; port = 4; }
);
EOF
check check_ocsp_from_defaults_only_where_used "$TLSSHIM_LAUNCHER" --check "$T/defaults_ocsp.conf"
# An expired or revoked staple is a run-time matter (logged, not sent),
# not a policy error: the service must still start.
cat >"$T/expired_ok.conf" <<EOF
rules = ( { direction = "accept"; port = 1; $SRVKEYS ocsp_staple_file = "$T/expired.der"; },
          { direction = "accept"; port = 2; cert = "$RC"; key = "$RK"; ocsp_staple_file = "$T/revoked.der"; } );
EOF
check check_expired_staple_accepted "$TLSSHIM_LAUNCHER" --check "$T/expired_ok.conf"
