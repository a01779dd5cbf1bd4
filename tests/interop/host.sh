#!/bin/sh
# tests/interop/host.sh — connect rules that match by the host name the
# program resolved (`host`; tlsshim.conf(5)), against openssl s_server.
#   The shimmed client resolves its names with getaddrinfo through an
#   /etc/hosts of the test's own (a private mount namespace: unshare -m
#   and a bind mount), where a.test, x.a.test and db.internal are
#   127.0.0.1.  Policy: a TLS rule with `host`, then a deny rule for the
#   same port.
#   - a.test (exact, and A.TEST: case-blind) matches: TLS to s_server,
#     verified for the resolved name, the reversed line comes back;
#   - the same address by IP literal does not match the host rule: it
#     falls to the deny rule (connect refused, log line names the deny
#     rule, s_server saw nothing);
#   - "*.test" matches a.test; its near miss x.a.test (two labels) falls
#     to the deny rule;
#   - host + address together: both must match;
#   - two names for 127.0.0.1 resolved by one thread (a python3 client
#     that connects by address afterwards): the latest one decides; a
#     literal resolved last means no name;
#   - names resolved by another thread (no hints: one answer per socket
#     type): one name is the name; two names for the address are no name,
#     also after 22 other names (66 answers) pushed the first one out of
#     the shim's ring of recent answers (the previous library then took
#     the second name for the only one);
#   - a name with an empty label the program resolved (".test", an
#     /etc/hosts alias) is no name: OpenSSL takes ".test" for any name
#     under test (the previous library accepted a.test's certificate);
#     also when the thread resolved a.test before it (main at 041fddb
#     took that older name), and for another thread it is a second name;
#   - tlsshim --check refuses host on an accept rule and bad names, and a
#     server_name with "*" or an empty label.
. "$(dirname "$0")/../lib.sh"
. "$TLSSHIM_TOP/tests/preload/common.inc"
need_shim host_setup
command -v openssl >/dev/null || { fail host_setup "openssl not installed"; exit 1; }
export TLSSHIM_LOG=info

{
	printf '127.0.0.1 localhost\n127.0.0.1 a.test x.a.test db.internal .test\n'
	i=1
	while [ "$i" -le 22 ]; do echo "127.0.1.$i f$i.test"; i=$((i + 1)); done
} >"$T/hosts"
# in_hosts CMD...: CMD with $T/hosts as /etc/hosts (a private mount
# namespace: nothing outside this command sees it).
in_hosts() {
	unshare -m sh -c 'mount --bind "$1" /etc/hosts && shift && exec "$@"' sh "$T/hosts" "$@"
}
if ! in_hosts getent hosts x.a.test >"$T/getent" 2>&1 || ! grep -q '^127.0.0.1' "$T/getent"; then
	fail host_setup "cannot give the client an /etc/hosts of its own (unshare -m, mount --bind)$(show "$T/getent")"
	exit 1
fi

# python3 resolve_connect.py PORT [-t] NAME...: getaddrinfo each NAME in
# turn (as bytes: no IDNA check, ".test" goes to the resolver) (one
# thread; with -t another thread, without hints), then connect to 127.0.0.1:PORT by address (CPython parses
# a dotted quad itself: no resolver call), send stdin, print the answer;
# "client: connect: <reason>" and exit 2 when connect fails.
cat >"$T/resolve_connect.py" <<'EOF'
import os, socket, sys, threading
port = int(sys.argv[1])
if sys.argv[2] == "-t":
    t = threading.Thread(target=lambda: [socket.getaddrinfo(n.encode(), port) for n in sys.argv[3:]])
    t.start()
    t.join()
else:
    for n in sys.argv[2:]:
        socket.getaddrinfo(n.encode(), port, socket.AF_INET, socket.SOCK_STREAM)
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
try:
    s.connect(("127.0.0.1", port))
except OSError as e:
    sys.stderr.write("client: connect: %s\n" % os.strerror(e.errno))
    sys.exit(2)
s.sendall(sys.stdin.buffer.read())
s.shutdown(socket.SHUT_WR)
while True:
    b = s.recv(4096)
    if not b:
        break
    sys.stdout.buffer.write(b)
EOF

host_policy() {
	policy "$T/p.conf" <<EOF
rules = (
  { name = "by-host"; direction = "connect"; port = $1; ca = "$CERTS/ca.crt"; $2 },
  { name = "deny-rest"; direction = "connect"; port = $1; action = "deny"; }
);
EOF
}
printf 'SECRET hello\n' >"$T/rev.in"
printf 'olleh TERCES\n' >"$T/rev.expect"

# host_case NAME tls|deny RULE-KEYS CLIENT-HOST [VERIFIED-NAME]
host_case() {
	name=$1 want=$2 keys=$3 chost=$4 vname=${5:-$4}
	P=$(free_port)
	host_policy "$P" "$keys"
	export TLSSHIM_LOG_FILE="$T/$name.log"
	if [ "$want" = tls ]; then rev=-rev; else rev=""; fi
	wait_for "$T/$name.done" '^done' 30 |
		openssl s_server -accept "127.0.0.1:$P" -naccept 1 $rev \
			-cert "$CERTS/a-test.crt" -key "$CERTS/a-test.key" >"$T/$name.srv" 2>&1 &
	srv=$!
	if ! wait_for "$T/$name.srv" '^ACCEPT' 10; then
		fail "$name" "s_server did not start$(show "$T/$name.srv")"; echo "done" >"$T/$name.done"; return
	fi
	case $chost in
	py:*) # resolve the names, in this order, then connect by address
		# shellcheck disable=SC2046
		set -- python3 "$T/resolve_connect.py" "$P" $(echo "${chost#py:}" | tr , ' ') ;;
	pyt:*) # the same, the names resolved by another thread
		# shellcheck disable=SC2046
		set -- python3 "$T/resolve_connect.py" "$P" -t $(echo "${chost#pyt:}" | tr , ' ') ;;
	*) set -- "$PROGS/client" "$chost" "$P" ;;
	esac
	in_hosts timeout -k 2 $((30 * TS)) env LD_PRELOAD="$SHIM_PRELOAD" TLSSHIM_CONFIG="$POLICY" \
		"$@" <"$T/rev.in" >"$T/$name.got" 2>"$T/$name.err"
	rc=$?
	echo "done" >"$T/$name.done"
	if [ "$want" = tls ]; then
		wait_exit "$srv" 10 || true
		rev_verified "$name" "$rc" "rule \"by-host\": connected TLS.* verified for \"$vname\"" \
			"the log does not show rule by-host verifying \"$vname\""
		return
	fi
	kill "$srv" 2>/dev/null; wait_exit "$srv" 10 || true
	if ! refused_clean "$name"; then
		:
	elif [ "$(lines "$T/$name.log" 'rule "deny-rest": connection refused by policy \(action = "deny"\)')" -ne 1 ]; then
		fail "$name" "expected one deny line of rule deny-rest$(show "$T/$name.log")"
	elif grep -q 'by-host' "$T/$name.log"; then
		fail "$name" "rule by-host matched$(show "$T/$name.log")"
	else
		pass "$name"
	fi
}

host_case host_exact_match tls 'host = "a.test";' a.test
host_case host_exact_case_blind tls 'host = "a.test";' A.TEST
host_case host_list_match tls 'host = ["db.example", "A.Test"];' a.test
host_case host_ip_literal_no_match deny 'host = "a.test";' 127.0.0.1
host_case host_other_name_no_match deny 'host = "a.test";' db.internal
host_case host_wildcard_match tls 'host = "*.test";' a.test
host_case host_wildcard_near_miss deny 'host = "*.test";' x.a.test
host_case host_and_address_match tls 'host = "a.test"; address = "127.0.0.0/8";' a.test
host_case host_and_address_miss deny 'host = "a.test"; address = "10.0.0.0/8";' a.test
# two names for one address: the name this thread resolved last is the one
host_case host_two_names_latest_matches tls 'host = "a.test";' py:db.internal,a.test a.test
host_case host_two_names_latest_other deny 'host = "a.test";' py:a.test,db.internal
host_case host_resolved_literal_last deny 'host = "a.test";' py:a.test,127.0.0.1
# names another thread resolved: one name for the address is the name; two
# are none, however many other answers came between them
fillers=$(i=1; while [ "$i" -le 22 ]; do printf 'f%s.test,' "$i"; i=$((i + 1)); done)
host_case host_thread_one_name tls 'host = "a.test";' "pyt:${fillers}a.test" a.test
host_case host_thread_two_names deny 'host = "a.test";' pyt:db.internal,a.test
host_case host_thread_two_names_far_apart deny 'host = "a.test";' "pyt:db.internal,${fillers}a.test"
# many addresses resolved before (one name with 16,384 of them, as a
# hostile DNS answer would give): the one name of the address is still
# known (the table of names per address grows; a fixed one of 4,096 slots
# lost it from the first few hundred addresses on)
cp "$T/hosts" "$T/hosts.orig"
awk 'BEGIN { for (i = 0; i < 16384; i++) printf "127.3.%d.%d many.test\n", i / 256, i % 256 }' >>"$T/hosts"
host_case host_thread_name_after_many_addresses tls 'host = "a.test";' pyt:many.test,a.test a.test
cp "$T/hosts.orig" "$T/hosts"
# a name with an empty label resolved last is no name: not the name this
# thread resolved before it (the previous library took "a.test"), and for
# another thread a second name for the address
host_case host_empty_label_last deny 'host = "a.test";' py:a.test,.test
host_case host_thread_empty_label_second deny 'host = "a.test";' pyt:.test,a.test
# server_name still overrides the matched name as the name verified
host_case host_server_name_wins tls 'host = "db.internal"; server_name = "a.test";' db.internal a.test

# A rule without host, the client resolves ".test": no name, the address is
# verified (a-test.crt has no IP subjectAltName: refused).
name=host_empty_label_not_verified
P=$(free_port)
policy "$T/p.conf" <<EOF
rules = ( { name = "by-port"; direction = "connect"; port = $P; ca = "$CERTS/ca.crt"; } );
EOF
export TLSSHIM_LOG_FILE="$T/$name.log"
wait_for "$T/$name.done" '^done' 30 |
	openssl s_server -accept "127.0.0.1:$P" -naccept 1 -rev \
		-cert "$CERTS/a-test.crt" -key "$CERTS/a-test.key" >"$T/$name.srv" 2>&1 &
srv=$!
if wait_for "$T/$name.srv" '^ACCEPT' 10; then
	in_hosts timeout -k 2 $((30 * TS)) env LD_PRELOAD="$SHIM_PRELOAD" TLSSHIM_CONFIG="$POLICY" \
		"$PROGS/client" .test "$P" <"$T/rev.in" >"$T/$name.got" 2>"$T/$name.err"
	rc=$?
	echo done >"$T/$name.done"
	kill "$srv" 2>/dev/null; wait_exit "$srv" 10 || true
	if [ "$rc" -ne 2 ] || [ -s "$T/$name.got" ]; then
		fail "$name" "expected connect() refused; exit $rc$(show "$T/$name.got" "$T/$name.err" "$T/$name.log")"
	elif ! grep -q 'rule "by-port": certificate verification failed: IP address mismatch (expected "127.0.0.1")' "$T/$name.log"; then
		fail "$name" "expected the address verified$(show "$T/$name.log")"
	else
		pass "$name"
	fi
else
	fail "$name" "s_server did not start$(show "$T/$name.srv")"; echo done >"$T/$name.done"
fi

# ---- tlsshim --check -------------------------------------------------------------
check_case() {
	name=$1 want=$2
	cat >"$T/$name.conf"
	if "$TLSSHIM_LAUNCHER" --check "$T/$name.conf" >"$T/$name.chk" 2>&1; then
		fail "$name" "--check accepted it"
	elif ! grep -q -E -e "$want" "$T/$name.chk"; then
		fail "$name" "expected '$want'$(show "$T/$name.chk")"
	else
		pass "$name"
	fi
}
check_case host_check_accept "$T/host_check_accept.conf:3: .*\"host\" applies only to connect rules" <<EOF
rules = ( { direction = "accept"; port = 1;
  cert = "$CERTS/a-test.crt"; key = "$CERTS/a-test.key";
  host = "a.test"; } );
EOF
for bad in 'a..test' '10.0.0.1' '*a.test' 'a.*.test' '-a.test' 'a test' '*.' ''; do
	n=host_check_bad_$(printf '%s' "$bad" | od -An -tx1 | tr -d ' \n')
	check_case "$n" "$T/$n.conf:2: .*\"host\" .*(is not a host name|must not be empty)" <<EOF
rules = ( { direction = "connect"; port = 1;
  host = ["ok.test", "$bad"]; } );
EOF
done
for bad in '.a.test' '*.a.test' 'a..test' '*'; do
	n=host_check_server_name_$(printf '%s' "$bad" | od -An -tx1 | tr -d ' \n')
	check_case "$n" "$T/$n.conf:2: .*\"server_name\" .*is not a DNS name or an IP address" <<EOF
rules = ( { direction = "connect"; port = 1;
  server_name = "$bad"; } );
EOF
done
