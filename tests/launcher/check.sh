#!/bin/sh
# tests/launcher/check.sh — the tlsshim launcher: --check, the environment
# it hands to the program, and its exit statuses.
#
# Decoupled from the shim on purpose: the library it preloads here is an
# empty shared object built by this test (TLSSHIM_LIBRARY), so `env` runs
# the same whether or not libtlsshim.so works yet.
. "$(dirname "$0")/../lib.sh"

L=$TLSSHIM_LAUNCHER
if [ ! -x "$L" ]; then
	fail "launcher built" "$L is missing"
	exit 1
fi
# An ASan-built launcher refuses to start when LD_PRELOAD names a library
# before its runtime; the preloads here are ours and harmless.
ASAN_OPTIONS="${ASAN_OPTIONS:-}${ASAN_OPTIONS:+:}verify_asan_link_order=0"
export ASAN_OPTIONS
unset TLSSHIM_CONFIG TLSSHIM_LIBRARY TLSSHIM_LOG LD_PRELOAD

mkdir -p "$T/d" "$T/p" "$T/sub" "$T/bin" "$T/inst/bin" "$T/inst/lib" "$T/lonely"
if ! ${CC:-cc} -shared -o "$T/d/libtlsshim.so" -x c /dev/null ||
   ! ${CC:-cc} -shared -o "$T/d/first.so" -x c /dev/null; then
	fail "dummy libraries" "cc -shared failed"
	exit 1
fi
DUMMY=$T/d/libtlsshim.so

policy "$T/p/good.conf" <<'P'
# no certificates needed: the system store, plain and deny rules
rules = (
  { name = "out"; direction = "connect"; port = 443; },
  { name = "in"; direction = "accept"; port = 8080; action = "plain"; },
  { name = "no"; direction = "connect"; port = 23; action = "deny"; }
);
P
policy "$T/p/bad.conf" <<'P'
rules = (
  { name = "redis-in"; direction = "accept"; action = "plain";
    prot = 6379; }
);
P
policy "$T/p/empty.conf" <<'P'
rules = ();
P

# run OUT ERR CMD...: run, keep stdout/stderr, set $rc.
run() { _o=$1; _e=$2; shift 2; "$@" >"$_o" 2>"$_e"; rc=$?; }
# value NAME FILE: the value of NAME in env(1) output.
value() { sed -n "s/^$1=//p" "$2" | head -n 1; }

# ---- --check ------------------------------------------------------------
run "$T/out" "$T/err" "$L" --check "$T/p/good.conf"
if [ "$rc" -eq 0 ] && [ "$(cat "$T/out")" = "$T/p/good.conf: OK (3 rules)" ]; then
	pass "--check good policy: exit 0, FILE: OK (3 rules)"
else
	fail "--check good policy: exit 0, FILE: OK (3 rules)" "rc=$rc out=$(cat "$T/out") err=$(cat "$T/err")"
fi

run "$T/out" "$T/err" "$L" --check "$T/p/empty.conf"
check "--check empty rules list: OK (0 rules)" \
	test "$rc" -eq 0 -a "$(cat "$T/out")" = "$T/p/empty.conf: OK (0 rules)"

(cd "$T/p" && "$L" --check bad.conf >"$T/out" 2>"$T/err"); rc=$?
if [ "$rc" -eq 78 ] && grep -q -F 'tlsshim: bad.conf:3: rule "redis-in": unknown key "prot"' "$T/err" &&
   [ ! -s "$T/out" ]; then
	pass "--check bad policy: exit 78, tlsshim: FILE:LINE: message"
else
	fail "--check bad policy: exit 78, tlsshim: FILE:LINE: message" "rc=$rc err=$(cat "$T/err")"
fi

run "$T/out" "$T/err" "$L" --check "$T/p/missing.conf"
check "--check missing file: exit 78, names the file" \
	sh -c '[ "$1" -eq 78 ] && grep -q -F "tlsshim: $2: cannot read policy file: No such file or directory" "$3"' \
	_ "$rc" "$T/p/missing.conf" "$T/err"

# ---- the environment handed to the program -------------------------------
(cd "$T/sub" && TLSSHIM_LIBRARY=$DUMMY "$L" -c ../p/good.conf -- env >"$T/env" 2>"$T/err"); rc=$?
cfg=$(value TLSSHIM_CONFIG "$T/env")
pre=$(value LD_PRELOAD "$T/env")
case "$cfg" in
/*) if [ "$rc" -eq 0 ] && [ -f "$cfg" ] && cmp -s "$cfg" "$T/p/good.conf"; then
	pass "TLSSHIM_CONFIG is absolute (relative -c from another directory)"
    else
	fail "TLSSHIM_CONFIG is absolute (relative -c from another directory)" "rc=$rc TLSSHIM_CONFIG=$cfg"
    fi ;;
*) fail "TLSSHIM_CONFIG is absolute (relative -c from another directory)" "rc=$rc TLSSHIM_CONFIG='$cfg' err=$(cat "$T/err")" ;;
esac
check "LD_PRELOAD is the library's absolute path" test "$pre" = "$DUMMY"
check "TLSSHIM_LOG is left alone without -v/-q" sh -c '! grep -q "^TLSSHIM_LOG=" "$1"' _ "$T/env"

(cd "$T/d" && LD_PRELOAD="$T/d/first.so" TLSSHIM_LIBRARY=libtlsshim.so "$L" -c "$T/p/good.conf" -- env >"$T/env" 2>"$T/err"); rc=$?
pre=$(value LD_PRELOAD "$T/env")
check "existing LD_PRELOAD stays first, ours appended (absolute)" \
	test "$rc" -eq 0 -a "$pre" = "$T/d/first.so $DUMMY"

LD_PRELOAD="$DUMMY" TLSSHIM_LIBRARY=$DUMMY "$L" -c "$T/p/good.conf" -- env >"$T/env" 2>"$T/err"
check "the library is not preloaded twice" test "$(value LD_PRELOAD "$T/env")" = "$DUMMY"
ln -s "$DUMMY" "$T/d/link.so"
LD_PRELOAD="$T/d/link.so" TLSSHIM_LIBRARY=$DUMMY "$L" -c "$T/p/good.conf" -- env >"$T/env" 2>"$T/err"
check "nor under another name (a link to it)" test "$(value LD_PRELOAD "$T/env")" = "$T/d/link.so"
# Another copy (another build or install) would wrap the program's calls
# inside ours: TLS inside TLS, broken connections.  It was kept, ours added.
mkdir -p "$T/d2" && cp "$DUMMY" "$T/d2/libtlsshim.so"
run "$T/out" "$T/err" env LD_PRELOAD="$T/d2/libtlsshim.so" TLSSHIM_LIBRARY=$DUMMY "$L" -c "$T/p/good.conf" -- env
check "another libtlsshim.so in LD_PRELOAD: exit 127, said, the program not run" \
	sh -c '[ "$1" -eq 127 ] && grep -q -F "tlsshim: LD_PRELOAD already holds another libtlsshim.so ($2)" "$3" &&
		[ ! -s "$4" ]' _ "$rc" "$T/d2/libtlsshim.so" "$T/err" "$T/out"
# An entry ld.so cannot load (here a directory; unreadable, for a user) is
# skipped by it: not another copy (it was refused, 127).
mkdir -p "$T/d3/libtlsshim.so"
run "$T/out" "$T/err" env LD_PRELOAD="$T/d3/libtlsshim.so" TLSSHIM_LIBRARY=$DUMMY "$L" -c "$T/p/good.conf" -- env
check "a libtlsshim.so in LD_PRELOAD that ld.so cannot load is not another copy: ours added, the program runs" \
	test "$rc" -eq 0 -a "$(value LD_PRELOAD "$T/out")" = "$T/d3/libtlsshim.so $DUMMY"
# The library itself first did not hide another copy after it (both loaded).
run "$T/out" "$T/err" env LD_PRELOAD="$DUMMY $T/d2/libtlsshim.so" TLSSHIM_LIBRARY=$DUMMY "$L" -c "$T/p/good.conf" -- env
check "another copy after the library itself in LD_PRELOAD: exit 127 too" \
	sh -c '[ "$1" -eq 127 ] && grep -q -F "tlsshim: LD_PRELOAD already holds another libtlsshim.so ($2)" "$3" &&
		[ ! -s "$4" ]' _ "$rc" "$T/d2/libtlsshim.so" "$T/err" "$T/out"

TLSSHIM_CONFIG="$T/p/empty.conf" TLSSHIM_LIBRARY=$DUMMY "$L" -- env >"$T/env" 2>"$T/err"; rc=$?
check "without -c: \$TLSSHIM_CONFIG is the policy" \
	test "$rc" -eq 0 -a "$(value TLSSHIM_CONFIG "$T/env")" = "$T/p/empty.conf"

TLSSHIM_CONFIG="$T/p/bad.conf" TLSSHIM_LIBRARY=$DUMMY "$L" -c "$T/p/good.conf" -- env >"$T/env" 2>"$T/err"; rc=$?
check "-c wins over \$TLSSHIM_CONFIG" \
	test "$rc" -eq 0 -a "$(value TLSSHIM_CONFIG "$T/env")" = "$T/p/good.conf"

if [ ! -e /etc/tlsshim.conf ]; then
	TLSSHIM_LIBRARY=$DUMMY "$L" -- env >"$T/env" 2>"$T/err"; rc=$?
	check "no -c, no \$TLSSHIM_CONFIG: /etc/tlsshim.conf (missing: 78)" \
		sh -c '[ "$1" -eq 78 ] && grep -q -F "tlsshim: /etc/tlsshim.conf: cannot read policy file" "$2"' _ "$rc" "$T/err"
fi

for v in "-v info" "-vv debug" "--verbose info" "-q error" "--quiet error"; do
	set -- $v
	TLSSHIM_LOG=warn TLSSHIM_LIBRARY=$DUMMY "$L" "$1" -c "$T/p/good.conf" -- env >"$T/env" 2>"$T/err"
	check "$1 sets TLSSHIM_LOG=$2" test "$(value TLSSHIM_LOG "$T/env")" = "$2"
done

TLSSHIM_LIBRARY=$DUMMY "$L" -c "$T/p/good.conf" -- printf '%s|' -q 'a b' -- >"$T/out" 2>"$T/err"
check "the program's arguments are passed untouched" test "$(cat "$T/out")" = "-q|a b|--|"

TLSSHIM_LIBRARY=$DUMMY "$L" -c "$T/p/good.conf" sh -c 'exit 3'; rc=$?
check "exec: the program's exit status is the launcher's (no -- needed)" test "$rc" -eq 3

# ---- failures --------------------------------------------------------------
rm -f "$T/marker"
TLSSHIM_LIBRARY=$DUMMY "$L" -c "$T/p/bad.conf" -- sh -c 'touch "$1"' _ "$T/marker" >"$T/out" 2>"$T/err"; rc=$?
if [ "$rc" -eq 78 ] && [ ! -e "$T/marker" ] && grep -q -F "tlsshim: $T/p/bad.conf:3: " "$T/err"; then
	pass "bad policy: program not started, exit 78, FILE:LINE on stderr"
else
	fail "bad policy: program not started, exit 78, FILE:LINE on stderr" \
		"rc=$rc marker=$([ -e "$T/marker" ] && echo yes || echo no) err=$(cat "$T/err")"
fi

TLSSHIM_LIBRARY=$DUMMY "$L" -c "$T/p/good.conf" -- "$T/no-such-program" >"$T/out" 2>"$T/err"; rc=$?
check "missing program: exit 127 and tlsshim: PROGRAM: reason" \
	sh -c '[ "$1" -eq 127 ] && grep -q -F "tlsshim: $2: No such file or directory" "$3"' \
	_ "$rc" "$T/no-such-program" "$T/err"

TLSSHIM_LIBRARY=no-such-program-xyz "$L" -c "$T/p/good.conf" -- no-such-program-xyz >"$T/out" 2>"$T/err"; rc=$?
check "missing TLSSHIM_LIBRARY: exit 127" test "$rc" -eq 127

# The library next to the launcher, then in ../lib; none: 127.
cp "$L" "$T/bin/tlsshim" && cp "$DUMMY" "$T/bin/libtlsshim.so"
"$T/bin/tlsshim" -c "$T/p/good.conf" -- env >"$T/env" 2>"$T/err"
check "library found next to the launcher" test "$(value LD_PRELOAD "$T/env")" = "$T/bin/libtlsshim.so"
cp "$L" "$T/inst/bin/tlsshim" && cp "$DUMMY" "$T/inst/lib/libtlsshim.so"
"$T/inst/bin/tlsshim" -c "$T/p/good.conf" -- env >"$T/env" 2>"$T/err"
check "library found in ../lib" test "$(value LD_PRELOAD "$T/env")" = "$T/inst/bin/../lib/libtlsshim.so"
cp "$L" "$T/lonely/tlsshim"
rm -f "$T/marker"
"$T/lonely/tlsshim" -c "$T/p/good.conf" -- sh -c 'touch "$1"' _ "$T/marker" >"$T/out" 2>"$T/err"; rc=$?
check "no library: exit 127, program not started" \
	sh -c '[ "$1" -eq 127 ] && [ ! -e "$2" ] && grep -q libtlsshim.so "$3"' _ "$rc" "$T/marker" "$T/err"

# ---- usage ---------------------------------------------------------------
"$L" --version >"$T/out" 2>&1; rc=$?
check "--version" test "$rc" -eq 0 -a "$(cat "$T/out")" = "tlsshim 0.1.0"
"$L" -h >"$T/out" 2>&1; rc=$?
check "-h: usage on stdout, exit 0" sh -c '[ "$1" -eq 0 ] && grep -q "usage: tlsshim" "$2"' _ "$rc" "$T/out"
"$L" --help >"$T/out" 2>/dev/null; rc=$?
check "--help: exit 0" sh -c '[ "$1" -eq 0 ] && grep -q -- "--check POLICY" "$2"' _ "$rc" "$T/out"
for args in "" "-c $T/p/good.conf" "-x -- env" "-v -q -c $T/p/good.conf -- env" "--check" \
	    "--check $T/p/good.conf -- env" "-c"; do
	# shellcheck disable=SC2086
	TLSSHIM_LIBRARY=$DUMMY "$L" $args >"$T/out" 2>"$T/err"; rc=$?
	check "usage error ($args): exit 64 with usage" \
		sh -c '[ "$1" -eq 64 ] && grep -q "usage: tlsshim" "$2"' _ "$rc" "$T/err"
done
TLSSHIM_CONFIG="$T/p/good.conf" TLSSHIM_LIBRARY=$DUMMY "$L" -c "" -- env >"$T/out" 2>"$T/err"; rc=$?
check "usage error (-c ''): exit 64, program not started" \
	sh -c '[ "$1" -eq 64 ] && [ ! -s "$2" ] && grep -q "usage: tlsshim" "$3"' _ "$rc" "$T/out" "$T/err"
