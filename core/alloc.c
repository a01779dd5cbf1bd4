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
 *
 * _exit() and _Exit() send close_notify on the sessions the process owns
 * (shim/process.c), and a signal handler may be the caller: the thread it
 * interrupted may be inside malloc or free, with the arena's lock held,
 * and OpenSSL's allocations there (a ticket SSL_peek takes in, the alert,
 * its error state) then waited for ever on that lock.  So while a thread
 * ends its sessions at _exit (alloc_exit_begin), OpenSSL's allocations on
 * that thread come from the exit heap: another anonymous mapping, taken
 * from with one atomic addition (two threads may _exit at once); a block
 * freed is taken back only when it is the last one taken (exit_free: one
 * compare-and-swap), and a block of malloc's freed there is left alone
 * (the process ends right after).  A block of the exit heap that another
 * thread later resizes or frees is copied to malloc's, or given back to
 * the exit heap: never handed to realloc or free.
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
/* Set (never cleared) once either heap may be in play: a pump, or a
 * thread's first alloc_exit_begin.  Until then OpenSSL's calls go straight
 * to malloc, realloc and free after one load and test of this word, as
 * with no hooks at all; the other heaps' tests (a thread-local flag, the
 * exit heap's pointer and bounds) run only once it is set.  A thread that
 * can see an exit heap's block got it from the exiting thread through
 * some synchronisation, which the exiting thread's store here precedes:
 * it then sees this set too. */
static bool alloc_slow;

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

/* A heap's mapping: address space only, until used; less where
 * overcommit is strict.  NULL when none could be had. */
static unsigned char *heap_map(size_t *size)
{
	for (size_t sz = HEAP_SIZE; sz >= HEAP_MIN; sz /= 4) {
		void *m = mmap(NULL, sz, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		if (m != MAP_FAILED) {
			*size = sz;
			return m;
		}
	}
	return NULL;
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
		size_t sz;

		if (!(heap = heap_next = heap_map(&sz)))
			return NULL;
		heap_end = heap + sz;
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

/* The exit heap: its first bytes say where it ends and how much of it
 * is taken; published once (the loser of two first callers unmaps its
 * own). */
struct exit_heap {
	unsigned char *end;
	size_t next;            /* offset of the next block (atomic) */
};

static struct exit_heap *exit_heap;
static __thread bool exit_on __attribute__((tls_model("initial-exec")));

#define EXIT_FIRST ((sizeof(struct exit_heap) + 15) & ~(size_t)15)

static bool exit_block(const void *p)
{
	struct exit_heap *x = __atomic_load_n(&exit_heap, __ATOMIC_ACQUIRE);

	return x && (const unsigned char *)p > (const unsigned char *)x && (const unsigned char *)p < x->end;
}

/* No lock and no free list: async-signal-safe (mmap is one system call). */
static void *exit_alloc(size_t n)
{
	struct exit_heap *x = __atomic_load_n(&exit_heap, __ATOMIC_ACQUIRE), *none = NULL;
	size_t cap, off, room;
	struct hdr *h;

	if (!x) {
		size_t sz;
		struct exit_heap *m = (struct exit_heap *)heap_map(&sz);

		if (!m)
			return NULL;
		m->end = (unsigned char *)m + sz;
		m->next = EXIT_FIRST;
		if (__atomic_compare_exchange_n(&exit_heap, &none, m, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
			x = m;
		} else {
			munmap(m, sz);
			x = none;
		}
	}
	room = (size_t)(x->end - (unsigned char *)x);
	if (n > room)
		return NULL;
	cap = n ? (n + 15) & ~(size_t)15 : 16;
	/* (acquire: a block given back by exit_free, taken again here) */
	off = __atomic_fetch_add(&x->next, sizeof *h + cap, __ATOMIC_ACQ_REL);
	if (off > room || room - off < sizeof *h + cap)
		return NULL;
	h = (struct hdr *)((unsigned char *)x + off);
	h->cap = cap;
	h->cls = NCLASS;
	return h + 1;
}

/* A block of the exit heap given back: taken back when it is the last
 * one taken (one compare-and-swap of the offset; a block taken after it,
 * by any thread or by a signal handler on this one, leaves it where it
 * is, as before).  OpenSSL frees most of what it takes at _exit in the
 * order it took it: the record buffers above all, 17 KB a session, read
 * by the ticket's peek and written by the alert, each released after
 * use (SSL_MODE_RELEASE_BUFFERS).  Without this, a 4 MiB heap (what
 * strict overcommit or a RLIMIT_AS leaves: heap_map) ended about 250
 * sessions with close_notify, and the rest without (h189: 153 of 400). */
static void exit_free(void *p)
{
	struct exit_heap *x = __atomic_load_n(&exit_heap, __ATOMIC_ACQUIRE);
	struct hdr *h = (struct hdr *)p - 1;
	size_t start = (size_t)((unsigned char *)h - (unsigned char *)x);
	size_t end = start + sizeof *h + h->cap;

	(void)__atomic_compare_exchange_n(&x->next, &end, start, false, __ATOMIC_RELEASE,
					  __ATOMIC_RELAXED);
}

/* The usable size of a block OpenSSL was given, whoever gave it: a
 * heap's from its header, the program's from malloc's (no lock). */
static size_t block_size(void *p)
{
	return ours(p) || exit_block(p) ? ((struct hdr *)p - 1)->cap : malloc_usable_size(p);
}

/* A copy of p (old bytes) in a new block of n bytes from alloc; p itself
 * is left alone. */
static void *moved(void *p, size_t n, void *(*alloc)(size_t))
{
	size_t old = block_size(p);
	void *q = alloc(n);

	if (q)
		memcpy(q, p, old < n ? old : n);
	return q;
}

static bool slow(void)
{
	return __builtin_expect(__atomic_load_n(&alloc_slow, __ATOMIC_RELAXED), 0);
}

static __attribute__((noinline)) void *slow_malloc(size_t n)
{
	return in_pump ? heap_alloc(n) : exit_on ? exit_alloc(n) : malloc(n);
}

static void *crypto_malloc(size_t n, const char *file, int line)
{
	(void)file;
	(void)line;
	return slow() ? slow_malloc(n) : malloc(n);
}

static __attribute__((noinline)) void *slow_realloc(void *p, size_t n)
{
	void *q;

	if (!in_pump && !exit_on)
		return exit_block(p) ? moved(p, n, malloc) : realloc(p, n);
	if (!p)
		return in_pump ? heap_alloc(n) : exit_alloc(n);
	if ((in_pump ? ours(p) : exit_block(p)) && n <= block_size(p))
		return p;
	if (!in_pump)
		return moved(p, n, exit_alloc);   /* the old block: left alone */
	if ((q = moved(p, n, heap_alloc)) && ours(p))
		heap_free(p);
	return q;
}

static void *crypto_realloc(void *p, size_t n, const char *file, int line)
{
	(void)file;
	(void)line;
	return slow() ? slow_realloc(p, n) : realloc(p, n);
}

static __attribute__((noinline)) void slow_free(void *p)
{
	if (!in_pump) {
		if (exit_block(p))
			exit_free(p);
		else if (!exit_on)
			free(p);
	} else if (p && ours(p)) {
		heap_free(p);
	}
	/* else: the program's, left alone (see above) */
}

/* The program's case first, free(NULL) included: OpenSSL frees about
 * a thousand times a handshake, a third of them NULL. */
static void crypto_free(void *p, const char *file, int line)
{
	(void)file;
	(void)line;
	if (slow())
		slow_free(p);
	else
		free(p);
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
	__atomic_store_n(&alloc_slow, true, __ATOMIC_RELAXED);
}

bool alloc_exit_begin(void)
{
	bool was = exit_on;

	/* (before the flag: this thread's own calls, a handler's included,
	 * must not take the fast path while exit_on is set) */
	__atomic_store_n(&alloc_slow, true, __ATOMIC_RELAXED);
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	exit_on = true;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	return was;
}

void alloc_exit_end(bool was)
{
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	exit_on = was;
}

bool alloc_exiting(void)
{
	return exit_on;
}
