#!/bin/sh
# tests/launcher/linkage.sh — what libtlsshim.so and the launcher take from
# other libraries at run time (docs/design.md, "Private dependencies").
#
# A name the library resolves dynamically can be taken over by a function
# of the same name that the program exports (lighttpd's config_init and
# config_read took libconfig's place and lighttpd aborted at start-up).  So:
# libconfig is linked in with its symbols hidden, and every name that is
# still resolved at run time comes, by its symbol version, from the C
# library (on purpose) or from libssl/libcrypto (shared with the program on
# purpose: the program's OpenSSL and ours are one library).
. "$(dirname "$0")/../lib.sh"

LIB=$TLSSHIM_LIB
L=$TLSSHIM_LAUNCHER
for f in "$LIB" "$L"; do
	if [ ! -f "$f" ]; then
		fail "linkage_setup" "$f is missing (make)"
		exit 1
	fi
done
for t in readelf nm ldd; do
	command -v "$t" >/dev/null || { fail "linkage_setup" "$t not installed (binutils, libc-bin)"; exit 1; }
done

# The sanitizer runtimes of the ASan build (unversioned names, their own
# NEEDED entries) are the only additions allowed there.
SAN_LIBS='libasan\.so\.[0-9]+|libubsan\.so\.[0-9]+'
SAN_NAMES='__(asan|ubsan|sanitizer|lsan)_[A-Za-z0-9_]*'
OK_LIBS="libc\\.so\\.6|ld-linux[-a-z0-9_.]*\\.so\\.[0-9]+|libssl\\.so\\.3|libcrypto\\.so\\.3|$SAN_LIBS"
# libconfig's API and the internals of its parser.
LIBCONFIG_NAMES='^(config_|libconfig_|scanctx_|strbuf_|parsectx_)'

# needed FILE: the NEEDED entries, one a line.
needed() { readelf -d -W "$1" | sed -n 's/.*(NEEDED).*\[\(.*\)\]$/\1/p'; }

# undefined FILE: "NAME LIBRARY BINDING" for every undefined dynamic
# symbol; LIBRARY is the file its version is needed from, "-" when it has
# no version.
undefined() {
	{ readelf -V -W "$1"; echo "@@syms"; readelf --dyn-syms -W "$1"; } | awk '
	$1 == "@@syms" { syms = 1; next }
	!syms && /File:/ { for (i = 1; i < NF; i++) if ($i == "File:") file = $(i + 1); next }
	!syms && /Name:/ { for (i = 1; i < NF; i++) if ($i == "Version:") lib[$(i + 1)] = file; next }
	syms && $7 == "UND" && NF >= 8 {
		name = $8; v = "-"
		if (NF >= 9) { v = $9; gsub(/[()]/, "", v) }
		sub(/@.*/, "", name)
		print name, ((v in lib) ? lib[v] : "-"), $5
	}'
}

# ---- libtlsshim.so -----------------------------------------------------------
name="libtlsshim.so: NEEDED only libc, libssl, libcrypto"
bad=$(needed "$LIB" | grep -v -E "^($OK_LIBS)\$")
if [ -z "$bad" ] && needed "$LIB" | grep -q '^libc\.so\.6$'; then
	pass "$name"
else
	fail "$name" "unexpected NEEDED entries: $(echo $bad) (all: $(needed "$LIB" | tr '\n' ' '))"
fi

name="libtlsshim.so: libconfig.so is not loaded with it (ldd)"
ldd "$LIB" >"$T/ldd" 2>&1
if grep -q . "$T/ldd" && ! grep -q -i libconfig "$T/ldd"; then
	pass "$name"
else
	fail "$name" "$(tr '\n' ' ' <"$T/ldd")"
fi

undefined "$LIB" >"$T/undef"
name="libtlsshim.so: undefined dynamic symbols read"
if [ "$(wc -l <"$T/undef")" -gt 20 ] && grep -q '^SSL_new libssl\.so\.3 ' "$T/undef" &&
   grep -q '^dladdr libc\.so\.6 ' "$T/undef"; then
	pass "$name"
else
	fail "$name" "the list looks wrong: $(head -5 "$T/undef" | tr '\n' ' ')"
fi

name="libtlsshim.so: no libconfig name is resolved dynamically"
bad=$(awk '{print $1}' "$T/undef" | grep -E "$LIBCONFIG_NAMES")
if [ -z "$bad" ]; then
	pass "$name"
else
	fail "$name" "undefined: $(echo $bad)"
fi

# Versioned: from an allowed library.  Unversioned: only the weak hooks
# every shared object has and, in the ASan build, names the sanitizer
# runtimes define (their own, and the C library functions they intercept:
# the library is linked against libasan.so first; at run time the runtime
# is first in the search order anyway and calls the C library's).
: >"$T/san.names"
for s in $(needed "$LIB" | grep -E "^($SAN_LIBS)\$"); do
	p=$(ldd "$LIB" | awk -v s="$s" '$1 == s {print $3}')
	[ -f "$p" ] && nm -D --defined-only "$p" | awk '{print $3 "@-GLOBAL"}' | sed 's/@[^-].*@-/@-/' >>"$T/san.names"
done
name="libtlsshim.so: every undefined name comes from libc, libssl or libcrypto"
bad=$(awk '$2 != "-" {print $1 "@" $2} $2 == "-" {print $1 "@-" $3}' "$T/undef" |
	grep -v -E "@($OK_LIBS)\$" |
	grep -v -E '^(__gmon_start__|_ITM_deregisterTMCloneTable|_ITM_registerTMCloneTable)@-WEAK$' |
	grep -v -x -F -f "$T/san.names" | grep -v -E "^$SAN_NAMES@-(GLOBAL|WEAK)\$")
if [ -z "$bad" ]; then
	pass "$name"
else
	fail "$name" "$(echo $bad | cut -c1-600)"
fi

# Our own functions (policy, engine, log) and libconfig's are hidden: the
# library exports nothing but its wrappers, each named like a C library
# (or libresolv.so.2)
# function, and two of libcrypto's: CRYPTO_set_mem_functions, so that a
# program's call is refused as OpenSSL refused it before the shim put its
# own allocation functions in (core/alloc.c), and ERR_new, which counts
# the pushes onto each thread's error queue (core/errq.c); liburing's
# four ring constructors (shim/syscall.c: liburing makes its own system
# calls); and tlsshim_library_version, the mark by which a second copy
# of the library in the process is found (shim/init.c).
name="libtlsshim.so: exports only its C library wrappers (and CRYPTO_set_mem_functions, ERR_new, liburing's ring constructors, tlsshim_library_version)"
libc=$(ldd "$LIB" | awk '$1 == "libc.so.6" {print $3}')
if [ -z "$libc" ] || [ ! -f "$libc" ]; then
	fail "$name" "libc.so.6 not found by ldd"
else
	# (and libresolv.so.2's, beside it: its compatibility look-ups,
	# res_gethostbyname and family, are wrapped too)
	nm -D --defined-only "$libc" "$(dirname "$libc")/libresolv.so.2" 2>/dev/null | awk 'NF == 3 {print $3}' |
		sed 's/@.*//' | sort -u >"$T/libc.names"
	nm -D --defined-only "$LIB" | awk '{print $3}' | sed 's/@.*//' | sort -u >"$T/lib.names"
	# (and the linker's own markers, which some linkers export)
	bad=$(comm -23 "$T/lib.names" "$T/libc.names" | grep -v -x -E '__bss_start|_edata|_end|_init|_fini|CRYPTO_set_mem_functions|ERR_new|io_uring_setup|io_uring_queue_init(_params|_mem)?|tlsshim_library_version')
	if [ -z "$bad" ] && grep -q '^connect$' "$T/lib.names" && grep -q '^CRYPTO_set_mem_functions$' "$T/lib.names" &&
	   grep -q '^ERR_new$' "$T/lib.names" && grep -q '^tlsshim_library_version$' "$T/lib.names"; then
		pass "$name"
	else
		fail "$name" "exported but not a libc name: $(echo $bad | cut -c1-600)"
	fi
fi

# libconfig is inside, as local symbols (the library is not stripped in
# the build directory).
name="libtlsshim.so: libconfig linked in, its symbols local"
if nm "$LIB" 2>/dev/null | grep -q ' t config_read_file$' &&
   ! nm "$LIB" 2>/dev/null | grep -E ' [A-Z] ' | awk '{print $3}' | grep -q -E "$LIBCONFIG_NAMES"; then
	pass "$name"
else
	fail "$name" "$(nm "$LIB" 2>&1 | grep -E ' config_read_file$' | head -3)"
fi

# ---- the launcher -------------------------------------------------------------
name="tlsshim: libconfig linked in, not NEEDED"
if ! needed "$L" | grep -q -i libconfig && ! undefined "$L" | awk '{print $1}' | grep -q -E "$LIBCONFIG_NAMES" &&
   nm "$L" 2>/dev/null | grep -q -i ' t config_read_file$'; then
	pass "$name"
else
	fail "$name" "NEEDED: $(needed "$L" | tr '\n' ' ')"
fi

name="tlsshim: NEEDED only libc, libssl, libcrypto"
bad=$(needed "$L" | grep -v -E "^($OK_LIBS)\$")
if [ -z "$bad" ]; then
	pass "$name"
else
	fail "$name" "unexpected NEEDED entries: $(echo $bad)"
fi
