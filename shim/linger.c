/* shim/linger.c — the kernel's lingering close, for TLS sockets.
 *
 * When a program closes a TCP socket, the kernel keeps it until the data
 * in flight is delivered.  A TLS peer, though, may still send records the
 * program never asked for (TLS 1.3 session tickets follow the handshake,
 * and can arrive after a fast sender's close).  Linux answers data
 * arriving on a closed socket with a RST, and a RST makes the peer drop
 * what it has not read yet: the end of the program's data is lost.
 *
 * So the last close of a TLS connection sends close_notify and a FIN
 * (shutdown SHUT_WR: the peer sees the end at once, as with TCP), and
 * hands a private duplicate of the socket to one background thread that
 * reads and discards until the peer's FIN, or for at most the rule's
 * close_timeout_ms (5 s by default; 0: tlsio.c does not linger).
 * While the duplicate is open nothing is reset: late records just queue.
 * The thread blocks every signal, so the program's signals never land on
 * it.  Bounded: past `cap` sockets, close at once.
 *
 * Batched, because it is paid on every connection: the hand-over costs the
 * closing thread a shutdown and one fcntl (the duplicate is made high at
 * once, own.c), nothing else while the thread is awake (and a pipe write
 * while it waits longer than a tick).  The thread wakes every TICK_MS
 * while sockets come and go or have something to read (while the same
 * ones linger on quietly, each look doubles the wait, up to 16 ticks),
 * asks the kernel which of
 * the sockets have something (one poll with no wait), reads those, and
 * lets go of each whose FIN is in (at POLLRDHUP one short read has taken
 * everything, and the socket goes).  A server closing connections one after
 * another so pays one wake-up per tick, not one (or two: the peer's
 * close_notify, then its FIN) per connection, and no system call to
 * register a socket.  Once nothing lingers the thread goes on ticking
 * for IDLE_MS (50 ms, by the clock), so that a program closing
 * connections one after another never pays a wake-up either; after that
 * it sleeps without a deadline, and the next hand-over wakes it through
 * the pipe (the debug line "linger thread woken" says how long after the
 * last socket went: never less than IDLE_MS).  Only a hand-over starts
 * those idle ticks: a watched connection (below) needs a wake-up per
 * sweep, not per tick.  exit()
 * waits for the lingering sockets: the thread then waits on the sockets
 * themselves, so that none is held a tick longer than its peer's FIN.
 * tlsio.c does not linger at all when the peer has ended first.
 *
 * The same thread watches the connections that keep their record buffers
 * between records (a blocking reader's: tls_conn_wait_first), and frees
 * those buffers once a connection has had no read or write for a whole
 * TLS_IDLE_MS (tls_conn_idle_check): a sweep every TLS_IDLE_MS while any
 * is watched.  The reader itself cannot: a deadline on its wait arms a
 * kernel timer at every wait, which costs more than the buffers save.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/log.h"
#include "core/self.h"
#include "core/tls.h"
#include "shim/shim.h"

/* At most this many at once, and a quarter of the soft RLIMIT_NOFILE
 * (read when the thread starts): each one holds a descriptor of the
 * program's (256 under the usual limit of 1024). */
#define LINGER_MAX 1024
#define TICK_MS 10
/* Ticks the thread goes on looking after the last socket went, before it
 * sleeps without a deadline: a program that closes connections one after
 * another (a few milliseconds apart) pays no wake-up write at all.  Short,
 * because every tick is a wake-up of a sleeping thread (about 44 us of CPU
 * on the test machines), and the write that wakes a sleeping thread costs
 * about one tick: ticking on longer than a few ticks only pays when closes
 * come that close together, and then the ticks before found them anyway.
 * A second of ticks cost a server closing one connection a second 4.4 ms
 * of CPU per connection; 20 ticks (until 2026-12-05) 0.9 ms; 5 ticks (50
 * ms, eight times the longest gap between a pingpong client's closes seen
 * under ThreadSanitizer) 0.2 ms. */
#define IDLE_TICKS 5
/* Counted in time, not in ticks: a tick cut short by a sweep that is due
 * (a watched connection) would shorten them, and a loaded machine that
 * stretches each tick made the thread tick on for longer. */
#define IDLE_MS (IDLE_TICKS * TICK_MS)
/* While the same sockets linger on quietly (none handed over, none gone,
 * none with anything to read since the last look), each look doubles the
 * wait before the next, up to this many doublings (160 ms): a peer that
 * takes its time over its FIN (a round trip of 200 ms, or a client that
 * keeps its side open until its own idle timer) cost a tick every 10 ms,
 * about 44 us of CPU each, for as long as its socket lingered (up to
 * close_timeout_ms: 500 wake-ups for 5 s).  A look that read something
 * starts again at one tick: a look reads at most 256 KiB a socket, and a
 * peer still sending after the close (an upload the program refused)
 * would otherwise be read 16 times slower, and reach the deadline.  The
 * price: a quiet socket is let go up to 160 ms after its peer's FIN, not
 * 10.  A hand-over starts again at one tick too (it wakes a thread that
 * waits longer: a pipe write).  Below TLS_IDLE_MS (200 ms): a watched
 * connection's first sweep, due TLS_IDLE_MS after it goes hot, does not
 * wake a thread that waits, and is never late by this. */
#define SLOW_MAX 4
_Static_assert((TICK_MS << SLOW_MAX) <= TLS_IDLE_MS, "a slow wait must end before a first sweep is due");

static pthread_mutex_t lk = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t emptied = PTHREAD_COND_INITIALIZER;
static int wake[2] = { -1, -1 };
static pid_t thread_pid;          /* the process the thread runs in */
static int fds[LINGER_MAX];
static int64_t deadlines[LINGER_MAX];
static int limits[LINGER_MAX];    /* each one's close_timeout_ms, for the log */
/* Each one's reads return all that is queued (a plain TCP socket; not a
 * kernel-TLS one, whose reads stop at each record): then, the peer's FIN
 * in, one short read has taken everything, and the socket goes without
 * a second read to see the end. */
static bool whole[LINGER_MAX];
static int n;
static int cap = LINGER_MAX;
/* The thread waits without a deadline (nothing lingers): only then does
 * a hand-over write to the wake pipe. */
static bool asleep;
/* When the thread's current wait ends (INT64_MAX: no deadline). */
static int64_t sleep_until = INT64_MAX;
/* exit() waits for the lingering sockets: the thread waits on them. */
static bool hurry;
/* A socket was handed over since the thread last looked: it is not idle. */
static bool handed;
/* Counts moved()'s renumberings: a poll's answers are for the numbers as
 * they were when look[] was copied; after a move, a number may name
 * another file (the program's, dup2'ed onto it), whose events say nothing
 * of ours. */
static unsigned moves;
/* When the thread last looked with a socket lingering, or one handed
 * over, or gone since the look before (QUIET_NEVER: never, since it
 * started): it ticks on until IDLE_MS after it, then sleeps.  Under lk;
 * set by the thread (and ensure_thread before it starts one: a forked
 * child's copy is stale). */
#define QUIET_NEVER INT64_MIN
static int64_t quiet_since = QUIET_NEVER;
/* A hand-over that woke the thread from its sleep without a deadline:
 * how long after quiet_since (the thread logs it; -1: none).  Under lk. */
static int64_t woke_after = -1;
/* Looks in a row at the same lingering sockets (SLOW_MAX), and how many
 * lingered when the thread last went to sleep (only the thread uses
 * these, and ensure_thread before it starts one). */
static int slow, n_slept;
/* The thread's poll sets (only the thread uses them): the sockets as they
 * were when it last looked, and what it sleeps on. */
static struct pollfd look[LINGER_MAX], sleep_on[1 + LINGER_MAX];

/* The hot connections watched (each with a reference), and the count of
 * reads and writes each had at the last sweep; under lk.  Past HOT_MAX a
 * connection is not kept hot. */
#define HOT_MAX 1024
static struct tls_conn *hot[HOT_MAX];
static unsigned hot_seen[HOT_MAX];
static int nhot;
static int64_t next_sweep;
/* The sweep's copies (only the thread uses them), sw_n of them while a
 * sweep runs (they count against HOT_MAX: they all go back). */
static struct tls_conn *sw[HOT_MAX];
static unsigned sw_seen[HOT_MAX];
static int sw_n;
/* A sweep runs (it may free a session: OpenSSL), and exit() has begun:
 * no sweep from then on, and exit waits for the one running, so the
 * thread never calls OpenSSL while OpenSSL's exit handler tears it down
 * (ours runs first: registered after OpenSSL's). */
static bool sweeping, exiting;

static void drop(int i, bool fin)
{
	if (fin)
		log_debug("lingering socket done: the peer's FIN (or reset) is in");
	else
		log_debug("lingering socket done: no FIN from the peer in %d ms (close_timeout_ms)",
			  limits[i]);
	shim_own_close(fds[i]);
	fds[i] = fds[--n];
	deadlines[i] = deadlines[n];
	limits[i] = limits[n];
	whole[i] = whole[n];
	if (!n)
		pthread_cond_broadcast(&emptied);
}

/* Under lk: read and discard what fds[i] holds.  At the peer's FIN (or an
 * error) it goes; what is left after 256 KiB waits for the next tick.
 * revents: what poll said of it.  POLLRDHUP: the FIN is in, so every byte
 * before it is queued (the kernel takes a FIN in sequence only). */
static void drain(int i, short revents)
{
	char buf[4096];
	/* POLLPRI: urgent data is queued, and a read stops short at its mark
	 * (SO_OOBINLINE or not): a short read then has not taken everything. */
	bool fin_in = whole[i] && (revents & POLLRDHUP) && !(revents & POLLPRI);

	/* POLLERR: the socket's error queue holds something (timestamps the
	 * program asked for with SO_TIMESTAMPING, a zero-copy send's
	 * completions): emptied, or every poll would answer at once (at
	 * exit, the thread sleeps on the sockets: it would spin).  A pending
	 * error (a reset) is not in the queue: the read below meets it.  Not
	 * with POLLHUP: the socket is shut both ways (the peer's reset, or
	 * its FIN after ours), its reads end in a drop, and the queue goes
	 * with it; until then POLLHUP answers every poll anyway.  A peer
	 * that closes over our unread close_notify resets: one recvmsg
	 * fewer per connection. */
	if ((revents & (POLLERR | POLLHUP)) == POLLERR)
		for (int k = 0; k < 64; k++) {
			char ebuf[256], ecbuf[512];
			struct iovec eiov = { .iov_base = ebuf, .iov_len = sizeof ebuf };
			struct msghdr emh = { .msg_iov = &eiov, .msg_iovlen = 1,
					      .msg_control = ecbuf, .msg_controllen = sizeof ecbuf };

			if (REAL(recvmsg)(fds[i], &emh, MSG_ERRQUEUE | MSG_DONTWAIT) < 0)
				break;
		}

	for (int k = 0; k < 64; k++) {
		/* With a control buffer: a kernel-TLS socket (ktls) hands over
		 * alerts and tickets, which a plain recv() on it refuses with EIO. */
		char cbuf[CMSG_SPACE(sizeof(int))];
		struct iovec iov = { .iov_base = buf, .iov_len = sizeof buf };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
				     .msg_control = cbuf, .msg_controllen = sizeof cbuf };
		ssize_t got = REAL(recvmsg)(fds[i], &mh, MSG_DONTWAIT);

		if (got > 0 && fin_in && (size_t)got < sizeof buf) {
			drop(i, true);   /* all of it read: only the FIN was left */
			return;
		}
		if (got > 0 || (got < 0 && errno == EINTR))
			continue;
		if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		drop(i, true);           /* the peer's FIN, or an error */
		return;
	}
}

/* The sockets the kernel says have something (look[0..m), as fds[] was
 * when copied, moves then `seen`): read them.  Descending, so that a drop
 * (which moves the last entry into its place) leaves the lower indexes
 * where they were. */
static void drain_ready(int m, unsigned seen)
{
	pthread_mutex_lock(&lk);
	for (int k = m - 1; k >= 0; k--) {
		/* Slot k holds the socket polled as look[k]: since the poll only
		 * shim_linger appended (past m), moved() renumbered in place, and
		 * the drops here (descending) moved nothing into slots <= k.  But
		 * after a move the number polled may have named another file:
		 * then its events are not ours, and the socket is only read (to
		 * EAGAIN, or to its FIN), never let go on their word. */
		if (look[k].revents && k < n)
			drain(k, moves == seen ? look[k].revents : POLLIN);
	}
	pthread_mutex_unlock(&lk);
}

/* Without lk: each watched connection idle since the last sweep gives
 * its buffers back and goes; the others stay. */
static void sweep(void)
{
	int m, k = 0;

	pthread_mutex_lock(&lk);
	if (exiting) {
		pthread_mutex_unlock(&lk);
		return;
	}
	m = sw_n = nhot;
	memcpy(sw, hot, (size_t)m * sizeof *sw);
	memcpy(sw_seen, hot_seen, (size_t)m * sizeof *sw_seen);
	nhot = 0;
	sweeping = true;
	pthread_mutex_unlock(&lk);
	for (int i = 0; i < m; i++) {
		if (tls_conn_idle_check(sw[i], &sw_seen[i])) {
			sw[k] = sw[i];
			sw_seen[k++] = sw_seen[i];
		} else {
			tls_conn_unref(sw[i]);
		}
	}
	pthread_mutex_lock(&lk);
	/* They fit: shim_watch_hot counted them. */
	for (int i = 0; i < k; i++) {
		hot[nhot] = sw[i];
		hot_seen[nhot++] = sw_seen[i];
	}
	sw_n = 0;
	sweeping = false;
	pthread_cond_broadcast(&emptied);
	pthread_mutex_unlock(&lk);
}

static void *reaper(void *arg)
{
	/* Named, for `top -H` and the tests (at most 15 characters). */
	(void)pthread_setname_np(pthread_self(), "tlsshim-linger");
	/* Running: the thread's start-up (the C library's, a sanitizer's)
	 * is over; ensure_thread() waits for this. */
	sem_post(arg);
	for (;;) {
		int64_t now, next = -1;
		int m, ns = 1, timeout;
		unsigned seen;
		bool due, busy;

		pthread_mutex_lock(&lk);
		now = clock_ms();
		due = nhot > 0 && now >= next_sweep;
		if (due)
			next_sweep = now + TLS_IDLE_MS;
		pthread_mutex_unlock(&lk);
		if (due)
			sweep();

		/* What has something now, with no wait: one system call for
		 * all the lingering sockets. */
		pthread_mutex_lock(&lk);
		for (int i = 0; i < n;) {
			if (deadlines[i] <= now) {
				drop(i, false);
				continue;
			}
			i++;
		}
		for (m = 0; m < n; m++)
			look[m] = (struct pollfd){ .fd = fds[m], .events = POLLIN | POLLRDHUP | POLLPRI };
		seen = moves;
		pthread_mutex_unlock(&lk);
		busy = m && REAL(poll)(look, (nfds_t)m, 0) > 0;
		if (busy)
			drain_ready(m, seen);

		pthread_mutex_lock(&lk);
		/* Again: the sweep, the poll and the reads took time, and
		 * sleep_until tells hand-overs when the thread looks next. */
		now = clock_ms();
		for (int i = 0; i < n; i++)
			if (next < 0 || deadlines[i] < next)
				next = deadlines[i];
		sleep_on[0] = (struct pollfd){ .fd = wake[0], .events = POLLIN };
		/* (n_slept: the last socket went since the look before.) */
		if (n || handed || n_slept)
			quiet_since = now;
		if (handed || busy || n != n_slept)
			slow = 0;
		else if (slow < SLOW_MAX)
			slow++;
		n_slept = n;
		handed = false;
		if (!n) {
			int64_t left = quiet_since == QUIET_NEVER ? 0 : quiet_since + IDLE_MS - now;

			timeout = left <= 0 ? -1 : left < TICK_MS ? (int)left : TICK_MS;
		} else if (hurry) {
			for (int i = 0; i < n; i++)
				sleep_on[ns++] = (struct pollfd){ .fd = fds[i], .events = POLLIN };
			timeout = (int)(next > now ? next - now : 0);
		} else {
			int tick = TICK_MS << slow;

			timeout = next - now < tick ? (int)(next > now ? next - now : 0) : tick;
		}
		if (nhot > 0) {
			int64_t left = next_sweep > now ? next_sweep - now : 0;

			if (timeout < 0 || left < timeout)
				timeout = (int)left;
		}
		asleep = timeout < 0;
		sleep_until = timeout < 0 ? INT64_MAX : now + timeout;
		pthread_mutex_unlock(&lk);

		if (REAL(poll)(sleep_on, (nfds_t)ns, timeout) > 0 && (sleep_on[0].revents & POLLIN)) {
			char buf[64];
			int64_t after;

			while (REAL(read)(wake[0], buf, sizeof buf) > 0)
				;
			pthread_mutex_lock(&lk);
			after = woke_after;
			woke_after = -1;
			pthread_mutex_unlock(&lk);
			/* The hand-over's time, not this one's: on a loaded
			 * machine the thread may run long after the write. */
			if (after >= 0)
				log_debug("linger thread woken: a socket to linger %lld ms after the last"
					  " went (it ticks on for %d ms)", (long long)after, IDLE_MS);
			else if (after == -2)
				log_debug("linger thread woken: its first socket to linger");
		}
	}
	return NULL;
}

/* Under lk.  The thread of a parent does not exist in a forked child. */
static bool ensure_thread(void)
{
	pthread_t t;
	sigset_t all, old;
	static sem_t started;
	bool ok;

	if (__atomic_load_n(&thread_pid, __ATOMIC_RELAXED) == self_pid())
		return true;
	if (wake[0] >= 0) {
		shim_own_close(wake[0]);
		shim_own_close(wake[1]);
	}
	for (int i = 0; i < n; i++)
		shim_own_close(fds[i]);     /* the parent's reaper owns these */
	n = 0;
	hurry = false;
	{
		struct rlimit rl;

		cap = LINGER_MAX;
		if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
		    rl.rlim_cur / 4 < (rlim_t)cap)
			cap = rl.rlim_cur / 4 > 16 ? (int)(rl.rlim_cur / 4) : 16;
	}
	/* The real pipe2: our wrapper takes other locks (order: docs/locking.md). */
	if (REAL(pipe2)(wake, O_CLOEXEC | O_NONBLOCK) < 0) {
		wake[0] = wake[1] = -1;
		return false;
	}
	shim_own_cell(wake[0], &wake[0]);
	shim_own_cell(wake[1], &wake[1]);
	/* A new thread: nothing lingered yet, no idle ticks at start (a
	 * forked child's copies of these describe its parent's thread). */
	quiet_since = QUIET_NEVER;
	woke_after = -1;
	slow = n_slept = 0;
	handed = false;
	asleep = false;
	sleep_until = INT64_MAX;
	sigfillset(&all);
	sem_init(&started, 0, 0);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	ok = pthread_create(&t, NULL, reaper, &started) == 0;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (!ok)
		return false;
	/* Return only once the thread runs: a program that forks right after
	 * making a connection must not fork while the new thread is still starting up
	 * inside an allocator that does not survive fork() (AddressSanitizer's
	 * takes no lock across fork: the child hung on it). */
	/* Bounded: in a process forked while another thread held a lock the
	 * new thread's start-up needs (a pump, under AddressSanitizer), the
	 * thread may never run; the close then goes on as before. */
	{
		struct timespec until;

		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += 1;
		while (sem_timedwait(&started, &until) < 0 && errno == EINTR)
			;
	}
	/* Not destroyed: the thread may still post it (a semaphore that is
	 * never waited on again needs no destruction on Linux). */
	pthread_detach(t);
	__atomic_store_n(&thread_pid, self_pid(), __ATOMIC_RELAXED);
	return true;
}

/* dup2() onto one of ours moved it (own.c); to -1: lost (no room to
 * move it), never to be read or closed by its old number. */
static void moved(int from, int to)
{
	pthread_mutex_lock(&lk);
	for (int i = 0; i < n; i++)
		if (fds[i] == from) {
			fds[i] = to;
			moves++;
			break;
		}
	pthread_mutex_unlock(&lk);
}

/* Under lk, in the thread's process. */
static void wake_thread(void)
{
	asleep = false;
	sleep_until = 0;        /* it looks at once: no more writes till then */
	(void)!REAL(write)(wake[1], "", 1);
}

void shim_linger(int fd, int ms, bool record_reads)
{
	int dup, full = 0;

	(void)REAL(shutdown)(fd, SHUT_WR);
	/* One of the shim's own fds from the start: the program cannot close
	 * or replace it (own.c). */
	dup = shim_own_dup(fd, moved);
	if (dup < 0)
		return;
	pthread_mutex_lock(&lk);
	if (ensure_thread()) {
		if (n < cap) {
			int64_t t = clock_ms();

			fds[n] = dup;
			limits[n] = ms;
			whole[n] = !record_reads;
			deadlines[n++] = t + ms;
			handed = true;
			/* Asleep, or waiting for a sweep (a watched connection):
			 * the socket would wait up to TLS_IDLE_MS for its first look. */
			if (asleep)
				woke_after = quiet_since == QUIET_NEVER ? -2 : t - quiet_since;
			if (asleep || sleep_until > t + TICK_MS)
				wake_thread();
			dup = -1;
		} else {
			full = cap;
		}
	}
	pthread_mutex_unlock(&lk);
	if (dup >= 0) {
		if (full)
			log_debug("no lingering close: %d sockets linger already, the most at once"
				  " (a quarter of RLIMIT_NOFILE, at most %d): closed at once", full, LINGER_MAX);
		shim_own_close(dup);
	}
}

/* A TLS connection is being made: start the thread now, in the program's
 * ordinary flow, so that the close that needs it (maybe from a signal
 * handler, maybe right before a fork) finds it running. */
void shim_linger_prepare(void)
{
	if (__atomic_load_n(&thread_pid, __ATOMIC_RELAXED) == self_pid())
		return;         /* running (the usual case: no lock taken) */
	pthread_mutex_lock(&lk);
	(void)ensure_thread();
	pthread_mutex_unlock(&lk);
}

/* lk from a read's or a close's path, where a signal handler may run and
 * close a TLS fd (shim_linger takes lk): never on this thread while it
 * holds lk. */
static void lk_lock_masked(sigset_t *old)
{
	sigset_t all;

	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, old);
	pthread_mutex_lock(&lk);
}

static void lk_unlock_masked(const sigset_t *old)
{
	pthread_mutex_unlock(&lk);
	pthread_sigmask(SIG_SETMASK, old, NULL);
}

void shim_watch_hot(struct tls_conn *c)
{
	bool kept = false;
	/* Not a count it has: the first sweep keeps it.  (Read before lk:
	 * c's lock is never taken under lk.) */
	unsigned seen = ~tls_conn_io_count(c);
	sigset_t old;

	tls_conn_ref(c);
	/* Once per connection going hot. */
	lk_lock_masked(&old);
	if (!exiting && nhot + sw_n < HOT_MAX && ensure_thread()) {
		if (!nhot)
			next_sweep = clock_ms() + TLS_IDLE_MS;
		hot[nhot] = c;
		hot_seen[nhot++] = seen;
		kept = true;
		/* Not `handed`: a sweep is due in TLS_IDLE_MS, which the thread
		 * takes into its next timeout; no idle ticks every TICK_MS
		 * (each wake-up of a thread costs tens of microseconds
		 * of CPU: a thread-per-connection server paid 8 us per
		 * connection for them).  Asleep without a deadline, it is
		 * woken to set one. */
		if (asleep)
			wake_thread();
	}
	lk_unlock_masked(&old);
	if (!kept) {
		/* Never hot again: else every blocking read of it would come
		 * here, to the process's lock, to be refused again. */
		tls_conn_idle(c, true);
		tls_conn_unref(c);
	}
}

void shim_unwatch_hot(struct tls_conn *c)
{
	bool found = false;
	sigset_t old;

	if (!tls_conn_bufs_hot(c))
		return;
	lk_lock_masked(&old);
	/* The newest last: a connection closed soon after it went hot is
	 * found at once. */
	for (int i = nhot - 1; i >= 0; i--)
		if (hot[i] == c) {
			hot[i] = hot[--nhot];
			hot_seen[i] = hot_seen[nhot];
			found = true;
			break;
		}
	lk_unlock_masked(&old);
	/* Not found: the sweep holds it now, and lets go of it once it sees
	 * it no longer hot. */
	tls_conn_idle(c, false);
	if (found)
		tls_conn_unref(c);
}

/* fork()'s child, its only thread: the parent's thread does not watch
 * the child's copies; they free their buffers as before they went hot.
 * Their references are kept (the copies stay allocated in the child):
 * a last reference would free the session here, in a fork handler, and
 * SSL_free takes OpenSSL's context locks, which another thread of the
 * parent may have held at the fork (docs/fork.md).  (fork() hands live
 * sessions to pumps first: the child does not use these.)  A sweep that
 * was running at the fork (between its locked steps: its copies are in
 * sw[], some already let go of) is forgotten: those stay hot in the
 * child, with the same reasoning. */
void shim_linger_fork_child(void)
{
	for (int i = 0; i < nhot; i++)
		tls_conn_fork_cool(hot[i]);
	nhot = 0;
	sw_n = 0;
	sweeping = false;
}

/* exit(): the thread dies with the process, and the process's exit would
 * close the lingering sockets over unread records (a RST).  Like a kernel
 * linger, hold exit until each has seen its peer's FIN or timed out. */
static void wait_at_exit(void)
{
	struct timespec until;
	int64_t now = clock_ms(), last = now;

	pthread_mutex_lock(&lk);
	/* Until the last deadline, and a second more for the thread to act. */
	for (int i = 0; i < n; i++)
		if (deadlines[i] > last)
			last = deadlines[i];
	until = clock_after_ms(CLOCK_REALTIME, last - now + 1000);
	if (n > 0 && __atomic_load_n(&thread_pid, __ATOMIC_RELAXED) == self_pid()) {
		log_debug("exit waits for %d lingering socket(s), at most %lld ms", n,
			  (long long)(last - now));
		hurry = true;
		wake_thread();
	}
	while (n > 0 && __atomic_load_n(&thread_pid, __ATOMIC_RELAXED) == self_pid())
		if (pthread_cond_timedwait(&emptied, &lk, &until) != 0)
			break;
	/* No sweep from now on; the one running ends first (bounded: it
	 * only tries locks). */
	exiting = true;
	until = clock_after_ms(CLOCK_REALTIME, 2000);
	while (sweeping && __atomic_load_n(&thread_pid, __ATOMIC_RELAXED) == self_pid())
		if (pthread_cond_timedwait(&emptied, &lk, &until) != 0)
			break;
	pthread_mutex_unlock(&lk);
}

void shim_linger_install(void)
{
	atexit(wait_at_exit);
}

void shim_linger_fork_lock(void)
{
	pthread_mutex_lock(&lk);
}

void shim_linger_fork_unlock(void)
{
	pthread_mutex_unlock(&lk);
}
