/* shim/wait.c — every kernel wait the shim does for a program's blocking
 * call on a TLS fd.
 *
 * A thread waits with ppoll() on the socket and on an eventfd of its own.
 * A hand-over to a pump (pump.c) writes to the eventfd of every thread
 * waiting on that session, so a read() blocked when another thread forks
 * goes on at once on the fd's new plaintext end, instead of waiting on a
 * TCP socket that now belongs to the pump (git clone does exactly this).
 * The eventfd costs 0.13-0.31 us a wait, and nothing else can wake a
 * thread asleep on the socket when a hand-over starts in another thread
 * (bench/README.md, "The wake-up eventfd in every wait, measured").
 *
 * Signals keep their meaning for a blocking socket call: a handler
 * installed with SA_RESTART restarts the call, one without makes it fail
 * with EINTR (alarm() timeouts on read() rely on that).  The kernel would
 * decide per signal; here the wait learns of the interruption only as
 * EINTR, so the shim tracks which handlers lack SA_RESTART (signal.c) and
 * returns EINTR when such a handler could have run.
 */
#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "core/lock.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/self.h"
#include "shim/shim.h"

struct waiter {
	int evfd;                       /* the thread's eventfd (OWN), or -1 */
	pid_t pid;                      /* the process evfd was made in */
};

static pthread_key_t waiter_key;
static pthread_once_t waiter_once = PTHREAD_ONCE_INIT;

/* The waiters of ended threads, eventfd and all, for the next threads: a
 * server that starts a thread per connection would otherwise pay four
 * system calls per thread (eventfd, its move to a high number, two
 * closes).  Lock-free: each place is taken or filled by one atomic
 * exchange, so fork() and a thread's end need no lock here.  A waiter
 * inherited from the parent (a fork's child finds the parent's in its
 * copy of the pool) holds the parent's eventfd, the same file in both
 * processes: it is never used, but closed when met. */
#define POOL 16
static _Atomic(struct waiter *) pool[POOL];

static void waiter_discard(struct waiter *w)
{
	if (w->evfd >= 0)
		shim_own_close(w->evfd);
	free(w);
}

/* The thread's waiter once it is complete (its eventfd made), as
 * pthread_getspecific has it: one load per wait instead of a
 * pthread_once and a pthread_getspecific (some 45 instructions).  The
 * key's destructor, which runs in the ending thread, clears it before it
 * gives the waiter away. */
static __thread struct waiter *waiter_mine __attribute__((tls_model("initial-exec")));

static void waiter_free(void *p)
{
	struct waiter *w = p;

	waiter_mine = NULL;

	if (w->evfd >= 0 && w->pid == self_pid())
		for (int i = 0; i < POOL; i++) {
			struct waiter *none = NULL;
			if (atomic_compare_exchange_strong(&pool[i], &none, w))
				return;
		}
	waiter_discard(w);
}

static struct waiter *pool_take(void)
{
	for (int i = 0; i < POOL; i++) {
		struct waiter *w;

		if (!atomic_load_explicit(&pool[i], memory_order_relaxed) ||
		    !(w = atomic_exchange(&pool[i], NULL)))
			continue;
		if (w->pid == self_pid())
			return w;
		waiter_discard(w);
	}
	return NULL;
}

static bool waiter_key_made;

static void waiter_key_init(void)
{
	waiter_key_made = pthread_key_create(&waiter_key, waiter_free) == 0;
}

/* At start-up (init.c), before the program's threads exist. */
void shim_wait_init(void)
{
	pthread_once(&waiter_once, waiter_key_init);
}

static __attribute__((noinline)) struct waiter *self_waiter_slow(void)
{
	struct waiter *w;
	bool kept = true;

	shim_wait_init();
	w = pthread_getspecific(waiter_key);
	if (!w) {
		if (!(w = pool_take())) {
			if (!(w = malloc(sizeof *w)))
				return NULL;
			w->evfd = -1;
		}
		kept = pthread_setspecific(waiter_key, w) == 0;
	}
	/* Made on the thread's first wait, and tried again on later ones when
	 * the descriptor table was full then (EMFILE): a thread must not stay
	 * without its wake-up for the rest of its life. */
	if (w->evfd < 0) {
		int fd = REAL(eventfd)(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (fd >= 0) {
			w->pid = self_pid();
			shim_own_cell(fd, &w->evfd);
		}
	}
	if (kept && w->evfd >= 0)
		waiter_mine = w;
	return w;
}

static inline struct waiter *self_waiter(void)
{
	struct waiter *w = waiter_mine;

	return __builtin_expect(w != NULL, 1) ? w : self_waiter_slow();
}

/* Who waits on which session now: a small open-addressed table. */
#define SLOTS 1024
static struct {
	_Atomic(struct tls_conn *) conn;
	_Atomic int evfd;
} slots[SLOTS];

static int slot_claim(struct tls_conn *c, int evfd)
{
	unsigned start = (unsigned)((uintptr_t)pthread_self() >> 6) % SLOTS;

	for (unsigned i = 0; i < SLOTS; i++) {
		unsigned k = (start + i) % SLOTS;
		struct tls_conn *none = NULL;
		if (atomic_compare_exchange_strong(&slots[k].conn, &none, c)) {
			atomic_store(&slots[k].evfd, evfd);
			return (int)k;
		}
	}
	return -1;
}

static void slot_release(int k)
{
	if (k >= 0) {
		atomic_store(&slots[k].evfd, -1);
		atomic_store(&slots[k].conn, NULL);
	}
}

void shim_wake_waiters(struct tls_conn *c)
{
	uint64_t one = 1;

	for (int k = 0; k < SLOTS; k++)
		if (atomic_load(&slots[k].conn) == c) {
			int fd = atomic_load(&slots[k].evfd);
			if (fd >= 0)
				(void)!REAL(write)(fd, &one, sizeof one);
		}
}

/* In fork's child (init.c).  The forking thread's eventfd is the parent's
 * thread's too (one file in two processes): a hand-over's wake-up written
 * in one could be read away by a waiter in the other, which then sleeps
 * on a socket that has moved to a pump.  So the child puts an eventfd of
 * its own under the same number (dup3): a copy of the number the thread
 * holds in a wait that a signal handler's fork interrupted stays good,
 * and the shim's record of its own fds does not change.  The parent's
 * other threads are not in the child: their places in the table of
 * waiters go; the forking thread's stay (that wait goes on). */
void shim_wait_fork_child(void)
{
	struct waiter *w = waiter_key_made ? pthread_getspecific(waiter_key) : NULL;
	int mine = w ? w->evfd : -1;

	for (int k = 0; k < SLOTS; k++)
		if (mine < 0 || atomic_load(&slots[k].evfd) != mine)
			slot_release(k);
	if (mine >= 0) {
		int fresh = REAL(eventfd)(0, EFD_CLOEXEC | EFD_NONBLOCK);

		/* Without a free descriptor the shared one stays: never a
		 * closed number under an interrupted wait (it would poll a
		 * closed fd forever). */
		if (fresh >= 0) {
			if (REAL(dup3)(fresh, mine, O_CLOEXEC) >= 0)
				w->pid = self_pid();
			REAL(close)(fresh);
		}
	}
}

int shim_wait_evfd(void)
{
	struct waiter *w = self_waiter();

	return w ? w->evfd : -1;
}

int shim_wait_watch(struct tls_conn *c, int evfd)
{
	return evfd >= 0 ? slot_claim(c, evfd) : -1;
}

void shim_wait_unwatch(int slot)
{
	slot_release(slot);
}

__thread struct shim_call shim_call_now __attribute__((tls_model("initial-exec")));

/* The call's frames were left without returning (shim.h, struct
 * shim_call_frame). */
void shim_call_unwound(void *frame)
{
	struct shim_call_frame *f = frame;

	shim_call_now = f->prev;
	xlock_nocancel_ = f->nocancel;
	atomic_signal_fence(memory_order_seq_cst);
	if (f->cancel >= 0)
		pthread_setcancelstate(f->cancel, NULL);
	if (f->c)
		tls_conn_unref(f->c);
}

/* A thread that leaves its wait without returning (cancelled, ended by
 * pthread_exit() in a handler, or a handler's siglongjmp out of ppoll()
 * below) gives up its place among the waiters: a later hand-over would
 * otherwise write a wake-up into that number when it is the program's,
 * and the table (1024 places) would fill.  The call's reference goes with
 * the call's own record (shim_call_unwound).  On glibc's first cleanup
 * chain (core/unwind.h), which a longjmp() runs: the second one
 * (pthread_cleanup_push) kept a record of this dead frame, that a later
 * pthread_exit() jumped into. */
struct unwind {
	struct _pthread_cleanup_buffer b;
	int k;                          /* the place among the waiters */
};

static void wait_unwound(void *arg)
{
	struct unwind *u = arg;

	slot_release(u->k);
	u->k = -1;
}

static int wait_sock(struct tls_conn *c, int fd, short events, int timeout_ms, bool restart);

int shim_wait(struct tls_conn *c, int fd, short events, int timeout_ms)
{
	return wait_sock(c, fd, events, timeout_ms, true);
}

int shim_wait_timeo(struct tls_conn *c, int fd, short events, int timeout_ms)
{
	return wait_sock(c, fd, events, timeout_ms, timeout_ms < 0);
}

static int wait_sock(struct tls_conn *c, int fd, short events, int timeout_ms, bool restart)
{
	struct waiter *w = self_waiter();
	int64_t deadline = timeout_ms >= 0 ? clock_ms() + timeout_ms : -1;
	/* A blocking socket call is a cancellation point: so is this wait,
	 * when it is the wait of the call this thread is making (not one of
	 * a handler's close inside it) and the program allows cancellation
	 * (shim_call_begin disabled it for the rest of the call). */
	bool cancellable = c && shim_call_now.c == c && shim_call_now.cancel == PTHREAD_CANCEL_ENABLE &&
			   xlock_held_ == 0;
	struct unwind u = { .k = -1 };
	unsigned nocancel = 0;
	int r;

	/* Registered before the check: a hand-over that marks the session
	 * moved after this check finds the slot and wakes us (both sides are
	 * sequentially consistent). */
	if (w && w->evfd >= 0)
		u.k = slot_claim(c, w->evfd);
	_pthread_cleanup_push(&u.b, wait_unwound, &u);
	for (;;) {
		struct pollfd p[2] = { { .fd = fd, .events = events },
				       { .fd = w ? w->evfd : -1, .events = POLLIN } };
		struct timespec ts, *tsp = NULL;
		int ms = -1;

		if (tls_conn_moved(c)) {
			r = 1;
			break;
		}
		if (deadline >= 0) {
			int64_t left = deadline - clock_ms();
			if (left < 0)
				left = 0;
			ts.tv_sec = left / 1000;
			ts.tv_nsec = (left % 1000) * 1000000;
			tsp = &ts;
			ms = left > INT_MAX ? INT_MAX : (int)left;
		}
		if (cancellable) {
			/* No lock is held (cancellable says so); one that a
			 * signal handler takes in the window must disable
			 * cancellation itself (core/lock.h). */
			nocancel = xlock_nocancel_;
			xlock_nocancel_ = 0;
			atomic_signal_fence(memory_order_seq_cst);
			pthread_setcancelstate(PTHREAD_CANCEL_ENABLE, NULL);
		}
		r = REAL(ppoll)(p, u.k >= 0 ? 2 : 1, tsp, NULL);
		/* A seccomp filter written for poll() only (ppoll refused, as
		 * the program never makes it): the same wait with poll(),
		 * where it is a system call of its own (not on aarch64). */
		if (r < 0 && (errno == EPERM || errno == ENOSYS))
			r = REAL(poll)(p, u.k >= 0 ? 2 : 1, ms);
		if (cancellable) {
			pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
			atomic_signal_fence(memory_order_seq_cst);
			xlock_nocancel_ = nocancel;
		}
		if (r > 0 && p[1].revents) {
			uint64_t v;
			(void)!REAL(read)(w->evfd, &v, sizeof v);
			if (!p[0].revents)
				continue;       /* another session's hand-over, or ours: look */
		}
		if (r > 0) {
			r = 1;
			break;
		}
		if (r == 0) {
			if (deadline >= 0 && clock_ms() >= deadline)
				break;
			continue;
		}
		if (errno == EINTR && restart && shim_signal_restarts())
			continue;
		r = -errno;
		break;
	}
	_pthread_cleanup_pop(&u.b, 0);
	slot_release(u.k);
	return r;
}
