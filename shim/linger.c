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
 * reads and discards until the peer's FIN, or for at most LINGER_MS.
 * The thread blocks every signal, so the program's signals never land on
 * it.  Bounded: past LINGER_MAX sockets, close at once.
 *
 * The hand-over costs the closing thread a shutdown, one fcntl (the
 * duplicate is made high at once, own.c) and one epoll_ctl: the thread
 * waits in epoll_wait and wakes when the peer's records or FIN come in
 * (not to learn about a new socket), and reads all that is there.
 * tlsio.c does not linger at all when the peer has ended first.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <sys/epoll.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/log.h"
#include "shim/shim.h"

#define LINGER_MAX 256
#define LINGER_MS 5000
#define WAKE_TAG (-1)             /* the epoll tag of the wake pipe */

/* Adaptive: held for a few microseconds (an epoll_ctl, a drain), and the
 * reaper, woken by a registration made under it, would otherwise sleep on
 * it at once (a futex wait and wake per connection). */
static pthread_mutex_t lk = PTHREAD_ADAPTIVE_MUTEX_INITIALIZER_NP;
static pthread_cond_t emptied = PTHREAD_COND_INITIALIZER;
static int wake[2] = { -1, -1 };
static int ep = -1;               /* the thread's epoll instance */
static pid_t thread_pid;          /* the process the thread runs in */
static int fds[LINGER_MAX];
static int64_t deadlines[LINGER_MAX];
static int n;
/* The thread waits with no deadline (nothing lingers, and has not for
 * LINGER_MS): only then does a hand-over write to the wake pipe.
 * Otherwise the new socket, registered in the epoll set, wakes the thread
 * when its peer's records or FIN come in, and its deadline is later than
 * any the thread already waits for. */
static bool asleep;
static int64_t idle_until;

static void drop(int i)
{
	shim_own_close(fds[i]);   /* its last close takes it out of the epoll set */
	fds[i] = fds[--n];
	deadlines[i] = deadlines[n];
	if (!n) {
		idle_until = clock_ms() + LINGER_MS;
		pthread_cond_broadcast(&emptied);
	}
}

/* Under lk: read and discard what fds[i] holds.  At the peer's FIN (or an
 * error) it goes; else, drained, it is armed again (EPOLLONESHOT: a
 * registration left behind by a move fires once at most). */
static void drain(int i)
{
	char buf[4096];

	for (int k = 0; k < 64; k++) {
		/* With a control buffer: a kernel-TLS socket (ktls) hands over
		 * alerts and tickets, which a plain recv() on it refuses with EIO. */
		char cbuf[CMSG_SPACE(sizeof(int))];
		struct iovec iov = { .iov_base = buf, .iov_len = sizeof buf };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
				     .msg_control = cbuf, .msg_controllen = sizeof cbuf };
		ssize_t got = REAL(recvmsg)(fds[i], &mh, MSG_DONTWAIT);

		if (got > 0 || (got < 0 && errno == EINTR))
			continue;
		if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		drop(i);                 /* the peer's FIN, or an error */
		return;
	}
	{
		struct epoll_event e = { .events = EPOLLIN | EPOLLONESHOT, .data.fd = fds[i] };
		if (REAL(epoll_ctl)(ep, EPOLL_CTL_MOD, fds[i], &e) < 0)
			drop(i);
	}
}

static void *reaper(void *arg)
{
	/* Running: the thread's start-up (the C library's, a sanitizer's)
	 * is over; ensure_thread() waits for this. */
	sem_post(arg);
	for (;;) {
		struct epoll_event ev[64];
		int64_t now = clock_ms(), next = -1;
		int r;

		pthread_mutex_lock(&lk);
		for (int i = 0; i < n;) {
			if (deadlines[i] <= now) {
				drop(i);
				continue;
			}
			if (next < 0 || deadlines[i] < next)
				next = deadlines[i];
			i++;
		}
		if (!n && idle_until > now)
			next = idle_until;
		asleep = next < 0;
		pthread_mutex_unlock(&lk);

		r = REAL(epoll_wait)(ep, ev, 64, next < 0 ? -1 : (int)(next - now));
		pthread_mutex_lock(&lk);
		asleep = false;
		for (int e = 0; e < r; e++) {
			if (ev[e].data.fd == WAKE_TAG) {
				char buf[64];
				while (REAL(read)(wake[0], buf, sizeof buf) > 0)
					;
				continue;
			}
			/* Only a number that is still ours (one may have moved). */
			for (int j = 0; j < n; j++)
				if (fds[j] == ev[e].data.fd) {
					drain(j);
					break;
				}
		}
		pthread_mutex_unlock(&lk);
	}
	return NULL;
}

/* Under lk.  The thread of a parent does not exist in a forked child
 * (and its epoll instance is the parent's: never touched here). */
static bool ensure_thread(void)
{
	pthread_t t;
	sigset_t all, old;
	static sem_t started;
	struct epoll_event e = { .events = EPOLLIN, .data.fd = WAKE_TAG };
	bool ok;

	if (__atomic_load_n(&thread_pid, __ATOMIC_RELAXED) == getpid())
		return true;
	if (wake[0] >= 0) {
		shim_own_close(wake[0]);
		shim_own_close(wake[1]);
	}
	if (ep >= 0)
		shim_own_close(ep);
	ep = -1;
	for (int i = 0; i < n; i++)
		shim_own_close(fds[i]);     /* the parent's reaper owns these */
	n = 0;
	/* The real pipe2 and epoll_create1: our wrappers take other locks
	 * (order: docs/locking.md), and the epoll set is not the program's. */
	if (REAL(pipe2)(wake, O_CLOEXEC | O_NONBLOCK) < 0) {
		wake[0] = wake[1] = -1;
		return false;
	}
	shim_own_cell(wake[0], &wake[0]);
	shim_own_cell(wake[1], &wake[1]);
	if ((ep = REAL(epoll_create1)(EPOLL_CLOEXEC)) < 0)
		return false;
	shim_own_cell(ep, &ep);
	if (REAL(epoll_ctl)(ep, EPOLL_CTL_ADD, wake[0], &e) < 0)
		return false;
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
	__atomic_store_n(&thread_pid, getpid(), __ATOMIC_RELAXED);
	return true;
}

/* dup2() onto one of ours moved it (own.c): the new number joins the
 * epoll set (the old registration, EPOLLONESHOT, fires once at most). */
static void moved(int from, int to)
{
	pthread_mutex_lock(&lk);
	for (int i = 0; i < n; i++)
		if (fds[i] == from) {
			struct epoll_event e = { .events = EPOLLIN | EPOLLONESHOT, .data.fd = to };
			fds[i] = to;
			if (__atomic_load_n(&thread_pid, __ATOMIC_RELAXED) == getpid() &&
			    REAL(epoll_ctl)(ep, EPOLL_CTL_ADD, to, &e) < 0)
				drop(i);
			break;
		}
	pthread_mutex_unlock(&lk);
}

void shim_linger(int fd)
{
	int dup;

	(void)REAL(shutdown)(fd, SHUT_WR);
	/* One of the shim's own fds from the start: the program cannot close
	 * or replace it (own.c). */
	dup = shim_own_dup(fd, moved);
	if (dup < 0)
		return;
	pthread_mutex_lock(&lk);
	if (n < LINGER_MAX && ensure_thread()) {
		struct epoll_event e = { .events = EPOLLIN | EPOLLONESHOT, .data.fd = dup };

		if (REAL(epoll_ctl)(ep, EPOLL_CTL_ADD, dup, &e) == 0) {
			fds[n] = dup;
			deadlines[n++] = clock_ms() + LINGER_MS;
			if (asleep) {
				asleep = false;
				(void)!REAL(write)(wake[1], "", 1);
			}
			dup = -1;
		}
	}
	pthread_mutex_unlock(&lk);
	if (dup >= 0)
		shim_own_close(dup);
}

/* A TLS connection is being made: start the thread now, in the program's
 * ordinary flow, so that the close that needs it (maybe from a signal
 * handler, maybe right before a fork) finds it running. */
void shim_linger_prepare(void)
{
	if (__atomic_load_n(&thread_pid, __ATOMIC_RELAXED) == getpid())
		return;         /* running (the usual case: no lock taken) */
	pthread_mutex_lock(&lk);
	(void)ensure_thread();
	pthread_mutex_unlock(&lk);
}

/* exit(): the thread dies with the process, and the process's exit would
 * close the lingering sockets over unread records (a RST).  Like a kernel
 * linger, hold exit until each has seen its peer's FIN or timed out. */
static void wait_at_exit(void)
{
	struct timespec until;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += LINGER_MS / 1000 + 1;
	pthread_mutex_lock(&lk);
	while (n > 0 && __atomic_load_n(&thread_pid, __ATOMIC_RELAXED) == getpid())
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
