/* preload_pumphang.so — a test-only fault injector: SSL_read_ex never
 * returns in any process but the one it was loaded into.  Loaded before
 * libtlsshim.so, it stands for a lock inside OpenSSL that another thread
 * held when the program forked, as a pump (a fork of the program) would
 * find it: the pump waits there for ever, as on such a lock, until a
 * signal handler ends it.
 *
 * It also shortens the pump's watchdog (shim/pump.c: SIGALRM every 5 s,
 * acting at the third tick of one turn of the pump's loop) to ticks of
 * 1 s, so that a case waits about 3 s for it instead of 15-20: the
 * watchdog's logic is the same, its log line still names the 15 s of
 * the library's constants.
 */
#include <dlfcn.h>
#include <stddef.h>
#include <sys/time.h>
#include <unistd.h>

typedef struct ssl_st SSL;

static pid_t loaded_in;
static int (*real_read_ex)(SSL *, void *, size_t, size_t *);
static int (*real_setitimer)(__itimer_which_t, const struct itimerval *, struct itimerval *);

__attribute__((constructor)) static void init(void)
{
	loaded_in = getpid();
	/* Here, not in a fork: dlsym takes the dynamic linker's lock. */
	real_read_ex = (int (*)(SSL *, void *, size_t, size_t *))dlsym(RTLD_NEXT, "SSL_read_ex");
	real_setitimer = (int (*)(__itimer_which_t, const struct itimerval *, struct itimerval *))dlsym(RTLD_NEXT, "setitimer");
}

int setitimer(__itimer_which_t which, const struct itimerval *nv, struct itimerval *ov)
{
	struct itimerval t;

	if (!real_setitimer)
		return -1;
	if (getpid() != loaded_in && which == ITIMER_REAL && nv && nv->it_interval.tv_sec == 5) {
		t = *nv;
		t.it_interval.tv_sec = t.it_value.tv_sec = 1;
		nv = &t;
	}
	return real_setitimer(which, nv, ov);
}

int SSL_read_ex(SSL *s, void *buf, size_t num, size_t *readbytes)
{
	if (getpid() != loaded_in)
		for (;;)
			pause();
	return real_read_ex ? real_read_ex(s, buf, num, readbytes) : 0;
}
