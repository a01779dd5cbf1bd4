# tests/lib.sh — sourced by every test script.  POSIX sh.
#
# Environment (set by tests/run.sh): TLSSHIM_TOP, TLSSHIM_BUILD,
# TLSSHIM_LIB, SHIM_PRELOAD (what LD_PRELOAD must hold for the shim),
# TLSSHIM_LAUNCHER, TLSSHIM_PROGS (our plain test programs),
# TLSSHIM_TEST_CERTS (ca.crt, server.crt/.key, client.crt/.key, ...),
# TLSSHIM_AUDIT_DIR (where the wire audit's lists go; unset when a script
# runs by hand).
# Run one script by hand:  make test-build && sh tests/run.sh --only NAME
#
# Each script runs in network, PID and mount namespaces of its own
# (tests/run.sh): ports it picks cannot collide with anyone else's, and
# every process it leaves running when it ends is a failure.  While it
# runs, its loopback traffic is recorded, and afterwards every TCP
# connection that one of its policies marks TLS must carry TLS records
# only (the wire audit, tests/tools/wireaudit.c).
#
# Helpers (here and in tests/preload/common.inc):
#   pass NAME / fail NAME REASON / check NAME CMD...   report one case
#   free_port                  a free TCP port, never the same twice in a test
#   wait_port PORT [HOST]      until something listens (at most 10 s; connects)
#   wait_listen PORT [SECS]    until something listens, without connecting
#   wait_for FILE REGEX [SECS] until a line of FILE matches (default 10 s)
#   wait_exit PID [SECS]       wait for a background child, bounded (124: killed)
#   wait_children PID [SECS]   until PID has no child processes (a forking
#                              server's connections are all done)
#   alive PID / stop PID / forget PID   (see below)
#   bg CMD...                  start in the background; stopped at the end
#   policy FILE <<EOF          write a policy file, set POLICY, and record it
#                              for the wire audit (its TLS ports are audited)
#   audit_policy FILE          record a policy written another way
#   audit_exclude PORT REASON  deliberate plaintext to a TLS port: the audit
#                              leaves connections to PORT out (say why)
#   audit_exclude_during PORT REASON CMD...   only the connections to PORT
#                              made while CMD runs
#   shim CMD...                run under the shim with $POLICY
#   has_no FILE STRING         FILE does not contain STRING
#   tail_of FILE...            the last lines of files, for a failure reason
#   go_build OUT SRC [FLAGS]   build tests/progs/SRC (Go) into OUT; a
#                              reason on stdout when it cannot
# At its end a script stops everything it started (its whole process
# tree), also when it fails or is killed at its time limit.
# TS (TLSSHIM_TIME_SCALE, default 3) multiplies every bound: write
# "timeout $((20 * TS)) cmd"; the wait helpers apply it themselves.

: "${TLSSHIM_TOP:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${TLSSHIM_BUILD:=$TLSSHIM_TOP/build}"
: "${TLSSHIM_LIB:=$TLSSHIM_BUILD/libtlsshim.so}"
: "${SHIM_PRELOAD:=$TLSSHIM_LIB}"
: "${TLSSHIM_LAUNCHER:=$TLSSHIM_BUILD/tlsshim}"
: "${TLSSHIM_PROGS:=$TLSSHIM_BUILD/progs}"
# (run.sh makes them once for the suite; a script run by hand makes its
# own, removed at its end)
_own_certs=""
if [ -z "${TLSSHIM_TEST_CERTS:-}" ]; then
	TLSSHIM_TEST_CERTS=$(mktemp -d /tmp/tlsshim-certs.XXXXXX)
	_own_certs=$TLSSHIM_TEST_CERTS
	sh "$TLSSHIM_TOP/certs/mkcerts.sh" "$TLSSHIM_TEST_CERTS" >/dev/null 2>&1
fi
CERTS=$TLSSHIM_TEST_CERTS
PROGS=$TLSSHIM_PROGS
# Every bound (a wait's longest time, a client's time limit) is multiplied
# by TS, so that a busy machine does not turn a slow pass into a failure;
# bounds are never what a pass depends on.  The Python peers
# (tests/interop/tlspeer.py, tests/attack/tls_peer.py) scale their
# --timeout with it too.  Scenario times (a silent client's hold, a
# handshake_timeout_ms under test) are not scaled.
: "${TLSSHIM_TIME_SCALE:=3}"
export TLSSHIM_TIME_SCALE
TS=$TLSSHIM_TIME_SCALE
# asan_build: true when the build under test is AddressSanitizer's
# (tests/run.sh then sets ASAN_OPTIONS with exitcode=86).  That run is
# there for memory errors on the library's paths; a test may run fewer
# rounds of the same race or load on it when the other builds keep the
# full count, and says so where it does.
asan_build() { case "${ASAN_OPTIONS:-}" in *exitcode=86*) return 0 ;; esac; return 1; }
# The Python programs of the script's directory (tests/*/py/).
case "$0" in */*) PYD=${0%/*} ;; *) PYD=. ;; esac
PYD=$(cd "$PYD" && pwd)/py
# tests/py/strict_tls.py: the strict-EOF TLS contexts every Python peer
# imports (tests/py/ on PYTHONPATH; a peer run by hand needs it too).
PYTHONPATH="$TLSSHIM_TOP/tests/py${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONPATH
# The system's Python starts in 30 ms; a version manager's shim can take 1 s.
if [ -z "${PY:-}" ]; then
	if [ -x /usr/bin/python3 ]; then PY=/usr/bin/python3; else PY=python3; fi
fi

# (the runner gives each test a directory of its own, TLSSHIM_TEST_TMP,
# and fails the test if anything is left in it)
T=$(mktemp -d "${TLSSHIM_TEST_TMP:-/tmp}/tlsshim-t.XXXXXX")
_bg_pids=""
_at_exit=""

# _pstate PID: $_ps is the process's state letter (R, S, T, Z...) from
# /proc/PID/stat; fails if there is no such process.  Shell built-ins
# only: the waits below call it ten times a second, and a fork per call
# was a visible share of make check's CPU.  (The name in stat may hold
# ") ", hence the longest match.)
_pstate() {
	_ps=
	{ read -r _ps <"/proc/$1/stat"; } 2>/dev/null || return 1
	_ps=${_ps##*) }
	_ps=${_ps%% *}
	[ -n "$_ps" ]
}

# alive PID: the process exists and is not a zombie.
alive() {
	_pstate "$1" || return 1
	[ "$_ps" != Z ] && [ "$_ps" != X ]
}

# _tree PID...: $_tree is the pids that exist of PID... and all their
# descendants (from /proc), in /proc's order.  Shell built-ins and no
# subshell: the test's PID namespace has few processes, and a cat, sed,
# awk (and the callers' grep and sort) per call were five processes at
# every test's end and at every look of wait_comm and wait_children.
_tree() {
	_tr_all=""
	for _tr_d in /proc/[0-9]*; do
		_tr_s=
		{ read -r _tr_s <"$_tr_d/stat"; } 2>/dev/null || continue
		_tr_s=${_tr_s##*) }   # "STATE PPID ..." (the name may hold ") ")
		_tr_s=${_tr_s#* }
		_tr_all="$_tr_all ${_tr_d#/proc/}:${_tr_s%% *}"
	done
	# the roots, then every process whose parent is in the set, until
	# no more join
	_tr_set=" $* "
	_tr_more=1
	while [ -n "$_tr_more" ]; do
		_tr_more=""
		for _tr_e in $_tr_all; do
			case "$_tr_set" in *" ${_tr_e%%:*} "*) continue ;; esac
			case "$_tr_set" in *" ${_tr_e#*:} "*) _tr_set="$_tr_set${_tr_e%%:*} "; _tr_more=1 ;; esac
		done
	done
	_tree=""
	for _tr_e in $_tr_all; do
		case "$_tr_set" in *" ${_tr_e%%:*} "*) _tree="$_tree ${_tr_e%%:*}" ;; esac
	done
}

# _stop_all PID...: TERM the processes, at most 3 s for them to end, then KILL.
# (tests/progs/waitexit: one process for the wait, not a sleep every
# 100 ms; the loop for a build without it)
_stop_all() {
	[ -n "$*" ] || return 0
	kill "$@" 2>/dev/null
	_term_wait "$@" && return 0
	# shellcheck disable=SC2086
	kill -9 $_sa_live 2>/dev/null
	return 0
}

# _term_wait PID...: 0 when the processes have ended within 3 s of a
# TERM already sent; 1 otherwise, with those still alive in $_sa_live.
_term_wait() {
	_sa_n=0
	if [ -x "$PROGS/waitexit" ] && [ $# -le 1024 ]; then
		"$PROGS/waitexit" "$@" 3000 && return 0
		_sa_n=29        # (its 3 s are over: one look, then KILL)
	fi
	while [ $_sa_n -lt 30 ]; do
		_sa_live=""
		for _sa_p in "$@"; do alive "$_sa_p" && _sa_live="$_sa_live $_sa_p"; done
		[ -z "$_sa_live" ] && return 0
		sleep 0.1
		_sa_n=$((_sa_n + 1))
	done
	return 1
}

# _freeze PID...: the processes and all their descendants but this
# shell, stopped (SIGSTOP, until no new process appears: a stopped
# process cannot fork, and a child whose parent died would leave the
# tree), in $_st_all.
_freeze() {
	_st_all=""
	_st_n=0
	while [ $_st_n -lt 20 ]; do
		_st_now=""
		_tree "$@"
		for _st_p in $_tree; do
			[ "$_st_p" != "$$" ] && _st_now="$_st_now $_st_p"
		done
		[ "$_st_now" = "$_st_all" ] && break
		_st_all=$_st_now
		[ -n "$_st_all" ] || break
		# shellcheck disable=SC2086
		kill -STOP $_st_all 2>/dev/null
		# kill() only queues the signal: wait until they have stopped
		_st_w=0
		while [ $_st_w -lt 20 ]; do
			_st_run=""
			for _st_p in $_st_all; do
				_pstate "$_st_p"
				case "$_ps" in ''|T|t|Z|X) ;; *) _st_run=1; break ;; esac
			done
			[ -z "$_st_run" ] && break
			sleep 0.05
			_st_w=$((_st_w + 1))
		done
		_st_n=$((_st_n + 1))
	done
}

# _stop_tree PID...: stop the processes and all their descendants.  The
# tree is frozen first (_freeze), then TERM (and CONT), and what is left
# after 3 s is frozen again and KILLed, with every process it started
# since: a process that outlived the TERM (a handler of its own; or, seen
# on a loaded machine, the shell's "&" child in infra/runner.sh's tree,
# most likely a TERM that met it before it had reset lib.sh's TERM trap)
# ran on after the CONT, and the children it made then, not frozen the
# first time, were left running when a KILL of it alone made them
# orphans.
_stop_tree() {
	_freeze "$@"
	[ -n "$_st_all" ] || return 0
	# shellcheck disable=SC2086
	kill -TERM $_st_all 2>/dev/null
	# shellcheck disable=SC2086
	kill -CONT $_st_all 2>/dev/null
	# shellcheck disable=SC2086
	_term_wait $_st_all && return 0
	_freeze "$@"
	# shellcheck disable=SC2086
	[ -n "$_st_all" ] && kill -9 $_st_all 2>/dev/null
	return 0
}

# at_exit FUNCTION: run FUNCTION at the end, before the processes are
# stopped and $T removed (latest first).  One EXIT trap for everyone: a
# second "trap ... EXIT" would replace this one, and dash cannot read the
# current trap back ($(trap) is a subshell's, empty), which is how $T and
# the process-tree stop of 16 scripts were lost.
at_exit() { _at_exit="$1 $_at_exit"; }

# At the end, also on failure or at the time limit: run the at_exit
# functions, stop every process this script started (its process tree)
# and remove $T.
_cleanup() {
	for _ae_f in $_at_exit; do "$_ae_f"; done
	# shellcheck disable=SC2086
	_stop_tree $$ $_bg_pids
	rm -rf "$T" ${_own_certs:+"$_own_certs"}
}
trap _cleanup EXIT
trap 'exit 1' INT TERM

pass() { echo "PASS $1"; }
fail() { echo "FAIL $1: $2"; }
# check NAME COMMAND...: PASS if the command succeeds, else FAIL.
check() { _n=$1; shift; if "$@"; then pass "$_n"; else fail "$_n" "command failed: $*"; fi; }

# A TCP port that is free now on 127.0.0.1 (and ::1), never one this
# script was given before (the wire audit tells connections apart by port).
# Shell built-ins only (a Python per port was 2% of make check's CPU): the
# next of a run of ports below the kernel's ephemeral range (32768-60999,
# where no client's source port can land), from a start that differs
# between scripts, skipping every port that any TCP socket of this network
# namespace uses in any state (/proc/net/tcp and tcp6: listening,
# connected, TIME_WAIT).  Each script has a namespace of its own
# (tests/run.sh), so the check is about the script's own sockets, and
# about the host's when it runs without one.
free_port() {
	_fp_list=${TLSSHIM_AUDIT_DIR:-$T}/ports
	_fp_k=0
	if [ -r "$_fp_list" ]; then
		while read -r _fp_x; do _fp_k=$((_fp_k + 1)); done <"$_fp_list"
	fi
	_fp_n=0
	while [ $_fp_n -lt 500 ]; do
		_fp=$((20000 + ($$ * 7 + _fp_k + _fp_n) % 12000))
		_fp_n=$((_fp_n + 1))
		_fp_used=0
		for _fp_t in /proc/net/tcp /proc/net/tcp6; do
			[ -r "$_fp_t" ] || continue
			# (the port read as hexadecimal by the shell's arithmetic:
			# a printf in a subshell per candidate before)
			while read -r _fp_sl _fp_la _fp_rest; do
				case "$_fp_sl" in sl) continue ;; esac
				[ "$((0x${_fp_la##*:}))" = "$_fp" ] && { _fp_used=1; break; }
			done <"$_fp_t"
			[ $_fp_used = 1 ] && break
		done
		[ $_fp_used = 1 ] && continue
		if [ -r "$_fp_list" ]; then
			while read -r _fp_x; do
				[ "$_fp_x" = "$_fp" ] && { _fp_used=1; break; }
			done <"$_fp_list"
		fi
		[ $_fp_used = 1 ] && continue
		# Claimed with O_EXCL (noclobber): two subshells of one script
		# that reach the same candidate at the same moment, before
		# either has appended it to the list or bound it, got the same
		# port (scm_connect.sh's stuck cases, run at once: "Address
		# already in use").
		# (true, not ":": a redirection that fails on a special built-in
		# ends a non-interactive shell, here the caller's $(...))
		set -C
		if ! true 2>/dev/null >"$_fp_list.$_fp"; then
			set +C
			continue
		fi
		set +C
		echo "$_fp" >>"$_fp_list"
		echo "$_fp"
		return 0
	done
	return 1
}

# wait_port PORT [HOST] — wait up to 10 s (times TS) until something listens.
wait_port() {
	_h=${2:-127.0.0.1}
	"${PY:-python3}" - "$_h" "$1" "$TS" <<'PY'
import socket, sys, time
h, p = sys.argv[1], int(sys.argv[2])
end = time.time() + 10 * int(sys.argv[3])
while time.time() < end:
    try:
        socket.create_connection((h, p), timeout=1).close(); sys.exit(0)
    except OSError:
        time.sleep(0.05)
sys.exit(1)
PY
}

# copies FILE N: FILE N times over on standard output (a text file that
# ends with one newline: byte for byte), with one process: a cat per copy
# cost 2,000 processes, 7 s of CPU on a loaded 2-core machine, for a CA
# bundle of 2,000 certificates.
copies() {
	_cf_s=$(cat "$1") || return 1
	_cf_n=0
	while [ "$_cf_n" -lt "$2" ]; do
		printf '%s\n' "$_cf_s"
		_cf_n=$((_cf_n + 1))
	done
}

# bg CMD...: start in the background, killed when the script ends.
# The pid is in $!.
bg() { "$@" & _bg_pids="$_bg_pids $!"; }

# shim CMD...: run a command under the shim with policy $POLICY.
# SHIM_WRAP (make check-valgrind: valgrind and its options, set by
# tests/run.sh) goes before CMD here, in shimmed and in shimbg.
shim() { env LD_PRELOAD="$SHIM_PRELOAD" TLSSHIM_CONFIG="$POLICY" ${SHIM_WRAP:-} "$@"; }

# policy FILE <<EOF ... EOF: write a policy file; sets POLICY; recorded
# for the wire audit.
# A policy that sets no handshake_timeout_ms and has no defaults group gets
# defaults = { handshake_timeout_ms = 10000 * TS; }: the built-in 10 s is
# a product default, not a bound of the test, and a daemon under
# AddressSanitizer on a loaded machine can take longer for a handshake.
# Tests of the timeout itself set the key.
# Two processes (the cat and audit_policy's date): two greps, a mktemp, a
# cp and two subshells more were 37 ms of CPU a call here, and a script
# writes tens of policies (tests/infra/auditrec.sh counts them).
policy() {
	POLICY=$1
	cat >"$POLICY"
	_pol_rules="" _pol_set=""
	_audit_read "$POLICY" || _ar_big=1
	case "$_ar_text" in *rules*) _pol_rules=1 ;; esac
	case "$_ar_text" in *handshake_timeout_ms*|*defaults*) _pol_set=1 ;; esac
	if [ -n "$_ar_big" ]; then   # (a policy of more than 64 KiB: grep reads it)
		grep -q 'rules' "$POLICY" && _pol_rules=1
		grep -q 'handshake_timeout_ms\|defaults' "$POLICY" && _pol_set=1
	fi
	if [ -n "$_pol_rules" ] && [ -z "$_pol_set" ]; then
		_pol_d="defaults = { handshake_timeout_ms = $((10000 * TS)); };"
		printf '%s\n' "$_pol_d" >>"$POLICY"
		[ -n "$_ar_big" ] || _ar_text="$_ar_text$_pol_d
"
	fi
	_audit_record "$POLICY"
}

# _audit_read FILE: $_ar_text is FILE's text, byte for byte (shell
# built-ins: dash's read takes a system call per byte, so a file over
# 64 KiB is left to cp: $_ar_big is then set and $_ar_text partial).
_audit_read() {
	_ar_text="" _ar_big="" _ar_l=""
	[ -f "$1" ] && [ -r "$1" ] || return 1
	while IFS= read -r _ar_l; do
		_ar_text="$_ar_text$_ar_l
"
		[ ${#_ar_text} -le 65536 ] || { _ar_big=1; return 0; }
	done <"$1"
	_ar_text="$_ar_text$_ar_l"   # (a last line without its newline)
}

# audit_policy FILE: record a policy (as it is now) for the wire audit:
# from now on, connections to the ports of its TLS rules must carry TLS
# records only.  policy() does this; call it for a policy written another
# way that a shimmed program will use.
# Safe from concurrent subshells of one script (faults_timeout.sh): each
# copy gets a file of its own (created with O_EXCL by the shell's
# noclobber; numbering by the list's length gave two of them the same
# name, and one policy's ports went unaudited), and the list gets one
# line per policy in one append (date writes it whole).
audit_policy() {
	[ -n "${TLSSHIM_AUDIT_DIR:-}" ] && [ -d "$TLSSHIM_AUDIT_DIR" ] || return 0
	_audit_read "$1" || _ar_big=1   # (cp then says what is wrong with it)
	_audit_record "$1"
}

# _audit_record FILE: the copy of FILE ($_ar_text, or cp when $_ar_big)
# and its line in the list.
_audit_record() {
	[ -n "${TLSSHIM_AUDIT_DIR:-}" ] && [ -d "$TLSSHIM_AUDIT_DIR" ] || return 0
	# a file of its own: noclobber's open fails if the name is taken,
	# whoever took it (true, not the special built-in ":", whose failed
	# redirection would end the shell); no subshell
	case $- in *C*) _ar_c=1 ;; *) _ar_c=""; set -C ;; esac
	_ar_n=0
	while :; do
		_ar_n=$((_ar_n + 1)) _ar_next=$((${_ar_next:-0} + 1))
		_ar_f=$TLSSHIM_AUDIT_DIR/policy.$$.$_ar_next
		{ true >"$_ar_f"; } 2>/dev/null && break
		if [ $_ar_n -ge 10000 ] || [ ! -d "$TLSSHIM_AUDIT_DIR" ]; then
			[ -n "$_ar_c" ] || set +C
			echo "FAIL wire audit: cannot record the policy $1 for the audit"
			return 0
		fi
	done
	[ -n "$_ar_c" ] || set +C
	if [ -n "$_ar_big" ]; then
		cp -- "$1" "$_ar_f"
	else
		printf '%s' "$_ar_text" >|"$_ar_f"
	fi || { echo "FAIL wire audit: cannot record the policy $1 for the audit"; return 0; }
	case "$_ar_f" in
	*%*) echo "$(date +%s.%N) $_ar_f" >>"$TLSSHIM_AUDIT_DIR/policies" ;;
	*) date "+%s.%N $_ar_f" >>"$TLSSHIM_AUDIT_DIR/policies" ;;
	esac
}

# audit_exclude PORT REASON: this script deliberately sends plaintext to
# PORT although a policy marks it TLS (an attacker, a plaintext peer that
# must be refused): the wire audit leaves connections to PORT out.  Keep
# these few and say why; the audit's PASS line lists them.
audit_exclude() {
	[ -n "${TLSSHIM_AUDIT_DIR:-}" ] && [ -d "$TLSSHIM_AUDIT_DIR" ] || return 0
	echo "$1 $2" >>"$TLSSHIM_AUDIT_DIR/excludes"
}

# audit_exclude_during PORT REASON CMD...: run CMD (its exit status is
# returned); the wire audit leaves out the connections to PORT that start
# while it runs, and only those (one deliberate plaintext client on a port
# that carries TLS before and after).
audit_exclude_during() {
	_ed_port=$1 _ed_why=$2
	shift 2
	_ed_from=$(date +%s.%N)
	"$@"
	_ed_rc=$?
	if [ -n "${TLSSHIM_AUDIT_DIR:-}" ] && [ -d "$TLSSHIM_AUDIT_DIR" ]; then
		echo "$_ed_port@$_ed_from,$(date +%s.%N) $_ed_why" >>"$TLSSHIM_AUDIT_DIR/excludes"
	fi
	return $_ed_rc
}

# procs_made CMD...: run CMD in this shell and return its status; $made is
# the number of processes created meanwhile in this PID namespace (its last
# pid, /proc/loadavg: the runner gives each test a namespace of its own),
# for the checks that a helper forks no process per look or per call.
procs_made() {
	read -r _pm_1 _pm_5 _pm_15 _pm_r _pm_last0 </proc/loadavg
	"$@"
	_pm_rc=$?
	read -r _pm_1 _pm_5 _pm_15 _pm_r _pm_last1 </proc/loadavg
	made=$((_pm_last1 - _pm_last0))
	return $_pm_rc
}

# has_no FILE STRING: the file does not contain the string (plaintext check).
has_no() { ! grep -q -F -- "$2" "$1"; }

# listening PORT: a TCP socket of this network namespace listens on PORT
# (any address, IPv4 or IPv6): what "ss -Hltn 'sport = :PORT'" lists, read
# from /proc/net/tcp and tcp6 with shell built-ins (state 0A).  The kernel
# lists the listening sockets first (its listening hash, then the
# established one), so the first line in another state ends the file's
# listeners: dash's read takes a system call per byte, and a test with
# hundreds of connections would otherwise read them all at every look.
# The waits poll this ten times a second: ss cost 11-12 ms of CPU a call
# here (fork, exec, netlink), this about 1 ms.
listening() {
	for _li_t in /proc/net/tcp /proc/net/tcp6; do
		[ -r "$_li_t" ] || continue
		while read -r _li_sl _li_la _li_ra _li_st _li_rest; do
			case "$_li_st" in st) continue ;; 0A) ;; *) break ;; esac
			[ "$((0x${_li_la##*:}))" = "$1" ] && return 0
		done <"$_li_t"
	done
	return 1
}

# wait_listen PORT [SECONDS]: until something listens on PORT (127.0.0.1,
# ::1 or any address; default 10 s), without connecting to it (a probe
# would be a failed handshake on a TLS port).  One tests/progs/waitlisten
# (a look every 20 ms, no fork per look); the loop for a build without it.
wait_listen() {
	if [ -x "$PROGS/waitlisten" ]; then
		"$PROGS/waitlisten" "$1" $(( ${2:-10} * 1000 * TS ))
		return
	fi
	_wl_n=$(( ${2:-10} * 10 * TS ))
	while [ "$_wl_n" -gt 0 ]; do
		listening "$1" && return 0
		sleep 0.1; _wl_n=$((_wl_n - 1))
	done
	return 1
}

# wait_for FILE REGEX [SECONDS]: until a line of FILE matches (default 10 s).
# One tests/progs/waitlines (inotify, the file read again only when it
# changed) instead of a grep and a sleep ten times a second: those forks
# were a fifth of the suite's test CPU.  (The loop: a build from before it.)
wait_for() {
	if [ -x "$PROGS/waitlines" ]; then
		"$PROGS/waitlines" "$1" "$2" 1 $(( ${3:-10} * 1000 * TS )) && return 0
		return 1
	fi
	_wf_n=$(( ${3:-10} * 10 * TS ))
	while [ "$_wf_n" -gt 0 ]; do
		grep -q -E -e "$2" "$1" 2>/dev/null && return 0
		sleep 0.1
		_wf_n=$((_wf_n - 1))
	done
	return 1
}

# wait_comm PID NAME [SECONDS]: until PID or one of its descendants runs
# a program called NAME (/proc/PID/comm; default 10 s): a program has
# exec'ed.
wait_comm() {
	_wm_n=$(( ${3:-10} * 10 * TS ))
	while [ "$_wm_n" -gt 0 ]; do
		_tree "$1"
		for _wm_p in $_tree; do
			_wm_c=
			{ read -r _wm_c <"/proc/$_wm_p/comm"; } 2>/dev/null
			[ "$_wm_c" = "$2" ] && return 0
		done
		sleep 0.1; _wm_n=$((_wm_n - 1))
	done
	return 1
}

# forget PID: a reaped child leaves the cleanup list, so that the cleanup
# never signals a pid the system has given to another process.
# (built-ins: a subshell and a sed per call before)
forget() {
	_fg_new=""
	for _fg_p in $_bg_pids; do [ "$_fg_p" = "$1" ] || _fg_new="$_fg_new $_fg_p"; done
	_bg_pids=$_fg_new
}

# wait_exit PID [SECONDS]: wait for a background child to end (default
# 10 s) and return its exit status; 124 (and the child killed) on time out.
wait_exit() {
	if [ -x "$PROGS/waitexit" ]; then   # (a pidfd: no sleep forked per look)
		"$PROGS/waitexit" "$1" $(( ${2:-10} * 1000 * TS ))
	else
		_we_n=$(( ${2:-10} * 10 * TS ))
		while alive "$1" && [ "$_we_n" -gt 0 ]; do sleep 0.1; _we_n=$((_we_n - 1)); done
	fi
	if alive "$1"; then
		_stop_all "$1"
		wait "$1" 2>/dev/null
		forget "$1"
		return 124
	fi
	wait "$1"
	_we_rc=$?
	forget "$1"
	return $_we_rc
}

# stop PID: end a background child (if still running: TERM, KILL after
# 3 s) and reap it.
stop() {
	_stop_all "$1"
	wait "$1" 2>/dev/null
	forget "$1"
	return 0
}

# wait_children PID [SECONDS]: until PID has no child processes left
# (a forking server's per-connection children have ended; default 10 s).
wait_children() {
	_wc_n=$(( ${2:-10} * 10 * TS ))
	while [ "$_wc_n" -gt 0 ]; do
		_tree "$1"
		case "$_tree" in ""|" $1") return 0 ;; esac
		sleep 0.1; _wc_n=$((_wc_n - 1))
	done
	return 1
}

# tail_of FILE...: the files' last lines, on one line, for a failure reason.
tail_of() {
	for _to_f in "$@"; do
		[ -f "$_to_f" ] && printf ' [%s: %s]' "$(basename "$_to_f")" "$(tail -n 5 "$_to_f" | tr '\n' '|' | cut -c1-600)"
	done
	return 0
}

# nginx_conf DIR MASTER(on|off) [FORMAT_NAME 'FORMAT'] <<EOF ... EOF:
# write DIR/nginx.conf for Debian's nginx run by a test, with its pid,
# logs and temporary files all under DIR (made here; as root the worker
# runs as root, to read the test's 0700 directory).  Standard input is the
# body of the "http" block (servers, settings), after its access log (in
# log_format FORMAT_NAME when given) and temp paths.
nginx_conf() {
	mkdir -p "$1/tmp" "$1/logs"
	_nc_user=""
	[ "$(id -u)" = 0 ] && _nc_user="user root;"
	_nc_fmt="" _nc_log=""
	if [ $# -ge 4 ]; then _nc_fmt="  log_format $3 '$4';"; _nc_log=" $3"; fi
	{
		cat <<EOC
daemon off;
master_process $2;
worker_processes 1;
$_nc_user
pid $1/nginx.pid;
error_log $1/logs/error.log info;
events { worker_connections 1024; }
http {
$_nc_fmt
  access_log $1/logs/access.log$_nc_log;
  client_body_temp_path $1/tmp/body;
  proxy_temp_path $1/tmp/proxy;
  fastcgi_temp_path $1/tmp/fastcgi;
  uwsgi_temp_path $1/tmp/uwsgi;
  scgi_temp_path $1/tmp/scgi;
EOC
		cat
		echo "}"
	} >"$1/nginx.conf"
}

# go_build OUT SOURCE [FLAGS...]: build tests/progs/SOURCE (a Go program,
# or with -buildmode=c-shared a library) into OUT with Debian's Go
# toolchain (golang-go, in .ci/packages); its cache is TLSSHIM_GOCACHE
# (from tests/run.sh: the user's own Go cache, so that Go's runtime,
# rebuilt for c-shared, is compiled once per machine, not per suite),
# else in $T.  The suite also keeps each result (OUT and the header a
# c-shared or c-archive build writes beside it) in TLSSHIM_GOKEEP, keyed
# by the source's and the flags' hash: the other build's run of the same
# test, and the other tests, copy it instead of linking it again (the
# links of goruntime.sh and unreachable.sh took about 8 s of CPU per
# suite).  0, or 1 and the reason on stdout.
go_build() {
	_gb_out=$1 _gb_src=$2
	shift 2
	if ! command -v go >/dev/null 2>&1; then
		echo "the Go toolchain is not installed (golang-go, in .ci/packages)"
		return 1
	fi
	_gb_keep="" _gb_lock=$T/gocache.lock
	if [ -n "${TLSSHIM_GOKEEP:-}" ]; then
		mkdir -p "$TLSSHIM_GOKEEP"
		_gb_lock=$TLSSHIM_GOKEEP/lock
		_gb_keep="$TLSSHIM_GOKEEP/$({ cat "$TLSSHIM_TOP/tests/progs/$_gb_src"; printf '%s\n' "$_gb_src" "$@"; } |
			sha256sum | cut -c1-32)"
	fi
	# One build at a time in the suite (flock): the second waits and
	# finds the first one's packages (and result) there, instead of
	# compiling them beside it.  The result is kept whole or not at all
	# (a copy, then a rename).
	# shellcheck disable=SC2016
	if ! HOME=$T GOCACHE=${TLSSHIM_GOCACHE:-$T/gocache} GOPATH=$T/gopath GOFLAGS=-buildvcs=false \
	     CGO_ENABLED=1 timeout -k 2 $((120 * TS)) flock "$_gb_lock" sh -c '
		out=$1 keep=$2 src=$3
		shift 3
		h=""
		case ${out##*/} in *.*) h=${out%.*}.h ;; esac
		if [ -n "$keep" ] && [ -f "$keep/out" ]; then
			cp "$keep/out" "$out" || exit 1
			[ -z "$h" ] || [ ! -f "$keep/h" ] || cp "$keep/h" "$h"
			exit
		fi
		go build "$@" -o "$out" "$src" || exit 1
		[ -n "$keep" ] || exit 0
		rm -rf "$keep" "$keep.tmp"
		mkdir -p "$keep.tmp" && cp "$out" "$keep.tmp/out" &&
			{ [ -z "$h" ] || [ ! -f "$h" ] || cp "$h" "$keep.tmp/h"; } && mv "$keep.tmp" "$keep"
		exit 0' _ "$_gb_out" "$_gb_keep" "$TLSSHIM_TOP/tests/progs/$_gb_src" "$@" >"$T/go_build.err" 2>&1; then
		echo "go build $_gb_src failed: $(head -c 300 "$T/go_build.err" | tr '\n' '|')"
		return 1
	fi
}
