#!/bin/sh
# tests/interop/redis_replication.sh — a server-to-server replication link
# made TLS by the shim: two Debian redis-server processes, a master and a
# replica (--replicaof), both under the shim.  The master's port has an
# accept rule; the replica's connection to the master is made TLS by a
# connect rule (and its own port has an accept rule for its clients).
# Clients are redis-cli --tls (hiredis + OpenSSL, not shimmed).
# Asserted: data written on the master before the replica starts arrives by
# the full synchronisation (an RDB of several MB, sent diskless: a forked
# child writes it into a pipe, the master relays it to the replica's
# socket); data written after it arrives by the command stream; a 1 MB value
# and 2000 keys read back the same on the replica (bounded polling of INFO
# replication and the keys); the shim logged the link as TLS on both sides
# (the replica "connected", server verified; the master "accepted").
# tlsshim-test: big-capture (tests/run.sh: its capture needs the large buffer)
. "$(dirname "$0")/../lib.sh"
. "$TLSSHIM_TOP/tests/preload/common.inc"
. "$TLSSHIM_TOP/tests/interop/daemons.inc"
need_shim repl_setup
for _c in redis-server redis-cli; do
	command -v "$_c" >/dev/null || { fail repl_setup "$_c not installed (redis-server, redis-tools)"; exit 1; }
done

M=$(free_port)
R=$(free_port)
while [ "$R" = "$M" ]; do R=$(free_port); done
policy "$T/policy.conf" <<EOF
rules = (
  { name = "redis-in"; direction = "accept"; port = [$M, $R];
    cert = "$CERTS/server.crt"; key = "$CERTS/server.key"; },
  { name = "replica-to-master"; direction = "connect"; port = $M; ca = "$CERTS/ca.crt"; }
);
EOF

# start_redis NAME PORT ARGS...: shimmed redis-server in the background,
# its own directory, log $T/NAME.out, shim log $T/NAME.log; pid in RSRV.
start_redis() {
	_sr_name=$1 _sr_port=$2; shift 2
	mkdir -p "$T/$_sr_name.d"
	TLSSHIM_LOG=info TLSSHIM_LOG_FILE="$T/$_sr_name.log" shimbg redis-server --port "$_sr_port" \
		--bind 127.0.0.1 --save '' --appendonly no --daemonize no --dir "$T/$_sr_name.d" \
		--logfile '' --loglevel notice "$@" >"$T/$_sr_name.out" 2>&1
	RSRV=$!
	track "$RSRV"
	wait_ready "$RSRV" "$T/$_sr_name.out" 'Ready to accept connections' 15
}
cli() { _c_port=$1; shift; timeout 30 redis-cli --tls --cacert "$CERTS/ca.crt" --sni localhost -h 127.0.0.1 -p "$_c_port" "$@"; }
# info_field PORT FIELD: a field of INFO replication.
info_field() { cli "$1" INFO replication 2>/dev/null | tr -d '\r' | sed -n "s/^$2://p"; }

if ! start_redis master "$M"; then
	fail repl_setup "master did not start$(show "$T/master.out" "$T/master.log")"
	exit 1
fi
MASTER=$RSRV

# Before the replica exists: 2000 keys and a 4 MB value (base64 text).
i=1
while [ $i -le 2000 ]; do echo "SET key:$i value-$i-$$"; i=$((i + 1)); done >"$T/cmds"
cli "$M" <"$T/cmds" >"$T/cmds.out" 2>&1
head -c 3145728 /dev/urandom | base64 -w0 >"$T/big4"
cli "$M" -x SET big4 <"$T/big4" >/dev/null 2>&1
n=$(grep -c '^OK$' "$T/cmds.out")
[ "$n" -eq 2000 ] || fail repl_setup "only $n of 2000 SETs on the master$(show "$T/cmds.out")"

if ! start_redis replica "$R" --replicaof 127.0.0.1 "$M"; then
	fail repl_setup "replica did not start$(show "$T/replica.out" "$T/replica.log")"
	exit 1
fi
REPLICA=$RSRV

name=repl_link_up_full_sync_over_tls
n=300
while [ "$n" -gt 0 ] && [ "$(info_field "$R" master_link_status)" != up ]; do sleep 0.1; n=$((n - 1)); done
st=$(info_field "$R" master_link_status)
slaves=$(info_field "$M" connected_slaves)
if [ "$st" = up ] && [ "$slaves" = 1 ] && grep -q 'MASTER <-> REPLICA sync: Finished with success' "$T/replica.out"; then
	pass "$name"
else
	fail "$name" "replica master_link_status '$st', master connected_slaves '$slaves'$(show "$T/replica.out" "$T/replica.log" "$T/master.out" "$T/master.log")"
fi

name=repl_full_sync_data_on_replica
v1=$(cli "$R" GET key:1 2>&1)
v2000=$(cli "$R" GET key:2000 2>&1)
cnt=$(cli "$R" DBSIZE 2>&1)
cli "$R" GET big4 >"$T/big4.got" 2>&1
printf '\n' >>"$T/big4"
if [ "$v1" = "value-1-$$" ] && [ "$v2000" = "value-2000-$$" ] && [ "$cnt" = 2001 ] && cmp -s "$T/big4" "$T/big4.got"; then
	pass "$name"
else
	fail "$name" "key:1 '$v1', key:2000 '$v2000', DBSIZE '$cnt', big4 $(wc -c <"$T/big4.got") bytes$(show "$T/replica.out")"
fi

# After the sync: the command stream.  A 1 MB value, 500 INCRs, a DEL, and
# a marker written last; the replica has caught up when it has the marker.
name=repl_command_stream_to_replica
head -c 786432 /dev/urandom | base64 -w0 >"$T/big1"
cli "$M" -x SET big1 <"$T/big1" >/dev/null 2>&1
i=0; while [ $i -lt 500 ]; do echo "INCR counter"; i=$((i + 1)); done | cli "$M" >/dev/null 2>&1
cli "$M" DEL key:1 >/dev/null 2>&1
cli "$M" SET marker "done-$$" >/dev/null 2>&1
n=300
while [ "$n" -gt 0 ] && [ "$(cli "$R" GET marker 2>/dev/null)" != "done-$$" ]; do sleep 0.1; n=$((n - 1)); done
mk=$(cli "$R" GET marker 2>&1)
ctr=$(cli "$R" GET counter 2>&1)
gone=$(cli "$R" EXISTS key:1 2>&1)
cli "$R" GET big1 >"$T/big1.got" 2>&1
printf '\n' >>"$T/big1"
moff=$(info_field "$M" master_repl_offset)
roff=$(info_field "$R" slave_repl_offset)
if [ "$mk" = "done-$$" ] && [ "$ctr" = 500 ] && [ "$gone" = 0 ] && cmp -s "$T/big1" "$T/big1.got"; then
	pass "$name (offsets master $moff, replica $roff)"
else
	fail "$name" "marker '$mk', counter '$ctr', key:1 exists '$gone', big1 $(wc -c <"$T/big1.got") bytes$(show "$T/replica.out" "$T/replica.log" "$T/master.log")"
fi

# The replica is read-only: a write on it is refused (it really is a replica).
name=repl_replica_is_read_only
out=$(cli "$R" SET x y 2>&1)
case "$out" in
*READONLY*) pass "$name" ;;
*) fail "$name" "SET on the replica said '$out'" ;;
esac

name=repl_link_logged_tls_both_sides
nc=$(grep -c 'rule "replica-to-master": connected TLSv1\.[23] .*verified' "$T/replica.log" 2>/dev/null)
# The master's side: the replica's TCP connection (its local port, from
# ss: the only connection to the master's port now) was accepted as TLS.
# (redis's own CLIENT LIST cannot tell: the diskless sync forked with the
# session live, the session went to a pump and redis's descriptor became
# a UNIX socket, "addr=/unixsocket:0"; see libtlsshim(7), The pump.)
ss -Htn state established "dport = :$M" >"$T/clients" 2>&1
rport=$(sed -n 's/^.* 127\.0\.0\.1:\([0-9]*\) *127\.0\.0\.1:'"$M"' *$/\1/p' "$T/clients" | head -1)
na=$(grep -c "127\.0\.0\.1:$rport rule \"redis-in\": accepted TLSv1\.[23] " "$T/master.log" 2>/dev/null)
if [ "$nc" -ge 1 ] && [ -n "$rport" ] && [ "$na" -eq 1 ]; then
	pass "$name (replica's port $rport; $(lines "$T/master.log" "handed to a pump") sessions pumped by the master)"
else
	fail "$name" "replica connected lines $nc, master accepted lines for port '${rport}': $na$(show "$T/clients" "$T/replica.log" "$T/master.log")"
fi

name=repl_master_port_speaks_tls
if tls_probe "$M" "$T/probe"; then pass "$name"; else fail "$name" "openssl s_client failed$(show "$T/probe")"; fi

name=repl_shutdown_both_exit_0
cli "$R" SHUTDOWN NOSAVE >/dev/null 2>&1
wait_gone "$REPLICA" 15; r1=$?
cli "$M" SHUTDOWN NOSAVE >/dev/null 2>&1
wait_gone "$MASTER" 15; r2=$?
if [ "$r1" -eq 0 ] && [ "$r2" -eq 0 ]; then
	pass "$name"
else
	fail "$name" "replica exited $r1, master $r2$(show "$T/replica.out" "$T/master.out")"
fi
