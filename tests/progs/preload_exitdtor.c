/* preload_exitdtor.so — a library for a program to dlopen() (not to
 * preload) whose destructor writes: at exit() the C library runs it in
 * _dl_fini, after every atexit() handler, the shim's among them.
 *
 *   EXITDTOR_FD=N prog    (prog dlopens preload_exitdtor.so)
 * At exit() it writes "late dtor\n" to fd N.
 */
#include <stdlib.h>
#include <unistd.h>

__attribute__((destructor)) static void late(void)
{
	const char *p = getenv("EXITDTOR_FD");

	if (p && atoi(p) >= 0)
		(void)!write(atoi(p), "late dtor\n", 10);
}
