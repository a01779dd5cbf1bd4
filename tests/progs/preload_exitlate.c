/* preload_exitlate.so — a library whose exit handler writes after the
 * shim's: listed after the shim in LD_PRELOAD, its constructor runs
 * first, so its atexit() handler is registered before the shim's and
 * runs after it (handlers run last registered first).
 *
 *   LD_PRELOAD="libtlsshim.so preload_exitlate.so" EXITLATE_FD=N prog
 * At exit() it writes "late atexit\n" to fd N.
 */
#include <stdlib.h>
#include <unistd.h>

static int fd = -1;

static void late(void)
{
	(void)!write(fd, "late atexit\n", 12);
}

__attribute__((constructor)) static void early(void)
{
	const char *p = getenv("EXITLATE_FD");

	if (p && (fd = atoi(p)) >= 0)
		atexit(late);
}
