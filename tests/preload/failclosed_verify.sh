#!/bin/sh
# Fail closed in verification (class 14).
#  * a server certificate whose right name is only in the subject CN (no
#    subjectAltName) is refused by a connect rule: connect() fails with
#    ECONNREFUSED, the log says why; the same rule accepts a certificate
#    that has the name as a subjectAltName.
#  * two host names on one IP (a.test and b.test -> 127.0.0.1 in a
#    bind-mounted copy of /etc/hosts, private mount namespace;
#    tests/progs/fc_verify.c): a thread that resolved b.test connects: the
#    name verified is b.test (a b.test certificate passes, an a.test one
#    is refused); a thread that resolved nothing connects while both names
#    map to the address: the IP address itself is verified (the b.test
#    certificate is refused, one with IP SAN 127.0.0.1 passes).
# Every connection crosses a recording relay: TLS only, sentinel never in
# clear.
. "$TLSSHIM_TOP/tests/lib.sh"
. "$TLSSHIM_TOP/tests/preload/failclosed_common.inc"
need_shim
for p in fc_verify fc_entry; do
	[ -x "$PROGS/$p" ] || { fail setup "$PROGS/$p missing (make test-build)"; exit 1; }
done
for c in cnonly a-test b-test; do
	[ -f "$CERTS/$c.crt" ] || { fail setup "$CERTS/$c.crt missing (certs/mkcerts.sh)"; exit 1; }
done

# One TLS peer (and relay) per server certificate.
started=""
for c in cnonly a-test b-test server; do
	if ! SRV_CERT="$CERTS/$c.crt" SRV_KEY="$CERTS/$c.key" fc_start "$c" --mode echo; then
		fail "verification: setup" "peer with $c.crt did not start"
		exit 1
	fi
	eval "R_$(echo $c | tr - _)=\$R Q_$(echo $c | tr - _)=\$Q RELAY_$(echo $c | tr - _)=\$RELAY_PID SRV_$(echo $c | tr - _)=\$SRV_PID"
done
# A second relay to the peer with server.crt (IP SAN 127.0.0.1), on a port
# of the rule without server_name.
R_ip=$(fc_ports 1)
mkdir -p "$T/ip.wire"
bg "$PY" "$WIRE" relay --port "$R_ip" --to "$Q_server" --dir "$T/ip.wire" >"$T/ip.relay.out" 2>&1
started="$started $!"
if ! wait_for "$T/ip.relay.out" '^ready' 10; then
	fail "verification: setup" "relay did not start"
	exit 1
fi
policy "$T/verify.conf" <<EOC
rules = ( { name = "cn-check"; direction = "connect"; port = [$R_cnonly, $R_server]; address = "127.0.0.1/32";
            ca = "$CERTS/ca.crt"; server_name = "localhost"; },
          { name = "vhosts"; direction = "connect"; port = [$R_a_test, $R_b_test, $R_ip]; address = "127.0.0.1/32";
            ca = "$CERTS/ca.crt"; } );
EOC

# ---- a certificate with the name only in the CN ---------------------------------
TLSSHIM_LOG_FILE="$T/cn.log" timeout -k 2 30 env LD_PRELOAD="$SHIM_PRELOAD" \
	TLSSHIM_CONFIG="$T/verify.conf" "$PROGS/fc_entry" connect 127.0.0.1 "$R_cnonly" "$SENT" \
	>/dev/null 2>"$T/cn.err"
rc=$?
TLSSHIM_LOG_FILE="$T/cnok.log" timeout -k 2 30 env LD_PRELOAD="$SHIM_PRELOAD" \
	TLSSHIM_CONFIG="$T/verify.conf" "$PROGS/fc_entry" connect 127.0.0.1 "$R_server" "$SENT" \
	>/dev/null 2>"$T/cnok.err"
rc2=$?
srv_settled cnonly 1 5
srv_settled server 1 5
fc_wire cnonly
w1=$?
why=$(grep -i -E 'warn.*verif' "$T/cn.log" | head -n 1)
if [ $rc -ne 0 ] && grep -q 'connect: ECONNREFUSED' "$T/cn.err" && [ -n "$why" ] && [ $w1 -eq 0 ] &&
   [ $rc2 -eq 0 ] && ! srv_data cnonly | grep -q -F "$SENT"; then
	pass "server certificate with the name only in the subject CN: connect() fails with ECONNREFUSED ($why); with the name as a subjectAltName it connects"
else
	fail "server certificate with the name only in the subject CN is refused" "CN-only: exit $rc, $(tr '\n' '|' <"$T/cn.err"), log: ${why:-(no warn line)}; SAN: exit $rc2 $(tr '\n' '|' <"$T/cnok.err"); peer got: $(srv_data cnonly | head -c 100 | tr '\n' '|'); $WIRE_OUT"
fi
fc_collect server cnok

# ---- two names on one address -------------------------------------------------------
cp /etc/hosts "$T/hosts"
printf '127.0.0.1 a.test\n127.0.0.1 b.test\n' >>"$T/hosts"

# vhost NAME MODE PORT WANT(ok|refused) DESC
vhost() {
	TLSSHIM_LOG_FILE="$T/$1.log" timeout -k 2 40 unshare -m sh -c '
		mount --bind "$1" /etc/hosts || exit 90
		shift
		exec env "$@"' sh "$T/hosts" LD_PRELOAD="$SHIM_PRELOAD" TLSSHIM_CONFIG="$T/verify.conf" \
		"$PROGS/fc_verify" "$2" "$3" "$SENT" >"$T/$1.out" 2>&1
	rc=$?
	case "$4:$rc" in
	ok:0) ok=yes ;;
	refused:1) grep -q '^connect: ECONNREFUSED' "$T/$1.out" && ok=yes || ok=no ;;
	*) ok=no ;;
	esac
	if [ $rc -eq 90 ]; then
		fail "$5" "cannot bind-mount a copy of /etc/hosts in a private mount namespace"
	elif [ $ok = yes ]; then
		pass "$5 ($(tr '\n' ' ' <"$T/$1.out")$(grep -h -o -i 'verif[^|]*' "$T/$1.log" | head -n 1 | cut -c1-160))"
	else
		fail "$5" "exit $rc: $(tr '\n' '|' <"$T/$1.out"); log: $(log_tail "$T/$1.log")"
	fi
}

vhost name-b name "$R_b_test" ok \
	"a.test and b.test on one IP; the thread that resolved b.test connects: b.test is verified, the b.test certificate passes"
vhost name-a name "$R_a_test" refused \
	"a.test and b.test on one IP; the thread that resolved b.test connects to a server with the a.test certificate: refused (ECONNREFUSED)"
vhost amb-b ambiguous "$R_b_test" refused \
	"a.test and b.test on one IP; a thread that resolved nothing connects: ambiguous, so the IP is verified: the b.test certificate is refused"
vhost amb-ip ambiguous "$R_ip" ok \
	"a.test and b.test on one IP; a thread that resolved nothing connects: the IP is verified: a certificate with IP SAN 127.0.0.1 passes"

srv_settled a-test 1 5
srv_settled b-test 2 5
fc_collect server ip
fc_wire a-test
wa=$?
wa_out=$WIRE_OUT
fc_wire b-test
wb=$?
wb_out=$WIRE_OUT
fc_wire ip
wi=$?
if [ $wa -eq 0 ] && [ $wb -eq 0 ] && [ $wi -eq 0 ]; then
	pass "virtual-host connections: TLS only on the wire (a.test: $wa_out; b.test: $wb_out; IP: $WIRE_OUT)"
else
	fail "virtual-host connections: TLS only on the wire" "a.test: $wa_out; b.test: $wb_out; IP: $WIRE_OUT"
fi
for c in cnonly a-test b-test server; do
	eval "stop \$RELAY_$(echo $c | tr - _); stop \$SRV_$(echo $c | tr - _)"
done
for p in $started; do stop "$p"; done
