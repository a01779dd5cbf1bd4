/* halfopen — plain TCP programs for half-open connections (a peer that
 * vanishes without FIN or RST).  Knows nothing about TLS.
 *
 *   halfopen server [-e] [-k COUNT] [-u MS] PORT
 *
 * A non-blocking event-driven server on 127.0.0.1:PORT: one poll() loop,
 * or epoll (level-triggered) with -e.  -k: TCP_KEEPCNT (default 2), -u:
 * TCP_USER_TIMEOUT (default 2000 ms) below.  A connection's first read decides
 * what it is:
 *   "read\n"   the program sets SO_KEEPALIVE with TCP_KEEPIDLE 1 s,
 *              TCP_KEEPINTVL 1 s, TCP_KEEPCNT 2 (-k), answers "ok\n" and waits
 *              for input (a vanished peer: the kernel's keepalive fails
 *              the read with ETIMEDOUT);
 *   "write\n"  the program sets TCP_USER_TIMEOUT 2000 ms (-u), answers "ok\n"
 *              and writes 16 KiB blocks whenever the socket takes them (a
 *              vanished peer: unacknowledged data fails the write with
 *              ETIMEDOUT after 2 s);
 *   anything else is echoed, and so is everything after it ("peer PORT
 *              echoed" once its first bytes went back: the test orders
 *              it against the half-open connections' ends).
 * When a connection ends the program prints one line and closes it:
 *   "peer PORT MODE: eof" | "peer PORT MODE: read: <strerror>" |
 *   "peer PORT MODE: write: <strerror>"   (MODE read, write, echo or -)
 * Runs until killed.
 *
 *   halfopen client [-p] [-o OTHERPORT] MODE PORT
 *
 * First a warm-up connection to 127.0.0.1:PORT ("hello\n" and its echo,
 * close; "warm-up echoed"), then its descriptor count (eventfds left out:
 * fdcount.h) once steady ("steady at N descriptors"), then the
 * connection under test (blocking).  MODE read: SO_KEEPALIVE as above;
 * write: TCP_USER_TIMEOUT 2000 ms.  Sends "hello\n", reads the
 * echo ("hello\n"; -p: poll() for it first), prints "local PORT" and
 * "ready", then (-p: waiting in poll() first) reads until an error (read
 * mode) or writes 16 KiB blocks until an error (write mode), and prints
 * "read: <strerror>" / "write: <strerror>" / "eof".  Then it closes the
 * socket.  With -o (read mode): another connection, to OTHERPORT, made
 * before the one under test, gets "ping\n" echoed every 200 ms while the
 * program waits in poll() on both; after the error it prints "other
 * echoes N while half-open" and "other ok after" (one more ping) and
 * closes it.  Then it prints "fds before N after M": its descriptor count
 * after the warm-up and once steady (100 ms unchanged, at most 10 s) after
 * the closes.  Exit status 0 when the count is back, 1 otherwise.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common.h"
#include "fdcount.h"

#define MAXC 64
#define BLOCK 16384
#define USER_TIMEOUT_MS 2000

static char block[BLOCK];
static int keepcnt = 2;
static unsigned user_ms = USER_TIMEOUT_MS;

static void keepalive(int fd)
{
	int one = 1, idle = 1, intvl = 1, cnt = keepcnt;

	setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof intvl);
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof cnt);
}

static void user_timeout(int fd)
{
	unsigned ms = user_ms;

	setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &ms, sizeof ms);
}

static int peer_port(int fd)
{
	struct sockaddr_in a;
	socklen_t l = sizeof a;

	return getpeername(fd, (struct sockaddr *)&a, &l) == 0 ? ntohs(a.sin_port) : 0;
}

/* ------------------------------------------------------------- server */

enum mode { M_NEW, M_READ, M_WRITE, M_ECHO };
static const char *mname[] = { "-", "read", "write", "echo" };

struct conn {
	int fd, port;
	enum mode m;
};

static struct conn cs[MAXC];
static int ncs, epfd = -1;

static void watch(struct conn *c, int add)
{
	struct epoll_event ev = { .events = c->m == M_WRITE ? EPOLLOUT : EPOLLIN, .data.fd = c->fd };

	if (epfd >= 0)
		epoll_ctl(epfd, add ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, c->fd, &ev);
}

static void end(struct conn *c, const char *what, int err)
{
	if (err)
		printf("peer %d %s: %s: %s\n", c->port, mname[c->m], what, strerror(err));
	else
		printf("peer %d %s: %s\n", c->port, mname[c->m], what);
	if (epfd >= 0)
		epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	*c = cs[--ncs];
}

/* One event on c; 0 when c was closed (the slot now holds another). */
static int serve(struct conn *c)
{
	char buf[4096];
	ssize_t r;

	if (c->m == M_WRITE) {
		for (;;) {
			r = write(c->fd, block, sizeof block);
			if (r < 0 && (errno == EAGAIN || errno == EINTR))
				return 1;
			if (r < 0) {
				end(c, "write", errno);
				return 0;
			}
		}
	}
	r = read(c->fd, buf, sizeof buf);
	if (r < 0 && (errno == EAGAIN || errno == EINTR))
		return 1;
	if (r < 0) {
		end(c, "read", errno);
		return 0;
	}
	if (r == 0) {
		end(c, "eof", 0);
		return 0;
	}
	if (c->m == M_NEW) {
		if (r == 5 && !memcmp(buf, "read\n", 5)) {
			c->m = M_READ;
			keepalive(c->fd);
			write_all_wait(c->fd, "ok\n", 3);
			return 1;
		}
		if (r == 6 && !memcmp(buf, "write\n", 6)) {
			c->m = M_WRITE;
			user_timeout(c->fd);
			write_all_wait(c->fd, "ok\n", 3);
			watch(c, 0);
			return 1;
		}
		c->m = M_ECHO;
		if (write_all_wait(c->fd, buf, (size_t)r) < 0) {
			end(c, "write", errno);
			return 0;
		}
		printf("peer %d echoed\n", c->port);
		return 1;
	}
	if (c->m == M_ECHO && write_all_wait(c->fd, buf, (size_t)r) < 0) {
		end(c, "write", errno);
		return 0;
	}
	return 1;
}

static int server(int argc, char **argv)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int ls, use_epoll = 0, opt;

	while ((opt = getopt(argc, argv, "ek:u:")) != -1) {
		if (opt == 'e')
			use_epoll = 1;
		else if (opt == 'k')
			keepcnt = atoi(optarg);
		else if (opt == 'u')
			user_ms = (unsigned)atoi(optarg);
		else
			return 64;
	}
	if (optind >= argc)
		return 64;
	a.sin_port = htons((unsigned short)atoi(argv[optind]));
	ls = tcp_listen(&a, SOCK_NONBLOCK, 16);
	if (ls < 0) {
		perror("halfopen: bind/listen");
		return 2;
	}
	if (use_epoll) {
		struct epoll_event ev = { .events = EPOLLIN, .data.fd = ls };
		epfd = epoll_create1(EPOLL_CLOEXEC);
		epoll_ctl(epfd, EPOLL_CTL_ADD, ls, &ev);
	}
	printf("listening\n");
	for (;;) {
		int ready[MAXC + 1], nready = 0;

		if (use_epoll) {
			struct epoll_event evs[MAXC + 1];
			int n = epoll_wait(epfd, evs, MAXC + 1, -1);
			for (int i = 0; i < n; i++)
				ready[nready++] = evs[i].data.fd;
		} else {
			struct pollfd p[MAXC + 1];
			int n;
			p[0] = (struct pollfd){ .fd = ls, .events = POLLIN };
			for (int i = 0; i < ncs; i++)
				p[i + 1] = (struct pollfd){ .fd = cs[i].fd,
							    .events = cs[i].m == M_WRITE ? POLLOUT : POLLIN };
			n = poll(p, (nfds_t)ncs + 1, -1);
			for (int i = 0; n > 0 && i <= ncs; i++)
				if (p[i].revents)
					ready[nready++] = p[i].fd;
		}
		for (int i = 0; i < nready; i++) {
			if (ready[i] == ls) {
				int fd = accept4(ls, NULL, NULL, SOCK_NONBLOCK);
				if (fd < 0)
					continue;
				if (ncs == MAXC) {
					close(fd);
					continue;
				}
				cs[ncs] = (struct conn){ .fd = fd, .port = peer_port(fd), .m = M_NEW };
				watch(&cs[ncs], 1);
				ncs++;
				continue;
			}
			for (int j = 0; j < ncs; j++)
				if (cs[j].fd == ready[i]) {
					serve(&cs[j]);
					break;
				}
		}
	}
}

/* ------------------------------------------------------------- client */

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int settle(int want)
{
	int last = count_fds(), same = 0;
	double end = now() + 10;

	/* steady for 10 looks 10 ms apart and (want >= 0) equal to want, at
	 * most 10 s (by the clock: on a loaded machine each sleep is longer) */
	while ((same < 10 || (want >= 0 && last != want)) && now() < end) {
		int n;
		usleep(10000);
		n = count_fds();
		same = n == last ? same + 1 : 0;
		last = n;
	}
	return last;
}

static void wait_in(int fd, short ev)
{
	struct pollfd p = { .fd = fd, .events = ev };

	while (poll(&p, 1, -1) < 0 && errno == EINTR)
		;
}

/* "ping\n" on fd and its echo: 1 when it came back whole. */
static int ping(int fd)
{
	char buf[5];
	size_t got = 0;

	if (write_all_wait(fd, "ping\n", 5) < 0)
		return 0;
	while (got < 5) {
		ssize_t r;
		wait_in(fd, POLLIN);
		r = read(fd, buf + got, 5 - got);
		if (r <= 0)
			return 0;
		got += (size_t)r;
	}
	return !memcmp(buf, "ping\n", 5);
}

/* Connect to a, say hello, read the echo: the fd, or -1. */
static int hello(const struct sockaddr_in *a, int wr, int use_poll)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	char buf[8];
	size_t got = 0;
	ssize_t r;

	if (wr)
		user_timeout(fd);
	else
		keepalive(fd);
	if (connect(fd, (const struct sockaddr *)a, sizeof *a) < 0) {
		printf("connect: %s\n", strerror(errno));
		return -1;
	}
	if (write_all_wait(fd, "hello\n", 6) < 0) {
		printf("write hello: %s\n", strerror(errno));
		return -1;
	}
	while (got < 6) {
		if (use_poll)
			wait_in(fd, POLLIN);
		r = read(fd, buf + got, 6 - got);
		if (r <= 0) {
			printf("read hello: %s\n", r ? strerror(errno) : "eof");
			return -1;
		}
		got += (size_t)r;
	}
	return fd;
}

static int client(int argc, char **argv)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct sockaddr_in me;
	socklen_t ml = sizeof me;
	struct sockaddr_in oa = a;
	int use_poll = 0, opt, fd, before, after, wr, ofd = -1, echoes = 0, oport = 0;
	char buf[4096];
	ssize_t r;

	while ((opt = getopt(argc, argv, "po:")) != -1) {
		if (opt == 'p')
			use_poll = 1;
		else if (opt == 'o')
			oport = atoi(optarg);
		else
			return 64;
	}
	if (optind + 2 != argc)
		return 64;
	wr = !strcmp(argv[optind], "write");
	a.sin_port = htons((unsigned short)atoi(argv[optind + 1]));
	/* the warm-up: the library makes some descriptors of its own on
	 * first need (the lingering close's; its wake-up eventfd, which the
	 * counts leave out: fdcount.h) */
	if ((fd = hello(&a, wr, use_poll)) < 0)
		return 1;
	close(fd);
	printf("warm-up echoed\n");
	before = settle(-1);
	printf("steady at %d descriptors\n", before);
	if (oport) {
		oa.sin_port = htons((unsigned short)oport);
		if ((ofd = hello(&oa, 0, 1)) < 0)
			return 1;
	}
	if ((fd = hello(&a, wr, use_poll)) < 0)
		return 1;
	getsockname(fd, (struct sockaddr *)&me, &ml);
	printf("local %d\nready\n", ntohs(me.sin_port));
	if (wr) {
		for (;;) {
			if (use_poll)
				wait_in(fd, POLLOUT);
			r = write(fd, block, sizeof block);
			if (r < 0 && errno == EINTR)
				continue;
			if (r < 0) {
				printf("write: %s\n", strerror(errno));
				break;
			}
		}
	} else {
		for (;;) {
			if (ofd >= 0) {
				/* the other connection: a ping every 200 ms */
				struct pollfd p[2] = { { .fd = fd, .events = POLLIN }, { .fd = ofd, .events = POLLIN } };
				int n = poll(p, 2, 200);
				if (n == 0) {
					echoes += ping(ofd);
					continue;
				}
				if (n < 0 || !p[0].revents)
					continue;
			} else if (use_poll) {
				wait_in(fd, POLLIN);
			}
			r = read(fd, buf, sizeof buf);
			if (r < 0 && errno == EINTR)
				continue;
			if (r < 0) {
				printf("read: %s\n", strerror(errno));
				break;
			}
			if (r == 0) {
				printf("eof\n");
				break;
			}
		}
	}
	close(fd);
	if (ofd >= 0) {
		printf("other echoes %d while half-open\n", echoes);
		printf("other %s after\n", ping(ofd) ? "ok" : "FAILED");
		close(ofd);
	}
	after = settle(before);
	printf("fds before %d after %d\n", before, after);
	return after == before ? 0 : 1;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	memset(block, 'h', sizeof block);
	if (argc > 1 && !strcmp(argv[1], "server"))
		return server(argc - 1, argv + 1);
	if (argc > 1 && !strcmp(argv[1], "client"))
		return client(argc - 1, argv + 1);
	fprintf(stderr, "usage: halfopen server [-e] [-k N] [-u MS] PORT | halfopen client [-p] [-o PORT] read|write PORT\n");
	return 64;
}
