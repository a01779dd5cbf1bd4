/*
 * hold — a plain (no TLS) epoll server for the memory benchmark.
 *
 *   hold PORT
 *
 * One thread, one epoll instance, non-blocking sockets (the usual shape of
 * a server that holds many idle connections): accept every connection on
 * 127.0.0.1:PORT, and on each echo back whatever it reads, for as long as
 * the connection lasts; close it on EOF or an error. It ends when killed,
 * or by itself after HOLD_TIMEOUT seconds (default 300).
 *
 * Descriptors: it raises RLIMIT_NOFILE, soft and hard, to HOLD_NOFILE
 * (default /proc/sys/fs/nr_open) when it may (CAP_SYS_RESOURCE), else the
 * soft limit to the hard one; it prints "hold: RLIMIT_NOFILE N" on stderr.
 * When accept() runs out of descriptors it says so once ("hold: accept:
 * ... after N connections") and stops accepting; the connections it holds
 * are still served.
 *
 * Run under the shim (an accept rule on PORT) it is the "legacy server"
 * whose memory per idle TLS connection the benchmark measures; behind
 * stunnel it is stunnel's backend.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

/* The descriptor limit, raised as far as allowed; returns the soft limit. */
static rlim_t raise_nofile(const char *who)
{
	struct rlimit rl;
	rlim_t want = 0;
	const char *e = getenv("HOLD_NOFILE");
	FILE *f;

	if (e && *e) {
		want = (rlim_t)strtoull(e, NULL, 10);
	} else if ((f = fopen("/proc/sys/fs/nr_open", "r"))) {
		unsigned long long v;
		if (fscanf(f, "%llu", &v) == 1)
			want = (rlim_t)v;
		fclose(f);
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return 0;
	if (want > rl.rlim_max) {   /* the hard limit too: CAP_SYS_RESOURCE */
		struct rlimit up = { want, want };
		if (setrlimit(RLIMIT_NOFILE, &up) == 0)
			rl = up;
	}
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	getrlimit(RLIMIT_NOFILE, &rl);
	fprintf(stderr, "%s: RLIMIT_NOFILE %llu\n", who, (unsigned long long)rl.rlim_cur);
	return rl.rlim_cur;
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: hold PORT\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	raise_nofile("hold");
	const char *t = getenv("HOLD_TIMEOUT");
	alarm(t ? (unsigned)atoi(t) : 300);

	int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	int one = 1;
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	struct sockaddr_in sa = { .sin_family = AF_INET,
	                          .sin_port = htons((unsigned short)atoi(argv[1])),
	                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(lfd, 4096) < 0) {
		perror("hold: listen");
		return 1;
	}
	int ep = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event lev = { .events = EPOLLIN, .data.fd = lfd };
	if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &lev) < 0) {
		perror("hold: epoll");
		return 1;
	}
	long held = 0;
	for (;;) {
		struct epoll_event evs[256];
		int n = epoll_wait(ep, evs, 256, -1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			perror("hold: epoll_wait");
			return 1;
		}
		for (int i = 0; i < n; i++) {
			int fd = evs[i].data.fd;
			if (fd == lfd) {
				for (int k = 0; k < 64; k++) {
					int c = accept4(lfd, NULL, NULL, SOCK_NONBLOCK);
					if (c < 0) {
						if (errno == EMFILE || errno == ENFILE || errno == ENOMEM) {
							fprintf(stderr, "hold: accept: %s after %ld connections;"
								" no more accepted\n", strerror(errno), held);
							epoll_ctl(ep, EPOLL_CTL_DEL, lfd, NULL);
						} else if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED) {
							perror("hold: accept");
							return 1;
						}
						break;
					}
					/* The echo must not wait (Nagle) for the ACK of what went
					 * before (TLS 1.3 session tickets under the shim), which
					 * the client delays by 40 ms. */
					setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
					struct epoll_event ev = { .events = EPOLLIN, .data.fd = c };
					if (epoll_ctl(ep, EPOLL_CTL_ADD, c, &ev) < 0) {
						fprintf(stderr, "hold: epoll_ctl: %s after %ld connections\n",
							strerror(errno), held);
						close(c);
						continue;
					}
					held++;
				}
				continue;
			}
			char buf[512];
			ssize_t r = read(fd, buf, sizeof buf);
			if (r < 0 && (errno == EAGAIN || errno == EINTR))
				continue;     /* under the shim: a handshake record, no data yet */
			if (r <= 0 || write(fd, buf, (size_t)r) != r) {
				close(fd);    /* EOF, an error, or a short echo */
				held--;
			}
		}
	}
}
