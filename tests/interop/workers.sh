#!/bin/sh
# tests/interop/workers.sh — programs that know no TLS and hand their
# connections on, under the shim:
#   * Node's cluster module (nodejs): a primary process forks workers (an
#     exec of node, a socketpair for IPC).  With its default scheduling
#     on Linux (SCHED_RR) the primary accepts and passes each connection
#     to a worker with SCM_RIGHTS: which process holds the other end of a
#     socketpair cannot be told, so every session goes to a pump first,
#     and the echo is exact.  With SCHED_NONE the primary passes each
#     worker its bound listening socket: refused (EOPNOTSUPP, warn line),
#     as for any process that may not run the library; nothing listens
#     (libtlsshim(7), LIMITATIONS);
#   * socat: a server that forks a child per connection, which execs cat
#     on it (TCP-LISTEN,fork EXEC:cat); socat as a client (TCP:) under a
#     connect rule, to a TLS echo server, and to a server whose
#     certificate names another host (refused, nothing reaches it);
#   * gearmand (gearman-job-server): its main thread accepts and hands
#     each descriptor to an I/O thread through a pipe; gearman's worker
#     and clients (gearman-tools) under a connect rule.
# A plain client gets TLS alerts at most, a silent one nothing; SIGTERM
# ends each server; the wire audit checks every connection to the rules'
# ports.
. "$(dirname "$0")/../lib.sh"
. "$TLSSHIM_TOP/tests/preload/common.inc"
. "$TLSSHIM_TOP/tests/interop/daemons.inc"
need_shim workers_setup
NODE=$(command -v node || command -v nodejs)
for c in "$NODE" socat gearmand gearman; do
	[ -n "$c" ] && { command -v "$c" >/dev/null || [ -x "/usr/sbin/$c" ]; } && continue
	fail workers_setup "${c:-node} not installed (.ci/packages: nodejs, socat, gearman-job-server, gearman-tools)"; exit 1
done

K=$(free_port)   # Node cluster, SCHED_RR
KN=$(free_port)  # Node cluster, SCHED_NONE
C=$(free_port)   # socat TCP-LISTEN,fork
E=$(free_port)   # tlspeer: an echo server for socat's client
B=$(free_port)   # tlspeer: a certificate for another name
J=$(free_port)   # gearmand
policy "$T/w.policy" <<EOC
rules = (
  { name = "in"; direction = "accept"; port = [$K, $KN, $C, $J]; cert = "$CERTS/server.crt"; key = "$CERTS/server.key"; },
  { name = "out"; direction = "connect"; port = [$E, $B, $J]; ca = "$CERTS/ca.crt"; server_name = "localhost"; }
);
EOC

# echoes NAME PORT N BYTES: N tlspeer.py clients at once send BYTES random
# bytes each to PORT (verified for localhost), read the echo, close with
# close_notify: the case NAME passes when each echo was exact.
echoes() {
	_ec_pids=""
	_ec_i=0
	while [ $_ec_i -lt "$3" ]; do
		_ec_i=$((_ec_i + 1))
		timeout $((30 * TS)) "$PY" "$TLSPEER" client --port "$2" --ca "$CERTS/ca.crt" --server-name localhost \
			--random "$4" --finish unwrap >"$T/$1.$_ec_i" 2>&1 &
		_ec_pids="$_ec_pids $!"
	done
	for _ec_p in $_ec_pids; do wait "$_ec_p"; done
	_ec_ok=$(cat "$T/$1".[0-9]* | grep -c -x "echo ok $4")
	_ec_un=$(cat "$T/$1".[0-9]* | grep -c -x 'unwrap ok')
	if [ "$_ec_ok" -eq "$3" ] && [ "$_ec_un" -eq "$3" ]; then
		pass "$1 ($3 at once, $4 bytes each echoed exact, closed with close_notify)"
	else
		fail "$1" "$_ec_ok of $3 exact, $_ec_un closed cleanly: $(cat "$T/$1".[0-9]* | tr '\n' ' ' | head -c 400)"
	fi
}

# ---------------------------------------------------------------- node cluster
cat >"$T/cluster.js" <<'JS'
// A cluster of N echo servers on PORT: the primary forks the workers.
const cluster = require('cluster'), net = require('net');
const [port, n, sched] = [+process.argv[2], +process.argv[3], process.argv[4]];
cluster.schedulingPolicy = sched === 'none' ? cluster.SCHED_NONE : cluster.SCHED_RR;
if (cluster.isPrimary) {
  let up = 0;
  for (let i = 0; i < n; i++) cluster.fork();
  cluster.on('listening', () => { if (++up === n) console.log('ready ' + n); });
  process.on('SIGTERM', () => { for (const id in cluster.workers) cluster.workers[id].kill(); process.exit(0); });
} else {
  net.createServer(s => { s.on('error', () => {}); s.pipe(s); }).listen(port, '127.0.0.1');
}
JS
shim_daemon workers_setup node_rr "$K" "$NODE" "$T/cluster.js" "$K" 2 rr
NR=$SRV
wait_ready "$NR" "$T/node_rr.out" '^ready 2' 15
echoes node_cluster_rr_echo "$K" 8 262144
name=node_cluster_rr_sessions_pumped
a=$(logged_tls "$T/node_rr.log" in accepted)
h=$(count "$T/node_rr.log" "rule \"in\": session handed to a pump process")
if [ "$a" -eq 8 ] && [ "$h" -eq 8 ]; then
	pass "$name (the primary passed 8 connections over its socketpair: 8 pumps accepted them)"
else
	fail "$name" "$a accepted, $h handed to pumps$(show "$T/node_rr.log")"
fi
no_clear node_cluster_plain_client_gets_nothing_in_clear "$K" "GET / HTTP/1.0
" "$NR"
stops_clean node_cluster_rr_stops "$NR" "$T/node_rr.log"

TLSSHIM_LOG=info TLSSHIM_LOG_FILE="$T/node_none.log" shimbg "$NODE" "$T/cluster.js" "$KN" 2 none >"$T/node_none.out" 2>&1
NN=$!
track "$NN"
name=node_cluster_sched_none_listener_refused
if wait_lines "$T/node_none.log" 'sendmsg refused: it would pass fd [0-9]+, a listening socket .or one bound to the port. the rule makes TLS' 2 20 &&
   ! listening "$KN" && ! grep -q '^ready' "$T/node_none.out"; then
	pass "$name (the bound socket went to neither worker: EOPNOTSUPP, 2 warn lines; nothing listens)"
else
	fail "$name" "$(show "$T/node_none.out" "$T/node_none.log")"
fi
stops_clean node_cluster_none_stops "$NN" "$T/node_none.log"

# ---------------------------------------------------------------- socat
shim_daemon workers_setup socat_server "$C" socat "TCP-LISTEN:$C,bind=127.0.0.1,reuseaddr,fork" EXEC:cat
SC=$SRV
echoes socat_fork_exec_cat_echo "$C" 8 262144
in_workers socat_fork_sessions_in_children "$T/socat_server.log" "$SC" 8
no_clear socat_plain_client_gets_nothing_in_clear "$C" "hello" "$SC"
stops_clean socat_server_stops "$SC" "$T/socat_server.log"

head -c 1048576 /dev/urandom >"$T/one"
bg "$PY" "$TLSPEER" server --port "$E" --cert "$CERTS/server.crt" --key "$CERTS/server.key" --mode echo \
	--status "$T/echo.st" --timeout $((60 * TS)) >"$T/echo.out" 2>&1
EP=$!
if ! wait_ready "$EP" "$T/echo.out" '^ready' 10; then
	fail workers_setup "tlspeer (echo) did not start$(show "$T/echo.out")"; exit 1
fi
name=socat_client_echo_verified
TLSSHIM_LOG=info TLSSHIM_LOG_FILE="$T/socat_client.log" timeout $((30 * TS)) env LD_PRELOAD="$SHIM_PRELOAD" \
	TLSSHIM_CONFIG="$POLICY" socat -t 10 - "TCP:127.0.0.1:$E" <"$T/one" >"$T/one.back" 2>"$T/socat_client.err"
rc=$?
if [ $rc -eq 0 ] && cmp -s "$T/one" "$T/one.back" &&
   [ "$(count "$T/socat_client.log" 'rule "out": connected TLSv1\.[23] .*verified for "localhost"')" -eq 1 ]; then
	pass "$name (1 MiB echoed exact; connected, verified)"
else
	fail "$name" "socat exit $rc, $(wc -c <"$T/one.back") bytes back$(show "$T/socat_client.err" "$T/socat_client.log" "$T/echo.st")"
fi
if ! start_collector bad "$B" "$CERTS/wrongname.crt" "$CERTS/wrongname.key" 1; then
	fail workers_setup "tlspeer (wrongname) did not start$(show "$T/bad.out")"; exit 1
fi
TLSSHIM_LOG=info TLSSHIM_LOG_FILE="$T/socat_bad.log" timeout $((30 * TS)) env LD_PRELOAD="$SHIM_PRELOAD" \
	TLSSHIM_CONFIG="$POLICY" socat -t 10 - "TCP:127.0.0.1:$B" <"$T/one" >"$T/bad.back" 2>"$T/socat_bad.err"
rc=$?
wait_gone "$COLL" 20
if [ $rc -ne 0 ] && [ ! -s "$T/bad.back" ] && grep -q 'rule "out": certificate verification failed: hostname mismatch' "$T/socat_bad.log"; then
	refusals_only socat_client_wrong_name_refused bad 1
else
	fail socat_client_wrong_name_refused "socat exit $rc, $(wc -c <"$T/bad.back") bytes back$(show "$T/socat_bad.err" "$T/socat_bad.log")"
fi

# ---------------------------------------------------------------- gearmand
shim_daemon workers_setup gearmand "$J" gearmand --listen=127.0.0.1 --port="$J" -t 2 --log-file="$T/gearmand.file" --verbose=INFO
GD=$SRV
TLSSHIM_LOG=info TLSSHIM_LOG_FILE="$T/gworker.log" shimbg gearman -h 127.0.0.1 -p "$J" -w -f rev -- rev \
	>"$T/gworker.out" 2>&1
GW=$!
track "$GW"
# (a job for a function no worker has registered yet waits in the
# server: the worker's connection is enough)
name=gearman_worker_connected
if wait_for "$T/gworker.log" 'rule "out": connected TLSv1\.[23] .*verified for "localhost"' 15; then
	pass "$name (verified)"
else
	fail "$name" "$(show "$T/gworker.out" "$T/gworker.log")"
fi
for i in 1 2 3 4; do
	head -c 49152 /dev/urandom | base64 -w 0 >"$T/job.$i"
done
pids=""
for i in 1 2 3 4; do
	TLSSHIM_LOG=info TLSSHIM_LOG_FILE="$T/gclient.log" timeout $((30 * TS)) env LD_PRELOAD="$SHIM_PRELOAD" \
		TLSSHIM_CONFIG="$POLICY" gearman -h 127.0.0.1 -p "$J" -f rev <"$T/job.$i" >"$T/job.$i.out" 2>&1 &
	pids="$pids $!"
done
for p in $pids; do wait "$p"; done
name=gearman_4_jobs_at_once
good=0
for i in 1 2 3 4; do
	rev "$T/job.$i" | tr -d '\n' | cmp -s - "$T/job.$i.out" && good=$((good + 1))
done
c=$(count "$T/gclient.log" 'rule "out": connected TLSv1\.[23] .*verified for "localhost"')
if [ $good -eq 4 ] && [ "$c" -eq 4 ]; then
	pass "$name (65536 bytes each reversed by the worker, exact; clients and worker connected, verified)"
else
	fail "$name" "$good of 4 exact, $c client connects$(show "$T/gclient.log" "$T/gworker.log" "$T/gearmand.log")"
fi
no_clear gearmand_plain_client_gets_nothing_in_clear "$J" "status" "$GD"
kill_tree "$GW"
stops_clean gearmand_stops "$GD" "$T/gearmand.log"
