#!/bin/sh
# tests/preload/neglen.sh — negative lengths where the library answers
# itself answer as the kernel does (py/neglen.py puts each call on a TLS
# fd, or a pumped one, beside the same call on a plain TCP socket).
#   * neglen_setsockopt: setsockopt of SO_RCVLOWAT, SO_PEEK_OFF,
#     SO_ZEROCOPY, TCP_ULP and SOL_TLS on a TLS fd with optlen -1 and
#     INT_MIN: EINVAL, as on the plain socket (main: SO_RCVLOWAT returned
#     0, the others EOPNOTSUPP: a negative int read as a socklen_t of
#     4 GiB, shim/sock.c);
#   * neglen_names: getpeername/getsockname on a fd whose session went to
#     a pump (a fork with the session live) with *len -1 and INT_MIN:
#     EINVAL and nothing written; a null address with *len 0: 0 and *len
#     the address's length; *len 0 and 4: 0 and the length (main: the
#     address written, 0 returned, for a negative *len; EFAULT for a null
#     address with *len 0: shim/connect.c, pumped_addr);
#   * neglen_pumped: the pumped fd still names the session's peer (the
#     port of the TLS server, not the pump's channel).
. "$(dirname "$0")/../lib.sh"
. "$TLSSHIM_TOP/tests/preload/common.inc"
need_shim neglen_setup

P=$(free_port)
policy "$T/srv.conf" <<EOF2
rules = ( { name = "neglen-in"; direction = "accept"; port = $P;
            cert = "$CERTS/server.crt"; key = "$CERTS/server.key"; } );
EOF2
policy "$T/cli.conf" <<EOF2
rules = ( { name = "neglen-out"; direction = "connect"; port = $P; ca = "$CERTS/ca.crt";
            server_name = "localhost"; } );
EOF2
POLICY="$T/srv.conf" TLSSHIM_LOG_FILE="$T/srv.log" shimbg "$PROGS/pingpong" server "$P" \
	>"$T/srv.out" 2>"$T/srv.err"
SRV=$!
if ! wait_for "$T/srv.out" '^listening' 20; then
	fail neglen_setup "pingpong server never listened$(show "$T/srv.err")"
	stop "$SRV"
	exit 1
fi
POLICY="$T/cli.conf" TLSSHIM_LOG_FILE="$T/cli.log" shimmed \
	"$PY" "$TLSSHIM_TOP/tests/preload/py/neglen.py" "$P" >"$T/cli.out" 2>&1
rc=$?
for kid in $(cat "/proc/$SRV/task/$SRV/children" 2>/dev/null); do
	kill "$kid" 2>/dev/null
done
stop "$SRV"
if [ "$rc" -ne 0 ] || ! grep -q '^pumped ' "$T/cli.out"; then
	fail neglen_run "the program failed (exit $rc)$(show "$T/cli.out" "$T/cli.log")"
	exit 1
fi

# check NAME PREFIX: every line PREFIX* answered as the plain socket did
check() {
	_bad=$(grep "^$2" "$T/cli.out" | awk '{ t = $2; p = $3; sub(/^tls=/, "", t); sub(/^plain=/, "", p);
		if (t != p || NF != 3) print }')
	_n=$(grep -c "^$2" "$T/cli.out")
	if [ "$_n" -lt "$3" ]; then
		fail "$1" "$_n calls, want $3$(show "$T/cli.out")"
	elif [ -n "$_bad" ]; then
		fail "$1" "answered unlike the kernel: $(echo "$_bad" | tr '\n' '|')"
	else
		pass "$1 ($_n calls answered as on a plain socket: $(grep "^$2" "$T/cli.out" |
			awk '{ print $1 ": " $3 }' | sed 's/plain=//' | tr '\n' ';' | cut -c1-300))"
	fi
}
check neglen_setsockopt setsockopt_ 10
if grep '^setsockopt_' "$T/cli.out" | grep -qv 'plain=EINVAL'; then
	fail neglen_setsockopt_kernel "the kernel did not say EINVAL$(show "$T/cli.out")"
fi
check neglen_names 'get\(peer\|sock\)name_' 10
if grep -q '^pumped '"$P"' moved$' "$T/cli.out"; then
	pass "neglen_pumped (the session went to a pump; its fd names the peer's port $P)"
else
	fail neglen_pumped "not pumped, or the peer not named$(show "$T/cli.out" "$T/cli.log")"
fi
