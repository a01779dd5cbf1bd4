#!/bin/sh
# tests/preload/systore.sh — the system trust store's file (SSL_CERT_FILE,
# or OpenSSL's default) of a connect rule without ca is read at the first
# verification that looks in the store, not at the start of every
# process (policy/hashdir.h, hashdir_add_file: Debian's bundle of 146 CAs
# is 250 M instructions to parse, which a process that never verifies
# against it never needs; the parse found no start-up error either).
# A shimmed Python client (tests/preload/systore_client.py, plain
# sockets) starts, says "ready", and connects only when told, to Python
# TLS echo servers with the test CA's server certificate:
#  * the file is read at the first use, as it is then: started with
#    another CA's certificate in it, replaced (renamed over) by the test
#    CA's before the first connection, the server is accepted (before:
#    refused, the file was read at start);
#  * fail closed: the file removed before the first connection, the
#    handshake is refused (logged: certificate verification failed), the
#    program's connect() fails and no byte crosses in the clear (before:
#    accepted, from the start's copy);
#  * two threads' first verifications at the same moment (the store read
#    by whichever asks first, maybe both: the file is Debian's bundle
#    plus the test CA, about 30 ms to parse, so that they overlap): both
#    servers accepted;
#  * a fork before the first use: the child's first verification reads
#    the file in the child, then the parent's in the parent: both
#    accepted;
#  * no descriptor left at the first use (EMFILE): that connection is
#    refused and logged, and the file is read again at the next
#    verification, which accepts the server once descriptors are free
#    (before: one failed read emptied the store for good);
#  * privileges dropped (setuid to nobody) before the first use, the file
#    root's alone: refused and logged, nothing in the clear;
#  * a Landlock domain refusing every file read put on after start
#    (through syscall()): the file read right before, the server
#    accepted;
#  * a process that puts a seccomp filter on after start, refusing open
#    (tests/progs/sysdeny): through the C library (seen), the file is read
#    before the filter and the server accepted; with a raw system call
#    (unseen) it cannot be read at the first verification: refused and
#    logged, nothing in the clear.
# The store's directory (SSL_CERT_DIR) is an empty one here, so only the
# file can vouch for the servers.  The wire audit checks that every
# connection of the rule's ports carried TLS only.
. "$(dirname "$0")/../lib.sh"
. "$TLSSHIM_TOP/tests/preload/common.inc"
need_shim systore_setup
[ -x "$PROGS/sysdeny" ] ||
	{ fail systore_setup "$PROGS/sysdeny missing (make test-build)"; exit 1; }
CLIENT="$TLSSHIM_TOP/tests/preload/systore_client.py"

mkdir -p "$T/sysdir" || exit 1
BUNDLE=/etc/ssl/certs/ca-certificates.crt
if [ -r "$BUNDLE" ]; then
	cat "$BUNDLE" "$CERTS/ca.crt" >"$T/big.pem"
else
	cp "$CERTS/ca.crt" "$T/big.pem"
fi || exit 1

# server NAME: a TLS echo server of the test CA's certificate on a free
# port, for CONNS connections ($2, default 1); its port in $SP.
server() {
	SP=$(free_port)
	bg "$PY" "$TLSSHIM_TOP/tests/preload/tls_echo_server.py" "$SP" "$CERTS/server.crt" \
		"$CERTS/server.key" "${2:-1}" >"$T/$1.srv" 2>&1
	wait_for "$T/$1.srv" '^listening' 10
}

# client NAME STORE MODE PORT [PORT2]: the shimmed client with STORE as
# SSL_CERT_FILE, a connect rule on PORT (and PORT2) without ca; started
# in the background (pid in $cli), its output in $T/NAME.out.  1 when it
# never said ready.
client() {
	_cn=$1 _cs=$2
	shift 2
	_cp="$2${3:+, $3}"
	policy "$T/$_cn.conf" <<EOC
rules = ( { name = "$_cn"; direction = "connect"; port = [ $_cp ]; server_name = "localhost"; } );
EOC
	rm -f "$T/$_cn.go"
	bg env SSL_CERT_FILE="$_cs" SSL_CERT_DIR="$T/sysdir" TLSSHIM_LOG_FILE="$T/$_cn.log" \
		timeout -k 2 $((60 * TS)) env LD_PRELOAD="$SHIM_PRELOAD" TLSSHIM_CONFIG="$POLICY" \
		${SHIM_WRAP:-} "$PY" "$CLIENT" "$1" "$T/$_cn.go" "$2" ${3:+"$3"} >"$T/$_cn.out" 2>&1
	cli=$!
	wait_for "$T/$_cn.out" '^ready' 30
}

# go NAME: let the client connect, and wait for it to end.
go() {
	: >"$T/$1.go"
	wait_exit "$cli" 60
}

# ---- read at the first use: the file as it is then
cp "$CERTS/other-ca.crt" "$T/first.pem" && cp "$CERTS/ca.crt" "$T/first.new" || exit 1
if ! server first_use; then
	fail store_read_at_first_use "server did not start$(show "$T/first_use.srv")"
elif ! client first_use "$T/first.pem" one "$SP"; then
	fail store_read_at_first_use "client did not start$(show "$T/first_use.out" "$T/first_use.log")"
else
	mv "$T/first.new" "$T/first.pem"
	go first_use
	if grep -q '^reply one: hello-one$' "$T/first_use.out"; then
		pass store_read_at_first_use
	else
		fail store_read_at_first_use "the file as it was at start was used$(show "$T/first_use.out" \
			"$T/first_use.log" "$T/first_use.srv")"
	fi
fi

# ---- the file gone at the first use: fail closed
cp "$CERTS/ca.crt" "$T/gone.pem" || exit 1
if ! server gone; then
	fail store_gone_fails_closed "server did not start$(show "$T/gone.srv")"
elif ! client gone "$T/gone.pem" one "$SP"; then
	fail store_gone_fails_closed "client did not start$(show "$T/gone.out" "$T/gone.log")"
else
	rm -f "$T/gone.pem"
	go gone
	if grep -q '^reply' "$T/gone.out" || grep -q 'hello' "$T/gone.srv"; then
		fail store_gone_fails_closed "the server was trusted or data crossed$(show "$T/gone.out" \
			"$T/gone.log" "$T/gone.srv")"
	elif ! grep -q '^error one: ' "$T/gone.out" ||
		! grep -q 'rule "gone": certificate verification failed' "$T/gone.log"; then
		fail store_gone_fails_closed "no failed connect, or no log line of why$(show "$T/gone.out" \
			"$T/gone.log")"
	else
		pass store_gone_fails_closed
	fi
fi

# pair NAME MODE TAG1 TAG2 WHAT: two servers, the client in MODE against
# them; both replies (TAG1's and TAG2's) must come.
pair() {
	if ! server "$1_1" || ! { _p1=$SP; server "$1_2"; }; then
		fail "$5" "servers did not start$(show "$T/$1_1.srv" "$T/$1_2.srv")"
	elif ! client "$1" "$T/big.pem" "$2" "$_p1" "$SP"; then
		fail "$5" "client did not start$(show "$T/$1.out" "$T/$1.log")"
	else
		go "$1"
		if grep -q "^reply $3: hello-$3\$" "$T/$1.out" && grep -q "^reply $4: hello-$4\$" "$T/$1.out"; then
			pass "$5"
		else
			fail "$5" "$(show "$T/$1.out" "$T/$1.log" "$T/$1_1.srv" "$T/$1_2.srv")"
		fi
	fi
}

# ---- two threads' first verifications at once
pair race race a b store_race_two_threads

# ---- a fork before the first use
pair fork fork child parent store_fork_before_first_use

# ---- no descriptor left at the first use (EMFILE): that connection
# fails closed (refused, logged, nothing in the clear), and the file is
# read again at the next verification: once descriptors are free again,
# the second server is accepted (before: the failed read counted as the
# read, and every later connection of the process was refused).
if ! server emfile_1 || ! { _p1=$SP; server emfile_2; }; then
	fail store_emfile_read_again "servers did not start$(show "$T/emfile_1.srv" "$T/emfile_2.srv")"
elif ! client emfile "$T/big.pem" emfile "$_p1" "$SP"; then
	fail store_emfile_read_again "client did not start$(show "$T/emfile.out" "$T/emfile.log")"
else
	go emfile
	if grep -q '^reply emfile' "$T/emfile.out" || grep -q 'hello' "$T/emfile_1.srv" ||
		! grep -q '^error emfile: ' "$T/emfile.out" ||
		! grep -q 'rule "emfile": certificate verification failed' "$T/emfile.log"; then
		fail store_emfile_read_again "the first connection was not refused and logged$(show \
			"$T/emfile.out" "$T/emfile.log" "$T/emfile_1.srv")"
	elif ! grep -q '^reply again: hello-again$' "$T/emfile.out"; then
		fail store_emfile_read_again "the file was not read again$(show "$T/emfile.out" \
			"$T/emfile.log" "$T/emfile_2.srv")"
	else
		pass store_emfile_read_again
	fi
fi

# ---- privileges dropped before the first use: the file (root's, mode
# 0600) cannot be opened any more (EACCES): refused and logged, nothing
# in the clear.
cp "$CERTS/ca.crt" "$T/root-only.pem" && chmod 600 "$T/root-only.pem" || exit 1
if [ "$(id -u)" != 0 ]; then
	pass "store_unreadable_after_setuid_fails_closed (not run here: needs root)"
elif ! server nobody; then
	fail store_unreadable_after_setuid_fails_closed "server did not start$(show "$T/nobody.srv")"
elif ! client nobody "$T/root-only.pem" nobody "$SP"; then
	fail store_unreadable_after_setuid_fails_closed "client did not start$(show "$T/nobody.out" \
		"$T/nobody.log")"
else
	go nobody
	if ! grep -q '^reply nobody' "$T/nobody.out" && ! grep -q 'hello' "$T/nobody.srv" &&
		grep -q '^error nobody: ' "$T/nobody.out" &&
		grep -q 'rule "nobody": certificate verification failed' "$T/nobody.log"; then
		pass store_unreadable_after_setuid_fails_closed
	else
		fail store_unreadable_after_setuid_fails_closed "$(show "$T/nobody.out" "$T/nobody.log" \
			"$T/nobody.srv")"
	fi
fi

# ---- a Landlock domain refusing every file read, put on after start
# through the C library's syscall() (no libc wrapper exists): the library
# reads the store's file right before (shim/syscall.c, sandboxing), and
# the server is accepted.  (The client checks that a file read fails
# once the domain is on.)
if ! server landlock; then
	fail store_read_before_landlock "server did not start$(show "$T/landlock.srv")"
elif ! client landlock "$CERTS/ca.crt" landlock "$SP"; then
	fail store_read_before_landlock "client did not start$(show "$T/landlock.out" \
		"$T/landlock.log")"
else
	go landlock
	if grep -q '^no landlock' "$T/landlock.out"; then
		pass "store_read_before_landlock (not run here: $(grep '^no landlock' "$T/landlock.out"))"
	elif grep -q '^landlocked$' "$T/landlock.out" &&
		grep -q '^reply landlock: hello-landlock$' "$T/landlock.out"; then
		pass store_read_before_landlock
	else
		fail store_read_before_landlock "$(show "$T/landlock.out" "$T/landlock.log" \
			"$T/landlock.srv")"
	fi
fi

# ---- a process that sandboxes itself: tests/progs/sysdeny puts on a
# seccomp filter refusing openat and openat2 (EPERM) after start, then
# connects.  Through the C library's syscall() (as libseccomp does, and
# sshd, vsftpd, tor): the library reads the store's file before the
# filter goes on, and the server is accepted.  With a raw system call the
# library never sees: the file cannot be read at the first verification,
# and the connection fails closed (refused, logged).
# sandboxed NAME ENV...: sysdeny under the library, its report in NAME.out.
sandboxed() {
	_sn=$1
	shift
	policy "$T/$_sn.conf" <<EOC
rules = ( { name = "$_sn"; direction = "connect"; port = $SP; server_name = "localhost"; } );
EOC
	env "$@" SSL_CERT_FILE="$CERTS/ca.crt" SSL_CERT_DIR="$T/sysdir" \
		TLSSHIM_LOG_FILE="$T/$_sn.log" \
		timeout -k 2 $((30 * TS)) env LD_PRELOAD="$SHIM_PRELOAD" TLSSHIM_CONFIG="$POLICY" \
		"$PROGS/sysdeny" openat+openat2:EPERM connect "$SP" SENTINEL >"$T/$_sn.out" 2>&1
}
if ! server seen; then
	fail store_read_before_seccomp "server did not start$(show "$T/seen.srv")"
else
	sandboxed seen SYSDENY_LIBC=1
	if grep -q '^filtered' "$T/seen.out" &&
		grep -q -x 'read rc=9 errno=0 data=SENTINEL.' "$T/seen.out"; then
		pass store_read_before_seccomp
	else
		fail store_read_before_seccomp "$(show "$T/seen.out" "$T/seen.log" "$T/seen.srv")"
	fi
fi
if ! server unseen; then
	fail store_unseen_seccomp_fails_closed "server did not start$(show "$T/unseen.srv")"
else
	sandboxed unseen SYSDENY_RAW=1
	if grep -q '^filtered' "$T/unseen.out" &&
		grep -q -x 'connect rc=-1 errno=ECONNREFUSED' "$T/unseen.out" &&
		! grep -q SENTINEL "$T/unseen.srv" &&
		grep -q 'rule "unseen": certificate verification failed' "$T/unseen.log"; then
		pass store_unseen_seccomp_fails_closed
	else
		fail store_unseen_seccomp_fails_closed "$(show "$T/unseen.out" "$T/unseen.log" \
			"$T/unseen.srv")"
	fi
fi
