#!/bin/sh
# tests/preload/dns_resolvconf.sh — the name servers of /etc/resolv.conf
# under a tls rule.  glibc's resolver asks them with its own internal
# calls, which the library does not see; with "options use-vc" (or
# RES_OPTIONS's, or RES_USEVC set in _res) every query goes over TCP, in
# clear, to a port the policy makes TLS.  So a
# look-up that would ask such a server with use-vc is refused
# (getaddrinfo, gethostbyname, getnameinfo, and getaddrinfo_a, whose
# helper thread loads the file itself), and so is the first call after
# the file changed to name one (the resolver loads the file again inside
# that call: the old library checked the servers of before).  A fake
# name server on 127.0.0.1:53 records what reaches it; a resolv.conf of
# ours is bound over /etc/resolv.conf (this script's mount namespace is
# its own).  Without use-vc the look-up is not refused (UDP, which no
# connect rule covers; the start-up warning says so).
# (The old library: every query reached the TLS port in clear.)
. "$(dirname "$0")/../lib.sh"
. "$TLSSHIM_TOP/tests/preload/common.inc"
need_shim dns_resolvconf_setup
[ -x "$PROGS/dns_tcp" ] || { fail dns_resolvconf_setup "$PROGS/dns_tcp missing (make test-build)"; exit 0; }

policy "$T/dns.conf" <<EOC
rules = ( { name = "dns-tls"; direction = "connect"; address = "127.0.0.1"; port = 53;
            ca = "$CERTS/ca.crt"; } );
EOC
export TLSSHIM_LOG_FILE="$T/dns.log"
: >"$T/resolv.conf"
if ! mount --bind "$T/resolv.conf" /etc/resolv.conf 2>"$T/mount.err"; then
	fail dns_resolvconf_setup "cannot bind a resolv.conf over /etc/resolv.conf: $(cat "$T/mount.err")"
	exit 0
fi
bg "$PY" "$TLSSHIM_TOP/tests/preload/py/dns_tcp_server.py" 53 "$T/tls.rec" >"$T/tls.out" 2>"$T/tls.err"
if ! wait_for "$T/tls.out" '^listening' 10; then
	fail dns_resolvconf_setup "the fake name server never listened$(show "$T/tls.err")"
	exit 0
fi

# refused NAME MODE ARG WHY: the call failed with ECONNREFUSED, an error
# line names the rule and WHY, nothing reached the name server.
refused() {
	: >"$TLSSHIM_LOG_FILE"
	: >"$T/tls.rec"
	shimmed "$PROGS/dns_tcp" "$2" "$3" 53 >"$T/$2.out" 2>"$T/$2.err"
	rc=$?
	if [ -s "$T/tls.rec" ]; then
		fail "$1" "the query reached the TLS port in clear: '$(cat "$T/tls.rec")'"
	elif [ $rc != 0 ] || ! grep -q '^failed errno=111 ' "$T/$2.out"; then
		fail "$1" "the call did not fail with ECONNREFUSED (exit $rc): $(cat "$T/$2.out" "$T/$2.err")"
	elif ! grep -q "error: 127.0.0.1:53 rule \"dns-tls\": [a-z_]*() would ask this name server over TCP ($4) .*; refused" "$TLSSHIM_LOG_FILE"; then
		fail "$1" "no error line$(show "$TLSSHIM_LOG_FILE")"
	else
		pass "$1"
	fi
}

printf 'nameserver 127.0.0.1\noptions use-vc attempts:1\n' >"$T/resolv.conf"
for mode in gai ghbn gni gaia; do
	refused "resolv.conf use-vc, a tls rule on its server: ${mode} refused" "file_$mode" - 'options use-vc'
done
check "the start-up warning says use-vc look-ups are refused" \
	grep -q 'warn: name server 127.0.0.1 port 53 (/etc/resolv.conf) matches rule "dns-tls", action tls: .*(with use-vc every query goes over TCP: look-ups that would ask it are refused)' "$TLSSHIM_LOG_FILE"

# No use-vc in the file, but every query over TCP all the same: RES_USEVC
# set by the program in _res, or use-vc in RES_OPTIONS.
printf 'nameserver 127.0.0.1\noptions attempts:1\n' >"$T/resolv.conf"
for mode in gai ghbn; do
	refused "RES_USEVC in _res, a tls rule on the file's server: ${mode} refused" "usevc_$mode" - RES_USEVC
done
RES_OPTIONS=use-vc
export RES_OPTIONS
refused "RES_OPTIONS=use-vc, a tls rule on the file's server: gai refused" file_gai - 'options use-vc'
unset RES_OPTIONS
# RES_OPTIONS set by the program itself before its first look-up: the
# resolver reads it as it loads the file, at that look-up (the library
# had read it at start, without use-vc, and let the query go).
for mode in gai gaia; do
	refused "RES_OPTIONS=use-vc set by the program, a tls rule on the file's server: ${mode} refused" \
		"setenv_$mode" - 'options use-vc'
done

# The program loaded _res from a file naming 127.0.0.2 (no rule), then
# the file names 127.0.0.1 with use-vc: the resolver reloads it inside
# the next call.
for mode in gai query; do
	printf 'nameserver 127.0.0.2\noptions attempts:1 timeout:1\n' >"$T/resolv.conf"
	refused "resolv.conf changed to a tls-ruled server: the next ${mode} refused" "change_$mode" 127.0.0.1 \
		'options use-vc'
done

# A thread cancelled inside its look-up, the first after the file
# changed: the library reads the file again there, under its lock, with
# open() and read(), which are cancellation points.  The thread died
# holding the lock, and every later look-up (and fork) of the process
# waited for ever.  Now the next look-up ends (it fails: nothing answers
# on 127.0.0.2).
printf 'nameserver 127.0.0.1\noptions attempts:1 timeout:1\n' >"$T/resolv.conf"
: >"$TLSSHIM_LOG_FILE"
timeout -k 2 $((20 * TS)) env LD_PRELOAD="$SHIM_PRELOAD" TLSSHIM_CONFIG="$T/dns.conf" \
	"$PROGS/dns_tcp" cancel 127.0.0.2 53 >"$T/cancel.out" 2>"$T/cancel.err"
rc=$?
name="a thread cancelled inside a look-up after resolv.conf changed: the next look-up ends"
if [ $rc -eq 0 ] && grep -q -x 'thread cancelled' "$T/cancel.out" && grep -q '^failed\|^answer' "$T/cancel.out"; then
	pass "$name"
else
	fail "$name" "exit $rc ($([ $rc -eq 124 ] && echo 'hung, killed'))): $(tr '\n' '|' <"$T/cancel.out") $(cat "$T/cancel.err")$(show "$TLSSHIM_LOG_FILE")"
fi

# The library reads the file again inside a look-up, in whatever thread
# makes it: with a descriptor of its own, moved high at once (as for the
# policy's files).  It read it at the lowest free number, where another
# thread's dup2() or open() could make the number the program's file
# (the library then read the program's bytes and closed its file), and
# its open took the epoll locks, which come before the resolv.conf lock
# (a fork at that moment waited for ever).  strace: each open of the file
# with O_NONBLOCK (the library's; glibc's has none) is moved at once.
name="resolv.conf read again inside a look-up with a descriptor of the library's own"
if ! command -v strace >/dev/null; then
	fail "$name" "strace not installed (strace)"
else
	printf 'nameserver 127.0.0.2\noptions attempts:1 timeout:1\n' >"$T/resolv.conf"
	timeout -k 2 $((30 * TS)) strace -f -qq -e trace=openat,fcntl -o "$T/own.strace" \
		env LD_PRELOAD="$SHIM_PRELOAD" TLSSHIM_CONFIG="$T/dns.conf" \
		"$PROGS/dns_tcp" change_gai 127.0.0.2 53 >"$T/own.out" 2>&1
	# "PID openat(..., "/etc/resolv.conf", ...O_NONBLOCK...) = N" then
	# that thread's "fcntl(N, F_DUPFD_CLOEXEC, ...)"
	bad=$(awk '/openat\(.*"\/etc\/resolv\.conf".*O_NONBLOCK.*\) = [0-9]+$/ { n++; want[$1] = $NF; next }
		$1 in want { if ($0 !~ "fcntl\\(" want[$1] ", F_DUPFD_CLOEXEC") bad++; delete want[$1] }
		END { for (p in want) bad++; print n + 0, bad + 0 }' "$T/own.strace")
	case $bad in
	"0 "*) fail "$name" "no open of the file by the library traced: $(tr '\n' '|' <"$T/own.out")" ;;
	*" 0") pass "$name (${bad% *} opens, each moved high)" ;;
	*) fail "$name" "${bad#* } of ${bad% *} opens read at the number open() gave: $(grep -A1 'resolv.conf.*O_NONBLOCK' "$T/own.strace" | head -n 4 | tr '\n' '|')" ;;
	esac
fi

# Without use-vc: not refused (the query goes over UDP; nothing answers
# there, so the look-up fails, but not with ECONNREFUSED from here).
printf 'nameserver 127.0.0.1\noptions attempts:1 timeout:1\n' >"$T/resolv.conf"
: >"$TLSSHIM_LOG_FILE"
shimmed "$PROGS/dns_tcp" file_gai - 53 >"$T/udp.out" 2>"$T/udp.err"
name="resolv.conf without use-vc: getaddrinfo not refused"
if grep -q 'would ask this name server' "$TLSSHIM_LOG_FILE" || grep -q '^failed errno=111 ' "$T/udp.out"; then
	fail "$name" "refused: $(cat "$T/udp.out")$(show "$TLSSHIM_LOG_FILE")"
elif ! grep -q '^failed gai=' "$T/udp.out"; then
	fail "$name" "no look-up failure: $(cat "$T/udp.out" "$T/udp.err")"
else
	pass "$name"
fi

# The cost: the file is looked at again (a stat per look-up, as glibc's
# own) only while a tls or deny rule may cover port 53.  strace counts
# the stat calls that name it in one getaddrinfo: under a policy whose
# rule is for port 853, as many as without the library; under one for
# port 53, more.
policy "$T/dot.conf" <<EOC
rules = ( { name = "dot"; direction = "connect"; address = "127.0.0.1"; port = 853;
            ca = "$CERTS/ca.crt"; } );
EOC
printf 'nameserver 127.0.0.2\noptions attempts:1 timeout:1\n' >"$T/resolv.conf"
# stats NAME PRELOAD POLICY: the stat calls naming /etc/resolv.conf
stats() {
	timeout -k 2 $((30 * TS)) strace -f -qq -e trace=%%stat -o "$T/$1.strace" \
		env LD_PRELOAD="$2" TLSSHIM_CONFIG="$3" "$PROGS/dns_tcp" file_gai - 53 >"$T/$1.out" 2>&1
	grep -c '"/etc/resolv\.conf"' "$T/$1.strace"
}
name="no rule for port 53: no stat of resolv.conf of ours per look-up; a rule for it: one"
if ! command -v strace >/dev/null; then
	fail "$name" "strace not installed (strace)"
else
	base=$(stats base "" "$T/dot.conf") dot=$(stats dot "$SHIM_PRELOAD" "$T/dot.conf")
	dns=$(stats dns "$SHIM_PRELOAD" "$T/dns.conf")
	if [ "$dot" = "$base" ] && [ "$dns" -gt "$base" ]; then
		pass "$name"
	else
		fail "$name" "stat calls: without the library $base, rule for 853 $dot, rule for 53 $dns$(show "$T/dot.out")"
	fi
fi
umount /etc/resolv.conf 2>/dev/null
