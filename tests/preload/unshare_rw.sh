#!/bin/sh
# A thread of a threaded program with a TLS connection open asks for a
# descriptor table of its own (unshare(CLONE_FILES), through syscall()
# too, close_range(CLOSE_RANGE_UNSHARE)), then closes "its copy" of the
# connection's number and opens /dev/null there; the main thread then
# writes the case's sentinel line on its number
# (tests/progs/unshare_rw.c).  clonefiles: a child made by
# clone(CLONE_FILES) without CLONE_VM (the table shared, the memory not)
# in place of the thread.  The library's table of what each number
# is belongs to the process: had the thread got a table of its own, its
# close would have told that table "plain" while the main thread's
# number was still the connection, and the line would have gone out in
# clear.  The request is refused with EINVAL while the policy has TLS
# rules (failclosed_tables.sh checks each answer alone), so the close is
# the program's: the connection ends with close_notify and the line
# goes to /dev/null.  Each case runs through a recording relay to a TLS
# echo server (failclosed_wire.py): the capture must be TLS records
# only, without the sentinel, and the server must have seen a clean end
# (close_notify) after "one" (nothing, for a connection not started,
# which ends before its handshake).
# Pins: these held before.  With the refusal taken out
# (shim_refuse_unshare_files answering false), the cases not started
# sent the line in clear and the others died of SIGPIPE (the thread's
# close had sent close_notify, the main thread's write went on the
# socket as plain).
. "$TLSSHIM_TOP/tests/lib.sh"
. "$TLSSHIM_TOP/tests/preload/failclosed_common.inc"

[ -x "$PROGS/unshare_rw" ] ||
	{ fail setup "$PROGS/unshare_rw missing (make test-build)"; exit 1; }
if ! fc_start peer --mode echo; then
	fail "unshare_rw: setup" \
		"server or relay did not start $(show "$T/peer.srv.out" "$T/peer.relay.out")"
	exit 1
fi
fc_policy "$T/un.conf"

# uncase MODE WHAT
uncase() {
	_n=un_$(echo "$1" | tr -d -)
	fc_run "$_n" "$T/un.conf" "$PROGS/unshare_rw" 127.0.0.1 "$R" "$1" "$SENT"
	for _l in '^unshare: refused 22$' '^reopened: same number$' '^main: wrote$'; do
		grep -q -e "$_l" "$T/$_n.out" || FC_BAD="$FC_BAD no '$_l';"
	done
	_got=$(srv_data "$_n" | tr '\n' ' ')
	case $1 in
	*-fresh) _want= ;;
	*) _want="one "
	   grep -q '^eof clean' "$T/$_n.srv"/*.status 2>/dev/null ||
		FC_BAD="$FC_BAD no close_notify: $(srv_status "$_n");" ;;
	esac
	[ "$_got" = "$_want" ] || FC_BAD="$FC_BAD the server got '$_got', not '$_want';"
	# (a connection not started ends before its handshake: the server's
	# handshake-error is its end)
	if grep -q -E '^error' "$T/$_n.srv"/*.status 2>/dev/null ||
		{ [ -n "$_want" ] &&
			grep -q '^handshake-error' "$T/$_n.srv"/*.status 2>/dev/null; }; then
		FC_BAD="$FC_BAD server: $(srv_status "$_n");"
	fi
	fc_verdict "$_n" "$2"
}

for m in unshare sysunshare closerange clonefiles; do
	for f in "" -fresh; do
		uncase "$m$f" "a thread's $m is refused, its close is the program's,$(
			) the main thread's line$([ -n "$f" ] && echo " (connection not started)")$(
			) goes to /dev/null"
	done
done
fc_stop
