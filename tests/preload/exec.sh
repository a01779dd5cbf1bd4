#!/bin/sh
# exec with the socket on stdin/stdout (inetd style): socat accepts under
# the shim, moves the socket onto fds 0 and 1 and execs cat in its place
# (EXEC:...,nofork).  A TLS session on fds 0-2 goes to a pump at once
# (stdio there bypasses every wrapper), so cat inherits the pump's
# plaintext end; cat's read and write carry TLS on the wire, and when cat
# exits the pump sends close_notify.
. "$TLSSHIM_TOP/tests/lib.sh"
. "$TLSSHIM_TOP/tests/preload/common.inc"
P=$(free_port)
policy "$T/srv.conf" <<EOC
rules = ( { name = "inetd-in"; direction = "accept"; port = $P;
            cert = "$CERTS/server.crt"; key = "$CERTS/server.key"; } );
EOC
TLSSHIM_LOG=info TLSSHIM_LOG_FILE="$T/srv.log" shimbg socat TCP-LISTEN:"$P",bind=127.0.0.1,reuseaddr \
	EXEC:/bin/cat,nofork >"$T/socat.out" 2>&1
srv=$!
wait_listen "$P" 15
out=$(timeout $((20 * TS)) "$PY" "$PYD/inetd_style_client.py" "$P" "$CERTS/ca.crt" 2>&1
)
wait_exit "$srv" 20; rc=$?
if [ "$out" = "inetd style hello / close_notify" ]; then
	pass "exec'd program on an inherited socket speaks TLS; close_notify at its exit"
else
	fail "exec'd program on an inherited socket" "$out; socat exit $rc$(tail_of "$T/socat.out" "$T/srv.log")"
fi
if grep -q "session handed to a pump process; fds [0-9]*,\.\.\. now plaintext" "$T/srv.log" &&
   ! grep -q "becomes a TLS server connection" "$T/srv.log"; then
	pass "a TLS socket moved onto stdin/stdout goes to a pump before exec (logged at info level)"
else
	fail "TLS socket on fds 0-2 pumped" "$(cat "$T/srv.log")"
fi

# A TLS listening socket passed on by root whose effective uid is 65534
# (tests/preload/py/euid_listener.py): a new image the library runs must
# get it.  spawn: posix_spawn(POSIX_SPAWN_RESETIDS), the child's effective
# uid is its real one again (no secure-execution), LD_PRELOAD loads the
# library.  exec: execv() in secure-execution mode, the library from
# /etc/ld.so.preload with the system policy (a bind-mounted copy of /etc
# in a private mount namespace; the real /etc is never touched).  The
# client's line must come back over TLS.
L=$(free_port)
policy "$T/euid.conf" <<EOC
rules = ( { name = "euid-in"; direction = "accept"; port = $L;
            cert = "/etc/tlsshim-test-server.crt"; key = "/etc/tlsshim-test-server.key"; } );
EOC
# euid_case NAME DESC CMD...: CMD listens on L; one TLS client's line.
euid_case() {
	_n=$1 _d=$2; shift 2
	bg timeout -k 2 $((30 * TS)) "$@" >"$T/$_n.out" 2>&1
	_p=$!
	wait_for "$T/$_n.out" '^listening' 15
	_r=$(printf 'euid line\n' | timeout $((20 * TS)) openssl s_client -quiet -connect "127.0.0.1:$L" \
		-CAfile "$CERTS/ca.crt" -servername localhost 2>"$T/$_n.cli")
	wait_exit "$_p" 20
	if [ "$_r" = "euid line" ] && grep -q '^served' "$T/$_n.out"; then
		pass "$_d: the new image serves TLS on it"
	else
		fail "$_d" "client got '$_r'$(tail_of "$T/$_n.out" "$T/$_n.cli" "$T/$_n.log")"
	fi
}
if [ "$(id -u)" != 0 ] || ! command -v unshare >/dev/null; then
	pass "TLS listener passed on with effective uid 65534 (not run here: needs root and unshare)"
else
	cp -a /etc "$T/etc"
	cp "$T/euid.conf" "$T/etc/tlsshim.conf"
	cp "$CERTS/server.crt" "$T/etc/tlsshim-test-server.crt"
	cp "$CERTS/server.key" "$T/etc/tlsshim-test-server.key"
	chmod 644 "$T/etc/tlsshim.conf" "$T/etc/tlsshim-test-server.crt"
	# Read by the new image as uid 65534 (and root): its owner, 0600.
	chown 65534 "$T/etc/tlsshim-test-server.key"
	chmod 600 "$T/etc/tlsshim-test-server.key"
	euid_case euid-spawn "posix_spawn(POSIX_SPAWN_RESETIDS) by root with effective uid 65534 of an image run with LD_PRELOAD, a TLS listener inherited" \
		unshare -m sh -c 'mount --bind "$1/etc" /etc && exec env LD_PRELOAD="$2" TLSSHIM_CONFIG=/etc/tlsshim.conf \
			TLSSHIM_LOG_FILE="$1/euid-spawn.log" "$3" "$4" spawn "$5"' sh "$T" "$SHIM_PRELOAD" "$PY" \
		"$PYD/euid_listener.py" "$L"
	for p in $SHIM_PRELOAD; do echo "$p"; done >"$T/etc/ld.so.preload"
	euid_case euid-exec "execv() by root with effective uid 65534 (secure-execution) with the library in /etc/ld.so.preload and the system policy, a TLS listener inherited" \
		unshare -m sh -c 'mount --bind "$1/etc" /etc && exec env TLSSHIM_LOG_FILE="$1/euid-exec.log" "$2" "$3" exec "$4"' \
		sh "$T" "$PY" "$PYD/euid_listener.py" "$L"
	# The same exec by a process under another policy file: the new image
	# would take the system one, so the listener is not passed on.
	timeout -k 2 $((30 * TS)) unshare -m sh -c 'mount --bind "$1/etc" /etc && exec env TLSSHIM_CONFIG="$1/euid.conf" \
		TLSSHIM_LOG_FILE="$1/euid-other.log" "$2" "$3" exec "$4"' sh "$T" "$PY" "$PYD/euid_listener.py" "$L" \
		>"$T/euid-other.out" 2>&1
	if grep -q '^serve failed' "$T/euid-other.out" &&
	   grep -q 'secure-execution mode, where this library comes from /etc/ld.so.preload with the system policy /etc/tlsshim.conf, not this one' "$T/euid-other.log" &&
	   grep -q 'listening socket fd [0-9]* not passed on' "$T/euid-other.log"; then
		pass "the same exec under another policy file than the system one: the listener is not passed on, a warn line names the system policy"
	else
		fail "secure-execution exec under another policy file" "$(tail_of "$T/euid-other.out" "$T/euid-other.log")"
	fi
fi

# A relative TLSSHIM_CONFIG (the README's "TLSSHIM_CONFIG=policy.conf")
# names a file from the working directory.  A program that changes
# directory and then execs with its environment as it is runs the new
# image under whatever policy.conf is there: here one that makes the
# port plain.  The TLS listener it inherited accepted a plain client and
# answered it in clear (helper-183).  Now the name counts as the same
# policy only from the directory it was loaded in: the listener is not
# passed on.  From the same directory (chdir "."), it still is, and the
# new image serves TLS on it.
C=$(free_port)
mkdir -p "$T/rel/other"
policy "$T/rel/policy.conf" <<EOC
rules = ( { name = "rel-in"; direction = "accept"; port = $C;
            cert = "$CERTS/server.crt"; key = "$CERTS/server.key"; } );
EOC
policy "$T/rel/other/policy.conf" <<EOC
rules = ( { name = "rel-plain"; direction = "accept"; port = $C; action = "plain"; } );
EOC
# inherit_listener NAME CFG MODE ARGS...: euid_listener.py MODE $C ARGS
# from $T/rel under TLSSHIM_CONFIG=CFG, NAME.out and NAME.log; ready
# when it (or its new image) says "listening", or "serve failed".
inherit_listener() {
	_il=$1 _ic=$2
	shift 2
	bg sh -c 'cd "$1/rel" && shift && exec "$@"' sh "$T" timeout -k 2 $((30 * TS)) env LD_PRELOAD="$SHIM_PRELOAD" \
		TLSSHIM_CONFIG="$_ic" TLSSHIM_LOG_FILE="$T/$_il.log" "$PY" "$PYD/euid_listener.py" "$1" "$C" "$2" "${3:-}" \
		>"$T/$_il.out" 2>&1
	_rl=$!
	wait_for "$T/$_il.out" '^(listening|serve failed)' 15
}
# withheld NAME DESC WHY WARN...: a plain client's line to $C (the wire
# audit leaves it out: WHY) must not be answered, NAME's new image must
# have failed to serve, and NAME.log must match every WARN.
withheld() {
	_wn=$1 _wd=$2 _ww=$3
	shift 3
	got=$(audit_exclude_during "$C" "$_ww" timeout $((20 * TS)) "$PY" -c '
import socket, sys
try:
    s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
    s.sendall(b"plain line\n")
    print(s.recv(100).decode(errors="replace").strip() or "eof")
except OSError as e:
    print("refused:", e)' "$C" 2>&1)
	wait_exit "$_rl" 20
	_wl=$(tail_of "$T/$_wn.out" "$T/$_wn.log")
	if printf '%s' "$got" | grep -q 'plain line'; then
		fail "$_wd" "the plain client was answered in clear: '$got'$_wl"; return
	fi
	if ! grep -q '^serve failed' "$T/$_wn.out"; then
		fail "$_wd" "the new image did not fail to serve; client got '$got'$_wl"; return
	fi
	for _w in "$@"; do
		grep -q "$_w" "$T/$_wn.log" || { fail "$_wd" "no line '$_w'$_wl"; return; }
	done
	pass "$_wd"
}
# served NAME DESC: a TLS client's line to $C comes back, and NAME's new
# image served it.
served() {
	got=$(printf '%s line\n' "$1" | timeout $((20 * TS)) openssl s_client -quiet -connect "127.0.0.1:$C" \
		-CAfile "$CERTS/ca.crt" -servername localhost 2>"$T/$1.cli")
	wait_exit "$_rl" 20
	if [ "$got" = "$1 line" ] && grep -q '^served' "$T/$1.out"; then
		pass "$2"
	else
		fail "$2" "client got '$got'$(tail_of "$T/$1.out" "$T/$1.cli" "$T/$1.log")"
	fi
}
inherit_listener rel-other policy.conf chdir other
withheld rel-other "chdir then exec under a relative TLSSHIM_CONFIG: the TLS listener is not passed on (a warn line), no plain client served" \
	"a plain client to the TLS listener a relative policy name would hand to another policy" \
	'listening socket fd [0-9]* not passed on' 'changed its working directory'
inherit_listener rel-same policy.conf chdir .
served rel-same "chdir(\".\") then exec under a relative TLSSHIM_CONFIG: the new image serves TLS on the listener"

# The same with an absolute TLSSHIM_CONFIG: the program makes a mount
# namespace of its own, bind-mounts another directory over the policy's
# (one whose policy.conf makes the port plain) and execs.  The new image
# read the other file, and the TLS listener it inherited served a plain
# client in clear (helper-183).  Now the name must name, here, the file
# it names under the root and mounts the process started with.
if [ "$(id -u)" != 0 ]; then
	pass "mount over the policy's directory then exec (not run here: needs root)"
else
	mkdir -p "$T/mnt/pol" "$T/mnt/elsewhere"
	cp "$T/rel/policy.conf" "$T/mnt/pol/policy.conf"
	audit_policy "$T/mnt/pol/policy.conf"
	inherit_listener mnt-other "$T/mnt/pol/policy.conf" mount "$T/rel/other" "$T/mnt/pol"
	withheld mnt-other "mount over the policy's directory then exec: the TLS listener is not passed on (a warn line), no plain client served" \
		"a plain client to the TLS listener a mount would hand to another policy" \
		'listening socket fd [0-9]* not passed on' 'names another file here (or none) than under the root and mounts'
	# A mount elsewhere changes nothing: the new image serves TLS.
	inherit_listener mnt-else "$T/mnt/pol/policy.conf" mount "$T/rel/other" "$T/mnt/elsewhere"
	served mnt-else "a mount elsewhere then exec: the new image serves TLS on the listener"
fi

# A socket bound to a TLS port but not listening yet, passed on to an
# image without the library (LD_PRELOAD dropped): that program listened
# on it and answered a plain client in clear; only a listening socket
# was withheld (helper-183).  Now a bound one is withheld as well.
inherit_listener bound-plain "$T/rel/policy.conf" bound
withheld bound-plain "a socket bound to a TLS port, not listening yet, is not passed on to an image without the library (a warn line)" \
	"a plain client to a TLS port whose bound socket an image without the library got" \
	'socket fd [0-9]* bound to the port, not passed on'

# SCM_RIGHTS over a socketpair the parent made, from one child that runs
# the library to a sibling that exec'd without it: SO_PEERCRED names the
# pair's maker (the parent, which maps the library), so the TLS listener
# went to the sibling, which served a plain client in clear
# (helper-183).  Now a socketpair's peer counts as one that does not run
# the library: the sendmsg is refused.
bg timeout -k 2 $((30 * TS)) env LD_PRELOAD="$SHIM_PRELOAD" TLSSHIM_CONFIG="$T/rel/policy.conf" \
	TLSSHIM_LOG_FILE="$T/pair.log" "$PY" "$PYD/pair_sibling.py" "$C" >"$T/pair.out" 2>&1
_rl=$!
wait_for "$T/pair.out" '^(listening|serve failed)' 15
withheld pair "a TLS listener sent over a socketpair its parent made, to a sibling without the library: refused (a warn line), no plain client served" \
	"a plain client to a TLS listener passed to a sibling without the library" \
	'sendmsg refused: it would pass fd [0-9]*, a listening socket'
