/* preload_smallnofile.so — a test-only fault injector: RLIMIT_NOFILE
 * raised after start-up.
 *
 *   LD_PRELOAD="preload_smallnofile.so libtlsshim.so" prog
 *
 * Loaded BEFORE the library: the first getrlimit(RLIMIT_NOFILE) of the
 * process (the library's, sizing its connection table at start-up) says
 * 1024 for both limits; every later call is the C library's.  The program
 * (which asks with prlimit()) may then use numbers past the table, as one
 * that raised its limit after start-up does (tests/preload/escape.sh).
 */
#include <dlfcn.h>
#include <sys/resource.h>

typedef int (*getrlimit_fn)(__rlimit_resource_t, struct rlimit *);

static int asked;

int getrlimit(__rlimit_resource_t res, struct rlimit *rl)
{
	getrlimit_fn real = (getrlimit_fn)dlsym(RTLD_NEXT, "getrlimit");
	int r = real ? real(res, rl) : -1;

	if (r == 0 && res == RLIMIT_NOFILE && !__atomic_exchange_n(&asked, 1, __ATOMIC_ACQ_REL))
		rl->rlim_cur = rl->rlim_max = 1024;
	return r;
}
