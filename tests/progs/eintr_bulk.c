/* eintr_bulk — blocking transfers in a signal storm.
 *
 *   eintr_bulk [-r] [-s] [-w FILE] server PORT BYTES
 *   eintr_bulk [-r] [-s] [-w FILE] client HOST PORT BYTES
 *
 * A SIGALRM interval timer fires every 250 microseconds for the whole life of
 * the process; its handler only counts.  It is installed without
 * SA_RESTART (-r: with it; -s: and a SIGSEGV handler without SA_RESTART
 * as crash reporters and sanitizers install, which must change nothing),
 * so a blocking call it interrupts returns -1
 * with EINTR (POSIX), or a short count when some data had moved; the
 * program retries, as a careful program does: connect() interrupted is
 * finished with poll(POLLOUT) and SO_ERROR, accept, read, write and poll
 * are called again.
 * The client connects and writes BYTES of a pseudo-random stream, then
 * reads BYTES back; the server accepts one connection, reads BYTES and
 * checks every byte against the same stream, then writes the stream
 * back; the client checks it.  -w FILE (on both sides; without -r): the
 * client creates FILE when a read of its returned EINTR, and the server
 * sends the stream back only once FILE exists (at most 20 s times
 * TLSSHIM_TIME_SCALE): the client's read waits meanwhile, with nothing to
 * come, so a storm that interrupts reads surely ends one with EINTR (else
 * how many did depended on scheduling: 3 in 8 MB one run, none another).
 * Each prints
 *     ok N bytes intact, eintr=K (read R, write W) signals=S
 * (K: calls that returned EINTR, R and W of them read and write) or "eintr_bulk: ..." on an error.
 * Exit status: 0 ok, 1 I/O error or corrupted data, 2 usage/setup.
 * Knows nothing about TLS.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

static volatile sig_atomic_t signals;
static long eintr, eintr_read, eintr_write;
static const char *cue;         /* -w FILE (the client's; the server's: wait_cue) */
static int cue_wait;            /* the server: waits for it, never makes it */

static void on_alarm(int sig)
{
	(void)sig;
	signals++;
}

static void on_segv(int sig)
{
	signal(sig, SIG_DFL);
	raise(sig);
}

static uint8_t stream_byte(uint64_t i)
{
	uint64_t x = (i / 8 + 1) * 0x9e3779b97f4a7c15ull;
	x ^= x >> 29;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 32;
	return (uint8_t)(x >> ((i % 8) * 8));
}

static int send_stream(int fd, uint64_t n)
{
	static uint8_t buf[65536];
	uint64_t off = 0;

	while (off < n) {
		size_t len = n - off < sizeof buf ? (size_t)(n - off) : sizeof buf;
		for (size_t i = 0; i < len; i++)
			buf[i] = stream_byte(off + i);
		size_t done = 0;
		while (done < len) {
			ssize_t w = write(fd, buf + done, len - done);
			if (w < 0 && errno == EINTR) {
				eintr++;
				eintr_write++;
				continue;
			}
			if (w <= 0) {
				fprintf(stderr, "eintr_bulk: write: %s\n", w < 0 ? strerror(errno) : "returned 0");
				return -1;
			}
			done += (size_t)w;
		}
		off += len;
	}
	return 0;
}

static int recv_stream(int fd, uint64_t n)
{
	static uint8_t buf[65536];
	uint64_t off = 0;

	while (off < n) {
		size_t want = n - off < sizeof buf ? (size_t)(n - off) : sizeof buf;
		ssize_t r = read(fd, buf, want);
		if (r < 0 && errno == EINTR) {
			eintr++;
			if (!eintr_read++ && cue && !cue_wait) {
				int f = open(cue, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);

				if (f >= 0)
					close(f);
			}
			continue;
		}
		if (r <= 0) {
			fprintf(stderr, "eintr_bulk: read: %s after %llu bytes\n",
				r < 0 ? strerror(errno) : "end of data", (unsigned long long)off);
			return -1;
		}
		for (ssize_t i = 0; i < r; i++)
			if (buf[i] != stream_byte(off + (uint64_t)i)) {
				fprintf(stderr, "eintr_bulk: byte %llu corrupted\n",
					(unsigned long long)(off + (uint64_t)i));
				return -1;
			}
		off += (uint64_t)r;
	}
	return 0;
}

/* -w: until the client's read said EINTR (FILE exists), bounded. */
static void wait_cue(void)
{
	const char *ts = getenv("TLSSHIM_TIME_SCALE");
	struct timespec now, end, ms = { 0, 1000000 };

	clock_gettime(CLOCK_MONOTONIC, &end);
	end.tv_sec += 20 * (ts && atoi(ts) > 0 ? atoi(ts) : 1);
	for (;;) {
		if (access(cue, F_OK) == 0)
			return;
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec > end.tv_sec || (now.tv_sec == end.tv_sec && now.tv_nsec >= end.tv_nsec))
			break;
		nanosleep(&ms, NULL);   /* (EINTR at once, often: looked at again) */
	}
	fprintf(stderr, "eintr_bulk: no EINTR from the client's read in time: going on\n");
}

/* connect() interrupted: the connection goes on; wait for it. */
static int finish_connect(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLOUT };
	int err = 0;
	socklen_t len = sizeof err;

	for (;;) {
		int r = poll(&p, 1, -1);
		if (r < 0 && errno == EINTR) {
			eintr++;
			continue;
		}
		if (r < 0)
			return -1;
		break;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		return -1;
	if (err) {
		errno = err;
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct sigaction sa;
	struct itimerval it = { { 0, 250 }, { 0, 250 } };
	int restart = 0, segv = 0, fd;
	uint64_t n;

	while (argc > 1 && (!strcmp(argv[1], "-r") || !strcmp(argv[1], "-s") || !strcmp(argv[1], "-w"))) {
		if (!strcmp(argv[1], "-r"))
			restart = 1;
		else if (!strcmp(argv[1], "-s"))
			segv = 1;
		else if (argc > 2) {
			cue = argv[2];
			argv++;
			argc--;
		}
		argv++;
		argc--;
	}
	if (argc < 4 || (strcmp(argv[1], "server") && strcmp(argv[1], "client")) ||
	    (!strcmp(argv[1], "client") && argc < 5)) {
		fprintf(stderr, "usage: eintr_bulk [-r] [-s] [-w FILE] server PORT BYTES | client HOST PORT BYTES\n");
		return 2;
	}
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_alarm;
	sa.sa_flags = restart ? SA_RESTART : 0;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGALRM, &sa, NULL);
	if (segv) {
		struct sigaction crash = { .sa_handler = on_segv };
		sigemptyset(&crash.sa_mask);
		sigaction(SIGSEGV, &crash, NULL);
	}

	if (!strcmp(argv[1], "server")) {
		struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
					 .sin_port = htons((unsigned short)atoi(argv[2])) };
		int ls = tcp_listen(&a, 0, 4);

		n = strtoull(argv[3], NULL, 10);
		cue_wait = 1;
		if (ls < 0) {
			perror("eintr_bulk: bind/listen");
			return 2;
		}
		printf("listening\n");
		fflush(stdout);
		setitimer(ITIMER_REAL, &it, NULL);
		while ((fd = accept(ls, NULL, NULL)) < 0) {
			if (errno != EINTR) {
				perror("eintr_bulk: accept");
				return 1;
			}
			eintr++;
		}
		if (recv_stream(fd, n) < 0)
			return 1;
		if (cue)
			wait_cue();
		if (send_stream(fd, n) < 0)
			return 1;
	} else {
		struct addrinfo hints = { .ai_family = AF_INET, .ai_socktype = SOCK_STREAM }, *res;

		n = strtoull(argv[4], NULL, 10);
		if (getaddrinfo(argv[2], argv[3], &hints, &res) != 0) {
			fprintf(stderr, "eintr_bulk: cannot resolve %s\n", argv[2]);
			return 2;
		}
		fd = socket(AF_INET, SOCK_STREAM, 0);
		setitimer(ITIMER_REAL, &it, NULL);
		if (connect(fd, res->ai_addr, res->ai_addrlen) < 0) {
			if (errno != EINTR || (eintr++, finish_connect(fd) < 0)) {
				perror("eintr_bulk: connect");
				return 1;
			}
		}
		freeaddrinfo(res);
		if (send_stream(fd, n) < 0 || recv_stream(fd, n) < 0)
			return 1;
	}
	printf("ok %llu bytes intact, eintr=%ld (read %ld, write %ld) signals=%ld\n", (unsigned long long)n,
	       eintr, eintr_read, eintr_write, (long)signals);
	fflush(stdout);
	/* Close under the storm too.  Never retried: on Linux the fd is gone
	 * even when close() says EINTR. */
	if (close(fd) < 0 && errno != EINTR) {
		perror("eintr_bulk: close");
		return 1;
	}
	return 0;
}
