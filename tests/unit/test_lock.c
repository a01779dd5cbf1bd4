/* tests/unit/test_lock.c — the library's lock (core/lock.h): mutual
 * exclusion under contention, the bounded wait of exit paths, and what a
 * signal handler sees.  The handler case is the reason the lock exists: a
 * handler that lands at any instruction of its thread's lock or unlock
 * must know exactly whether its thread holds the lock, and never wait for
 * it then.  The former lock (a pthread mutex with its holder recorded
 * beside it) hung there: the handler saw a mutex its own thread held as
 * another's and waited on the futex for ever. */
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/lock.h"
#include "tests/unit/unit.h"

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/* ---- mutual exclusion ------------------------------------------------------ */

static struct xlock lk = XLOCK_INIT;
static long counter;                /* guarded by lk, deliberately not atomic */

#define CONTEND_THREADS 4
#define CONTEND_ROUNDS 200000

static void *contend(void *arg)
{
	(void)arg;
	for (int i = 0; i < CONTEND_ROUNDS; i++) {
		xlock_lock(&lk);
		counter++;
		xlock_unlock(&lk);
	}
	return NULL;
}

/* ---- the bounded wait -------------------------------------------------------- */

static struct xlock held = XLOCK_INIT;
static _Atomic int held_now, let_go;

static void *holder(void *arg)
{
	(void)arg;
	xlock_lock(&held);
	atomic_store(&held_now, 1);
	while (!atomic_load(&let_go))
		usleep(1000);
	xlock_unlock(&held);
	return NULL;
}

/* ---- cancellation while waiting ------------------------------------------------- */

static struct xlock outer = XLOCK_INIT, inner = XLOCK_INIT;
static _Atomic int waiting_inner;

/* Holds outer, waits for inner (which main holds), as epoll_wait holds an
 * instance lock while it waits for a connection's.  Cancelled meanwhile,
 * it must not unwind out of the wait with outer held: it gets through
 * both releases and returns (the cancellation is left pending: a real
 * unwind leaves AddressSanitizer's stack marks behind, a report of its
 * own at the thread's end). */
static void *nested(void *arg)
{
	(void)arg;
	xlock_lock(&outer);
	atomic_store(&waiting_inner, 1);
	xlock_lock(&inner);
	xlock_unlock(&inner);
	xlock_unlock(&outer);
	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
	return (void *)1;
}

/* ---- fork ------------------------------------------------------------------------- */

static struct xlock forked = XLOCK_INIT;
static _Atomic int waiting_forked;

static void *wait_forked(void *arg)
{
	(void)arg;
	atomic_store(&waiting_forked, 1);
	xlock_lock(&forked);
	xlock_unlock(&forked);
	return NULL;
}

/* ---- a signal handler at any instruction -------------------------------------- */

static struct xlock sl;
static volatile sig_atomic_t inside;     /* the target thread is in its critical section */
static _Atomic long loops, handled, took, mine, bad;
static _Atomic int stop;
static pthread_t target;

static void on_signal(int sig)
{
	(void)sig;
	if (xlock_lock_unless_mine(&sl)) {
		/* Taken: so the interrupted thread did not hold it, and
		 * cannot be inside. */
		if (inside)
			atomic_fetch_add(&bad, 1);
		atomic_fetch_add(&took, 1);
		xlock_unlock(&sl);
	} else {
		atomic_fetch_add(&mine, 1);
	}
	atomic_fetch_add(&handled, 1);
}

static void *target_loop(void *arg)
{
	(void)arg;
	while (!atomic_load(&stop)) {
		xlock_lock(&sl);
		inside = 1;
		inside = 0;
		xlock_unlock(&sl);
		atomic_fetch_add(&loops, 1);
	}
	return NULL;
}

/* A second thread on the same lock: the target's lock takes the slow
 * path (a wait on the semaphore) too, and is interrupted there. */
static void *rival_loop(void *arg)
{
	(void)arg;
	while (!atomic_load(&stop)) {
		xlock_lock(&sl);
		xlock_unlock(&sl);
	}
	return NULL;
}

/* Every signal delivered must be handled, and the target must go on:
 * a handler waiting for its own thread's lock stops both for ever.
 * Bounded: 100,000 signals or 5 s of sending, then 20 s of waiting. */
static void signal_case(void)
{
	struct sigaction sa = { .sa_handler = on_signal };
	pthread_t rival;
	long sent = 0, t0 = now_ms(), last, seen;

	xlock_init(&sl);
	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR1, &sa, NULL);
	pthread_create(&target, NULL, target_loop, NULL);
	pthread_create(&rival, NULL, rival_loop, NULL);
	while (sent < 100000 && now_ms() - t0 < 5000) {
		pthread_kill(target, SIGUSR1);
		sent++;
		/* let the handler run before the next one (pending signals
		 * merge), boundedly */
		for (long w = now_ms(); atomic_load(&handled) < sent && now_ms() - w < 20000;)
			sched_yield();
		if (atomic_load(&handled) < sent)
			break;
	}
	/* the target still makes progress */
	seen = atomic_load(&loops);
	last = now_ms();
	while (atomic_load(&loops) == seen && now_ms() - last < 20000)
		sched_yield();
	UNIT_CASE("a signal handler at any instruction of its thread's lock and unlock: never waits for it, never enters beside it") {
		EXPECT(atomic_load(&handled) == sent);
		EXPECT(atomic_load(&loops) > seen);
		EXPECT(atomic_load(&bad) == 0);
		EXPECT(atomic_load(&took) > 0 && atomic_load(&mine) > 0);
	}
	printf("# %ld signals: handler took the lock %ld times, found it its thread's %ld times;"
	       " target %ld rounds\n", sent, atomic_load(&took), atomic_load(&mine), atomic_load(&loops));
	if (atomic_load(&handled) != sent || atomic_load(&loops) == seen) {
		/* hung threads cannot be joined */
		printf("FAIL lock: a thread hangs (handled %ld of %ld)\n", atomic_load(&handled), sent);
		fflush(stdout);
		_exit(1);
	}
	atomic_store(&stop, 1);
	pthread_join(target, NULL);
	pthread_join(rival, NULL);
	xlock_destroy(&sl);
}

int main(void)
{
	pthread_t t[CONTEND_THREADS];

	setvbuf(stdout, NULL, _IOLBF, 0);
	UNIT_CASE("mutual exclusion: 4 threads x 200000 increments under the lock") {
		for (int i = 0; i < CONTEND_THREADS; i++)
			pthread_create(&t[i], NULL, contend, NULL);
		for (int i = 0; i < CONTEND_THREADS; i++)
			pthread_join(t[i], NULL);
		EXPECT(counter == (long)CONTEND_THREADS * CONTEND_ROUNDS);
		EXPECT(!xlock_mine(&lk));
	}

	UNIT_CASE("mine: exact for the holder, never for another thread") {
		EXPECT(!xlock_mine(&lk));
		xlock_lock(&lk);
		EXPECT(xlock_mine(&lk));
		EXPECT(!xlock_lock_unless_mine(&lk));
		EXPECT(!xlock_lock_timed(&lk, 10));
		xlock_unlock(&lk);
		EXPECT(!xlock_mine(&lk));
		EXPECT(xlock_lock_unless_mine(&lk));
		xlock_unlock(&lk);
	}

	UNIT_CASE("timed: gives up on a lock another thread keeps, takes it once let go") {
		pthread_t h;
		long t0;

		pthread_create(&h, NULL, holder, NULL);
		while (!atomic_load(&held_now))
			usleep(1000);
		EXPECT(!xlock_mine(&held));
		t0 = now_ms();
		EXPECT(!xlock_lock_timed(&held, 100));
		EXPECT(now_ms() - t0 >= 100);
		atomic_store(&let_go, 1);
		EXPECT(xlock_lock_timed(&held, 30000));
		EXPECT(xlock_mine(&held));
		xlock_unlock(&held);
		pthread_join(h, NULL);
	}

	UNIT_CASE("cancelled while waiting for a lock: does not unwind with the locks it holds") {
		pthread_t n;
		void *ret;

		xlock_lock(&inner);
		pthread_create(&n, NULL, nested, NULL);
		while (!atomic_load(&waiting_inner))
			usleep(1000);
		usleep(20000);          /* into the wait (either way the case holds) */
		pthread_cancel(n);
		usleep(20000);
		xlock_unlock(&inner);
		pthread_join(n, &ret);
		EXPECT(ret == (void *)1);
		EXPECT(xlock_lock_timed(&outer, 30000));
		xlock_unlock(&outer);
	}

	UNIT_CASE("fork: the child forgets the parent's waiters (no wake-up per release)") {
		pthread_t w;
		pid_t pid;
		int st = -1;

		xlock_lock(&forked);             /* as fork's prepare handler */
		pthread_create(&w, NULL, wait_forked, NULL);
		while (!atomic_load(&waiting_forked) || !atomic_load(&forked.waiters))
			usleep(1000);
		pid = fork();
		if (pid == 0) {
			int v = -1;
			bool ok;

			xlock_fork_child(&forked, true);
			ok = !xlock_mine(&forked) && atomic_load(&forked.waiters) == 0;
			for (int i = 0; i < 1000; i++) {
				xlock_lock(&forked);
				xlock_unlock(&forked);
			}
			sem_getvalue(&forked.sem, &v);
			_exit(ok && v == 0 ? 0 : 1);
		}
		xlock_unlock(&forked);
		pthread_join(w, NULL);
		EXPECT(pid > 0 && waitpid(pid, &st, 0) == pid);
		EXPECT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	}

	signal_case();
	return UNIT_RESULT();
}
