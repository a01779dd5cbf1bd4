/* stage_reader — a plain TCP server that reads one connection to its end
 * and says how the end looked: for tests/attack/records_reader.sh, where
 * the peer (tests/attack/records.py) puts a bad record or a truncation
 * right behind good data.  Knows nothing about TLS.
 *
 *   stage_reader PORT STAGE WAIT READ GOT-FILE [fork]
 *
 * Accepts one connection on 127.0.0.1:PORT, writes a greeting (under the
 * shim the session is then live), and with "fork" forks: the parent
 * closes its copy and waits, the child goes on (the session is pumped).
 * Waits until the connection is readable (poll, at most 10 s), then:
 *   STAGE  none; fionread (ioctl FIONREAD, printed "fionread N"); peek
 *          (recv MSG_PEEK of up to 4 KiB, printed "peek N")
 *   WAIT   block: blocking reads, nothing else; poll, select, epoll,
 *          epollet: a non-blocking fd, and before each read (epollet: each
 *          batch of reads, until EAGAIN) that wait, printed "ready BITS"
 *          (in, err, hup, rdhup; select: in)
 *   READ   read, recv, readv (two halves), recvmsg (two halves), recvmmsg
 *          (two messages of one buffer each)
 * Every read prints "read N" (the bytes are appended to GOT-FILE); the end
 * is "end: eof" (exit 0), "end: error: STRERROR" (exit 1), "end: timeout"
 * (a wait of 10 s saw nothing; exit 3) or "end: spin" (exit 4).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common.h"

#define WAIT_MS 10000

static FILE *got;

static void __attribute__((noreturn)) end(ssize_t r)
{
	if (r == 0) {
		printf("end: eof\n");
		exit(0);
	}
	printf("end: error: %s\n", strerror(errno));
	exit(1);
}

static ssize_t read_by(const char *how, int fd, char *buf, size_t len)
{
	struct iovec iov[2] = { { buf, len / 2 }, { buf + len / 2, len - len / 2 } };
	struct msghdr m = { .msg_iov = iov, .msg_iovlen = 2 };

	if (!strcmp(how, "recv"))
		return recv(fd, buf, len, 0);
	if (!strcmp(how, "readv"))
		return readv(fd, iov, 2);
	if (!strcmp(how, "recvmsg"))
		return recvmsg(fd, &m, 0);
	if (!strcmp(how, "recvmmsg")) {
		struct iovec v[2] = { { buf, len / 2 }, { buf + len / 2, len - len / 2 } };
		struct mmsghdr mm[2];
		int n;

		memset(mm, 0, sizeof mm);
		mm[0].msg_hdr.msg_iov = &v[0];
		mm[0].msg_hdr.msg_iovlen = 1;
		mm[1].msg_hdr.msg_iov = &v[1];
		mm[1].msg_hdr.msg_iovlen = 1;
		n = recvmmsg(fd, mm, 2, MSG_WAITFORONE, NULL);
		if (n <= 0)
			return n;
		/* The second message's bytes follow the first's in buf only
		 * when the first was full. */
		if (n == 2 && mm[0].msg_len < len / 2)
			memmove(buf + mm[0].msg_len, buf + len / 2, mm[1].msg_len);
		return (ssize_t)mm[0].msg_len + (n == 2 ? (ssize_t)mm[1].msg_len : 0);
	}
	return read(fd, buf, len);
}

static void say_ready(unsigned in, unsigned err, unsigned hup, unsigned rdhup)
{
	printf("ready%s%s%s%s\n", in ? " in" : "", err ? " err" : "", hup ? " hup" : "",
	       rdhup ? " rdhup" : "");
}

/* Waits as WAIT says; false when 10 s passed without an event. */
static bool wait_ready(const char *how, int fd, int ep)
{
	if (!strcmp(how, "select")) {
		struct timeval tv = { WAIT_MS / 1000, 0 };
		fd_set rd;

		FD_ZERO(&rd);
		FD_SET(fd, &rd);
		if (select(fd + 1, &rd, NULL, NULL, &tv) <= 0)
			return false;
		say_ready(FD_ISSET(fd, &rd), 0, 0, 0);
		return true;
	}
	if (ep >= 0) {
		struct epoll_event e;

		if (epoll_wait(ep, &e, 1, WAIT_MS) <= 0)
			return false;
		say_ready(e.events & EPOLLIN, e.events & EPOLLERR, e.events & EPOLLHUP,
			  e.events & EPOLLRDHUP);
		return true;
	}
	{
		struct pollfd p = { .fd = fd, .events = POLLIN | POLLRDHUP };

		if (poll(&p, 1, WAIT_MS) <= 0)
			return false;
		say_ready(p.revents & POLLIN, p.revents & POLLERR, p.revents & POLLHUP,
			  p.revents & POLLRDHUP);
		return true;
	}
}

int main(int argc, char **argv)
{
	struct sockaddr_in a;
	const char *stage, *wait, *how;
	static char buf[4096];
	int l, fd, ep = -1, eagain = 0;
	bool block;

	if (argc < 6 || argc > 7) {
		fprintf(stderr, "usage: stage_reader PORT STAGE WAIT READ GOT-FILE [fork]\n");
		return 64;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	a = loopback4(atoi(argv[1]));
	stage = argv[2];
	wait = argv[3];
	how = argv[4];
	block = !strcmp(wait, "block");
	if (!(got = fopen(argv[5], "w"))) {
		perror("stage_reader: GOT-FILE");
		return 2;
	}
	l = tcp_listen(&a, 0, 1);
	if (l < 0) {
		perror("stage_reader: bind/listen");
		return 2;
	}
	printf("listening\n");
	if ((fd = accept(l, NULL, NULL)) < 0) {
		perror("stage_reader: accept");
		return 2;
	}
	close(l);
	if (write(fd, "hello from stage_reader\n", 24) != 24) {
		printf("end: greeting: %s\n", strerror(errno));
		return 2;
	}
	if (argc == 7 && !strcmp(argv[6], "fork")) {
		pid_t pid = fork();
		int st;

		if (pid < 0) {
			perror("stage_reader: fork");
			return 2;
		}
		if (pid > 0) {
			close(fd);
			if (waitpid(pid, &st, 0) < 0)
				return 2;
			return WIFEXITED(st) ? WEXITSTATUS(st) : 2;
		}
	}
	/* Everything the peer sent in one segment is in once anything is. */
	{
		struct pollfd p = { .fd = fd, .events = POLLIN };

		if (poll(&p, 1, WAIT_MS) <= 0) {
			printf("end: timeout\n");
			return 3;
		}
	}
	if (!strcmp(stage, "fionread")) {
		int n = -1;

		if (ioctl(fd, FIONREAD, &n) < 0)
			end(-1);
		printf("fionread %d\n", n);
	} else if (!strcmp(stage, "peek")) {
		ssize_t n = recv(fd, buf, sizeof buf, MSG_PEEK);

		if (n <= 0)
			end(n);
		printf("peek %zd\n", n);
	}
	if (!block) {
		fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
		if (!strncmp(wait, "epoll", 5)) {
			struct epoll_event e = { .events = EPOLLIN | EPOLLRDHUP, .data.fd = fd };

			if (!strcmp(wait, "epollet"))
				e.events |= EPOLLET;
			ep = epoll_create1(0);
			if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e) < 0) {
				perror("stage_reader: epoll");
				return 2;
			}
		}
	}
	for (;;) {
		ssize_t n;

		if (!block && !wait_ready(wait, fd, ep)) {
			printf("end: timeout\n");
			return 3;
		}
		do {
			n = read_by(how, fd, buf, sizeof buf);
			if (n > 0) {
				printf("read %zd\n", n);
				fwrite(buf, 1, (size_t)n, got);
				fflush(got);
			}
		} while (n > 0 && (block || !strcmp(wait, "epollet")));
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) && !block) {
			if (++eagain > 100) {
				printf("end: spin\n");
				return 4;
			}
			continue;
		}
		if (n <= 0)
			end(n);
	}
}
