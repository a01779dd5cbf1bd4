#!/bin/sh
# tests/interop/mariadb.sh — a threaded database server that speaks first,
# and its client, both unmodified and both under the shim: Debian's
# MariaDB (mariadbd: one thread per connection; a KILL from one
# connection shuts another's socket down from a third thread; InnoDB's
# native AIO is refused by the shim, so it uses its own I/O threads) with
# an accept rule on its port, and the mariadb client (poll-driven reads;
# --skip-ssl: it speaks the plain protocol, the shim makes it TLS) with a
# connect rule.
# Asserted: 1 MiB sent in an INSERT and 1 MiB read back, both checked
# (the server's MD5 of what it stored, ours of what came back); 8 clients
# at once, each its own rows back; a KILLed idle connection is gone from
# the process list and its client is told the connection was lost; the
# shim accepted and connected TLS for each client and logged no error; a
# client that sends nothing gets nothing (the server's greeting is held
# back until a handshake), a plain client gets TLS alerts only;
# mariadb-admin shutdown (shimmed) stops the server; the wire audit.
. "$(dirname "$0")/../lib.sh"
. "$TLSSHIM_TOP/tests/preload/common.inc"
. "$TLSSHIM_TOP/tests/interop/daemons.inc"
need_shim mariadb_setup
MYSQLD=$(command -v mariadbd || echo /usr/sbin/mariadbd)
for _b in "$MYSQLD" mariadb mariadb-admin mariadb-install-db; do
	command -v "$_b" >/dev/null ||
		{ fail mariadb_setup "$_b not installed (mariadb-server, mariadb-client)"; exit 1; }
done

D=$T/my
mkdir -p "$D"
# --debug-no-sync (install and server): a scratch database needs no
# fsync; mariadb-install-db made 971 fdatasync calls (its DDL log, Aria's
# log and tables), most of its 8-15 s of wall time on a loaded machine,
# 29 with it.  What the shim is tested with (threads, I/O, KILL,
# shutdown) is the same.
if ! timeout $((60 * TS)) mariadb-install-db --no-defaults --datadir="$D/data" --user=root \
	--auth-root-authentication-method=normal --skip-test-db --debug-no-sync >"$D/install.log" 2>&1; then
	fail mariadb_setup "mariadb-install-db failed$(show "$D/install.log")"
	exit 1
fi
P=$(free_port)
policy "$T/srv.policy" <<EOC
rules = ( { name = "my-in"; direction = "accept"; port = $P; cert = "$CERTS/server.crt"; key = "$CERTS/server.key"; } );
EOC
SRV_POLICY=$POLICY
policy "$T/cli.policy" <<EOC
rules = ( { name = "my-out"; direction = "connect"; port = $P; ca = "$CERTS/ca.crt"; server_name = "localhost"; } );
EOC
CLI_POLICY=$POLICY

POLICY=$SRV_POLICY
TLSSHIM_LOG=info TLSSHIM_LOG_FILE="$T/srv.log" shimbg "$MYSQLD" --no-defaults --datadir="$D/data" \
	--user=root --bind-address=127.0.0.1 --port="$P" --socket="$D/sock" --pid-file="$D/pid" \
	--innodb-buffer-pool-size=16M --max-connections=64 --debug-no-sync >"$D/out" 2>&1
SRV=$!
track "$SRV"
if ! wait_listen "$P" $((60 * TS)) "$SRV"; then
	fail mariadb_setup "mariadbd did not listen$(show "$D/out" "$T/srv.log")"
	exit 1
fi

POLICY=$CLI_POLICY
# sql NAME ARGS...: the shimmed mariadb client (batch, no column names),
# stdout NAME.out, stderr NAME.err.
sql() {
	_sq_n=$1; shift
	TLSSHIM_LOG=info TLSSHIM_LOG_FILE="$T/cli.log" shimmed mariadb --no-defaults --protocol=TCP \
		-h 127.0.0.1 -P "$P" -u root --skip-ssl -N -B "$@" >"$T/$_sq_n.out" 2>"$T/$_sq_n.err"
}
connected=0

name=mariadb_1mib_each_way
# 1 MiB (65536 x 16 bytes) in the INSERT statement: the client sends it.
blob=$(printf '%065536d' 0 | sed 's/0/0123456789abcdef/g')
printf 'create database t;\ncreate table t.b (id int primary key, x longblob);\ninsert into t.b values (1, "%s");\nselect length(x), md5(x) from t.b where id = 1;\n' \
	"$blob" >"$T/big.sql"
sql big <"$T/big.sql"
rc1=$?
sql back -e 'select x from t.b where id = 1'
rc2=$?
connected=$((connected + 2))
want=$(printf '%s' "$blob" | md5sum | cut -d' ' -f1)
got=$(tr -d '\n' <"$T/back.out" | md5sum | cut -d' ' -f1)
if [ $rc1 -eq 0 ] && [ $rc2 -eq 0 ] && [ "$(cat "$T/big.out")" = "$(printf '1048576\t%s' "$want")" ] &&
   [ "$got" = "$want" ]; then
	pass "$name (server's MD5 of the 1 MiB sent and ours of the 1 MiB read back: $want)"
else
	fail "$name" "exit $rc1/$rc2, server said '$(head -c 100 "$T/big.out")', read back $(wc -c <"$T/back.out") bytes md5 $got (want $want): $(cat "$T/big.err" "$T/back.err" | head -c 300)$(show "$D/out" "$T/srv.log")"
fi

name=mariadb_8_clients_at_once
sql mk -e 'create table t.c (who int, n int)'
connected=$((connected + 1))
pids=""
for i in 1 2 3 4 5 6 7 8; do
	sql "c$i" -D t -e "insert into t.c select $i, seq from seq_1_to_500; select who, count(*), sum(n) from t.c where who = $i group by who" &
	pids="$pids $!"
done
bad=0
for p in $pids; do wait "$p" || bad=$((bad + 1)); done
connected=$((connected + 8))
ok=0
for i in 1 2 3 4 5 6 7 8; do [ "$(cat "$T/c$i.out")" = "$(printf '%d\t500\t125250' $i)" ] && ok=$((ok + 1)); done
if [ $bad -eq 0 ] && [ $ok -eq 8 ]; then
	pass "$name (500 rows each, each client's count and sum right)"
else
	fail "$name" "$bad clients failed, $ok of 8 right: $(cat "$T"/c?.out "$T"/c?.err | tr '\n' '|' | head -c 400)$(show "$T/srv.log")"
fi

name=mariadb_kill_idle_connection
# A: asks its connection id, then idles (its server thread waits in a
# read) until KILLed, then asks again.  -n: unbuffered, so the id can be
# read while A runs.
mkfifo "$T/a.in"
TLSSHIM_LOG=info TLSSHIM_LOG_FILE="$T/cli.log" shimmed mariadb --no-defaults --protocol=TCP -h 127.0.0.1 \
	-P "$P" -u root --skip-ssl -N -B -n <"$T/a.in" >"$T/a.out" 2>"$T/a.err" &
A=$!
exec 7>"$T/a.in"
echo 'select connection_id();' >&7
id=""
wait_for "$T/a.out" '^[0-9]+$' $((20 * TS)) && id=$(head -1 "$T/a.out")
sql kill -e "kill ${id:-0}; select 'killed'"
rc=$?
# (KILL marks the thread and shuts its socket down; the thread leaves the
# list when its read returns: bounded wait)
n=0
while sql plist -e 'select id from information_schema.processlist' && grep -q -x "${id:-0}" "$T/plist.out" &&
      [ $n -lt $((50 * TS)) ]; do
	sleep 0.1; n=$((n + 1))
done
connected=$((connected + n))
echo 'select "after";' >&7
exec 7>&-
wait_gone "$A" $((20 * TS))
arc=$?
connected=$((connected + 3))
if [ -n "$id" ] && [ $rc -eq 0 ] && [ "$(cat "$T/kill.out")" = killed ] && ! grep -q -x "$id" "$T/plist.out" &&
   [ $arc -ne 0 ] && [ $arc -ne 124 ] && grep -q -E 'ERROR 20(06|13)' "$T/a.err" && ! grep -q after "$T/a.out"; then
	pass "$name (connection $id killed; its client: $(grep -o -E 'ERROR 20(06|13)[^:]*' "$T/a.err" | head -1))"
else
	fail "$name" "id '$id', kill exit $rc '$(cat "$T/kill.out" "$T/kill.err")', processlist '$(tr '\n' ' ' <"$T/plist.out")', A exit $arc: $(cat "$T/a.out" "$T/a.err" | tr '\n' '|')$(show "$T/srv.log")"
fi

name=mariadb_both_sides_tls
na=$(logged_tls "$T/srv.log" my-in accepted)
nc=$(count "$T/cli.log" 'rule "my-out": connected TLSv1\.3 .*verified')
if [ "$na" -eq "$connected" ] && [ "$nc" -eq "$connected" ] &&
   ! grep -q -E ': (error|warn): ' "$T/srv.log" "$T/cli.log"; then
	pass "$name (accepted $na, connected $nc verified; $(count "$T/srv.log" 'io_setup: refused') native AIO refusal)"
else
	fail "$name" "accepted $na and connected $nc of $connected$(show "$T/srv.log" "$T/cli.log")"
fi

no_clear mariadb_plain_client_gets_nothing_in_clear "$P" "select 1" "$SRV"

name=mariadb_admin_shutdown
TLSSHIM_LOG=info TLSSHIM_LOG_FILE="$T/cli.log" shimmed mariadb-admin --no-defaults --protocol=TCP \
	-h 127.0.0.1 -P "$P" -u root --skip-ssl shutdown >"$T/adm.out" 2>&1
rc=$?
wait_gone "$SRV" $((60 * TS))
src=$?
if [ $rc -eq 0 ] && [ $src -eq 0 ] && grep -q 'Shutdown complete' "$D/out"; then
	pass "$name (mariadb-admin exit 0, mariadbd exit 0)"
else
	fail "$name" "mariadb-admin exit $rc '$(cat "$T/adm.out")', mariadbd exit $src$(show "$D/out" "$T/srv.log")"
fi
