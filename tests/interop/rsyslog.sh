#!/bin/sh
# tests/interop/rsyslog.sh — a log forwarder as a TLS client and a collector
# as a TLS server, made TLS by the shim: Debian's rsyslogd (its own
# threads: an input thread on a unix socket, a worker per action queue)
# forwarding over plain TCP (omfwd, newline-framed lines) to a collector
# port under a connect rule.  The
# collector (tests/interop/tlspeer.py, record mode) is restarted in the
# middle: rsyslog's connection ends under it without a close_notify, and
# rsyslog must connect again (a new connect, a new verified handshake)
# and go on forwarding.  A second action connects again after every 50
# messages (RebindInterval), a third forwards to a collector with a
# certificate of another CA.
# Asserted: 300 messages (logger -f) reach the collector in order; after
# the collector's restart, messages reach the new one, 300 more all of
# them, in order; the shim connected twice to the collector, verified,
# and logged no error for it; the rebinding action's 600 messages arrive
# in order over 12 connections or more, each but the last ended by a
# clean TLS close; the collector with the untrusted
# certificate got no byte (its handshakes failed, the shim logged the
# failed verification) while the good one was served; rsyslog as the
# collector (imtcp under an accept rule): 8 senders at once, 5000
# messages each, all written once, a plain sender's message not; the wire
# audit.
. "$(dirname "$0")/../lib.sh"
. "$TLSSHIM_TOP/tests/preload/common.inc"
. "$TLSSHIM_TOP/tests/interop/daemons.inc"
need_shim rsyslog_setup
RSYSLOGD=$(command -v rsyslogd || echo /usr/sbin/rsyslogd)
[ -x "$RSYSLOGD" ] || { fail rsyslog_setup "rsyslogd not installed (rsyslog)"; exit 1; }
command -v logger >/dev/null 2>&1 || { fail rsyslog_setup "logger not installed (bsdutils)"; exit 1; }

X=$T/rs
mkdir -p "$X/work"
R=$(free_port)
B=$(free_port)
RB=$(free_port)
if ! start_collector col.1 "$R" "$CERTS/server.crt" "$CERTS/server.key"; then
	fail rsyslog_setup "the collector did not start$(show "$T/col.1.out")"
	exit 1
fi
COL=$COLL
# The rebinding action's collector: one connection after the other.
if ! start_collector col.rb "$RB" "$CERTS/server.crt" "$CERTS/server.key" 100 ||
	! start_collector col.bad "$B" "$CERTS/untrusted.crt" "$CERTS/untrusted.key" 1000; then
	fail rsyslog_setup "a collector did not start$(show "$T/col.rb.out" "$T/col.bad.out")"
	exit 1
fi
# Each action its own queue (and worker thread): the one that cannot
# connect retries every second without holding up the other.
cat >"$X/rsyslog.conf" <<EOC
global(workDirectory="$X/work")
module(load="imuxsock" SysSock.Use="off")
input(type="imuxsock" Socket="$X/log.sock" RateLimit.Interval="0")
template(name="line" type="string" string="%msg:2:\$%\n")
if \$msg contains "tlsshimtest-" then {
	action(type="omfwd" name="good" target="127.0.0.1" port="$R" protocol="tcp" template="line"
		queue.type="LinkedList" action.resumeRetryCount="-1" action.resumeInterval="1")
	action(type="omfwd" name="rebind" target="127.0.0.1" port="$RB" protocol="tcp" template="line"
		RebindInterval="50" queue.type="LinkedList" action.resumeRetryCount="-1" action.resumeInterval="1")
	action(type="omfwd" name="bad" target="127.0.0.1" port="$B" protocol="tcp" template="line"
		queue.type="LinkedList" action.resumeRetryCount="-1" action.resumeInterval="1")
}
EOC
policy "$T/rs.policy" <<EOC
rules = (
  { name = "log-out"; direction = "connect"; port = $R; ca = "$CERTS/ca.crt"; server_name = "localhost"; },
  { name = "rb-out"; direction = "connect"; port = $RB; ca = "$CERTS/ca.crt"; server_name = "localhost"; },
  { name = "bad-out"; direction = "connect"; port = $B; ca = "$CERTS/ca.crt"; server_name = "localhost"; }
);
EOC
TLSSHIM_LOG=info TLSSHIM_LOG_FILE="$T/shim.log" shimbg "$RSYSLOGD" -n -f "$X/rsyslog.conf" -i "$X/pid" \
	>"$T/rs.out" 2>&1
RS=$!
track "$RS"
n=$((100 * TS))
while [ ! -S "$X/log.sock" ] && [ $n -gt 0 ] && alive "$RS"; do sleep 0.1; n=$((n - 1)); done
if [ ! -S "$X/log.sock" ]; then
	fail rsyslog_setup "rsyslogd did not start$(show "$T/rs.out" "$T/shim.log")"
	exit 1
fi

# msgs FROM TO: the lines tlsshimtest-FROM .. tlsshimtest-TO.
msgs() { seq -f "tlsshimtest-%g" "$1" "$2"; }

name=rsyslog_forwards_over_tls
msgs 1 300 >"$X/first"
logger -u "$X/log.sock" -f "$X/first"
wait_lines "$T/col.1.rec" '^tlsshimtest-300$' 1 20
if cmp -s "$X/first" "$T/col.1.rec"; then
	pass "$name (300 messages, in order)"
else
	fail "$name" "the collector got $(lines "$T/col.1.rec" '^tlsshimtest-') of 300 lines$(show "$T/col.1.rec" "$T/col.1.st" "$T/rs.out" "$T/shim.log")"
fi

name=rsyslog_reconnects_after_the_collector_restarts
# The collector ends without a close_notify (SIGKILL: its FIN from the
# kernel), a new one listens on the same port.
kill -9 "$COL" 2>/dev/null
wait_exit "$COL" 10 2>/dev/null  # (no "Killed" notice)
if ! start_collector col.2 "$R" "$CERTS/server.crt" "$CERTS/server.key"; then
	fail "$name" "the second collector did not start$(show "$T/col.2.out")"
else
	# rsyslog learns the connection is gone on a send: messages sent
	# then may be lost (plain TCP's and rsyslog's own behaviour), so
	# send one at a time until one arrives (at most 30).
	k=0
	while [ $k -lt 30 ]; do
		k=$((k + 1))
		logger -u "$X/log.sock" "tlsshimtest-probe-$k"
		wait_for "$T/col.2.rec" '^tlsshimtest-probe-' 1 && break
	done
	msgs 1001 1300 >"$X/second"
	logger -u "$X/log.sock" -f "$X/second"
	wait_lines "$T/col.2.rec" '^tlsshimtest-1300$' 1 20
	grep -v probe "$T/col.2.rec" >"$X/col.2.msgs" 2>/dev/null
	nc=$(count "$T/shim.log" 'rule "log-out": connected TLSv1\.[23] .*verified')
	if cmp -s "$X/second" "$X/col.2.msgs" && [ "$nc" -eq 2 ] && ! grep -E 'rule "log-out"' "$T/shim.log" | grep -q ': error: '; then
		pass "$name (a probe arrived after $k; then 300 messages in order; 2 verified connections)"
	else
		fail "$name" "probes sent $k, the new collector got $(lines "$X/col.2.msgs" '^tlsshimtest-') of 300 lines, $nc of 2 connections$(show "$T/col.2.st" "$T/rs.out" "$T/shim.log")"
	fi
fi

name=rsyslog_rebinds_every_50_messages
# RebindInterval: rsyslog closes its connection after every 50 messages
# and connects again; each close must end the TLS stream cleanly after
# the last message (a close_notify after all the data), the next
# connection must go on where it stopped.
wait_lines "$T/col.rb.rec" '^tlsshimtest-1300$' 1 20
cat "$X/first" "$X/second" >"$X/both"
grep -v probe "$T/col.rb.rec" >"$X/col.rb.msgs" 2>/dev/null
nconn=$(count "$T/col.rb.st" '^tls ')
nclean=$(count "$T/col.rb.st" '^eof clean$')
nv=$(count "$T/shim.log" 'rule "rb-out": connected TLSv1\.[23] .*verified')
if cmp -s "$X/both" "$X/col.rb.msgs" && [ "$nconn" -ge 12 ] && [ "$nclean" -eq $((nconn - 1)) ] && [ "$nv" -eq "$nconn" ] &&
	! grep -E 'rule "rb-out"' "$T/shim.log" | grep -q -E ': (error|warn): '; then
	pass "$name (600 messages and the probes in order over $nconn verified connections, $nclean ended cleanly, the last open)"
else
	fail "$name" "$(lines "$X/col.rb.msgs" '^tlsshimtest-') of 600 lines, $nconn connections ($nv verified), $nclean clean ends$(show "$T/col.rb.st" "$T/shim.log")"
fi

name=rsyslog_receives_from_8_senders
# rsyslog as the collector: imtcp (its epoll and worker threads; a
# session read at most 10 times in a row before the others get a turn,
# so it is left with data the shim may hold decrypted) under an accept
# rule, writing the messages to a file.
L=$(free_port)
mkdir -p "$X/w2"
cat >"$X/recv.conf" <<EOC
global(workDirectory="$X/w2")
module(load="imtcp" MaxSessions="100" StarvationProtection.MaxReads="10")
input(type="imtcp" port="$L" address="127.0.0.1")
template(name="line" type="string" string="%msg:2:\$%\n")
if \$msg contains "tlsshimtest-" then action(type="omfile" file="$X/recv.out" template="line")
EOC
policy "$T/rs2.policy" <<EOC
rules = ( { name = "log-in"; direction = "accept"; port = $L; cert = "$CERTS/server.crt"; key = "$CERTS/server.key"; } );
EOC
TLSSHIM_LOG=info TLSSHIM_LOG_FILE="$T/shim2.log" shimbg "$RSYSLOGD" -n -f "$X/recv.conf" -i "$X/pid2" >"$T/rs2.out" 2>&1
RS2=$!
track "$RS2"
if ! wait_listen "$L" 15 "$RS2"; then
	fail "$name" "the second rsyslogd did not listen$(show "$T/rs2.out" "$T/shim2.log")"
else
	timeout -k 2 $((60 * TS)) "$PY" "$PYD/syslog_senders.py" "$L" "$CERTS/ca.crt" 8 5000 >"$T/send.out" 2>&1
	rc=$?
	wait_lines "$X/recv.out" '^tlsshimtest-c[0-7]-' 40000 20
	for c in 0 1 2 3 4 5 6 7; do seq -f "tlsshimtest-c$c-%g" 0 4999; done >"$X/sent"
	na=$(logged_tls "$T/shim2.log" log-in accepted)
	if [ $rc -eq 0 ] && [ "$(sort "$X/recv.out" | sha256sum)" = "$(sort "$X/sent" | sha256sum)" ] && [ "$na" -eq 8 ] &&
		! grep -q -E ': (error|warn): ' "$T/shim2.log"; then
		pass "$name (40000 messages from 8 TLS senders at once, each once; no error)"
	else
		fail "$name" "exit $rc: $(tr '\n' '|' <"$T/send.out"); $(wc -l <"$X/recv.out" 2>/dev/null) of 40000 lines, $na of 8 accepted$(show "$T/rs2.out" "$T/shim2.log")"
	fi
	no_clear rsyslog_plain_sender_gets_nothing_in_clear "$L" "<13>Dec  6 10:00:00 host test: tlsshimtest-plain" "$RS2"
	if grep -q 'tlsshimtest-plain' "$X/recv.out"; then
		fail rsyslog_plain_sender_logged_nothing "the plain sender's message was written to the log"
	else
		pass rsyslog_plain_sender_logged_nothing
	fi
fi

name=rsyslog_untrusted_collector_gets_nothing
nb=$(count "$T/shim.log" 'rule "bad-out": certificate verification failed')
if [ ! -s "$T/col.bad.rec" ] && [ "$nb" -ge 1 ] && ! grep -q '^tls ' "$T/col.bad.st" && alive "$RS"; then
	pass "$name ($nb handshakes refused by the shim, no byte received)"
else
	fail "$name" "received $(wc -c <"$T/col.bad.rec" 2>/dev/null) bytes, $nb refusals$(show "$T/col.bad.st" "$T/shim.log")"
fi

kill_tree "$RS"
kill_tree "$RS2"
