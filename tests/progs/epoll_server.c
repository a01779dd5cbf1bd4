/* epoll_server — a plain, non-blocking epoll echo server: a real event loop.
 *
 *   epoll_server [-e] [-o] [-b BYTES] [-n CONNS] [-w wait|pwait|pwait2] PORT
 *
 * One epoll instance over a non-blocking listener (accept4 SOCK_NONBLOCK)
 * and its clients.  Everything read is echoed; what the socket does not
 * take at once is buffered and sent when epoll reports EPOLLOUT (interest
 * in EPOLLOUT only while something is pending; reading pauses while more
 * than 1 MiB is pending).
 *   (default) level-triggered: ONE read() of at most BYTES per wake-up, so
 *       with tiny reads most of a TLS record's plain text stays inside the
 *       TLS layer and the server only goes on if epoll reports it.
 *   -e  edge-triggered (EPOLLET, listener included): on each wake-up read
 *       BYTES at a time until EAGAIN, as edge-triggered programs must.
 *   -o  EPOLLONESHOT: every wake-up disarms the fd; it is re-armed with
 *       EPOLL_CTL_MOD once the wake-up has been handled.
 *   -b  read size (default 1).
 *   -n  exit 0 after CONNS connections have closed (default: never).
 *   -w  the wait call: epoll_wait (default), epoll_pwait or epoll_pwait2.
 * Standard output: "listening" once bound to 127.0.0.1:PORT.  Standard
 * error: "epoll_server: read: <strerror>" when a read fails, and for every
 * closed connection one line
 *   closed N: wakeups=W spurious=S bytes=B
 * where spurious counts read wake-ups (EPOLLIN reported) whose first
 * read() said EAGAIN: readiness said yes, the read said not yet.
 * Knows nothing about TLS.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common.h"

#define MAXEV 64
#define PAUSE_AT (1 << 20)

struct conn {
	int fd;
	char *out;              /* pending echo */
	size_t len, cap;
	int eof;                /* the peer finished: close once out drained */
	int rd_ready;           /* ET: not yet read to EAGAIN */
	unsigned armed;         /* events last given to epoll_ctl */
	unsigned long wakeups, spurious, bytes;
};

static int edge, oneshot, chunk = 1;
static int ep;
static enum { W_WAIT, W_PWAIT, W_PWAIT2 } waitcall = W_WAIT;
static long closed_count;

static void die(const char *what)
{
	fprintf(stderr, "epoll_server: %s: %s\n", what, strerror(errno));
	exit(1);
}

static unsigned want_events(const struct conn *c)
{
	unsigned ev = 0;

	if (!c->eof && c->len < PAUSE_AT)
		ev |= EPOLLIN;
	if (c->len)
		ev |= EPOLLOUT;
	if (edge)
		ev |= EPOLLET;
	if (oneshot)
		ev |= EPOLLONESHOT;
	return ev;
}

static void arm(struct conn *c, int force)
{
	struct epoll_event e = { .events = want_events(c), .data.ptr = c };

	if (!force && e.events == c->armed)
		return;
	if (epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &e) < 0)
		die("epoll_ctl MOD");
	c->armed = e.events;
}

static void finish(struct conn *c)
{
	epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	closed_count++;
	fprintf(stderr, "closed %ld: wakeups=%lu spurious=%lu bytes=%lu\n",
		closed_count, c->wakeups, c->spurious, c->bytes);
	free(c->out);
	free(c);
}

/* Send what is pending; 0 ok (maybe still pending), -1 connection dead. */
static int flush_out(struct conn *c)
{
	size_t off = 0;

	while (off < c->len) {
		ssize_t w = write(c->fd, c->out + off, c->len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno == EAGAIN)
			break;
		if (w <= 0) {
			fprintf(stderr, "epoll_server: write: %s\n", strerror(errno));
			return -1;
		}
		off += (size_t)w;
	}
	memmove(c->out, c->out + off, c->len - off);
	c->len -= off;
	return 0;
}

static int queue(struct conn *c, const char *p, size_t n)
{
	if (c->len + n > c->cap) {
		size_t cap = c->cap ? c->cap : 4096;
		while (cap < c->len + n)
			cap *= 2;
		char *o = realloc(c->out, cap);
		if (!o)
			return -1;
		c->out = o;
		c->cap = cap;
	}
	memcpy(c->out + c->len, p, n);
	c->len += n;
	return 0;
}

/* Read per the mode.  Returns 0 to keep going, -1 if the connection died. */
static int do_reads(struct conn *c, int first_of_wakeup)
{
	char buf[65536];
	int reads = 0;

	while (!c->eof && c->len < PAUSE_AT) {
		ssize_t got = read(c->fd, buf, (size_t)chunk);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0 && errno == EAGAIN) {
			if (first_of_wakeup && reads == 0)
				c->spurious++;
			c->rd_ready = 0;
			return 0;
		}
		if (got < 0) {
			fprintf(stderr, "epoll_server: read: %s\n", strerror(errno));
			return -1;
		}
		reads++;
		if (got == 0) {
			c->eof = 1;
			c->rd_ready = 0;
			return 0;
		}
		c->bytes += (unsigned long)got;
		if (queue(c, buf, (size_t)got) < 0 || flush_out(c) < 0)
			return -1;
		if (!edge)
			return 0;       /* level-triggered: one read per wake-up */
	}
	return 0;
}

static void handle(struct conn *c, unsigned ev)
{
	c->wakeups++;
	if (ev & (EPOLLIN | EPOLLHUP | EPOLLERR))
		c->rd_ready = 1;
	if (c->len && (ev & (EPOLLOUT | EPOLLHUP | EPOLLERR))) {
		if (flush_out(c) < 0)
			goto dead;
	}
	if (c->rd_ready && (ev & (EPOLLIN | EPOLLHUP | EPOLLERR))) {
		if (do_reads(c, 1) < 0)
			goto dead;
	}
	/* Edge-triggered: reading paused for back-pressure resumes by itself
	 * once the output drained; no new edge will come for old data. */
	while (edge && c->rd_ready && !c->eof && c->len == 0) {
		if (do_reads(c, 0) < 0)
			goto dead;
	}
	if (c->eof && c->len == 0) {
		finish(c);
		return;
	}
	arm(c, oneshot);
	return;
dead:
	finish(c);
}

static void accept_all(int ls)
{
	for (;;) {
		int fd = accept4(ls, NULL, NULL, SOCK_NONBLOCK);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno != EAGAIN)
				fprintf(stderr, "epoll_server: accept4: %s\n", strerror(errno));
			break;
		}
		struct conn *c = calloc(1, sizeof *c);
		if (!c)
			die("calloc");
		c->fd = fd;
		struct epoll_event e = { .events = want_events(c), .data.ptr = c };
		if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e) < 0)
			die("epoll_ctl ADD");
		c->armed = e.events;
		if (!edge)
			break;          /* level-triggered: one accept per wake-up */
	}
}

int main(int argc, char **argv)
{
	struct sockaddr_in a;
	int opt, ls, limit = -1;
	static struct conn listener;    /* a marker: data.ptr == &listener */

	while ((opt = getopt(argc, argv, "eob:n:w:")) != -1) {
		if (opt == 'e')
			edge = 1;
		else if (opt == 'o')
			oneshot = 1;
		else if (opt == 'b')
			chunk = atoi(optarg);
		else if (opt == 'n')
			limit = atoi(optarg);
		else if (opt == 'w' && strcmp(optarg, "wait") == 0)
			waitcall = W_WAIT;
		else if (opt == 'w' && strcmp(optarg, "pwait") == 0)
			waitcall = W_PWAIT;
		else if (opt == 'w' && strcmp(optarg, "pwait2") == 0)
			waitcall = W_PWAIT2;
		else
			return 64;
	}
	if (optind >= argc || chunk < 1 || chunk > 65536) {
		fprintf(stderr, "usage: epoll_server [-e] [-o] [-b BYTES] [-n CONNS] "
			"[-w wait|pwait|pwait2] PORT\n");
		return 64;
	}
	signal(SIGPIPE, SIG_IGN);
	a = loopback4(atoi(argv[optind]));
	ls = tcp_listen(&a, SOCK_NONBLOCK, 64);
	if (ls < 0)
		die("socket/bind/listen");
	/* Alternate the two creation calls, so both are exercised. */
	ep = oneshot ? epoll_create(16) : epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0)
		die("epoll_create");
	struct epoll_event le = { .events = EPOLLIN | (edge ? EPOLLET : 0u), .data.ptr = &listener };
	if (epoll_ctl(ep, EPOLL_CTL_ADD, ls, &le) < 0)
		die("epoll_ctl ADD listener");
	printf("listening\n");
	fflush(stdout);

	while (limit < 0 || closed_count < limit) {
		struct epoll_event ev[MAXEV];
		sigset_t none;
		int n;

		sigemptyset(&none);
		if (waitcall == W_PWAIT) {
			n = epoll_pwait(ep, ev, MAXEV, -1, &none);
		} else if (waitcall == W_PWAIT2) {
			n = epoll_pwait2(ep, ev, MAXEV, NULL, &none);
		} else {
			n = epoll_wait(ep, ev, MAXEV, -1);
		}
		if (n < 0) {
			if (errno == EINTR)
				continue;
			die("epoll_wait");
		}
		for (int i = 0; i < n; i++) {
			if (ev[i].data.ptr == &listener)
				accept_all(ls);
			else
				handle(ev[i].data.ptr, ev[i].events);
		}
	}
	return 0;
}
