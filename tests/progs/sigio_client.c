/* sigio_client — signal-driven I/O as old daemons do it: O_ASYNC on the
 * socket, F_SETOWN to this process, F_SETSIG to a real-time signal kept
 * blocked, and a main loop woken by sigtimedwait() that dispatches on the
 * signal's si_band: POLLOUT, write what is left; POLLIN, read until
 * EAGAIN.  Correct on TCP (a kernel socket raises the signal when data
 * arrives and when a full send buffer has room again).
 *
 *   sigio_client IP PORT MODE N GOFILE [WAIT_S]
 *
 * Sends N bytes (one write(), then more at each POLLOUT signal until all
 * are taken), creates GOFILE after the first write (the server starts
 * reading then), and waits for the server's line "OK N".
 *   fcntl: fcntl(F_SETFL, O_ASYNC | O_NONBLOCK) after connect();
 *   ioctl: ioctl(FIOASYNC) after connect();
 *   early: fcntl(F_SETFL, O_ASYNC) before connect();
 *   fdopen: fdopen() after connect() (a FILE it never uses), then as fcntl.
 * Prints one line: "MODE: reply OK N" (exit 0); "MODE: CALL EINVAL" when
 * the call that sets O_ASYNC (early: connect) fails (exit 3); "MODE:
 * stalled ..." when no signal came for WAIT_S seconds (default 10, exit
 * 2).  Knows nothing about TLS. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static const char *mode;

static int failed(const char *call)
{
	printf("%s: %s %s\n", mode, call, errno == EINVAL ? "EINVAL" : strerror(errno));
	return 3;
}

int main(int argc, char **argv)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	int sig = SIGRTMIN + 1, fd, one = 1, sndbuf = 4096, wait_s;
	size_t n, sent = 0, got = 0;
	char *buf, reply[64], want[64];
	ssize_t r;
	sigset_t set;

	if (argc < 6)
		return 64;
	mode = argv[3];
	n = strtoul(argv[4], NULL, 10);
	wait_s = argc > 6 ? atoi(argv[6]) : 10;
	snprintf(want, sizeof want, "OK %zu\n", n);
	if (!(buf = malloc(n)))
		return 1;
	memset(buf, 'x', n);
	sa.sin_port = htons((unsigned short)atoi(argv[2]));
	inet_pton(AF_INET, argv[1], &sa.sin_addr);

	sigemptyset(&set);
	sigaddset(&set, sig);
	sigaddset(&set, SIGIO);         /* the real-time queue overflowed */
	sigprocmask(SIG_BLOCK, &set, NULL);

	fd = socket(AF_INET, SOCK_STREAM, 0);
	/* A small send buffer: one write() fills it. */
	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
	if (fcntl(fd, F_SETOWN, getpid()) < 0 || fcntl(fd, F_SETSIG, sig) < 0)
		return failed("F_SETOWN");
	if (!strcmp(mode, "early") && fcntl(fd, F_SETFL, O_ASYNC) < 0)
		return failed("fcntl");
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0)
		return failed("connect");
	if (!strcmp(mode, "fdopen") && !fdopen(fd, "r+"))
		return failed("fdopen");
	if (!strcmp(mode, "ioctl")) {
		if (fcntl(fd, F_SETFL, O_NONBLOCK) < 0)
			return failed("fcntl");
		if (ioctl(fd, FIOASYNC, &one) < 0)
			return failed("ioctl");
	} else if (fcntl(fd, F_SETFL, O_ASYNC | O_NONBLOCK) < 0) {
		return failed("fcntl");
	}

	r = write(fd, buf, n);
	if (r > 0)
		sent = (size_t)r;
	close(open(argv[5], O_WRONLY | O_CREAT, 0600));
	for (;;) {
		struct timespec ts = { wait_s, 0 };
		siginfo_t si;
		long band;
		int s = sigtimedwait(&set, &si, &ts);

		if (s < 0) {
			if (errno == EINTR)
				continue;
			printf("%s: stalled (no signal for %d s): wrote %zu of %zu, reply %zu bytes\n",
			       mode, wait_s, sent, n, got);
			return 2;
		}
		band = s == sig ? si.si_band : (POLLIN | POLLOUT);
		if ((band & POLLOUT) && sent < n) {
			while (sent < n && (r = write(fd, buf + sent, n - sent)) > 0)
				sent += (size_t)r;
		}
		if (band & (POLLIN | POLLHUP | POLLERR)) {
			while (got < sizeof reply - 1 && (r = read(fd, reply + got, sizeof reply - 1 - got)) > 0)
				got += (size_t)r;
			reply[got] = 0;
			if (r == 0 || memchr(reply, '\n', got))
				break;
		}
	}
	if (strcmp(reply, want)) {
		printf("%s: BAD reply \"%s\" (wrote %zu of %zu)\n", mode, reply, sent, n);
		return 1;
	}
	printf("%s: reply %s", mode, reply);
	close(fd);
	return 0;
}
