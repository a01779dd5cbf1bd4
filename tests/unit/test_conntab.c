/* tests/unit/test_conntab.c — the table's state machine (core/conntab.c):
 * every state and transition, the tombstone across a close, references
 * (the table's, the caller's), lock-free lookups racing replacements,
 * the walk over connections, and fork's locking of every connection. */
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/socket.h>
#include <unistd.h>
#include <openssl/ssl.h>

#include "core/conntab.h"
#include "core/log.h"
#include "core/sys.h"
#include "core/tls.h"
#include "tests/unit/unit.h"

static SSL_CTX *ctx;
static int sp[2];

static struct tls_conn *conn(void)
{
	struct tls_opts o = { .ctx = ctx, .label = "t", .handshake_timeout_ms = 1000 };

	return tls_conn_new(sp[0], &o, TLS_ROLE_SERVER, NULL, "test");
}

static void count_conn(int fd, struct tls_conn *c, void *arg)
{
	(void)fd;
	(void)c;
	(*(int *)arg)++;
}

/* ---- a lookup racing replacements ------------------------------------------ */

/* A pass-through socket's changes, made by another thread while the
 * test holds the fork's prepare handler's lock. */
static sem_t bare_done;

static void *bare_changes(void *arg)
{
	int fd = *(int *)arg;

	conntab_set(fd, CT_PLAIN);
	if (conntab_cas(fd, CT_PLAIN, CT_UNSEEN))
		sem_post(&bare_done);
	return NULL;
}

static _Atomic int stop_race;
static _Atomic long lookups, hits;

static void *reader(void *arg)
{
	int fd = *(int *)arg;

	while (!atomic_load(&stop_race)) {
		struct tls_conn *c = conntab_get(fd);
		atomic_fetch_add(&lookups, 1);
		if (c) {
			/* A reference keeps it usable: ask it something. */
			if (tls_conn_role(c) == TLS_ROLE_SERVER)
				atomic_fetch_add(&hits, 1);
			tls_conn_unref(c);
		}
	}
	return NULL;
}

/* ---- a cancellation acted on in a signal handler ----------------------------
 * A thread whose cancellation is enabled (deferred) and pending changes
 * a connection's word in a loop (the mutation lock held each time); a
 * signal handler calls a cancellation point (write(2), as a handler that
 * writes on a socket does), where the cancellation acts and unwinds the
 * thread from wherever the signal landed.  Landing inside a hold of the
 * mutation lock, it must not leave the lock held by a thread that is
 * gone: every later mutation of a connection's word, and every fork,
 * waited for ever. */
static int cancel_pipe[2];
static _Atomic long cancel_loops;
static _Atomic int handled;

static void on_cancel_signal(int sig)
{
	(void)sig;
	(void)!write(cancel_pipe[1], "x", 1);
	atomic_store(&handled, 1);
}

static void *mutate_until_cancelled(void *arg)
{
	uintptr_t v = (uintptr_t)arg;

	/* No cancellation point but the handler's, and once the handler
	 * returned (the hold it interrupted kept the cancellation off)
	 * pthread_testcancel, outside any hold. */
	for (long i = 0; i < 20000000; i++) {
		(void)conntab_cas(44, v, v | CT_CLOSING_BIT);
		(void)conntab_cas(44, v | CT_CLOSING_BIT, v);
		atomic_fetch_add_explicit(&cancel_loops, 1, memory_order_relaxed);
		if (atomic_load_explicit(&handled, memory_order_relaxed))
			pthread_testcancel();
	}
	return NULL;
}

/* The checker: one thread for every round (a thread made after the
 * cancelled one may get its id, and take the lock the gone thread held
 * for its own), making one mutation per round. */
static sem_t mutate, mutated;

static void *mutations(void *arg)
{
	uintptr_t v = (uintptr_t)arg;

	for (;;) {
		while (sem_wait(&mutate) < 0)
			;
		if (conntab_cas(45, v, v | CT_CLOSING_BIT) && conntab_cas(45, v | CT_CLOSING_BIT, v))
			sem_post(&mutated);
	}
	return NULL;
}

/* 0: the lock was free after each of `rounds` cancellations; else the
 * round it was not (the process is left to exit: a hung thread cannot
 * be joined). */
static __attribute__((unused)) int cancel_in_handler_rounds(struct tls_conn *c, int rounds)
{
	struct sigaction sa = { .sa_handler = on_cancel_signal };
	struct timespec until;
	pthread_t t, m;
	int r;

	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR2, &sa, NULL);
	sem_init(&mutate, 0, 0);
	sem_init(&mutated, 0, 0);
	pthread_create(&m, NULL, mutations, c);
	for (int i = 1; i <= rounds; i++) {
		long seen;

		atomic_store(&cancel_loops, 0);
		atomic_store(&handled, 0);
		pthread_create(&t, NULL, mutate_until_cancelled, c);
		/* (bounded: the loop ends by itself) */
		while ((seen = atomic_load(&cancel_loops)) < 100 && pthread_tryjoin_np(t, NULL) == EBUSY)
			sched_yield();
		pthread_cancel(t);
		pthread_kill(t, SIGUSR2);
		pthread_join(t, NULL);
		/* another thread's mutation: waits for ever on a lock left held */
		sem_post(&mutate);
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += 10;
		while ((r = sem_timedwait(&mutated, &until)) < 0 && errno == EINTR)
			;
		if (r < 0)
			return i;
	}
	pthread_cancel(m);      /* (in sem_wait, with no lock held) */
	pthread_join(m, NULL);
	return 0;
}

int main(void)
{
	core_sys_default();
	log_init(NULL);
	ctx = SSL_CTX_new(TLS_method());
	if (!ctx || socketpair(AF_UNIX, SOCK_STREAM, 0, sp) < 0 || conntab_init() < 0) {
		printf("FAIL setup: SSL_CTX, socketpair or conntab_init\n");
		return 1;
	}

	UNIT_CASE("conntab: every number starts unseen; numbers beyond the table read unseen") {
		EXPECT(conntab_load(100) == CT_UNSEEN);
		EXPECT(conntab_load((int)conntab_size) == CT_UNSEEN);
		EXPECT(conntab_load(-1) == CT_UNSEEN);
		EXPECT(!conntab_is_pass(CT_UNSEEN));
	}
	UNIT_CASE("conntab: plain and pumped pass, own/refused/unseen do not") {
		conntab_set(10, CT_PLAIN);
		conntab_set(11, CT_PUMPED);
		conntab_set(12, CT_OWN);
		conntab_set(13, CT_REFUSED);
		EXPECT(conntab_is_pass(conntab_load(10)) && conntab_is_pass(conntab_load(11)));
		EXPECT(!conntab_is_pass(conntab_load(12)) && !conntab_is_pass(conntab_load(13)));
		EXPECT(!conntab_is_tls(conntab_load(10)) && !conntab_is_closing(conntab_load(12)));
		EXPECT(conntab_get(10) == NULL && conntab_get(12) == NULL);
		EXPECT(conntab_high() >= 14);
	}
	UNIT_CASE("conntab: a TLS word gives a reference; detach hands over the table's") {
		struct tls_conn *c = conn(), *g;
		EXPECT(c && conntab_attach(20, c) == 0);
		EXPECT(conntab_is_tls(conntab_load(20)) && !conntab_is_pass(conntab_load(20)));
		g = conntab_get(20);
		EXPECT(g == c);
		tls_conn_unref(g);
		g = conntab_detach(20);
		EXPECT(g == c && conntab_load(20) == CT_UNSEEN);
		EXPECT(tls_conn_tryref(c));     /* still alive: we hold the table's reference */
		tls_conn_unref(c);
		tls_conn_unref(g);              /* the last one: freed (recycled) */
		EXPECT(!tls_conn_tryref(c));    /* a stale pointer is refused, not used */
	}
	UNIT_CASE("conntab: close leaves a tombstone until the real close is done") {
		struct tls_conn *c = conn(), *mine;
		EXPECT(conntab_attach(21, c) == 0);
		mine = conntab_begin_close(21);
		EXPECT(mine == c);
		EXPECT(conntab_is_closing(conntab_load(21)));
		EXPECT(!conntab_is_pass(conntab_load(21)));
		EXPECT(conntab_get(21) == NULL);            /* no new I/O on a closing fd */
		EXPECT(conntab_begin_close(21) == NULL);    /* a second close finds none */
		conntab_end_close(21, mine);
		EXPECT(conntab_load(21) == CT_UNSEEN);
		tls_conn_unref(mine);                       /* the caller's */
		EXPECT(!tls_conn_tryref(c));                /* and the table's went with end_close */
	}
	UNIT_CASE("conntab: a number reused during the close keeps its new word, one release") {
		struct tls_conn *c = conn(), *mine;
		EXPECT(conntab_attach(22, c) == 0);
		mine = conntab_begin_close(22);
		conntab_set(22, CT_PLAIN);                  /* opened again meanwhile */
		EXPECT(tls_conn_tryref(c));                 /* only the caller's remains */
		tls_conn_unref(c);
		conntab_end_close(22, mine);
		EXPECT(conntab_load(22) == CT_PLAIN);
		tls_conn_unref(mine);
		EXPECT(!tls_conn_tryref(c));
	}
	UNIT_CASE("conntab: attaching over a stale connection releases it") {
		struct tls_conn *a = conn(), *b = conn();
		EXPECT(conntab_attach(23, a) == 0 && conntab_attach(23, b) == 0);
		EXPECT(!tls_conn_tryref(a));
		EXPECT(conntab_get(23) == b);
		tls_conn_unref(b);
		conntab_set(23, CT_UNSEEN);
		EXPECT(!tls_conn_tryref(b));
	}
	UNIT_CASE("conntab: compare-and-swap changes only the expected word") {
		conntab_set(24, CT_PLAIN);
		EXPECT(!conntab_cas(24, CT_UNSEEN, CT_REFUSED));
		EXPECT(conntab_cas(24, CT_PLAIN, CT_REFUSED));
		EXPECT(conntab_load(24) == CT_REFUSED);
		EXPECT(!conntab_cas((int)conntab_size, CT_UNSEEN, CT_PLAIN));
	}
	UNIT_CASE("conntab: the walk visits TLS and closing words in its range only") {
		struct tls_conn *a = conn(), *b = conn(), *mine;
		int n = 0;
		EXPECT(conntab_attach(30, a) == 0 && conntab_attach(31, b) == 0);
		conntab_set(32, CT_PLAIN);
		mine = conntab_begin_close(31);
		conntab_each_conn(30, 40, count_conn, &n);
		EXPECT(n == 2);
		n = 0;
		conntab_each_conn(31, 31, count_conn, &n);
		EXPECT(n == 1);
		conntab_end_close(31, mine);
		tls_conn_unref(mine);
		conntab_set(30, CT_UNSEEN);
	}
	UNIT_CASE("conntab: words that name no connection change while a fork is being prepared") {
		/* A pass-through accept (UNSEEN to PLAIN) and its close (back)
		 * need no lock: no connection appears or goes.  They used to
		 * wait for the mutation lock, which the fork's prepare handler
		 * holds from before the fork to after it. */
		struct timespec until;
		pthread_t t;
		int fd = 34, done;

		sem_init(&bare_done, 0, 0);
		conntab_fork_lock();
		pthread_create(&t, NULL, bare_changes, &fd);
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += 10;
		while ((done = sem_timedwait(&bare_done, &until)) < 0 && errno == EINTR)
			;
		conntab_fork_unlock(false);
		pthread_join(t, NULL);
		EXPECT(done == 0);
		EXPECT(conntab_load(fd) == CT_UNSEEN);
		EXPECT(conntab_high() > (size_t)fd);
		sem_destroy(&bare_done);
	}
	UNIT_CASE("conntab: fork's prepare handler holds every connection, then lets go") {
		struct tls_conn *a = conn();
		EXPECT(conntab_attach(33, a) == 0);
		conntab_fork_lock();
		/* held: a bounded try from this thread fails (it is ours) */
		EXPECT(!tls_conn_hold_timed(a, 10));
		conntab_fork_unlock(false);
		EXPECT(tls_conn_hold_timed(a, 1000));
		tls_conn_release(a);
		conntab_set(33, CT_UNSEEN);
	}
	UNIT_CASE("conntab: lock-free lookups racing replacements see the current connection or none") {
		pthread_t t[3];
		int fd = 40;
		struct tls_conn *c = conn();

		conntab_attach(fd, c);
		for (int i = 0; i < 3; i++)
			pthread_create(&t[i], NULL, reader, &fd);
		for (int i = 0; i < 20000; i++) {
			if (i % 3 == 0)
				conntab_set(fd, CT_PLAIN);
			else
				conntab_attach(fd, conn());
		}
		atomic_store(&stop_race, 1);
		for (int i = 0; i < 3; i++)
			pthread_join(t[i], NULL);
		conntab_set(fd, CT_UNSEEN);
		printf("# %ld lookups, %ld hits\n", atomic_load(&lookups), atomic_load(&hits));
		EXPECT(atomic_load(&lookups) > 0);
	}
#if defined(__SANITIZE_ADDRESS__)
	/* Not under AddressSanitizer: each round's real unwind (through the
	 * handler, the signal frame and the library's frames) leaves the
	 * sanitizer's marks of those frames on the thread's stack, a report
	 * of their own at the thread's end (as test_lock.c says). */
	printf("# not run under AddressSanitizer: a cancellation acted on in a signal handler\n");
#else
	UNIT_CASE("conntab: a cancellation acted on in a signal handler never leaves the mutation lock held") {
		struct tls_conn *c = conn();
		int bad;

		EXPECT(pipe(cancel_pipe) == 0);
		EXPECT(conntab_attach(44, c) == 0);
		tls_conn_ref(c);
		EXPECT(conntab_attach(45, c) == 0);
		bad = cancel_in_handler_rounds(c, 300);
		if (bad) {
			printf("FAIL conntab: a cancellation acted on in a signal handler never leaves the"
			       " mutation lock held: held after cancellation %d of 300\n", bad);
			fflush(stdout);
			_exit(1);
		}
		conntab_set(44, CT_UNSEEN);
		conntab_set(45, CT_UNSEEN);
	}
#endif
	SSL_CTX_free(ctx);
	return UNIT_RESULT();
}
