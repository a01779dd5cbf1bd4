#!/bin/sh
# A Go program makes its socket calls itself (the Go runtime's own system
# calls, never the C library's), so no wrapper sees them: under the
# library, with a connect rule asking for TLS, it sent its bytes in clear;
# with an accept rule it would serve plaintext on a TLS port.  The library
# now stops such a program in its constructor (exit 78, one line naming it)
# while the policy has TLS rules, and lets it run under a policy without
# them.  The Go program (tests/progs/goapp.go) is built here with Debian's
# toolchain; it links the C library (cgo), as Go programs that look up
# users or names do, so the dynamic loader preloads the library into it.
# A real TLS echo peer behind a recording relay: nothing of the program's
# may reach the wire.
. "$TLSSHIM_TOP/tests/lib.sh"
. "$TLSSHIM_TOP/tests/preload/failclosed_common.inc"
need_shim

if ! why=$(go_app "$T/goapp"); then
	fail "goruntime: setup" "$why"
	exit 1
fi
if ! fc_start peer --mode echo; then
	fail "goruntime: setup" "peer or relay did not start $(show "$T/peer.srv.out" "$T/peer.relay.out")"
	exit 1
fi
REFUSAL="a Go program: its runtime makes its system calls itself, never through the C library"

# refused NAME TEXT: exit 78 ($rc), the refusal on stderr ($T/NAME.err)
# and in the log ($T/NAME.log).
refused() {
	if [ "$rc" -eq 78 ] && grep -q -F "tlsshim: $T/goapp: $REFUSAL" "$T/$1.err" &&
	   grep -q -F "refusing to start: $T/goapp: $REFUSAL" "$T/$1.log"; then
		return 0
	fi
	return 1
}

# under NAME CONF CMD...: CMD under the library with the policy CONF; its
# output in $T/NAME.out and .err, its log in $T/NAME.log; sets rc.
under() {
	_n=$1 _c=$2
	shift 2
	TLSSHIM_LOG_FILE="$T/$_n.log" timeout -k 2 $((20 * TS)) env LD_PRELOAD="$SHIM_PRELOAD" \
		TLSSHIM_CONFIG="$_c" "$@" >"$T/$_n.out" 2>"$T/$_n.err"
	rc=$?
}
# on_wire NAME: the peer's connections since the last case, as NAME's:
# sets wrc (the audit of the captures: 0 clean) and conns (how many).
on_wire() {
	srv_settled peer 1 2
	fc_collect peer "$1"
	fc_wire "$1"
	wrc=$?
	conns=$(find "$T/$1.wire" -type f | wc -l)
}

# ---- a connect rule: refused before main, nothing on the wire -------------------
fc_policy "$T/dial.conf"
under dial "$T/dial.conf" "$T/goapp" dial "127.0.0.1:$R" "$SENT"
on_wire dial
if refused dial && [ ! -s "$T/dial.out" ] && [ $wrc -eq 0 ] && [ "$conns" -eq 0 ]; then
	pass "Go client, TLS connect rule: stopped before main (78), no connection made"
else
	fail "Go client under a TLS connect rule: stopped" "exit $rc, out: $(head -c 200 "$T/dial.out"),"\
" captures: $conns, $WIRE_OUT; stderr: $(head -c 300 "$T/dial.err")"
fi

# ---- an accept rule: refused before it listens -----------------------------------
A=$(fc_ports 1)
policy "$T/listen.conf" <<EOC
rules = ( { name = "go-in"; direction = "accept"; port = $A; cert = "$CERTS/server.crt";
            key = "$CERTS/server.key"; } );
EOC
under listen "$T/listen.conf" "$T/goapp" listen "127.0.0.1:$A"
if refused listen && ! grep -q ready "$T/listen.out"; then
	pass "Go server, TLS accept rule: stopped before it listens (78)"
else
	fail "Go server under a TLS accept rule: stopped" "exit $rc, out: $(head -c 200 "$T/listen.out"),"\
" stderr: $(head -c 300 "$T/listen.err")"
fi

# ---- exec'd by a program under the library ---------------------------------------
under exec "$T/dial.conf" sh -c 'exec "$0" dial "$1" "$2"' "$T/goapp" "127.0.0.1:$R" "$SENT"
on_wire exec
if refused exec && [ $wrc -eq 0 ] && [ "$conns" -eq 0 ]; then
	pass "Go client exec'd by a shell under the library: stopped (78), no connection made"
else
	fail "Go client exec'd under the library: stopped" "exit $rc, captures: $conns, $WIRE_OUT;"\
" stderr: $(head -c 300 "$T/exec.err")"
fi

# ---- no TLS rule: it runs as without the library --------------------------------
P=$(fc_ports 1)
bg "$T/goapp" listen "127.0.0.1:$P" >"$T/plainsrv.out" 2>&1
policy "$T/plain.conf" <<EOC
rules = ( { name = "plain-out"; direction = "connect"; port = $P; action = "plain"; } );
EOC
if wait_for "$T/plainsrv.out" '^ready' 10; then
	under plain "$T/plain.conf" "$T/goapp" dial "127.0.0.1:$P" hello
	out=$(cat "$T/plain.out" "$T/plain.err")
else
	out="its plain peer did not start: $(head -c 200 "$T/plainsrv.out")"
	rc=1
fi
if [ $rc -eq 0 ] && [ "$out" = 'read "hello\n" <nil>' ]; then
	pass "Go client, a policy without TLS rules: runs as without the library"
else
	fail "Go client without TLS rules: runs" "exit $rc: $out"
fi
fc_stop
