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
#  * why the store is empty is logged, once per cause: the missing file,
#    EMFILE and EACCES of the cases above, and a missing file at three
#    verifications (three refusals, one line);
#  * the file flapping between two causes (missing, a directory in its
#    place, missing, ...: twelve refused verifications, each cause new):
#    at most three lines of cause, then one saying that it stops, and
#    the read that ends it logged with the count of failed reads, the
#    server then accepted (before: a line per verification; now a
#    flood is bounded, and the first failure and the recovery are said);
#  * a torn write: the file empty (truncated, not yet written) or cut
#    inside a certificate at the first verification: refused and logged,
#    not kept; written in place, it is read at the next verification
#    and the server accepted (before: the empty read was the read, for
#    good); while it stays empty it is not parsed again (strace: one
#    open for three verifications);
#  * the store's paths as at start (hashdir_system_capture): the client,
#    started with the test CA's SSL_CERT_FILE, setenv()s SSL_CERT_FILE
#    (or SSL_CERT_DIR) to another CA's, renames its rule's crl over
#    (the rule is rebuilt) and connects to that CA's server: refused
#    (before: the rebuilt rule trusted it); one that clearenv()s still
#    accepts the test CA's server (before: OpenSSL's default store);
#  * an exec'd image takes its own start environment's paths: one given
#    the test CA's SSL_CERT_FILE accepts, one given none (OpenSSL's
#    default) refuses, whatever the old image's was;
#  * another library's constructor, run before the library's
#    (tests/progs/preload_certenv.c, preloaded after it), sets
#    SSL_CERT_FILE and SSL_CERT_DIR to another CA's: that CA's server
#    refused; one that unsets SSL_CERT_FILE: the test CA's server still
#    accepted (before h199: the store was the constructor's choice);
#  * the file a FIFO no one writes (named with a newline and a forged log
#    line) or a symbolic link to /dev/zero: refused at once and logged
#    (the name escaped: no forged line), nothing in the clear; one larger
#    than 64 MiB (the test CA, then a sparse run of zeros): refused
#    unread, logged as larger than the bound (before: read whole, and the
#    server accepted).
#  * a set-user-ID program (secure-execution mode: AT_SECURE) ignores the
#    caller's SSL_CERT_FILE and SSL_CERT_DIR: tests/progs/fc_entry, a
#    setuid-root copy in the test's directory run by uid 65534, the
#    library from /etc/ld.so.preload with the system policy (a copy of
#    /etc bind-mounted in a mount namespace of its own: nothing installed),
#    given the test CA as SSL_CERT_FILE: the test CA's server refused
#    (OpenSSL's default store), nothing in the clear; the same program
#    not set-user-ID, with the same environment, accepts it (the caller's
#    variables are what made the difference).  Needs root.
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

# server NAME [CONNS [CERT]]: a TLS echo server of the test CA's
# certificate (or $CERTS/CERT.crt) on a free port, for CONNS connections
# (default 1); its port in $SP.
server() {
	SP=$(free_port)
	bg "$PY" "$TLSSHIM_TOP/tests/preload/tls_echo_server.py" "$SP" "$CERTS/${3:-server}.crt" \
		"$CERTS/${3:-server}.key" "${2:-1}" >"$T/$1.srv" 2>&1
	wait_for "$T/$1.srv" '^listening' 10
}

# client NAME STORE MODE PORT [PORT2]: the shimmed client with STORE as
# SSL_CERT_FILE, a connect rule on PORT (and PORT2) without ca (and with
# $RULE_EXTRA's settings), more of its environment in $CLIENT_ENV
# (NAME=VALUE words), $CLIENT_PRELOAD preloaded after the library (its
# constructor runs first), run under $CLIENT_WRAP (strace) if set; started
# in the background (pid in $cli), its output in $T/NAME.out.  1 when it never said ready.
client() {
	_cn=$1 _cs=$2
	shift 2
	_cp="$2${3:+, $3}"
	policy "$T/$_cn.conf" <<EOC
rules = ( { name = "$_cn"; direction = "connect"; port = [ $_cp ]; server_name = "localhost";
  ${RULE_EXTRA:-} } );
EOC
	rm -f "$T/$_cn.go"
	# shellcheck disable=SC2086  # (CLIENT_ENV: words)
	bg env SSL_CERT_FILE="$_cs" SSL_CERT_DIR="$T/sysdir" ${CLIENT_ENV:-} \
		TLSSHIM_LOG_FILE="$T/$_cn.log" \
		timeout -k 2 $((60 * TS)) env LD_PRELOAD="$SHIM_PRELOAD${CLIENT_PRELOAD:+ $CLIENT_PRELOAD}" \
		TLSSHIM_CONFIG="$POLICY" \
		${CLIENT_WRAP:-${SHIM_WRAP:-}} "$PY" "$CLIENT" "$1" "$T/$_cn.go" "$2" ${3:+"$3"} \
		>"$T/$_cn.out" 2>&1
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

# ---- why the store is empty, in one error line per cause (file_failed,
# policy/hashdir.c): the causes of the cases above, then a missing file at
# three verifications: three refusals, one line.  Before, no line said
# why, only "certificate verification failed" at each handshake.
# logged NAME CAUSE WHAT: one line of the store's cause CAUSE in NAME.log.
logged() {
	_ln=$(grep -c "system trust store: cannot use \".*\": $2" "$T/$1.log")
	if [ "$_ln" = 1 ]; then
		pass "$3"
	else
		fail "$3" "$_ln lines of the cause ($2)$(show "$T/$1.log")"
	fi
}
logged gone 'No such file or directory' store_gone_logged
logged emfile 'Too many open files' store_emfile_logged
[ "$(id -u)" != 0 ] || logged nobody 'Permission denied' store_unreadable_logged
# opens NAME FILE: how many times the strace of NAME (NAME.st) opened FILE
# for reading.
opens() { grep "$2" "$T/$1.st" | grep -v O_PATH | grep -c 'open'; }
if ! server missing 3; then
	fail store_missing_logged_once "server did not start$(show "$T/missing.srv")"
elif ! client missing "$T/never.pem" many "$SP"; then
	fail store_missing_logged_once "client did not start$(show "$T/missing.out" \
		"$T/missing.log")"
else
	go missing
	if grep -q '^reply' "$T/missing.out" ||
		[ "$(grep -c '^error many' "$T/missing.out")" != 3 ] ||
		[ "$(grep -c 'certificate verification failed' "$T/missing.log")" != 3 ]; then
		fail store_missing_logged_once "not three refusals$(show "$T/missing.out" \
			"$T/missing.log")"
	else
		logged missing 'No such file or directory' store_missing_logged_once
	fi
fi

# ---- a flapping file (policy/hashdir.c, file_failed): the cause changes
# at each of twelve verifications (missing, a directory, missing, ...):
# the first failure is logged, at most three lines of cause and one that
# says it stops, then the good read (the file back) is logged with the
# count of failed reads (twelve or more: a verification may ask the store
# more than once).  Before: twelve lines, one per verification.
cp "$CERTS/ca.crt" "$T/flip.pem" || exit 1
CLIENT_ENV="TLSSHIM_LOG=info SYSTORE_FLIP=$T/flip.pem SYSTORE_FLIPS=12"
if ! server flip_1 12 || ! { _p1=$SP; server flip_2; }; then
	fail store_flapping_logged_bounded "servers did not start$(show "$T/flip_1.srv" \
		"$T/flip_2.srv")"
elif ! client flip "$T/flip.pem" flip "$_p1" "$SP"; then
	fail store_flapping_logged_bounded "client did not start$(show "$T/flip.out" "$T/flip.log")"
else
	go flip
	_fc=$(grep -c 'system trust store: cannot use ".*": ' "$T/flip.log")
	if grep -q '^reply flip' "$T/flip.out" || [ "$(grep -c '^error flip' "$T/flip.out")" != 12 ]
	then
		fail store_flapping_logged_bounded "not twelve refusals$(show "$T/flip.out" \
			"$T/flip.log")"
	elif ! grep -q '^reply back: hello-back$' "$T/flip.out"; then
		fail store_flapping_logged_bounded "the file back was not read$(show "$T/flip.out" \
			"$T/flip.log")"
	elif [ "$_fc" != 4 ] ||
		! grep 'system trust store: cannot use' "$T/flip.log" | head -n 1 |
			grep -q 'No such file or directory' ||
		[ "$(grep -c 'why keeps changing (4 causes since it was last read); not logged' \
			"$T/flip.log")" != 1 ]; then
		fail store_flapping_logged_bounded "$_fc lines of cause (want 3 and the stop line,"\
" the first of the missing file)$(show "$T/flip.log")"
	elif _fr='s/.*store: ".*flip.pem" read: 1 certificate (after \([0-9]*\) failed reads)$/\1/p' &&
		_fr=$(sed -n "$_fr" "$T/flip.log") && [ "${_fr:-0}" -lt 12 ]; then
		fail store_flapping_logged_bounded "the read that ended it was not logged, with"\
" twelve failed reads or more$(show "$T/flip.log")"
	else
		pass store_flapping_logged_bounded
	fi
fi
CLIENT_ENV=""

# ---- a torn write: the file read while a writer had truncated it (empty),
# or had written part of a certificate, is not kept as the store: refused
# and logged, and read again once its stat() stamps change (written in
# place, the same inode): the server then accepted.  Before, the empty
# read counted as the read: every later connection refused, for good.
# torn NAME CONTENT WHY: the store's file holds CONTENT (a command's
# output) at the first verification, the test CA at the second.
torn() {
	eval "$2" >"$T/$1.pem" || exit 1
	if ! server "$1_1" || ! { _p1=$SP; server "$1_2"; }; then
		fail "store_${1}_read_again" "servers did not start$(show "$T/$1_1.srv" \
			"$T/$1_2.srv")"
	elif ! client "$1" "$T/$1.pem" torn "$_p1" "$SP"; then
		fail "store_${1}_read_again" "client did not start$(show "$T/$1.out" "$T/$1.log")"
	else
		: >"$T/$1.go"
		wait_for "$T/$1.out" '^waiting' 30
		cat "$CERTS/ca.crt" >"$T/$1.pem"        # (in place: the same inode)
		: >"$T/$1.go.2"
		wait_exit "$cli" 60
		if grep -q '^reply torn1' "$T/$1.out" || ! grep -q '^error torn1: ' "$T/$1.out"
		then
			fail "store_${1}_read_again" "the first server was not refused$(show \
				"$T/$1.out")"
		elif ! grep -q '^reply torn2: hello-torn2$' "$T/$1.out"; then
			fail "store_${1}_read_again" "the file was not read again$(show \
				"$T/$1.out" "$T/$1.log")"
		else
			logged "$1" "$3" "store_${1}_read_again"
		fi
	fi
}
torn empty 'true' 'it holds no certificate'
torn cut 'head -c 300 "$CERTS/ca.crt"' 'it does not parse as PEM'

# ---- the file with no certificate is not parsed again at every
# verification while it stays so (its stat() stamps): three connections,
# one open of the file (strace), one line.
: >"$T/blank.pem" || exit 1
CLIENT_WRAP="strace -f -qq -e trace=open,openat,openat2 -o $T/blank.st"
if ! server blank 3; then
	fail store_empty_read_once_until_changed "server did not start$(show "$T/blank.srv")"
elif ! client blank "$T/blank.pem" many "$SP"; then
	fail store_empty_read_once_until_changed "client did not start$(show "$T/blank.out")"
else
	go blank
	if grep -q '^reply' "$T/blank.out" ||
		[ "$(grep -c '^error many' "$T/blank.out")" != 3 ]; then
		fail store_empty_read_once_until_changed "not three refusals$(show "$T/blank.out")"
	elif [ "$(opens blank blank.pem)" != 1 ]; then
		fail store_empty_read_once_until_changed "$(opens blank blank.pem) opens$(show \
			"$T/blank.st")"
	else
		logged blank 'it holds no certificate' store_empty_read_once_until_changed
	fi
fi
CLIENT_WRAP=""

# ---- the store's paths as the process got them at start (policy/hashdir.h,
# hashdir_system_capture), at a reload too.  The rule has a crl (both
# CAs' CRLs, empty), which the client renames over itself after it
# changed its own environment: the rule is rebuilt at its next handshake.
# Before, the rebuild read SSL_CERT_FILE and SSL_CERT_DIR as they were
# then, so the program's setenv() chose what the rule trusted.
# crl_of CA: an empty CRL of $CERTS/CA.crt into $T/CA.crl.
crl_of() {
	mkdir -p "$T/$1.db" && : >"$T/$1.db/index.txt" && echo 1000 >"$T/$1.db/crlnumber" &&
		printf '%s\n' "[ ca ]" "default_ca = c" "[ c ]" "database = $T/$1.db/index.txt" \
			"crlnumber = $T/$1.db/crlnumber" "certificate = $CERTS/$1.crt" \
			"private_key = $CERTS/$1.key" "default_md = sha256" \
			"default_crl_days = 30" \
			>"$T/$1.db/cnf" &&
		openssl ca -gencrl -config "$T/$1.db/cnf" -out "$T/$1.crl" >/dev/null 2>&1
}
crl_of ca && crl_of other-ca && cat "$T/ca.crl" "$T/other-ca.crl" >"$T/both.crl" &&
	mkdir -p "$T/evildir" && cp "$CERTS/other-ca.crt" "$T/evildir/" &&
	openssl rehash "$T/evildir" >/dev/null 2>&1 || exit 1

# at_start NAME MODE SET CERT WHAT: the client (start store: the test CA)
# in MODE, SYSTORE_SET=SET, against a server of the test CA (first) and
# one of CERT (after, once the environment changed and the rule reloaded);
# then $T/NAME.out, .log; 1 (and a FAIL line for WHAT) when something did
# not start or the rule did not reload.
at_start() {
	cp "$T/both.crl" "$T/$1.crl" && cp "$T/both.crl" "$T/$1.crl.new" || exit 1
	RULE_EXTRA="crl = \"$T/$1.crl\";"
	CLIENT_ENV="TLSSHIM_LOG=info SYSTORE_RELOAD=$T/$1.crl SYSTORE_SET=$3"
	_as=0
	if ! server "$1_1" || ! { _p1=$SP; server "$1_2" 1 "$4"; }; then
		fail "$5" "servers did not start$(show "$T/$1_1.srv" "$T/$1_2.srv")"
	elif ! client "$1" "$CERTS/ca.crt" "$2" "$_p1" "$SP"; then
		fail "$5" "client did not start$(show "$T/$1.out" "$T/$1.log")"
	else
		go "$1"
		if ! grep -q '^reply first: hello-first$' "$T/$1.out" ||
			! grep -q 'reloaded certificates' "$T/$1.log"; then
			fail "$5" "no first exchange, or no reload$(show "$T/$1.out" "$T/$1.log")"
		else
			_as=1
		fi
	fi
	RULE_EXTRA="" CLIENT_ENV=""
	[ "$_as" = 1 ]
}
# refused_after NAME WHAT: the second connection (to the attacker's
# server) refused and logged.
refused_after() {
	if grep -q '^reply after' "$T/$1.out" || ! grep -q '^error after: ' "$T/$1.out" ||
		[ "$(grep -c 'certificate verification failed' "$T/$1.log")" -lt 1 ]; then
		fail "$2" "the attacker's CA was trusted$(show "$T/$1.out" "$T/$1.log" \
			"$T/$1_2.srv")"
	else
		pass "$2"
	fi
}
if at_start setfile setenv "SSL_CERT_FILE=$CERTS/other-ca.crt" untrusted \
	store_setenv_file_after_start_ignored; then
	refused_after setfile store_setenv_file_after_start_ignored
fi
if at_start setdir setenv "SSL_CERT_DIR=$T/evildir" untrusted \
	store_setenv_dir_after_start_ignored; then
	refused_after setdir store_setenv_dir_after_start_ignored
fi
# clearenv(): the test CA's server still accepted after the reload
# (before: OpenSSL's default store, which does not hold the test CA).
if at_start clear clearenv "" server store_clearenv_after_start_ignored; then
	if grep -q '^reply after: hello-after$' "$T/clear.out"; then
		pass store_clearenv_after_start_ignored
	else
		fail store_clearenv_after_start_ignored "$(show "$T/clear.out" "$T/clear.log")"
	fi
fi

# ---- exec: the new image's store is the one its own start environment
# names (it takes its paths at its start), not the old image's.
# exec_store NAME START SET: the client started with SSL_CERT_FILE=START
# execs itself with only the library's variables and SET's.
EXEC_KEEP="LD_PRELOAD TLSSHIM_CONFIG TLSSHIM_LOG_FILE ASAN_OPTIONS UBSAN_OPTIONS LSAN_OPTIONS"
exec_store() {
	CLIENT_ENV="SYSTORE_SET=$3"
	_es=1
	if ! server "$1"; then
		fail "store_exec_$1" "server did not start$(show "$T/$1.srv")"
	elif ! client "$1" "$2" exec "$SP"; then
		fail "store_exec_$1" "client did not start$(show "$T/$1.out" "$T/$1.log")"
	else
		go "$1"
		_es=0
	fi
	CLIENT_ENV=""
	return $_es
}
export SYSTORE_EXEC_KEEP="$EXEC_KEEP"
if exec_store own_env "$CERTS/other-ca.crt" \
	"SSL_CERT_FILE=$CERTS/ca.crt;SSL_CERT_DIR=$T/sysdir"; then
	if grep -q '^reply one: hello-one$' "$T/own_env.out"; then
		pass store_exec_own_env
	else
		fail store_exec_own_env "the child did not trust its own SSL_CERT_FILE$(show \
			"$T/own_env.out" "$T/own_env.log")"
	fi
fi
# No SSL_CERT_FILE in the new image's environment: OpenSSL's default
# store, which does not hold the test CA: refused and logged.
if exec_store bare_env "$CERTS/ca.crt" ""; then
	if ! grep -q '^reply one' "$T/bare_env.out" && grep -q '^error one: ' "$T/bare_env.out" &&
		grep -q 'certificate verification failed' "$T/bare_env.log"; then
		pass store_exec_bare_env
	else
		fail store_exec_bare_env "the child trusted the old image's SSL_CERT_FILE$(show \
			"$T/bare_env.out" "$T/bare_env.log")"
	fi
fi
unset SYSTORE_EXEC_KEEP

# ---- another library's constructor, which runs before the library's
# (tests/progs/preload_certenv.c, preloaded after it), changes the
# variables: the store is still the one the process was started with
# (/proc/self/environ).  Before, the library took them from environ at
# its start, after that constructor: its setenv() chose the CA trusted.
# ctor_store NAME SET CERT: the client (start store: the test CA) whose
# preload_certenv sets SET, in mode one against a server of CERT.
ctor_store() {
	CLIENT_ENV="PRELOAD_CERTENV_SET=$2" CLIENT_PRELOAD="$PROGS/preload_certenv.so"
	_cs=1
	if ! server "$1" 1 "$3"; then
		fail "store_ctor_$1" "server did not start$(show "$T/$1.srv")"
	elif ! client "$1" "$CERTS/ca.crt" one "$SP"; then
		fail "store_ctor_$1" "client did not start$(show "$T/$1.out" "$T/$1.log")"
	else
		go "$1"
		_cs=0
	fi
	CLIENT_ENV="" CLIENT_PRELOAD=""
	return $_cs
}
if ctor_store setenv_ignored "SSL_CERT_FILE=$CERTS/other-ca.crt;SSL_CERT_DIR=$T/evildir" \
	untrusted; then
	if ! grep -q '^reply one' "$T/setenv_ignored.out" &&
		grep -q '^error one: ' "$T/setenv_ignored.out" &&
		grep -q 'certificate verification failed' "$T/setenv_ignored.log"; then
		pass store_ctor_setenv_ignored
	else
		fail store_ctor_setenv_ignored "the constructor's SSL_CERT_FILE was trusted$(show \
			"$T/setenv_ignored.out" "$T/setenv_ignored.log")"
	fi
fi
if ctor_store unsetenv_ignored "-SSL_CERT_FILE" server; then
	if grep -q '^reply one: hello-one$' "$T/unsetenv_ignored.out"; then
		pass store_ctor_unsetenv_ignored
	else
		fail store_ctor_unsetenv_ignored "the start's SSL_CERT_FILE was not used$(show \
			"$T/unsetenv_ignored.out" "$T/unsetenv_ignored.log")"
	fi
fi

# ---- the file is something a read would block on or never finish: a
# FIFO no one writes (its name holds a newline and a forged log line,
# which the log must escape), a symbolic link to /dev/zero.  Refused at
# the first verification at once (within the client's bound), logged,
# nothing in the clear: the file is opened O_NONBLOCK and must be a
# regular file (policy_fopen_regular).
NLNAME="$T/fifo
tlsshim[1]: info: FORGED"
# A regular file of the test CA then zeros to 64 MiB and one byte (sparse):
# refused without being read, as larger than the bound (policy/file.h;
# before: read to its end, and the server accepted).
mkfifo "$NLNAME" && ln -s /dev/zero "$T/zero.pem" && cp "$CERTS/ca.crt" "$T/huge.pem" &&
	truncate -s $((64 * 1024 * 1024 + 1)) "$T/huge.pem" || exit 1
for _nr in fifo zero huge; do
	case $_nr in fifo) _np=$NLNAME ;; *) _np=$T/$_nr.pem ;; esac
	_nw='not a regular file'
	[ "$_nr" != huge ] || _nw='larger than 64 MiB, the most a file of the policy may hold'
	if ! server "nr_$_nr"; then
		fail "store_${_nr}_refused" "server did not start$(show "$T/nr_$_nr.srv")"
	elif ! client "nr_$_nr" "$_np" one "$SP"; then
		fail "store_${_nr}_refused" "client did not start$(show "$T/nr_$_nr.out")"
	else
		go "nr_$_nr"
		if grep -q '^reply' "$T/nr_$_nr.out" || grep -q 'hello' "$T/nr_$_nr.srv" ||
			! grep -q '^error one: ' "$T/nr_$_nr.out"; then
			fail "store_${_nr}_refused" "not refused, or data crossed$(show \
				"$T/nr_$_nr.out" "$T/nr_$_nr.log" "$T/nr_$_nr.srv")"
		elif grep -q '^tlsshim\[1\]: info: FORGED' "$T/nr_$_nr.log"; then
			fail "store_${_nr}_refused" "a forged log line$(show "$T/nr_$_nr.log")"
		else
			logged "nr_$_nr" "$_nw" "store_${_nr}_refused"
		fi
	fi
done

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

# ---- secure-execution mode (a set-user-ID program): the caller's
# SSL_CERT_FILE and SSL_CERT_DIR are not the store (policy/hashdir.c,
# system_take: getauxval(AT_SECURE)), or whoever runs a setuid program
# would choose whom it trusts.  LD_PRELOAD with a path is ignored there, so
# the library comes from /etc/ld.so.preload, and the policy is the system
# one (TLSSHIM_CONFIG is the caller's too): both in a copy of /etc that a
# mount namespace of the command's own puts over /etc (the host's is
# untouched).  The caller names the test CA; the setuid copy must refuse
# the test CA's server (OpenSSL's default store does not hold it), the
# plain copy, run the same way, accept it.
# secure NAME MODE: fc_entry (MODE 4755: setuid root, 755: plain) run by
# uid 65534 with the test CA as SSL_CERT_FILE against a new server; its
# status in $_sr (90: no bind mount), stderr in $T/NAME.err.
secure() {
	cp "$PROGS/fc_entry" "$T/suid/$1" && chown 0:0 "$T/suid/$1" && chmod "$2" "$T/suid/$1" ||
		exit 1
	_sr=1
	server "$1" || return 1
	policy "$T/etc/tlsshim.conf" <<EOC
rules = ( { name = "$1"; direction = "connect"; port = $SP; server_name = "localhost"; } );
EOC
	chmod 644 "$T/etc/tlsshim.conf"
	timeout -k 2 $((40 * TS)) unshare -m sh -c '
		mount --bind "$1/etc" /etc || exit 90
		exec setpriv --reuid=65534 --regid=65534 --clear-groups /usr/bin/env \
			SSL_CERT_FILE="$1/caller.pem" SSL_CERT_DIR="$1/sysdir" TLSSHIM_LOG=info \
			"$1/suid/$2" connect 127.0.0.1 "$3" SECURE' sh "$T" "$1" "$SP" \
		>"$T/$1.out" 2>"$T/$1.err"
	_sr=$?
}
if [ "$(id -u)" != 0 ]; then
	pass "store_setuid_ignores_caller_env (not run here: needs root)"
elif ! command -v setpriv >/dev/null 2>&1 || ! command -v unshare >/dev/null 2>&1; then
	fail store_setuid_ignores_caller_env "setpriv or unshare missing"
else
	chmod 755 "$T" "$T/sysdir" && mkdir -p "$T/suid" && chmod 755 "$T/suid" &&
		cp "$CERTS/ca.crt" "$T/caller.pem" && chmod 644 "$T/caller.pem" &&
		cp -a /etc "$T/etc" || exit 1
	for p in $SHIM_PRELOAD; do echo "$p"; done >"$T/etc/ld.so.preload"
	if ! secure plain 755; then
		fail store_setuid_ignores_caller_env "server did not start$(show "$T/plain.srv")"
	elif [ "$_sr" = 90 ]; then
		fail store_setuid_ignores_caller_env "cannot bind-mount a copy of /etc in a private\
 mount namespace$(show "$T/plain.err")"
	elif [ "$_sr" != 0 ] || grep -q 'secure-execution' "$T/plain.err"; then
		fail store_setuid_ignores_caller_env "the plain copy did not trust the caller's\
 SSL_CERT_FILE (exit $_sr)$(show "$T/plain.err" "$T/plain.srv")"
	elif ! secure setuid 4755; then
		fail store_setuid_ignores_caller_env "server did not start$(show "$T/setuid.srv")"
	elif [ "$_sr" = 0 ] || ! grep -q 'connect-127.0.0.1.*ECONNREFUSED' "$T/setuid.err" ||
		! grep -q 'rule "setuid": certificate verification failed' "$T/setuid.err"; then
		fail store_setuid_ignores_caller_env "the setuid copy trusted the caller's\
 SSL_CERT_FILE (exit $_sr)$(show "$T/setuid.err" "$T/setuid.srv")"
	else
		pass store_setuid_ignores_caller_env
	fi
fi
