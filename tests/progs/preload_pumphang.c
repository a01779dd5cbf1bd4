/* preload_pumphang.so — a test-only fault injector: SSL_read_ex never
 * returns in any process but the one it was loaded into.  Loaded before
 * libtlsshim.so, it stands for a lock inside OpenSSL that another thread
 * held when the program forked, as a pump (a fork of the program) would
 * find it: the pump waits there for ever, as on such a lock, until a
 * signal handler ends it.
 */
#include <dlfcn.h>
#include <stddef.h>
#include <unistd.h>

typedef struct ssl_st SSL;

static pid_t loaded_in;
static int (*real_read_ex)(SSL *, void *, size_t, size_t *);

__attribute__((constructor)) static void init(void)
{
	loaded_in = getpid();
	/* Here, not in a fork: dlsym takes the dynamic linker's lock. */
	real_read_ex = (int (*)(SSL *, void *, size_t, size_t *))dlsym(RTLD_NEXT, "SSL_read_ex");
}

int SSL_read_ex(SSL *s, void *buf, size_t num, size_t *readbytes)
{
	if (getpid() != loaded_in)
		for (;;)
			pause();
	return real_read_ex ? real_read_ex(s, buf, num, readbytes) : 0;
}
