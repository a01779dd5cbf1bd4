/* preload_enfile.so — a test-only fault injector: accept() and accept4()
 * fail with ENFILE (the system-wide file table is full) on chosen calls.
 *
 *   LD_PRELOAD="libtlsshim.so preload_enfile.so" TLSSHIM_TEST_ENFILE=3,2,5 prog
 *
 * Loaded AFTER the library, so that the library's own dlsym(RTLD_NEXT,
 * "accept") finds these wrappers: the shim's real accept sees the error,
 * exactly as when the kernel's file table is full.  TLSSHIM_TEST_ENFILE is
 * a list of runs: the first 3 calls fail, the 4th goes to the C library,
 * the next 2 fail, the next one goes through, then 5 fail; every call
 * after the list goes through.  As the kernel does (do_accept allocates the
 * struct file before it dequeues a connection), a failed call takes no
 * connection from the listen queue and makes no descriptor.
 * Knows nothing about TLS.
 */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/socket.h>

#define MAXRUNS 16

static pthread_mutex_t lk = PTHREAD_MUTEX_INITIALIZER;
static int runs[MAXRUNS], nruns = -1, cur, left;

/* 1: this call must fail with ENFILE. */
static int inject(void)
{
	int fail = 0;

	pthread_mutex_lock(&lk);
	if (nruns < 0) {
		const char *s = getenv("TLSSHIM_TEST_ENFILE");
		char *e;

		nruns = 0;
		while (s && *s && nruns < MAXRUNS) {
			long v = strtol(s, &e, 10);
			if (e == s || v < 0)
				break;
			runs[nruns++] = (int)v;
			s = *e == ',' ? e + 1 : e;
		}
		left = nruns ? runs[0] : 0;
	}
	if (cur < nruns) {
		if (left > 0) {
			left--;
			fail = 1;
		} else if (++cur < nruns) {
			left = runs[cur];   /* this call went through */
		}
	}
	pthread_mutex_unlock(&lk);
	return fail;
}

int accept(int fd, struct sockaddr *a, socklen_t *l)
{
	static int (*next)(int, struct sockaddr *, socklen_t *);

	if (inject()) {
		errno = ENFILE;
		return -1;
	}
	if (!next)
		next = (int (*)(int, struct sockaddr *, socklen_t *))dlsym(RTLD_NEXT, "accept");
	return next(fd, a, l);
}

int accept4(int fd, struct sockaddr *a, socklen_t *l, int flags)
{
	static int (*next)(int, struct sockaddr *, socklen_t *, int);

	if (inject()) {
		errno = ENFILE;
		return -1;
	}
	if (!next)
		next = (int (*)(int, struct sockaddr *, socklen_t *, int))dlsym(RTLD_NEXT, "accept4");
	return next(fd, a, l, flags);
}
