#!/bin/sh
# tests/preload/dns_tcp.sh — glibc's resolver asks a name server over TCP
# (RES_USEVC, a long query, or a truncated UDP answer) with its own
# internal socket calls, which the library does not see.  A program that
# sets its own name server (_res.nsaddr_list, or a res_ninit state) on a
# port a tls rule names must not send its query there in clear: each of
# res_query, res_search, res_querydomain, res_send, their res_n forms,
# the __res_query that programs linked before glibc 2.34 call, and
# getaddrinfo, gethostbyname, getnameinfo, gethostbyaddr, gethostbyaddr_r
# rcmd_af's and ruserok's own look-ups, getnetbyname and getnetbyaddr
# (nss_dns; "networks: files dns" in an nsswitch.conf of ours bound over
# /etc/nsswitch.conf: this script's mount namespace is its own), which
# use the same _res, is refused
# (an error line naming the rule, the call fails), and the fake name
# server on the TLS port records no query (the wire audit checks the
# port too).  A name server on a port no rule names still answers.
# (The old library: every query reached the TLS port in clear.)
. "$(dirname "$0")/../lib.sh"
. "$TLSSHIM_TOP/tests/preload/common.inc"
need_shim dns_tcp_setup
[ -x "$PROGS/dns_tcp" ] || { fail dns_tcp_setup "$PROGS/dns_tcp missing (make test-build)"; exit 0; }

printf 'hosts: files dns\nnetworks: files dns\n' >"$T/nsswitch.conf"
if ! mount --bind "$T/nsswitch.conf" /etc/nsswitch.conf 2>"$T/mount.err"; then
	fail dns_tcp_setup "cannot bind an nsswitch.conf over /etc/nsswitch.conf: $(cat "$T/mount.err")"
	exit 0
fi
P=$(free_port) Q=$(free_port)
policy "$T/dns.conf" <<EOF
rules = ( { name = "dns-tls"; direction = "connect"; address = "127.0.0.1"; port = $P;
            ca = "$CERTS/ca.crt"; } );
EOF
export TLSSHIM_LOG_FILE="$T/dns.log"
bg "$PY" "$TLSSHIM_TOP/tests/preload/py/dns_tcp_server.py" "$P" "$T/tls.rec" >"$T/tls.out" 2>"$T/tls.err"
bg "$PY" "$TLSSHIM_TOP/tests/preload/py/dns_tcp_server.py" "$Q" "$T/plain.rec" >"$T/plain.out" 2>"$T/plain.err"
if ! wait_for "$T/tls.out" '^listening' 10 || ! wait_for "$T/plain.out" '^listening' 10; then
	fail dns_tcp_setup "the fake name servers never listened$(show "$T/tls.err" "$T/plain.err")"
	exit 0
fi

for mode in query search querydomain send nquery nsearch nquerydomain nsend compat_query gai ghbn \
	gni ghba ghba_r rcmd ruserok gnbn gnba; do
	name=${mode}_to_tls_port_refused
	: >"$TLSSHIM_LOG_FILE"
	shimmed "$PROGS/dns_tcp" "$mode" 127.0.0.1 "$P" >"$T/$name.out" 2>"$T/$name.err"
	rc=$?
	if [ -s "$T/tls.rec" ]; then
		fail "$name" "the query reached the TLS port in clear: '$(cat "$T/tls.rec")'"
		: >"$T/tls.rec"
	elif [ $rc != 0 ] || ! grep -q '^failed errno=111 ' "$T/$name.out"; then
		fail "$name" "the call did not fail with ECONNREFUSED (exit $rc): $(cat "$T/$name.out" "$T/$name.err")"
	elif ! grep -q "error: 127.0.0.1:$P rule \"dns-tls\": [a-z_]*() would ask this name server over TCP (RES_USEVC) .*; refused" "$TLSSHIM_LOG_FILE"; then
		fail "$name" "no error line$(show "$TLSSHIM_LOG_FILE")"
	else
		pass "$name"
	fi
done

# The reverse look-ups (gni, ghba, ghba_r) ask for 192.0.2.1's PTR.
for mode in query nquery send compat_query gai ghbn gni ghba ghba_r; do
	name=${mode}_to_plain_port_answers
	asked='secret-name\.test'
	case $mode in gni | ghba*) asked='1\.2\.0\.192\.in-addr\.arpa' ;; esac
	: >"$T/plain.rec"
	shimmed "$PROGS/dns_tcp" "$mode" 127.0.0.1 "$Q" >"$T/$name.out" 2>"$T/$name.err"
	if grep -q '^answer [1-9]' "$T/$name.out" && grep -q "^$asked\$" "$T/plain.rec"; then
		pass "$name"
	else
		fail "$name" "no answer from the plain name server: $(cat "$T/$name.out" "$T/$name.err")$(show "$TLSSHIM_LOG_FILE")"
	fi
done
umount /etc/nsswitch.conf 2>/dev/null
