#!/bin/sh
# A second task that shares the program's memory (the library's tables and
# TLS sessions) but not its descriptor table: what it does to a number in
# its own table must never make the program's number, still the TLS
# connection, write in clear or encrypt twice (tests/progs/vmshare.c).
# Each case runs vmshare through a recording relay to a TLS echo server
# (failclosed_wire.py): the capture must be TLS records only, without the
# case's sentinel, and the server must have decrypted what was sent
# without error (a repeated sequence number fails record authentication).
# One server and one relay, started once, serve every case (each
# connection's records and captures in files of their own, moved to the
# case's directories once its connection has ended: fc_collect), as in
# failclosed_race.sh.  (A server and a relay per case before: two Python
# starts, about 0.2 s of CPU, 24 times per build.)
# Last, other ways a second process gets a connection in use (raw clone
# variants, clone3's flags: tests/progs/cloneshare.c), which held.
. "$TLSSHIM_TOP/tests/lib.sh"
. "$TLSSHIM_TOP/tests/preload/failclosed_common.inc"

for p in vmshare cloneshare; do
	[ -x "$PROGS/$p" ] || { fail setup "$PROGS/$p missing (make test-build)"; exit 1; }
done

# ThreadSanitizer keeps its state per thread behind the thread pointer,
# which a clone(CLONE_VM) child without CLONE_SETTLS shares with the
# thread that made it: the two running at once corrupt it ("nested bug in
# the same thread", without the library too: getpid.sh's randfork).  Its
# build runs the cases where the parent waits (CLONE_VFORK) only.
case "${TSAN_OPTIONS:-}" in *exitcode=66*) TSAN=1 ;; *) TSAN= ;; esac

if ! fc_start peer --mode echo; then
	fail "vmshare: setup" \
		"server or relay did not start $(show "$T/peer.srv.out" "$T/peer.relay.out")"
	exit 1
fi
fc_policy "$T/vm.conf"

# vmcase NAME MODE EXPECT WHAT: vmshare MODE (with PROG set, that program
# of tests/progs instead, without the sentinel) against the server; its
# output must match the grep patterns of EXPECT (one per line, each must
# be there), the wire and the server must be clean, and with DATA set
# the server must have received exactly DATA.
vmcase() {
	_n=$1 _m=$2 _e=$3 _w=$4
	if [ -n "${PROG:-}" ]; then
		set -- "$PROGS/$PROG" 127.0.0.1 "$R" "$_m"
	else
		set -- "$PROGS/vmshare" 127.0.0.1 "$R" "$_m" "$SENT"
	fi
	TLSSHIM_LOG=info TLSSHIM_LOG_FILE="$T/$_n.log" timeout -k 2 $((30 * TS)) \
		env LD_PRELOAD="$SHIM_PRELOAD" TLSSHIM_CONFIG="$T/vm.conf" \
		"$@" >"$T/$_n.out" 2>&1
	_rc=$?
	# the server ends its connection when the program's close reached it;
	# then the relay's (its last bytes recorded), before the files move
	srv_settled peer 1 $((10 * TS)) && relay_settled "$R" $((2 * TS))
	fc_collect peer "$_n"
	fc_wire "$_n" --min-conns 1
	_wrc=$?
	_bad=
	_old_ifs=$IFS
	IFS='
'
	for _l in $_e; do
		grep -q -e "$_l" "$T/$_n.out" || _bad="$_bad no '$_l';"
	done
	IFS=$_old_ifs
	[ $_rc -eq 0 ] || _bad="$_bad exit $_rc;"
	[ $_wrc -eq 0 ] || _bad="$_bad wire: $WIRE_OUT;"
	if [ -n "${DATA:-}" ] && [ "$(cat "$T/$_n.srv"/*.data 2>/dev/null)" != "$DATA" ]; then
		_bad="$_bad the server got '$(cat "$T/$_n.srv"/*.data 2>/dev/null | tr '\n' '|')';"
	fi
	if grep -q -E '^(error|handshake-error)' "$T/$_n.srv"/*.status 2>/dev/null; then
		_bad="$_bad server: $(srv_status "$_n");"
	fi
	if [ -z "$_bad" ]; then
		pass "$_n: $_w ($WIRE_OUT)"
	else
		fail "$_n" "$_w:$_bad out: $(tr '\n' '|' <"$T/$_n.out") log: $(log_tail "$T/$_n.log")"
	fi
}

# ---- a thread with a descriptor table of its own --------------------------------
# clone(CLONE_VM | CLONE_THREAD) without CLONE_FILES is what
# unshare(CLONE_FILES) in a thread gives (refused already).  The thread's
# dup2 of /dev/null onto the TLS number (or close and open) told the
# shared table "plain": on a connection in use it sent close_notify and
# the program's next write on its number, still the connection, went
# plain (SIGPIPE, the server had closed); on one not started (a
# non-blocking connect, "-fresh") the program's line reached the server
# in clear.  Refused with EINVAL (22) while the policy has TLS rules; the
# connection goes on over TLS.
for how in "" close-; do
	for f in "" -fresh; do
		n=thread_${how}nofiles${f#-}_refused
		vmcase "$n" "${how}thread$f" "^clone: refused 22
^second: $SENT" \
			"a thread without CLONE_FILES (${how:-dup2}${f:+, connection not started}) is refused with EINVAL, the connection goes on over TLS"
		grep -q 'clone(CLONE_THREAD) without CLONE_FILES: refused with EINVAL' "$T/$n.log" ||
			fail "${n}_logged" "no warn line: $(log_tail "$T/$n.log")"
	done
done

# ---- a child that shares the memory, not the descriptor table ---------------------
# clone(CLONE_VM) (waited for with waitpid) and CLONE_VM|CLONE_VFORK, the
# spawn code's clone: the child dup2()s /dev/null onto the number, or
# closes it and opens /dev/null there, in its own table, and _exits.
# A connection in use moved to a pump at the clone already (held before
# the fix too).  A connection not started yet, on a close-on-exec socket
# (a non-blocking connect, as an event loop makes it), stayed TLS in the
# table: the child's change told the shared table "plain", and the
# program's line went out in clear (the server saw it where the
# handshake should be).  Now every session on the table goes to a pump
# at such a clone: the line crosses over TLS.
for how in "" close-; do
	for m in vm vfork; do
		if [ -n "$TSAN" ] && [ "$m" = vm ]; then
			echo "SKIP ${how}vm cases: ThreadSanitizer cannot run a clone(CLONE_VM) child beside its parent"
			continue
		fi
		vmcase "${how}${m}_used" "$how$m" "^task: done
^second: $SENT" \
			"a clone(CLONE_VM$([ "$m" = vfork ] && echo "|CLONE_VFORK")) child without CLONE_FILES (${how:-dup2}) after a connection in use"
		vmcase "${how}${m}_fresh_pumped" "$how$m-fresh" "^task: done
^second: $SENT" \
			"a clone(CLONE_VM$([ "$m" = vfork ] && echo "|CLONE_VFORK")) child without CLONE_FILES (${how:-dup2}) on a connection not started (close-on-exec): it goes to a pump first"
		grep -q 'session handed to a pump process' "$T/${how}${m}_fresh_pumped.log" ||
			fail "${how}${m}_fresh_pumped_logged" "no hand-over line: $(log_tail "$T/${how}${m}_fresh_pumped.log")"
	done
done

# A connection made while such a child runs (clone(CLONE_VM) without
# CLONE_VFORK: it runs on beside its parent): the child's table lacks its
# number, and its dup2() onto the number, or an open() that gets it,
# told the shared table "plain": the program's line went out in clear.
# Every session placed while a child may share the memory goes to a pump
# at once now.
[ -n "$TSAN" ] && echo "SKIP later cases: ThreadSanitizer cannot run a clone(CLONE_VM) child beside its parent"
for how in "" close-; do
	[ -z "$TSAN" ] || break
	for f in "" -fresh; do
		n=${how}later_vm${f#-}_pumped
		vmcase "$n" "${how}later-vm$f" "^task: done
^second: $SENT" \
			"a connection$([ -n "$f" ] && echo " not started") made while a clone(CLONE_VM) child runs, which then $([ -n "$how" ] && echo "opens a file at its number" || echo "dup2()s onto its number"): it goes to a pump at once"
		grep -q 'session handed to a pump process' "$T/$n.log" ||
			fail "${n}_logged" "no hand-over line: $(log_tail "$T/$n.log")"
	done
done

# ---- other ways a second process gets a connection in use -----------------------
# A child made by vfork() (served by fork()), a raw clone through
# syscall() (also CLONE_VFORK copying the memory), clone3 with
# CLONE_PIDFD, CLONE_CLEAR_SIGHAND, CLONE_VFORK, set_tid or
# CLONE_INTO_CGROUP writes "child" on the connection before it would
# exec, then the parent goes on: the session is a pump's before the
# clone, so one process encrypts; the server decrypts "one", "child",
# "two" in order without error (a sequence number used twice would fail
# its record authentication).  These held before
# helper-181's change; c3settid and c3cgroup say when the kernel made no
# child (no CAP_SYS_ADMIN for set_tid, no cgroup2): the parent writes the
# line then.
PROG=cloneshare DATA="one
child
two"
for m in vfork sysclone vforkcopy c3pidfd c3clear c3vfork c3settid c3cgroup; do
	vmcase "child_${m}_writes_via_pump" "$m" "^second: ok" \
		"a child made by $m writes on the connection in use, then the parent: one process encrypts"
	grep -q '^child: made no child' "$T/child_${m}_writes_via_pump.out" &&
		echo "(child_${m}_writes_via_pump: the kernel made no child here: $(grep '^child:' "$T/child_${m}_writes_via_pump.out"))"
done
PROG= DATA=
fc_stop
