#!/bin/sh
# tests/preload/sanfirst.sh — a program whose library's constructor is the
# first code of the process to call into the shim, before anything has
# called malloc: vsftpd, through libcap-ng, whose constructor opens
# /proc/sys/kernel/cap_last_cap.  The dynamic loader runs the preloaded
# objects' constructors last, so under the sanitizer builds that call
# runs the shim's instrumented code before the sanitizer runtime has
# initialised (its shadow memory is not mapped yet): vsftpd died of
# SIGSEGV at start under make check's ASan build, before main().
# tests/run.sh preloads BUILD/tools/sanfirst.so (DF_1_INITFIRST: its
# constructor runs before every other object's) after the runtime to
# initialise it first.  Asserted on every build: the program's main()
# runs, after the constructor's open() (a wrapped call) succeeded.
. "$(dirname "$0")/../lib.sh"
. "$TLSSHIM_TOP/tests/preload/common.inc"
need_shim sanfirst_setup

cat >"$T/ctoropen.c" <<'EOC'
#include <fcntl.h>
#include <unistd.h>
static int got = -2;
int ctoropen_result(void) { return got; }
__attribute__((constructor)) static void early(void)
{
	int fd = open("/dev/null", O_RDONLY);
	got = fd >= 0 ? 0 : -1;
	if (fd >= 0)
		close(fd);
}
EOC
cat >"$T/main.c" <<'EOC'
#include <stdio.h>
int mid(void);
int main(void)
{
	printf("main ran, constructor's open %s\n", mid() == 0 ? "ok" : "failed");
	return mid() == 0 ? 0 : 1;
}
EOC
# libctoropen is deep among the program's dependencies (main -> libmid ->
# libmid2 -> libctoropen), as libcap-ng is vsftpd's (through libpam and
# libaudit): late in the loader's search list, so its constructor runs
# before those of the runtime's own dependencies (libstdc++'s would
# initialise the runtime through malloc first).
echo 'int ctoropen_result(void); int mid2(void) { return ctoropen_result(); }' >"$T/mid2.c"
echo 'int mid2(void); int mid(void) { return mid2(); }' >"$T/mid.c"
if ! cc -shared -fPIC -o "$T/libctoropen.so" "$T/ctoropen.c" 2>"$T/cc.err" ||
   ! cc -shared -fPIC -o "$T/libmid2.so" "$T/mid2.c" -L"$T" -Wl,--no-as-needed -lctoropen -Wl,-rpath,"$T" 2>>"$T/cc.err" ||
   ! cc -shared -fPIC -o "$T/libmid.so" "$T/mid.c" -L"$T" -Wl,--no-as-needed -lmid2 -Wl,-rpath,"$T" 2>>"$T/cc.err" ||
   ! cc -o "$T/ctoropen" "$T/main.c" -L"$T" -Wl,--no-as-needed -lmid -Wl,-rpath,"$T" 2>>"$T/cc.err"; then
	fail sanfirst_setup "cannot build the program$(show "$T/cc.err")"
	exit 1
fi
name=library_constructor_calls_the_shim_first
echo 'rules = ();' >"$T/empty.conf"
timeout -k 1 $((10 * TS)) env LD_PRELOAD="$SHIM_PRELOAD" TLSSHIM_CONFIG="$T/empty.conf" \
	"$T/ctoropen" >"$T/out" 2>"$T/err"
rc=$?
if [ $rc -eq 0 ] && grep -q "main ran, constructor's open ok" "$T/out"; then
	pass "$name"
else
	fail "$name" "exit status $rc (139: SIGSEGV before main)$(show "$T/out" "$T/err")"
fi
