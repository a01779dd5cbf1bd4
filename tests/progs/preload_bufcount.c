/* preload_bufcount.so — a test-only counter of live heap blocks of one
 * size (tests/preload/idlebufs.sh: the four-record read buffer).
 *
 *   LD_PRELOAD="$SHIM_PRELOAD preload_bufcount.so" \
 *       TLSSHIM_TEST_BUFSIZE=SIZE prog
 *
 * Counts the blocks of exactly SIZE bytes that malloc, calloc or realloc
 * handed out and free or realloc did not take back yet; the program asks
 * with bufcount_live() (found with dlsym(RTLD_DEFAULT): -1 when no count
 * could be kept, for example more than BC_MAX such blocks at once).
 * With the C library's allocator its malloc, calloc, realloc and free
 * are these (the C library's own behind them: __libc_malloc..., no
 * dlsym, which itself allocates).  AddressSanitizer's and
 * ThreadSanitizer's malloc come before any preload, so under them
 * nothing of that is called: the count comes from their allocation hooks
 * (__sanitizer_install_malloc_and_free_hooks), which every allocation
 * and free of theirs runs, realloc's included.  Either way it counts
 * every block, whoever asked for it: the heap's totals are not looked at.
 * The hooks may run on any thread, inside the allocator: no allocation,
 * no lock, one compare-and-swap per block counted.  Knows nothing about
 * TLS.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

extern void *__libc_malloc(size_t n);
extern void *__libc_calloc(size_t n, size_t size);
extern void *__libc_realloc(void *p, size_t n);
extern void __libc_free(void *p);

extern int __sanitizer_install_malloc_and_free_hooks(
	void (*malloc_hook)(const volatile void *, size_t),
	void (*free_hook)(const volatile void *)) __attribute__((weak));

#define BC_MAX 64

static size_t want;             /* 0: nothing counted */
static void *live[BC_MAX];
static int overflow;

static void track(const volatile void *p, size_t n)
{
	if (!p || !want || n != want)
		return;
	for (int i = 0; i < BC_MAX; i++) {
		void *none = NULL;

		if (__atomic_compare_exchange_n(&live[i], &none, (void *)p, false,
						__ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
			return;
	}
	__atomic_store_n(&overflow, 1, __ATOMIC_RELAXED);
}

static void untrack(const volatile void *p)
{
	if (!p)
		return;
	for (int i = 0; i < BC_MAX; i++) {
		void *q = (void *)p;

		if (__atomic_load_n(&live[i], __ATOMIC_ACQUIRE) == q &&
		    __atomic_compare_exchange_n(&live[i], &q, NULL, false,
						__ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
			return;
	}
}

__attribute__((visibility("default"))) int bufcount_live(void)
{
	int n = 0;

	if (!want || __atomic_load_n(&overflow, __ATOMIC_RELAXED))
		return -1;
	for (int i = 0; i < BC_MAX; i++)
		n += __atomic_load_n(&live[i], __ATOMIC_ACQUIRE) != NULL;
	return n;
}

__attribute__((constructor)) static void bufcount_init(void)
{
	const char *v = getenv("TLSSHIM_TEST_BUFSIZE");
	size_t n = v ? strtoul(v, NULL, 10) : 0;

	if (__sanitizer_install_malloc_and_free_hooks &&
	    !__sanitizer_install_malloc_and_free_hooks(track, untrack))
		n = 0;
	__atomic_store_n(&want, n, __ATOMIC_RELEASE);
}

void *malloc(size_t n)
{
	void *p = __libc_malloc(n);

	track(p, n);
	return p;
}

void *calloc(size_t n, size_t size)
{
	void *p = __libc_calloc(n, size);

	if (p)
		track(p, n * size);
	return p;
}

void *realloc(void *p, size_t n)
{
	void *q = __libc_realloc(p, n);

	if (q || !n) {
		untrack(p);
		track(q, n);
	}
	return q;
}

void free(void *p)
{
	untrack(p);
	__libc_free(p);
}
