#!/bin/sh
# tests/preload/closefin.sh — close_notify goes out in the FIN's segment
# (shim/tlsio.c, send_close_notify; core/tls.c, tls_conn_close_notify_fin).
#
# When the library knows the socket's FIN follows its close_notify at once
# (the lingering close's shutdown(SHUT_WR); the close of a socket no other
# descriptor or process holds, shim_sock_whole; the program's own
# shutdown(SHUT_WR)), the record is sent with MSG_MORE and the kernel sends
# it and the FIN in one segment: one segment less at each end of a
# connection, and one ACK less from the peer (bench/README.md, "The
# resumed rows with both ends shimmed, counted").  Before, the record went
# out alone and the FIN after it, unless Nagle happened to hold the record
# (a server's close right after its answer).
#
#   * close_notify_msg_more_then_fin: both ends of 20 pingpong connections
#     shimmed, each under strace: every close sends its close_notify (the
#     20 last records of each end) with MSG_MORE, and the next call on that
#     descriptor is its shutdown(SHUT_WR) (the end that closed first
#     lingers) or its close (the other end: the peer ended first); main
#     sent none with MSG_MORE;
#   * shutdown_wr_close_notify_msg_more: a shimmed Python client that
#     shuts its side down after its ping (then reads the pong to the end)
#     sends its close_notify with MSG_MORE, right before the shutdown;
#   * close_notify_dup_first_no_msg_more: a shimmed Python client that
#     dup()s its socket before connecting, reads a TLS server's greeting
#     to its close_notify, and closes the first number: the other one
#     keeps the socket, so no FIN follows, and its close_notify goes
#     without MSG_MORE (the source of a dup is no longer "whole",
#     shim/fd.c, whole_forget); the server, which waits for it
#     (tlspeer greet, unwrap), says "unwrap ok".  main sent it with
#     MSG_MORE, and the kernel held it until its probe timer: the
#     server's unwrap ended 223-233 ms after the close (16-21 ms now);
#   * close_notify_rides_fin_on_wire: 40 connections, both ends shimmed,
#     not traced; tcpdump in the test's namespace: of the 80 ends (each
#     sends one FIN; a FIN sent again counts once) at least 60 sent their
#     close_notify in their FIN's segment (main: 5, 25 and 8 of 80 in three runs,
#     the server's when Nagle held it).  A
#     few may go alone: an ACK that comes in between the send and the FIN
#     (the peer's own close_notify crossing ours) lets the kernel push the
#     held record at once.  No RST is sent (the namespace's counters).
. "$(dirname "$0")/../lib.sh"
. "$TLSSHIM_TOP/tests/preload/common.inc"
need_shim closefin_setup
command -v strace >/dev/null || { fail closefin_setup "strace not installed (.ci/packages lists it)"; exit 1; }
command -v tcpdump >/dev/null || { fail closefin_setup "tcpdump not installed (.ci/packages lists it)"; exit 1; }

P=$(free_port)
policy "$T/srv.conf" <<EOF
rules = ( { name = "fin-in"; direction = "accept"; port = $P; close_timeout_ms = 120000;
            cert = "$CERTS/server.crt"; key = "$CERTS/server.key"; } );
EOF
policy "$T/cli.conf" <<EOF
rules = ( { name = "fin-out"; direction = "connect"; port = $P; ca = "$CERTS/ca.crt";
            server_name = "localhost"; close_timeout_ms = 120000; } );
EOF

# more_then_fin FILE: "N M": N sendto calls with MSG_MORE in strace's
# FILE (-f: "PID call"), M of them whose descriptor's next call in the
# same thread is shutdown(fd, SHUT_WR) or close(fd).  (A call another
# thread's interrupts is printed "call(fd, ... <unfinished ...>": the
# descriptor is the digits after the parenthesis.)
more_then_fin() {
	awk '
	{ pid = $1; line = $0; sub(/^[0-9]+ +/, "", line)
	  fd = line; sub(/^[a-z0-9_]+\(/, "", fd); sub(/[^0-9].*/, "", fd); k = pid " " fd }
	line ~ /^sendto\(/ { if (line ~ /MSG_MORE/) { n++; want[k] = 1 } else delete want[k]; next }
	line ~ /^(shutdown|close)\(/ { if (k in want && (line ~ /^close/ || line ~ /SHUT_WR/)) m++
		delete want[k] }
	END { print n + 0, m + 0 }' "$1"
}

# --- both ends traced: the flag, and the FIN right after ---------------------------
name=close_notify_msg_more_then_fin
POLICY="$T/srv.conf" TLSSHIM_LOG_FILE="$T/srv.log" shimbg strace -f -qq -s 0 \
	-e trace=sendto,shutdown,close -o "$T/srv.st" "$PROGS/pingpong" server "$P" >"$T/srv.out" 2>"$T/srv.err"
SRV=$!
if ! wait_for "$T/srv.out" '^listening' 30; then
	fail "$name" "pingpong server (under strace) never listened$(show "$T/srv.err")"
else
	POLICY="$T/cli.conf" TLSSHIM_LOG_FILE="$T/cli.log" shimmed strace -f -qq -s 0 \
		-e trace=sendto,shutdown,close -o "$T/cli.st" "$PROGS/pingpong" client 127.0.0.1 "$P" 20 \
		>"$T/cli.out" 2>&1
	rc=$?
	# the traced server first (strace's child), then strace
	for kid in $(cat "/proc/$SRV/task/$SRV/children" 2>/dev/null); do
		kill "$kid" 2>/dev/null
	done
	wait_exit "$SRV" 10
	set -- $(more_then_fin "$T/srv.st")
	sn=$1 sm=$2
	set -- $(more_then_fin "$T/cli.st")
	cn=$1 cm=$2
	if [ "$rc" -ne 0 ] || ! grep -q '^20 connections in ' "$T/cli.out"; then
		fail "$name" "pingpong client failed (exit $rc)$(show "$T/cli.out" "$T/cli.log" "$T/srv.err")"
	elif [ "$sn" -ne 20 ] || [ "$cn" -ne 20 ]; then
		fail "$name" "close_notify sent with MSG_MORE: server $sn, client $cn (want 20 each)$(show "$T/srv.st" "$T/cli.st")"
	elif [ "$sm" -ne 20 ] || [ "$cm" -ne 20 ]; then
		fail "$name" "the FIN right after (shutdown or close): server $sm of 20, client $cm of 20$(show "$T/srv.st" "$T/cli.st")"
	else
		pass "$name (20 connections: each end's close_notify sent with MSG_MORE, its shutdown or close next)"
	fi
fi

# --- the program's shutdown(SHUT_WR) -----------------------------------------------
name=shutdown_wr_close_notify_msg_more
POLICY="$T/srv.conf" TLSSHIM_LOG_FILE="$T/srv2.log" shimbg "$PROGS/pingpong" server "$P" \
	>"$T/srv2.out" 2>"$T/srv2.err"
SRV2=$!
if ! wait_for "$T/srv2.out" '^listening' 20; then
	fail "$name" "pingpong server never listened$(show "$T/srv2.err")"
else
	POLICY="$T/cli.conf" TLSSHIM_LOG_FILE="$T/half.log" shimmed strace -f -qq -s 0 \
		-e trace=sendto,shutdown -o "$T/half.st" "$PY" -c '
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"0123456789abcdef0123456789ABCDEF")
s.shutdown(socket.SHUT_WR)
got = b""
while True:
    b = s.recv(100)
    if not b:
        break
    got += b
s.close()
print("ok" if got == b"0123456789abcdef0123456789ABCDEF" else "bad %r" % got)
' "$P" >"$T/half.out" 2>&1
	rc=$?
	set -- $(more_then_fin "$T/half.st")
	if [ "$rc" -ne 0 ] || ! grep -q '^ok$' "$T/half.out"; then
		fail "$name" "the client failed (exit $rc)$(show "$T/half.out" "$T/half.log")"
	elif [ "$1" -ne 1 ] || [ "$2" -ne 1 ]; then
		fail "$name" "$1 sends with MSG_MORE, $2 of them right before shutdown(SHUT_WR) (want 1 and 1)$(show "$T/half.st")"
	else
		pass "$name (the close_notify sent with MSG_MORE, shutdown(SHUT_WR) next; the pong read to the end)"
	fi
fi

# --- a descriptor made by dup() before the session: the close is not the FIN --------
name=close_notify_dup_first_no_msg_more
Q=$(free_port)
policy "$T/dup.conf" <<EOF
rules = ( { name = "fin-dup"; direction = "connect"; port = $Q; ca = "$CERTS/ca.crt";
            server_name = "localhost"; } );
EOF
bg peer server --port "$Q" --cert "$CERTS/server.crt" --key "$CERTS/server.key" --mode greet \
	--greeting hello --status "$T/dup.status" >"$T/dupsrv.out" 2>&1
DSRV=$!
if ! wait_for "$T/dupsrv.out" '^ready' 20; then
	fail "$name" "tlspeer server never ready$(show "$T/dupsrv.out")"
else
	POLICY="$T/dup.conf" TLSSHIM_LOG_FILE="$T/dup.log" shimmed strace -f -qq -s 0 \
		-e trace=sendto,shutdown,close -o "$T/dup.st" "$PY" -c '
import socket, struct, sys, time
s = socket.socket()
d = s.dup()                     # before the session: a plain copy
s.connect(("127.0.0.1", int(sys.argv[1])))
got = b""
while True:
    b = s.recv(100)
    if not b:
        break
    got += b
s.close()                       # d still holds the socket: no FIN now
# until the server, which waits for our close_notify, closes (its FIN):
# CLOSE_WAIT, TCP_INFO state 8 (bounded)
for _ in range(1000):
    if d.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 8)[0] == 8:
        break
    time.sleep(0.01)
print("ok" if got == b"hello" else "bad %r" % got)
' "$Q" >"$T/dup.out" 2>&1
	rc=$?
	wait_exit "$DSRV" 20
	set -- $(more_then_fin "$T/dup.st")
	if [ "$rc" -ne 0 ] || ! grep -q '^ok$' "$T/dup.out"; then
		fail "$name" "the client failed (exit $rc)$(show "$T/dup.out" "$T/dup.log")"
	elif ! grep -q '^unwrap ok' "$T/dup.status"; then
		fail "$name" "the server got no close_notify$(show "$T/dup.status" "$T/dupsrv.out")"
	elif [ "$1" -ne 0 ]; then
		fail "$name" "$1 sends with MSG_MORE where no FIN follows (want 0)$(show "$T/dup.st")"
	else
		pass "$name (close_notify sent without MSG_MORE; the server's unwrap ended)"
	fi
fi
stop "$DSRV"

# --- on the wire: one segment for close_notify and FIN ------------------------------
# rsts: RSTs sent in the namespace so far (as linger.sh counts them).
rsts() {
	{ cat /proc/net/snmp; cat /proc/net/netstat; } | awk '
		/^(Tcp|TcpExt):/ { if (!(($1) in hdr)) { hdr[$1] = 1; for (i = 2; i <= NF; i++) k[$1, i] = $i; next }
				   for (i = 2; i <= NF; i++) { n = k[$1, i]
					if (n == "OutRsts" || n == "TCPAbortOnData" || n == "TCPAbortOnClose") s += $i } }
		END { print s + 0 }'
}
name=close_notify_rides_fin_on_wire
isolated=1
[ "$(ip -o link 2>/dev/null | wc -l)" -eq 1 ] || isolated=0
if ! alive "$SRV2"; then
	fail "$name" "no server"
else
	bg tcpdump -i lo -n --immediate-mode -U -s 128 -w "$T/fin.pcap" "tcp port $P" 2>"$T/tcpdump.err"
	TD=$!
	if ! wait_for "$T/tcpdump.err" 'listening on' 20; then
		fail "$name" "tcpdump did not start$(show "$T/tcpdump.err")"
	else
		before=$(rsts)
		POLICY="$T/cli.conf" TLSSHIM_LOG_FILE="$T/wire.log" shimmed "$PROGS/pingpong" client 127.0.0.1 "$P" 40 \
			>"$T/wire.out" 2>&1
		rc=$?
		# every lingering socket of the server let go (its peer's FIN read)
		wait_lines "$T/srv2.log" "lingering socket done" "$(lines "$T/srv2.log" 'lingering close')" 20
		after=$(rsts)
		kill -INT "$TD" 2>/dev/null
		wait_exit "$TD" 10 >/dev/null
		# The ends that sent a FIN ("F" among the flags; "A > B" names the
		# connection and the direction), and those whose FIN came with
		# the record (length > 0).  By end: a FIN sent again (its ACK
		# held back, the peer slow to close on a loaded machine) counts
		# once.
		tcpdump -n -r "$T/fin.pcap" 2>/dev/null | awk '
			/Flags \[[^]]*F/ { e = $3 " " $5; fin[e] = 1; if ($NF + 0 > 0) rec[e] = 1 }
			END { for (e in fin) { n++; if (e in rec) m++ } print n + 0, m + 0 }' >"$T/fins"
		read -r fins withrec <"$T/fins"
		if [ "$rc" -ne 0 ] || ! grep -q '^40 connections in ' "$T/wire.out"; then
			fail "$name" "pingpong client failed (exit $rc)$(show "$T/wire.out" "$T/wire.log")"
		elif [ "$fins" -ne 80 ]; then
			fail "$name" "$fins ends sent a FIN in 40 connections (want 80; capture of $(stat -c %s "$T/fin.pcap" 2>/dev/null) bytes)$(show "$T/tcpdump.err")"
		elif [ "$withrec" -lt 60 ]; then
			fail "$name" "$withrec of 80 ends sent their close_notify in their FIN's segment (want at least 60)"
		elif [ "$isolated" = 1 ] && [ "$after" -ne "$before" ]; then
			fail "$name" "$((after - before)) RST(s) sent"
		else
			pass "$name (40 connections: $withrec of 80 ends sent their close_notify in their FIN's segment, $((after - before)) RSTs)"
		fi
	fi
	stop "$TD"
fi
stop "$SRV2"
