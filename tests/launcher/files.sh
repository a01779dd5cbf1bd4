#!/bin/sh
# tests/launcher/files.sh — the policy file, the files it @includes, and
# its cert, key and ca files must be regular files (a ca directory stays
# allowed).  A FIFO used to hang tlsshim --check and every preloaded program
# in open(); now each of these is an error at once: exit 78 and
# "tlsshim: FILE[:LINE]: message".  Every command is bounded by timeout, so
# a hang shows as exit 124, not as a stuck test.
. "$(dirname "$0")/../lib.sh"

L=$TLSSHIM_LAUNCHER
if [ ! -x "$L" ] || [ ! -f "$TLSSHIM_LIB" ]; then
	fail "files_setup" "$L or $TLSSHIM_LIB is missing (make)"
	exit 1
fi
# An ASan-built launcher checks the order of LD_PRELOAD; ours is right.
ASAN_OPTIONS="${ASAN_OPTIONS:-}${ASAN_OPTIONS:+:}verify_asan_link_order=0"
export ASAN_OPTIONS
unset TLSSHIM_CONFIG TLSSHIM_LIBRARY TLSSHIM_LOG TLSSHIM_LOG_FILE LD_PRELOAD

D=$T/f
mkdir -p "$D/dir" "$D/cadir"
mkfifo "$D/fifo"
cp "$CERTS/ca.crt" "$D/cadir/ca.crt"
h=$(openssl x509 -hash -noout -in "$CERTS/ca.crt") && ln -s ca.crt "$D/cadir/$h.0"
python3 -c 'import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' "$D/sock"

# expect NAME RC-FILE ERR-FILE TEXT: exit 78 and TEXT in the error output.
expect() {
	_rc=$(cat "$2")
	if [ "$_rc" -eq 78 ] && grep -q -F -- "$4" "$3"; then
		pass "$1"
	else
		fail "$1" "exit $_rc (124: hung), expected 78 and '$4'; stderr: $(head -c 400 "$3" | tr '\n' '|')"
	fi
}
# run OUT ERR CMD...: run CMD bounded by 10 s; its status goes to OUT.rc.
run() { _o=$1; _e=$2; shift 2; timeout -k 2 10 "$@" >"$_o" 2>"$_e"; echo $? >"$_o.rc"; }

# ---- the policy file ----------------------------------------------------------
run "$T/out" "$T/err" "$L" --check "$D/fifo"
expect "--check FIFO policy: exit 78 at once" "$T/out.rc" "$T/err" \
	"tlsshim: $D/fifo: cannot read policy file: not a regular file"

# The library reads the policy in its constructor, before main().
rm -f "$T/marker"
run "$T/out" "$T/err" env LD_PRELOAD="$SHIM_PRELOAD" TLSSHIM_CONFIG="$D/fifo" sh -c 'touch "$1"' _ "$T/marker"
expect "preloaded program, FIFO policy: exit 78 at once" "$T/out.rc" "$T/err" \
	"tlsshim: $D/fifo: cannot read policy file: not a regular file"
check "preloaded program, FIFO policy: the program did not run" test ! -e "$T/marker"

run "$T/out" "$T/err" env TLSSHIM_LIBRARY="$TLSSHIM_LIB" "$L" -c "$D/fifo" -- sh -c 'touch "$1"' _ "$T/marker"
expect "launcher -c FIFO: exit 78 at once" "$T/out.rc" "$T/err" \
	"tlsshim: $D/fifo: cannot read policy file: not a regular file"
check "launcher -c FIFO: the program did not run" test ! -e "$T/marker"

run "$T/out" "$T/err" "$L" --check "$D/dir"
expect "--check directory as policy: exit 78" "$T/out.rc" "$T/err" \
	"tlsshim: $D/dir: cannot read policy file: Is a directory"

run "$T/out" "$T/err" env LD_PRELOAD="$SHIM_PRELOAD" TLSSHIM_CONFIG="$D/dir" sh -c 'touch "$1"' _ "$T/marker"
expect "preloaded program, directory as policy: exit 78" "$T/out.rc" "$T/err" \
	"tlsshim: $D/dir: cannot read policy file: Is a directory"

run "$T/out" "$T/err" "$L" --check "$D/sock"
expect "--check socket as policy: exit 78" "$T/out.rc" "$T/err" \
	"tlsshim: $D/sock: cannot read policy file: not a regular file"

run "$T/out" "$T/err" "$L" --check /dev/null
expect "--check /dev/null as policy: exit 78" "$T/out.rc" "$T/err" \
	"tlsshim: /dev/null: cannot read policy file: not a regular file"

# ---- @include ----------------------------------------------------------------
printf 'rules = ();\n@include "fifo"\n' >"$D/inc-fifo.conf"
run "$T/out" "$T/err" "$L" --check "$D/inc-fifo.conf"
expect "@include of a FIFO: exit 78 at once, names it" "$T/out.rc" "$T/err" \
	"tlsshim: $D/inc-fifo.conf:2: cannot open include file \"$D/fifo\": not a regular file"

printf '# rules come from rules.inc\n@include "rules.inc"\n' >"$D/inc-ok.conf"
printf 'rules = (\n  { direction = "connect"; port = 443; action = "plain"; }\n);\n' >"$D/rules.inc"
run "$T/out" "$T/err" "$L" --check "$D/inc-ok.conf"
check "@include of a regular file still works" \
	test "$(cat "$T/out.rc")" -eq 0 -a "$(cat "$T/out")" = "$D/inc-ok.conf: OK (1 rule)"

# An absolute include is taken relative to the policy's directory too
# (libconfig 1.5; tlsshim.conf(5)): an error naming that path, never
# another file read.
printf '@include "%s/rules.inc"\n' "$D" >"$D/inc-abs.conf"
run "$T/out" "$T/err" "$L" --check "$D/inc-abs.conf"
expect "@include of an absolute path: relative to the policy's directory, an error" "$T/out.rc" "$T/err" \
	"tlsshim: $D/inc-abs.conf:1: cannot open include file \"$D/$D/rules.inc\": No such file or directory"

# Integers that do not fit in 32 bits: libconfig 1.5 reads them with
# atoi() (4294967739 would be port 443): an error naming the literal and
# its line, in the policy file and in an included one; digits in strings
# and comments are no integers; with the L suffix the key's own range
# check speaks.
printf '# 99999999999 in a comment\nrules = ( { name = "r 99999999999"; direction = "connect";\n  port = 4294967739; action = "deny"; } ); // 12345678901\n' >"$D/int-big.conf"
run "$T/out" "$T/err" "$L" --check "$D/int-big.conf"
expect "an integer over 32 bits: exit 78, FILE:LINE, the literal" "$T/out.rc" "$T/err" \
	"tlsshim: $D/int-big.conf:3: integer 4294967739 does not fit in 32 bits (libconfig reads it wrongly; no key takes a value that large)"
printf 'rules = ( { direction = "connect";\n  port = [443, 0x1FFFFFFFF]; action = "deny"; } );\n' >"$D/int-big.inc"
printf '@include "int-big.inc"\n' >"$D/int-inc.conf"
run "$T/out" "$T/err" "$L" --check "$D/int-inc.conf"
expect "an integer over 32 bits in an included file: exit 78, names it" "$T/out.rc" "$T/err" \
	"tlsshim: $D/int-inc.conf:1: cannot open include file \"$D/int-big.inc\": integer 0x1FFFFFFFF on line 2 does not fit in 32 bits"
printf 'rules = ( { direction = "connect"; port = -4294967295; action = "deny"; } );\n' >"$D/int-neg.conf"
run "$T/out" "$T/err" "$L" --check "$D/int-neg.conf"
expect "a negative integer over 32 bits (atoi would read 1): exit 78, the literal" "$T/out.rc" "$T/err" \
	"tlsshim: $D/int-neg.conf:1: integer -4294967295 does not fit in 32 bits (libconfig reads it wrongly; no key takes a value that large)"
printf 'rules = ( { direction = "connect"; port = 4294967739L; action = "deny"; } );\n' >"$D/int-l.conf"
run "$T/out" "$T/err" "$L" --check "$D/int-l.conf"
expect "an integer with the L suffix: the key's range check" "$T/out.rc" "$T/err" \
	"tlsshim: $D/int-l.conf:1: rule \"rule 1\": \"port\" 4294967739 is out of range (1..65535)"
printf '# 99999999999\nrules = ( { name = "n 12345678901"; direction = "connect"; port = 443; action = "deny"; } ); /* 1e99 77777777777 */\n' >"$D/int-ok.conf"
run "$T/out" "$T/err" "$L" --check "$D/int-ok.conf"
check "digits in strings and comments are no integers" \
	test "$(cat "$T/out.rc")" -eq 0 -a "$(cat "$T/out")" = "$D/int-ok.conf: OK (1 rule)"

# ---- cert, key, ca -------------------------------------------------------------
# accept_conf FILE CERT KEY [EXTRA]: one accept rule on line 2.
accept_conf() {
	printf 'rules = (\n  { name = "in"; direction = "accept"; port = 4433; cert = "%s"; key = "%s"; %s }\n);\n' \
		"$2" "$3" "${4:-}" >"$1"
}
# connect_conf FILE CA: one connect rule on line 2.
connect_conf() {
	printf 'rules = (\n  { name = "out"; direction = "connect"; port = 443; ca = "%s"; }\n);\n' "$2" >"$1"
}

accept_conf "$D/key-null.conf" "$CERTS/server.crt" /dev/null
run "$T/out" "$T/err" "$L" --check "$D/key-null.conf"
expect "/dev/null as key: exit 78, FILE:LINE" "$T/out.rc" "$T/err" \
	"tlsshim: $D/key-null.conf:2: rule \"in\": cannot read key file \"/dev/null\": not a regular file"

accept_conf "$D/cert-fifo.conf" "$D/fifo" "$CERTS/server.key"
run "$T/out" "$T/err" "$L" --check "$D/cert-fifo.conf"
expect "FIFO as cert: exit 78 at once, FILE:LINE" "$T/out.rc" "$T/err" \
	"tlsshim: $D/cert-fifo.conf:2: rule \"in\": cannot read certificate file \"$D/fifo\": not a regular file"

rm -f "$T/marker"
run "$T/out" "$T/err" env LD_PRELOAD="$SHIM_PRELOAD" TLSSHIM_CONFIG="$D/cert-fifo.conf" sh -c 'touch "$1"' _ "$T/marker"
expect "preloaded program, FIFO as cert: exit 78 at once" "$T/out.rc" "$T/err" \
	"cannot read certificate file \"$D/fifo\": not a regular file"
check "preloaded program, FIFO as cert: the program did not run" test ! -e "$T/marker"

accept_conf "$D/key-fifo.conf" "$CERTS/server.crt" "$D/fifo"
run "$T/out" "$T/err" "$L" --check "$D/key-fifo.conf"
expect "FIFO as key: exit 78 at once" "$T/out.rc" "$T/err" \
	"cannot read key file \"$D/fifo\": not a regular file"

connect_conf "$D/ca-fifo.conf" "$D/fifo"
run "$T/out" "$T/err" "$L" --check "$D/ca-fifo.conf"
expect "FIFO as ca: exit 78 at once, FILE:LINE" "$T/out.rc" "$T/err" \
	"tlsshim: $D/ca-fifo.conf:2: rule \"out\": cannot read CA file \"$D/fifo\": not a regular file"

connect_conf "$D/ca-null.conf" /dev/null
run "$T/out" "$T/err" "$L" --check "$D/ca-null.conf"
expect "/dev/null as ca: exit 78" "$T/out.rc" "$T/err" \
	"cannot read CA file \"/dev/null\": not a regular file"

connect_conf "$D/ca-dir.conf" "$D/cadir"
run "$T/out" "$T/err" "$L" --check "$D/ca-dir.conf"
check "a ca directory stays allowed" \
	test "$(cat "$T/out.rc")" -eq 0 -a "$(cat "$T/out")" = "$D/ca-dir.conf: OK (1 rule)"

accept_conf "$D/req-ca-fifo.conf" "$CERTS/server.crt" "$CERTS/server.key" "require_client_cert = true; ca = \"$D/fifo\";"
run "$T/out" "$T/err" "$L" --check "$D/req-ca-fifo.conf"
expect "FIFO as an accept rule's client ca: exit 78 at once" "$T/out.rc" "$T/err" \
	"cannot read CA file \"$D/fifo\": not a regular file"

# ---- files and directories other users can write ------------------------------
# Whoever can write the policy, an @include, or a ca or crl decides what
# is encrypted and whom it trusts (a ca is even reloaded while the program
# runs): such a file is an error, as a missing one is.  (The previous
# library took them all: "OK".)
WW="writable by other users (chmod o-w"
mkdir -p "$D/ww" "$D/wwca"
connect_conf "$D/ww/open.conf" "$CERTS/ca.crt"
chmod 646 "$D/ww/open.conf"
run "$T/out" "$T/err" "$L" --check "$D/ww/open.conf"
expect "--check world-writable policy: exit 78" "$T/out.rc" "$T/err" \
	"tlsshim: $D/ww/open.conf: cannot read policy file: $WW"
rm -f "$T/marker"
run "$T/out" "$T/err" env LD_PRELOAD="$SHIM_PRELOAD" TLSSHIM_CONFIG="$D/ww/open.conf" sh -c 'touch "$1"' _ "$T/marker"
expect "preloaded program, world-writable policy: exit 78" "$T/out.rc" "$T/err" \
	"tlsshim: $D/ww/open.conf: cannot read policy file: $WW"
check "preloaded program, world-writable policy: the program did not run" test ! -e "$T/marker"
ln -s open.conf "$D/ww/link.conf"
run "$T/out" "$T/err" "$L" --check "$D/ww/link.conf"
expect "--check symbolic link to a world-writable policy: exit 78" "$T/out.rc" "$T/err" "$WW"
printf '@include "open.conf"\n' >"$D/ww/inc.conf"
run "$T/out" "$T/err" "$L" --check "$D/ww/inc.conf"
expect "--check world-writable @include: exit 78" "$T/out.rc" "$T/err" \
	"cannot open include file \"$D/ww/open.conf\": $WW"
cp "$CERTS/ca.crt" "$D/ww/ca.crt"
chmod 666 "$D/ww/ca.crt"
connect_conf "$D/ca-ww.conf" "$D/ww/ca.crt"
run "$T/out" "$T/err" "$L" --check "$D/ca-ww.conf"
expect "--check world-writable ca file: exit 78" "$T/out.rc" "$T/err" \
	"tlsshim: $D/ca-ww.conf:2: rule \"out\": cannot use CA file \"$D/ww/ca.crt\": $WW"
cp -P "$D/cadir/"* "$D/wwca/"
chmod 1777 "$D/wwca"
connect_conf "$D/cadir-ww.conf" "$D/wwca"
run "$T/out" "$T/err" "$L" --check "$D/cadir-ww.conf"
expect "--check ca directory anyone can add to (even sticky): exit 78" "$T/out.rc" "$T/err" \
	"cannot use CA directory \"$D/wwca\": $WW"
printf 'rules = (\n  { name = "out"; direction = "connect"; port = 443; ca = "%s"; crl = "%s"; }\n);\n' \
	"$CERTS/ca.crt" "$D/ww/ca.crt" >"$D/crl-ww.conf"
run "$T/out" "$T/err" "$L" --check "$D/crl-ww.conf"
expect "--check world-writable crl: exit 78" "$T/out.rc" "$T/err" "cannot use CRL file \"$D/ww/ca.crt\": $WW"
chmod 644 "$D/ww/open.conf" "$D/ww/ca.crt"
chmod 755 "$D/wwca"
for f in open.conf link.conf inc.conf; do
	run "$T/out" "$T/err" "$L" --check "$D/ww/$f"
	check "--check $f once not writable by others: OK" test "$(cat "$T/out.rc")" -eq 0
done
run "$T/out" "$T/err" "$L" --check "$D/cadir-ww.conf"
check "--check the ca directory once not writable by others: OK" test "$(cat "$T/out.rc")" -eq 0
# A ca or crl directory's entries are read by OpenSSL when a certificate
# is verified, not at load: one that anyone can write (here the file that
# "openssl rehash"'s link names) lets anyone put a CA of the same subject
# in it, trusted at the next verification, the directory's mode
# notwithstanding.  (The previous library: "OK".)
chmod 666 "$D/wwca/ca.crt"
run "$T/out" "$T/err" "$L" --check "$D/cadir-ww.conf"
expect "--check ca directory whose hashed entry anyone can write: exit 78" "$T/out.rc" "$T/err" \
	"cannot use CA file \"$D/wwca/$h.0\": $WW"
chmod 644 "$D/wwca/ca.crt"
mkdir -p "$D/wwcrl"
printf 'not read at load\n' >"$D/wwcrl/$h.r0"
chmod 666 "$D/wwcrl/$h.r0"
printf 'rules = (\n  { name = "out"; direction = "connect"; port = 443; ca = "%s"; crl = "%s"; }\n);\n' \
	"$CERTS/ca.crt" "$D/wwcrl" >"$D/crldir-ww.conf"
run "$T/out" "$T/err" "$L" --check "$D/crldir-ww.conf"
expect "--check crl directory whose hashed entry anyone can write: exit 78" "$T/out.rc" "$T/err" \
	"cannot use CRL file \"$D/wwcrl/$h.r0\": $WW"
# pkcs11_module: its code runs in the program.
printf 'not a module\n' >"$D/ww/module.so"
chmod 666 "$D/ww/module.so"
printf 'rules = (\n  { name = "in"; direction = "accept"; port = 443; cert = "%s"; key = "pkcs11:token=t;object=k;type=private;pin-value=1234"; pkcs11_module = "%s"; }\n);\n' \
	"$CERTS/server.crt" "$D/ww/module.so" >"$D/p11-ww.conf"
run "$T/out" "$T/err" "$L" --check "$D/p11-ww.conf"
expect "--check world-writable pkcs11_module: exit 78" "$T/out.rc" "$T/err" \
	"cannot load pkcs11_module \"$D/ww/module.so\": $WW"

# The same files, regular, are fine (the cases above fail for the reason
# they name, not for another).
accept_conf "$D/good.conf" "$CERTS/server.crt" "$CERTS/server.key"
run "$T/out" "$T/err" "$L" --check "$D/good.conf"
check "regular cert and key: OK" test "$(cat "$T/out.rc")" -eq 0
