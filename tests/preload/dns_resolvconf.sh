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
# connect rule covers; the start-up warning says so), but a truncated UDP
# answer is not asked again over TCP: the look-up keeps what fit, and so
# does the res_query family (RES_IGNTC lent for the call; RES_USEVC and a
# query over 512 bytes refused), also after the program's res_init() of a
# changed file.
# (The old library: every query reached the TLS port in clear; without
# use-vc, the query asked again after a truncated answer.)
# One fake name server serves every case; each case is a fresh dns_tcp or
# sunrpc_client, which is what it tests (a look-up from the program's
# start, its _res as the file left it): 7 ms of CPU a case, 17 on ASan.
. "$(dirname "$0")/../lib.sh"
. "$TLSSHIM_TOP/tests/preload/common.inc"
need_shim dns_resolvconf_setup
[ -x "$PROGS/dns_tcp" ] || { fail dns_resolvconf_setup "$PROGS/dns_tcp missing (make test-build)"; exit 0; }

policy "$T/dns.conf" <<EOC
rules = ( { name = "dns-tls"; direction = "connect"; address = "127.0.0.1"; port = 53;
            ca = "$CERTS/ca.crt"; } );
EOC
export TLSSHIM_LOG_FILE="$T/dns.log"
# (the fake name server answers over UDP too, truncated: two A records,
# 127.0.0.8 and 127.0.0.7, or the PTR name udp-name.test; over TCP one,
# 127.0.0.9, or secret-name.test)
fake_resolver dns_resolvconf_setup "$T" || exit 0

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

# Without use-vc: a look-up is not refused (the query goes over UDP,
# which no connect rule covers), but the UDP answer comes back truncated
# and the resolver must not ask again over TCP, in clear, to the TLS port
# (the old library let it): it keeps the truncated answer, the records
# that fit.  udp_only NAME MODE ADDR ANSWER: MODE's result line is ANSWER,
# its name asked over UDP, nothing reached the TCP port (nor the wire
# audit's TLS port 53).
udp_only() {
	: >"$TLSSHIM_LOG_FILE"
	: >"$T/tls.rec"
	: >"$T/udp.rec"
	shimmed "$PROGS/dns_tcp" "$2" "$3" 53 >"$T/$2.out" 2>"$T/$2.err"
	rc=$?
	if [ -s "$T/tls.rec" ]; then
		fail "$1" "asked again over TCP, in clear, to the TLS port: '$(cat "$T/tls.rec")' ($(tr '\n' '|' <"$T/$2.out"))"
	elif grep -q 'would ask this name server' "$TLSSHIM_LOG_FILE"; then
		fail "$1" "refused$(show "$TLSSHIM_LOG_FILE")"
	elif [ $rc != 0 ] || [ "$(tr '\n' '|' <"$T/$2.out")" != "$4" ]; then
		fail "$1" "exit $rc, result '$(tr '\n' '|' <"$T/$2.out")', not '$4': $(cat "$T/$2.err")"
	elif ! [ -s "$T/udp.rec" ]; then
		fail "$1" "nothing asked over UDP"
	else
		pass "$1"
	fi
}
# no_tcp NAME MODE ADDR RESULT: MODE's result lines are RESULT (joined
# by |), and nothing reached the TCP port (a res_query may be refused).
no_tcp() {
	: >"$T/tls.rec"
	shimmed "$PROGS/dns_tcp" "$2" "$3" 53 >"$T/$2.out" 2>"$T/$2.err"
	rc=$?
	got=$(tr '\n' '|' <"$T/$2.out")
	if [ -s "$T/tls.rec" ]; then
		fail "$1" "asked over TCP, in clear, to the TLS port: '$(cat "$T/tls.rec")' ($got)"
	elif [ $rc != 0 ] || [ "$got" != "$4" ]; then
		fail "$1" "exit $rc, result '$got', not '$4'$(show "$T/$2.err")"
	else
		pass "$1"
	fi
}
printf 'nameserver 127.0.0.1\noptions attempts:1 timeout:1\n' >"$T/resolv.conf"
udp_only "no use-vc, a truncated UDP answer: getaddrinfo keeps it, not asked again over TCP" file_gai - 'answer 2|'
check "the start-up warning says a truncated answer is kept, never asked over TCP" \
	grep -q 'warn: name server 127.0.0.1 port 53 (/etc/resolv.conf) matches rule "dns-tls", action tls: .* never over TCP: a look-up keeps a truncated UDP answer' "$TLSSHIM_LOG_FILE"
udp_only "no use-vc, a truncated UDP answer: gethostbyname keeps it, not asked again over TCP" file_ghbn - 'answer 2|'
udp_only "no use-vc, a truncated UDP answer: getnameinfo keeps it, not asked again over TCP" file_gni - 'answer 13|'
# The thread's _res loaded from a file naming 127.0.0.2 (no rule); the
# file then names 127.0.0.1: glibc loads it again inside the look-up.
printf 'nameserver 127.0.0.2\noptions attempts:1 timeout:1\n' >"$T/resolv.conf"
udp_only "_res loaded before the file named a tls-ruled server: the truncated answer kept" reload_gai 127.0.0.1 \
	'answer 2|'
# After a look-up of 127.0.0.1 the file names 127.0.0.2 (nothing answers
# there): the next look-up asks 127.0.0.2, the file is still followed.
printf 'nameserver 127.0.0.1\noptions attempts:1 timeout:1\n' >"$T/resolv.conf"
udp_only "a look-up kept a truncated answer, then the file changed: the next look-up follows the file" \
	twice_gai 127.0.0.2 'answer 2|failed gai=-3|'
# The program's res_init() after such a look-up, then the file changed
# (still naming 127.0.0.1): glibc keeps the options a program set before
# res_init, and took the library's RES_IGNTC for one of them; the next
# look-up's own reload of the file then dropped the flag (the library
# had set it again, the options matching the file's once more), and the
# truncated answer was asked again over TCP.
printf 'nameserver 127.0.0.1\noptions attempts:1 timeout:1\n' >"$T/resolv.conf"
udp_only "a look-up kept a truncated answer, res_init(), the file changed: the next keeps it too" \
	twiceinit_gai 127.0.0.1 'answer 2|answer 2|'
# A program that saves _res.options after a look-up and puts them back
# after a query of its own (here a res_query, which keeps the truncated
# answer too), as mail servers do around their MX queries, then the
# file changed to name 127.0.0.2 (nothing answers there): the next
# look-up follows the file.  The library's RES_IGNTC was still in _res
# when the options were saved (taken back only at the thread's next
# check): put back, it stayed for good as the program's, the thread's
# _res differed from the file's and was never loaded again, and the
# look-up asked 127.0.0.1, which the file no longer named.
printf 'nameserver 127.0.0.1\noptions attempts:1 timeout:1\n' >"$T/resolv.conf"
no_tcp "_res.options saved after a look-up, put back after a res_query, the file changed: the next look-up follows it" \
	restore_gai 127.0.0.2 'answer 2|answer 66|failed gai=-3|'
# RES_IGNTC set by the program itself after a look-up: its res_query
# keeps the truncated answer (UDP only), as without the library.  The
# library's flag was still there, and its next call took the program's
# away: the res_query was refused.
printf 'nameserver 127.0.0.1\noptions attempts:1 timeout:1\n' >"$T/resolv.conf"
for mode in gai ghbn; do
	udp_only "RES_IGNTC set by the program after a ${mode} look-up: its res_query is not refused" \
		"ownigntc_$mode" - 'answer 2|answer 66|'
done
# rcmd() looks the name up itself (the C library's internal getaddrinfo)
# after the library's own getaddrinfo of it, which now takes its
# RES_IGNTC back as it returns: the library lends it again for rcmd's
# look-up, and the truncated answer is not asked again over TCP.  (Two
# listeners on the answer's addresses, port 514, close each connection:
# rcmd fails at once, after its look-up, or dies of SIGPIPE.)
bg "$PY" -c '
import select, socket, sys, time
ls = []
for a in ("127.0.0.8", "127.0.0.7"):
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((a, 514)); s.listen(8); ls.append(s)
print("listening", flush=True)
end = time.time() + 30 * float(sys.argv[1])
while time.time() < end:
    for s in select.select(ls, [], [], 0.5)[0]:
        s.accept()[0].close()
' "$TS" >"$T/rsh.out" 2>"$T/rsh.err"
name="rcmd of a name, a truncated UDP answer: its own look-up not asked again over TCP"
if ! wait_for "$T/rsh.out" '^listening' 10; then
	fail "$name" "the port 514 listeners never listened$(show "$T/rsh.err")"
else
	printf 'nameserver 127.0.0.1\noptions attempts:1 timeout:1\n' >"$T/resolv.conf"
	: >"$T/tls.rec"
	: >"$T/udp.rec"
	shimmed "$PROGS/dns_tcp" file_rcmd - 53 >"$T/rcmd.out" 2>"$T/rcmd.err"
	if [ -s "$T/tls.rec" ]; then
		fail "$name" "asked again over TCP, in clear, to the TLS port: '$(cat "$T/tls.rec")'"
	elif [ "$(grep -c . "$T/udp.rec")" -lt 2 ]; then
		fail "$name" "not two look-ups over UDP ($(tr '\n' ' ' <"$T/udp.rec")): $(cat "$T/rcmd.out" "$T/rcmd.err")"
	else
		pass "$name"
	fi
fi
# A look-up inside a look-up of the same thread (an NSS module's own, or
# a signal handler's): it must not take back the RES_IGNTC lent to the
# outer one, which goes on asking.  The file names a silent server first
# (127.0.0.3, which sends the program a SIGUSR1 when the outer query
# reaches it: the handler looks the name up), then the TLS-ruled one.
# Both keep the truncated answer; nothing is asked over TCP.
# (It signals the first query from each new pid in the pid file.)
bg "$PY" -c '
import os, signal, socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.3", 53))
print("listening", flush=True)
end, told = time.time() + 60 * float(sys.argv[2]), set()
while time.time() < end:
    s.settimeout(max(0.1, end - time.time()))
    try:
        s.recvfrom(4096)
        pid = int(open(sys.argv[1]).read())
    except (socket.timeout, OSError, ValueError):
        continue
    if pid not in told:
        told.add(pid)
        os.kill(pid, signal.SIGUSR1)
' "$T/nested.pid" "$TS" >"$T/silent.out" 2>"$T/silent.err"
name="a look-up inside a look-up (a signal handler's): the outer keeps its RES_IGNTC, nothing over TCP"
if ! wait_for "$T/silent.out" '^listening' 10; then
	fail "$name" "the silent name server never listened$(show "$T/silent.err")"
else
	printf 'nameserver 127.0.0.3\nnameserver 127.0.0.1\noptions attempts:1 timeout:1\n' >"$T/resolv.conf"
	no_tcp "$name" nested_gai "$T/nested.pid" 'answer 2|inner answer 2|'
	# The handler jumps out of the look-up (siglongjmp, as an alarm's
	# time-out around gethostbyname does): the library's count of
	# look-ups under way says one still is; the next look-up, made from
	# no deeper on the stack, takes its place, and takes the flag back
	# as it returns (left there, _res would never be loaded again).
	no_tcp "a look-up left by siglongjmp: the next one takes RES_IGNTC back as it returns" jump_gai \
		"$T/nested.pid" 'jumped|answer 2|igntc 0|'
fi
# "options use-vc" in the file, RES_USEVC cleared by the program in its
# _res: the look-up goes over UDP, and must not ask again over TCP.
printf 'nameserver 127.0.0.1\noptions use-vc attempts:1 timeout:1\n' >"$T/resolv.conf"
udp_only "use-vc in the file, cleared in _res by the program: the truncated answer kept" clearvc_gai - 'answer 2|'
# gethostid() without /etc/hostid looks the host's own name up inside the
# C library (its internal gethostbyname_r), past every wrapper: the old
# library let the truncated answer be asked again over TCP, in clear, and
# with use-vc every query.  (An nsswitch.conf of ours sends the look-up
# to DNS, not /etc/hosts; an empty file is bound over /etc/hostid.)
printf 'hosts: dns\n' >"$T/nsswitch.conf"
: >"$T/hostid"
if ! mount --bind "$T/nsswitch.conf" /etc/nsswitch.conf 2>"$T/mount.err" ||
   { [ -e /etc/hostid ] && ! mount --bind "$T/hostid" /etc/hostid 2>>"$T/mount.err"; }; then
	fail "gethostid: the truncated answer kept" "cannot bind over /etc/nsswitch.conf or /etc/hostid: $(cat "$T/mount.err")"
else
	printf 'nameserver 127.0.0.1\noptions attempts:1 timeout:1\n' >"$T/resolv.conf"
	udp_only "gethostid (the C library's own look-up of the host name): the truncated answer kept, nothing over TCP" \
		file_hostid - 'answer 1|'
	printf 'nameserver 127.0.0.1\noptions use-vc attempts:1 timeout:1\n' >"$T/resolv.conf"
	refused "resolv.conf use-vc, a tls rule on its server: gethostid refused" file_hostid - 'options use-vc'
	umount /etc/hostid 2>/dev/null
	umount /etc/nsswitch.conf
fi
# libresolv.so.2's res_gethostbyname (a compatibility symbol: programs
# linked before glibc 2.26 call it) asks the thread's _res inside
# libresolv: the old library let the truncated answer be asked again over
# TCP in clear, and with use-vc every query.
printf 'nameserver 127.0.0.1\noptions attempts:1 timeout:1\n' >"$T/resolv.conf"
udp_only "res_gethostbyname (libresolv's compatibility symbol): the truncated answer kept, nothing over TCP" \
	file_compat_ghbn - 'answer 2|'
printf 'nameserver 127.0.0.1\noptions use-vc attempts:1 timeout:1\n' >"$T/resolv.conf"
refused "resolv.conf use-vc, a tls rule on its server: res_gethostbyname refused" file_compat_ghbn - 'options use-vc'
# The C library's Sun RPC (compatibility symbols: programs linked before
# glibc 2.32): clnt_create, getrpcport and callrpc look the host's name up inside
# the C library too (then ask the portmapper of the answer's 127.0.0.8,
# where nothing listens).  rpc NAME MODE PROTO WANT: MODE's result line
# matches WANT, the name asked over UDP, nothing over TCP; WANT "refused":
# the call failed with ECONNREFUSED and an error line names the rule.
rpc() {
	: >"$TLSSHIM_LOG_FILE"
	: >"$T/tls.rec"
	: >"$T/udp.rec"
	shimmed "$PROGS/sunrpc_client" "$2" "$3" secret-name.test >"$T/rpc.out" 2>"$T/rpc.err"
	if [ -s "$T/tls.rec" ]; then
		fail "$1" "asked over TCP, in clear, to the TLS port: '$(cat "$T/tls.rec")' ($(cat "$T/rpc.out"))"
	elif [ "$4" = refused ]; then
		if grep -q 'errno=ECONNREFUSED' "$T/rpc.out" &&
		   grep -q "error: 127.0.0.1:53 rule \"dns-tls\": [a-z_]*() would ask this name server over TCP (options use-vc)" "$TLSSHIM_LOG_FILE"; then
			pass "$1"
		else
			fail "$1" "not refused: $(cat "$T/rpc.out" "$T/rpc.err")$(show "$TLSSHIM_LOG_FILE")"
		fi
	elif ! grep -q "$4" "$T/rpc.out" || ! grep -q '^secret-name\.test$' "$T/udp.rec" ||
	     grep -q 'would ask this name server' "$TLSSHIM_LOG_FILE"; then
		fail "$1" "result '$(cat "$T/rpc.out")', asked over UDP '$(tr '\n' ' ' <"$T/udp.rec")' $(cat "$T/rpc.err")$(show "$TLSSHIM_LOG_FILE")"
	else
		pass "$1"
	fi
}
printf 'nameserver 127.0.0.1\noptions attempts:1 timeout:1\n' >"$T/resolv.conf"
rpc "clnt_create of a name (its look-up inside the C library): the truncated answer kept, nothing over TCP" \
	createname tcp '^clnt_create NULL'
rpc "getrpcport of a name (its look-up inside the C library): the truncated answer kept, nothing over TCP" \
	getrpcport 0 '^getrpcport 0 '
rpc "callrpc of a name (its look-up inside the C library): the truncated answer kept, nothing over TCP" \
	callrpc 0 '^callrpc '
printf 'nameserver 127.0.0.1\noptions use-vc attempts:1 timeout:1\n' >"$T/resolv.conf"
rpc "resolv.conf use-vc, a tls rule on its server: clnt_create of a name refused" createname tcp refused
rpc "resolv.conf use-vc, a tls rule on its server: getrpcport of a name refused" getrpcport 0 refused
rpc "resolv.conf use-vc, a tls rule on its server: callrpc of a name refused" callrpc 0 refused

# getaddrinfo_a looks up in a helper thread of the C library, with a _res
# of its own that the library cannot reach: refused as a whole.
printf 'nameserver 127.0.0.1\noptions attempts:1 timeout:1\n' >"$T/resolv.conf"
: >"$T/udp.rec"
refused "no use-vc, a tls rule on the file's server: getaddrinfo_a refused" file_gaia - \
	'when a UDP answer comes back truncated'
name="getaddrinfo_a refused: nothing asked over UDP either"
if [ -s "$T/udp.rec" ]; then fail "$name" "asked: $(cat "$T/udp.rec")"; else pass "$name"; fi

# The resolver's query calls (mail servers ask their MX records with
# res_search), on the thread's _res or on a state of the program's own
# from res_ninit naming the file's TLS-ruled server, without use-vc: the
# library lends RES_IGNTC for the call, the caller gets the truncated
# answer (66 bytes, TC set) and nothing is asked again over TCP; the
# flag is taken back as the call returns.  (The old library refused
# each of them: a mail server could not route any mail.)
for mode in query search querydomain send nquery nsearch nquerydomain nsend; do
	udp_only "no use-vc, a truncated UDP answer: res_$mode returns it, RES_IGNTC taken back" "lent_$mode" - \
		'answer 66|igntc 0|'
done
# Over TCP (RES_USEVC, or a query longer than 512 bytes) glibc connects
# with its own internal calls, not the library's connect(): the query
# would go in clear, not in TLS.  Exactly those are refused.
for mode in query nquery; do
	refused "RES_USEVC, a tls rule on the file's server: res_$mode refused (glibc's TCP is not the library's)" \
		"usevc_$mode" - RES_USEVC
done
# The same through a handle: a program that dlopens libresolv.so.2 and
# takes res_query with dlsym from it gets the library's wrapper
# (shim/dlsym.c), not the C library's own.
udp_only "res_query taken with dlsym from a libresolv handle: the truncated answer returned, RES_IGNTC taken back" \
	lent_dlquery - 'answer 66|igntc 0|'
refused "RES_USEVC, res_query taken with dlsym from a libresolv handle: refused" usevc_dlquery - RES_USEVC
for mode in longsend nlongsend; do
	refused "a query longer than 512 bytes, a tls rule on the file's server: $mode refused" "file_$mode" - \
		'a query longer than 512 bytes'
done

# The file changed to name the TLS-ruled server, then the program's
# res_init() (or res_ninit) loaded it before the library read the file
# again: the state holds the file's server, which the library took for
# one the program set itself, and refused the look-up (it now reads the
# file when glibc does, and before it judges a state).  With use-vc the
# look-up is refused all the same.
for mode in gai ghbn query nquery; do
	printf 'nameserver 127.0.0.2\noptions attempts:1 timeout:1\n' >"$T/resolv.conf"
	case $mode in gai | ghbn) want='answer 2|' ;; *) want='answer 66|' ;; esac
	udp_only "the file changed to name a tls-ruled server, then res_init(): $mode not refused, the truncated answer kept" \
		"reinit_$mode" 127.0.0.1 "$want"
done
for mode in gai nquery; do
	printf 'nameserver 127.0.0.2\noptions attempts:1 timeout:1\n' >"$T/resolv.conf"
	refused "the file changed to name a tls-ruled server with use-vc, then res_init(): $mode refused" \
		"reinitvc_$mode" 127.0.0.1 'RES_USEVC'
done

# No false refusal: under a policy whose rules do not make port 53 TLS
# (a plain rule for it first, or a rule for 853 only) the truncated
# answer is asked again over TCP as without the library, and the answer
# is TCP's.  (The plain connections to port 53 are deliberate: the
# audit leaves them out.)
policy "$T/plain53.conf" <<EOC
rules = ( { name = "dns-plain"; direction = "connect"; address = "127.0.0.1"; port = 53; action = "plain"; },
          { name = "dns-tls"; direction = "connect"; address = "127.0.0.1"; port = 53;
            ca = "$CERTS/ca.crt"; } );
EOC
policy "$T/only853.conf" <<EOC
rules = ( { name = "dot"; direction = "connect"; address = "127.0.0.1"; port = 853;
            ca = "$CERTS/ca.crt"; } );
EOC
for conf in plain53 only853; do
	: >"$T/tls.rec"
	audit_exclude_during 53 "the resolver's plain TCP retry where no rule makes port 53 TLS" \
		timeout -k 2 $((30 * TS)) env LD_PRELOAD="$SHIM_PRELOAD" TLSSHIM_CONFIG="$T/$conf.conf" \
		"$PROGS/dns_tcp" file_gai - 53 >"$T/$conf.out" 2>"$T/$conf.err"
	name="no rule makes port 53 TLS ($conf): the truncated answer asked again over TCP"
	if [ "$(cat "$T/$conf.out")" = "answer 1" ] && [ -s "$T/tls.rec" ]; then
		pass "$name"
	else
		fail "$name" "result '$(cat "$T/$conf.out")', TCP record '$(cat "$T/tls.rec")' $(cat "$T/$conf.err")"
	fi
done
POLICY=$T/dns.conf

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
