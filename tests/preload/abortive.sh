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
#   * ordinary_close_asks_no_linger: the ordinary close of a socket this
#     process made and never set SO_LINGER on asks the kernel nothing
#     about it (strace: no getsockopt SO_LINGER), where
#     abortive_close_asks_linger (-R, the option set here) asks;
#   * control_plain_abortive_close_resets: the same server without the
#     shim, a plain client: a reset (what the program asked for);
#   * abortive_close_listener_linger: the option set on the listening
#     socket (echo_server -L), which accept() gives the connection;
#   * abortive_close_received_scm_rights: a child accepts, sets the option
#     and passes the socket with SCM_RIGHTS (echo_server -S); the server
#     closes it, never having set SO_LINGER itself;
#   * abortive_close_inherited_exec: the option set before exec, the new
#     image closes the inherited socket (echo_server -E);
#     (the library asks the socket at close unless this process saw its
#     whole history and never set SO_LINGER: these three must not be
#     taken for such a socket)
#   * abortive_close_pumped / abortive_close_pumped_listener: -R or -L
#     with -F: the option set before a fork(), which hands the live
#     session to a pump process; the program then closes its end of the
#     pump's channel, and the pump, which holds the TCP socket, must close
#     it abortively too (it sent close_notify until 2026-12-06);
#   * ordinary_close_pumped_close_notify: -F without the option: the pump
#     still ends with close_notify;
#   * abortive_after_handover_warns: -G, the option set after the fork
#     on the program's end of the pump's channel, which the pump cannot
#     see: its close tells the pump no graceful end, so the client reads
#     no close_notify (it did until 2026-12-07), but a FIN, not a reset
#     (the documented limit); a warn line in the log says so;
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
	# TRACE=FILE: the server under strace, its getsockopt calls in FILE
	shimbg ${TRACE:+strace -f -qq -e trace=getsockopt -o "$TRACE"} "$PROGS/echo_server" -1 "$@" "$P" \
		>"$T/$_n.out" 2>"$T/$_n.err"
	SRV=$!
	if ! wait_for "$T/$_n.out" '^listening' 10; then
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
tls_case abortive_close_listener_linger error -c -L
tls_case abortive_close_received_scm_rights error -c -S
tls_case abortive_close_inherited_exec error -c -E
tls_case ordinary_close_still_close_notify clean -c
tls_case abortive_close_pumped error -c -R -F
tls_case abortive_close_pumped_listener error -c -L -F
tls_case ordinary_close_pumped_close_notify clean -c -F
tls_case abortive_after_handover_warns-session error -c -G >"$T/ah.session" 2>&1
if ! grep -q '^PASS' "$T/ah.session"; then
	fail abortive_after_handover_warns "the session$(show "$T/ah.session")"
elif grep -q 'warn: fd [0-9]*: SO_LINGER 0 set after its TLS session went to a pump process, which does not see it' \
	"$T/abortive_after_handover_warns-session.log"; then
	pass abortive_after_handover_warns
else
	fail abortive_after_handover_warns "no warn line$(show "$T/abortive_after_handover_warns-session.log")"
fi

# trace_case NAME WANT(none|some) ECHO-SERVER-FLAGS...: as tls_case, then
# counts the server's getsockopt SO_LINGER calls.
trace_case() {
	_t=$1 _tw=$2
	shift 2
	if ! command -v strace >/dev/null; then
		fail "$_t" "strace not installed (strace)"
		return
	fi
	rm -f "$T/$_t.strace"
	TRACE="$T/$_t.strace" tls_case "$_t-session" "$@" >"$T/$_t.session" 2>&1
	_k=$(grep -c 'SO_LINGER' "$T/$_t.strace" 2>/dev/null)
	if ! grep -q '^PASS' "$T/$_t.session"; then
		fail "$_t" "the session$(show "$T/$_t.session")"
	elif [ "$_tw" = none ] && [ "${_k:-0}" -eq 0 ] && [ -f "$T/$_t.strace" ]; then
		pass "$_t (no getsockopt SO_LINGER)"
	elif [ "$_tw" = some ] && [ "${_k:-0}" -ge 1 ]; then
		pass "$_t ($_k getsockopt SO_LINGER)"
	else
		fail "$_t" "want $_tw, $_k getsockopt SO_LINGER$(show "$T/$_t.strace" "$T/$_t.session")"
	fi
}
trace_case ordinary_close_asks_no_linger none clean -c
trace_case abortive_close_asks_linger some error -c -R

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
