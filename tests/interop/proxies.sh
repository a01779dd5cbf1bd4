#!/bin/sh
# tests/interop/proxies.sh — three relays that know no TLS, made TLS by the
# shim on the way in and on the way out: Debian's rinetd (a TCP
# forwarder: one select loop, non-blocking connects upstream), privoxy
# (an HTTP proxy: a thread per client) and dante's danted (a SOCKS 5
# server: a mother process, negotiate, request and io children; the
# request child connects upstream and passes the socket to an io child
# with SCM_RIGHTS).  Each listens under an accept rule; the clients are
# verified against the test CA: curl with an https:// URL through rinetd,
# curl with an HTTPS proxy for privoxy, tests/interop/py/socks_tls.py
# (SOCKS 5 over TLS) for danted, whose mother process passes the accepted
# connection on to its children with SCM_RIGHTS.  Every upstream
# connection goes to tests/interop/py/https_origin.py under a connect
# rule.
# For each relay:
#   * an 8 MiB download arrives intact, then 8 downloads of 256 KB at once;
#     the shim accepted the clients and connected to the origin, verified,
#     every time;
#   * an upstream server whose certificate names another host is refused:
#     the client gets an error, the shim logs the mismatch, the server
#     receives no byte;
#   * a plain client on an accept port gets TLS alerts at most;
#   * SIGTERM stops the relay (no hang).
# The wire audit checks every connection to the rules' ports.
# tlsshim-test: big-capture (tests/run.sh: three 8 MiB transfers, twice on the wire)
. "$(dirname "$0")/../lib.sh"
. "$TLSSHIM_TOP/tests/preload/common.inc"
. "$TLSSHIM_TOP/tests/interop/daemons.inc"
need_shim proxies_setup
for c in rinetd privoxy danted; do
	command -v "$c" >/dev/null || [ -x "/usr/sbin/$c" ] && continue
	fail proxies_setup "$c not installed (.ci/packages: rinetd, privoxy, dante-server)"; exit 1
done
[ "$(id -u)" = 0 ] || { fail proxies_setup "run as root (danted changes user)"; exit 1; }

open_tmp
X=$T/px
mkdir -p "$X/www"
chmod 777 "$X"
head -c 8388608 /dev/urandom >"$X/www/big"
head -c 262144 /dev/urandom >"$X/www/small"
R=$(free_port)   # rinetd -> the origin
RB=$(free_port)  # rinetd -> the wrong-name server
V=$(free_port)   # privoxy
D=$(free_port)   # danted
B=$(free_port)   # tlspeer: a certificate for another name
P=$B             # (start_origin picks a port other than $P)
if ! start_origin "$X/www"; then
	fail proxies_setup "https_origin.py did not start$(show "$T/origin.out")"; exit 1
fi
if ! start_collector bad "$B" "$CERTS/wrongname.crt" "$CERTS/wrongname.key" 3; then
	fail proxies_setup "tlspeer (wrongname) did not start$(show "$T/bad.out")"; exit 1
fi
BADP=$COLL
policy "$T/px.policy" <<EOC
rules = (
  { name = "relay-in"; direction = "accept"; port = [$R, $RB, $V, $D]; cert = "$CERTS/server.crt"; key = "$CERTS/server.key"; },
  { name = "upstream"; direction = "connect"; port = [$O, $B]; ca = "$CERTS/ca.crt"; server_name = "localhost"; }
);
EOC

# start_relay NAME CMD...: CMD under the shim (log $T/NAME.log); its pid
# in RELAY.
start_relay() {
	_sr_name=$1; shift
	TLSSHIM_LOG=info TLSSHIM_LOG_FILE="$T/$_sr_name.log" shimbg "$@" >"$T/$_sr_name.out" 2>&1
	RELAY=$!
}

# relayed NAME ACCEPTS CURL-ARGS...: the case NAME_8MiB (one download of
# big), then NAME_8_at_once (8 of small), with CURL-ARGS and URL
# $URL_BASE/FILE; ACCEPTS: 1 when the shim accepts the clients.
relayed() {
	_rl_name=$1 _rl_acc=$2
	shift 2
	timeout $((30 * TS)) curl -sS "$@" -o "$T/$_rl_name.big" "$URL_BASE/big" >"$T/$_rl_name.err" 2>&1
	_rl_rc=$?
	_rl_c=$(count "$T/$_rl_name.log" 'rule "upstream": connected TLSv1\.3 .*verified for "localhost"')
	_rl_a=$(logged_tls "$T/$_rl_name.log" relay-in accepted)
	if [ $_rl_rc -eq 0 ] && cmp -s "$T/$_rl_name.big" "$X/www/big" && [ "$_rl_c" -eq 1 ] && [ "$_rl_a" -eq "$_rl_acc" ]; then
		pass "${_rl_name}_8MiB (intact; accepted $_rl_a, connected upstream 1, verified)"
	else
		fail "${_rl_name}_8MiB" "curl exit $_rl_rc, $(wc -c <"$T/$_rl_name.big" 2>/dev/null) bytes, accepted $_rl_a, connected $_rl_c$(show "$T/$_rl_name.err" "$T/$_rl_name.out" "$T/$_rl_name.log")"
	fi
	downloads 8 "$X/www/small" "$URL_BASE/small" "$@"
	_rl_c=$(count "$T/$_rl_name.log" 'rule "upstream": connected TLSv1\.3 .*verified for "localhost"')
	_rl_a=$(logged_tls "$T/$_rl_name.log" relay-in accepted)
	if [ $BAD -eq 0 ] && [ $OK -eq 8 ] && [ "$_rl_c" -eq 9 ] && [ "$_rl_a" -eq $((_rl_acc * 9)) ]; then
		pass "${_rl_name}_8_at_once (262144 bytes each, exact; connected upstream 9 in all)"
	else
		fail "${_rl_name}_8_at_once" "$BAD curl failed, $OK of 8 exact, accepted $_rl_a, connected $_rl_c: $(cat "$T"/curl.*.err | head -c 300)$(show "$T/$_rl_name.out" "$T/$_rl_name.log")"
	fi
}

# refused NAME WHAT CURL-ARGS... URL: the relay's upstream connection to
# the wrong-name server was refused: curl failed (or got an error page),
# the shim logged the mismatch, the server received nothing.
refused() {
	_rf_name=$1 _rf_what=$2
	shift 2
	timeout $((30 * TS)) curl -sS -w '%{http_code}\n' "$@" -o "$T/$_rf_name.body" >"$T/$_rf_name.code" 2>"$T/$_rf_name.err"
	_rf_rc=$?
	_rf_code=$(cat "$T/$_rf_name.code")
	_rf_log=$T/${_rf_name%%_*}.log
	if { [ $_rf_rc -ne 0 ] || [ "$_rf_code" != 200 ]; } && [ ! -s "$T/bad.rec" ] &&
	   [ "$(count "$_rf_log" 'rule "upstream": certificate verification failed: hostname mismatch')" -eq 1 ]; then
		pass "$_rf_name ($_rf_what: curl exit $_rf_rc, HTTP $_rf_code; hostname mismatch; 0 bytes reached the server)"
	else
		fail "$_rf_name" "curl exit $_rf_rc, HTTP $_rf_code, $(wc -c <"$T/bad.rec" 2>/dev/null) bytes reached the server$(show "$T/$_rf_name.err" "$_rf_log")"
	fi
}

# stops NAME PID: SIGTERM ends the relay within 10 s.
stops() {
	kill "$2" 2>/dev/null
	wait_exit "$2" 10
	_st_rc=$?
	if [ $_st_rc -ne 124 ]; then
		pass "$1 (exit status $_st_rc)"
	else
		fail "$1" "still running 10 s after SIGTERM$(show "$T/${1%%_*}.out")"
	fi
	kill_tree "$2"
}

# ---------------------------------------------------------------- rinetd
printf '127.0.0.1 %s 127.0.0.1 %s\n127.0.0.1 %s 127.0.0.1 %s\nlogfile %s\n' \
	"$R" "$O" "$RB" "$B" "$X/rinetd.access" >"$X/rinetd.conf"
start_relay rinetd rinetd -f -c "$X/rinetd.conf"
RI=$RELAY
listen_or_exit proxies_setup rinetd "$RI" "$R $RB" "$T/rinetd.out" "$T/rinetd.log"
URL_BASE=https://localhost:$R relayed rinetd 1 --cacert "$CERTS/ca.crt"
refused rinetd_wrong_name_upstream_refused "the relay closed the client" --cacert "$CERTS/ca.crt" "https://localhost:$RB/x"
no_clear rinetd_plain_client_gets_nothing_in_clear "$R" "GET /big HTTP/1.0
" "$RI"
stops rinetd_stops "$RI"

# ---------------------------------------------------------------- privoxy
# (its templates from the package: the error page for a failed upstream)
cat >"$X/privoxy.conf" <<EOC
confdir /etc/privoxy
listen-address 127.0.0.1:$V
logdir $X
logfile privoxy.log
toggle 0
EOC
start_relay privoxy privoxy --no-daemon "$X/privoxy.conf"
PV=$RELAY
listen_or_exit proxies_setup privoxy "$PV" "$V" "$T/privoxy.out" "$T/privoxy.log"
URL_BASE=http://localhost:$O relayed privoxy 1 --proxy "https://localhost:$V" --proxy-cacert "$CERTS/ca.crt"
refused privoxy_wrong_name_upstream_refused "the proxy's error page" --proxy "https://localhost:$V" --proxy-cacert "$CERTS/ca.crt" "http://localhost:$B/x"
no_clear privoxy_plain_client_gets_nothing_in_clear "$V" "GET http://localhost:$O/big HTTP/1.0
" "$PV"
stops privoxy_stops "$PV"

# ---------------------------------------------------------------- dante
cat >"$X/danted.conf" <<EOC
logoutput: $X/danted.log
internal: 127.0.0.1 port = $D
external: 127.0.0.1
socksmethod: none
clientmethod: none
user.privileged: root
user.unprivileged: nobody
client pass { from: 127.0.0.0/8 to: 0.0.0.0/0 }
socks pass { from: 127.0.0.0/8 to: 0.0.0.0/0 }
EOC
start_relay danted danted -f "$X/danted.conf"
DA=$RELAY
listen_or_exit proxies_setup danted "$DA" "$D" "$T/danted.out" "$X/danted.log" "$T/danted.log"
# socks NAME DEST-PORT PATH: tests/interop/py/socks_tls.py through danted
# to 127.0.0.1:DEST-PORT, GET PATH; the body in $T/NAME.body, what it
# printed in $T/NAME.out.
socks() {
	timeout -k 2 $((30 * TS)) "$PY" "$PYD/socks_tls.py" "$D" "$CERTS/ca.crt" "$2" "$3" "$T/$1.body" >"$T/$1.out" 2>&1
}
name=danted_8MiB
socks dbig "$O" /big
rc=$?
nc=$(count "$T/danted.log" 'rule "upstream": connected TLSv1\.3 .*verified for "localhost"')
na=$(logged_tls "$T/danted.log" relay-in accepted)
if [ $rc -eq 0 ] && cmp -s "$T/dbig.body" "$X/www/big" && [ "$na" -eq 1 ] && [ "$nc" -eq 1 ]; then
	pass "$name (SOCKS over TLS, intact, closed with close_notify; connected upstream 1, verified)"
else
	fail "$name" "exit $rc, accepted $na, connected $nc: $(tr '\n' '|' <"$T/dbig.out")$(show "$T/danted.out" "$T/danted.log")"
fi
name=danted_8_at_once
pids=""
for i in 1 2 3 4 5 6 7 8; do
	socks "d$i" "$O" "/small?n=$i" &
	pids="$pids $!"
done
bad=0
for p in $pids; do wait "$p" || bad=$((bad + 1)); done
ok=0
for i in 1 2 3 4 5 6 7 8; do cmp -s "$T/d$i.body" "$X/www/small" && ok=$((ok + 1)); done
nc=$(count "$T/danted.log" 'rule "upstream": connected TLSv1\.3 .*verified for "localhost"')
na=$(logged_tls "$T/danted.log" relay-in accepted)
if [ $bad -eq 0 ] && [ $ok -eq 8 ] && [ "$na" -eq 9 ] && [ "$nc" -eq 9 ]; then
	pass "$name (262144 bytes each, exact; accepted 9, connected upstream 9 in all)"
else
	fail "$name" "$bad failed, $ok of 8 exact, accepted $na, connected $nc: $(cat "$T"/d?.out | tr '\n' '|' | head -c 300)$(show "$T/danted.log")"
fi
name=danted_wrong_name_upstream_refused
socks dbad "$B" /x
rc=$?
# (The SOCKS reply is a failure also when the handshake had not ended, or
# not started, when danted passed the socket to its I/O process: that
# process's end is a connect in progress until the pump has the
# handshake's outcome, then refused, ECONNREFUSED (libtlsshim(7), "The
# pump").  Before helper-178 it was connected at once: the reply was
# success, then the connection ended; and until the commit after it, so
# it still was for a handshake not started, and for any in danted's
# request process, user nobody (the listener's socket filter, refused).
# tests/preload/scm_connect.sh holds the handshake there every time.)
if [ $rc -ne 0 ] && grep -q -E '^reply [1-9]' "$T/dbad.out" &&
   [ ! -s "$T/bad.rec" ] && [ ! -s "$T/dbad.body" ] &&
   [ "$(count "$T/danted.log" 'rule "upstream": certificate verification failed: hostname mismatch')" -eq 1 ]; then
	pass "$name (SOCKS $(head -n 1 "$T/dbad.out"); hostname mismatch; 0 bytes reached the server or the client)"
else
	fail "$name" "exit $rc: $(tr '\n' '|' <"$T/dbad.out"), $(wc -c <"$T/bad.rec" 2>/dev/null) bytes reached the server$(show "$T/danted.log")"
fi
no_clear danted_plain_client_gets_nothing_in_clear "$D" "SOCKS" "$DA"
stops danted_stops "$DA"

wait_exit "$BADP" 10 >/dev/null
refusals_only wrong_name_server_saw_every_refusal bad 3
stop "$ORIGIN"
