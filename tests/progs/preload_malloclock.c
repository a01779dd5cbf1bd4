/* preload_malloclock.so — a test-only fault injector: malloc's lock held
 * when a signal arrives.
 *
 *   LD_PRELOAD="libtlsshim.so preload_malloclock.so" \
 *       TLSSHIM_TEST_MALLOCSIG=SIZE prog
 *
 * malloc, calloc, realloc and free go to the C library's allocator
 * (__libc_malloc...: no dlsym, which itself allocates) under one lock of
 * their own, a plain mutex, as glibc's arena lock: a thread that wants it
 * while it holds it waits for ever.  A malloc() of exactly SIZE bytes
 * raises SIGUSR1 on its thread while it holds the lock: a handler that
 * then allocates, itself or through a library, hangs there, as it would
 * (now and then) with the C library's own allocator, with no race to win.
 * A process that exits while malloc's lock is held is fine (the signal
 * handler's _exit is the point).  AddressSanitizer's and
 * ThreadSanitizer's malloc come before any preload: under them nothing
 * here is called (the program can tell: its signal never comes).  Knows
 * nothing about TLS.
 */
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>

extern void *__libc_malloc(size_t n);
extern void *__libc_calloc(size_t n, size_t size);
extern void *__libc_realloc(void *p, size_t n);
extern void __libc_free(void *p);

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

void *malloc(size_t n)
{
	static size_t sig_size_ = 1;
	size_t sig_size = __atomic_load_n(&sig_size_, __ATOMIC_RELAXED);
	void *p;

	if (sig_size == 1) {
		const char *v = getenv("TLSSHIM_TEST_MALLOCSIG");

		sig_size = v ? strtoul(v, NULL, 10) : 0;
		__atomic_store_n(&sig_size_, sig_size, __ATOMIC_RELAXED);
	}
	pthread_mutex_lock(&lock);
	p = __libc_malloc(n);
	if (sig_size && n == sig_size)
		raise(SIGUSR1);
	pthread_mutex_unlock(&lock);
	return p;
}

void *calloc(size_t n, size_t size)
{
	void *p;

	pthread_mutex_lock(&lock);
	p = __libc_calloc(n, size);
	pthread_mutex_unlock(&lock);
	return p;
}

void *realloc(void *q, size_t n)
{
	void *p;

	pthread_mutex_lock(&lock);
	p = __libc_realloc(q, n);
	pthread_mutex_unlock(&lock);
	return p;
}

void free(void *p)
{
	pthread_mutex_lock(&lock);
	__libc_free(p);
	pthread_mutex_unlock(&lock);
}
