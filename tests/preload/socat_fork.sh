#!/bin/sh
# socat TCP-LISTEN:...,fork EXEC:/bin/cat under the shim (issue 4, "proven
# on real programs"): socat forks a child per connection (the session is
# fresh at that fork: the child owns it, the parent's close sends nothing);
# the child forks again and execs cat on a socketpair of its own, and
# relays between that and the TLS connection.
# Asserted: 10 concurrent verified Python ssl clients (100 KB each, sent
# while the echo is read) get every byte back, and each connection ends
# with close_notify both ways; a second round after the first shows the
# listener is unharmed; the shim logs no warning or error.
. "$TLSSHIM_TOP/tests/lib.sh"
. "$TLSSHIM_TOP/tests/preload/common.inc"
need_shim
command -v socat >/dev/null 2>&1 || { fail setup "socat is not installed (.ci/packages lists it)"; exit 1; }

P=$(free_port)
policy "$T/socat.conf" <<EOC
rules = ( { name = "socat-in"; direction = "accept"; port = $P;
            cert = "$CERTS/server.crt"; key = "$CERTS/server.key"; } );
EOC
TLSSHIM_LOG_FILE="$T/socat.log" shimbg socat TCP-LISTEN:"$P",bind=127.0.0.1,reuseaddr,fork,backlog=32 \
	EXEC:/bin/cat >"$T/socat.out" 2>&1
socat=$!
wait_listen "$P" 15

# round N: 10 concurrent clients; prints the failures, if any.
round() {
	_pids=""
	_i=1
	while [ $_i -le 10 ]; do
		bg "$PY" "$TLSPEER" client --port "$P" --ca "$CERTS/ca.crt" --server-name localhost \
			--random 100000 --timeout $((30 * TS)) >"$T/c$1.$_i.out" 2>&1
		_pids="$_pids $!"
		_i=$((_i + 1))
	done
	_i=1
	for _p in $_pids; do
		wait_exit "$_p" 60; _rc=$?
		if [ $_rc -ne 0 ] || ! grep -q '^echo ok 100000' "$T/c$1.$_i.out" ||
		   ! grep -q '^unwrap ok' "$T/c$1.$_i.out"; then
			echo "[round $1 client $_i exit $_rc: $(tr '\n' ' ' <"$T/c$1.$_i.out" | head -c 300)]"
		fi
		_i=$((_i + 1))
	done
}
bad=$(round 1)
if [ -z "$bad" ]; then
	pass "socat fork + EXEC:/bin/cat: 10 concurrent verified TLS clients, 100 KB each echoed, close_notify both ways"
else
	fail "socat fork + EXEC:/bin/cat: 10 concurrent clients" "$bad $(show "$T/socat.log")"
fi
bad=$(round 2)
if [ -z "$bad" ]; then
	pass "socat fork + EXEC:/bin/cat: a second round of 10 concurrent clients works too"
else
	fail "socat fork + EXEC:/bin/cat: second round" "$bad $(show "$T/socat.log")"
fi
wait_children "$socat" 10      # every connection's child has ended (and logged)
stop "$socat"
if grep -q -E 'warn|error' "$T/socat.log" 2>/dev/null; then
	fail "socat fork + EXEC: no warning or error logged" "$(head -c 1500 "$T/socat.log")"
else
	pass "socat fork + EXEC: no warning or error logged"
fi
