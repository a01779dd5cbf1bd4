/* preload_pumpslow.so — a test-only fault injector that makes a pump
 * slow to close what it inherited (tests/preload/pump.sh,
 * linger_after_fork).
 *
 * Loaded after libtlsshim.so, so that the library's close_range() (found
 * with dlsym RTLD_NEXT) comes here.  In any process but the one it was
 * loaded into (a pump is a fork of the program), the first close_range()
 * waits PUMPSLOW_MS milliseconds (default 300) first: a pump that the
 * scheduler, or a machine under load, left behind its program for that
 * long.  Every other call goes straight through.
 */
#include <dlfcn.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static pid_t loaded_in;
static int done;
static int (*real_close_range)(unsigned int, unsigned int, int);

__attribute__((constructor)) static void init(void)
{
	loaded_in = getpid();
	real_close_range = (int (*)(unsigned int, unsigned int, int))dlsym(RTLD_NEXT, "close_range");
}

int close_range(unsigned int first, unsigned int last, int flags)
{
	if (!done && getpid() != loaded_in) {
		const char *e = getenv("PUMPSLOW_MS");
		long ms = e ? atol(e) : 300;
		struct timespec t = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L };

		done = 1;
		nanosleep(&t, NULL);
	}
	return real_close_range ? real_close_range(first, last, flags) : -1;
}
