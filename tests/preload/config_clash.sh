#!/bin/sh
# tests/preload/config_clash.sh — a program that exports functions named
# like libconfig's (config_init, config_read, config_read_file,
# config_destroy, ...), as lighttpd does, runs under the shim: the shim's
# policy loading must not call them (tests/progs/config_clash aborts if
# anything does), and a TLS echo round trip through it works.
# The library's link itself is checked in tests/launcher/linkage.sh; the
# real lighttpd in tests/interop/lighttpd.sh.
. "$(dirname "$0")/../lib.sh"
. "$TLSSHIM_TOP/tests/preload/common.inc"
need_shim config_clash_setup
CLASH=$PROGS/config_clash
if [ ! -x "$CLASH" ]; then
	fail config_clash_setup "$CLASH missing (make test-build)"
	exit 1
fi

# The test means something only while the program really exports the names.
name=config_clash_exports_libconfig_names
missing=""
for s in config_init config_read config_read_file config_destroy config_setting_get_string; do
	nm -D --defined-only "$CLASH" 2>/dev/null | grep -q " T $s\$" || missing="$missing $s"
done
if [ -z "$missing" ]; then
	pass "$name"
else
	fail "$name" "not in its dynamic symbol table:$missing"
fi

# Start-up: the policy is loaded in the library's constructor, before main.
name=config_clash_starts_under_shim
P=$(free_port)
policy "$T/p.conf" <<EOF
rules = (
  { name = "clash-in"; direction = "accept"; port = $P;
    cert = "$CERTS/server.crt"; key = "$CERTS/server.key"; }
);
EOF
export TLSSHIM_LOG_FILE="$T/clash.log"
shimbg "$CLASH" "$P" >"$T/clash.out" 2>"$T/clash.err"
SRV=$!
# Until it listens, or at once when it has died (at most 10 s).
n=100
while [ "$n" -gt 0 ] && alive "$SRV" && ! grep -q '^listening' "$T/clash.out"; do
	sleep 0.1; n=$((n - 1))
done
if ! grep -q '^listening' "$T/clash.out"; then
	wait_exit "$SRV" 5; rc=$?
	fail "$name" "never listened, exit $rc$(show "$T/clash.err" "$T/clash.log")"
	exit 1
fi
if grep -q 'called' "$T/clash.err"; then
	fail "$name" "the program's own config_* function was called$(show "$T/clash.err")"
else
	pass "$name"
fi

# A TLS round trip: 200 000 random bytes echoed exactly, clean closure.
name=config_clash_tls_echo
peer client --port "$P" --ca "$CERTS/ca.crt" --random 200000 >"$T/clash.cli" 2>&1
wait_exit "$SRV" 10; rc=$?
if ! grep -q '^echo ok 200000$' "$T/clash.cli"; then
	fail "$name" "echo not exact$(show "$T/clash.cli" "$T/clash.err" "$T/clash.log")"
elif ! grep -q '^unwrap ok' "$T/clash.cli"; then
	fail "$name" "no clean TLS closure$(show "$T/clash.cli" "$T/clash.log")"
elif [ "$rc" -ne 0 ] || [ -s "$T/clash.err" ]; then
	fail "$name" "config_clash exited $rc$(show "$T/clash.err" "$T/clash.log")"
else
	pass "$name"
fi
