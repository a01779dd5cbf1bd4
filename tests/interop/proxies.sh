#!/bin/sh
# tests/interop/proxies.sh — three relays that know no TLS, made TLS by the
# shim on the way in and on the way out: Debian's rinetd (a TCP
# forwarder: one select loop, non-blocking connects upstream), privoxy
# (an HTTP proxy: a thread per client) and dante's danted (a SOCKS 5
# server: a mother process, negotiate, request and io children; the
# request child connects upstream and passes the socket to an io child
# with SCM_RIGHTS).  rinetd and privoxy sit under an accept rule (the
# clients are curl, verified against the test CA: an https:// URL through
# rinetd, an HTTPS proxy for privoxy); danted's SOCKS port stays plain
# (curl knows no SOCKS over TLS).  Every upstream connection goes to
# tests/interop/py/https_origin.py under a connect rule.
# For each relay:
#   * an 8 MiB download arrives intact, then 8 downloads of 256 KB at once;
#     the shim accepted the clients (rinetd, privoxy) and connected to the
#     origin, verified, every time;
#   * an upstream server whose certificate names another host is refused:
#     the client gets an error, the shim logs the mismatch, the server
#     receives no byte;
#   * a plain client on an accept port gets TLS alerts at most (rinetd,
#     privoxy);
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
D=$(free_port)   # danted (plain SOCKS)
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
  { name = "relay-in"; direction = "accept"; port = [$R, $RB, $V]; cert = "$CERTS/server.crt"; key = "$CERTS/server.key"; },
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
URL_BASE=http://localhost:$O relayed danted 0 --socks5-hostname "127.0.0.1:$D"
refused danted_wrong_name_upstream_refused "SOCKS connection failed" --socks5-hostname "127.0.0.1:$D" "http://localhost:$B/x"
stops danted_stops "$DA"

wait_exit "$BADP" 10 >/dev/null
refusals_only wrong_name_server_saw_every_refusal bad 3
stop "$ORIGIN"
