#!/bin/sh
# tests/infra/pystart.sh — the suite's Python peers load only what their
# mode needs (an interpreter start with ssl costs about 0.1 s of CPU; the
# suite starts thousands):
#  * tlspeer.py relay, raw and silent, and failclosed_wire.py relay
#    and lines import neither ssl nor (but the relays) threading (the
#    captures' check is in C: tests/infra/wireaudit.sh);
#    their server and client modes still import ssl;
#  * strict_tls.py's listener() alone does not load ssl, and its contexts
#    are still strict (OP_IGNORE_UNEXPECTED_EOF cleared);
#  * failclosed_common.inc's fc_ports starts no Python (lib.sh's
#    free_port): distinct free ports, as before.
# tlsshim-test: once
. "$TLSSHIM_TOP/tests/lib.sh"
. "$TLSSHIM_TOP/tests/preload/common.inc"

WIRE="$TLSSHIM_TOP/tests/preload/failclosed_wire.py"

# mods NAME ARGS...: run "$PY -X importtime ARGS" (status ignored: the
# peers are given no one to talk to); the modules it imported, one per
# line, in $T/NAME.mods.
mods() {
	_mn=$1; shift
	timeout $((20 * TS)) "$PY" -X importtime "$@" >"$T/$_mn.out" 2>"$T/$_mn.err"
	sed -n 's/^import time: *[0-9]* | *[0-9]* | *//p' "$T/$_mn.err" >"$T/$_mn.mods"
}
has() { grep -q -x "$2" "$T/$1.mods"; }

# a port nobody listens on: the clients fail at once
P=$(free_port)
mkdir -p "$T/empty"

mods raw "$TLSPEER" raw --port "$P" --timeout 1
mods silent "$TLSPEER" silent --port "$P" --hold 1
mods lines "$WIRE" lines --dir "$T/empty" --sentinel x --prog /dev/null
mods client "$TLSPEER" client --port "$P" --ca "$CERTS/ca.crt" --timeout 1
mods wclient "$WIRE" client --port "$P" --ca "$CERTS/ca.crt" --timeout 1
for m in raw silent lines; do
	if has $m ssl || has $m _ssl || has $m threading; then
		fail "$m mode loads only what it needs" "imported: $(grep -x -E '_?ssl|threading' "$T/$m.mods" | tr '\n' ' ')"
	elif [ ! -s "$T/$m.mods" ]; then
		fail "$m mode loads only what it needs" "no import lines: $(head -c 300 "$T/$m.err")"
	else
		pass "$m mode loads only what it needs (no ssl, no threading)"
	fi
done
check "tlspeer client still imports ssl" has client ssl
check "failclosed_wire client still imports ssl" has wclient ssl

# the relays: threading, no ssl; they still relay
Q=$(free_port)
R=$(free_port)
bg "$PY" -X importtime "$TLSPEER" relay --port "$R" --to "$Q" --record "$T/rel" >"$T/relay.out" 2>"$T/relay.err"
RL=$!
bg "$PY" "$TLSPEER" server --port "$Q" --plain --mode echo >"$T/plain.out" 2>&1
SV=$!
if wait_for "$T/relay.out" '^ready' 10 && wait_for "$T/plain.out" '^ready' 10; then
	out=$(timeout $((20 * TS)) "$PY" "$TLSPEER" raw --port "$R" --send "relayed" --timeout 5 2>&1)
	case "$out" in
	*"received 7"*) pass "tlspeer relay without ssl still relays" ;;
	*) fail "tlspeer relay without ssl still relays" "raw client: $out" ;;
	esac
else
	fail "tlspeer relay without ssl still relays" "relay or server never ready: $(cat "$T/relay.err" "$T/plain.out")"
fi
stop "$RL"
stop "$SV"
sed -n 's/^import time: *[0-9]* | *[0-9]* | *//p' "$T/relay.err" >"$T/relay.mods"
if has relay threading && ! has relay ssl; then
	pass "tlspeer relay imports threading, not ssl"
else
	fail "tlspeer relay imports threading, not ssl" "ssl/threading lines: $(grep -x -E '_?ssl|threading' "$T/relay.mods" | tr '\n' ' ')"
fi

# strict_tls: listener() alone leaves ssl unloaded; the contexts are strict
out=$("$PY" -c '
import sys
from strict_tls import listener
s = listener(0, 1)
print("ssl" in sys.modules)
from strict_tls import strict_server_ctx, strict_client_ctx, truncated
import ssl
f = getattr(ssl, "OP_IGNORE_UNEXPECTED_EOF", 0)
c = strict_server_ctx()
d = strict_client_ctx(bare=True)
print(bool(c.options & f) or bool(d.options & f), truncated(ssl.SSLEOFError()))
' 2>&1)
check "strict_tls listener() alone does not load ssl" [ "$(echo "$out" | sed -n 1p)" = False ]
check "strict_tls contexts still strict, truncated() still works" [ "$(echo "$out" | sed -n 2p)" = "False True" ]

# fc_ports: no interpreter, distinct ports nobody listens on
. "$TLSSHIM_TOP/tests/preload/failclosed_common.inc"
PY=/bin/false
set -- $(fc_ports 3)
if [ $# -eq 3 ] && [ "$1" != "$2" ] && [ "$2" != "$3" ] && [ "$1" != "$3" ] &&
   ! listening "$1" && ! listening "$2" && ! listening "$3"; then
	pass "fc_ports gives 3 distinct free ports without a Python start"
else
	fail "fc_ports gives 3 distinct free ports without a Python start" "got: $*"
fi
