#!/bin/sh
# tests/infra/wireaudit.sh — the wire audit checks itself
# (tests/tools/wireaudit.c, its --policy-rules included).
#  * made-up captures (tests/infra/py/mkpcap.py) of every link type the
#    auditor reads, IPv4 and IPv6, with segments out of order, duplicated,
#    retransmitted and sequence numbers wrapping: a TLS-shaped stream
#    passes; a stray byte, application data first, a zero length, a hole
#    in the capture are each reported (with the right offset); MPTCP
#    (tests/infra/py/mkmptcp.py): a reinjection of the same bytes passes,
#    plain text mapped over bytes already checked and a join whose token
#    names no connection (on a port without a rule) are reported; a
#    DATA_FIN's mapping places its payload only (its data-level length
#    counts the DATA_FIN): a byte one past it, with no mapping of its own,
#    is reported, and so are bytes after one of no payload;
#  * a real capture (tcpdump on this test's lo): a TLS echo (Python ssl)
#    passes; a plaintext echo on a port the rules call TLS fails, naming
#    the connection and the bytes; excluded, it passes; an MPTCP
#    connection with a TLS-shaped record on its first subflow and plain
#    text on its second (the first reset) fails at the data-level offset;
#  * the rules: first match wins per policy file, address ranges, a rule
#    without a port audits every port, a policy applies only to
#    connections made after it was written, exclusions by time window;
#  * --files, the preload tests' check of their recording relay's captures
#    (failclosed_common.inc's fc_wire, which starts no Python): records
#    pass, counted, a record cut short too; stray bytes, a partial header
#    that is no record's, a sentinel inside well-framed bytes, too few
#    connections, no bytes at all are each reported.
# Nothing here runs the library: the tools under test (wireaudit, built
# without the sanitizer, its --policy-rules included) are the same for every build,
# so the script runs with the first build only (45 s of wall and 7 s of
# CPU saved on make check's ASan pass).
# tlsshim-test: once
. "$TLSSHIM_TOP/tests/lib.sh"
. "$TLSSHIM_TOP/tests/preload/failclosed_common.inc"
WA=$TLSSHIM_BUILD/tools/wireaudit
PR="$WA --policy-rules"
[ -x "$WA" ] || { fail wireaudit_setup "$WA missing (make test-build)"; exit 1; }
echo "0 0 tls 443 *" >"$T/r443"

# --- made-up captures -------------------------------------------------------
bad=""
for l in en10mb null loop sll sll2 raw; do
	for f in 4 6; do
		"$PY" "$PYD/mkpcap.py" "$T/g.pcap" "$l" "$f" good >/dev/null
		out=$("$WA" --test self --rules "$T/r443" "$T/g.pcap" 2>&1) ||
			bad="$bad [$l IPv$f: $(echo "$out" | tr '\n' '|')]"
		echo "$out" | grep -q '^audited 1 TLS connections, 22608 bytes' ||
			bad="$bad [$l IPv$f counted: $(echo "$out" | tail -n 1)]"
	done
done
if [ -z "$bad" ]; then
	pass "made-up TLS streams (6 link types, IPv4 and IPv6, reordered, duplicated, retransmitted, wrapping) pass"
else
	fail "made-up TLS streams pass" "$bad"
fi

# case NAME CASE EXPECT-REGEX: the made-up capture fails with that report.
case_fails() {
	"$PY" "$PYD/mkpcap.py" "$T/b.pcap" sll2 6 "$2" >"$T/$2.gen"
	"$WA" --test self --rules "$T/r443" "$T/b.pcap" >"$T/$2.out" 2>&1
	_rc=$?
	if [ $_rc -eq 1 ] && grep -q -E -e "$3" "$T/$2.out"; then
		pass "$1"
	else
		fail "$1" "exit $_rc, expected 1 and /$3/$(tail_of "$T/$2.out")"
	fi
}
case_fails "a stray plaintext byte is reported at its offset with a hex+ASCII snippet" stray \
	"^wireaudit: self: \[::1\]:40000 -> \[::1\]:443 \(client to server\) offset $(cat "$T/stray.gen" 2>/dev/null || echo 311): byte 0x58 .*\| 58 17 03 03 .*\| X"
case_fails "application data as the first record is reported" firstapp 'offset 0: first record has type 23'
case_fails "a zero-length record is reported" badlen 'record length 0 not'
case_fails "a hole in the capture is reported (those bytes were not checked)" hole 'bytes missing from the capture'
# MPTCP (tests/infra/py/mkmptcp.py): a joined subflow places bytes at a data
# sequence number the first subflow's TLS record already took
"$PY" "$PYD/mkmptcp.py" "$T/mp.pcap" again
if "$WA" --test self --rules "$T/r443" "$T/mp.pcap" >"$T/mpa.out" 2>&1 && grep -q '^audited 1 TLS connections, 25 bytes' "$T/mpa.out"; then
	pass "MPTCP: the same bytes sent again on a joined subflow (a reinjection) pass"
else
	fail "MPTCP: a reinjection passes" "$(tail_of "$T/mpa.out")"
fi
"$PY" "$PYD/mkmptcp.py" "$T/mp.pcap" differ
"$WA" --test self --rules "$T/r443" "$T/mp.pcap" >"$T/mpd.out" 2>&1; rc=$?
if [ $rc -eq 1 ] && grep -q 'offset 0: bytes placed again at a data sequence number already checked.*| plain text' "$T/mpd.out"; then
	pass "MPTCP: plain text a joined subflow maps over bytes already checked is reported"
else
	fail "MPTCP: plain text over an overlapping mapping is reported" "exit $rc$(tail_of "$T/mpd.out")"
fi
"$PY" "$PYD/mkmptcp.py" "$T/mp.pcap" lostjoin
"$WA" --test self --rules "$T/r443" "$T/mp.pcap" >"$T/mpl.out" 2>&1; rc=$?
if [ $rc -eq 1 ] && [ "$(grep -c '^wireaudit: ' "$T/mpl.out")" -eq 1 ] &&
   grep -q ':8080 (client to server) offset 0: 10 bytes on an MPTCP subflow that joined a connection not in the capture' "$T/mpl.out"; then
	pass "MPTCP: a joined subflow whose token names no connection is reported, on a port no rule names too"
else
	fail "MPTCP: a join whose token matches nothing is reported" "exit $rc$(tail_of "$T/mpl.out")"
fi
# Linux's MPTCP zero-window probe: a one-byte mapping at the last data
# sequence number acknowledged, its byte the next one (seen once under
# make check-stress in preload/mptcp.sh, taken for bytes that differ there):
# that byte must be the one later sent at the next data sequence number
"$PY" "$PYD/mkmptcp.py" "$T/mp.pcap" probe
if "$WA" --test self --rules "$T/r443" "$T/mp.pcap" >"$T/mpz.out" 2>&1 && grep -q '^audited 1 TLS connections, 25 bytes' "$T/mpz.out"; then
	pass "MPTCP: a zero-window probe (a one-byte mapping at the last byte, the next byte) passes"
else
	fail "MPTCP: a zero-window probe passes" "$(tail_of "$T/mpz.out")"
fi
# mp_fails NAME CASE REPORT SUMMARY: mkmptcp.py's CASE fails with one
# report, matching REPORT, and the summary line SUMMARY.
mp_fails() {
	"$PY" "$PYD/mkmptcp.py" "$T/mp.pcap" "$2"
	"$WA" --test self --rules "$T/r443" "$T/mp.pcap" >"$T/$2.out" 2>&1
	_rc=$?
	if [ $_rc -eq 1 ] && [ "$(grep -c '^wireaudit: ' "$T/$2.out")" -eq 1 ] &&
	   grep -q -e "$3" "$T/$2.out" && grep -q -e "^$4" "$T/$2.out"; then
		pass "$1"
	else
		fail "$1" "exit $_rc$(tail_of "$T/$2.out")"
	fi
}
mp_fails "MPTCP: a zero-window probe whose byte is not the next byte sent is reported" probebad \
	'offset 10: the byte of an MPTCP zero-window probe differs from the byte sent at its place.*| 58 | X$' \
	'audited 1 TLS connections, 25 bytes'
"$PY" "$PYD/mkmptcp.py" "$T/mp.pcap" probelost
"$WA" --test self --rules "$T/r443" "$T/mp.pcap" >"$T/mpzl.out" 2>&1; rc=$?
if [ $rc -eq 1 ] && grep -q 'offset 10: the byte of an MPTCP zero-window probe was never sent at its place' "$T/mpzl.out"; then
	pass "MPTCP: a zero-window probe whose byte is never sent at its place is reported"
else
	fail "MPTCP: a zero-window probe never followed is reported" "exit $rc$(tail_of "$T/mpzl.out")"
fi
# A DATA_FIN on the mapping of the stream's last bytes: its data-level
# length counts the DATA_FIN's sequence number (RFC 8684, 3.3.3), which is
# no byte's.  The mapping of 15 bytes and the DATA_FIN (length 16) passes;
# a byte one past a mapping of 24 and the DATA_FIN (length 25), with no
# mapping of its own, is not placed at the DATA_FIN's number (an auditor
# that counted the DATA_FIN as a byte checked it there, and passed).
"$PY" "$PYD/mkmptcp.py" "$T/mp.pcap" datafin
if "$WA" --test self --rules "$T/r443" "$T/mp.pcap" >"$T/mpf.out" 2>&1 &&
   grep -q '^audited 1 TLS connections, 25 bytes' "$T/mpf.out"; then
	pass "MPTCP: a DATA_FIN on the last mapping (its length counts the DATA_FIN) passes"
else
	fail "MPTCP: a DATA_FIN on the last mapping passes" "$(tail_of "$T/mpf.out")"
fi
mp_fails "MPTCP: a byte one past a DATA_FIN's mapping (the DATA_FIN's number) is reported, not checked" \
	datafinpast 'offset 24: 1 bytes on an MPTCP subflow that no data sequence mapping places.*| T$' \
	'audited 1 TLS connections, 24 bytes'
# A DATA_FIN mapping of no payload but a subflow sequence number (length
# 1) places nothing, and is still a mapping: the bytes after it are not a
# fallback to TCP.
mp_fails "MPTCP: a DATA_FIN mapping of no payload places no byte (the record after it is reported)" \
	datafinnone 'offset 0: 25 bytes on an MPTCP subflow that no data sequence mapping places' \
	'audited 1 TLS connections, 0 bytes'
"$PY" "$PYD/mkpcap.py" "$T/m.pcap" en10mb 4 midrecord >/dev/null
if "$WA" --rules "$T/r443" "$T/m.pcap" >"$T/m.out" 2>&1; then
	pass "a stream that ends inside a record with its FIN passes"
else
	fail "a stream that ends inside a record with its FIN passes" "$(tail_of "$T/m.out")"
fi
"$PY" "$PYD/mkpcap.py" "$T/c.pcap" en10mb 4 channel >/dev/null
if "$WA" --rules "$T/r443" "$T/c.pcap" >"$T/c.out" 2>&1 && grep -q '^audited 0 TLS connections.* 1 other' "$T/c.out"; then
	pass "a pump channel (127.254.0.1, plaintext by design, loopback only) on a rule's port is not the program's connection: other"
else
	fail "a pump channel is left out" "$(tail_of "$T/c.out")"
fi
# One end at 127.254.0.1 is not a channel: any local process can connect
# there (a wildcard listener takes it) or bind its source there.  Before,
# a plaintext connection to 127.254.0.1 on a rule's port was left out.
"$PY" "$PYD/mkpcap.py" "$T/tc.pcap" en10mb 4 tochannel >/dev/null
"$WA" --rules "$T/r443" "$T/tc.pcap" >"$T/tc.out" 2>&1; rc=$?
if [ $rc -eq 1 ] && grep -q '^audited 1 TLS connections' "$T/tc.out"; then
	pass "plaintext from 127.0.0.1 to 127.254.0.1 on a rule's port is audited (not a pump channel): reported"
else
	fail "plaintext to 127.254.0.1 from elsewhere is audited" "exit $rc$(tail_of "$T/tc.out")"
fi
if "$WA" --rules "$T/r443" --exclude 443 "$T/b.pcap" >"$T/x.out" 2>&1 && grep -q '^audited 0 TLS connections.* 1 excluded' "$T/x.out"; then
	pass "--exclude PORT leaves the connection out"
else
	fail "--exclude PORT leaves the connection out" "$(tail_of "$T/x.out")"
fi

# --- the rules ---------------------------------------------------------------
cat >"$T/p1.conf" <<'EOC'
# a comment, and /* one */ more
rules = (
  { name = "a"; direction = "connect"; port = 443; action = "plain"; },   // first match
  { name = "b"; direction = "connect"; port = [443, 8443]; },
  { name = "c"; direction = "accept"; port = 443; address = "10.0.0.0/8";
    cert = "x"; key = "y"; },
  { name = "d"; direction = "accept"; port = 9000; action = "deny"; }
);
EOC
printf '100 %s\n' "$T/p1.conf" >"$T/list"
$PR "$T/list" >"$T/rules" 2>"$T/rules.err"
if [ "$(cat "$T/rules")" = "100 0 tls 443 10.0.0.0/8
100 0 deny 9000 *
100 1 plain 443 *
100 1 tls 443,8443 *" ]; then
	pass "--policy-rules: rules in order per file and direction, defaults, lists, comments"
else
	fail "--policy-rules reads the policy" "$(tr '\n' '|' <"$T/rules") $(cat "$T/rules.err")"
fi
# a file that does not parse, or with a rule not understood, is skipped
# whole with a note; the files around it keep their order and groups
printf 'rules = ( { direction = "connect"; port = 25 }\n' >"$T/broken.conf"
printf 'rules = ( { direction = "connect"; port = 26; }, { direction = "connect"; port = "x"; } );\n' >"$T/badport.conf"
printf 'rules = ( { direction = "sideways"; } );\n' >"$T/baddir.conf"
printf 'rules = ( { direction = "connect"; port = [ 25 ]; address = "::1/128"; } );\n' >"$T/p2.conf"
printf '100 %s\n200 %s\n300 %s\n350 %s\n400 %s\n' "$T/p1.conf" "$T/broken.conf" "$T/badport.conf" \
	"$T/baddir.conf" "$T/p2.conf" >"$T/list2"
$PR "$T/list2" >"$T/rules2" 2>"$T/rules2.err"
if [ "$(cat "$T/rules2")" = "100 0 tls 443 10.0.0.0/8
100 0 deny 9000 *
100 1 plain 443 *
100 1 tls 443,8443 *
400 3 tls 25 ::1/128" ] && [ "$(grep -c 'not understood, skipped' "$T/rules2.err")" = 3 ]; then
	pass "--policy-rules: a policy that does not parse or has a rule not understood is skipped with a note"
else
	fail "--policy-rules skips what it cannot read" "$(tr '\n' '|' <"$T/rules2") $(tr '\n' '|' <"$T/rules2.err")"
fi
"$PY" "$PYD/mkpcap.py" "$T/s.pcap" en10mb 4 stray >/dev/null   # 127.0.0.1 -> :443, time 1000
"$WA" --rules "$T/rules" "$T/s.pcap" >"$T/o1" 2>&1; rc1=$?
echo "100 5 tls * *" >>"$T/rules"
"$WA" --rules "$T/rules" "$T/s.pcap" >"$T/o2" 2>&1; rc2=$?
echo "2000 6 tls * *" >"$T/late"
"$WA" --rules "$T/late" "$T/s.pcap" >"$T/o3" 2>&1; rc3=$?
"$WA" --rules "$T/r443" --exclude 443@999,1001 "$T/s.pcap" >"$T/o4" 2>&1; rc4=$?
"$WA" --rules "$T/r443" --exclude 443@1001,1002 "$T/s.pcap" >"$T/o5" 2>&1; rc5=$?
if [ $rc1 -eq 0 ] && grep -q '^audited 0 TLS connections.* 1 other' "$T/o1"; then
	pass "first match wins (plain before tls), an address range that does not match: not audited"
else
	fail "first match wins, address ranges" "exit $rc1$(tail_of "$T/o1")"
fi
if [ $rc2 -eq 1 ]; then pass "a tls rule without a port audits every connection"
else fail "a tls rule without a port audits every connection" "exit $rc2$(tail_of "$T/o2")"; fi
if [ $rc3 -eq 0 ] && grep -q ' 1 other' "$T/o3"; then pass "a policy written after a connection started does not apply to it"
else fail "a policy applies from when it was written" "exit $rc3$(tail_of "$T/o3")"; fi
if [ $rc4 -eq 0 ] && [ $rc5 -eq 1 ]; then pass "--exclude PORT@FROM,TO leaves out only the connections started then"
else fail "--exclude by time window" "exits $rc4 $rc5$(tail_of "$T/o4" "$T/o5")"; fi

# --- a real capture ----------------------------------------------------------
A=$(free_port) B=$(free_port) C=$(free_port)
tcpdump -i lo -w "$T/live.pcap" -s 0 -U --immediate-mode -n -Z root -B 65536 \
	"tcp port $A or tcp port $B or tcp port $C or udp port 9" 2>"$T/tcpdump.err" </dev/null &
tcpd=$!; _bg_pids="$_bg_pids $tcpd"
if ! wait_for "$T/tcpdump.err" 'listening on' 15; then
	fail "live capture" "tcpdump did not start$(tail_of "$T/tcpdump.err")"; exit 1
fi
start_peer tls server --port "$A" --cert "$CERTS/server.crt" --key "$CERTS/server.key"
peer client --port "$A" --ca "$CERTS/ca.crt" --random 100000 >"$T/tls.cli" 2>&1
wait_exit "$PEER" 10
start_peer plain server --plain --port "$B"
peer raw --port "$B" --send "plain text on a TLS port" >"$T/plain.cli" 2>&1
wait_exit "$PEER" 10
# MPTCP over two subflows (an endpoint on a second address): a TLS-shaped
# record, the first subflow reset (ss -K), plain text over the second.
M=10.9.8.1 mp=no
mkdir -p "$T/mp"
if [ "$(cat /proc/sys/net/mptcp/enabled 2>/dev/null)" = 1 ] && ip addr add $M/32 dev lo 2>/dev/null &&
   ip addr add 10.9.8.2/32 dev lo 2>/dev/null && ip mptcp limits set subflows 2 add_addr_accepted 2 2>/dev/null &&
   ip mptcp endpoint add 10.9.8.2 dev lo subflow 2>/dev/null; then
	mp=yes
	"$PY" "$TLSSHIM_TOP/tests/preload/py/mptcp_subflow.py" echo $M "$C" "$T/mp" plain >"$T/mp.out" 2>&1 &
	mpid=$!
	if wait_for "$T/mp.out" '^reset ' 10; then
		set -- $(sed -n 's/^reset //p' "$T/mp.out")
		ss -K -tn src "$1" dst "$2" >/dev/null
		: >"$T/mp/killed"
	fi
	wait "$mpid"
fi
mark="wireaudit-selftest-end-$$"
"$PY" -c 'import socket, sys
socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(sys.argv[1].encode(), ("127.0.0.1", 9))' "$mark"
n=0; while ! grep -a -q -F "$mark" "$T/live.pcap" && [ $n -lt 100 ]; do sleep 0.1; n=$((n + 1)); done
stop "$tcpd"
printf '0 0 tls %s *\n' "$A" >"$T/ra"
printf '0 0 tls %s,%s *\n' "$A" "$B" >"$T/rab"
if ! grep -q '^echo ok 100000' "$T/tls.cli"; then
	fail "live capture: a TLS echo passes" "the TLS exchange failed$(tail_of "$T/tls.cli")"
elif "$WA" --test live --rules "$T/ra" "$T/live.pcap" >"$T/l1" 2>&1 && grep -q '^audited 1 TLS connections' "$T/l1"; then
	pass "live capture: a real TLS echo (100 KB both ways) passes"
else
	fail "live capture: a TLS echo passes" "$(tail_of "$T/l1" "$T/tcpdump.err")"
fi
"$WA" --test live --rules "$T/rab" "$T/live.pcap" >"$T/l2" 2>&1; rc=$?
if [ $rc -eq 1 ] && grep -q -E "^wireaudit: live: 127\.0\.0\.1:[0-9]+ -> 127\.0\.0\.1:$B \(client to server\) offset 0: byte 0x70 .*\| plain text on a TLS" "$T/l2"; then
	pass "live capture: plaintext on a port the rules call TLS fails, naming the connection, offset and bytes"
else
	fail "live capture: plaintext on a TLS port fails" "exit $rc$(tail_of "$T/l2")"
fi
if "$WA" --test live --rules "$T/rab" --exclude "$B" "$T/live.pcap" >"$T/l3" 2>&1; then
	pass "live capture: the plaintext connection, excluded, passes"
else
	fail "live capture: exclusion" "$(tail_of "$T/l3")"
fi

printf '0 0 tls %s *\n' "$C" >"$T/rc"
if [ $mp = no ]; then
	pass "live capture: MPTCP not testable here (no MPTCP, or no ip mptcp in this namespace)"
elif ! grep -q '^echo ok' "$T/mp.out"; then
	fail "live capture: MPTCP plain text over a second subflow" "the exchange failed: $(tr '\n' '|' <"$T/mp.out")"
else
	"$WA" --test live --rules "$T/rc" "$T/live.pcap" >"$T/l4" 2>&1; rc=$?
	if [ $rc -eq 1 ] && grep -q -E "^wireaudit: live: $M:[0-9]+ -> $M:$C \(client to server\) offset 9: byte 0x70 .*\| plain text after" "$T/l4" &&
	   grep -q '^audited 1 TLS connections' "$T/l4"; then
		pass "live capture: MPTCP, plain text over the second subflow after a TLS-shaped record on the first: found at its data-level offset (9), one connection"
	else
		fail "live capture: MPTCP plain text over a second subflow" "exit $rc$(tail_of "$T/l4")"
	fi
fi

# lib.sh's policy() from subshells at the same time (faults_timeout.sh runs
# its scenarios so): every policy is recorded, each in a file of its own
# with its own content.
mkdir -p "$T/ad"
: >"$T/ad/policies"
for _s in 1 2 3 4; do
	(
		TLSSHIM_AUDIT_DIR=$T/ad
		_i=0
		while [ $_i -lt 15 ]; do
			policy "$T/cc.$_s.$_i.conf" <<EOC
rules = ( { name = "cc"; direction = "connect"; port = $((30000 + _s * 100 + _i)); } );
EOC
			_i=$((_i + 1))
		done
	) &
done
wait
_ports=$(cut -d' ' -f2 "$T/ad/policies" | xargs sed -n 's/.*port = \([0-9]*\);.*/\1/p' 2>/dev/null | sort -u | wc -l)
_files=$(cut -d' ' -f2 "$T/ad/policies" | sort -u | wc -l)
if [ "$(wc -l <"$T/ad/policies")" -eq 60 ] && [ "$_files" -eq 60 ] && [ "$_ports" -eq 60 ]; then
	pass "policies written by 4 subshells at once: all 60 recorded for the audit, each in its own file"
else
	fail "concurrent policy() records every policy" "$(wc -l <"$T/ad/policies") lines, $_files files, $_ports distinct ports (want 60 each)"
fi

# --- --files: the recording relay's captures (fc_wire) ------------------------
# rec TYPE LEN: a record header (octal escapes: dash's printf)
rec() { printf "\\$(printf %o "$1")\\003\\003\\$(printf %o $(($2 >> 8)))\\$(printf %o $(($2 & 255)))"; }
# fwcase NAME WANT-STATUS WANT-PATTERN CASE [FC_WIRE ARGS...]: fc_wire on
# $T/NAME.wire with Python unusable (PY=false: it must start none); PASS
# CASE (with the verdict line) when its status and line are as wanted
fwcase() {
	_fn=$1 _ws=$2 _wp=$3 _fc=$4
	shift 4
	PY=false fc_wire "$_fn" "$@"
	_rc=$?
	case "$WIRE_OUT" in
	$_wp) if [ "$_rc" = "$_ws" ]; then pass "--files: $_fc ($WIRE_OUT)"; return; fi ;;
	esac
	fail "--files: $_fc" "status $_rc, want $_ws: $WIRE_OUT"
}
mkdir -p "$T/fok.wire" "$T/fstray.wire" "$T/fsent.wire" "$T/ftail.wire" "$T/fnone.wire"
{ rec 22 3; printf 'abc'; rec 23 4; printf 'wxyz'; rec 23 100; printf 'cut short'; } >"$T/fok.wire/c1.c2s"
{ rec 22 2; printf 'hi\025\003'; } >"$T/fok.wire/c1.s2c"
{ rec 22 2; printf 'hi'; printf '\027'; } >"$T/fok.wire/c2.c2s"
: >"$T/fok.wire/c2.s2c"
fwcase fok 0 "wire ok conns=2 bytes=$(cat "$T"/fok.wire/* | wc -c)" \
	"TLS records pass, a last record cut short and a last partial header too; connections and bytes counted; no Python started" \
	--min-conns 2 --need-bytes
{ rec 22 2; printf 'hiGET / HTTP/1.0'; } >"$T/fstray.wire/c1.c2s"
fwcase fstray 1 "wire BAD c1.c2s: offset 7: byte 0x47 is not a TLS record type*GET / HTTP*" \
	"plaintext after a record is reported, with its file and offset"
{ rec 22 $((${#SENT} + 2)); printf 'xx%s' "$SENT"; } >"$T/fsent.wire/c1.s2c"
fwcase fsent 1 "wire BAD c1.s2c: $SENT in clear at offset 7:*" "the sentinel inside well-framed bytes is reported"
{ rec 22 2; printf 'hiQ'; } >"$T/ftail.wire/c1.c2s"
fwcase ftail 1 "wire BAD c1.c2s: offset 7: stray bytes at the end, not a record header*" \
	"a last partial header that does not start with a record type is reported"
fwcase fnone 1 "wire BAD only 0 connections recorded, expected at least 1; nothing was recorded at all" \
	"too few connections and no bytes at all are reported when asked for" --min-conns 1 --need-bytes
fwcase fnone 0 "wire ok conns=0 bytes=0" "an empty directory passes when neither is asked for"
