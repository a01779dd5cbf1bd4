#!/bin/sh
# A program that writes its reply and closes with the peer's last bytes
# unread (an HTTP server that closes after its response, with a client's
# pipelined request or a late byte still unread): Linux answers that close
# with a reset.  A direct session's close sends everything the program was
# given, then close_notify (shim/tlsio.c, close_begin; libtlsshim(7),
# "close(), shutdown() and exit()").  A pumped one must give the peer the
# same: before this test's commit the pump, whose write of the peer's
# bytes to the program met the channel's reset first, stopped reading the
# program's end, and the reply still queued there never went out (a
# truncation since 2026-12-07, close_notify after a cut reply before).
#
# py/pump_unread_client.py sends "request"; the peer
# (py/pump_unread_peer.py, strict: OP_IGNORE_UNEXPECTED_EOF cleared)
# answers "late one", which the program leaves unread; the peer then
# sends "late two", the program writes a 3 kB reply and closes.
#   * pump_unread_direct: the session stays in the program: the peer
#     gets the whole reply, then close_notify ("eof clean");
#   * pump_unread_forked: a fork first (the child exits at once) hands the
#     session to a pump; the program stops the pump before "late two" is
#     sent and continues it after its close, so that the pump meets the
#     peer's bytes for the program, and the channel's reset, while the
#     reply waits on its end: the peer must get what the direct case gets;
#   * pump_unread_big: the same, but the reply fills the channel's
#     buffers (the pump is stopped), so that the program's end still holds
#     part of it, unsent, at the close.  That close resets the channel (the
#     peer's bytes are unread), and a reset throws away what the end has
#     not sent: before this case's commit the peer got only the part that
#     had reached the pump, then "eof ragged" (helper-165).  The peer must
#     get the whole reply, then "eof clean";
#   * pump_unread_big_abortive: as pump_unread_big, with SO_LINGER {1, 0}
#     set before the close: an abortive close on purpose stays one (the
#     peer must not get close_notify);
#   * pump_unread_big_direct: the same reply, without a pump (the peer
#     reads nothing of it before the close begins): the same result.
# (Plain TCP, without the library, loses that tail: the reset throws away
# the program's unsent bytes, and the peer reads ECONNRESET.  A direct
# session does not (its lingering close reads the unread records: no
# reset), and a pumped one now gives the peer what a direct one does.)
. "$(dirname "$0")/../lib.sh"
. "$TLSSHIM_TOP/tests/preload/common.inc"
need_shim

# unread_run NAME HOW: the peer and the program (exit status in _rc).
unread_run() {
	_n=$1
	P=$(free_port)
	policy "$T/$_n.conf" <<EOC
rules = ( { name = "out"; direction = "connect"; port = $P; ca = "$CERTS/ca.crt"; } );
EOC
	bg "$PY" "$PYD/pump_unread_peer.py" "$P" "$CERTS/server.crt" "$CERTS/server.key" \
		"$T/$_n.go" "$T/$_n.sent" "$T/$_n.rec" "$T/$_n.closing" >"$T/$_n.peer" 2>&1
	_peer=$!
	wait_for "$T/$_n.peer" '^ready' 10 || fail "$_n: the peer listens" "$(show "$T/$_n.peer")"
	TLSSHIM_LOG=info TLSSHIM_LOG_FILE="$T/$_n.log" shimmed "$PY" "$PYD/pump_unread_client.py" \
		"$P" "$2" "$T/$_n.go" "$T/$_n.sent" "$T/$_n.closing" >"$T/$_n.out" 2>"$T/$_n.err"
	_rc=$?
	wait_exit "$_peer" 20
	stop "$_peer"
}

# unread_case NAME HOW: the whole reply, then close_notify.
unread_case() {
	unread_run "$1" "$2"
	_want="reply: $(printf '%3000s' '' | tr ' ' r) end of the reply"
	_pumped=true
	[ "$2" = pump ] && ! grep -q 'session handed to a pump process' "$T/$_n.log" && _pumped=false
	if [ $_rc -eq 0 ] && $_pumped && [ "$(cat "$T/$_n.rec" 2>/dev/null)" = "$_want" ] &&
	   grep -q '^eof clean' "$T/$_n.peer" && ! grep -q 'cut short' "$T/$_n.log"; then
		pass "$_n: the peer got the whole reply, then close_notify (\"eof clean\")"
	else
		fail "$_n: want the whole reply, then \"eof clean\"" \
			"exit $_rc, $(wc -c <"$T/$_n.rec" 2>/dev/null) bytes recorded of $((${#_want} + 1)); $(show "$T/$_n.peer" "$T/$_n.err" "$T/$_n.log")"
	fi
}

unread_case pump_unread_direct direct
unread_case pump_unread_forked pump

# unread_big NAME HOW: every byte written, then close_notify.
unread_big() {
	unread_run "$1" "$2"
	_sent=$(cat "$T/$_n.out" 2>/dev/null)
	_got=$(wc -c <"$T/$_n.rec" 2>/dev/null)
	_pumped=true
	[ "$2" = big ] && ! grep -q 'session handed to a pump process' "$T/$_n.log" && _pumped=false
	if [ $_rc -eq 0 ] && $_pumped && [ -n "$_sent" ] && [ "$_got" = "$_sent" ] &&
	   [ "$(tr -d r <"$T/$_n.rec" | wc -c)" -eq 0 ] && grep -q '^eof clean' "$T/$_n.peer" &&
	   ! grep -q 'cut short' "$T/$_n.log"; then
		pass "$_n: the peer got all $_sent bytes of the reply, then close_notify (\"eof clean\")"
	else
		fail "$_n: want the whole reply, then \"eof clean\"" \
			"exit $_rc, $_got bytes recorded of ${_sent:-?}; $(show "$T/$_n.peer" "$T/$_n.err" "$T/$_n.log")"
	fi
}

unread_big pump_unread_big big
unread_big pump_unread_big_direct bigdirect

unread_run pump_unread_big_abortive bigabort
if [ $_rc -eq 0 ] && grep -q '^eof ragged' "$T/$_n.peer" && grep -q 'cut short' "$T/$_n.log"; then
	pass "$_n: an abortive close with the reply unsent: no close_notify (\"eof ragged\")"
else
	fail "$_n: want \"eof ragged\" and the log's \"cut short\"" \
		"exit $_rc; $(show "$T/$_n.peer" "$T/$_n.err" "$T/$_n.log")"
fi
