/* core/conntab.c — the fd-indexed state table (see conntab.h). */
#include <sys/mman.h>
#include <sys/resource.h>

#include "core/conntab.h"
#include "core/lock.h"
#include "core/log.h"

_Atomic uintptr_t *conntab_slots;
size_t conntab_size;
static struct conntab_pumped *pumped;
/* Mutations and fork's prepare handler exclude each other (conntab.h). */
static struct xlock mut = XLOCK_INIT;
static _Atomic size_t high;

/* Enough for any fd the process can open; the pages of the reservation
 * that are never touched cost nothing. */
#define TABLE_MIN 1024
#define TABLE_MAX (1u << 22)

static void *reserve(size_t bytes)
{
	void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
		       -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

int conntab_init(void)
{
	struct rlimit rl;
	size_t n = 65536;
	void *p, *q;

	if (conntab_slots)
		return 0;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rlim_t lim = rl.rlim_max == RLIM_INFINITY ? TABLE_MAX : rl.rlim_max;
		if (lim < rl.rlim_cur && rl.rlim_cur != RLIM_INFINITY)
			lim = rl.rlim_cur;
		n = lim > TABLE_MAX ? TABLE_MAX : lim < TABLE_MIN ? TABLE_MIN : (size_t)lim;
	}
	if (!(p = reserve(n * sizeof *conntab_slots)))
		return -1;
	if (!(q = reserve(n * sizeof *pumped))) {
		munmap(p, n * sizeof *conntab_slots);
		return -1;
	}
	pumped = q;
	conntab_slots = p;
	__atomic_store_n(&conntab_size, n, __ATOMIC_RELEASE);
	return 0;
}

/* Mutations take the lock only to stay out of a fork in progress; the
 * words themselves change atomically, so a signal handler that interrupted
 * its own thread inside a mutation may go on without it.  A change between
 * words that name no connection takes none (bare_cas).  A hold turns the
 * thread's cancellation off as every xlock's does, though the holder
 * reaches no cancellation point: a signal handler that lands inside the
 * hold may (its write() on a socket), and a pending cancellation acted on
 * there unwound the thread with the lock held, every later change of a
 * connection's word and every fork waiting for it for ever (helper-129;
 * inside a TLS call, xlock_nocancel_, the hold costs no
 * pthread_setcancelstate). */
static bool mut_lock(void)
{
	return xlock_lock_unless_mine(&mut);
}

static void mut_unlock(bool taken)
{
	if (taken)
		xlock_unlock(&mut);
}

static void note_high(int fd)
{
	size_t h = atomic_load_explicit(&high, memory_order_relaxed);

	while ((size_t)fd >= h &&
	       !atomic_compare_exchange_weak_explicit(&high, &h, (size_t)fd + 1, memory_order_relaxed,
						     memory_order_relaxed))
		;
}

/* Release what a word we replaced held. */
static void drop_word(int fd, uintptr_t old)
{
	if (old > CT_TAGS && ((old & CT_TAGS) == 0 || (old & CT_TAGS) == CT_CLOSING_BIT)) {
		struct tls_conn *c = conntab_conn_of(old);
		log_debug("fd %d: dropping a stale TLS connection (%s)", fd, tls_conn_peer(c));
		tls_conn_unref(c);
	}
}

/* A reference to the connection in fd's word, taken while the word still
 * holds it; with `tombstone`, the word is marked CLOSING in the same step
 * (conntab_begin_close).  NULL when the word holds no connection. */
static inline struct tls_conn *ref_word(int fd, bool tombstone)
{
	for (;;) {
		uintptr_t v = conntab_load(fd);
		struct tls_conn *c;

		if (!conntab_is_tls(v))
			return NULL;
		if (!tombstone) {
			if ((c = conntab_ref_named(fd, v)))
				return c;
			continue;
		}
		c = conntab_conn_of(v);
		if (!tls_conn_tryref(c))
			continue;       /* being recycled: the word has changed */
		if (conntab_cas(fd, v, v | CT_CLOSING_BIT))
			return c;
		tls_conn_unref(c);
	}
}

struct tls_conn *conntab_get(int fd)
{
	return ref_word(fd, false);
}

static uintptr_t exchange(int fd, uintptr_t v)
{
	bool t = mut_lock();
	uintptr_t old = atomic_exchange_explicit(&conntab_slots[fd], v, memory_order_acq_rel);

	if (v != CT_UNSEEN)
		note_high(fd);
	mut_unlock(t);
	return old;
}

int conntab_attach(int fd, struct tls_conn *c)
{
	if (fd < 0 || (size_t)fd >= conntab_size)
		return -1;
	drop_word(fd, exchange(fd, (uintptr_t)c));
	return 0;
}

/* A word that names no connection (UNSEEN, PLAIN, OWN, PUMPED, REFUSED):
 * fork's prepare handler passes over it. */
static bool bare(uintptr_t v)
{
	return v <= CT_TAGS;
}

/* From one bare word to another (a pass-through socket's accept, connect
 * and close): no connection appears or goes, so the fork's prepare
 * handler has nothing to be kept from, and the change needs no lock.  The
 * high-water mark is raised first: a fork between the two leaves the
 * child a number its walks reach holding the old word, never a new word
 * above the mark.  false when the word is (or became) a connection. */
static bool bare_cas(int fd, uintptr_t *old, uintptr_t new_)
{
	if (!bare(*old) || !bare(new_))
		return false;
	if (new_ != CT_UNSEEN)
		note_high(fd);
	return atomic_compare_exchange_strong_explicit(&conntab_slots[fd], old, new_, memory_order_acq_rel,
						       memory_order_acquire);
}

void conntab_set(int fd, uintptr_t state)
{
	uintptr_t v;

	if (fd < 0 || (size_t)fd >= conntab_size)
		return;
	v = conntab_load(fd);
	while (bare(v) && bare(state)) {
		if (v == state || bare_cas(fd, &v, state))
			return;
	}
	if (v == state)
		return;
	drop_word(fd, exchange(fd, state));
}

void conntab_set_unlocked(int fd, uintptr_t state)
{
	if (fd < 0 || (size_t)fd >= conntab_size)
		return;
	drop_word(fd, atomic_exchange_explicit(&conntab_slots[fd], state, memory_order_acq_rel));
	if (state != CT_UNSEEN)
		note_high(fd);
}

bool conntab_cas(int fd, uintptr_t old, uintptr_t new_)
{
	bool t, ok;

	if (fd < 0 || (size_t)fd >= conntab_size)
		return false;
	if (bare(old) && bare(new_))
		return bare_cas(fd, &old, new_);
	t = mut_lock();
	ok = atomic_compare_exchange_strong_explicit(&conntab_slots[fd], &old, new_,
						     memory_order_acq_rel, memory_order_acquire);
	if (ok && new_ != CT_UNSEEN)
		note_high(fd);
	mut_unlock(t);
	return ok;
}

struct tls_conn *conntab_begin_close(int fd)
{
	return ref_word(fd, true);
}

void conntab_end_close(int fd, struct tls_conn *c)
{
	/* Only our own tombstone: a number reused meanwhile (an interposed
	 * call set a new state after the real close) keeps its new word, and
	 * whoever replaced the tombstone released the table's reference. */
	if (conntab_cas(fd, (uintptr_t)c | CT_CLOSING_BIT, CT_UNSEEN))
		tls_conn_unref(c);
}

struct tls_conn *conntab_detach(int fd)
{
	uintptr_t v;

	if (fd < 0 || (size_t)fd >= conntab_size)
		return NULL;
	v = conntab_load(fd);
	if (v == CT_UNSEEN)
		return NULL;
	v = exchange(fd, CT_UNSEEN);
	if (v > CT_TAGS && ((v & CT_TAGS) == 0 || (v & CT_TAGS) == CT_CLOSING_BIT))
		return conntab_conn_of(v);
	return NULL;
}

struct conntab_pumped *conntab_pumped(int fd)
{
	if (fd < 0 || (size_t)fd >= conntab_size)
		return NULL;
	return &pumped[fd];
}

size_t conntab_high(void)
{
	return atomic_load_explicit(&high, memory_order_relaxed);
}

void conntab_each_conn(int first, int last, void (*fn)(int fd, struct tls_conn *c, void *arg),
		       void *arg)
{
	size_t h = conntab_high();

	for (size_t fd = first < 0 ? 0 : (size_t)first; fd < h && fd <= (size_t)last; fd++) {
		uintptr_t v = conntab_load((int)fd);
		struct tls_conn *c;

		if (v <= CT_TAGS || (v & CT_PASS_BIT))
			continue;
		c = conntab_conn_of(v);
		if (!tls_conn_tryref(c))
			continue;
		if ((conntab_load((int)fd) & ~CT_CLOSING_BIT) == (v & ~CT_CLOSING_BIT))
			fn((int)fd, c, arg);
		tls_conn_unref(c);
	}
}

/* The distinct connections locked for a fork (an fd's duplicates share
 * one).  A static array: a fixed bound keeps fork() cheap and simple;
 * past it, the rest are not locked (and a child touching one that another
 * thread held could hang). */
#define FORK_LOCK_MAX 65536
static struct tls_conn *fork_locked[FORK_LOCK_MAX];
static size_t nfork_locked;
static bool fork_mut_taken;

void conntab_fork_lock(void)
{
	size_t h;

	fork_mut_taken = mut_lock();
	nfork_locked = 0;
	h = conntab_high();
	for (size_t fd = 0; fd < h && nfork_locked < FORK_LOCK_MAX; fd++) {
		uintptr_t v = atomic_load_explicit(&conntab_slots[fd], memory_order_acquire);
		struct tls_conn *c;

		if (v <= CT_TAGS || (v & CT_PASS_BIT))
			continue;
		c = conntab_conn_of(v);
		if (tls_conn_fork_hold(c))
			fork_locked[nfork_locked++] = c;
	}
}

void conntab_fork_unlock(bool child)
{
	for (size_t i = 0; i < nfork_locked; i++)
		tls_conn_fork_release(fork_locked[i], child);
	nfork_locked = 0;
	xlock_fork_release(&mut, fork_mut_taken, child);
}
