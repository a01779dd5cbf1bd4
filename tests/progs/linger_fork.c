/* linger_fork — what vsftpd does with a data connection, in one process:
 * a connection in use crosses a fork() (the library hands its session to
 * a pump), then the program sets SO_LINGER on it, fills it and closes it
 * (tests/preload/pump.sh, "linger_after_fork").
 *
 *   linger_fork PORT LINGER_S
 *
 * Connects to 127.0.0.1:PORT, writes "hello\n" (the session is live),
 * forks (the child exits at once, the parent reaps it), then sets
 * SO_LINGER with LINGER_S seconds and a 64 KiB send buffer, writes
 * without blocking until the socket is full (twice, 20 ms apart: the
 * kernel's buffers on both sides full) or 1 MiB is written, and closes.
 * Prints "wrote N" (N: the bytes after "hello\n") and "closed MS" (how
 * long close() took), and exits 0.
 * Knows nothing about TLS.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1000L + t.tv_nsec / 1000000L;
}

int main(int argc, char **argv)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct linger lg = { .l_onoff = 1 };
	static char buf[65536];
	long total = 0, t0;
	int s, st, sndbuf = 65536;
	pid_t pid;

	if (argc != 3) {
		fprintf(stderr, "usage: linger_fork PORT LINGER_S\n");
		return 64;
	}
	a.sin_port = htons((unsigned short)atoi(argv[1]));
	lg.l_linger = atoi(argv[2]);
	s = socket(AF_INET, SOCK_STREAM, 0);
	if (s < 0 || connect(s, (struct sockaddr *)&a, sizeof a) < 0 || write(s, "hello\n", 6) != 6) {
		perror("linger_fork: connect/write");
		return 1;
	}
	pid = fork();
	if (pid < 0) {
		perror("linger_fork: fork");
		return 1;
	}
	if (pid == 0)
		_exit(0);
	waitpid(pid, &st, 0);
	if (setsockopt(s, SOL_SOCKET, SO_LINGER, &lg, sizeof lg) < 0 ||
	    setsockopt(s, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf) < 0 ||
	    fcntl(s, F_SETFL, fcntl(s, F_GETFL) | O_NONBLOCK) < 0) {
		perror("linger_fork: setsockopt/fcntl");
		return 1;
	}
	memset(buf, 'x', sizeof buf);
	for (int round = 0; round < 2; round++) {
		ssize_t w = 0;

		while (total < (1L << 20) && (w = write(s, buf, sizeof buf)) > 0)
			total += w;
		if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
			perror("linger_fork: write");
			return 1;
		}
		usleep(20000);
	}
	printf("wrote %ld\n", total);
	fflush(stdout);
	/* Blocking again: a lingering close waits for the data. */
	fcntl(s, F_SETFL, fcntl(s, F_GETFL) & ~O_NONBLOCK);
	t0 = ms();
	if (close(s) < 0) {
		perror("linger_fork: close");
		return 1;
	}
	printf("closed %ld\n", ms() - t0);
	return 0;
}
