#!/bin/sh
# wordexp() runs a command substitution in /bin/sh, which the C library
# spawns itself: no exec or spawn wrapper of the library sees it, and the
# shell inherits every descriptor without FD_CLOEXEC
# (tests/progs/wordexp_client.c).  The substitution writes the case's
# sentinel line on the program's TLS connection (in use, inheritable),
# then the program exchanges "two".  Each case runs through a recording
# relay to a TLS echo server (failclosed_wire.py): the capture must be
# TLS records only, without the sentinel, and the server must have
# decrypted everything without error.
#  - clean: the program took LD_PRELOAD out of its environment, so the
#    shell runs without the library.  It inherited the TCP socket as it
#    was, and its line went out in clear (the server then failed the
#    connection: "wrong version number").  Now wordexp() hands the live
#    sessions over as system() does (a pump first): the line crosses
#    over TLS.
#  - shim: the shell runs the library, which refused the socket that had
#    carried bytes outside it (ECONNRESET: "rc=2", nothing sent).  Now
#    it inherits the pump's end and its line crosses over TLS.
#  - plain: words with no command substitution start no shell: nothing
#    is handed over (no pump is logged).
. "$TLSSHIM_TOP/tests/lib.sh"
. "$TLSSHIM_TOP/tests/preload/failclosed_common.inc"

[ -x "$PROGS/wordexp_client" ] ||
	{ fail setup "$PROGS/wordexp_client missing (make test-build)"; exit 1; }
if ! fc_start peer --mode echo; then
	fail "wordexp: setup" \
		"server or relay did not start $(show "$T/peer.srv.out" "$T/peer.relay.out")"
	exit 1
fi
fc_policy "$T/we.conf"

# wecase MODE WHAT DATA
wecase() {
	_n=wordexp_$1 _want=$3
	FC_WIRE_ARGS="--min-conns 1" fc_run "$_n" "$T/we.conf" \
		"$PROGS/wordexp_client" 127.0.0.1 "$R" "$SENT" "$1"
	grep -q '^second: ok' "$T/$_n.out" || FC_BAD="$FC_BAD no 'second: ok';"
	if [ "$1" = plain ]; then
		grep -q '^wordexp: 0 /' "$T/$_n.out" || FC_BAD="$FC_BAD wordexp did not expand \$HOME;"
		grep -q 'handed to a pump' "$T/$_n.log" && FC_BAD="$FC_BAD a session went to a pump;"
	else
		grep -q '^wordexp: 0 rc=0$' "$T/$_n.out" || FC_BAD="$FC_BAD the shell's write failed;"
	fi
	_got=$(srv_data "$_n" | tr '\n' ' ')
	[ "$_got" = "$_want" ] || FC_BAD="$FC_BAD the server got '$_got', not '$_want';"
	if grep -q -E '^(error|handshake-error)' "$T/$_n.srv"/*.status 2>/dev/null; then
		FC_BAD="$FC_BAD server: $(srv_status "$_n");"
	fi
	fc_verdict "$_n" "$2"
}

W="writes on a live TLS connection: over TLS, through a pump"
wecase clean "a shell wordexp() spawns without the library $W" "one $SENT two "
wecase shim "a shell wordexp() spawns with the library $W" "one $SENT two "
wecase plain "wordexp() of words without a command substitution hands nothing over" "one two "
fc_stop
