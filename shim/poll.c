/* shim/poll.c — readiness as the program must see it on TLS fds.
 *
 * The kernel knows about ciphertext; the program cares about plaintext.
 * For poll/ppoll/select/pselect on a set that holds a TLS fd:
 *  - plaintext already decrypted inside OpenSSL (or a close_notify seen)
 *    makes the fd readable at once, even if the kernel socket is empty;
 *  - a kernel "readable" that turns out to be half a record is hidden,
 *    and the wait goes on for the rest of the time (OpenSSL took those
 *    bytes, so the next wait really sleeps: no busy loop);
 *  - while a handshake runs, the program's events are hidden and the shim
 *    waits for what the handshake needs, driving it as the socket allows;
 *  - POLLOUT is reported only when the out-buffer is empty;
 *  - a failed connection reports POLLERR plus the events asked for, so the
 *    program's next call sees the error.
 * Sets without a TLS fd go straight to libc.
 */
/* No _FORTIFY_SOURCE in this file (a hardened build passes
 * -D_FORTIFY_SOURCE=2): it defines the plain names of fortified functions
 * (poll, ppoll) and calls them, and with -fno-semantic-interposition
 * (Makefile) GCC cannot inline the headers' always_inline checked bodies
 * over our own definitions (the build failed).  The *_chk entry points the
 * library exports still check the buffer sizes. */
#undef _FORTIFY_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "core/clock.h"
#include "core/conntab.h"
#include "core/log.h"
#include "core/sys.h"
#include "policy/file.h"
#include "shim/ready.h"
#include "shim/shim.h"

#define STACK_FDS 64

/* Any fd that is not known to be a plain pass-through one. */
static bool any_tls(const struct pollfd *fds, nfds_t n)
{
	for (nfds_t i = 0; i < n; i++)
		if (fds[i].fd >= 0 &&
		    (!conntab_is_pass(conntab_load(fds[i].fd)) || shim_epoll_may_report(fds[i].fd)))
			return true;
	return false;
}

/* The connection of fd (classified first), or NULL for a plain one;
 * *bad: the shim refuses calls on it (closing, refused, ours). */
static struct tls_conn *poll_conn(int fd, bool *bad)
{
	struct tls_conn *c = NULL;
	int r;

	*bad = false;
	if (fd < 0)
		return NULL;
	r = shim_route(fd, &c);
	*bad = r < 0;
	return r == ROUTE_TLS ? c : NULL;
}

/* p is a managed epoll instance, waited for to be readable, that holds
 * plain text or a failure of a TLS fd (shim_epoll_pending). */
static bool nested_ready(const struct pollfd *p)
{
	return (p->events & (POLLIN | POLLRDNORM)) && shim_epoll_may_report(p->fd) &&
	       shim_epoll_pending(p->fd);
}

/* timeout_ns < 0: wait forever.  The count, or a negative errno. */
static int shim_poll(struct pollfd *fds, nfds_t n, int64_t timeout_ns, const sigset_t *mask)
{
	struct pollfd kbuf[STACK_FDS + 1], *k = kbuf;
	struct tls_conn *cbuf[STACK_FDS], **conns = cbuf;
	int sbuf[STACK_FDS], *slot = sbuf;
	/* A session handed to a pump while we wait (another thread forks):
	 * the fd number now names the pump's plaintext channel, but ppoll
	 * waits on the file it was given, and a session seen half-moved asks
	 * for no events at all.  So the thread's wake-up eventfd is in the
	 * set, registered for every TLS fd (as shim_wait does), and a moved
	 * session makes us look again at once. */
	int evfd = shim_wait_evfd();
	int64_t deadline = timeout_ns < 0 ? -1 : clock_ns() + timeout_ns;
	int ready = -1;

	if (n > STACK_FDS) {
		k = malloc((n + 1) * sizeof *k);
		conns = calloc(n, sizeof *conns);
		slot = malloc(n * sizeof *slot);
		if (!k || !conns || !slot) {
			free(k);
			free(conns);
			free(slot);
			return -ENOMEM;
		}
	}
	for (;;) {
		bool now_ready = false, again = false;
		struct timespec ts, *tsp;
		int64_t wake = deadline;
		int r;

		for (nfds_t i = 0; i < n; i++) {
			bool bad;
			struct tls_conn *c = poll_conn(fds[i].fd, &bad);

			conns[i] = c;
			slot[i] = -1;
			k[i] = fds[i];
			k[i].revents = 0;
			if (bad) {
				/* Refused or closing: nothing to wait for; the
				 * program's next call says why. */
				k[i].fd = -1;
				now_ready = true;
			}
			if (!c) {
				/* An epoll instance holding plain text the kernel
				 * cannot see (shim_epoll_pending). */
				if (!bad && nested_ready(&fds[i]))
					now_ready = true;
				continue;
			}
			/* Registered before the check (see shim_wait). */
			slot[i] = shim_wait_watch(c, evfd);
			if (tls_conn_moved(c)) {
				k[i].fd = -1;
				again = true;
				continue;
			}
			if (tls_conn_failed(c) ||
			    (tls_conn_handshake_done(c) && (ready_kernel_want(fds[i].events) & POLLIN) &&
			     tls_conn_buffered(c) && tls_conn_poll_read(c)))
				now_ready = true;
			k[i].events = tls_conn_handshake_done(c) ? ready_kernel_want(fds[i].events) : 0;
			k[i].events |= tls_conn_kernel_events(c);
			wake = shim_deadline_ns(c, wake);
		}
		tsp = shim_wait_timeout(now_ready || again, wake, &ts);
		k[n] = (struct pollfd){ .fd = evfd, .events = POLLIN };
		r = REAL(ppoll)(k, n + (evfd >= 0), tsp, mask);
		for (nfds_t i = 0; i < n; i++)
			shim_wait_unwatch(slot[i]);
		if (r < 0) {
			ready = -errno;
			for (nfds_t i = 0; i < n; i++)
				tls_conn_unref(conns[i]);
			break;
		}
		if (evfd >= 0 && k[n].revents) {
			uint64_t v;
			(void)!REAL(read)(evfd, &v, sizeof v);
			again = true;
		}
		if (again) {
			/* a hand-over: route every fd again */
			for (nfds_t i = 0; i < n; i++)
				tls_conn_unref(conns[i]);
			continue;
		}
		ready = 0;
		for (nfds_t i = 0; i < n; i++) {
			struct tls_conn *c = conns[i];
			if (k[i].fd < 0 && fds[i].fd >= 0)
				fds[i].revents = POLLERR | (fds[i].events & (POLLIN | POLLOUT));
			else
				fds[i].revents = c ? shim_tls_revents(c, fds[i].events, k[i].revents)
						   : k[i].revents;
			if (!c && fds[i].fd >= 0 && !(fds[i].revents & POLLIN) && nested_ready(&fds[i]))
				fds[i].revents |= fds[i].events & (POLLIN | POLLRDNORM);
			if (fds[i].revents)
				ready++;
			tls_conn_unref(c);
		}
		if (ready || (deadline >= 0 && clock_ns() >= deadline))
			break;
	}
	if (k != kbuf) {
		free(k);
		free(conns);
		free(slot);
	}
	return ready;
}

/* The count of a poll or ppoll as the kernel takes it: its nfds is an
 * unsigned int (the C library passes the nfds_t whole; the kernel reads
 * the low 32 bits), and one above the soft RLIMIT_NOFILE is EINVAL before
 * any entry is read.  POLL_KERNEL for such a count: the call goes to the
 * kernel as it is.  Once the wrappers walked the whole nfds_t: a
 * count with bit 32 set read past the array (a fault, or ENOMEM for 2^32
 * entries), the decision made on another set than the kernel's
 * (tests/preload/counts.sh).  The limit is asked (a system call) only for
 * a count above POLL_ASK_LIMIT, so a server polling a few thousand fds
 * pays no extra system call per poll (pass-through): a program that
 * lowered the limit under that count and passes a shorter array has its
 * array read that far (where the kernel would answer EINVAL). */
#define POLL_KERNEL ((nfds_t)-1)
#define POLL_ASK_LIMIT 65536u

static nfds_t poll_count(nfds_t n)
{
	struct rlimit rl;

	n = (unsigned int)n;
	if (n > POLL_ASK_LIMIT && getrlimit(RLIMIT_NOFILE, &rl) == 0 && n > rl.rlim_cur)
		return POLL_KERNEL;
	return n;
}

static int64_t ms_to_ns(int ms)
{
	return ms < 0 ? -1 : (int64_t)ms * 1000000;
}

/* glibc 2.36 declares poll's and ppoll's array __attr_access((__write_only__))
 * although the kernel reads it; our definitions read it too, which some
 * optimisation levels then flag as a read of uninitialised memory. */
#pragma GCC diagnostic push
#ifndef __clang__			/* clang has no such warning */
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

SHIM_EXPORT int poll(struct pollfd *fds, nfds_t n, int timeout)
{
	nfds_t k = poll_count(n);

	if (k == POLL_KERNEL || !any_tls(fds, k))
		return REAL(poll)(fds, n, timeout);
	SHIM_RET_KEEP(shim_poll(fds, k, ms_to_ns(timeout), NULL));
}

SHIM_EXPORT int __poll_chk(struct pollfd *fds, nfds_t n, int timeout, size_t fdslen)
{
	if (fdslen / sizeof *fds < n)
		__chk_fail();
	return poll(fds, n, timeout);
}

SHIM_EXPORT int ppoll(struct pollfd *fds, nfds_t n, const struct timespec *ts, const sigset_t *mask)
{
	nfds_t k = poll_count(n);
	int64_t t;

	/* (read only when the library answers; an invalid one: the kernel's
	 * EINVAL, before any fd) */
	if (k == POLL_KERNEL || !any_tls(fds, k) ||
	    (t = clock_ts_timeout_ns(ts)) == CLOCK_NS_INVALID)
		return REAL(ppoll)(fds, n, ts, mask);
	SHIM_RET_KEEP(shim_poll(fds, k, t, mask));
}

SHIM_EXPORT int __ppoll_chk(struct pollfd *fds, nfds_t n, const struct timespec *ts,
			    const sigset_t *mask, size_t fdslen)
{
	if (fdslen / sizeof *fds < n)
		__chk_fail();
	return ppoll(fds, n, ts, mask);
}

#pragma GCC diagnostic pop

/* The kernel's bound on select's sets: it reads and writes
 * min(nfds, the size of the process's fd table) bits, and nfds may be
 * far above FD_SETSIZE (select(getdtablesize(), ...) with 1024-bit sets,
 * or larger sets a program allocates for descriptors past 1023, as Ruby
 * does).  The table's size is /proc/self/status's FDSize (the start
 * root's procfs: policy_open_proc); read only for
 * a set that holds a TLS fd and an nfds above FD_SETSIZE.  Without it,
 * the highest number the shim ever classified (the table held it, and a
 * table never shrinks). */
static int select_bound(int nfds, bool exact)
{
	size_t high = conntab_high();
	int bound = high > FD_SETSIZE ? (int)(high < (size_t)INT_MAX ? high : (size_t)INT_MAX) : FD_SETSIZE;

	if (nfds <= FD_SETSIZE)
		return nfds;
	if (exact) {
		/* From the start root's procfs only (shim_status_field):
		 * after a chroot the path could name a file of the jail's
		 * ("FDSize: 64": TLS fds past it were left out, their
		 * buffered data never reported, and select waited for ever). */
		long v;

		if (shim_status_field("FDSize", &v) && v > 0 && v <= INT_MAX)
			bound = (int)v;
	}
	return nfds < bound ? nfds : bound;
}

/* select() in terms of shim_poll, only when a TLS fd is in the sets (or
 * one not classified yet).  The count, or a negative errno. */
static bool select_has_tls(int nfds, fd_set *rd, fd_set *wr, fd_set *ex)
{
	int scan = select_bound(nfds, false);
	bool tls = false;

	for (int fd = 0; fd < scan && !tls; fd++)
		if ((rd && ready_set_has(rd, fd)) || (wr && ready_set_has(wr, fd)) ||
		    (ex && ready_set_has(ex, fd)))
			tls = !conntab_is_pass(conntab_load(fd)) || shim_epoll_may_report(fd);
	return tls;
}

/* (the caller saw select_has_tls) */
static int shim_select(int nfds, fd_set *rd, fd_set *wr, fd_set *ex, int64_t timeout_ns,
		       const sigset_t *mask)
{
	struct pollfd pbuf[STACK_FDS], *p = pbuf;
	int64_t deadline;
	int n = 0, r;
	nfds = select_bound(nfds, true);
	for (int fd = 0; fd < nfds; fd++)
		if ((rd && ready_set_has(rd, fd)) || (wr && ready_set_has(wr, fd)) ||
		    (ex && ready_set_has(ex, fd)))
			n++;
	if (n > STACK_FDS && !(p = malloc((size_t)n * sizeof *p)))
		return -ENOMEM;
	n = ready_sets_to_poll(nfds, rd, wr, ex, p, n);
	deadline = timeout_ns < 0 ? -1 : clock_ns() + timeout_ns;
	for (;;) {
		bool any = false;

		if ((r = shim_poll(p, (nfds_t)n, timeout_ns, mask)) < 0 ||
		    (r = ready_poll_to_sets(nfds, p, n, rd, wr, ex)) != 0)
			break;
		/* Nothing for the sets: the time-out, or only answers select
		 * has no set for (an error or hang-up of an fd watched for
		 * exceptions alone; urgent data is never asked of the kernel
		 * for a TLS fd).  The kernel's select sleeps on then; so does
		 * this one, without those fds (a loop of selects spun on the 0
		 * it returned at once). */
		for (int i = 0; i < n; i++)
			if (p[i].revents) {
				p[i].fd = -1;
				any = true;
			}
		if (!any || (deadline >= 0 && (timeout_ns = deadline - clock_ns()) <= 0))
			break;
	}
	if (p != pbuf)
		free(p);
	return r;
}

SHIM_EXPORT int select(int nfds, fd_set *rd, fd_set *wr, fd_set *ex, struct timeval *tv)
{
	int64_t t, start;
	int keep = errno, r;

	/* The time-out is read only for a set the library answers (an
	 * unreadable one is the kernel's EFAULT otherwise; an invalid one,
	 * the kernel's EINVAL, before any fd). */
	if (!select_has_tls(nfds, rd, wr, ex) || (t = clock_tv_timeout_ns(tv)) == CLOCK_NS_INVALID)
		return REAL(select)(nfds, rd, wr, ex, tv);
	start = tv ? clock_ns() : 0;
	r = shim_select(nfds, rd, wr, ex, t, NULL);
	if (r < 0) {
		errno = -r;
		return -1;
	}
	errno = keep;
	if (tv && r >= 0 && t != CLOCK_NS_FOREVER) {
		/* Linux leaves the time not slept in *tv (for ever less a
		 * moment: for ever, as it was). */
		int64_t left = t - (clock_ns() - start);
		if (left < 0)
			left = 0;
		tv->tv_sec = left / 1000000000;
		tv->tv_usec = (left % 1000000000) / 1000;
	}
	return r;
}

/* glibc's second, public names of poll and select. */
SHIM_EXPORT int __poll(struct pollfd *fds, nfds_t n, int timeout)
{
	return poll(fds, n, timeout);
}

SHIM_EXPORT int __select(int nfds, fd_set *rd, fd_set *wr, fd_set *ex, struct timeval *tv)
{
	return select(nfds, rd, wr, ex, tv);
}

SHIM_EXPORT int pselect(int nfds, fd_set *rd, fd_set *wr, fd_set *ex, const struct timespec *ts,
			const sigset_t *mask)
{
	int64_t t;
	int keep = errno, r;

	if (!select_has_tls(nfds, rd, wr, ex) || (t = clock_ts_timeout_ns(ts)) == CLOCK_NS_INVALID)
		return REAL(pselect)(nfds, rd, wr, ex, ts, mask);
	r = shim_select(nfds, rd, wr, ex, t, mask);
	if (r >= 0)
		errno = keep;
	SHIM_RET(r);
}

