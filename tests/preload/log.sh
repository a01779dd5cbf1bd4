#!/bin/sh
# tests/preload/log.sh — TLSSHIM_LOG and TLSSHIM_LOG_FILE: the line
# prefix tlsshim[PID], what info level tells about a connection (peer
# address:port, rule name, protocol, cipher, verified peer identity) on
# both sides, the levels, standard error by default, and that no line ever
# holds the program's plaintext or key material, even at debug level.
. "$(dirname "$0")/../lib.sh"
. "$TLSSHIM_TOP/tests/preload/common.inc"
need_shim log_setup

MARK=SECRET-PLAINTEXT-1234
CLIENT_CN=$(openssl x509 -in "$CERTS/client.crt" -noout -subject -nameopt multiline | sed -n 's/^ *commonName *= *//p')

# missing_in FILE WORDS...: print the first WORD that occurs in none of
# the lines of FILE that contain $SEL (a fixed string); nothing if all do.
missing_in() {
	_mi_f=$1; shift
	grep -F -e "$SEL" "$_mi_f" >"$_mi_f.sel" 2>/dev/null
	for _mi_w in "$@"; do
		[ -n "$_mi_w" ] || { echo "(an expected word is empty: the test could not learn it)"; return 0; }
		grep -q -F -e "$_mi_w" "$_mi_f.sel" || { echo "$_mi_w"; return 0; }
	done
	return 0
}

# prefix_ok FILE PID: every line starts with "tlsshim[PID]: ".
prefix_ok() { [ -s "$1" ] && ! grep -v -q "^tlsshim\[$2\]: " "$1"; }

# --- info, server side: mutual TLS, TLS 1.3 ---------------------------------
name=log_info_server_connection
P=$(free_port)
policy "$T/$name.conf" <<EOF
rules = (
  { name = "logged-in"; direction = "accept"; port = $P;
    cert = "$CERTS/server.crt"; key = "$CERTS/server.key";
    require_client_cert = true; ca = "$CERTS/ca.crt"; }
);
EOF
export TLSSHIM_LOG=info TLSSHIM_LOG_FILE="$T/$name.log"
if start_echo "$name" -1 "$P"; then
	peer client --port "$P" --ca "$CERTS/ca.crt" --cert "$CERTS/client.crt" --key "$CERTS/client.key" \
		--tls13 --send "$MARK" >"$T/$name.cli" 2>&1
	wait_exit "$SRV" 10
	local_ap=$(sed -n 's/^local //p' "$T/$name.cli")
	cipher=$(sed -n 's/^cipher //p' "$T/$name.cli")
	SEL=$local_ap
	miss=$(missing_in "$T/$name.log" "logged-in" "TLSv1.3" "$cipher" "$CLIENT_CN")
	if ! grep -q '^echo ok' "$T/$name.cli"; then
		fail "$name" "the connection failed$(show "$T/$name.cli" "$T/$name.log")"
	elif ! prefix_ok "$T/$name.log" "$SRV"; then
		fail "$name" "not every line starts with 'tlsshim[$SRV]: '$(show "$T/$name.log")"
	elif [ -z "$local_ap" ] || ! grep -q -F "$local_ap" "$T/$name.log"; then
		fail "$name" "no line names the peer $local_ap$(show "$T/$name.log")"
	elif [ -n "$miss" ]; then
		fail "$name" "the lines about $local_ap do not say '$miss'$(show "$T/$name.log")"
	elif ! has_no "$T/$name.log" "$MARK"; then
		fail "$name" "the log holds the program's plaintext"
	else
		pass "$name"
	fi
else
	fail "$name" "echo_server never listened$(show "$T/$name.err")"
fi

# --- info, client side: TLS 1.3 and TLS 1.2 --------------------------------
for v in 13 12; do
	name=log_info_client_connection_tls$v
	P=$(free_port)
	policy "$T/$name.conf" <<EOF
rules = ( { name = "logged-out"; direction = "connect"; port = $P; ca = "$CERTS/ca.crt"; } );
EOF
	export TLSSHIM_LOG=info TLSSHIM_LOG_FILE="$T/$name.log"
	if ! start_peer "$name.peer" server --port "$P" --cert "$CERTS/server.crt" --key "$CERTS/server.key" \
		--status "$T/$name.st" --tls$v; then
		fail "$name" "server did not start"; continue
	fi
	printf '%s\n' "$MARK" >"$T/$name.in"
	shimbg "$PROGS/client" localhost "$P" <"$T/$name.in" >"$T/$name.got" 2>"$T/$name.err"
	cpid=$!
	wait_exit "$cpid" 20; rc=$?
	wait_exit "$PEER" 10
	cipher=$(sed -n 's/^tls version=[^ ]* cipher=\([^ ]*\) .*/\1/p' "$T/$name.st")
	SEL="127.0.0.1:$P"
	if [ $v = 13 ]; then
		miss=$(missing_in "$T/$name.log" "logged-out" "TLSv1.3" "$cipher" "localhost")
	else
		miss=$(missing_in "$T/$name.log" "logged-out" "TLSv1.2" "localhost")
	fi
	if [ "$rc" -ne 0 ]; then
		fail "$name" "client exited $rc$(show "$T/$name.err" "$T/$name.log")"
	elif ! prefix_ok "$T/$name.log" "$cpid"; then
		fail "$name" "not every line starts with 'tlsshim[$cpid]: '$(show "$T/$name.log")"
	elif ! grep -q -F "$SEL" "$T/$name.log"; then
		fail "$name" "no line names the peer $SEL$(show "$T/$name.log")"
	elif [ -n "$miss" ]; then
		fail "$name" "the lines about $SEL do not say '$miss'$(show "$T/$name.log")"
	elif ! has_no "$T/$name.log" "$MARK"; then
		fail "$name" "the log holds the program's plaintext"
	else
		pass "$name"
	fi
done
unset TLSSHIM_LOG

# --- levels: a refused connection is a warning: logged at warn (the
# default), not at error; a good connection says nothing at warn ----------
P=$(free_port)
policy "$T/levels.conf" <<EOF
rules = ( { name = "lv"; direction = "connect"; port = $P; ca = "$CERTS/ca.crt"; } );
EOF
if start_peer levels.peer server --port "$P" --count 3 --cert "$CERTS/expired.crt" --key "$CERTS/expired.key"; then
	name=log_level_error_hides_warnings
	rm -f "$T/lv-error.log"
	echo x | TLSSHIM_LOG=error TLSSHIM_LOG_FILE="$T/lv-error.log" shimmed "$PROGS/client" localhost "$P" >/dev/null 2>"$T/lv-error.err"
	rc=$?
	if [ "$rc" -eq 2 ] && [ "$(lines "$T/lv-error.log" 'expired')" -eq 0 ]; then pass "$name"
	else fail "$name" "client exit $rc (want 2); log at level error$(show "$T/lv-error.log")"; fi

	name=log_level_warn_is_default
	rm -f "$T/lv-warn.log"
	echo x | env -u TLSSHIM_LOG TLSSHIM_LOG_FILE="$T/lv-warn.log" LD_PRELOAD="$SHIM_PRELOAD" TLSSHIM_CONFIG="$POLICY" \
		timeout $((20 * TS)) "$PROGS/client" localhost "$P" >/dev/null 2>"$T/lv-warn.err"
	rc=$?
	if [ "$rc" -eq 2 ] && [ "$(lines "$T/lv-warn.log" 'expired')" -eq 1 ]; then pass "$name"
	else fail "$name" "client exit $rc (want 2); expected one 'expired' line$(show "$T/lv-warn.log" "$T/lv-warn.err")"; fi

	# Without TLSSHIM_LOG_FILE the lines go to standard error.
	name=log_goes_to_stderr_by_default
	echo x | env -u TLSSHIM_LOG -u TLSSHIM_LOG_FILE LD_PRELOAD="$SHIM_PRELOAD" TLSSHIM_CONFIG="$POLICY" \
		timeout $((20 * TS)) "$PROGS/client" localhost "$P" >/dev/null 2>"$T/lv-stderr.err"
	rc=$?
	if [ "$rc" -eq 2 ] && grep -q -i '^tlsshim\[[0-9]*\]: .*expired' "$T/lv-stderr.err" &&
		grep -q '^client: connect: Connection refused$' "$T/lv-stderr.err"; then
		pass "$name"
	else
		fail "$name" "client exit $rc$(show "$T/lv-stderr.err")"
	fi
	stop "$PEER"
else
	fail log_levels "server did not start"
fi

name=log_level_warn_silent_on_success
P=$(free_port)
policy "$T/$name.conf" <<EOF
rules = ( { name = "quiet"; direction = "connect"; port = $P; ca = "$CERTS/ca.crt"; } );
EOF
rm -f "$T/$name.log"
if start_peer "$name.peer" server --port "$P" --cert "$CERTS/server.crt" --key "$CERTS/server.key"; then
	echo x | env -u TLSSHIM_LOG TLSSHIM_LOG_FILE="$T/$name.log" LD_PRELOAD="$SHIM_PRELOAD" TLSSHIM_CONFIG="$POLICY" \
		timeout $((20 * TS)) "$PROGS/client" localhost "$P" >"$T/$name.got" 2>"$T/$name.err"
	rc=$?
	wait_exit "$PEER" 10
	if [ "$rc" -eq 0 ] && [ ! -s "$T/$name.log" ] && [ ! -s "$T/$name.err" ]; then pass "$name"
	else fail "$name" "client exit $rc; expected no log line at level warn$(show "$T/$name.log" "$T/$name.err")"; fi
else
	fail "$name" "server did not start"
fi

# --- debug: both ends shimmed (server and client, client certificate), the
# marker crosses; no line holds it, nor any key material -------------------
name=log_debug_never_shows_plaintext_or_keys
P=$(free_port)
policy "$T/$name.conf" <<EOF
rules = (
  { name = "dbg-in"; direction = "accept"; port = $P;
    cert = "$CERTS/server.crt"; key = "$CERTS/server.key";
    require_client_cert = true; ca = "$CERTS/ca.crt"; },
  { name = "dbg-out"; direction = "connect"; port = $P; ca = "$CERTS/ca.crt";
    cert = "$CERTS/client.crt"; key = "$CERTS/client.key"; }
);
EOF
export TLSSHIM_LOG=debug TLSSHIM_LOG_FILE="$T/$name.log"
if start_echo "$name" -1 "$P"; then
	printf '%s\n' "$MARK" | shimmed "$PROGS/client" localhost "$P" >"$T/$name.got" 2>"$T/$name.cerr"
	rc=$?
	wait_exit "$SRV" 10
	keyline=$(sed -n 2p "$CERTS/server.key" | cut -c1-40)
	ckeyline=$(sed -n 2p "$CERTS/client.key" | cut -c1-40)
	if [ "$rc" -ne 0 ] || [ "$(cat "$T/$name.got")" != "$MARK" ]; then
		fail "$name" "the transfer failed (exit $rc)$(show "$T/$name.cerr" "$T/$name.err" "$T/$name.log")"
	elif [ "$(lines "$T/$name.log" '.')" -lt 2 ]; then
		fail "$name" "debug level logged almost nothing$(show "$T/$name.log")"
	elif ! has_no "$T/$name.log" "$MARK"; then
		fail "$name" "a log line holds the program's plaintext"
	elif grep -q -i -E 'PRIVATE KEY|CLIENT_RANDOM|TRAFFIC_SECRET|EXPORTER_SECRET|master.?secret' "$T/$name.log"; then
		fail "$name" "a log line holds key material$(show "$T/$name.log")"
	elif ! has_no "$T/$name.log" "$keyline" || ! has_no "$T/$name.log" "$ckeyline"; then
		fail "$name" "a log line holds a private key's PEM text"
	else
		pass "$name"
	fi
else
	fail "$name" "echo_server never listened$(show "$T/$name.err")"
fi
unset TLSSHIM_LOG

# --- rate limit of warn lines (TLSSHIM_LOG_LIMIT) -----------------------------
# A hostile peer's bad connections: a TLS record that is no ClientHello
# ("handshake failed: ..."), or a hang-up before the handshake.  Both are
# TLS-shaped or empty on the wire (no audit exclusion needed).
# badconns PORT N KIND: N connections of KIND (junk|hangup), one after the
# other, each waiting for the server to close it; bounded in time.
badconns() {
	"$PY" - "$1" "$2" "$3" $((20 * TS)) <<'PYEOF'
import socket, sys, time
port, n, kind, bound = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], float(sys.argv[4])
end = time.monotonic() + bound
for i in range(n):
    if time.monotonic() > end:
        sys.exit("badconns: time bound reached after %d connections" % i)
    s = socket.create_connection(("127.0.0.1", port), timeout=bound)
    if kind == "junk":
        s.sendall(b"\x16\x03\x01\x00\x05hello")
        try:
            while s.recv(4096):
                pass
        except OSError:
            pass
    s.close()
PYEOF
}
JUNK='rule "lim-in": handshake failed'
HANGUP='rule "lim-in": peer closed the connection during the handshake'

# flood LIMIT: 150 bad connections of one kind, then one of another kind,
# to a server whose environment has TLSSHIM_LOG_LIMIT=LIMIT (empty: unset);
# N is the first kind's number of lines.  1 when the flood did not run, 2
# when the other kind's first line is missing.
flood() {
	P=$(free_port)
	policy "$T/$name.conf" <<EOF
rules = ( { name = "lim-in"; direction = "accept"; port = $P;
    cert = "$CERTS/server.crt"; key = "$CERTS/server.key"; } );
EOF
	if [ -n "$1" ]; then export TLSSHIM_LOG_LIMIT="$1"; else unset TLSSHIM_LOG_LIMIT; fi
	export TLSSHIM_LOG=warn TLSSHIM_LOG_FILE="$T/$name.log"
	start_echo "$name" "$P" || { echo "echo_server never listened$(show "$T/$name.err")" >"$T/$name.flood"; return 1; }
	badconns "$P" 150 junk 2>"$T/$name.flood"
	badconns "$P" 1 hangup 2>>"$T/$name.flood"
	wait_for "$T/$name.log" "$HANGUP" 10
	stop "$SRV"
	unset TLSSHIM_LOG_LIMIT
	N=$(grep -c -F "$JUNK" "$T/$name.log")
	[ -s "$T/$name.flood" ] && return 1
	[ "$(grep -c -F "$HANGUP" "$T/$name.log")" -eq 1 ] || return 2
	return 0
}

# The default (the contract: one warn line for each failed handshake):
# 150 bad connections, 150 lines.
name=log_limit_default_logs_every_failed_connection
flood ""
case $? in
0)	if [ "$N" -eq 150 ]; then pass "$name"; else fail "$name" "150 bad connections made $N lines, not 150$(show "$T/$name.log")"; fi ;;
1)	fail "$name" "the flood did not run$(show "$T/$name.flood")" ;;
*)	fail "$name" "the line of the other kind is missing$(show "$T/$name.log")" ;;
esac

# TLSSHIM_LOG_LIMIT=100: 150 bad connections of one kind make its burst
# of 100 lines (the old library: 150); a line of another kind still
# appears.
name=log_limit_bounds_a_flood
flood 100
case $? in
0)	if [ "$N" -ge 100 ] && [ "$N" -le 110 ]; then pass "$name"
	else fail "$name" "150 bad connections of one kind made $N lines, not 100 (the burst; 100 more a minute)$(show "$T/$name.log")"; fi ;;
1)	fail "$name" "the flood did not run$(show "$T/$name.flood")" ;;
*)	fail "$name" "the first line of another kind was suppressed$(show "$T/$name.log")" ;;
esac

# TLSSHIM_LOG_LIMIT=3,1/1: three lines, then, once a line is allowed
# again, one "N similar lines suppressed" line before it.
name=log_limit_summary_when_it_resumes
P=$(free_port)
policy "$T/$name.conf" <<EOF
rules = ( { name = "lim-in"; direction = "accept"; port = $P;
    cert = "$CERTS/server.crt"; key = "$CERTS/server.key"; } );
EOF
export TLSSHIM_LOG_FILE="$T/$name.log" TLSSHIM_LOG_LIMIT=3,1/1
if start_echo "$name" "$P"; then
	badconns "$P" 10 junk 2>"$T/$name.flood"
	first=$(grep -c -F "$JUNK" "$T/$name.log")
	# One more a few times a second until the limit lets one through
	# (1 a second), at most 20 s.
	i=0
	while [ $i -lt $((60 * TS)) ] && ! grep -q 'similar lines suppressed' "$T/$name.log"; do
		badconns "$P" 1 junk 2>>"$T/$name.flood"
		i=$((i + 1))
	done
	stop "$SRV"
	supp=$(sed -n 's/.*warn: \([0-9]*\) similar lines suppressed.*/\1/p' "$T/$name.log")
	if [ -s "$T/$name.flood" ]; then
		fail "$name" "the flood did not run$(show "$T/$name.flood")"
	elif [ "$first" -gt 3 ]; then
		fail "$name" "10 bad connections with TLSSHIM_LOG_LIMIT=3,1/1 made $first lines at once, not 3$(show "$T/$name.log")"
	elif [ -z "$supp" ] || [ "$supp" -lt 7 ]; then
		fail "$name" "no 'N similar lines suppressed' line (N >= 7) when lines resumed$(show "$T/$name.log")"
	elif ! grep -A1 'similar lines suppressed' "$T/$name.log" | tail -n 1 | grep -q -F "$JUNK"; then
		fail "$name" "the summary is not followed by a line of its kind$(show "$T/$name.log")"
	else
		pass "$name"
	fi
else
	fail "$name" "echo_server never listened$(show "$T/$name.err")"
fi

# A forking server: each child logs its own connection's failure; the
# children share one limit (3 lines for 12 bad connections, not 12).  A
# bad TLSSHIM_LOG_LIMIT is said once (and every line logged).
name=log_limit_shared_by_forked_children
P=$(free_port)
policy "$T/$name.conf" <<EOF
rules = ( { name = "lim-in"; direction = "accept"; port = $P;
    cert = "$CERTS/server.crt"; key = "$CERTS/server.key"; } );
EOF
export TLSSHIM_LOG_FILE="$T/$name.log" TLSSHIM_LOG_LIMIT=3,1/3600
shimbg "$PROGS/fork_server" "$P" 12 >"$T/$name.out" 2>"$T/$name.err"
SRV=$!
if wait_for "$T/$name.out" '^listening' 10; then
	badconns "$P" 12 junk 2>"$T/$name.flood"
	wait_exit "$SRV" 10
	n=$(grep -c -F "$JUNK" "$T/$name.log")
	TLSSHIM_LOG_LIMIT=3,1/0 TLSSHIM_LOG_FILE="$T/$name.bad.log" shimmed "$PROGS/client" -h >/dev/null 2>&1
	if [ -s "$T/$name.flood" ]; then
		fail "$name" "the flood did not run$(show "$T/$name.flood")"
	elif [ "$n" -ne 3 ]; then
		fail "$name" "12 bad connections to a forking server with TLSSHIM_LOG_LIMIT=3,1/3600 made $n lines, not 3$(show "$T/$name.log")"
	elif [ "$(lines "$T/$name.bad.log" 'TLSSHIM_LOG_LIMIT="3,1/0" is not')" -ne 1 ]; then
		fail "$name" "TLSSHIM_LOG_LIMIT=3,1/0 was not said to be wrong once$(show "$T/$name.bad.log")"
	else
		pass "$name"
	fi
else
	fail "$name" "fork_server never listened$(show "$T/$name.err")"
fi
unset TLSSHIM_LOG TLSSHIM_LOG_LIMIT

# --- a log that cannot keep up (py/logfull.py) ------------------------------
# The library wrote its lines blocking: a TLSSHIM_LOG_FILE FIFO or a
# standard-error pipe whose reader stopped reading held the program in
# write() at its next line, and a pipe whose reader had gone raised SIGPIPE
# (the program died, or found one pending it never caused).  Now a line
# the log cannot take at once is dropped and counted ("1 log line dropped"
# leads the next line written), with no SIGPIPE; a full file system
# (ENOSPC, a 32 KB tmpfs here) is counted too.  Each "deny" is a connect
# to a deny rule's port: one warn line.
P=$(free_port)
policy "$T/full.conf" <<EOF2
rules = ( { name = "full-deny"; direction = "connect"; port = $P; action = "deny"; } );
EOF2
mkdir -p "$T/small"
SMALL=
mount -t tmpfs -o size=32k none "$T/small" 2>/dev/null && SMALL=$T/small
env -u TLSSHIM_LOG_FILE timeout -k 2 $((60 * TS)) "$PY" "$TLSSHIM_TOP/tests/preload/py/logfull.py" \
	"$SHIM_PRELOAD" "$T/full.conf" "$P" "$T" "$TS" $SMALL >"$T/full.out" 2>"$T/full.err"
rc=$?
for c in fifo_full_no_stall fifo_full_counted stderr_full_no_stall stderr_full_counted fifo_gone_no_sigpipe \
	fifo_gone_sigpipe_blocked_not_pending stderr_gone_no_sigpipe ${SMALL:+enospc_counted}; do
	name=log_cannot_keep_up_$c
	if grep -q "^ok $c " "$T/full.out"; then pass "$name ($(sed -n "s/^ok $c //p" "$T/full.out" | cut -c1-120))"
	else fail "$name" "$(grep "^bad $c " "$T/full.out" || echo "no result (exit $rc)")$(show "$T/full.err")"; fi
done
[ -n "$SMALL" ] && umount "$T/small"
