/* echo_server — a plain, blocking, iterative echo server of the old school.
 * It knows nothing about TLS; tlsshim's tests run it under the shim.
 *
 *   echo_server [-6] [-1] [-a] [-c] [-R] [-m|-v|-M|-f] PORT  TCP, 127.0.0.1 (-6: ::1)
 *   echo_server [-1] [-m|-v|-M] -U PATH          AF_UNIX stream socket
 *   echo_server -d PORT                          UDP datagram echo
 *
 * For every accepted connection: read, write back, until read returns 0
 * (close, next connection) or -1 (print "echo_server: read: <strerror>" on
 * standard error, close, next connection).
 *   -1  serve one connection, then exit: 0 if it ended with EOF, 1 if not.
 *   -c  one answer per connection: after echoing what the first read
 *       returned, close (a one-shot responder, for clients such as curl
 *       that wait for the server to close).
 *   -m  recv()/send()   -v  readv()/writev()   -M  recvmsg()/sendmsg()
 *   -f  recvfrom()/sendto()              (default: read()/write())
 *   -a  accept4(SOCK_CLOEXEC) instead of accept()
 *   -R  close each connection abortively: SO_LINGER {1, 0} first (TCP
 *       then sends a RST, as a proxy does to say a reply is cut short);
 *       with TCP_NODELAY, so that Nagle holds back no answer that the
 *       abortive close would then throw away
 *   -L  as -R, but the option is set on the listening socket (accept()
 *       gives it to every connection), none on the connection
 *   -S  as -R, but a child process accepts the connection, sets the
 *       option, passes the socket with SCM_RIGHTS and exits; this process
 *       serves and closes it (implies -1)
 *   -E  as -L, but this process then execs itself with -I: the new image
 *       accepts on the inherited listening socket (implies -1)
 *   -I FD  accept on FD, a listening socket inherited (set up nothing;
 *       TCP_NODELAY as -R)
 *   -F  with -R or -L: fork() before each close (a child that exits at
 *       once, waited for): under tlsshim the live session goes to a pump
 *       process, and this process closes its end of the pump's channel
 *   -G  as -R -F, but SO_LINGER {1, 0} is set after the fork, on what is
 *       by then the program's end of the pump's channel
 * Standard output: "listening on ADDR port N" once bound (PORT 0: any port),
 * then "accepted" for each connection accept() returned, "closed" when a
 * connection ended with EOF.  Everything is flushed at once.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include "io_mode.h"

static enum io_mode mode = IO_RW;
static int one_answer;

/* Echo until EOF (return 0) or error (return -1, message printed). */
static int serve(int fd)
{
	char buf[16384];

	for (;;) {
		ssize_t n = io_read(mode, fd, buf, sizeof buf);
		if (n == 0)
			return 0;
		if (n < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "echo_server: read: %s\n", strerror(errno));
			return -1;
		}
		for (ssize_t off = 0; off < n;) {
			ssize_t w = io_write(mode, fd, buf + off, (size_t)(n - off));
			if (w < 0) {
				if (errno == EINTR)
					continue;
				fprintf(stderr, "echo_server: write: %s\n", strerror(errno));
				return -1;
			}
			off += w;
		}
		if (one_answer)
			return 0;
	}
}

static int serve_udp(int fd)
{
	char buf[65536];

	for (;;) {
		struct sockaddr_storage from;
		socklen_t fromlen = sizeof from;
		ssize_t n = recvfrom(fd, buf, sizeof buf, 0, (struct sockaddr *)&from, &fromlen);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "echo_server: recvfrom: %s\n", strerror(errno));
			return 1;
		}
		if (sendto(fd, buf, (size_t)n, 0, (struct sockaddr *)&from, fromlen) < 0)
			fprintf(stderr, "echo_server: sendto: %s\n", strerror(errno));
	}
}

/* SO_LINGER {1, 0}: the close sends a RST. */
static void set_abortive(int fd)
{
	struct linger l = { .l_onoff = 1, .l_linger = 0 };

	if (setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l) < 0)
		perror("echo_server: SO_LINGER");
}

/* -S: a child accepts on lfd, sets the option and passes the socket;
 * the connection received, or -1. */
static int accept_from_child(int lfd)
{
	char b = 0, ctl[CMSG_SPACE(sizeof(int))];
	struct iovec iov = { .iov_base = &b, .iov_len = 1 };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl, .msg_controllen = sizeof ctl };
	struct cmsghdr *h;
	int sp[2], c = -1;
	pid_t pid;

	memset(ctl, 0, sizeof ctl);
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sp) < 0 || (pid = fork()) < 0) {
		perror("echo_server: socketpair/fork");
		return -1;
	}
	if (pid == 0) {
		int a = accept(lfd, NULL, NULL);

		if (a < 0)
			_exit(1);
		set_abortive(a);
		h = CMSG_FIRSTHDR(&m);
		h->cmsg_level = SOL_SOCKET;
		h->cmsg_type = SCM_RIGHTS;
		h->cmsg_len = CMSG_LEN(sizeof a);
		memcpy(CMSG_DATA(h), &a, sizeof a);
		_exit(sendmsg(sp[0], &m, 0) == 1 ? 0 : 1);
	}
	close(sp[0]);
	if (recvmsg(sp[1], &m, 0) == 1 && (h = CMSG_FIRSTHDR(&m)) && h->cmsg_type == SCM_RIGHTS)
		memcpy(&c, CMSG_DATA(h), sizeof c);
	close(sp[1]);
	waitpid(pid, NULL, 0);
	return c;
}

static void usage(void)
{
	fprintf(stderr, "usage: echo_server [-6] [-1] [-a] [-c] [-R|-L|-S|-E] [-F|-G] [-m|-v|-M|-f] PORT\n"
			"       echo_server [-c] -I FD\n"
			"       echo_server [-1] [-m|-v|-M] -U PATH\n"
			"       echo_server -d [-6] PORT\n");
	exit(2);
}

int main(int argc, char **argv)
{
	int v6 = 0, once = 0, udp = 0, use_accept4 = 0, abortive = 0, opt, fd, one = 1, inherited = -1;
	int fork_first = 0;
	const char *unix_path = NULL;
	struct sockaddr_storage ss;
	socklen_t sslen;
	char addrtxt[INET6_ADDRSTRLEN + 1] = "";
	unsigned port = 0;

	while ((opt = getopt(argc, argv, "61acfmvMRLSEFGI:U:d")) != -1) {
		switch (opt) {
		case '6': v6 = 1; break;
		case '1': once = 1; break;
		case 'a': use_accept4 = 1; break;
		case 'c': one_answer = 1; break;
		case 'f': mode = IO_FROMTO; break;
		case 'm': mode = IO_RECVSEND; break;
		case 'v': mode = IO_VEC; break;
		case 'M': mode = IO_MSG; break;
		case 'R': abortive = 1; break;
		case 'L': abortive = 'L'; break;
		case 'S': abortive = 'S'; once = 1; break;
		case 'E': abortive = 'E'; once = 1; break;
		case 'F': fork_first = 1; break;
		case 'G': fork_first = 'G'; abortive = 'G'; break;
		case 'I': inherited = atoi(optarg); abortive = 'I'; break;
		case 'U': unix_path = optarg; break;
		case 'd': udp = 1; break;
		default: usage();
		}
	}
	signal(SIGPIPE, SIG_IGN);
	if (inherited >= 0) {
		fd = inherited;
		goto serve_loop;
	}
	if (unix_path ? optind != argc : optind != argc - 1)
		usage();

	memset(&ss, 0, sizeof ss);
	if (unix_path) {
		struct sockaddr_un *sun = (struct sockaddr_un *)&ss;
		if (strlen(unix_path) >= sizeof sun->sun_path)
			usage();
		sun->sun_family = AF_UNIX;
		strcpy(sun->sun_path, unix_path);
		sslen = sizeof *sun;
		unlink(unix_path);
	} else {
		char *end;
		unsigned long p = strtoul(argv[optind], &end, 10);
		if (*end || p > 65535)
			usage();
		if (v6) {
			struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
			s6->sin6_family = AF_INET6;
			s6->sin6_addr = in6addr_loopback;
			s6->sin6_port = htons((unsigned short)p);
			sslen = sizeof *s6;
		} else {
			struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
			s4->sin_family = AF_INET;
			s4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
			s4->sin_port = htons((unsigned short)p);
			sslen = sizeof *s4;
		}
	}

	fd = socket(ss.ss_family, udp ? SOCK_DGRAM : SOCK_STREAM, 0);
	if (fd < 0) {
		perror("echo_server: socket");
		return 1;
	}
	if (!unix_path)
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (bind(fd, (struct sockaddr *)&ss, sslen) < 0) {
		perror("echo_server: bind");
		return 1;
	}
	if (abortive == 'L' || abortive == 'E')
		set_abortive(fd);
	if (!udp && listen(fd, 16) < 0) {
		perror("echo_server: listen");
		return 1;
	}
	if (unix_path) {
		printf("listening on %s\n", unix_path);
	} else {
		sslen = sizeof ss;
		getsockname(fd, (struct sockaddr *)&ss, &sslen);
		if (ss.ss_family == AF_INET6) {
			inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, addrtxt, sizeof addrtxt);
			port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
		} else {
			inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, addrtxt, sizeof addrtxt);
			port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
		}
		printf("listening on %s port %u\n", addrtxt, port);
	}
	fflush(stdout);

	if (udp)
		return serve_udp(fd);
	if (abortive == 'E') {
		char num[16];

		snprintf(num, sizeof num, "%d", fd);
		execl(argv[0], argv[0], one_answer ? "-c1" : "-1", "-I", num, (char *)NULL);
		perror("echo_server: exec");
		return 1;
	}
serve_loop:

	for (;;) {
		int c = abortive == 'S' ? accept_from_child(fd) :
			use_accept4 ? accept4(fd, NULL, NULL, SOCK_CLOEXEC) : accept(fd, NULL, NULL);
		int r;
		if (c < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			perror("echo_server: accept");
			return 1;
		}
		printf("accepted\n");
		fflush(stdout);
		if (abortive)
			setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		r = serve(c);
		if (r == 0) {
			printf("closed\n");
			fflush(stdout);
		}
		if (abortive == 1)
			set_abortive(c);
		if (fork_first) {
			pid_t kid = fork();

			if (kid == 0)
				_exit(0);
			if (kid < 0 || waitpid(kid, NULL, 0) != kid) {
				perror("echo_server: fork");
				return 1;
			}
		}
		if (fork_first == 'G')
			set_abortive(c);
		close(c);
		if (once)
			return r == 0 ? 0 : 1;
	}
}
