/* core/alloc.c — OpenSSL's allocator, and the pump's private heap.
 *
 * A pump (shim/pump.c) is made with _Fork in a process whose other
 * threads go on running.  A lock one of them held at that instant stays
 * held in the pump for ever, and the allocator's are the ones most often
 * held: malloc's arena lock, or AddressSanitizer's (every thread shares
 * its allocator).  A pump that then calls malloc waits for ever, and its
 * connection with it.  OpenSSL allocates in unforeseeable places (a
 * record's first write, a handshake the pump finishes, a ticket), so the
 * shim gives OpenSSL its own allocation functions
 * (CRYPTO_set_mem_functions) before OpenSSL allocates anything.  In the
 * program they are malloc, realloc and free.  In a pump, which has one
 * thread, they take memory from a private heap that needs no lock: an
 * anonymous mapping of its own, with a free list per size.  A block the
 * program allocated before the fork is never given back to malloc there
 * (free would take the same locks): the pump leaks it, as its copy of the
 * program's memory goes when it exits.
 */
#include <dlfcn.h>
#include <malloc.h>
#include <openssl/crypto.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "core/alloc.h"

static bool in_pump;
static bool installed;

/* The private heap: one mapping, used from its start; each block has a
 * header with its class.  Classes: multiples of 16 up to 1 KiB, then
 * powers of two. */
#define HEAP_SIZE ((size_t)256 << 20)
#define HEAP_MIN ((size_t)4 << 20)
#define SMALL_MAX 1024
#define NCLASS (SMALL_MAX / 16 + 48)

struct hdr {
	size_t cap;             /* usable bytes after the header */
	size_t cls;
};

static unsigned char *heap, *heap_next, *heap_end;
static void *free_list[NCLASS];

static size_t class_of(size_t n, size_t *cap)
{
	size_t c = 2048, k = SMALL_MAX / 16;

	if (n <= SMALL_MAX) {
		*cap = n ? (n + 15) & ~(size_t)15 : 16;
		return *cap / 16 - 1;
	}
	while (c < n) {
		if (c > (SIZE_MAX >> 2))
			return NCLASS;
		c <<= 1;
		k++;
	}
	*cap = c;
	return k;
}

static bool ours(const void *p)
{
	return heap && (const unsigned char *)p >= heap && (const unsigned char *)p < heap_end;
}

static void *heap_alloc(size_t n)
{
	size_t cap, cls = class_of(n, &cap);
	struct hdr *h;

	if (cls >= NCLASS)
		return NULL;
	if (free_list[cls]) {
		void *p = free_list[cls];
		memcpy(&free_list[cls], p, sizeof(void *));
		return p;
	}
	if (!heap) {
		/* Address space only, until used; less where overcommit is
		 * strict. */
		for (size_t sz = HEAP_SIZE; !heap && sz >= HEAP_MIN; sz /= 4) {
			void *m = mmap(NULL, sz, PROT_READ | PROT_WRITE,
				       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
			if (m != MAP_FAILED) {
				heap = heap_next = m;
				heap_end = heap + sz;
			}
		}
		if (!heap)
			return NULL;
	}
	if ((size_t)(heap_end - heap_next) < sizeof *h + cap)
		return NULL;
	h = (struct hdr *)heap_next;
	h->cap = cap;
	h->cls = cls;
	heap_next += sizeof *h + cap;
	return h + 1;
}

static void heap_free(void *p)
{
	struct hdr *h = (struct hdr *)p - 1;

	memcpy(p, &free_list[h->cls], sizeof(void *));
	free_list[h->cls] = p;
}

static void *crypto_malloc(size_t n, const char *file, int line)
{
	(void)file;
	(void)line;
	return in_pump ? heap_alloc(n) : malloc(n);
}

static void *crypto_realloc(void *p, size_t n, const char *file, int line)
{
	size_t old;
	void *q;

	(void)file;
	(void)line;
	if (!in_pump)
		return realloc(p, n);
	if (!p)
		return heap_alloc(n);
	if (ours(p)) {
		old = ((struct hdr *)p - 1)->cap;
		if (n <= old)
			return p;
	} else {
		/* The program's block: its size from its header (no lock). */
		old = malloc_usable_size(p);
	}
	if (!(q = heap_alloc(n)))
		return NULL;
	memcpy(q, p, old < n ? old : n);
	if (ours(p))
		heap_free(p);
	return q;
}

/* The program's case first, free(NULL) included: OpenSSL frees about
 * a thousand times a handshake, a third of them NULL. */
static void crypto_free(void *p, const char *file, int line)
{
	(void)file;
	(void)line;
	if (!in_pump)
		free(p);
	else if (p && ours(p))
		heap_free(p);
	/* else: the program's, left alone (see above) */
}

/* OpenSSL refuses new allocation functions once it has allocated, but
 * only while its own are in place: with ours installed it would accept a
 * program's, which would then free and resize what ours allocated.  So
 * the program's calls come here (this library is preloaded) and get the
 * answer OpenSSL gave them before we installed anything: the shim's
 * start-up allocates, so it was always "no". */
typedef int (*set_mem_fn)(CRYPTO_malloc_fn, CRYPTO_realloc_fn, CRYPTO_free_fn);

static set_mem_fn real_set_mem(void)
{
	return (set_mem_fn)dlsym(RTLD_NEXT, "CRYPTO_set_mem_functions");
}

__attribute__((visibility("default")))
int CRYPTO_set_mem_functions(CRYPTO_malloc_fn m, CRYPTO_realloc_fn r, CRYPTO_free_fn f)
{
	set_mem_fn real;

	if (__atomic_load_n(&installed, __ATOMIC_ACQUIRE) || !(real = real_set_mem()))
		return 0;
	return real(m, r, f);
}

bool alloc_install(void)
{
	set_mem_fn real = real_set_mem();
	bool ok = real && real(crypto_malloc, crypto_realloc, crypto_free) == 1;

	__atomic_store_n(&installed, ok, __ATOMIC_RELEASE);
	return ok;
}

void alloc_enter_pump(void)
{
	in_pump = true;
}
