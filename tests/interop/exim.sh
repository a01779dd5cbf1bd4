#!/bin/sh
# tests/interop/exim.sh — a mail transfer agent with SMTP in and out made
# TLS by the shim: Debian's exim4 (exim4-daemon-light) with a private
# configuration (-C), spool and logs in $T, run as a listening daemon
# (-bdf: foreground; a child process per SMTP connection, a delivery
# process per message, which re-execs exim) under the shim with an accept
# rule on its SMTP port and a connect rule to the next hop.  Exim's own
# TLS (STARTTLS) is off in both directions: the shim does it.
#  * in: swaks (Perl, plain SMTP) under the shim with a connect rule sends
#    a message to exim's port;
#  * out: exim relays it (manualroute, smtp transport) to
#    tests/interop/smtp_sink.py, an SMTP server that speaks only TLS.
# Two modes: "both" (as above) and "outonly" (swaks plain to exim, only the
# relay link TLS by the shim); and "mx" (at the end): exim routes by MX
# records from a name server whose port 53 a tls rule covers.
# Asserted: the sink received the message, over TLS 1.3, with the exact
# body (swaks ends it with blank lines: trailing newlines are not compared) (CRLF lines, 100 KB of base64 included, dot-stuffed lines) and the
# envelope; exim's logs show it received and delivered the message
# ("<=" and "=>" lines) with no error; the shim logged TLS on exim's two
# links and on swaks; openssl s_client gets a verified handshake on
# exim's port (no SMTP banner in clear).
. "$(dirname "$0")/../lib.sh"
. "$TLSSHIM_TOP/tests/preload/common.inc"
. "$TLSSHIM_TOP/tests/interop/daemons.inc"
need_shim exim_setup
EXIM=$(command -v exim4 || echo /usr/sbin/exim4)
[ -x "$EXIM" ] || { fail exim_setup "exim4 not installed (exim4-daemon-light)"; exit 1; }
command -v swaks >/dev/null || { fail exim_setup "swaks not installed (swaks)"; exit 1; }
[ "$(id -u)" = 0 ] || { fail exim_setup "run as root (exim delivers as Debian-exim)"; exit 1; }
EXIM_USER=$(id -un Debian-exim 2>/dev/null || echo mail)

# The message: text lines, lines that start with a dot (dot-stuffed on the
# wire), and 100 KB of base64.
{
	echo "first line of the body $$"
	echo ".a line that starts with a dot"
	echo "..two dots"
	head -c 76800 /dev/urandom | base64 -w 76
	echo "last line of the body $$"
} >"$T/body"

run() {
mode=$1
X=$T/$mode
mkdir -p "$X"
# With -C exim drops root and runs as its user (Debian-exim); its processes
# (and those that re-exec) load the policy and the key again: a copy they
# can read.
open_tmp
mkdir -p "$X/certs" "$X/spool" "$X/log" "$X/sink"
cp "$CERTS/ca.crt" "$CERTS/server.crt" "$CERTS/server.key" "$X/certs/"
: >"$X/shim.log"
chown -R "$EXIM_USER" "$X"
chmod 700 "$X/certs"

P=$(free_port)
S=$(free_port)
while [ "$S" = "$P" ]; do S=$(free_port); done
IN_RULE=""
[ "$mode" = both ] && IN_RULE="{ name = \"smtp-in\"; direction = \"accept\"; port = $P;
    cert = \"$X/certs/server.crt\"; key = \"$X/certs/server.key\"; },"
policy "$X/policy.conf" <<EOF
rules = (
  $IN_RULE
  { name = "smtp-out"; direction = "connect"; port = $S; ca = "$X/certs/ca.crt";
    server_name = "localhost"; }
);
EOF
EXIM_POLICY=$POLICY
chown "$EXIM_USER" "$EXIM_POLICY"
cat >"$X/exim.conf" <<EOF
primary_hostname = mta.test
exim_path = $X/exim4
qualify_domain = mta.test
spool_directory = $X/spool
log_file_path = $X/log/%slog
log_selector = +smtp_connection +smtp_protocol_error +incoming_port +outgoing_port
daemon_smtp_ports = $P
local_interfaces = 127.0.0.1
tls_advertise_hosts =
keep_environment = LD_PRELOAD : TLSSHIM_CONFIG : TLSSHIM_LOG : TLSSHIM_LOG_FILE : ASAN_OPTIONS : UBSAN_OPTIONS
host_lookup =
rfc1413_hosts =
message_size_limit = 50M
acl_smtp_rcpt = acl_check_rcpt
acl_smtp_data = acl_check_data

begin acl
acl_check_rcpt:
  accept hosts = 127.0.0.1
  deny message = relay not permitted
acl_check_data:
  accept

begin routers
to_sink:
  driver = manualroute
  domains = *
  route_list = * 127.0.0.1
  self = send
  transport = to_sink_smtp

begin transports
to_sink_smtp:
  driver = smtp
  port = $S
  allow_localhost
  hosts_avoid_tls = *
  hosts_avoid_pipelining = *

begin retry
* * F,1m,10s
EOF

chmod 644 "$X/exim.conf"    # exim wants it owned by root, not writable by others
# Exim re-executes itself (exim_path) to deliver each message; the Debian
# binary is set-user-ID root, and a set-user-ID program runs without
# LD_PRELOAD: the delivery would connect without the library, in clear
# (libtlsshim(7), LIMITATIONS).  So: a copy without the bit, used for the
# daemon and for every re-execution.
cp "$EXIM" "$X/exim4" && chmod 755 "$X/exim4"
if ! "$X/exim4" -C "$X/exim.conf" -bV >"$X/bV.out" 2>&1; then
	fail exim_${mode}_setup "exim -bV: $(tail -3 "$X/bV.out" | tr '\n' '|')"
	return 1
fi
bg "$PY" "$TLSSHIM_TOP/tests/interop/smtp_sink.py" --port "$S" --cert "$CERTS/server.crt" \
	--key "$CERTS/server.key" --out "$X/sink" --count 1 --timeout 60 >"$X/sink.out" 2>&1
SINK=$!
track "$SINK"
if ! wait_ready "$SINK" "$X/sink.out" '^ready' 10; then
	fail exim_${mode}_setup "smtp_sink.py did not start$(show "$X/sink.out")"
	return 1
fi

TLSSHIM_LOG=info TLSSHIM_LOG_FILE="$X/shim.log" POLICY=$EXIM_POLICY \
	shimbg "$X/exim4" -C "$X/exim.conf" -bdf -q30m >"$X/daemon.out" 2>&1
MTA=$!
track "$MTA"
if ! wait_listen "$P" 20 "$MTA"; then
	fail exim_${mode}_setup "exim did not listen$(show "$X/daemon.out" "$X/log/mainlog" "$X/log/paniclog" "$X/shim.log")"
	return 1
fi

name=exim_${mode}_swaks_submits
# (outonly: swaks runs without the shim, its plain SMTP is the point; the
# policy is written only when a shimmed swaks uses it, for the wire audit.)
if [ "$mode" = both ]; then
	policy "$X/swaks.conf" <<EOF
rules = ( { name = "swaks-out"; direction = "connect"; port = $P; ca = "$CERTS/ca.crt"; server_name = "localhost"; } );
EOF
	SWAKS="shimmed swaks"
else
	SWAKS="timeout $((30 * TS)) swaks"
fi
TLSSHIM_LOG=info TLSSHIM_LOG_FILE="$X/swaks.log" $SWAKS --server 127.0.0.1 --port "$P" \
	--from sender@src.test --to rcpt@dest.test --helo client.test \
	--header "Subject: tlsshim exim test $$" --body "@$T/body" --timeout 30 >"$X/swaks.out" 2>&1
rc=$?
if [ "$rc" -eq 0 ] && grep -q '<-  250 OK id=' "$X/swaks.out" && { [ "$mode" = outonly ] ||
   [ "$(count "$X/swaks.log" 'rule "swaks-out": connected TLSv1\.[23] .*verified')" -eq 1 ]; }; then
	pass "$name"
else
	fail "$name" "swaks exit $rc$(show "$X/swaks.out" "$X/swaks.log" "$X/log/mainlog" "$X/shim.log")"
fi

name=exim_${mode}_relays_to_tls_sink_body_exact
n=300
while [ "$n" -gt 0 ] && alive "$MTA" && ! grep -q "^mail from=" "$X/sink/status" 2>/dev/null; do sleep 0.1; n=$((n - 1)); done
# The delivered message: exim's headers, a blank line, then the body (CRLF).
{ tr -d "\r" <"$X/sink/msg.1" | sed "1,/^\$/d"; } >"$X/body.got" 2>/dev/null
if grep -q '^conn tls=TLSv1\.3$' "$X/sink/status" 2>/dev/null &&
   grep -q '^mail from=<sender@src.test> rcpt=<rcpt@dest.test> ' "$X/sink/status" &&
   [ "$(cat "$T/body")" = "$(cat "$X/body.got")" ] && grep -q "^Subject: tlsshim exim test $$" "$X/sink/msg.1"; then
	pass "$name"
else
	fail "$name" "sink: '$(tr '\n' '|' <"$X/sink/status" 2>/dev/null)', body $(wc -c <"$X/body.got") of $(wc -c <"$T/body") bytes$(show "$X/log/mainlog" "$X/log/paniclog" "$X/shim.log")"
fi

name=exim_${mode}_logs_received_and_delivered
# (the sink has the message before exim logs the delivery: wait for it)
wait_for "$X/log/mainlog" ' Completed$' $((20 * TS)) || true
if [ "$(count "$X/log/mainlog" ' <= sender@src\.test .*P=esmtp')" -eq 1 ] &&
   [ "$(count "$X/log/mainlog" ' => rcpt@dest\.test .*T=to_sink_smtp')" -eq 1 ] &&
   [ "$(count "$X/log/mainlog" ' Completed')" -eq 1 ] &&
   [ "$(grep -v -c 'exim user lost privilege for using -C option' "$X/log/paniclog" 2>/dev/null || true)" = 0 ]; then
	pass "$name"
else
	fail "$name" "$(show "$X/log/mainlog" "$X/log/paniclog")"
fi

name=exim_${mode}_links_logged_tls
na=$(logged_tls "$X/shim.log" smtp-in accepted)
nc=$(count "$X/shim.log" 'rule "smtp-out": connected TLSv1\.3 .*verified')
if { [ "$mode" = outonly ] || [ "$na" -ge 1 ]; } && [ "$nc" -eq 1 ]; then
	pass "$name"
else
	fail "$name" "exim accepted $na, connected $nc$(show "$X/shim.log")"
fi

name=exim_${mode}_port_speaks_tls_no_banner_in_clear
# exim sends its 220 greeting at once: neither a silent client nor a plain
# SMTP client that speaks first (EHLO; exim would answer 554, a
# synchronization error) may get anything in clear (daemons.inc,
# plain_clients).
if [ "$mode" = outonly ]; then
	: # exim's port is plain in this mode
else
	plain_clients "$P" "$X/raw" "EHLO plain.test"
	if tls_probe "$P" "$X/probe" && [ ! -s "$X/raw.silent" ] && alerts_only "$X/raw.plain"; then
		pass "$name (silent client: nothing; plain SMTP client: $(wc -c <"$X/raw.plain") bytes, TLS alerts only)"
	else
		fail "$name" "silent client got '$(head -c 60 "$X/raw.silent")'; plain client got '$(od -A n -t x1 "$X/raw.plain" | head -c 120)' (want nothing or TLS alerts)$(show "$X/probe")"
	fi
fi

kill_tree "$MTA"
}

# both: swaks -> exim and exim -> sink are TLS by the shim.
run both
# outonly: swaks talks plain SMTP to exim (no accept rule); only exim's
# relay connection to the TLS sink is made TLS by the shim.
run outonly

# mx: mail routed by its MX records (the dnslookup router: exim asks with
# res_search) while /etc/resolv.conf names a name server whose port 53 a
# tls rule covers (DNS over TLS).  glibc asks it over UDP, in clear (no
# connect rule covers UDP); its answers come back truncated (TC), and
# glibc would ask again over TCP, in clear, to the TLS port.  The library
# lends RES_IGNTC for each res_search: exim gets the truncated answers
# (the MX record, then two A records) and routes the address; nothing
# reaches the TCP port (the wire audit checks the port too).  The old
# library refused every res_search here ("host lookup did not complete":
# no mail routed by DNS).  A resolv.conf of ours is bound over
# /etc/resolv.conf (this script's mount namespace is its own);
# tests/preload/py/dns_tcp_server.py answers on 127.0.0.1:53.
mx_route() {
X=$T/mx
mkdir -p "$X/certs" "$X/spool"
cp "$CERTS/ca.crt" "$X/certs/"
chown -R "$EXIM_USER" "$X"
policy "$X/policy.conf" <<EOF
rules = ( { name = "dns-tls"; direction = "connect"; address = "127.0.0.1"; port = 53;
            ca = "$X/certs/ca.crt"; } );
EOF
chown "$EXIM_USER" "$POLICY"
cat >"$X/exim.conf" <<EOF
primary_hostname = mta.test
exim_path = $X/exim4
spool_directory = $X/spool
log_file_path = $X/%slog
keep_environment = LD_PRELOAD : TLSSHIM_CONFIG : TLSSHIM_LOG : TLSSHIM_LOG_FILE : ASAN_OPTIONS : UBSAN_OPTIONS
host_lookup =
rfc1413_hosts =

begin routers
dnslookup:
  driver = dnslookup
  domains = *
  self = send
  transport = remote_smtp
  no_more

begin transports
remote_smtp:
  driver = smtp
EOF
chmod 644 "$X/exim.conf"
cp "$EXIM" "$X/exim4" && chmod 755 "$X/exim4"
fake_resolver exim_mx_setup "$X" || return 1
printf 'nameserver 127.0.0.1\noptions attempts:1 timeout:1\n' >"$X/resolv.conf"
: >"$X/shim.log"
TLSSHIM_LOG_FILE="$X/shim.log" shimmed "$X/exim4" -C "$X/exim.conf" -bt user@mx.test >"$X/bt.out" 2>&1
rc=$?
name=exim_mx_routed_over_a_tls_ruled_name_server
if [ $rc = 0 ] && grep -q '^ *host mx\.test \[127\.0\.0\.8\] MX=10' "$X/bt.out" &&
   grep -q '^ *host mx\.test \[127\.0\.0\.7\] MX=10' "$X/bt.out" && grep -q '^mx\.test$' "$X/udp.rec" &&
   ! grep -q 'would ask this name server' "$X/shim.log"; then
	pass "$name"
else
	fail "$name" "exim -bt exit $rc; asked over UDP: '$(tr '\n' ' ' <"$X/udp.rec")'$(show "$X/bt.out" "$X/shim.log")"
fi
name=exim_mx_nothing_asked_over_tcp_in_clear
if [ -s "$X/tls.rec" ]; then
	fail "$name" "asked over TCP, in clear, to the TLS port: '$(tr '\n' ' ' <"$X/tls.rec")'"
else
	pass "$name"
fi
}
mx_route
