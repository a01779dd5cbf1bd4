/* shim/epoll.c — epoll readiness on TLS fds.
 *
 * The kernel's epoll_event.data is the program's and opaque to us, so an
 * epoll instance created under the shim is *managed*: every registration
 * goes through epoll_ctl() here, the kernel is given the fd number as
 * data, and the program's events and data are kept in a per-instance
 * table.  epoll_wait() maps kernel events back, and for TLS fds applies
 * the same rules as poll() (shim/poll.c): plaintext buffered inside
 * OpenSSL is reported even when the kernel socket is empty, a half record
 * is hidden, a handshake hides the program's events while the shim
 * drives it, POLLOUT waits for the out-buffer.
 *
 * For a TLS fd the kernel's mask follows the engine: what the program
 * asked for once the handshake is done, plus what the handshake or the
 * out-buffer needs.  EPOLLET is kept (so the kernel does not repeat
 * "writable" to an edge-triggered program); EPOLLONESHOT is emulated
 * here, because a kernel one-shot spent on a hidden half record would
 * leave the fd disarmed for ever.
 *
 * Instances created before the shim started (or inherited) are left
 * alone: their readiness is the kernel's.
 *
 * The kernel is asked about an instance through a copy of its fd of our
 * own (`kfd`: one of the shim's own fds, high, close-on-exec, see
 * shim/own.c), never by the program's number: another thread may close
 * that number and open another instance (or anything) at it between our
 * last look and the kernel call, and a wait by number then read the other
 * instance's events and mapped them with this instance's registrations.
 * The copy closes with the last reference (set_release), so the kernel's
 * instance lives while a call of ours is inside it, as a kernel waiter
 * keeps it.  Without a free descriptor for the copy (RLIMIT_NOFILE
 * reached), the instance is asked by number, with the checks that came
 * before the copy (one warn line).
 *
 * Idle connections are parked.  Every wait looks at the TLS fds of its
 * instance (the list `tls`) for what the kernel cannot signal; with many
 * idle connections that made each wait O(connections) (100 us per 1,000
 * connections).  A TLS fd whose connection is idle (tls_conn_park: the
 * handshake done, nothing inside, nothing to send) and whose kernel mask
 * is the program's own moves to the list `park`, which waits do not look
 * at.  It comes back to `tls` when the kernel reports an event for it,
 * when the program changes its registration, and, all of `park` at once,
 * when tls_park_activity() moved: a parked connection stopped being idle
 * outside a wait of this instance (a read or write of another thread, a
 * poll() on it).  Only while the process has one managed instance: with
 * more, one instance's work on a connection could change what another
 * must report, and nothing is parked.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>

#include "core/clock.h"
#include "core/log.h"
#include "shim/ready.h"
#include "shim/shim.h"

enum { IN_NONE, IN_TLS, IN_PARK };
/* Managed instances registered in one instance that are looked at for
 * plain text their TLS fds hold (more are left to the kernel). */
#define NESTED_MAX 8

struct ep_entry {
	bool present, tls;
	bool nested;              /* fd is a managed epoll instance (see shim_epoll_pending) */
	unsigned long nested_tok; /* EPOLLET: shim_epoll_pending's token last reported, 0 none */
	unsigned char in;         /* which list holds fd: IN_* */
	int pos;                  /* its index there */
	struct ready_ep r;        /* the program's events and their state (ready.h) */
	epoll_data_t data;        /* the program's */
	uint32_t kev;             /* what the kernel has now */
};

/* An instance lives while the table names it and while a call uses it:
 * `refs` counts the table's entry (1) and every epoll_wait/epoll_ctl
 * inside (set_get/set_put).  A close() of the number while another thread
 * waits on it is legal (the kernel's waiter keeps the file), so close only
 * takes the instance out of the table and marks it `closed`; the last
 * reference frees its tables.  The struct itself is never given back to
 * malloc: released ones wait in `pool` for the next epoll_create, so a
 * pointer loaded from the table without a lock may always have its `refs`
 * looked at (set_get takes a reference only while it is not 0, then checks
 * that the table still names it). */
struct ep_set {
	atomic_int refs;          /* first: set_new clears what follows */
	bool closed;              /* no number names it any more (under lock) */
	atomic_int names;         /* numbers the table names it by (dup: more than one) */
	/* The instance holds TLS fds or nested instances, so a poll or select
	 * on any number naming it may have to say readable where the kernel
	 * does not (shim_epoll_may_report).  Read without a lock, written
	 * under the instance's: an instance of plain fds only costs poll()
	 * nothing. */
	unsigned char hold;
	struct ep_set *next_free; /* in `pool` */
	pthread_mutex_t lock;
	struct ep_entry *ent;     /* indexed by fd */
	int cap;
	int *tls;                 /* fds of ent[] that are TLS, looked at by every wait */
	int ntls, tlscap;
	int *park;                /* TLS fds parked: idle, not looked at */
	int npark, parkcap;
	unsigned long seen_activity;  /* tls_park_activity() at the last wait */
	int nested[NESTED_MAX];   /* registered fds that are managed instances */
	int nnested;
	unsigned long ctl_gen;    /* successful EPOLL_CTL_ADD/MODs (pending_token) */
	int epfd;                 /* the number it was created as */
	atomic_int kfd;           /* our own copy of the kernel's fd, or -1: by number */
	struct ep_set *next_all;  /* every struct ever made (`all`), kept by set_new */
};

static _Atomic(struct ep_set *) *sets;
static size_t nsets;
static pthread_mutex_t sets_lock = PTHREAD_MUTEX_INITIALIZER;
static struct ep_set *pool;        /* released instances (under sets_lock) */
static struct ep_set *all;         /* every instance struct made (under sets_lock) */
/* The managed instances, for the close() path (usually one or two). */
#define LIVE_MAX 256
static int live[LIVE_MAX];
static atomic_int nlive;

static struct ep_set *set_of(int epfd)
{
	if (epfd < 0 || (size_t)epfd >= nsets)
		return NULL;
	return atomic_load_explicit(&sets[epfd], memory_order_acquire);
}

/* The references this thread holds besides the table's (calls inside an
 * instance, an entry taken out of the table and not yet put), so that the
 * child of a fork, which has this thread only, can count what it holds
 * (shim_epoll_fork_child).  Pushed before the count goes up and taken off
 * after it goes down: a fork from a signal handler in between counts one
 * reference too many in the child (a leak), never one too few. */
#define HOLDS_MAX 16
static __thread struct {
	struct ep_set *s[HOLDS_MAX];
	int n, over;            /* over: held, not recorded (the child keeps all) */
} holds __attribute__((tls_model("initial-exec")));

static void hold_push(struct ep_set *s)
{
	if (holds.n < HOLDS_MAX)
		holds.s[holds.n++] = s;
	else
		holds.over++;
}

static void hold_pop_slow(struct ep_set *s)
{
	for (int i = holds.n - 1; i >= 0; i--)
		if (holds.s[i] == s) {
			holds.s[i] = holds.s[--holds.n];
			return;
		}
	if (holds.over > 0)
		holds.over--;
}

/* (usually the last one pushed) */
static inline void hold_pop(struct ep_set *s)
{
	int n = holds.n;

	if (n > 0 && holds.s[n - 1] == s)
		holds.n = n - 1;
	else
		hold_pop_slow(s);
}

static void set_put(struct ep_set *s);

/* A reference on the instance the table names for epfd, or NULL. */
static struct ep_set *set_get(int epfd)
{
	struct ep_set *s = set_of(epfd);
	int r;

	if (!s)
		return NULL;
	/* Lock-free first: a reference unless the count is 0 (released, in the
	 * pool or reused), then the table must still name it. */
	hold_push(s);
	r = atomic_load_explicit(&s->refs, memory_order_relaxed);
	while (r > 0 && !atomic_compare_exchange_weak(&s->refs, &r, r + 1))
		;
	if (r > 0) {
		if (set_of(epfd) == s)
			return s;
		set_put(s);             /* raced a close: perhaps the last */
	} else {
		hold_pop(s);
	}
	/* A close or a reuse of the number raced us: ask under the table lock
	 * (an instance in the table holds the table's reference). */
	pthread_mutex_lock(&sets_lock);
	if ((s = set_of(epfd))) {
		hold_push(s);
		atomic_fetch_add(&s->refs, 1);
	}
	pthread_mutex_unlock(&sets_lock);
	return s;
}

/* The fd to ask the kernel about s by (see the header comment). */
static int kfd_of(struct ep_set *s, int epfd)
{
	int k = atomic_load_explicit(&s->kfd, memory_order_relaxed);

	return k >= 0 ? k : epfd;
}

static void set_release(struct ep_set *s)
{
	int k = atomic_exchange(&s->kfd, -1);

	if (k >= 0)
		shim_own_close(k);
	free(s->ent);
	free(s->tls);
	free(s->park);
	pthread_mutex_destroy(&s->lock);
	pthread_mutex_lock(&sets_lock);
	s->next_free = pool;
	pool = s;
	pthread_mutex_unlock(&sets_lock);
}

/* Never with sets_lock or s->lock held. */
static void set_put(struct ep_set *s)
{
	if (!s)
		return;
	if (atomic_fetch_sub(&s->refs, 1) == 1)
		set_release(s);
	hold_pop(s);
}

static void set_put_unwound(void *arg)
{
	set_put(arg);
}

/* s is out of the table (the table's reference is the caller's): calls
 * still inside see `closed` under its lock. */
static void set_closed(struct ep_set *s)
{
	pthread_mutex_lock(&s->lock);
	/* Another number may still name it (a dup): calls made by the number
	 * that ended see that the table no longer names s by it. */
	if (atomic_fetch_sub(&s->names, 1) == 1)
		s->closed = true;
	pthread_mutex_unlock(&s->lock);
	set_put(s);
}

/* s is named by the table at i's number in live[]; was it met before i?
 * (a dup names one instance by two numbers: walks visit it once) */
static bool seen_before(int i, const struct ep_set *s)
{
	for (int j = 0; j < i; j++)
		if (atomic_load(&sets[live[j]]) == s)
			return true;
	return false;
}

/* One of the shim's own fds moved (a dup2 onto its number): an
 * instance's copy follows (to -1: no room to move it; the instance is
 * asked by number from then on). */
static void kfd_moved(int from, int to)
{
	pthread_mutex_lock(&sets_lock);
	for (struct ep_set *s = all; s; s = s->next_all) {
		int k = from;
		if (atomic_compare_exchange_strong(&s->kfd, &k, to))
			break;
	}
	pthread_mutex_unlock(&sets_lock);
}

/* (errno as the C library left it: the copy's failure, or its retry
 * under a lowered limit, is no failure of the program's call) */
static void set_new(int epfd)
{
	struct ep_set *s, *old = NULL;
	static atomic_bool warned;
	int keep = errno;
	int kfd = shim_own_dup(epfd, kfd_moved);

	if (kfd < 0 && !atomic_exchange(&warned, true))
		log_warn("epoll instance fd %d: no descriptor left for the library's copy of it (%s):"
			 " its waits ask the kernel by its number, which another thread's close of it"
			 " may hand to another file meanwhile", epfd, strerror(errno));
	pthread_mutex_lock(&sets_lock);
	if (!sets) {
		nsets = conntab_size;
		sets = mmap(NULL, nsets * sizeof *sets, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		if (sets == MAP_FAILED) {
			sets = NULL;
			nsets = 0;
		}
	}
	/* Too many to track for close() (a number reused behind our back
	 * replaces its entry in live[]): leave it unmanaged. */
	if (epfd >= 0 && (size_t)epfd < nsets &&
	    (atomic_load(&sets[epfd]) || atomic_load(&nlive) < LIVE_MAX) &&
	    ((s = pool) || (s = calloc(1, sizeof *s)))) {
		struct ep_set *next_all = s->next_all;

		if (s == pool) {
			pool = s->next_free;
		} else {
			next_all = all;
			all = s;
		}
		/* refs is 0 here: a set_get that loaded this pointer earlier
		 * only reads it until the store of 1 below. */
		memset((char *)s + sizeof s->refs, 0, sizeof *s - sizeof s->refs);
		s->next_all = next_all;
		pthread_mutex_init(&s->lock, NULL);
		s->epfd = epfd;
		atomic_store(&s->kfd, kfd);
		kfd = -1;
		atomic_store(&s->names, 1);
		atomic_store(&s->refs, 1);          /* the table's */
		old = atomic_exchange(&sets[epfd], s);
		if (!old) {
			live[atomic_load(&nlive)] = epfd;
			atomic_fetch_add(&nlive, 1);
		} else {
			hold_push(old);     /* the table's reference, ours now */
		}
	}
	pthread_mutex_unlock(&sets_lock);
	if (kfd >= 0)
		shim_own_close(kfd);    /* left unmanaged */
	/* A number reused behind our back (closed without close()): calls
	 * still inside the old instance keep it until they leave. */
	if (old)
		set_closed(old);
	errno = keep;
}

/* close() of an fd: forget the epoll instance it was, if any. */
void shim_epoll_forget(int fd)
{
	struct ep_set *s;

	if (!sets || fd < 0 || (size_t)fd >= nsets || !atomic_load(&sets[fd]))
		return;
	pthread_mutex_lock(&sets_lock);
	s = atomic_exchange(&sets[fd], NULL);
	if (s) {
		int n = atomic_load(&nlive);

		hold_push(s);           /* the table's reference, ours now */
		for (int i = 0; i < n; i++)
			if (live[i] == fd) {
				live[i] = live[n - 1];
				atomic_fetch_sub(&nlive, 1);
				break;
			}
	}
	pthread_mutex_unlock(&sets_lock);
	/* Another thread may still be inside epoll_wait or epoll_ctl on it:
	 * the last of them frees it. */
	if (s)
		set_closed(s);
}

/* Before the C library copies oldfd (dup, dup2, dup3, F_DUPFD): a
 * reference on the managed instance it names, or NULL; given to
 * shim_epoll_dup_end with the copy's number. */
void *shim_epoll_dup_begin(int oldfd)
{
	return sets && set_of(oldfd) ? set_get(oldfd) : NULL;
}

/* Is fd a copy of s's file?  Adding an instance to itself is the one
 * EPOLL_CTL_ADD the kernel refuses with EINVAL; anything else it adds (then
 * taken out at once: it is never reported, no entry names it) or refuses
 * otherwise. */
static bool same_file(struct ep_set *s, int fd)
{
	struct epoll_event kev = { .events = 0, .data.u64 = (uint64_t)fd };
	int k = atomic_load(&s->kfd);

	if (k < 0)
		return false;           /* by number: cannot tell */
	if (epoll_ctl_real(k, EPOLL_CTL_ADD, fd, &kev) == 0) {
		(void)epoll_ctl_real(k, EPOLL_CTL_DEL, fd, NULL);
		return false;
	}
	return errno == EINVAL;
}

/* newfd (or -1) is the copy of oldfd, its old file forgotten already
 * (shim_epoll_fds_closed); tok from shim_epoll_dup_begin.  A managed
 * instance is named by both numbers, one set of registrations (the kernel
 * keeps them by instance, and stores the number of the fd in each event's
 * data, which a wait through an unmanaged copy handed to the program).
 * The copy is of the instance taken before it was made if the table names
 * that instance by oldfd still (close() and the other paths that end a
 * number forget it first); else oldfd was closed while the copy was being
 * made (and perhaps handed to another instance), and the copy is asked:
 * made before the close, it keeps the instance alive (a closed one comes
 * back); after, it is another file, and never named by this instance. */
void shim_epoll_dup_end(void *tok, int oldfd, int newfd)
{
	struct ep_set *s = tok;
	bool same;

	if (!s)
		return;
	if (newfd >= 0 && newfd != oldfd && (size_t)newfd < nsets) {
		same = set_of(oldfd) == s || same_file(s, newfd);
		pthread_mutex_lock(&sets_lock);
		if (same && !set_of(newfd) && atomic_load(&nlive) < LIVE_MAX) {
			pthread_mutex_lock(&s->lock);
			atomic_fetch_add(&s->refs, 1);      /* the new entry's */
			if (atomic_fetch_add(&s->names, 1) == 0)
				s->closed = false;
			pthread_mutex_unlock(&s->lock);
			live[atomic_load(&nlive)] = newfd;
			atomic_fetch_add(&nlive, 1);
			atomic_store(&sets[newfd], s);
		}
		pthread_mutex_unlock(&sets_lock);
	}
	set_put(s);
}

static void tls_list_del(struct ep_set *s, int fd);

/* fn on every live instance, each under its lock; the caller holds
 * sets_lock (taken first, as docs/locking.md orders them). */
static void each_set_locked(void (*fn)(int epfd, struct ep_set *s, const void *arg), const void *arg)
{
	for (int i = 0; i < atomic_load(&nlive); i++) {
		struct ep_set *s = atomic_load(&sets[live[i]]);
		if (!s || seen_before(i, s))
			continue;
		pthread_mutex_lock(&s->lock);
		fn(live[i], s, arg);
		pthread_mutex_unlock(&s->lock);
	}
}

/* fn on every live instance, each under its lock. */
static void each_set(void (*fn)(int epfd, struct ep_set *s, const void *arg), const void *arg)
{
	if (!atomic_load_explicit(&nlive, memory_order_relaxed))
		return;
	pthread_mutex_lock(&sets_lock);
	each_set_locked(fn, arg);
	pthread_mutex_unlock(&sets_lock);
}

/* Under s->lock, after its lists changed. */
static void holds_sync(struct ep_set *s)
{
	__atomic_store_n(&s->hold, (unsigned char)(s->ntls || s->npark || s->nnested),
			 __ATOMIC_RELEASE);
}

/* fd's registration is going: off the list of nested instances. */
static void nested_del(struct ep_set *s, int fd)
{
	if (fd < 0 || fd >= s->cap || !s->ent[fd].nested)
		return;
	for (int i = 0; i < s->nnested; i++)
		if (s->nested[i] == fd) {
			s->nested[i] = s->nested[s->nnested - 1];
			__atomic_store_n(&s->nnested, s->nnested - 1, __ATOMIC_RELAXED);
			break;
		}
	s->ent[fd].nested = false;
	holds_sync(s);
}

/* fds [first, last] are being closed.  The kernel drops a closed file from
 * every epoll instance by itself, so programs need not EPOLL_CTL_DEL (nginx
 * does not): forget those registrations too, or a reused number would be
 * reported with the old registration's data. */
static void forget_range(int epfd, struct ep_set *s, const void *arg)
{
	const int *range = arg;

	(void)epfd;
	for (int fd = range[0] < 0 ? 0 : range[0]; fd <= range[1] && fd < s->cap; fd++) {
		if (s->ent[fd].present) {
			tls_list_del(s, fd);
			nested_del(s, fd);
			memset(&s->ent[fd], 0, sizeof s->ent[fd]);
		}
	}
}

static __attribute__((noinline)) void fds_closed(int first, int last)
{
	int range[2] = { first, last };
	struct ep_set *gone[LIVE_MAX];
	int ng = 0;

	pthread_mutex_lock(&sets_lock);
	/* An instance among them (close_range, closefrom, dup2/dup3 onto its
	 * number, or a number closed behind our back and handed out again):
	 * forgotten as close() forgets it, before the number closes, or the
	 * table would still name it for the number's next file (a poll of
	 * that file asked the old instance's TLS fds; a wait on it in another
	 * thread asked the kernel by number again). */
	for (int i = 0; i < atomic_load(&nlive);) {
		int fd = live[i];
		struct ep_set *s;

		if (fd < first || fd > last) {
			i++;
			continue;
		}
		s = atomic_exchange(&sets[fd], NULL);
		live[i] = live[atomic_load(&nlive) - 1];
		atomic_fetch_sub(&nlive, 1);
		if (s) {
			hold_push(s);   /* the table's reference, ours now */
			gone[ng++] = s;
		}
	}
	each_set_locked(forget_range, range);
	pthread_mutex_unlock(&sets_lock);
	/* Calls still inside them keep them until they leave. */
	for (int i = 0; i < ng; i++)
		set_closed(gone[i]);
}

/* Every accept and close asks: while the process has no epoll instance,
 * a load and a return (the slow path's 2 KiB frame out of the way: 16
 * instructions a call before). */
void shim_epoll_fds_closed(int first, int last)
{
	if (atomic_load_explicit(&nlive, memory_order_relaxed))
		fds_closed(first, last);
}

/* fd is about to name another file (a pump's socketpair end, by dup2):
 * the kernel keys a registration by file, so take fd's registrations off
 * the old file now (before=true), and put them on the new one after the
 * dup2 (before=false), as the plain fd it now is. */
struct moving {
	int fd;
	bool before;
};

static void move_one(int epfd, struct ep_set *s, const void *arg)
{
	const struct moving *m = arg;
	int fd = m->fd;
	struct ep_entry *e = fd < s->cap ? &s->ent[fd] : NULL;

	if (!e || !e->present)
		return;
	if (m->before) {
		(void)REAL(epoll_ctl)(kfd_of(s, epfd), EPOLL_CTL_DEL, fd, NULL);
	} else {
		struct epoll_event kev = {
			.events = e->r.disabled ? 0 : e->r.events,
			.data.u64 = (uint64_t)fd };
		e->tls = false;
		e->r.disabled = false;
		tls_list_del(s, fd);
		if (REAL(epoll_ctl)(kfd_of(s, epfd), EPOLL_CTL_ADD, fd, &kev) == 0)
			e->kev = kev.events;
		else
			memset(e, 0, sizeof *e);
	}
}

void shim_epoll_fd_moving(int fd, bool before)
{
	struct moving m = { fd, before };

	each_set(move_one, &m);
}

static struct ep_entry *entry(struct ep_set *s, int fd, bool grow)
{
	if (fd < 0)
		return NULL;
	if (fd >= s->cap) {
		int cap = s->cap ? s->cap : 64;
		struct ep_entry *n;
		if (!grow)
			return NULL;
		while (cap <= fd)
			cap *= 2;
		if (!(n = realloc(s->ent, (size_t)cap * sizeof *n)))
			return NULL;
		memset(n + s->cap, 0, (size_t)(cap - s->cap) * sizeof *n);
		s->ent = n;
		s->cap = cap;
	}
	return &s->ent[fd];
}

/* The lists `tls` and `park` (see the header comment): each fd in at most
 * one, found by its entry's `in` and `pos`; O(1) both ways. */
static bool list_push(int **list, int *n, int *cap, int fd)
{
	if (*n == *cap) {
		int ncap = *cap ? *cap * 2 : 16;
		int *nl = realloc(*list, (size_t)ncap * sizeof *nl);
		if (!nl)
			return false;
		*list = nl;
		*cap = ncap;
	}
	(*list)[(*n)++] = fd;
	return true;
}

static void tls_list_del(struct ep_set *s, int fd)
{
	struct ep_entry *e = fd >= 0 && fd < s->cap ? &s->ent[fd] : NULL;
	int *list, *n, last;

	if (!e || e->in == IN_NONE)
		return;
	list = e->in == IN_TLS ? s->tls : s->park;
	n = e->in == IN_TLS ? &s->ntls : &s->npark;
	last = list[--*n];
	list[e->pos] = last;
	s->ent[last].pos = e->pos;
	e->in = IN_NONE;
	holds_sync(s);
}

/* Into `tls` (out of `park` if it was there). */
static void tls_list_add(struct ep_set *s, int fd)
{
	struct ep_entry *e = &s->ent[fd];

	if (e->in == IN_TLS)
		return;
	tls_list_del(s, fd);
	if (list_push(&s->tls, &s->ntls, &s->tlscap, fd)) {
		e->in = IN_TLS;
		e->pos = s->ntls - 1;
	}
	holds_sync(s);
}

/* Out of `tls` into `park`; false (left in `tls`) when there is no room. */
static bool park_list_add(struct ep_set *s, int fd)
{
	struct ep_entry *e = &s->ent[fd];

	if (!list_push(&s->park, &s->npark, &s->parkcap, fd))
		return false;
	tls_list_del(s, fd);
	e->in = IN_PARK;
	e->pos = s->npark - 1;
	holds_sync(s);
	return true;
}

/* Every parked fd back into `tls`, for the next look. */
static void unpark_all(struct ep_set *s)
{
	while (s->npark > 0)
		tls_list_add(s, s->park[s->npark - 1]);
}

/* The kernel mask a TLS fd needs now (see the header comment). */
static uint32_t tls_kernel_mask(struct ep_entry *e, struct tls_conn *c)
{
	return ready_ep_kernel_mask(&e->r, tls_conn_failed(c), tls_conn_handshake_done(c),
				    tls_conn_kernel_events(c));
}

/* Bring the kernel's registration of a TLS fd in line; under s->lock. */
static void sync_kernel(int epfd, struct ep_set *s, int fd, struct ep_entry *e, struct tls_conn *c)
{
	uint32_t m = tls_kernel_mask(e, c);
	struct epoll_event kev = { .events = m, .data.u64 = (uint64_t)fd };

	if (m == e->kev)
		return;
	if (epoll_ctl_real(kfd_of(s, epfd), EPOLL_CTL_MOD, fd, &kev) == 0)
		e->kev = m;
}

/* 0 or a negative errno. */
static int shim_epoll_ctl(struct ep_set *s, int epfd, int op, int fd, struct epoll_event *ev)
{
	struct ep_entry *e;
	struct tls_conn *c = NULL;
	struct epoll_event kev;
	int r;

	/* Classified before the instance's lock is taken (lock order). */
	if (op != EPOLL_CTL_DEL && shim_route(fd, &c) != ROUTE_TLS)
		c = NULL;
	pthread_mutex_lock(&s->lock);
	if (s->closed || set_of(epfd) != s) {
		/* epfd was closed meanwhile (and its number may name another
		 * instance by now): the caller asks the table again.  While we
		 * hold the lock of an instance not closed, close() has not
		 * closed its number (shim_epoll_forget comes first). */
		pthread_mutex_unlock(&s->lock);
		tls_conn_unref(c);
		return -ESTALE;
	}
	e = entry(s, fd, op == EPOLL_CTL_ADD);
	if (!e) {
		pthread_mutex_unlock(&s->lock);
		tls_conn_unref(c);
		if (op == EPOLL_CTL_ADD)
			return -ENOMEM;
		/* Never registered through us: let the kernel answer. */
		return epoll_ctl_real(kfd_of(s, epfd), op, fd, ev) < 0 ? -errno : 0;
	}
	if (op == EPOLL_CTL_DEL) {
		r = epoll_ctl_real(kfd_of(s, epfd), op, fd, ev) < 0 ? -errno : 0;
		if (r == 0 || r == -EBADF || r == -ENOENT) {
			tls_list_del(s, fd);
			nested_del(s, fd);
			memset(e, 0, sizeof *e);
		}
		pthread_mutex_unlock(&s->lock);
		return r;
	}
	if (!ev) {
		pthread_mutex_unlock(&s->lock);
		tls_conn_unref(c);
		return -EFAULT;
	}
	{
		struct ep_entry ne = { .present = true, .tls = c != NULL, .r.events = ev->events,
				       .data = ev->data };
		kev.data.u64 = (uint64_t)fd;
		kev.events = c ? tls_kernel_mask(&ne, c) | (ev->events & (EPOLLEXCLUSIVE | EPOLLWAKEUP))
			       : ev->events;
		r = epoll_ctl_real(kfd_of(s, epfd), op, fd, &kev) < 0 ? -errno : 0;
		if (r == 0) {
			ne.kev = kev.events & ~(uint32_t)(EPOLLEXCLUSIVE | EPOLLWAKEUP);
			tls_list_del(s, fd);
			nested_del(s, fd);
			*e = ne;
			if (!c && fd != epfd && set_of(fd) && s->nnested < NESTED_MAX) {
				e->nested = true;
				s->nested[s->nnested] = fd;
				__atomic_store_n(&s->nnested, s->nnested + 1, __ATOMIC_RELAXED);
				holds_sync(s);
			}
			s->ctl_gen++;
			if (c) {
				tls_conn_unpark(c, false);  /* looked at again by the next wait */
				tls_list_add(s, fd);
			}
		}
	}
	pthread_mutex_unlock(&s->lock);
	tls_conn_unref(c);
	return r;
}

/* Add or merge one event for the program; returns the new count. */
static int emit(struct epoll_event *out, int n, int max, int fd, uint32_t ev, epoll_data_t data,
		int *slot_of_fd, int nslots)
{
	(void)max;
	for (int i = 0; i < nslots; i++)
		if (slot_of_fd[i] == fd) {
			out[i].events |= ev;
			return n;
		}
	out[n].events = ev;
	out[n].data = data;
	slot_of_fd[n] = fd;
	return n + 1;
}

/* One TLS fd: what the program sees, from kernel events kr (0: none). */
static uint32_t tls_events(int epfd, struct ep_set *s, int fd, struct ep_entry *e,
			   struct tls_conn *c, uint32_t kr)
{
	uint32_t got;
	short want = ready_to_poll(e->r.events);

	if (e->r.disabled)
		return 0;
	got = ready_to_epoll(shim_tls_revents(c, want, ready_to_poll(kr)), e->r.events, kr);
	got &= e->r.events | EPOLLERR | EPOLLHUP;
	ready_ep_reported(&e->r, got, tls_conn_failed(c), tls_conn_rx_generation(c));
	sync_kernel(epfd, s, fd, e, c);
	return got;
}

/* Would epoll_wait on the managed instance epfd report something the
 * kernel cannot see: plain text inside one of its TLS fds, a failure?
 * The kernel makes an epoll fd readable only for what it sees, so a
 * program that waits for an instance inside poll, select or another
 * instance (a libuv loop's backend fd embedded in another loop) slept
 * with plain text waiting.  Not recursive; the caller holds no
 * instance's lock (docs/locking.md: instances are locked one at a time). */
static unsigned long pending_token(int epfd)
{
	struct ep_set *s;
	bool ready = false;
	unsigned long tok;

	/* epfd is not ours: another thread may close it at any time; our
	 * reference keeps the instance (set_get). */
	if (!(s = set_get(epfd)))
		return 0;
	pthread_mutex_lock(&s->lock);
	for (int l = 0; l < 2 && !ready; l++) {
		const int *list = l ? s->park : s->tls;
		int n = l ? s->npark : s->ntls;
		for (int i = 0; i < n && !ready; i++) {
			struct ep_entry *e = entry(s, list[i], false);
			struct tls_conn *c;

			if (!e || !e->present || !(c = conntab_get(list[i])))
				continue;
			ready = ready_ep_may_report_failure(&e->r, tls_conn_failed(c),
							    tls_conn_failed(c) && tls_conn_pending(c) > 0,
							    tls_conn_rx_generation(c)) ||
				(ready_ep_may_report_data(&e->r, tls_conn_handshake_done(c),
							  tls_conn_rx_generation(c)) &&
				 tls_conn_buffered(c) && tls_conn_poll_read(c));
			tls_conn_unref(c);
		}
	}
	/* What is new to an edge-triggered outer registration: a change of
	 * the inner's registrations (a TLS fd with plain text inside added or
	 * re-armed: no kernel event); new bytes arriving are the kernel's edge. */
	tok = ready && !s->closed ? s->ctl_gen * 2 + 1 : 0;
	pthread_mutex_unlock(&s->lock);
	set_put(s);
	return tok;
}

bool shim_epoll_pending(int epfd)
{
	return pending_token(epfd) != 0;
}

bool shim_epoll_may_report(int fd)
{
	struct ep_set *s;

	/* Without a reference: instances are never freed (pool), and a stale
	 * answer only sends poll the slow way or to shim_epoll_pending. */
	return fd >= 0 && (size_t)fd < nsets && sets && (s = set_of(fd)) &&
	       __atomic_load_n(&s->hold, __ATOMIC_ACQUIRE);
}

/* The count of events, or a negative errno. */
static int shim_epoll_wait(struct ep_set *s, int epfd, struct epoll_event *out, int max,
			   int64_t timeout_ns, const sigset_t *mask)
{
	struct epoll_event kbuf[256];
	int slots[256];
	int64_t deadline = timeout_ns < 0 ? -1 : clock_ns() + timeout_ns;
	int n;
	bool can_park;

	/* (the kernel's EP_MAX_EVENTS too: before h213 a larger maxevents
	 * was answered, where the kernel says EINVAL; counts.sh) */
	if (max <= 0 || max > (int)(INT_MAX / sizeof *out))
		return -EINVAL;
	if (max > 256)
		max = 256;
	for (;;) {
		int64_t wake = deadline;
		struct timespec ts, *tsp;
		int k, kfd;

		n = 0;
		/* Nested managed instances with plain text inside (see
		 * shim_epoll_pending), asked without our lock held. */
		unsigned long nready[NESTED_MAX];
		int nfd[NESTED_MAX], nn = 0;
		/* (read first without the lock: most instances nest none,
		 * and each wait would pay a lock for nothing) */
		if (__atomic_load_n(&s->nnested, __ATOMIC_RELAXED)) {
			pthread_mutex_lock(&s->lock);
			nn = s->nnested;
			memcpy(nfd, s->nested, (size_t)nn * sizeof *nfd);
			pthread_mutex_unlock(&s->lock);
		}
		for (int i = 0; i < nn; i++)
			nready[i] = pending_token(nfd[i]);
		/* Plaintext already inside OpenSSL, failures, handshake timers. */
		pthread_mutex_lock(&s->lock);
		for (int i = 0; i < nn && n < max; i++) {
			struct ep_entry *e = entry(s, nfd[i], false);

			if (!e || !e->present || !e->nested)
				continue;
			/* Edge-triggered: once per token, as the kernel shows an
			 * inner instance once per new event in it (reported at each
			 * wait, a program that leaves plain text unread spun). */
			if (!nready[i] || ((e->r.events & EPOLLET) && nready[i] == e->nested_tok)) {
				if (!nready[i])
					e->nested_tok = 0;
				continue;
			}
			if (e->r.disabled || !(e->r.events & (EPOLLIN | EPOLLRDNORM)))
				continue;
			e->nested_tok = nready[i];
			n = emit(out, n, max, nfd[i], e->r.events & (EPOLLIN | EPOLLRDNORM), e->data, slots, n);
			if (e->r.events & EPOLLONESHOT) {
				struct epoll_event kev = { .events = 0, .data.u64 = (uint64_t)nfd[i] };
				e->r.disabled = true;
				(void)epoll_ctl_real(kfd_of(s, epfd), EPOLL_CTL_MOD, nfd[i], &kev);
			}
		}
		{
			/* Read before looking: an activity after it is seen next time. */
			unsigned long act = tls_park_activity();
			can_park = atomic_load(&nlive) == 1;
			if (s->npark && (act != s->seen_activity || !can_park))
				unpark_all(s);
			s->seen_activity = act;
		}
		for (int i = 0; i < s->ntls && n < max; i++) {
			int fd = s->tls[i];
			struct ep_entry *e = entry(s, fd, false);
			struct tls_conn *c = conntab_get(fd);
			bool failed;

			if (!c || !e || !e->present) {
				if (!c && e && e->present)
					e->tls = false;
				if (!c)
					tls_list_del(s, fd), i--;
				tls_conn_unref(c);
				continue;
			}
			wake = shim_deadline_ns(c, wake);
			failed = tls_conn_failed(c);
			/* Buffered plaintext: level-triggered, always; edge-triggered,
			 * once per arrival of new bytes, as a kernel edge (also what
			 * is staged ahead of a failure). */
			if (ready_ep_may_report_failure(&e->r, failed, failed && tls_conn_pending(c) > 0,
							tls_conn_rx_generation(c)) ||
			    (ready_ep_may_report_data(&e->r, tls_conn_handshake_done(c),
						      tls_conn_rx_generation(c)) &&
			     tls_conn_buffered(c) && tls_conn_poll_read(c)) ||
			    (!e->r.disabled && shim_tls_check_timeout(c))) {
				uint32_t ev = tls_events(epfd, s, fd, e, c, 0);
				tls_conn_unpark(c, false);  /* a mark left from before */
				if (ev)
					n = emit(out, n, max, fd, ev, e->data, slots, n);
			} else {
				sync_kernel(epfd, s, fd, e, c);
				/* Idle, and the kernel watches only what the program
				 * asked for: nothing to look at until something happens. */
				if (can_park && tls_conn_handshake_done(c) &&
				    e->kev == ready_ep_kernel_mask(&e->r, false, true, 0) &&
				    tls_conn_park(c)) {
					if (park_list_add(s, fd))
						i--;
					else
						tls_conn_unpark(c, false);
				}
			}
			tls_conn_unref(c);
		}
		/* Closed by another thread (legal: the kernel's waiter keeps the
		 * instance): a wait that has to ask the kernel again returns
		 * as if this call came after the close. */
		/* (closed implies this: we hold a reference, s is not reused) */
		if (atomic_load_explicit(&sets[epfd], memory_order_relaxed) != s) {
			pthread_mutex_unlock(&s->lock);
			return n ? n : -EBADF;
		}
		pthread_mutex_unlock(&s->lock);

		/* Our own copy: a close of epfd from here on leaves the kernel
		 * wait on this instance (see the header comment). */
		kfd = kfd_of(s, epfd);
		tsp = shim_wait_timeout(n > 0, wake, &ts);
		k = n < max ? epoll_pwait2_real(kfd, kbuf, max - n, tsp, mask) : 0;
		if (k < 0)
			return n ? n : -errno;
		pthread_mutex_lock(&s->lock);
		/* Asked by number (no copy of our own), and closed during the
		 * wait: the kernel's events are this instance's (the waiter kept
		 * it) unless the number already names another instance, which
		 * the wait may have asked instead: never map its events with this
		 * instance's registrations. */
		if (k > 0 && kfd == epfd) {
			struct ep_set *now = atomic_load_explicit(&sets[epfd], memory_order_relaxed);
			if (now && now != s)
				k = 0;
		}
		for (int i = 0; i < k; i++) {
			int fd = (int)kbuf[i].data.u64;
			struct ep_entry *e = entry(s, fd, false);
			struct tls_conn *c;
			uint32_t ev;

			if (!e || !e->present)
				continue;         /* removed meanwhile */
			c = conntab_get(fd);
			if (!c) {
				if (e->nested && e->r.disabled)
					continue;     /* spent by our own report */
				if (e->nested && (e->r.events & EPOLLONESHOT))
					e->r.disabled = true;
				n = emit(out, n, max, fd, kbuf[i].events, e->data, slots, n);
				continue;
			}
			if (!e->tls) {            /* became TLS after it was added */
				e->tls = true;
				tls_list_add(s, fd);
			} else if (e->in == IN_PARK) {  /* looked at again from now on */
				tls_list_add(s, fd);
				tls_conn_unpark(c, atomic_load(&nlive) > 1);
			}
			ev = tls_events(epfd, s, fd, e, c, kbuf[i].events);
			if (ev)
				n = emit(out, n, max, fd, ev, e->data, slots, n);
			tls_conn_unref(c);
		}
		pthread_mutex_unlock(&s->lock);
		if (n || (deadline >= 0 && clock_ns() >= deadline) || timeout_ns == 0)
			return n;
	}
}

/* shim_epoll_wait with a reference on the instance for the call (put back
 * if the thread leaves it by cancellation or a longjmp). */
static int managed_wait(struct ep_set *s, int epfd, struct epoll_event *out, int max,
			int64_t timeout_ns, const sigset_t *mask)
{
	struct _pthread_cleanup_buffer b;
	int r;

	_pthread_cleanup_push(&b, set_put_unwound, s);
	r = shim_epoll_wait(s, epfd, out, max, timeout_ns, mask);
	_pthread_cleanup_pop(&b, 0);
	set_put(s);
	return r;
}

/* ---- entry points --------------------------------------------------- */

SHIM_EXPORT int epoll_create(int size)
{
	int fd = REAL(epoll_create)(size);

	if (fd >= 0)
		set_new(fd);
	return fd;
}

SHIM_EXPORT int epoll_create1(int flags)
{
	int fd = REAL(epoll_create1)(flags);

	if (fd >= 0)
		set_new(fd);
	return fd;
}

int epoll_ctl_real(int epfd, int op, int fd, struct epoll_event *ev)
{
	return REAL(epoll_ctl)(epfd, op, fd, ev);
}

int epoll_pwait2_real(int epfd, struct epoll_event *ev, int max, const struct timespec *ts,
		      const sigset_t *mask)
{
	if (REAL(epoll_pwait2)) {
		int r = REAL(epoll_pwait2)(epfd, ev, max, ts, mask);
		if (r >= 0 || errno != ENOSYS)
			return r;
	}
	/* Kernels before 5.11: millisecond resolution, rounded up, at most
	 * INT_MAX (24 days: the caller waits again). */
	int64_t t = clock_ts_timeout_ns(ts);
	return REAL(epoll_pwait)(epfd, ev, max,
				 t < 0 ? -1 : t / 1000000 >= INT_MAX ? INT_MAX : (int)((t + 999999) / 1000000),
				 mask);
}

static int managed_ctl(int epfd, int op, int fd, struct epoll_event *ev)
{
	/* -ESTALE: closed under us; the number may name another instance. */
	for (int tries = 0; tries < 16; tries++) {
		struct ep_set *s = set_get(epfd);
		int r;

		if (!s)
			return REAL(epoll_ctl)(epfd, op, fd, ev) < 0 ? -errno : 0;
		r = shim_epoll_ctl(s, epfd, op, fd, ev);
		set_put(s);
		if (r != -ESTALE)
			return r;
	}
	return -EBADF;
}

/* An unmanaged number that is one of the shim's own fds (an instance's
 * copy, kfd): the program never opened it. */
static int own_ebadf(void)
{
	errno = EBADF;
	return -1;
}

SHIM_EXPORT int epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev)
{
	/* One of ours as the fd to register (an instance's copy, the log
	 * file): the program never opened it either.  The kernel would take
	 * it and report the library's file under the program's data. */
	if (shim_is_own(fd))
		return own_ebadf();
	if (!set_of(epfd))
		return shim_is_own(epfd) ? own_ebadf() : REAL(epoll_ctl)(epfd, op, fd, ev);
	SHIM_RET_KEEP(managed_ctl(epfd, op, fd, ev));
}

SHIM_EXPORT int epoll_wait(int epfd, struct epoll_event *ev, int max, int timeout)
{
	struct ep_set *s = set_get(epfd);

	if (!s)
		return shim_is_own(epfd) ? own_ebadf() : REAL(epoll_wait)(epfd, ev, max, timeout);
	SHIM_RET_KEEP(managed_wait(s, epfd, ev, max, timeout < 0 ? -1 : (int64_t)timeout * 1000000,
				      NULL));
}

SHIM_EXPORT int epoll_pwait(int epfd, struct epoll_event *ev, int max, int timeout,
			    const sigset_t *mask)
{
	struct ep_set *s = set_get(epfd);

	if (!s)
		return shim_is_own(epfd) ? own_ebadf() : REAL(epoll_pwait)(epfd, ev, max, timeout, mask);
	SHIM_RET_KEEP(managed_wait(s, epfd, ev, max, timeout < 0 ? -1 : (int64_t)timeout * 1000000,
				      mask));
}

SHIM_EXPORT int epoll_pwait2(int epfd, struct epoll_event *ev, int max, const struct timespec *ts,
			     const sigset_t *mask)
{
	struct ep_set *s = set_get(epfd);
	int64_t t;

	if (!s)
		return shim_is_own(epfd) ? own_ebadf() : REAL(epoll_pwait2)(epfd, ev, max, ts, mask);
	/* The time-out is read only for a managed instance (an unreadable
	 * one is the kernel's EFAULT otherwise); an invalid one is the
	 * kernel's EINVAL, before the instance's events. */
	if ((t = clock_ts_timeout_ns(ts)) == CLOCK_NS_INVALID) {
		set_put(s);
		return REAL(epoll_pwait2)(epfd, ev, max, ts, mask);
	}
	SHIM_RET_KEEP(managed_wait(s, epfd, ev, max, t, mask));
}

/* fork(): the table lock, then every instance's, in the global order
 * (docs/locking.md); released in both processes after the fork. */
void shim_epoll_fork_lock(void)
{
	pthread_mutex_lock(&sets_lock);
	for (int i = 0; i < atomic_load(&nlive); i++) {
		struct ep_set *s = atomic_load(&sets[live[i]]);
		if (s && !seen_before(i, s))
			pthread_mutex_lock(&s->lock);
	}
}

void shim_epoll_fork_unlock(void)
{
	for (int i = 0; i < atomic_load(&nlive); i++) {
		struct ep_set *s = atomic_load(&sets[live[i]]);
		if (s && !seen_before(i, s))
			pthread_mutex_unlock(&s->lock);
	}
	pthread_mutex_unlock(&sets_lock);
}

/* The child of fork() has the forking thread only: the references other
 * threads held (a wait inside an instance, a close between its two steps)
 * will never be put there.  Each instance keeps what the child holds: the
 * table's entries and the forking thread's own references (recorded in
 * `holds`: a fork from a signal handler that interrupted a call of ours);
 * one that no longer has any is released (its tables, its copy of the
 * kernel's fd).  Without this, an instance waited on in the parent at the
 * fork was never released in the child, also after the child closed it. */
void shim_epoll_fork_child(void)
{
	struct ep_set *gone = NULL;

	if (!all || holds.over)
		return;                 /* none; or cannot tell: keep them all */
	pthread_mutex_lock(&sets_lock);
	for (struct ep_set *s = all; s; s = s->next_all) {
		int r = atomic_load(&s->refs), names = 0, mine = 0;

		if (r <= 0)
			continue;
		for (int i = 0; i < atomic_load(&nlive); i++)
			names += atomic_load(&sets[live[i]]) == s;
		for (int i = 0; i < holds.n; i++)
			mine += holds.s[i] == s;
		if (names + mine == r)
			continue;
		atomic_store(&s->names, names);
		if (!names)
			s->closed = true;
		atomic_store(&s->refs, names + mine);
		if (names + mine == 0) {
			s->next_free = gone;
			gone = s;
		}
	}
	pthread_mutex_unlock(&sets_lock);
	while (gone) {
		struct ep_set *next = gone->next_free;
		set_release(gone);
		gone = next;
	}
}
