/* plugins/deepload.c — a dlopen made by a library, for
 * tests/preload/deepbind.sh: glibc looks a name without a slash up along
 * the caller's DT_RPATH and those of the objects that loaded it.
 *   libdeepload.so: deep_open(NAME, MODE) is dlopen(NAME, MODE); no run
 *	path of its own.
 *   libdeepmid.so (-DDEEP_MID): needs libdeepload.so, DT_RPATH
 *	$ORIGIN/lib; mid_open(NAME, MODE) is deep_open's answer, so the
 *	plug-in is found in $ORIGIN/lib of libdeepmid.so. */
#include <dlfcn.h>

/* Not a tail call: glibc takes the caller from dlopen's return address. */
static void *volatile answer;

void *deep_open(const char *name, int mode);

#ifdef DEEP_MID
void *mid_open(const char *name, int mode)
{
	answer = deep_open(name, mode);
	return answer;
}
#else
void *deep_open(const char *name, int mode)
{
	answer = dlopen(name, mode);
	return answer;
}
#endif
