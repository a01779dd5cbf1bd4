/*
 * epoll_stale_number PORT — an epoll instance's number closed by
 * close_range() or by dup2() onto it, then taken by a plain file
 * (tests/preload/epoll_nested.sh).  PORT has a connect rule; this program
 * listens on it in clear and its server thread closes every connection at
 * once, so the client's TLS session fails.  The instance holds that failed
 * TLS fd: a poll() of the instance's number says POLLIN (the control).  Once
 * the number names an eventfd with nothing in it, or a pipe's empty read
 * end, poll() of it must say nothing: the shim still asked the old
 * instance, said POLLIN, and a program that then reads the eventfd or pipe
 * blocks for ever.  Then dup_case.  Prints "control N close_range N dup2 N
 * dup N" (1 0 0 1 expected) and exits 0; 2 on a set-up failure.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>
#include <linux/close_range.h>
#include <sys/syscall.h>
#include <signal.h>

#include "common.h"

static int lfd;

static void *server(void *arg)
{
	(void)arg;
	for (int i = 0; i < 2; i++) {
		int a = accept(lfd, NULL, NULL);
		if (a < 0)
			break;
		close(a);
	}
	return NULL;
}

static int failed_tls(int port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((unsigned short)port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int s = socket(AF_INET, SOCK_STREAM, 0);
	char b;

	if (s < 0)
		return -1;
	/* (the handshake fails: connect says so, and a write after it gets
	 * EPIPE and SIGPIPE, as the kernel's after a refused connect) */
	(void)connect(s, (struct sockaddr *)&sa, sizeof sa);
	(void)write(s, "x", 1);
	(void)read(s, &b, 1);
	return s;
}

/* poll's answer for fd, asked at once. */
static int poll_now(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	return poll(&p, 1, 0);
}

/* An instance holding a failed TLS fd; *ctl: poll's answer for it. */
static int instance(int port, int *ctl)
{
	struct epoll_event e = { .events = EPOLLIN };
	int ep = epoll_create1(0), s = failed_tls(port);

	if (ep < 0 || s < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, s, &e) < 0)
		return -1;
	*ctl = poll_now(ep);
	return ep;
}

/* dup() of an instance: one instance, two numbers.  1: a wait through the
 * copy gives the program's data, also after the original is closed, and
 * an epoll_ctl through the copy changes it (the shim's waits through an
 * unmanaged copy gave the number of the fd, its own encoding). */
static int dup_case(void)
{
	struct epoll_event e = { .events = EPOLLIN, .data.u64 = 0xABCD }, out[2];
	int p[2], ep = epoll_create1(0), d, ok;

	if (ep < 0 || pipe(p) || write(p[1], "x", 1) != 1 || epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &e) ||
	    (d = dup(ep)) < 0)
		return -1;
	ok = epoll_wait(d, out, 2, 0) == 1 && out[0].data.u64 == 0xABCD;
	close(ep);
	ok = ok && epoll_wait(d, out, 2, 0) == 1 && out[0].data.u64 == 0xABCD;
	e.data.u64 = 0xBEEF;
	ok = ok && epoll_ctl(d, EPOLL_CTL_MOD, p[0], &e) == 0 && epoll_wait(d, out, 2, 0) == 1 &&
	     out[0].data.u64 == 0xBEEF;
	close(d);
	close(p[0]);
	close(p[1]);
	return ok;
}

int main(int argc, char **argv)
{
	struct sockaddr_in sa;
	int ctl1, ctl2, ep, ev, p[2], viarange, viadup;
	pthread_t t;

	signal(SIGPIPE, SIG_IGN);
	if (argc < 2)
		return 2;
	sa = loopback4(atoi(argv[1]));
	lfd = tcp_listen(&sa, 0, 8);
	if (lfd < 0 ||
	    pthread_create(&t, NULL, server, NULL)) {
		perror("listen");
		return 2;
	}
	/* close_range() of the instance, its number taken by an eventfd. */
	if ((ep = instance(atoi(argv[1]), &ctl1)) < 0 || close_range((unsigned)ep, (unsigned)ep, 0) ||
	    (ev = eventfd(0, EFD_NONBLOCK)) != ep) {
		fprintf(stderr, "set-up failed (close_range)\n");
		return 2;
	}
	viarange = poll_now(ev);
	/* dup2() of a pipe's empty read end onto the instance's number. */
	if ((ep = instance(atoi(argv[1]), &ctl2)) < 0 || pipe(p) || dup2(p[0], ep) != ep) {
		fprintf(stderr, "set-up failed (dup2)\n");
		return 2;
	}
	viadup = poll_now(ep);
	pthread_join(t, NULL);
	printf("control %d close_range %d dup2 %d dup %d\n", ctl1 && ctl2, viarange, viadup, dup_case());
	return 0;
}
