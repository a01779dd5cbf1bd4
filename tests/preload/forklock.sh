#!/bin/sh
# fork() while another thread is inside the shim: the atfork handlers take
# every lock of the shim (epoll table and instances, registry, each
# connection, linger, resolver) in one global order and release them in
# parent and child, so a child never inherits a lock held mid-operation.
# 300 forks while a thread polls a TLS fd; each child closes that fd.
. "$TLSSHIM_TOP/tests/lib.sh"
P=$(free_port)
policy "$T/p.conf" <<EOC
rules = ( { name = "fl-in"; direction = "accept"; port = $P;
            cert = "$CERTS/server.crt"; key = "$CERTS/server.key"; } );
EOC
out=$(TLSSHIM_LOG_FILE="$T/log" timeout $((120 * TS)) env LD_PRELOAD="$SHIM_PRELOAD" TLSSHIM_CONFIG="$POLICY" \
	"$PROGS/fork_stress" "$P" 300 2>&1)
if [ "$out" = "300 forks, 0 hung" ]; then
	pass "300 forks while a thread is inside the shim: no child hangs on an inherited lock"
else
	fail "fork while locked" "$out $(cat "$T/log")"
fi
