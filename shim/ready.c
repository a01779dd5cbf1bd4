/* shim/ready.c — readiness rules (see ready.h).  Pure: no system call,
 * no global state; the engine is asked through struct ready_ops. */
#include <errno.h>
#include <string.h>
#include <sys/epoll.h>

#include "shim/ready.h"

/* A failed connection: POLLERR plus the events asked for.  But plain
 * text decrypted before the failure is read first (shim/tlsio.c): while
 * it is left, a reader sees only that (an event loop that closes on
 * POLLERR would lose it), and the failure is reported after. */
static short failed_revents(const struct ready_ops *ops, void *c, short want)
{
	if ((want & POLLIN) && ops->staged(c))
		return POLLIN;
	ops->report(c);
	return (short)((want & (POLLIN | POLLOUT)) | POLLERR);
}

short ready_kernel_want(short events)
{
	return (short)((events & (POLLIN | POLLOUT | POLLRDHUP)) | ((events & POLLRDNORM) ? POLLIN : 0) |
		       ((events & POLLWRNORM) ? POLLOUT : 0));
}

/* ready_revents for want = ready_kernel_want(what was asked). */
static short revents(const struct ready_ops *ops, void *c, short want, short kr)
{
	short out = kr & (POLLERR | POLLHUP | POLLNVAL | POLLRDHUP);

	if (ops->moved(c))
		return 0;       /* handed to a pump: the next look finds the new fd */
	if (ops->timed_out(c))
		return (short)((want & (POLLIN | POLLOUT)) | POLLERR);
	if (!ops->failed(c) && !ops->handshake_done(c)) {
		if (!(kr & (POLLIN | POLLOUT | POLLERR | POLLHUP)))
			return 0;
		if (ops->client(c) && !ops->handshake_started(c) && (kr & (POLLERR | POLLHUP))) {
			/* The TCP connect itself failed: SO_ERROR says why. */
			return (short)(POLLOUT | POLLERR | (kr & POLLHUP)) & (want | POLLERR | POLLHUP);
		}
		(void)ops->poll_write(c);          /* one handshake step */
		if (!ops->handshake_done(c) && !ops->failed(c))
			return 0;
		kr &= (short)~(POLLIN | POLLOUT);  /* those were the handshake's */
		if (!ops->failed(c))
			kr |= POLLOUT;             /* a fresh connection has room */
	}
	if (ops->failed(c))
		return failed_revents(ops, c, want);
	if ((want & POLLIN) && (ops->buffered(c) || (kr & (POLLIN | POLLHUP | POLLERR))) &&
	    ops->poll_read(c))
		out |= POLLIN;
	if ((kr & POLLOUT) && ops->poll_write(c) && (want & POLLOUT))
		out |= POLLOUT;
	if (ops->failed(c))
		out |= failed_revents(ops, c, want);
	return out & (short)(want | POLLERR | POLLHUP | POLLNVAL);
}

short ready_revents(const struct ready_ops *ops, void *c, short want, short kr)
{
	short out = revents(ops, c, ready_kernel_want(want), kr);

	/* POLLRDNORM and POLLWRNORM are POLLIN's and POLLOUT's twins on a
	 * socket (the kernel sets both); POLLPRI, urgent data, has no place
	 * in TLS (MSG_OOB is refused), so it is never asked of the kernel. */
	if (out & POLLIN)
		out |= POLLRDNORM;
	if (out & POLLOUT)
		out |= POLLWRNORM;
	return out & (short)(want | POLLERR | POLLHUP | POLLNVAL);
}

/* Bit fd of a set nfds bits long (the kernel's layout: longs, bit fd %
 * BITS of long fd / BITS); glibc's FD_ISSET stops at FD_SETSIZE. */
#define SET_BITS (8 * (int)sizeof(unsigned long))

bool ready_set_has(const fd_set *s, int fd)
{
	return (((const unsigned long *)(const void *)s)[fd / SET_BITS] >> (fd % SET_BITS)) & 1;
}

static void set_add(fd_set *s, int fd)
{
	((unsigned long *)(void *)s)[fd / SET_BITS] |= 1UL << (fd % SET_BITS);
}

static void set_clear(fd_set *s, int nfds)
{
	memset(s, 0, (size_t)((nfds + SET_BITS - 1) / SET_BITS) * sizeof(unsigned long));
}

int ready_sets_to_poll(int nfds, const fd_set *rd, const fd_set *wr, const fd_set *ex,
		       struct pollfd *p, int max)
{
	int n = 0;

	for (int fd = 0; fd < nfds && n < max; fd++) {
		short ev = (short)((rd && ready_set_has(rd, fd) ? POLLIN : 0) |
				   (wr && ready_set_has(wr, fd) ? POLLOUT : 0) |
				   (ex && ready_set_has(ex, fd) ? POLLPRI : 0));
		if (ev)
			p[n++] = (struct pollfd){ .fd = fd, .events = ev };
	}
	return n;
}

int ready_poll_to_sets(int nfds, const struct pollfd *p, int n, fd_set *rd, fd_set *wr, fd_set *ex)
{
	int count = 0;

	for (int i = 0; i < n; i++)
		if (p[i].revents & POLLNVAL)
			return -EBADF;      /* what select() says of a closed fd */
	if (rd)
		set_clear(rd, nfds);
	if (wr)
		set_clear(wr, nfds);
	if (ex)
		set_clear(ex, nfds);
	for (int i = 0; i < n; i++) {
		short re = p[i].revents;
		if (rd && (p[i].events & POLLIN) && (re & (POLLIN | POLLHUP | POLLERR))) {
			set_add(rd, p[i].fd);
			count++;
		}
		if (wr && (p[i].events & POLLOUT) && (re & (POLLOUT | POLLERR))) {
			set_add(wr, p[i].fd);
			count++;
		}
		if (ex && (p[i].events & POLLPRI) && (re & POLLPRI)) {
			set_add(ex, p[i].fd);
			count++;
		}
	}
	return count;
}

bool ready_ep_may_report_failure(const struct ready_ep *e, bool failed, bool staged,
				 unsigned long gen)
{
	if (e->disabled || !failed || !(e->events & EPOLLET))
		return !e->disabled && failed;
	/* Staged plain text goes first to a program that reads (EPOLLIN);
	 * one that waits only to write learns of the failure at once
	 * (helper-63 F4). */
	if (staged && (e->events & EPOLLIN))
		return e->seen_gen != gen;
	return !e->fail_seen;
}

bool ready_ep_may_report_data(const struct ready_ep *e, bool handshake_done, unsigned long gen)
{
	return !e->disabled && handshake_done && (e->events & (EPOLLIN | EPOLLRDNORM)) &&
	       (!(e->events & EPOLLET) || e->seen_gen != gen);
}

void ready_ep_reported(struct ready_ep *e, uint32_t got, bool failed, unsigned long gen)
{
	if (got && (e->events & EPOLLONESHOT))
		e->disabled = true;
	if (got & EPOLLIN)
		e->seen_gen = gen;
	/* (EPOLLIN alone, of a failed connection: its staged plain text) */
	if ((got & EPOLLERR) && failed)
		e->fail_seen = true;
}

/* (not EPOLLPRI: urgent data has no place in TLS; a kernel EPOLLPRI the
 * program cannot be shown made its wait spin) */
#define PROG_FLAGS (EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET)

uint32_t ready_ep_kernel_mask(const struct ready_ep *e, bool failed, bool handshake_done,
			      short need)
{
	uint32_t m;

	if (e->disabled)
		return 0;
	if (failed)
		return e->events & (EPOLLIN | EPOLLOUT | EPOLLET);
	m = e->events & (handshake_done ? PROG_FLAGS : EPOLLET);
	if (handshake_done && (e->events & EPOLLRDNORM))
		m |= EPOLLIN;
	if (handshake_done && (e->events & EPOLLWRNORM))
		m |= EPOLLOUT;
	if (need & POLLIN)
		m |= EPOLLIN;
	if (need & POLLOUT)
		m |= EPOLLOUT;
	return m;
}

uint32_t ready_to_epoll(short pe, uint32_t want, uint32_t kr)
{
	uint32_t r = 0;

	if (pe & POLLIN) r |= EPOLLIN;
	if (pe & POLLOUT) r |= EPOLLOUT;
	if (pe & POLLPRI) r |= EPOLLPRI;
	if (pe & POLLERR) r |= EPOLLERR;
	if (pe & POLLHUP) r |= EPOLLHUP;
	if (pe & POLLRDNORM) r |= EPOLLRDNORM;
	if (pe & POLLWRNORM) r |= EPOLLWRNORM;
	if ((kr & EPOLLRDHUP) && (want & EPOLLRDHUP))
		r |= EPOLLRDHUP;
	return r;
}

short ready_to_poll(uint32_t e)
{
	return (short)(((e & EPOLLIN) ? POLLIN : 0) | ((e & EPOLLOUT) ? POLLOUT : 0) |
		       ((e & EPOLLRDNORM) ? POLLRDNORM : 0) | ((e & EPOLLWRNORM) ? POLLWRNORM : 0) |
		       ((e & EPOLLPRI) ? POLLPRI : 0) | ((e & EPOLLERR) ? POLLERR : 0) |
		       ((e & EPOLLHUP) ? POLLHUP : 0));
}
