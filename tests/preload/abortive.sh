#!/bin/sh
# tests/preload/abortive.sh — an abortive close (SO_LINGER {1, 0}) on a
# TLS connection stays abortive.
#
# A program sets SO_LINGER {1, 0} before close() to say the stream is cut
# short (a proxy whose upstream broke mid-reply): TCP then sends a RST
# and the peer gets an error, never a clean end.  Under the library the
# close must not turn that into a close_notify, which the peer would take
# for the authenticated end of a complete reply.
#   * abortive_close_is_no_close_notify: a shimmed echo_server -c -R
#     answers once and closes abortively; the TLS client (Python ssl, no
#     shim), reading on after the echo, gets an error (the reset, which
#     Python reports as a ragged EOF), not "eof clean";
#   * control_plain_abortive_close_resets: the same server without the
#     shim, a plain client: a reset (what the program asked for);
#   * ordinary_close_still_close_notify: echo_server -c without -R: the
#     client reads a clean end (close_notify), so the difference is the
#     option.
. "$(dirname "$0")/../lib.sh"
. "$TLSSHIM_TOP/tests/preload/common.inc"
need_shim abortive_setup

# tls_case NAME WANT(clean|error) ECHO-SERVER-FLAGS...
tls_case() {
	_n=$1 _w=$2
	shift 2
	P=$(free_port)
	policy "$T/$_n.conf" <<EOC
rules = ( { name = "in"; direction = "accept"; port = $P;
            cert = "$CERTS/server.crt"; key = "$CERTS/server.key"; } );
EOC
	export TLSSHIM_LOG_FILE="$T/$_n.log"
	if ! start_echo "$_n" -1 "$@" "$P"; then
		fail "$_n" "echo_server never listened$(show "$T/$_n.err")"
		return
	fi
	peer client --port "$P" --ca "$CERTS/ca.crt" --server-name localhost --send "reply-$$" \
		--finish read-eof --timeout $((20 * TS)) >"$T/$_n.cli" 2>&1
	wait_exit "$SRV" 20
	if ! grep -q '^echo ok' "$T/$_n.cli"; then
		fail "$_n" "no echo$(show "$T/$_n.cli" "$T/$_n.err" "$TLSSHIM_LOG_FILE")"
	elif [ "$_w" = clean ] && grep -q '^eof clean' "$T/$_n.cli"; then
		pass "$_n"
	elif [ "$_w" = error ] && grep -q -E '^(error |eof ragged)' "$T/$_n.cli" && ! grep -q '^eof clean' "$T/$_n.cli"; then
		pass "$_n ($(grep -E '^(error |eof ragged)' "$T/$_n.cli"))"
	else
		fail "$_n" "want $_w$(show "$T/$_n.cli" "$TLSSHIM_LOG_FILE")"
	fi
}

tls_case abortive_close_is_no_close_notify error -c -R
tls_case ordinary_close_still_close_notify clean -c

name=control_plain_abortive_close_resets
P=$(free_port)
bg "$PROGS/echo_server" -1 -c -R "$P" >"$T/$name.out" 2>"$T/$name.err"
srv=$!
if wait_for "$T/$name.out" '^listening' 10; then
	peer raw --port "$P" --send "x" --record "$T/$name.raw" --timeout $((20 * TS)) >"$T/$name.cli" 2>&1
	wait_exit "$srv" 20
	if grep -q '^reset' "$T/$name.cli"; then pass "$name"; else fail "$name" "$(show "$T/$name.cli")"; fi
else
	fail "$name" "echo_server never listened$(show "$T/$name.err")"
fi
