#!/bin/sh
# tests/interop/pgbouncer.sh — a connection pooler: clients and servers in
# one libevent loop, both sides made TLS by the shim.  Debian's pgbouncer
# (transaction pooling, 2 server connections for every client) runs under
# the shim with an accept rule on its port and a connect rule to a
# PostgreSQL server (a private cluster, as postgres.sh's, under the shim
# with an accept rule); psql and pgbench run under the shim with a
# connect rule to pgbouncer (libpq with sslmode=disable: the shim does the
# TLS).  A cancel request comes on a connection of its own and leaves on a
# new server connection; an online restart (pgbouncer -R) passes the
# listening socket, and every client and server connection with the
# session on it, to the new process with SCM_RIGHTS (unix socket, "SHOW
# FDS"): live TLS sessions, which the shim hands to pumps first.
# Asserted: 50,000 rows copied out through the pool, exact; 16 pgbench
# clients, 320 transactions, none failed, on at most 2 server connections
# (pgbouncer's SHOW SERVERS and SHOW STATS); a query cancelled by psql's
# cancel request (forwarded by pgbouncer); after an online restart the
# live client's session goes on and new clients are served; the shim's
# logs: TLS on both sides, no error; a plain client gets nothing in
# clear; the wire audit.
. "$(dirname "$0")/../lib.sh"
. "$TLSSHIM_TOP/tests/preload/common.inc"
. "$TLSSHIM_TOP/tests/interop/daemons.inc"
need_shim pgb_setup
PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
PGB=$(command -v pgbouncer || echo /usr/sbin/pgbouncer)
[ -x "$PGB" ] || { fail pgb_setup "pgbouncer not installed (pgbouncer)"; exit 1; }
[ -x "$PGBIN/postgres" ] && [ -x "$PGBIN/pgbench" ] || { fail pgb_setup "PostgreSQL not installed (postgresql)"; exit 1; }
[ "$(id -u)" = 0 ] && id postgres >/dev/null 2>&1 || { fail pgb_setup "run as root, with a postgres user (postgresql)"; exit 1; }

open_tmp
D=$T/pg
mkdir -p "$D/sock" "$D/pgbsock" "$D/certs"
cp "$CERTS/ca.crt" "$CERTS/server.crt" "$CERTS/server.key" "$D/certs/"
# (a command, not a function: shimbg runs it with env)
ASUSER="setpriv --reuid postgres --regid postgres --init-groups"
P=$(free_port)
B=$(free_port)
while [ "$B" = "$P" ]; do B=$(free_port); done
policy "$D/policy.conf" <<EOF
rules = (
  { name = "pg-in"; direction = "accept"; port = $P; cert = "$D/certs/server.crt"; key = "$D/certs/server.key"; },
  { name = "pg-out"; direction = "connect"; port = $P; ca = "$D/certs/ca.crt"; },
  { name = "pgb-in"; direction = "accept"; port = $B; cert = "$D/certs/server.crt"; key = "$D/certs/server.key"; },
  { name = "pgb-out"; direction = "connect"; port = $B; ca = "$D/certs/ca.crt"; }
);
EOF
cat >"$D/pgb.ini" <<EOF
[databases]
postgres = host=127.0.0.1 port=$P dbname=postgres user=postgres
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $B
unix_socket_dir = $D/pgbsock
auth_type = trust
auth_file = $D/users.txt
admin_users = postgres
pool_mode = transaction
default_pool_size = 2
max_client_conn = 60
logfile = $D/pgb.log
pidfile =
EOF
echo '"postgres" ""' >"$D/users.txt"
: >"$D/srv.log"; : >"$D/pgb-shim.log"; : >"$D/pgb2-shim.log"
chown -R postgres: "$D"
if ! $ASUSER "$PGBIN/initdb" -D "$D/data" -A trust -U postgres --no-sync -E UTF8 --locale C \
	>"$D/initdb.log" 2>&1; then
	fail pgb_setup "initdb failed$(show "$D/initdb.log")"
	exit 1
fi
TLSSHIM_LOG=info TLSSHIM_LOG_FILE="$D/srv.log" shimbg $ASUSER "$PGBIN/postgres" -D "$D/data" -p "$P" \
	-k "$D/sock" -c listen_addresses=127.0.0.1 -c ssl=off -c fsync=off -c logging_collector=off \
	>"$D/postgres.log" 2>&1
PG=$!
track "$PG"
if ! wait_ready "$PG" "$D/postgres.log" "database system is ready to accept connections" 30; then
	fail pgb_setup "postgres did not start$(show "$D/postgres.log" "$D/srv.log")"
	exit 1
fi
TLSSHIM_LOG=info TLSSHIM_LOG_FILE="$D/pgb-shim.log" shimbg $ASUSER "$PGB" "$D/pgb.ini" >"$D/pgb.out" 2>&1
PGBD=$!
listen_or_exit pgb_setup pgbouncer "$PGBD" "$B" "$D/pgb.log" "$D/pgb-shim.log"

CONN="host=127.0.0.1 port=$B user=postgres sslmode=disable gssencmode=disable"
export TLSSHIM_LOG=info TLSSHIM_LOG_FILE="$T/cli.log"
spsql() { shimmed "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -At "$CONN dbname=postgres" "$@"; }
admin() { shimmed "$PGBIN/psql" -X -q -At -F ' ' "$CONN dbname=pgbouncer" "$@"; }

name=pgb_copy_out_50000_rows_exact
spsql -c "CREATE TABLE t (i int PRIMARY KEY, s text)" \
	-c "INSERT INTO t SELECT g, md5(g::text) FROM generate_series(1, 50000) g" \
	-c "COPY (SELECT i, s FROM t ORDER BY i) TO STDOUT" >"$T/rows.got" 2>"$T/rows.err"
rc=$?
"$PY" -c 'import hashlib
for i in range(1, 50001):
    print("%d\t%s" % (i, hashlib.md5(str(i).encode()).hexdigest()))' >"$T/rows.want"
if [ "$rc" -eq 0 ] && cmp -s "$T/rows.got" "$T/rows.want"; then
	pass "$name ($(wc -c <"$T/rows.got") bytes)"
else
	fail "$name" "psql exit $rc, $(wc -c <"$T/rows.got") bytes$(show "$T/rows.err" "$T/cli.log" "$D/pgb.log")"
fi

name=pgb_16_clients_on_2_server_connections
printf '\\set i random(1, 50000)\nSELECT s FROM t WHERE i = :i;\n' >"$T/q.sql"
shimmed "$PGBIN/pgbench" -n -f "$T/q.sql" -c 16 -j 2 -t 20 -h 127.0.0.1 -p "$B" -U postgres postgres \
	>"$T/bench.out" 2>&1
rc=$?
nserv=$(admin -c "SHOW SERVERS" 2>"$T/admin.err" | grep -c '^S ')
xacts=$(admin -c "SHOW STATS" 2>>"$T/admin.err" | awk '$1 == "postgres" { print $2 }')
if [ "$rc" -eq 0 ] && grep -q 'actually processed: 320/320' "$T/bench.out" &&
   grep -q 'failed transactions: 0 ' "$T/bench.out" && [ "$nserv" -ge 1 ] && [ "$nserv" -le 2 ] &&
   [ "${xacts:-0}" -ge 320 ]; then
	pass "$name (320 transactions, none failed; $nserv server connections; $xacts transactions in SHOW STATS)"
else
	fail "$name" "pgbench exit $rc, $nserv server connections, '$xacts' transactions$(show "$T/bench.out" "$T/admin.err" "$D/pgb.log")"
fi

name=pgb_cancel_request_forwarded
spsql -c "SELECT pg_sleep(120)" >"$T/cancel.out" 2>&1 &
SLEEPER=$!
n=0
while [ "$n" -lt $((100 * TS)) ] &&
      [ "$(spsql -c "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep%' AND state = 'active'" 2>/dev/null)" != 1 ]; do
	n=$((n + 1)); sleep 0.1
done
# (psql's cancel request comes on SIGINT; psql is a descendant of the
# background subshell, whose SIGINT is ignored)
for p in $(descendants "$SLEEPER"); do
	[ "$(cat "/proc/$p/comm" 2>/dev/null)" = psql ] && kill -INT "$p"
done
wait_gone "$SLEEPER" 30
rc=$?
if [ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] && grep -q 'canceling statement due to user request' "$T/cancel.out" &&
   grep -q 'successfully sent cancel request' "$D/pgb.log"; then
	pass "$name (psql exit $rc, the statement cancelled)"
else
	fail "$name" "psql exit $rc, $n looks for the statement$(show "$T/cancel.out" "$D/pgb.log")"
fi

name=pgb_online_restart_keeps_live_client
# A psql that stays connected: its commands come through a fifo (fd 7 of
# this shell, kept from every other process started here).
mkfifo "$T/in"
shimmed "$PGBIN/psql" -X -At "$CONN dbname=postgres" <"$T/in" >"$T/live.out" 2>&1 &
LIVE=$!
exec 7>"$T/in"
echo "SELECT 'before', count(*) FROM t;" >&7
wait_for "$T/live.out" '^before\|50000$' 20
TLSSHIM_LOG=info TLSSHIM_LOG_FILE="$D/pgb2-shim.log" shimbg $ASUSER "$PGB" -R "$D/pgb.ini" >"$D/pgb2.out" 2>&1 7>&-
PGB2=$!
track "$PGB2"
wait_gone "$PGBD" 30
old=$?
echo "SELECT 'after', count(*) FROM t;" >&7
wait_for "$T/live.out" '^after\|50000$' 20
exec 7>&-
wait_gone "$LIVE" 20
lrc=$?
new=$(spsql -c "SELECT 'new', count(*) FROM t" 2>&1)
if [ "$old" -ne 124 ] && grep -q '^after|50000$' "$T/live.out" && [ "$lrc" -eq 0 ] && [ "$new" = "new|50000" ] &&
   grep -q 'old process killed, resuming work' "$D/pgb.log" && alive "$PGB2"; then
	pass "$name (the old process ended, the live client's next query answered, a new client served)"
else
	fail "$name" "old pgbouncer exit $old, live psql exit $lrc, new client '$new'$(show "$T/live.out" "$D/pgb.log" "$D/pgb-shim.log" "$D/pgb2-shim.log")"
fi

name=pgb_shim_logs
na=$(logged_tls "$D/pgb-shim.log" pgb-in accepted)
nc=$(logged_tls "$D/pgb-shim.log" pg-out connected)
ns=$(logged_tls "$D/srv.log" pg-in accepted)
if [ "$na" -ge 20 ] && [ "$nc" -ge 2 ] && [ "$ns" -ge 2 ] &&
   ! grep -q -E ': (error|warn): ' "$D/pgb-shim.log" "$D/pgb2-shim.log" "$D/srv.log"; then
	pass "$name (pgbouncer accepted $na, connected $nc; postgres accepted $ns; no error)"
else
	fail "$name" "accepted $na, connected $nc, postgres $ns$(show "$D/pgb-shim.log" "$D/pgb2-shim.log" "$D/srv.log")"
fi

unset TLSSHIM_LOG_FILE TLSSHIM_LOG
no_clear pgb_plain_client_gets_nothing_in_clear "$B" "SELECT 1;" "$PGB2"

kill_tree "$PGB2"
kill_tree "$PG"
