#!/bin/sh
# tests/interop/ncat_exec.sh — nmap's ncat as a TLS server made by the
# shim: "ncat -l -k -e /bin/cat" under an accept rule.  For each client
# ncat forks a relay process, which forks again and execs cat with pipes
# on its stdin and stdout, the client's socket left open in it (fd 4, not
# close-on-exec); the relay moves bytes between the socket and the pipes.
# Found with it (helper-164): the exec in the grandchild completed the
# lazy handshake of the session it had inherited through fork, to put
# the peer's identity in cat's environment (shim/peerenv.c), while the
# relay ran its own on the same connection: two handshakes interleaved on
# one socket, and every client failed ("bad record type", "unexpected
# message" in the log).  A session inherited through fork and not started
# is now never completed at an exec: the first process to use it owns it.
# Asserted: 6 clients one after the other (Python ssl, verifying), each
# with 20000 random bytes echoed exactly through cat; 6 handshakes, none
# failed; the wire audit.  (Small transfers: ncat 7.93's -e relay itself
# stalls after some 56 KB echoed, without the shim too.)
. "$(dirname "$0")/../lib.sh"
. "$TLSSHIM_TOP/tests/preload/common.inc"
. "$TLSSHIM_TOP/tests/interop/daemons.inc"
need_shim ncat_exec_setup
command -v ncat >/dev/null || { fail ncat_exec_setup "ncat not installed (ncat)"; exit 1; }

P=$(free_port)
policy "$T/ncat.policy" <<EOC
rules = ( { name = "ncat-in"; direction = "accept"; port = $P; cert = "$CERTS/server.crt"; key = "$CERTS/server.key"; } );
EOC
TLSSHIM_LOG=info TLSSHIM_LOG_FILE="$T/shim.log" shimbg ncat -l -k -e /bin/cat 127.0.0.1 "$P" >"$T/ncat.out" 2>&1
NC=$!
listen_or_exit ncat_exec_setup "ncat" "$NC" "$P" "$T/ncat.out" "$T/shim.log"

name=ncat_exec_cat_echoes_6_clients
ok=0
for i in 1 2 3 4 5 6; do
	timeout $((30 * TS)) "$PY" "$TLSPEER" client --port "$P" --ca "$CERTS/ca.crt" --server-name localhost \
		--random 20000 --finish unwrap >"$T/client.$i" 2>&1 && grep -q '^echo ok 20000$' "$T/client.$i" &&
		ok=$((ok + 1))
done
if [ "$ok" -eq 6 ]; then
	pass "$name (20000 bytes each, exact)"
else
	fail "$name" "$ok of 6 echoed: $(grep -h -E '^(echo|error|handshake-error)' "$T"/client.* | sort | uniq -c | tr '\n' '|')$(show "$T/shim.log")"
fi

name=ncat_exec_one_handshake_per_connection
na=$(logged_tls "$T/shim.log" ncat-in accepted)
nf=$(lines "$T/shim.log" 'handshake failed|handshake timeout|peer closed the connection during the handshake')
if [ "$na" -eq 6 ] && [ "$nf" -eq 0 ] && ! grep -q ': error: ' "$T/shim.log"; then
	pass "$name (6 accepted, no failed handshake)"
else
	fail "$name" "$na accepted of 6, $nf failed handshakes$(show "$T/shim.log")"
fi
kill_tree "$NC"
