/* tests/progs/scm_connect.c — a connect whose TLS handshake has started,
 * passed with SCM_RIGHTS before it ended (dante's danted: its request
 * process connects upstream and passes the socket to an I/O process,
 * which waits for the connect to complete and answers its SOCKS client).
 *
 *   scm_connect PORT SERVER-PORT lib|nolib|fork|early
 *
 * A gate (a child process, plain sockets: no rule names its ports)
 * listens on PORT, which a connect rule makes TLS, and holds what the
 * client sends until it is told to go on; then it relays to SERVER-PORT
 * (a TLS server) both ways.  The program connects to PORT without
 * blocking, waits for the gate to have the first bytes of the handshake
 * (its poll starts the handshake; the server has said nothing yet), and
 * passes the socket to a receiver: a child of its own (lib: it runs the
 * library; the pass goes over an abstract unix socket the child
 * connects to, so that the sender can tell) or a copy of itself started
 * without LD_PRELOAD (nolib: over a socketpair), then closes it; or
 * (fork) forks, and the child is the receiver: the fork, not the pass,
 * hands the session to the pump; or (early) passes it as nolib does,
 * but at once after connect() said EINPROGRESS, before any poll: its
 * handshake has not started (danted does this).  The
 * receiver prints "receiver: socket inode N" (its end's, for a test's
 * squatter to find its SYN in /proc/net/tcp), then
 *   "receiver: pending revents R so_error E write W"
 * (poll for POLLOUT without waiting, SO_ERROR, a non-blocking write of
 * "ping\n": what a connect in progress shows is 0, 0 and EAGAIN), tells
 * the sender, which tells the gate to go on (SCM_CONNECT_GO_DELAY_MS
 * later, when set), then waits for POLLOUT (20 s at most) and prints
 *   "receiver: done revents R so_error E"
 * and, when connected, sends "ping\n" (unless the first write took it)
 * and prints "receiver: echo ok" once the echo came back.  Exit status 0
 * when every step ran (the lines say what was seen). */

#include <fcntl.h>
#include <signal.h>
#include <stddef.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#include "common.h"

#define WAIT_MS 20000

static void die(const char *what)
{
	fprintf(stderr, "scm_connect: %s: %s\n", what, strerror(errno));
	exit(2);
}

static const char *revs(short r, char *b, size_t n)
{
	snprintf(b, n, "%s%s%s%s", r & POLLOUT ? "OUT" : "", r & POLLERR ? "|ERR" : "",
		 r & POLLHUP ? "|HUP" : "", r ? "" : "none");
	return b;
}

static const char *errname(int e)
{
	switch (e) {
	case 0: return "0";
	case EAGAIN: return "EAGAIN";
	case ECONNREFUSED: return "ECONNREFUSED";
	case ECONNRESET: return "ECONNRESET";
	case EPIPE: return "EPIPE";
	case ENOTCONN: return "ENOTCONN";
	case ETIMEDOUT: return "ETIMEDOUT";
	default: return strerror(e);
	}
}

static int so_error(int fd)
{
	int e = -1;
	socklen_t l = sizeof e;

	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &l) < 0)
		return errno;
	return e;
}

/* One byte, or one descriptor with it. */
static void send_byte(int s, char c, int fd)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} cm;
	struct iovec iov = { .iov_base = &c, .iov_len = 1 };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };

	if (fd >= 0) {
		struct cmsghdr *h;

		m.msg_control = cm.buf;
		m.msg_controllen = sizeof cm.buf;
		h = CMSG_FIRSTHDR(&m);
		h->cmsg_level = SOL_SOCKET;
		h->cmsg_type = SCM_RIGHTS;
		h->cmsg_len = CMSG_LEN(sizeof fd);
		memcpy(CMSG_DATA(h), &fd, sizeof fd);
	}
	if (sendmsg(s, &m, MSG_NOSIGNAL) != 1)
		die("sendmsg");
}

/* A byte from s within WAIT_MS (and the descriptor it carried, if fd). */
static char recv_byte(int s, int *fd)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} cm;
	char c = 0;
	struct iovec iov = { .iov_base = &c, .iov_len = 1 };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cm.buf,
			    .msg_controllen = sizeof cm.buf };
	struct pollfd p = { .fd = s, .events = POLLIN };
	struct cmsghdr *h;

	if (poll(&p, 1, WAIT_MS) != 1)
		die("no word from the other process");
	if (recvmsg(s, &m, 0) != 1)
		die("recvmsg");
	if (fd) {
		if (!(h = CMSG_FIRSTHDR(&m)) || h->cmsg_type != SCM_RIGHTS)
			die("no descriptor came");
		memcpy(fd, CMSG_DATA(h), sizeof *fd);
	}
	return c;
}

/* The receiver: the descriptor comes on s (fd < 0), or it has it. */
static int receiver(int s, int fd)
{
	char rb[32], buf[16];
	struct pollfd p;
	struct stat st;
	int e, w, got = 0;
	bool sent;

	if (fd < 0)
		(void)recv_byte(s, &fd);
	if (fstat(fd, &st) == 0) {
		printf("receiver: socket inode %lu\n", (unsigned long)st.st_ino);
		fflush(stdout);
	}
	p = (struct pollfd){ .fd = fd, .events = POLLOUT };
	if (poll(&p, 1, 0) < 0)
		die("poll");
	e = so_error(fd);
	w = (int)write(fd, "ping\n", 5);
	sent = w == 5;
	printf("receiver: pending revents %s so_error %s write %s\n", revs(p.revents, rb, sizeof rb),
	       errname(e), w >= 0 ? (sent ? "5" : "short") : errname(errno));
	fflush(stdout);
	send_byte(s, 'c', -1);
	p = (struct pollfd){ .fd = fd, .events = POLLOUT };
	if (poll(&p, 1, WAIT_MS) < 0)
		die("poll");
	e = so_error(fd);
	printf("receiver: done revents %s so_error %s\n", revs(p.revents, rb, sizeof rb), errname(e));
	fflush(stdout);
	if (p.revents != POLLOUT || e)
		return 0;
	if (!sent && write(fd, "ping\n", 5) != 5)
		die("write");
	(void)fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	while (got < 5) {
		ssize_t r;

		p = (struct pollfd){ .fd = fd, .events = POLLIN };
		if (poll(&p, 1, WAIT_MS) != 1 || (r = read(fd, buf + got, sizeof buf - (size_t)got)) <= 0)
			break;
		got += (int)r;
	}
	if (got == 5 && !memcmp(buf, "ping\n", 5))
		printf("receiver: echo ok\n");
	close(fd);
	return 0;
}

/* The gate: accept one connection on l, hold what it sends until `go`
 * says so (after telling it, once the first bytes came), then relay to
 * 127.0.0.1:server both ways until both have ended (WAIT_MS without
 * traffic at most). */
static int gate(int l, int go, int server)
{
	char held[65536], buf[16384];
	size_t n = 0;
	int c, u;
	ssize_t r;
	bool told = false, c_end = false, u_end = false;

	if ((c = accept(l, NULL, NULL)) < 0)
		die("gate: accept");
	for (;;) {
		struct pollfd p[2] = { { .fd = c, .events = POLLIN }, { .fd = go, .events = POLLIN } };

		if (poll(p, 2, WAIT_MS) <= 0)
			die("gate: nothing came");
		if (p[1].revents)
			break;
		if ((r = read(c, held + n, sizeof held - n)) <= 0)
			break;
		n += (size_t)r;
		if (!told) {
			send_byte(go, 'h', -1);
			told = true;
		}
	}
	(void)recv_byte(go, NULL);
	struct sockaddr_in a = loopback4(server);
	if ((u = socket(AF_INET, SOCK_STREAM, 0)) < 0 || connect(u, (struct sockaddr *)&a, sizeof a) < 0)
		die("gate: connect");
	if (n && write(u, held, n) != (ssize_t)n)
		die("gate: write");
	while (!c_end || !u_end) {
		struct pollfd p[2] = { { .fd = c_end ? -1 : c, .events = POLLIN },
				       { .fd = u_end ? -1 : u, .events = POLLIN } };

		if (poll(p, 2, WAIT_MS) <= 0)
			break;
		for (int i = 0; i < 2; i++) {
			int from = i ? u : c, to = i ? c : u;

			if (!p[i].revents)
				continue;
			if ((r = read(from, buf, sizeof buf)) <= 0 || write(to, buf, (size_t)r) != r) {
				shutdown(to, SHUT_WR);
				if (i)
					u_end = true;
				else
					c_end = true;
			}
		}
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct sockaddr_in a;
	struct sockaddr_un un = { .sun_family = AF_UNIX };
	socklen_t ul;
	int l, g[2], s = -1, fd, st;
	pid_t gp, rp = -1;
	bool lib, forked, early;
	const char *go;

	if (argc == 3 && !strcmp(argv[1], "--receive"))
		return receiver(atoi(argv[2]), -1);
	if (argc != 4 || (strcmp(argv[3], "lib") && strcmp(argv[3], "nolib") && strcmp(argv[3], "fork") &&
			  strcmp(argv[3], "early"))) {
		fprintf(stderr, "usage: scm_connect PORT SERVER-PORT lib|nolib|fork|early\n");
		return 2;
	}
	lib = !strcmp(argv[3], "lib");
	forked = !strcmp(argv[3], "fork");
	early = !strcmp(argv[3], "early");
	signal(SIGPIPE, SIG_IGN);
	a = loopback4(atoi(argv[1]));
	if ((l = tcp_listen(&a, 0, 1)) < 0 || socketpair(AF_UNIX, SOCK_STREAM, 0, g) < 0)
		die("gate");
	if ((gp = fork()) == 0) {
		close(g[0]);
		return gate(l, g[1], atoi(argv[2]));
	}
	close(g[1]);
	close(l);

	/* The receiver. */
	snprintf(un.sun_path + 1, sizeof un.sun_path - 1, "scm_connect/%d", (int)getpid());
	ul = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + strlen(un.sun_path + 1));
	if (lib) {
		int ls = socket(AF_UNIX, SOCK_STREAM, 0);

		/* (The receiver connects: SO_PEERCRED then names it, a
		 * process that runs the library.) */
		if (ls < 0 || bind(ls, (struct sockaddr *)&un, ul) < 0 || listen(ls, 1) < 0)
			die("unix listener");
		if ((rp = fork()) == 0) {
			int c = socket(AF_UNIX, SOCK_STREAM, 0);

			if (c < 0 || connect(c, (struct sockaddr *)&un, ul) < 0)
				die("connect to the sender");
			return receiver(c, -1);
		}
		if ((s = accept(ls, NULL, NULL)) < 0)
			die("accept");
		close(ls);
	} else if (!forked) {
		int sp[2];

		if (socketpair(AF_UNIX, SOCK_STREAM, 0, sp) < 0)
			die("socketpair");
		if ((rp = fork()) == 0) {
			char n[16];

			close(sp[0]);
			snprintf(n, sizeof n, "%d", sp[1]);
			unsetenv("LD_PRELOAD");
			execl("/proc/self/exe", argv[0], "--receive", n, (char *)NULL);
			die("exec");
		}
		close(sp[1]);
		s = sp[0];
	}

	/* The connect, its handshake started (the gate has its first bytes). */
	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0)) < 0)
		die("socket");
	if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0 && errno != EINPROGRESS)
		die("connect");
	for (int i = 0; i < 200 && !early; i++) {
		struct pollfd p[2] = { { .fd = fd, .events = POLLOUT }, { .fd = g[0], .events = POLLIN } };

		if (poll(p, 2, 100) < 0)
			die("poll");
		if (p[1].revents)
			break;
		if (p[0].revents) {
			fprintf(stderr, "scm_connect: the connect ended before the handshake could (revents %#x)\n",
				p[0].revents);
			return 2;
		}
	}
	if (!early && recv_byte(g[0], NULL) != 'h')
		die("gate");
	if (forked) {
		int sp[2];

		if (socketpair(AF_UNIX, SOCK_STREAM, 0, sp) < 0)
			die("socketpair");
		fflush(stdout);
		if ((rp = fork()) == 0) {
			close(sp[0]);
			return receiver(sp[1], fd);
		}
		close(sp[1]);
		s = sp[0];
	} else {
		send_byte(s, 'f', fd);
	}
	close(fd);
	printf("sender: passed\n");
	fflush(stdout);
	(void)recv_byte(s, NULL);       /* the receiver looked */
	if ((go = getenv("SCM_CONNECT_GO_DELAY_MS")))
		usleep((useconds_t)atoi(go) * 1000);
	send_byte(g[0], 'g', -1);
	if (waitpid(rp, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st))
		die("the receiver failed");
	close(s);
	close(g[0]);
	if (waitpid(gp, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st))
		die("the gate failed");
	return 0;
}
