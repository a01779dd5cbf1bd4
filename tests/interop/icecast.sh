#!/bin/sh
# tests/interop/icecast.sh — a streaming server made TLS by the shim:
# Debian's icecast2 (Icecast 2.4: it loads the policy as root, then
# changes to the user nobody; a connection thread hands each client to a
# source thread that polls its source with a timeout and writes the same
# stream to every listener; no TLS of its own here), under an accept rule
# on its one port.  The clients are tests/interop/py/ice_clients.py: a
# source that streams a known sequence with HTTP PUT, and listeners.
# Asserted:
#   * 3 listeners at once each read 1 MB of the live stream, every byte a
#     stretch of the source's sequence;
#   * icecast's own source timeout still works through the shim: once the
#     source goes idle icecast's poll times out ("Disconnecting source due
#     to socket timeout") and the shim ends the connection with
#     close_notify;
#   * a client that does not speak TLS gets TLS alerts only, a silent one
#     nothing; icecast lives on; every connection TLS and no error of the
#     shim; the wire audit.
. "$(dirname "$0")/../lib.sh"
. "$TLSSHIM_TOP/tests/preload/common.inc"
. "$TLSSHIM_TOP/tests/interop/daemons.inc"
need_shim icecast_setup
ICECAST=$(command -v icecast2 || echo /usr/bin/icecast2)
[ -x "$ICECAST" ] || { fail icecast_setup "icecast2 not installed (icecast2)"; exit 1; }
[ "$(id -u)" = 0 ] || { fail icecast_setup "run as root (icecast changes to the user nobody)"; exit 1; }
id nobody >/dev/null 2>&1 || { fail icecast_setup "no user nobody"; exit 1; }

open_tmp
P=$(free_port)
PW=src$$
mkdir -p "$T/log"
chmod 777 "$T/log"
# source-timeout 3 s: the idle source's end; queue-size 16 MB: a listener
# slowed by a loaded machine is not dropped as too far behind.
cat >"$T/icecast.xml" <<EOC
<icecast>
  <hostname>localhost</hostname>
  <location>tlsshim test</location>
  <admin>root@localhost</admin>
  <limits>
    <clients>20</clients><sources>2</sources><queue-size>16777216</queue-size>
    <client-timeout>30</client-timeout><header-timeout>15</header-timeout>
    <source-timeout>3</source-timeout><burst-size>65536</burst-size>
  </limits>
  <authentication>
    <source-password>$PW</source-password><relay-password>$PW</relay-password>
    <admin-user>admin</admin-user><admin-password>$PW</admin-password>
  </authentication>
  <listen-socket><port>$P</port><bind-address>127.0.0.1</bind-address></listen-socket>
  <fileserve>1</fileserve>
  <paths>
    <basedir>/usr/share/icecast2</basedir><logdir>$T/log</logdir>
    <webroot>/usr/share/icecast2/web</webroot><adminroot>/usr/share/icecast2/admin</adminroot>
  </paths>
  <logging><accesslog>access.log</accesslog><errorlog>error.log</errorlog><loglevel>3</loglevel></logging>
  <security><chroot>0</chroot><changeowner><user>nobody</user><group>nogroup</group></changeowner></security>
</icecast>
EOC
policy "$T/icecast.policy" <<EOC
rules = ( { name = "ice"; direction = "accept"; port = $P; cert = "$CERTS/server.crt"; key = "$CERTS/server.key"; } );
EOC
TLSSHIM_LOG=info TLSSHIM_LOG_FILE="$T/log/shim.log" shimbg "$ICECAST" -c "$T/icecast.xml" >"$T/icecast.out" 2>&1
ICE=$!
listen_or_exit icecast_setup "icecast2" "$ICE" "$P" "$T/icecast.out" "$T/log/error.log" "$T/log/shim.log"

name=icecast_3_listeners_1MB_of_a_live_stream
timeout -k 2 $((120 * TS)) "$PY" "$PYD/ice_clients.py" "$P" "$CERTS/ca.crt" "$PW" 3 1048576 >"$T/clients.out" 2>&1
rc=$?
if grep -q '^source 200$' "$T/clients.out" && [ "$(lines "$T/clients.out" '^listener [0-9] 200 ok$')" -eq 3 ] &&
   [ "$(lines "$T/log/access.log" '"GET /live HTTP/1.0" 200 ')" -eq 3 ]; then
	pass "$name"
else
	fail "$name" "exit $rc: $(tr '\n' '|' <"$T/clients.out")$(show "$T/log/error.log" "$T/log/shim.log")"
fi

name=icecast_source_timeout_ends_idle_source_with_close_notify
if [ $rc -eq 0 ] && grep -q '^source ended clean$' "$T/clients.out" &&
   grep -q 'Disconnecting source due to socket timeout' "$T/log/error.log"; then
	pass "$name"
else
	fail "$name" "exit $rc: $(tr '\n' '|' <"$T/clients.out")$(show "$T/log/error.log" "$T/log/shim.log")"
fi

no_clear icecast_plain_client_gets_nothing_in_clear "$P" "GET /status-json.xsl HTTP/1.0" "$ICE"

name=icecast_every_connection_tls_no_error
na=$(logged_tls "$T/log/shim.log" ice accepted)
# (warn lines: each listener hangs up with the stream still arriving,
# which resets the connection, as a media player does: the server's next
# read says ECONNRESET, or its next write EPIPE when the write meets the
# reset first (a CI run saw one of each); the silent and the plain
# client of no_clear: one each)
nr=$(lines "$T/log/shim.log" ': warn: .*socket error: (Connection reset by peer|Broken pipe)')
if [ "$na" -eq 4 ] && [ "$nr" -le 3 ] && [ "$(lines "$T/log/shim.log" ': (warn|error): ')" -eq $((nr + 2)) ] && alive "$ICE"; then
	pass "$name (4 accepted: the source and 3 listeners)"
else
	fail "$name" "$na accepted of 4, $nr resets$(show "$T/log/shim.log")"
fi
kill_tree "$ICE"
