#!/bin/sh
# tests/launcher/build.sh — the Makefile honours CPPFLAGS, CFLAGS and
# LDFLAGS (Debian's dpkg-buildflags hardening: _FORTIFY_SOURCE, -z now),
# asks pkg-config for OpenSSL and libconfig, keeps -Werror, and "make
# clean" removes $(BUILD), whatever it is.  Builds the library and the
# launcher from the source tree into a scratch BUILD directory.
# tlsshim-test: once
. "$(dirname "$0")/../lib.sh"

TOP=$TLSSHIM_TOP
command -v make >/dev/null || { fail "build_setup" "make not installed"; exit 1; }
command -v pkg-config >/dev/null || { fail "build_setup" "pkg-config not installed"; exit 1; }
# The build under test may be the sanitizer one: these builds are not.
unset SAN CFLAGS CPPFLAGS LDFLAGS MAKEFLAGS MFLAGS

# A pkg-config that logs what it is asked, then answers as the real one.
real_pc=$(command -v pkg-config)
cat >"$T/pkg-config" <<EOF
#!/bin/sh
echo "\$*" >>"$T/pkg-config.log"
exec "$real_pc" "\$@"
EOF
chmod 755 "$T/pkg-config"

# hardened: what dpkg-buildflags gives for a package with hardening=+all,
# and a run path as a mark that LDFLAGS reached both links.
# One compiler per CPU (as make check's own builds): 36 s of CPU, which
# took as long in wall time one file after another.  Without debug
# information (dpkg's -g, and the Makefile's own in OPT): it changes no
# warning and nothing checked here, and cost a fifth of the compile.
HB=$T/hardened
make -s -j"$(nproc 2>/dev/null || echo 2)" -C "$TOP" BUILD="$HB" PKG_CONFIG="$T/pkg-config" \
	OPT= CPPFLAGS="-Wdate-time -D_FORTIFY_SOURCE=2" \
	CFLAGS="-O2 -fstack-protector-strong -Wformat -Werror=format-security" \
	LDFLAGS="-Wl,-z,relro -Wl,-z,now -Wl,-rpath,/tlsshim-ldflags-mark" \
	"$HB/libtlsshim.so" "$HB/tlsshim" >"$T/make.out" 2>&1
mrc=$?
name="hardened build (dpkg-buildflags style) succeeds"
if [ "$mrc" -eq 0 ] && [ -f "$HB/libtlsshim.so" ] && [ -x "$HB/tlsshim" ]; then
	pass "$name"
else
	fail "$name" "make exited $mrc: $(tail -n 5 "$T/make.out" | tr '\n' '|')"
	exit 1
fi

# CPPFLAGS: _FORTIFY_SOURCE turns snprintf and friends into their checked
# variants (Debian's gcc does not fortify by default).
name="CPPFLAGS honoured: fortified calls in the launcher and the library"
if nm -D "$HB/tlsshim" | grep -q '__snprintf_chk' && nm -D "$HB/libtlsshim.so" | grep -q '_chk@'; then
	pass "$name"
else
	fail "$name" "no __*_chk symbol: $(nm -D "$HB/tlsshim" | grep -c _chk) in tlsshim"
fi

name="CFLAGS honoured: stack protector"
if nm -D "$HB/tlsshim" | grep -q '__stack_chk_fail'; then
	pass "$name"
else
	fail "$name" "no __stack_chk_fail in the launcher"
fi

name="LDFLAGS honoured: -z now and the mark in both links"
if readelf -d "$HB/tlsshim" | grep -q 'BIND_NOW\|FLAGS.*NOW' &&
   readelf -d "$HB/tlsshim" | grep -q 'tlsshim-ldflags-mark' &&
   readelf -d "$HB/libtlsshim.so" | grep -q 'tlsshim-ldflags-mark' &&
   readelf -lW "$HB/tlsshim" | grep -q GNU_RELRO; then
	pass "$name"
else
	fail "$name" "$(readelf -d "$HB/tlsshim" | grep -E 'FLAGS|RUNPATH|RPATH' | tr '\n' '|')"
fi

name="pkg-config asked for openssl and libconfig"
if grep -q -- '--cflags openssl' "$T/pkg-config.log" && grep -q -- '--libs openssl' "$T/pkg-config.log" &&
   grep -q -- 'libconfig' "$T/pkg-config.log"; then
	pass "$name"
else
	fail "$name" "asked: $(sort -u "$T/pkg-config.log" 2>/dev/null | tr '\n' '|')"
fi

# -Werror stays on with the user's CFLAGS after ours.
name="-Wall -Wextra -Werror kept with user flags"
if make -s -n -C "$TOP" BUILD="$HB" CFLAGS="-O1" -W policy/file.c "$HB/obj/policy/file.o" 2>/dev/null |
	grep -- '-Wall' | grep -- '-Wextra' | grep -- '-Werror' | grep -q -- '-O1'; then
	pass "$name"
else
	fail "$name" "$(make -s -n -C "$TOP" BUILD="$HB" CFLAGS=-O1 -W policy/file.c "$HB/obj/policy/file.o" 2>&1 | head -3)"
fi

name="make clean removes \$(BUILD), not ./build"
make -s -C "$TOP" BUILD="$HB" clean >"$T/clean.out" 2>&1
if [ ! -e "$HB" ] && [ -d "$TLSSHIM_BUILD" ]; then
	pass "$name"
else
	fail "$name" "$HB still there: $(cat "$T/clean.out")"
fi
