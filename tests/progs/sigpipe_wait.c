/* sigpipe_wait PORT MODE — a blocking write that finds the peer gone
 * while it waits for room (tests/preload/sigpipe_wait.sh).
 *
 * Connects to 127.0.0.1:PORT (a TLS rule under the shim; the peer never
 * reads), fills the socket with non-blocking writes until EAGAIN (the
 * library then holds a record of its own), prints "blocking" and makes
 * one blocking write of 16 KiB: it waits for room, and the peer's reset
 * ends it; then the same call once more (the connection has failed).
 * Full means for good: the peer's window is 0 (TCP_INFO), so
 * no acknowledgement can make room before the reset (an EAGAIN alone
 * can be one that an acknowledgement in flight ends).  Then prints "write R ERRNO-NAME sigpipe N" (N: SIGPIPE
 * signals the handler saw).
 *   die       SIGPIPE's default action: the process dies on that write
 *   handler   a counting handler: EPIPE, and the signal, each time
 *   nosignal  send(MSG_NOSIGNAL), with the handler: EPIPE, no signal
 *   reset     as handler, against a peer that resets without a FIN:
 *             ECONNRESET, no signal; then EPIPE and the signal
 *   writev    with the handler, no fill: one writev of 1 MiB (64
 *             buffers) that waits once the socket is full: the count
 *             sent, no signal; the next write: EPIPE and the signal
 * The kernel's TCP does the same (tcp_sendmsg: sk_stream_error, only
 * when the call sent nothing).
 */
#include <errno.h>
#include <linux/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <stddef.h>
#include <string.h>
#include <sys/uio.h>

#include "common.h"

static volatile sig_atomic_t pipes;

static void on_pipe(int sig)
{
	(void)sig;
	pipes++;
}

/* The window the peer advertises (TCP_INFO), or -1. */
static long peer_window(int fd)
{
	struct tcp_info ti;
	socklen_t l = sizeof ti;

	memset(&ti, 0, sizeof ti);
	if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &l) < 0 ||
	    l < offsetof(struct tcp_info, tcpi_snd_wnd) + sizeof ti.tcpi_snd_wnd)
		return -1;
	return ti.tcpi_snd_wnd;
}

int main(int argc, char **argv)
{
	static char buf[16384];
	struct sockaddr_in a;
	int fd, small = 4096, i;
	const char *mode;
	ssize_t r;

	if (argc != 3) {
		fprintf(stderr, "usage: sigpipe_wait PORT die|handler|nosignal|reset|writev\n");
		return 2;
	}
	mode = argv[2];
	if (strcmp(mode, "die") != 0) {
		struct sigaction sa = { .sa_handler = on_pipe };

		sigemptyset(&sa.sa_mask);
		sigaction(SIGPIPE, &sa, NULL);
	}
	a = loopback4(atoi(argv[1]));
	memset(buf, 'x', sizeof buf);
	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof small) < 0 ||
	    connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
		printf("setup: %s\n", strerror(errno));
		return 1;
	}
	if (strcmp(mode, "writev") == 0) {
		struct iovec v[64];

		for (i = 0; i < 64; i++)
			v[i] = (struct iovec){ buf, sizeof buf };
		printf("blocking\n");
		fflush(stdout);
		r = writev(fd, v, 64);
		printf("writev %s sigpipe %d\n", r > 0 && r < 64 * (ssize_t)sizeof buf ? "part" :
		       r < 0 ? strerrorname_np(errno) : "all", (int)pipes);
		r = write(fd, buf, sizeof buf);
		printf("write %zd %s sigpipe %d\n", r, r < 0 ? strerrorname_np(errno) : "-", (int)pipes);
		return 0;
	}
	/* The handshake, then full: the kernel's buffer and the library's
	 * out-buffer (bounded: the peer's window closes long before). */
	for (i = 0; i < 10000; i++) {
		struct pollfd p = { .fd = fd, .events = POLLOUT };

		if (send(fd, buf, sizeof buf, i ? MSG_DONTWAIT : 0) >= 0)
			continue;
		if (errno != EAGAIN || peer_window(fd) == 0)
			break;
		(void)poll(&p, 1, 100);     /* acknowledgements make room */
	}
	if (i == 10000 || errno != EAGAIN) {
		printf("fill: %d writes, %s, window %ld\n", i, strerror(errno), peer_window(fd));
		return 1;
	}
	printf("blocking\n");
	fflush(stdout);
	for (i = 0; i < 2; i++) {
		if (strcmp(mode, "nosignal") == 0)
			r = send(fd, buf, sizeof buf, MSG_NOSIGNAL);
		else
			r = write(fd, buf, sizeof buf);
		printf("write %zd %s sigpipe %d\n", r, r < 0 ? strerrorname_np(errno) : "-", (int)pipes);
	}
	return 0;
}
