#!/bin/sh
# tests/interop/haproxy_splice.sh — a program that moves data socket to
# socket with splice(2): Debian's haproxy in TCP mode with
# "option splice-request" and "option splice-response" (splice forced in
# both directions: socket -> pipe -> socket), under the shim.
#  * front TLS, back plain: an accept rule on haproxy's port; the upstream
#    is a plain echo server (tests/interop/tlspeer.py server --plain).
#    Upstream -> client: splice from the plain socket into a pipe, then
#    from the pipe into the TLS socket (the shim encrypts it); client ->
#    upstream: splice out of the TLS socket is refused (EINVAL) and
#    haproxy falls back to recv/send.
#  * both TLS: the same, and a connect rule makes haproxy's connection to
#    a TLS echo server (tlspeer.py server) TLS.
# Asserted: a verifying Python TLS client sends 16 MB of random data and
# gets exactly the same 16 MB back, then a clean close (close_notify both
# ways); haproxy really called splice (strace -f -e splice counts the
# calls); the TLS echo server saw a TLS 1.3 session; openssl s_client gets a
# verified handshake on the front port.
# tlsshim-test: big-capture (tests/run.sh: its capture needs the large buffer)
. "$(dirname "$0")/../lib.sh"
. "$TLSSHIM_TOP/tests/preload/common.inc"
. "$TLSSHIM_TOP/tests/interop/daemons.inc"
need_shim haproxy_setup
HAPROXY=$(command -v haproxy || echo /usr/sbin/haproxy)
[ -x "$HAPROXY" ] || { fail haproxy_setup "haproxy not installed (haproxy)"; exit 1; }
command -v strace >/dev/null || { fail haproxy_setup "strace not installed (strace)"; exit 1; }
SIZE=16777216

for mode in plainback tlsback; do
	F=$(free_port)
	U=$(free_port)
	while [ "$U" = "$F" ]; do U=$(free_port); done
	if [ "$mode" = plainback ]; then
		start_peer "$mode.up" server --plain --mode echo --port "$U" --count 2 --timeout 60 --status "$T/$mode.up.status"
		CONNECT_RULE=""
	else
		start_peer "$mode.up" server --mode echo --port "$U" --count 2 --timeout 60 \
			--cert "$CERTS/server.crt" --key "$CERTS/server.key" --status "$T/$mode.up.status"
		CONNECT_RULE=", { name = \"haproxy-out\"; direction = \"connect\"; port = $U; ca = \"$CERTS/ca.crt\"; server_name = \"localhost\"; }"
	fi
	UP=$PEER
	track "$UP"
	policy "$T/$mode.policy" <<EOF
rules = ( { name = "haproxy-in"; direction = "accept"; port = $F;
            cert = "$CERTS/server.crt"; key = "$CERTS/server.key"; } $CONNECT_RULE );
EOF
	cat >"$T/$mode.cfg" <<EOF
global
  maxconn 100
  nbthread 2
defaults
  mode tcp
  timeout connect 10s
  timeout client 60s
  timeout server 60s
  option splice-request
  option splice-response
listen front
  bind 127.0.0.1:$F
  server up 127.0.0.1:$U
EOF
	# strace counts haproxy's splice calls (and changes nothing else).
	TLSSHIM_LOG=info TLSSHIM_LOG_FILE="$T/$mode.log" POLICY=$T/$mode.policy \
		shimbg strace -f -qq -c -S calls -e trace=splice -o "$T/$mode.strace" \
		"$HAPROXY" -db -f "$T/$mode.cfg" >"$T/$mode.out" 2>&1
	HA=$!
	track "$HA"
	if ! wait_listen "$F" 20 "$HA"; then
		fail "haproxy_${mode}_setup" "haproxy did not listen$(show "$T/$mode.out" "$T/$mode.log")"
		kill_tree "$HA"; continue
	fi

	name=haproxy_${mode}_16MB_echo_exact_through_splice
	timeout 120 "$PY" "$TLSPEER" client --port "$F" --ca "$CERTS/ca.crt" --server-name localhost \
		--random "$SIZE" --timeout 90 --finish unwrap >"$T/$mode.cli" 2>&1; rc=$?
	if [ "$rc" -eq 0 ] && grep -q "^echo ok $SIZE$" "$T/$mode.cli" && grep -q '^unwrap ok$' "$T/$mode.cli"; then
		pass "$name"
	else
		fail "$name" "client exit $rc: $(tr '\n' '|' <"$T/$mode.cli" | cut -c1-300)$(show "$T/$mode.out" "$T/$mode.log" "$T/$mode.up.status")"
	fi

	name=haproxy_${mode}_front_port_speaks_tls
	if tls_probe "$F" "$T/$mode.probe"; then pass "$name"; else fail "$name" "openssl s_client failed$(show "$T/$mode.probe" "$T/$mode.log")"; fi

	if [ "$mode" = tlsback ]; then
		name=haproxy_tlsback_upstream_saw_tls
		if grep -q '^tls version=TLSv1\.3 ' "$T/$mode.up.status" &&
		   [ "$(count "$T/$mode.log" 'rule "haproxy-out": connected TLSv1\.3 .*verified')" -ge 1 ]; then
			pass "$name"
		else
			fail "$name" "upstream status: $(tr '\n' '|' <"$T/$mode.up.status" 2>/dev/null)$(show "$T/$mode.log")"
		fi
	fi

	kill -USR1 "$(pgrep -P "$HA" -x haproxy | head -1)" 2>/dev/null    # soft stop
	wait_gone "$HA" 20; echo "haproxy+strace exit $?" >>"$T/$mode.out"
	# Splice really happened: system calls that reached the kernel (strace
	# counts them: plain socket -> pipe, pipe -> TLS socket), and attempts
	# out of a TLS socket, which the shim refuses itself (EINVAL, logged at
	# level info; no system call).
	name=haproxy_${mode}_splice_was_used
	calls=$(sed -n 's/^ *[0-9.]* *[0-9.]* *[0-9]* *\([0-9]*\) *[0-9]* *splice$/\1/p; s/^ *[0-9.]* *[0-9.]* *[0-9]* *\([0-9]*\) *splice$/\1/p' "$T/$mode.strace" | head -1)
	refused=$(count "$T/$mode.log" 'splice\(\) out of a TLS connection: EINVAL')
	if [ "$mode" = plainback ] && [ "${calls:-0}" -gt 0 ] && [ "$refused" -ge 1 ]; then
		pass "$name ($calls splice calls to the kernel, $refused refused out of TLS)"
	elif [ "$mode" = tlsback ] && [ "$refused" -ge 2 ]; then
		pass "$name (${calls:-0} splice calls to the kernel, $refused refused out of TLS)"
	else
		fail "$name" "${calls:-0} splice calls to the kernel, $refused refused$(show "$T/$mode.strace" "$T/$mode.out")"
	fi
	kill_tree "$UP"
done
