/* core/conntab.c — the fd-indexed connection table (see conntab.h). */
#include <pthread.h>
#include <sys/mman.h>
#include <sys/resource.h>

#include "core/conntab.h"
#include "core/log.h"

_Atomic(struct tls_conn *) *conntab_slots;
size_t conntab_size;
static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static size_t high;

/* Enough for any fd the process can open; the pages of the reservation
 * that are never touched cost nothing. */
#define TABLE_MIN 1024
#define TABLE_MAX (1u << 22)

int conntab_init(void)
{
	struct rlimit rl;
	size_t n = 65536;
	void *p;

	if (conntab_slots)
		return 0;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rlim_t lim = rl.rlim_max == RLIM_INFINITY ? TABLE_MAX : rl.rlim_max;
		if (lim < rl.rlim_cur && rl.rlim_cur != RLIM_INFINITY)
			lim = rl.rlim_cur;
		n = lim > TABLE_MAX ? TABLE_MAX : lim < TABLE_MIN ? TABLE_MIN : (size_t)lim;
	}
	p = mmap(NULL, n * sizeof *conntab_slots, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		return -1;
	conntab_slots = p;
	conntab_size = n;
	return 0;
}

struct tls_conn *conntab_get(int fd)
{
	struct tls_conn *c;

	if (!conntab_maybe(fd))
		return NULL;
	pthread_mutex_lock(&reg_lock);
	c = atomic_load_explicit(&conntab_slots[fd], memory_order_relaxed);
	if (c)
		tls_conn_ref(c);
	pthread_mutex_unlock(&reg_lock);
	return c;
}

int conntab_attach(int fd, struct tls_conn *c)
{
	struct tls_conn *old;

	if (fd < 0 || (size_t)fd >= conntab_size)
		return -1;
	pthread_mutex_lock(&reg_lock);
	old = atomic_load_explicit(&conntab_slots[fd], memory_order_relaxed);
	atomic_store_explicit(&conntab_slots[fd], c, memory_order_release);
	if ((size_t)fd >= high)
		high = (size_t)fd + 1;
	pthread_mutex_unlock(&reg_lock);
	if (old) {
		log_debug("fd %d: dropping a stale TLS connection (%s)", fd, tls_conn_peer(old));
		tls_conn_unref(old);
	}
	return 0;
}

struct tls_conn *conntab_detach(int fd)
{
	struct tls_conn *c;

	if (!conntab_maybe(fd))
		return NULL;
	pthread_mutex_lock(&reg_lock);
	c = atomic_load_explicit(&conntab_slots[fd], memory_order_relaxed);
	atomic_store_explicit(&conntab_slots[fd], NULL, memory_order_release);
	pthread_mutex_unlock(&reg_lock);
	return c;
}

void conntab_forget(int fd)
{
	struct tls_conn *c = conntab_detach(fd);

	if (c) {
		log_debug("fd %d: reused; dropping a stale TLS connection (%s)", fd, tls_conn_peer(c));
		tls_conn_unref(c);
	}
}

size_t conntab_high(void)
{
	size_t h;

	pthread_mutex_lock(&reg_lock);
	h = high;
	pthread_mutex_unlock(&reg_lock);
	return h;
}

void conntab_lock(void)
{
	pthread_mutex_lock(&reg_lock);
}

void conntab_unlock(void)
{
	pthread_mutex_unlock(&reg_lock);
}

/* The distinct connections locked for a fork (an fd's duplicates share
 * one).  A static array: malloc is fine in a prepare handler, but a
 * fixed bound keeps fork() cheap and simple; past it, the rest are not
 * locked (and a child touching one that another thread held could hang). */
#define FORK_LOCK_MAX 65536
static struct tls_conn *fork_locked[FORK_LOCK_MAX];
static size_t nfork_locked;

void conntab_fork_lock(void)
{
	pthread_mutex_lock(&reg_lock);
	nfork_locked = 0;
	for (size_t fd = 0; fd < high && nfork_locked < FORK_LOCK_MAX; fd++) {
		struct tls_conn *c = atomic_load_explicit(&conntab_slots[fd], memory_order_relaxed);
		if (c && tls_conn_fork_hold(c))
			fork_locked[nfork_locked++] = c;
	}
}

void conntab_fork_unlock(void)
{
	for (size_t i = 0; i < nfork_locked; i++)
		tls_conn_fork_release(fork_locked[i]);
	nfork_locked = 0;
	pthread_mutex_unlock(&reg_lock);
}
