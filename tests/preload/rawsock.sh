#!/bin/sh
# tests/preload/rawsock.sh — raw and packet sockets (root, CAP_NET_RAW):
# a program crafts its own TCP segments, carrying its plain text, to a
# TLS rule's port, past the kernel's TCP and so past the library:
#  - socket(AF_INET/AF_INET6, SOCK_RAW, IPPROTO_TCP or IPPROTO_RAW),
#    sent with sendto, connect+writev, sendmmsg;
#  - a raw ICMP socket with IP_HDRINCL (an IP header of protocol TCP);
#  - socket(AF_PACKET, SOCK_RAW or SOCK_DGRAM), socket(AF_INET,
#    SOCK_PACKET), a PACKET_TX_RING with PACKET_QDISC_BYPASS;
#  - a raw socket inherited across exec (TCP's, or ICMP's with
#    IP_HDRINCL on), received with SCM_RIGHTS, taken with pidfd_getfd,
#    or made by a raw system call instruction.
# XDP and tc programs, which write the packets the kernel sends, are the
# same class: loading one (an XDP one then attached by rtnetlink IFLA_XDP),
# taking one another process holds by its id, or linking one loaded
# before the library, is refused, and one inherited is replaced (its
# rtnetlink attach fails).
# While the policy has TLS rules each is refused (EPERM at socket() or
# setsockopt(), a warn line; one that arrives from elsewhere is replaced
# by a dead socket) unless the policy says raw_sockets = "allow"; a
# packet sniffer on lo (rawsend sniff, without the library) must not see
# the case's sentinel.  ICMP raw sockets (ping, ping6) keep working, and
# so does everything under a policy without TLS rules or with the key.
. "$TLSSHIM_TOP/tests/lib.sh"
. "$TLSSHIM_TOP/tests/preload/common.inc"
need_shim

SENT="RAWSECRET-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
R=$(free_port)
policy "$T/tls.conf" <<EOC
rules = ( { name = "out"; direction = "connect"; port = $R; address = "127.0.0.1/32";
            ca = "$CERTS/ca.crt"; },
          { name = "out6"; direction = "connect"; port = $R; address = "::1/128";
            ca = "$CERTS/ca.crt"; } );
EOC
TLS_POLICY=$POLICY

# sniffed NAME MODE PORT [PRELOAD_VAR]: rawsend send MODE PORT under
# $POLICY (the library in PRELOAD_VAR, default LD_PRELOAD) with a packet
# sniffer on lo; OUT is its steps on one line, SNIFF the sniffer's verdict
# ("clean", "seen N": frames that held the case's sentinel).
sniffed() {
	_pl="$SENT-$1"
	bg "$PROGS/rawsend" sniff "$_pl" "END-$_pl" $((10000 * TS)) >"$T/$1.sniff" 2>&1
	_sp=$!
	if ! wait_for "$T/$1.sniff" '^ready' 10; then
		OUT="" SNIFF="the sniffer did not start: $(tr '\n' ' ' <"$T/$1.sniff")"
		stop "$_sp"
		return
	fi
	OUT=$(TLSSHIM_LOG_FILE="$T/$1.log" timeout -k 2 $((20 * TS)) env "${4:-LD_PRELOAD}=$SHIM_PRELOAD" \
		TLSSHIM_CONFIG="$POLICY" "$PROGS/rawsend" send "$2" "$3" "$_pl" 2>&1 | tr '\n' ' ')
	"$PROGS/rawsend" mark "END-$_pl"
	wait_exit "$_sp" 10
	SNIFF=$(tail -n 1 "$T/$1.sniff")
}

# refused MODE STEP LOGLINE WHAT [PRELOAD_VAR]: under the TLS
# policy, STEP of MODE failed (EPERM unless STEP is "send", whose error
# depends on what was left on the number), the log has LOGLINE, and the
# sniffer saw no sentinel.
refused() {
	POLICY=$TLS_POLICY
	sniffed "$1" "$1" "$R" "${5:-}"
	case "$2" in
	send) _ok=$(case "$OUT" in *"send: ok"*|"") echo "" ;; *"send: "*) echo 1 ;; esac) ;;
	*) _ok=$(case "$OUT" in *"$2: Operation not permitted"*) echo 1 ;; esac) ;;
	esac
	if [ -n "$_ok" ] && [ "$SNIFF" = clean ] && grep -q "$3" "$T/$1.log"; then
		pass "$4: refused ($OUT), logged, nothing on the wire"
	else
		fail "$4 refused" "$OUT; sniffer: $SNIFF; log: $(tail_of "$T/$1.log")"
	fi
}

# Can this machine send raw at all (CAP_NET_RAW in the test's namespace)?
POLICY=$TLS_POLICY
native=$("$PROGS/rawsend" send raw4 "$(free_port)" probe 2>&1 | tr '\n' ' ')
case "$native" in
"socket: ok send: ok ")
	refused raw4 socket "raw IPv4 socket of protocol 6.*refused" \
		"raw IPv4 TCP socket (sendto) to a TLS port"
	refused raw4-vec socket "raw IPv4 socket of protocol 6.*refused" \
		"raw IPv4 TCP socket (connect, writev) to a TLS port"
	refused raw4-hdrincl socket "raw IPv4 socket of protocol 255.*refused" \
		"raw IPv4 IPPROTO_RAW socket (IP header of its own) to a TLS port"
	refused icmp-hdrincl hdrincl "IP_HDRINCL.*refused" \
		"raw ICMP socket with IP_HDRINCL (an IP header of protocol TCP) to a TLS port"
	refused raw6 socket "raw IPv6 socket of protocol 6.*refused" \
		"raw IPv6 TCP socket (sendmmsg) to a TLS port"
	refused raw6-hdrincl socket "raw IPv6 socket of protocol 255.*refused" \
		"raw IPv6 IPPROTO_RAW socket (IPv6 header of its own) to a TLS port"
	refused packet socket "packet socket.*refused" \
		"AF_PACKET SOCK_RAW frame on lo to a TLS port"
	refused packet-dgram socket "packet socket.*refused" \
		"AF_PACKET SOCK_DGRAM packet on lo to a TLS port"
	refused packet-inet socket "packet socket.*refused" \
		"AF_INET SOCK_PACKET (the old packet interface) frame to a TLS port"
	refused packet-ring socket "packet socket.*refused" \
		"AF_PACKET PACKET_TX_RING with PACKET_QDISC_BYPASS to a TLS port"
	refused inherit send "raw IPv4 socket of protocol 6.*inherited.*replaced" \
		"raw IPv4 TCP socket inherited across exec" X_PRELOAD
	refused inherit-icmp send "raw ICMP socket with IP_HDRINCL on.*inherited.*replaced" \
		"raw ICMP socket with IP_HDRINCL on, inherited across exec" X_PRELOAD
	refused rawsys send "raw IPv4 socket of protocol 6.*replaced" \
		"raw IPv4 TCP socket made by a raw system call instruction"
	refused getfd send "raw IPv4 socket of protocol 6.*replaced" \
		"raw IPv4 TCP socket taken with pidfd_getfd"
	refused scm send "raw IPv4 socket of protocol 6.*replaced" \
		"raw IPv4 TCP socket received with SCM_RIGHTS"

	# XDP and tc programs: the same class (they write the packets the
	# kernel sends).  bpf_case MODE OUT LOGLINE: rawsend bpf MODE under the
	# TLS policy printed OUT (a case pattern) and logged LOGLINE.
	POLICY=$TLS_POLICY
	bpf_case() {
		pre=LD_PRELOAD
		[ "$1" = xdp-inherit ] && pre=X_PRELOAD
		out=$(TLSSHIM_LOG_FILE="$T/$1.log" timeout -k 2 $((20 * TS)) env "$pre=$SHIM_PRELOAD" \
			TLSSHIM_CONFIG="$POLICY" "$PROGS/rawsend" bpf "$1" 2>&1 | tr '\n' ' ')
		# shellcheck disable=SC2254
		case "$out" in
		$2)
			if grep -q "$3" "$T/$1.log"; then
				pass "$1: refused under a policy with TLS rules (logged): $out"
			else
				fail "$1 refused" "no log line: $(tail_of "$T/$1.log")"
			fi ;;
		*)
			fail "$1 refused under a policy with TLS rules" "$out; log: $(tail_of "$T/$1.log")" ;;
		esac
	}
	# loaded before the library: its link refused, and its rtnetlink
	# attach (IFLA_XDP) fails, the descriptor replaced at start-up
	bpf_case xdp-inherit "prog_load: ok link: *xdp_attach: *" "is an XDP, tc or lwt BPF program.*replaced"
	case "$out" in *"link: ok"*|*"xdp_attach: ok"*) fail "xdp-inherit: nothing attached" "$out" ;; esac
	# held by another process, taken by its id
	bpf_case xdp-id "get_by_id: Operation not permitted " "taking an XDP, tc or lwt program refused"
	# loaded under the library (and then attached by rtnetlink IFLA_XDP)
	bpf_case xdp "prog_load: Operation not permitted " "loading an XDP, tc or lwt program refused"
	bpf_case tc "prog_load: Operation not permitted " "loading an XDP, tc or lwt program refused"

	# ping and ping6 keep working under the TLS policy
	for p in ping ping6; do
		out=$(TLSSHIM_LOG_FILE="$T/$p.log" shimmed "$PROGS/rawsend" "$p" 2>&1 | tr '\n' ' ')
		if [ "$out" = "socket: ok ping: ok " ]; then
			pass "$p: a raw ICMP socket works under a policy with TLS rules"
		else
			fail "$p under a policy with TLS rules" "$out; log: $(tail_of "$T/$p.log")"
		fi
	done

	# raw_sockets = "allow": the program's raw and packet sockets work, to
	# a port no rule names (the wire audit would see the sentinel on R)
	S=$(free_port)
	policy "$T/allow.conf" <<EOC
raw_sockets = "allow";
rules = ( { name = "out"; direction = "connect"; port = $R; address = "127.0.0.1/32";
            ca = "$CERTS/ca.crt"; } );
EOC
	for m in raw4 packet; do
		sniffed "allow-$m" "$m" "$S"
		case "$OUT/$SNIFF" in
		"socket: ok send: ok /seen "*)
			pass "raw_sockets = \"allow\": $m works as without the library ($SNIFF)" ;;
		*)
			fail "raw_sockets = \"allow\": $m works" "$OUT; sniffer: $SNIFF; log: $(tail_of "$T/allow-$m.log")" ;;
		esac
	done

	# a policy without TLS rules: as without the library
	policy "$T/plain.conf" <<EOC
rules = ( { name = "plain-only"; direction = "connect"; port = 9; action = "plain"; } );
EOC
	sniffed plain-raw4 raw4 "$S"
	case "$OUT/$SNIFF" in
	"socket: ok send: ok /seen "*)
		pass "a raw TCP socket under a policy without TLS rules: works as without the library ($SNIFF)" ;;
	*)
		fail "a raw TCP socket without TLS rules works" "$OUT; sniffer: $SNIFF; log: $(tail_of "$T/plain-raw4.log")" ;;
	esac ;;
*)
	pass "raw sockets: not testable here (without the library: $native)" ;;
esac
