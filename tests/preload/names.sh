#!/bin/sh
# tests/preload/names.sh — an attacker's look at address and name
# confusion: the destination the library matches must be the one the
# kernel connects to, and the name a connection gets must be one the
# program resolved to it.
#   - connect(0.0.0.0) from a socket bound to 127.0.0.2 reaches 127.0.0.2
#     (the kernel takes the bound address for a wildcard destination; only
#     an unbound socket gets 127.0.0.1).  Policy: 127.0.0.1 plain,
#     127.0.0.2 tls.  MSG_FASTOPEN (sendto) to 0.0.0.0 must be refused as
#     for 127.0.0.2 (the previous library matched 127.0.0.1, plain, and the
#     kernel put the program's bytes in clear on 127.0.0.2); connect() then
#     write must be TLS to 127.0.0.2 (the previous library connected to
#     127.0.0.1 instead, in clear: not where the program's socket goes).
#   - names the library did not see resolved: a thread resolves
#     plain.test (a plain rule's host) and then a.test (a tls rule's
#     host), both 127.0.0.1 in the test's own /etc/hosts, the second with
#     getaddrinfo_a (GAI_WAIT; GAI_NOWAIT and gai_suspend; GAI_NOWAIT
#     waited for and connected from another thread), and connects: TLS,
#     verified for a.test (the previous library took plain.test, the
#     older answer it had seen, and sent a.test's bytes in clear).
#   - res_query(3) with the program's own parsing (a fake name server,
#     tests/preload/py/dns_tcp_server.py): the same, a.test after
#     plain.test is TLS for a.test (before: plain.test's plain rule).
#     An attacker's answers must not teach another name than the one
#     asked: a one-label "plain\.test", a label with a NUL byte after
#     plain.test, a TCP answer whose question says plain.test, a CNAME
#     to a.test, an A record of another owner, plain.test's A record in
#     the additional section that the program takes (glue), an A record
#     of class CH: no name, denied (before h197 all but the CNAME went
#     under a rule: the other owner's under a.test's, the rest under
#     plain.test's plain rule, in clear).
#   - two names for one address, a tls rule's and a plain rule's: the
#     plain rule never takes the connection (the previous library took
#     the thread's newest name: resolving a.test then plain.test sent
#     a.test's bytes in clear; a name an attacker points at the address
#     did the same); alone, plain.test is plain.
#   - an address literal in inet_aton's forms (0x7f000001, 127.1) resolved
#     last verifies the address, not "0x7f000001" as a DNS name.
#   - the memory of answers cannot be allocated (calloc of the library
#     fails: tests/progs/preload_callocfail.c): a thread without its own
#     answers that resolved the literal 127.0.0.1 last must not take
#     another thread's a.test instead; without the table of names per
#     address no thread takes another's name (both fail closed: denied).
#     Not under AddressSanitizer (its calloc comes first).
. "$(dirname "$0")/../lib.sh"
. "$TLSSHIM_TOP/tests/preload/common.inc"
need_shim names_setup
export TLSSHIM_LOG=info

# recorder.py ADDR PORT FILE: a plain TCP listener; every byte any
# connection sends is appended to FILE; prints "listening".  One
# connection at a time, in the order they came: once the "END" line of
# a later connection is in FILE, everything before it is too.
cat >"$T/recorder.py" <<'EOP'
import socket, sys
l = socket.socket()
l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind((sys.argv[1], int(sys.argv[2])))
l.listen(16)
print("listening", flush=True)
while True:
    c, _ = l.accept()
    c.settimeout(30)
    with c:
        try:
            while True:
                b = c.recv(4096)
                if not b:
                    break
                with open(sys.argv[3], "ab") as f:
                    f.write(b)
        except OSError:
            pass
EOP
# end_line ADDR: a plain connection to ADDR:$P that sends "END".
end_line() {
	"$PY" -c 'import socket,sys; s=socket.create_connection((sys.argv[1], int(sys.argv[2])), 10); s.sendall(b"END\n"); s.close()' "$1" "$P"
}

# wild_client.py MODE PORT: a socket bound to 127.0.0.2, to 0.0.0.0:PORT.
# fastopen: sendto(MSG_FASTOPEN) of a SECRET line, blocking (without a
# cookie the kernel connects, then sends it), prints "sent" or "errno N".  connect: connect(), send a SECRET line, shut the write side,
# print what comes back (or "connect: errno N").
cat >"$T/wild_client.py" <<'EOP'
import socket, sys
mode, port = sys.argv[1], int(sys.argv[2])
s = socket.socket()
s.bind(("127.0.0.2", 0))
line = b"SECRET wildcard " + mode.encode() + b"\n"
if mode == "fastopen":
    try:
        s.sendto(line, socket.MSG_FASTOPEN, ("0.0.0.0", port))
        print("sent")
    except OSError as e:
        print("errno", e.errno)
    sys.exit(0)
s.settimeout(20)
try:
    s.connect(("0.0.0.0", port))
except OSError as e:
    print("connect: errno", e.errno)
    sys.exit(0)
s.sendall(line)
s.shutdown(socket.SHUT_WR)
got = b""
while True:
    b = s.recv(4096)
    if not b:
        break
    got += b
sys.stdout.write(got.decode(errors="replace"))
EOP

wild_policy() {
	policy "$T/wild.conf" <<EOC
rules = (
  { name = "local-plain"; direction = "connect"; port = $1; address = "127.0.0.1/32"; action = "plain"; },
  { name = "two-tls"; direction = "connect"; port = $1; address = "127.0.0.2/32";
    ca = "$CERTS/ca.crt"; server_name = "localhost"; },
  { name = "deny-rest"; direction = "connect"; port = $1; action = "deny"; }
);
EOC
}

# ---- MSG_FASTOPEN to 0.0.0.0 from a socket bound to 127.0.0.2 -------------------
name=wildcard_bound_fastopen
P=$(free_port)
wild_policy "$P"
: >"$T/$name.rec1" ; : >"$T/$name.rec2"
bg "$PY" "$T/recorder.py" 127.0.0.1 "$P" "$T/$name.rec1" >"$T/$name.r1" 2>&1
bg "$PY" "$T/recorder.py" 127.0.0.2 "$P" "$T/$name.rec2" >"$T/$name.r2" 2>&1
audit_exclude "$P" "plain recorders stand where a TLS server would: the case checks that nothing reaches them"
if ! wait_for "$T/$name.r1" '^listening' 10 || ! wait_for "$T/$name.r2" '^listening' 10; then
	fail "$name" "the recorders did not start$(show "$T/$name.r1" "$T/$name.r2")"
else
	TLSSHIM_LOG_FILE="$T/$name.log" shimmed "$PY" "$T/wild_client.py" fastopen "$P" \
		>"$T/$name.out" 2>"$T/$name.err"
	end_line 127.0.0.1; end_line 127.0.0.2
	wait_for "$T/$name.rec1" 'END' 10; wait_for "$T/$name.rec2" 'END' 10
	if grep -q SECRET "$T/$name.rec1" "$T/$name.rec2"; then
		fail "$name" "the program's bytes went in clear: $(grep -l SECRET "$T/$name.rec1" "$T/$name.rec2" | sed 's/.*rec1/to 127.0.0.1/; s/.*rec2/to 127.0.0.2/')$(show "$T/$name.out" "$T/$name.log")"
	elif [ "$(cat "$T/$name.out")" != "errno 95" ]; then
		fail "$name" "expected EOPNOTSUPP (errno 95)$(show "$T/$name.out" "$T/$name.err" "$T/$name.log")"
	elif ! grep -q '127.0.0.2:.*rule "two-tls": TCP Fast Open' "$T/$name.log"; then
		fail "$name" "the log does not name 127.0.0.2 and rule two-tls$(show "$T/$name.log")"
	else
		pass "$name"
	fi
fi

# ---- connect() to 0.0.0.0 from a socket bound to 127.0.0.2 ------------------------
name=wildcard_bound_connect
P=$(free_port)
wild_policy "$P"
: >"$T/$name.rec1"
bg "$PY" "$T/recorder.py" 127.0.0.1 "$P" "$T/$name.rec1" >"$T/$name.r1" 2>&1
bg openssl s_server -accept "127.0.0.2:$P" -naccept 1 -rev \
	-cert "$CERTS/server.crt" -key "$CERTS/server.key" >"$T/$name.srv" 2>&1
srv=$!
if ! wait_for "$T/$name.r1" '^listening' 10 || ! wait_for "$T/$name.srv" '^ACCEPT' 10; then
	fail "$name" "the servers did not start$(show "$T/$name.r1" "$T/$name.srv")"
else
	TLSSHIM_LOG_FILE="$T/$name.log" shimmed "$PY" "$T/wild_client.py" connect "$P" \
		>"$T/$name.out" 2>"$T/$name.err"
	end_line 127.0.0.1
	wait_for "$T/$name.rec1" 'END' 10
	wait_exit "$srv" 10 || true
	if grep -q SECRET "$T/$name.rec1"; then
		fail "$name" "the program's bytes went in clear to 127.0.0.1, not where its socket connects$(show "$T/$name.log")"
	elif ! grep -q "^tcennoc dracdliw TERCES" "$T/$name.out"; then
		fail "$name" "the reversed line did not come back over TLS$(show "$T/$name.out" "$T/$name.err" "$T/$name.log" "$T/$name.srv")"
	elif ! grep -q '127.0.0.2:.*rule "two-tls": connected TLS' "$T/$name.log"; then
		fail "$name" "the log does not show rule two-tls to 127.0.0.2$(show "$T/$name.log")"
	else
		pass "$name"
	fi
fi

# ---- names resolved where the library did not see them ----------------------------
# The script's own mount namespace (tests/run.sh): this /etc/hosts is its alone.
printf '127.0.0.1 localhost\n127.0.0.1 a.test plain.test\n' >"$T/hosts"
if ! mount --bind "$T/hosts" /etc/hosts 2>"$T/mount.err"; then
	fail names_hosts "cannot bind a hosts file over /etc/hosts: $(cat "$T/mount.err")"
	exit 0
fi
[ -x "$PROGS/name_client" ] || { fail names_setup "$PROGS/name_client missing (make test-build)"; exit 1; }
printf 'SECRET hello\n' >"$T/rev.in"
printf 'olleh TERCES\n' >"$T/rev.expect"

# named_case NAME tls|deny|plain STEP...: name_client's STEPs
# (tests/progs/name_client.c), then connect to the address the last gave
# (s_server listens on every address), port $P, with
# $NC_PRELOAD preloaded after the library.  Policy: a.test tls (verified),
# plain.test plain, the rest denied.  tls: PASS when the reversed line came
# back over TLS verified for a.test; deny: when rule deny-rest refused it;
# plain: when rule plain-ok took it.
NC_PRELOAD=""
named_case() {
	name=$1 want=$2; shift 2
	P=$(free_port)
	policy "$T/$name.conf" <<EOC
rules = (
  { name = "a-tls"; direction = "connect"; port = $P; host = "a.test"; ca = "$CERTS/ca.crt"; },
  { name = "plain-ok"; direction = "connect"; port = $P; host = "plain.test"; action = "plain"; },
  { name = "deny-rest"; direction = "connect"; port = $P; action = "deny"; }
);
EOC
	[ "$want" = plain ] && audit_exclude "$P" "plain by a host rule on purpose: s_server stands in for a plain server"
	bg openssl s_server -accept "$P" -naccept 1 -rev \
		-cert "$CERTS/a-test.crt" -key "$CERTS/a-test.key" >"$T/$name.srv" 2>&1
	srv=$!
	if ! wait_for "$T/$name.srv" '^ACCEPT' 10; then
		fail "$name" "s_server did not start$(show "$T/$name.srv")"; stop "$srv"; return
	fi
	TLSSHIM_LOG_FILE="$T/$name.log" timeout -k 2 $((30 * TS)) env LD_PRELOAD="$SHIM_PRELOAD $NC_PRELOAD" \
		TLSSHIM_CONFIG="$POLICY" "$PROGS/name_client" "$P" "$@" \
		<"$T/rev.in" >"$T/$name.got" 2>"$T/$name.err"
	rc=$?
	stop "$srv"
	if [ "$want" = plain ]; then
		if [ "$(lines "$T/$name.log" 'rule "plain-ok": plain TCP by policy')" -ne 1 ]; then
			fail "$name" "expected rule plain-ok to take it$(show "$T/$name.log")"
		else
			pass "$name"
		fi
	elif grep -q 'rule "plain-ok"' "$T/$name.log"; then
		fail "$name" "a.test's bytes went under rule plain-ok, in clear$(show "$T/$name.log")"
	elif [ "$want" = deny ]; then
		if ! refused_clean "$name"; then
			:
		elif ! grep -q 'rule "deny-rest": connection refused by policy' "$T/$name.log"; then
			fail "$name" "expected rule deny-rest to refuse it$(show "$T/$name.log")"
		else
			pass "$name"
		fi
	else
		rev_verified "$name" "$rc" 'rule "a-tls": connected TLS.* verified for "a.test"' \
			"the log does not show rule a-tls verifying a.test"
	fi
}
named_case names_gai_latest tls gai:plain.test gai:a.test
named_case names_gai_a_wait tls gai:plain.test gaiaw:a.test
named_case names_gai_a_nowait tls gai:plain.test gaian:a.test
named_case names_gai_a_other_thread tls gai:plain.test gaiat:a.test
# Two names for one address, a.test's rule tls and plain.test's plain: the
# library cannot tell which one the program connects for, so the plain
# rule does not take it (no name: denied), whichever came last; the tls
# rule still takes a.test's.  plain.test alone is plain.
named_case names_two_names_no_plain deny gai:a.test gai:plain.test
named_case names_two_names_other_thread_no_plain deny gait:a.test gai:plain.test
named_case names_plain_only_name plain gai:plain.test
# res_query and the program's own parsing of its answer: a.test (the fake
# name server's answer: 127.0.0.9 over TCP, or 127.0.0.8 over UDP) after
# plain.test (the same addresses in /etc/hosts) is TLS for a.test.
if fake_resolver names_res_query "$T"; then
	printf '127.0.0.9 plain.test\n127.0.0.8 plain.test\n' >>"$T/hosts"
	named_case names_res_query tls gai:plain.test resq:a.test
	# An attacker who answers the query (the fake name server's magic
	# names): the name learned must be the one the program asked, label
	# for label.  "plain\.test" is one label holding a dot, not
	# plain.test (before: learned as plain.test, the plain rule took it,
	# in clear); a label holding a NUL byte is no host name, but its
	# address is still this thread's newest answer (before: nothing
	# learned, plain.test's older answer for 127.0.0.9 stayed the newest:
	# plain); over TCP glibc checks only an answer's ID, so an answer
	# whose question says plain.test for swapq.test must not teach
	# plain.test (before: plain); a CNAME to a.test teaches the name asked,
	# not a.test; an A record the answer gives plain.test, not the name
	# asked (A.TEST), is no answer for A.TEST, though the program takes it
	# (before: learned as A.TEST, rule a-tls).
	named_case names_res_query_dot_label deny 'resq:plain\.test'
	named_case names_res_query_nul_label deny gai:plain.test 'resq:a\000b.test'
	named_case names_res_query_swapped_question deny resq:swapq.test
	named_case names_res_query_cname_target deny resq:cname.test
	named_case names_res_query_other_owner deny resq:A.TEST
	# The additional section's A record for plain.test (glue), which the
	# program takes for glue.test's server: no name, but the thread's
	# newest answer for the address (before: nothing learned from it,
	# plain.test's older answer stayed the newest: plain, in clear).
	named_case names_res_query_glue deny gai:plain.test resqx:glue.test
	# An A record of class CH, which the program takes as well: the same
	# (before: nothing learned, plain).
	named_case names_res_query_chaos deny gai:plain.test resq:chaos.test
	# res_search of "a" with the search list "test" asks a.test: its answer
	# teaches a.test (a name of the search list counts as asked).
	printf 'search test\n' >"$T/resolv.conf"
	named_case names_res_search_domain tls gai:plain.test ress:a
fi

# ---- address literals in inet_aton's forms -----------------------------------------
# getaddrinfo("0x7f000001") is 127.0.0.1 without a look-up, as "127.1" is:
# resolved last, it is a literal (the address is verified: server.crt has
# IP:127.0.0.1), not a host name "0x7f000001" (the previous library
# verified that as a DNS name: refused).  Rule: TLS by port, no host.
literal_case() {
	name=$1; shift
	P=$(free_port)
	policy "$T/$name.conf" <<EOC
rules = ( { name = "by-port"; direction = "connect"; port = $P; ca = "$CERTS/ca.crt"; } );
EOC
	bg openssl s_server -accept "$P" -naccept 1 -rev \
		-cert "$CERTS/server.crt" -key "$CERTS/server.key" >"$T/$name.srv" 2>&1
	srv=$!
	if ! wait_for "$T/$name.srv" '^ACCEPT' 10; then
		fail "$name" "s_server did not start$(show "$T/$name.srv")"; stop "$srv"; return
	fi
	TLSSHIM_LOG_FILE="$T/$name.log" shimmed "$PROGS/name_client" "$P" "$@" \
		<"$T/rev.in" >"$T/$name.got" 2>"$T/$name.err"
	rc=$?
	stop "$srv"
	rev_verified "$name" "$rc" 'rule "by-port": connected TLS.* verified for "127.0.0.1"' \
		"the log does not show 127.0.0.1 verified"
}
literal_case names_literal_hex gai:a.test gai:0x7f000001
literal_case names_literal_short gai:a.test gai:127.1

# ---- the memory of answers cannot be had ----------------------------------------
# Another thread resolved a.test; this one resolved the literal 127.0.0.1
# last, so its connection has no name (denied).  Where this thread's
# memory of answers cannot be allocated (calloc of the library fails,
# tests/progs/preload_callocfail.c), it must not take another thread's
# name instead: it gets none from then on.  Where the table of names per
# address cannot be allocated, a thread that resolved nothing gets no name
# from another thread (without the fault: a.test, TLS).
named_case names_literal_last deny gait:a.test gai:127.0.0.1
named_case names_other_thread_only tls gait:a.test
if asan_build; then
	# (AddressSanitizer's calloc answers before any preload's)
	pass "names_no_memory: not testable under AddressSanitizer (its calloc comes before the fault injector's)"
else
	NC_PRELOAD="$PROGS/preload_callocfail.so"
	# this thread's answers: 2-4 KiB (shim/resolve.c, struct mine)
	export TLSSHIM_TEST_CALLOCFAIL=2048-4095
	named_case names_no_memory_thread deny gait:a.test gai:127.0.0.1
	if ! grep -q "no memory for this thread's host name answers" "$T/names_no_memory_thread.log"; then
		fail names_no_memory_thread_premise "the allocation did not fail$(show "$T/names_no_memory_thread.log")"
	fi
	# the table of names per address: 1024 slots of 16 bytes at first
	export TLSSHIM_TEST_CALLOCFAIL=16384
	named_case names_no_memory_table deny gait:a.test
	if ! grep -q "the table of names per address cannot grow" "$T/names_no_memory_table.log"; then
		fail names_no_memory_table_premise "the allocation did not fail$(show "$T/names_no_memory_table.log")"
	fi
	unset TLSSHIM_TEST_CALLOCFAIL
	NC_PRELOAD=""
fi
