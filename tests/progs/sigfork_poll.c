/* sigfork_poll — fork() from a signal handler that interrupted the shim's
 * poll() on a TLS fd (tests/preload/fork.sh).
 *
 *   sigfork_poll PORT FORKS
 *
 * Listens on 127.0.0.1:PORT (the test's accept rule names it), connects
 * to itself and accepts: the accepted fd is a TLS server connection whose
 * handshake never starts.  The main thread polls it (timeout 0) in a loop
 * while a 3 ms SIGALRM timer interrupts it; the handler forks (FORKS
 * times in all) and the child returns from the handler into the
 * interrupted poll, then polls 1000 times more and exits 0 (3 on a poll
 * error other than EINTR).  A child whose poll never returns (the wake-up
 * eventfd it held closed under it: shim/wait.c) stays alive.
 *
 * Prints "forks N ok N stuck N other N" and exits 0 when all FORKS
 * children exited 0 within 30 s of the last fork; stuck ones are killed.
 * Bounded: at most 60 s of forking.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

#define MAX_FORKS 200

static volatile sig_atomic_t in_child, forking, nkids;
static volatile pid_t kids[MAX_FORKS];
static int want;

static void on_alarm(int sig)
{
	pid_t p;

	(void)sig;
	if (in_child || !forking || nkids >= want)
		return;
	p = fork();
	if (p == 0)
		in_child = 1;
	else if (p > 0)
		kids[nkids++] = p;
}

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + t.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	struct sigaction sa = { .sa_handler = on_alarm, .sa_flags = SA_RESTART };
	struct itimerval tick = { { 0, 3000 }, { 0, 3000 } }, off = { { 0, 0 }, { 0, 0 } };
	int l, cl, s, ok = 0, stuck = 0, other = 0, left;
	double t0, until;

	if (argc != 3 || (want = atoi(argv[2])) < 1 || want > MAX_FORKS) {
		fprintf(stderr, "usage: sigfork_poll PORT FORKS (1..%d)\n", MAX_FORKS);
		return 2;
	}
	a.sin_port = htons((unsigned short)atoi(argv[1]));
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	l = tcp_listen(&a, 0, 4);
	if (l < 0) {
		perror("sigfork_poll: listen");
		return 2;
	}
	cl = socket(AF_INET, SOCK_STREAM, 0);
	if (connect(cl, (struct sockaddr *)&a, sizeof a) < 0 || (s = accept(l, NULL, NULL)) < 0) {
		perror("sigfork_poll: connect/accept");
		return 2;
	}
	sigaction(SIGALRM, &sa, NULL);
	forking = 1;
	setitimer(ITIMER_REAL, &tick, NULL);
	t0 = now();
	for (int iters = 0;;) {
		struct pollfd p = { .fd = s, .events = POLLIN };
		int r = poll(&p, 1, 0);

		if (in_child) {
			if (r < 0 && errno != EINTR)
				_exit(3);
			if (++iters > 1000)
				_exit(0);
			continue;
		}
		if (nkids >= want || now() - t0 > 60)
			break;
	}
	setitimer(ITIMER_REAL, &off, NULL);
	forking = 0;
	/* Every child has 30 s to end (it needs milliseconds). */
	until = now() + 30;
	left = nkids;
	while (left > 0 && now() < until) {
		struct timespec pause = { 0, 10 * 1000 * 1000 };

		for (int i = 0; i < nkids; i++) {
			int st;

			if (kids[i] <= 0 || waitpid(kids[i], &st, WNOHANG) <= 0)
				continue;
			if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
				ok++;
			else
				other++;
			kids[i] = 0;
			left--;
		}
		if (left > 0)
			nanosleep(&pause, NULL);
	}
	for (int i = 0; i < nkids; i++)
		if (kids[i] > 0) {
			int st;

			stuck++;
			kill(kids[i], SIGKILL);
			waitpid(kids[i], &st, 0);
		}
	printf("forks %d ok %d stuck %d other %d\n", (int)nkids, ok, stuck, other);
	return nkids == want && ok == want ? 0 : 1;
}
