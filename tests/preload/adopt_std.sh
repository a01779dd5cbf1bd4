#!/bin/sh
# tests/preload/adopt_std.sh — an inherited socket on fds 0 and 1, adopted
# by the service itself at start-up: the super-server (a Python inetd,
# py/std_superserver.py) does not run the library, the service
# (progs/stdio_echo: fgets/printf, stdio's internal calls that no wrapper
# sees) does.  Asserted, each with its own connection:
#   * a TLS client gets the answer over TLS: the pump takes fd 0 and fd 1
#     together (the library had pumped fd 0 alone, and left fd 1 on the
#     bare socket: the answer went out in clear, the client read "wrong
#     version number");
#   * a plain client that sends a line and shuts its side down gets no
#     plain text back (its FIN had counted as a byte read: the socket was
#     refused, and stdio used it bare);
#   * an accept rule with action = "deny" for the port: the socket is
#     refused at start-up, the plain client gets nothing back;
#   * a super-server that read a byte first: the socket is refused and
#     stdio on 0 and 1 gets nothing from it (it answered in clear);
#   * a plain client from 127.254.0.9 (the pumps' channels' range, which
#     any local process may bind) gets no plain text back (its connection
#     was taken for a pump's channel: plain, the service answered it);
#   * the same from another user to 127.254.0.1, the super-server on
#     0.0.0.0 with its listener closed: no channel either;
#   * without /proc (a tmpfs over it, as in a chroot without one): the
#     inherited fds are still adopted (they had been skipped: plain text
#     both ways), a TLS client is served and a plain one gets nothing;
#   * without /proc, start-up asks which numbers are open in batches: a
#     few hundred system calls, not one fcntl() per number below the soft
#     limit (1,048,576 in some containers: over a second per start).
. "$TLSSHIM_TOP/tests/lib.sh"
. "$TLSSHIM_TOP/tests/preload/common.inc"
need_shim
[ -x "$PROGS/stdio_echo" ] || { fail setup "$PROGS/stdio_echo missing (make test-build)"; exit 1; }
# SHIM_PRELOAD is a list under a sanitizer build (libasan first): every
# entry, made absolute for the exec'd service.
LIB=""
for _l in $SHIM_PRELOAD; do LIB="$LIB${LIB:+ }$(readlink -f "$_l")"; done

# serve LABEL PORT READ [noproc]: start the super-server for one connection
# (on $SS_BIND:PORT if set, else 127.0.0.1:PORT).
serve() {
	if [ "${4:-}" = noproc ]; then
		bg unshare -m sh -c 'mount -t tmpfs none /proc && exec "$@"' sh \
			"$PY" "$PYD/std_superserver.py" "$2" "$3" "$PROGS/stdio_echo" "$LIB" "$POLICY" \
			"$T/$1.log" >"$T/$1.out" 2>&1
	else
		bg "$PY" "$PYD/std_superserver.py" "$2" "$3" "$PROGS/stdio_echo" "$LIB" "$POLICY" \
			"$T/$1.log" ${SS_BIND:+"$SS_BIND"} >"$T/$1.out" 2>&1
	fi
	SS=$!
	wait_for "$T/$1.out" '^ready' 10
}

# tls_case LABEL [noproc]
tls_case() {
	P=$(free_port)
	policy "$T/$1.conf" <<EOC
rules = ( { name = "std-in"; direction = "accept"; port = $P;
            cert = "$CERTS/server.crt"; key = "$CERTS/server.key"; } );
EOC
	serve "$1" "$P" 0 "${2:-}"
	out=$(timeout $((20 * TS)) "$PY" "$PYD/inetd_style_client.py" "$P" "$CERTS/ca.crt" 2>&1)
	wait_exit "$SS" 10
	if [ "$out" = "stdio_echo: inetd style hello / close_notify" ]; then
		pass "$1: a TLS client is served by the stdio service (fds 0 and 1 to one pump)"
	else
		fail "$1: a TLS client is served by the stdio service" "$(echo "$out" | tail -n 2 | tr '\n' '|') $(show "$T/$1.log")"
	fi
}

# plain_case LABEL READ [noproc]: a plain client sends a line, then FIN.
# $PC_ARGS: more tlspeer.py raw options; $PC_WRAP: a command it runs
# under; $PC_DIR: where it records (default $T).
plain_case() {
	_rec=${PC_DIR:-$T}/$1.rec
	P=$(free_port)
	policy "$T/$1.conf" <<EOC
rules = ( { name = "std-in"; direction = "accept"; port = $P;
            cert = "$CERTS/server.crt"; key = "$CERTS/server.key"; } );
EOC
	serve "$1" "$P" "$2" "${3:-}"
	audit_exclude_during "$P" "a plaintext client on the TLS port must get nothing" \
		timeout $((20 * TS)) ${PC_WRAP:-} "$PY" "$TLSPEER" raw --port "$P" --timeout 3 --send "plain hello
" --record "$_rec" ${PC_ARGS:-} >"$T/$1.raw" 2>&1
	: >>"$_rec"
	wait_exit "$SS" 10
	# What a TLS server may answer: nothing, or alert records.
	if ! grep -q '^received' "$T/$1.raw"; then
		fail "$1: a plain client gets no plain text back" "client: $(tail_of "$T/$1.raw")"
	elif { od -A n -v -t x1 "$_rec" | tr -d ' \n'; echo; } | grep -q -x -E '(15030[0-4]0002[0-9a-f]{4})*'; then
		pass "$1: a plain client gets no plain text back"
	else
		fail "$1: a plain client gets no plain text back" "got: $(head -c 100 "$_rec" | od -c | head -n 2 | tr '\n' ' ') $(show "$T/$1.log")"
	fi
}

# deny_case LABEL: an accept rule with action = "deny" names the port: the
# adopted socket is refused at start-up (not served in clear): the plain
# client gets no plain text back, and the log names the rule.
deny_case() {
	P=$(free_port)
	policy "$T/$1.conf" <<EOC
rules = ( { name = "std-deny"; direction = "accept"; port = $P; action = "deny"; } );
EOC
	serve "$1" "$P" 0
	audit_exclude_during "$P" "a plaintext client on a denied port must get nothing" \
		timeout $((20 * TS)) "$PY" "$TLSPEER" raw --port "$P" --timeout 3 --send "plain hello
" --record "$T/$1.rec" >"$T/$1.raw" 2>&1
	: >>"$T/$1.rec"
	wait_exit "$SS" 10
	if [ -s "$T/$1.rec" ]; then
		fail "$1: a socket adopted on a denied port is refused" "the client got: $(head -c 100 "$T/$1.rec" | od -c | head -n 2 | tr '\n' ' ') $(show "$T/$1.log")"
	elif [ "$(lines "$T/$1.log" 'rule "std-deny": connection on fd [01] .*refused by policy')" -lt 1 ]; then
		fail "$1: a socket adopted on a denied port is refused" "no log line naming the deny rule$(show "$T/$1.log")"
	else
		pass "$1: a socket adopted on a denied port is refused: the plain client gets nothing"
	fi
}

tls_case tls
plain_case plain-fin 0
deny_case deny
plain_case sniffed 1
tls_case noproc-tls noproc
plain_case noproc-plain 0 noproc
# A plain client whose source address is in 127.254.0.0/16, where the
# pumps' channels are (any local process may bind one): its connection
# (to 127.0.0.1) is no channel and is adopted as TLS.  Before, the service read its line and answered in clear.
PC_ARGS="--source 127.254.0.9"
plain_case pump-range-source 0
PC_ARGS=""

# A super-server on 0.0.0.0 that closes its listener before the exec, and
# another user's plain client from 127.254.0.9 to 127.254.0.1: both
# addresses in the pumps' range, no listener left, yet no channel: the
# socket at its other end is not this user's.  Before, the service read
# the client's line and answered in clear.
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null; then
	# the client (uid 65534) records into a directory it may write
	mkdir -m 1777 "$T/pub" && chmod o+x "$T"
	SS_BIND=0.0.0.0 PC_DIR=$T/pub PC_ARGS="--host 127.254.0.1 --source 127.254.0.9"
	PC_WRAP="setpriv --reuid=65534 --regid=65534 --clear-groups"
	plain_case pump-range-other-user 0
	SS_BIND="" PC_DIR="" PC_ARGS="" PC_WRAP=""
else
	pass "pump-range-other-user: (not run: needs root and setpriv)"
fi

# noproc_cost: the shimmed program's start-up without /proc, soft limit
# raised to the hard one; strace counts its fcntl and poll calls.
noproc_cost() {
	name=noproc-startup-cost
	command -v strace >/dev/null || { fail "$name" "strace not installed (strace)"; return; }
	hard=$(ulimit -Hn)
	[ "$hard" = unlimited ] && hard=1048576
	if [ "$hard" -lt 4096 ]; then
		pass "$name: (hard RLIMIT_NOFILE $hard: too low to show anything)"
		return
	fi
	policy "$T/cost.conf" <<EOC
rules = ( { name = "std-in"; direction = "accept"; port = 9;
            cert = "$CERTS/server.crt"; key = "$CERTS/server.key"; } );
EOC
	timeout $((60 * TS)) prlimit --nofile="$hard:$hard" unshare -m sh -c \
		'mount -t tmpfs none /proc && exec "$@"' sh \
		strace -f -qq -o "$T/cost.strace" -e trace=fcntl,poll,ppoll \
		env LD_PRELOAD="$LIB" TLSSHIM_CONFIG="$T/cost.conf" "$PROGS/stdio_echo" \
		</dev/null >"$T/cost.out" 2>"$T/cost.err"
	rc=$?
	n=$(grep -c -E 'fcntl|poll' "$T/cost.strace" 2>/dev/null)
	# (the exit status is not asked: a sanitizer's leak check cannot run
	# under strace without /proc)
	if [ "${n:-0}" -gt 0 ] && [ "$n" -lt 1000 ]; then
		pass "$name: $n fcntl/poll calls at start-up with a soft limit of $hard"
	else
		fail "$name: start-up without /proc asks the open numbers in batches" \
			"exit $rc, ${n:-no} fcntl/poll calls with a soft limit of $hard$(show "$T/cost.err")"
	fi
}
noproc_cost
