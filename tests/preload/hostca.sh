#!/bin/sh
# tests/preload/hostca.sh — an attacker's look at host rules with
# different trust on one address: rule-a (host a.test: CA-A, client
# certificate A) and rule-b (host b.test: CA-B, client certificate B),
# both names 127.0.0.1 in the test's own /etc/hosts, then a deny rule.
# The attacker controls CA-B (or holds certificate B, a more privileged
# identity) and points b.test at a.test's address (or the program itself
# resolves both, virtual hosts).  A connection the program makes for
# a.test must never be verified against CA-B, never present client
# certificate B, never send b.test as its SNI, never be offered a session
# made for b.test; where the library cannot tell the name (no name, two
# names), the host rules do not match and the deny rule refuses.
#
# The certificates are made here: CA-A and CA-B, a.test's (CA-A), b.test's
# (CA-B), an a.test certificate of CA-B (the attacker's, for a.test
# itself), client certificates client-a (CA-A) and client-b (CA-B).  One
# server (tests/preload/py/hostca_server.py) serves every case, a
# certificate per port: PA a.test (CA-A), PB b.test (CA-B), PX a.test
# (CA-B), PB12 b.test (CA-B, TLS 1.2 at most); it records, per
# connection, the ClientHello's SNI and whether it offered a session
# (pre_shared_key, SessionTicket) as read off the wire, the client
# certificate's CN, whether it resumed, and anything that came in clear.
# The shimmed client is tests/progs/name_client (its steps resolve names
# in the ways a program may: threads, fork, exec, getaddrinfo_a,
# gethostbyname_r, res_query; then it connects by address).
#   - T1 resolves a.test, T2 b.test, T1 connects: rule-a (CA-A): the
#     server with b.test's certificate (CA-B) and the one with CA-B's
#     a.test certificate are refused, a.test's (CA-A) accepted, client-a;
#   - T1 resolves a.test then b.test: rule-b (its newest), client-b;
#   - a thread that resolved nothing, both names resolved by others: no
#     name, denied; also after fork (the forking thread resolved nothing)
#     and after exec (a name resolved before exec is not known after it);
#   - a name resolved in a forked child is not the parent's: the parent's
#     own (or its only) name decides; the child after fork keeps the
#     forking thread's names;
#   - getaddrinfo_a (GAI_WAIT, GAI_NOWAIT), gethostbyname_r, res_query
#     (the fake name server of tests/preload/py/dns_tcp_server.py): their
#     answers are the thread's newest;
#   - gai_error() asked again about a getaddrinfo_a request that ended
#     before the thread resolved a.test is no new answer: rule-a (main
#     until d70b821 took b.test again: rule-b, CA-B, client-b); the
#     request made again is a new one: rule-b;
#   - an address literal resolved after the names: no name, denied;
#   - session resumption: a session made for b.test (rule-b, CA-B) is not
#     offered on the next connection, for a.test, to the same address and
#     port (TLS 1.3 and 1.2), which the b.test server's certificate must
#     then fail; nor one of a.test's for b.test; b.test after b.test
#     resumes (the premise: the cache works).
. "$(dirname "$0")/../lib.sh"
. "$TLSSHIM_TOP/tests/preload/common.inc"
need_shim hostca_setup
[ -x "$PROGS/name_client" ] ||
	{ fail hostca_setup "$PROGS/name_client missing (make test-build)"; exit 1; }
export TLSSHIM_LOG=info

# ---- the certificates -----------------------------------------------------------
D=$T/pki
mkdir -p "$D"
cat >"$D/ext.cnf" <<'EOF'
[ ca ]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[ srv_a ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:a.test
[ srv_b ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:b.test
[ srv_d ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:d.test
[ srv_svc ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:svc.test
[ cli ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
EOF
# mkca NAME CN; mkleaf NAME CN CA EXT
mkca() {
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
		-subj "/O=tlsshim hostca/CN=$2" -keyout "$D/$1.key" -out "$D/$1.crt" \
		-config "$D/ext.cnf" -extensions ca 2>>"$D/log"
}
mkleaf() {
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-subj "/O=tlsshim hostca/CN=$2" -keyout "$D/$1.key" -out "$D/$1.csr" 2>>"$D/log" &&
	openssl x509 -req -in "$D/$1.csr" -CA "$D/$3.crt" -CAkey "$D/$3.key" \
		-set_serial "0x$(openssl rand -hex 8)" -days 30 -extfile "$D/ext.cnf" -extensions "$4" \
		-out "$D/$1.crt" 2>>"$D/log"
}
if ! { mkca ca-a "hostca CA-A" && mkca ca-b "hostca CA-B" &&
	mkleaf srv-a a.test ca-a srv_a && mkleaf srv-b b.test ca-b srv_b &&
	mkleaf evil-a a.test ca-b srv_a && mkleaf srv-d d.test ca-a srv_d &&
	mkleaf svc-b svc.test ca-b srv_svc &&
	mkleaf cli-a client-a ca-a cli && mkleaf cli-b client-b ca-b cli; }; then
	fail hostca_setup "cannot make the certificates$(show "$D/log")"; exit 1
fi
chmod 600 "$D"/*.key
cat "$D/ca-a.crt" "$D/ca-b.crt" >"$D/clients.crt"

# ---- names: /etc/hosts of this script's own mount namespace ----------------------
# 127.0.0.9 (and 127.0.0.8, 127.0.0.7) too: the fake name server's
# answers to res_query (dns_tcp_server.py), so that a name from the file
# and one from res_query share an address.
printf '127.0.0.1 localhost\n127.0.0.1 a.test b.test c.test d.test\n' >"$T/hosts"
printf '127.0.0.9 a.test b.test\n127.0.0.8 a.test b.test\n127.0.0.7 a.test b.test\n' >>"$T/hosts"
if ! mount --bind "$T/hosts" /etc/hosts 2>"$T/mount.err"; then
	fail hostca_setup "cannot bind a hosts file over /etc/hosts: $(cat "$T/mount.err")"
	exit 1
fi

# ---- the server and the policy ----------------------------------------------------
PA=$(free_port) PB=$(free_port) PX=$(free_port) PB12=$(free_port) PM=$(free_port)
PD=$(free_port) PS=$(free_port)
ST=$T/server.st
: >"$ST"
bg "$PY" "$TLSSHIM_TOP/tests/preload/py/hostca_server.py" "$ST" "$D/clients.crt" "$PM" \
	"$PA:$D/srv-a.crt:$D/srv-a.key" "$PB:$D/srv-b.crt:$D/srv-b.key" \
	"$PX:$D/evil-a.crt:$D/evil-a.key" "$PB12:$D/srv-b.crt:$D/srv-b.key:tls12" \
	"$PD:$D/srv-d.crt:$D/srv-d.key" "$PS:$D/svc-b.crt:$D/svc-b.key" \
	>"$T/server.out" 2>"$T/server.err"
if ! wait_for "$T/server.out" '^ready' 20; then
	fail hostca_setup "the server did not start$(show "$T/server.err")"; exit 1
fi
PORTS="$PA, $PB, $PX, $PB12"
policy "$T/p.conf" <<EOC
rules = (
  { name = "svc-a"; direction = "connect"; port = $PS; host = "a.test"; server_name = "svc.test";
    ca = "$D/ca-a.crt"; cert = "$D/cli-a.crt"; key = "$D/cli-a.key"; },
  { name = "svc-b"; direction = "connect"; port = $PS; host = "b.test"; server_name = "svc.test";
    ca = "$D/ca-b.crt"; cert = "$D/cli-b.crt"; key = "$D/cli-b.key"; },
  { name = "rule-cd"; direction = "connect"; port = $PD; host = ["c.test", "d.test"];
    ca = "$D/ca-a.crt"; cert = "$D/cli-a.crt"; key = "$D/cli-a.key"; },
  { name = "rule-a"; direction = "connect"; port = [$PORTS]; host = "a.test";
    ca = "$D/ca-a.crt"; cert = "$D/cli-a.crt"; key = "$D/cli-a.key"; },
  { name = "rule-b"; direction = "connect"; port = [$PORTS]; host = "b.test";
    ca = "$D/ca-b.crt"; cert = "$D/cli-b.crt"; key = "$D/cli-b.key"; },
  { name = "deny-rest"; direction = "connect"; port = [$PORTS, $PD, $PS]; action = "deny"; }
);
EOC
printf 'SECRET hello\n' >"$T/rev.in"
printf 'olleh TERCES\n' >"$T/rev.expect"
HELLO='data=SECRET hello$'

MARK='import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), 10)
s.sendall(sys.argv[2].encode() + b"\n")'
# settle NAME: the server's lines of case NAME's connections in
# $T/NAME.st (those before its "end NAME": the server serves one
# connection at a time, in order, and the case's client has ended).
settle() {
	if ! "$PY" -c "$MARK" "$PM" "$1" 2>"$T/$1.mark" || ! wait_for "$ST" "^end $1\$" 20; then
		echo "(the server did not mark the end of the case)$(show "$T/$1.mark" "$T/server.err")" \
			>"$T/$1.st"
		return 1
	fi
	awk -v n="$1" '/^end / { if ($0 == "end " n) { printf "%s", buf; exit } buf = ""; next }
		{ buf = buf $0 "\n" }' "$ST" >"$T/$1.st"
}

# run NAME PORT STEPS...: the shimmed name_client (rev.in on its standard
# input) to PORT after STEPS; $rc its exit; NAME.got, NAME.err, NAME.log,
# NAME.st (the server's lines).
run() {
	_rn=$1 _rp=$2
	shift 2
	TLSSHIM_LOG_FILE="$T/$_rn.log" shimmed "$PROGS/name_client" "$_rp" "$@" \
		<"$T/rev.in" >"$T/$_rn.got" 2>"$T/$_rn.err"
	rc=$?
	settle "$_rn"
}

# flunk NAME WORDS...: a FAIL line for NAME, its reason the WORDS.
flunk() { _fl=$1; shift; fail "$_fl" "$*"; }

# seen NAME: what case NAME's client printed and logged, for a FAIL line.
seen() { show "$T/$1.got" "$T/$1.err" "$T/$1.log"; }

# leak NAME: a FAIL for NAME (and 0) when anything came to the server in
# clear; else 1.
leak() {
	if grep -q '^plain ' "$T/$1.st"; then
		fail "$1" "bytes in clear reached the server$(show "$T/$1.st" "$T/$1.log")"
		return 0
	fi
	return 1
}

# case NAME PORT WANT STEPS...: WANT is
#   a-ok, b-ok        rule-a (rule-b) verified a.test (b.test): the reversed
#                     line came back; the server saw one connection, SNI
#                     a.test (b.test), client certificate client-a
#                     (client-b), the program's line
#   a-refused, b-refused  rule-a (rule-b) took it and the handshake failed
#                     on the server's certificate: connect() failed, the
#                     server saw one connection, SNI a.test (b.test), that
#                     failed its handshake; no client certificate crossed
#   deny              rule deny-rest refused it: the server saw nothing
hc() {
	name=$1 port=$2 want=$3
	shift 3
	run "$name" "$port" "$@" || { fail "$name" "$(cat "$T/$name.st")"; return; }
	leak "$name" && return
	case $want in
	a-ok|b-ok)
		h=${want%-ok}; r=rule-$h
		if [ "$rc" -ne 0 ] || ! cmp -s "$T/rev.expect" "$T/$name.got"; then
			fail "$name" "client exit $rc, reversed text not received$(seen "$name")"
		elif ! grep -q "rule \"$r\": connected TLS.* verified for \"$h.test\"" "$T/$name.log"; then
			fail "$name" "the log does not show rule $r verifying $h.test$(show "$T/$name.log")"
		elif [ "$(lines "$T/$name.st" .)" -ne 1 ] ||
			! grep -q "^conn port=$port sni=$h.test psk=0 ticket=0 cn=client-$h reused=0 $HELLO" \
				"$T/$name.st"; then
			flunk "$name" "the server did not see one connection for $h.test with client-$h" \
				"$(show "$T/$name.st")"
		else
			pass "$name"
		fi ;;
	a-refused|b-refused)
		h=${want%-refused}; r=rule-$h
		if [ "$rc" -ne 2 ] || [ -s "$T/$name.got" ]; then
			fail "$name" "expected connect() to fail, client exit $rc$(seen "$name")"
		elif ! grep -q "rule \"$r\": .*certificate verification failed" "$T/$name.log"; then
			flunk "$name" "the log does not show rule $r refusing the server's certificate" \
				"$(show "$T/$name.log")"
		elif grep -q 'connected TLS' "$T/$name.log"; then
			fail "$name" "a connection was made$(show "$T/$name.log")"
		elif [ "$(lines "$T/$name.st" .)" -ne 1 ] ||
			! grep -q "^conn port=$port sni=$h.test psk=0 ticket=0 hs-error=" "$T/$name.st"; then
			fail "$name" "the server did not see one failed handshake for $h.test$(show "$T/$name.st")"
		else
			pass "$name"
		fi ;;
	deny)
		if [ "$rc" -ne 2 ] || [ -s "$T/$name.got" ] ||
			[ "$(cat "$T/$name.err")" != "client: connect: Connection refused" ]; then
			fail "$name" "expected connect() refused, client exit $rc$(seen "$name")"
		elif ! grep -q 'rule "deny-rest": connection refused by policy' "$T/$name.log" ||
			grep -q 'rule "rule-[ab]"' "$T/$name.log"; then
			fail "$name" "expected rule deny-rest, and no host rule, to take it$(show "$T/$name.log")"
		elif [ -s "$T/$name.st" ]; then
			fail "$name" "the server saw a connection$(show "$T/$name.st")"
		else
			pass "$name"
		fi ;;
	esac
}

# ---- threads --------------------------------------------------------------------
# T1 (main) resolves a.test, T2 b.test, T1 connects: rule-a, CA-A.
hc hostca_other_thread_b_server    "$PB" a-refused gai:a.test gait:b.test
hc hostca_other_thread_cab_a_cert  "$PX" a-refused gai:a.test gait:b.test
hc hostca_other_thread_a_server    "$PA" a-ok      gai:a.test gait:b.test
hc hostca_other_thread_b_first     "$PA" a-ok      gait:b.test gai:a.test
# the same thread, a.test then b.test: its newest, rule-b, CA-B, client-b
hc hostca_newest_b                 "$PB" b-ok      gai:a.test gai:b.test
hc hostca_newest_b_a_server        "$PA" b-refused gai:a.test gai:b.test
hc hostca_newest_a                 "$PA" a-ok      gai:b.test gai:a.test
# a thread that resolved nothing: two names, neither
hc hostca_resolved_nothing         "$PA" deny      gait:a.test gait:b.test
hc hostca_resolved_nothing_b       "$PB" deny      gait:b.test gait:a.test
# one name resolved by another thread: that one
hc hostca_other_thread_only_b      "$PB" b-ok      gait:b.test

# ---- fork and exec --------------------------------------------------------------
# resolved in a forked child: not the parent's (its own, or its only, name)
hc hostca_fork_child_resolved      "$PB" a-refused gai:a.test forkgai:b.test
hc hostca_fork_child_resolved_only "$PA" a-ok      gait:a.test forkgai:b.test
hc hostca_fork_child_resolved_none "$PB" deny      forkgai:b.test
# resolved in the parent, connected in the child: the forking thread's
hc hostca_fork_parent_resolved     "$PA" a-ok      gait:b.test gai:a.test fork:
hc hostca_fork_parent_resolved_b   "$PA" b-refused gai:a.test gait:a.test gai:b.test fork:
hc hostca_fork_parent_ambiguous    "$PA" deny      gait:a.test gait:b.test fork:
# resolved before exec: not known after it
hc hostca_exec_forgets             "$PA" deny      gai:a.test exec:
hc hostca_exec_forgets_b           "$PA" a-ok      gait:b.test exec: gait:a.test

# ---- the other ways of resolving ---------------------------------------------------
hc hostca_gai_a_wait               "$PB" a-refused gait:b.test gaiaw:a.test
hc hostca_gai_a_wait_ok            "$PA" a-ok      gait:b.test gaiaw:a.test
hc hostca_gai_a_nowait_b           "$PB" b-ok      gai:a.test gaian:b.test
hc hostca_gai_a_other_thread       "$PA" a-ok      gait:b.test gaiat:a.test
# gai_error() asked again about a request that ended before a.test was
# resolved is no new answer (main at d70b821 took b.test again: rule-b,
# CA-B and client-b for the connection the program made after resolving
# a.test); a request made again is a new answer (the old one's memory
# freed first, so the new may have its addresses)
hc hostca_gai_error_again          "$PB" a-refused gait:a.test gaian:b.test gai:a.test gaie:
hc hostca_gai_error_again_ok       "$PA" a-ok      gait:a.test gaian:b.test gai:a.test gaie:
hc hostca_gai_a_again_new          "$PB" b-ok      gaian:b.test gai:a.test gaian:b.test gaie:
hc hostca_ghbr                     "$PB" a-refused gait:b.test ghbr:a.test
hc hostca_ghbr_ok                  "$PA" a-ok      gai:b.test ghbr:a.test
hc hostca_ghbr_b                   "$PB" b-ok      gai:a.test ghbr:b.test
# an address literal after the names: no name
hc hostca_literal_last             "$PA" deny      gai:a.test gait:b.test gai:127.0.0.1
hc hostca_literal_last_own         "$PA" deny      gait:a.test gai:a.test gai:127.0.0.1
hc hostca_addr_only                "$PA" deny      gait:a.test gait:b.test addr:127.0.0.1
if fake_resolver hostca_res_query "$T"; then
	# the fake name server answers 127.0.0.9 (127.0.0.8 over UDP)
	hc hostca_res_query            "$PB" a-refused gait:b.test resq:a.test
	hc hostca_res_query_ok         "$PA" a-ok      gait:b.test resq:a.test
	hc hostca_res_query_b          "$PB" b-ok      gai:a.test resq:b.test
	hc hostca_res_query_nothing    "$PA" deny      gait:a.test resqt:b.test addr:127.0.0.9
	hc hostca_res_query_literal    "$PA" deny      gai:b.test resq:a.test gai:127.0.0.9
fi

# ---- session resumption ------------------------------------------------------------
# resume NAME PORT FIRST SECOND WANT [RULE1 RULE2 CN1 CN2 SNI]: one
# process connects for FIRST.test (its session cached), then resolves
# SECOND.test and connects to the same address and port.  WANT resumed:
# the second connection offered the first's session and resumed it (the
# premise of the others: the cache works); refused: the second offered
# no session (no pre_shared_key, no SessionTicket in its ClientHello) and
# failed on the server's certificate.  The rules (default rule-FIRST and
# rule-SECOND), the client certificates' CNs (client-FIRST,
# client-SECOND) and the SNI of the second (SECOND.test); the first's
# SNI is the name its server's certificate has.
printf '1 nnoc TERCES\n' >"$T/conn1.expect"
cat "$T/conn1.expect" "$T/rev.expect" >"$T/both.expect"
resume() {
	name=$1 port=$2 first=$3 second=$4 want=$5
	r1=${6:-rule-$first} r2=${7:-rule-$second} cn1=${8:-client-$first} cn2=${9:-client-$second}
	sni1=${10:-$first.test} sni2=${10:-$second.test}
	if ! run "$name" "$port" "gai:$first.test" conn: "gai:$second.test"; then
		fail "$name" "$(cat "$T/$name.st")"; return
	fi
	leak "$name" && return
	c1=$(sed -n 1p "$T/$name.st") c2=$(sed -n 2p "$T/$name.st")
	if [ "$c1" != "conn port=$port sni=$sni1 psk=0 ticket=0 cn=$cn1 reused=0 data=SECRET conn 1" ] ||
		! grep -q "rule \"$r1\": connected .*, new session\$" "$T/$name.log"; then
		flunk "$name" "the first connection was not a new one under $r1 for $sni1 with $cn1" \
			"$(show "$T/$name.st")$(seen "$name")"
	elif [ "$(lines "$T/$name.st" .)" -ne 2 ]; then
		fail "$name" "the server did not see two connections$(show "$T/$name.st")"
	elif [ "$want" = resumed ]; then
		if [ "$rc" -ne 0 ] || ! cmp -s "$T/both.expect" "$T/$name.got"; then
			fail "$name" "client exit $rc, reversed text not received$(seen "$name")"
		elif ! expr "$c2" : "conn port=$port sni=$sni2 psk=[01] ticket=[0-9]* cn=$cn2 reused=1 $HELLO" \
			>/dev/null ||
			[ "$c2" != "${c2#* psk=0 ticket=0 }" ]; then
			fail "$name" "the second connection did not resume the first's session$(show "$T/$name.st")"
		elif [ "$(lines "$T/$name.log" "rule \"$r2\": connected .*, session resumed\$")" -ne 1 ]; then
			fail "$name" "the log does not show the session resumed$(show "$T/$name.log")"
		else
			pass "$name"
		fi
	elif [ "$rc" -ne 2 ] || ! cmp -s "$T/conn1.expect" "$T/$name.got"; then
		fail "$name" "expected the second connect() to fail, client exit $rc$(seen "$name")"
	elif ! expr "$c2" : "conn port=$port sni=$sni2 psk=0 ticket=0 hs-error=" >/dev/null; then
		flunk "$name" "the connection for $second.test offered a session (made for $first.test)" \
			"or did not fail its handshake$(show "$T/$name.st" "$T/$name.log")"
	elif ! grep -q "rule \"$r2\": .*certificate verification failed" "$T/$name.log" ||
		[ "$(lines "$T/$name.log" "rule \"[a-z-]*\": connected")" -ne 1 ]; then
		fail "$name" "the log does not show $r2 refusing the server's certificate$(show "$T/$name.log")"
	else
		pass "$name"
	fi
}
resume hostca_resume_b_then_b     "$PB"   b b resumed
resume hostca_resume_b_then_a     "$PB"   b a refused
resume hostca_resume_a_then_b     "$PA"   a b refused
resume hostca_resume12_b_then_b   "$PB12" b b resumed
resume hostca_resume12_b_then_a   "$PB12" b a refused
# one rule, two names (rule-cd: c.test and d.test, CA-A; the server is
# d.test's): a session made for d.test is not offered for c.test, which
# d.test's certificate then fails (the cache's key has the name)
resume hostca_resume_d_then_d     "$PD"   d d resumed rule-cd rule-cd client-a client-a
resume hostca_resume_d_then_c     "$PD"   d c refused rule-cd rule-cd client-a client-a
# two rules, one name verified (server_name svc.test: svc-a with CA-A,
# svc-b with CA-B; the server is svc.test's of CA-B): a session made
# under svc-b is not offered under svc-a (the cache's key has the rule)
resume hostca_resume_svc_b_then_b "$PS"   b b resumed svc-b svc-b client-b client-b svc.test
resume hostca_resume_svc_b_then_a "$PS"   b a refused svc-b svc-a client-b client-a svc.test
