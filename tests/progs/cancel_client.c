/* cancel_client — threads cancelled while they use a socket
 * (pthread_cancel), as a thread pool's shutdown does.
 *
 *   cancel_client HOST PORT
 *
 * The server echoes what it reads.  Two parts:
 *
 * wait: a thread blocks in read() on a connection nothing more arrives on;
 *   it is cancelled there (read() is a cancellation point), and must be.
 *   An eventfd that went away with the thread (from /proc/self/fd: the
 *   TLS library's wake-up for that thread) frees its number; the program
 *   puts a pipe of its own under it and forks (a session in use is then
 *   handed over to a helper process, and the threads registered as
 *   waiting on it are woken through their eventfds).  Nothing may arrive
 *   in the pipe.  Prints "wait: cancelled, N bytes in the reused descriptor",
 *   or "wait: cancelled, no descriptor went away" when none did.  The
 *   library keeps the wake-ups of ended threads for later ones, up to a
 *   number (16), and closes only those beyond: so HELPERS more threads
 *   block in read() on the same connection after the one under test, and
 *   are cancelled before it is.
 *
 * busy: 50 times, a thread echoes 32-byte messages in a loop on a new
 *   connection and is cancelled after at least 5 round trips, wherever it
 *   is; then this thread must still be able to use the connection (its
 *   "after" comes back, behind what was left of the loop's echoes).
 *   Prints "busy: 50 of 50".  alarm(60) bounds the whole.
 *
 * Knows nothing about TLS.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fdcount.h"

static struct addrinfo *res;
static int fd;
static _Atomic int trips;

static int dial(void)
{
	int s = socket(res->ai_family, SOCK_STREAM, 0);

	if (s < 0 || connect(s, res->ai_addr, res->ai_addrlen) < 0) {
		perror("cancel_client: connect");
		exit(2);
	}
	return s;
}

static int trip(int s, const char *msg)
{
	char b[64];
	size_t got = 0, n = strlen(msg);

	if (write(s, msg, n) != (ssize_t)n)
		return -1;
	while (got < n) {
		ssize_t r = read(s, b + got, n - got);
		if (r <= 0)
			return -1;
		got += (size_t)r;
	}
	return memcmp(b, msg, n) == 0 ? 0 : -1;
}

/* After a cancelled echo loop: "after\n" must come back behind whatever
 * echo of the loop's was still on its way. */
static int trip_after(int s)
{
	char b[256];
	size_t got = 0;

	if (write(s, "after\n", 6) != 6)
		return -1;
	while (got < sizeof b) {
		ssize_t r = read(s, b + got, sizeof b - got);
		if (r <= 0)
			return -1;
		got += (size_t)r;
		if (got >= 6 && memcmp(b + got - 6, "after\n", 6) == 0)
			return 0;
	}
	return -1;
}

/* The threads that fill the library's store of ended threads' wake-ups:
 * more than it keeps (16). */
#define HELPERS 20

struct reader {
	int fd;
	_Atomic pid_t tid;
};

static void *blocked_reader(void *a)
{
	struct reader *r = a;
	char b[64];

	atomic_store(&r->tid, (pid_t)syscall(SYS_gettid));
	(void)read(r->fd, b, sizeof b);
	return NULL;
}

static void *busy(void *a)
{
	(void)a;
	for (;;) {
		if (trip(fd, "0123456789abcdef0123456789abcde\n") < 0)
			return NULL;
		atomic_fetch_add(&trips, 1);
	}
}

/* The eventfds in /proc/self/fd, at most max of them. */
static int eventfds(int *out, int max)
{
	int n;

	(void)fds_scan(&n, out, max);
	return n < max ? n : max;
}

static bool in_poll(pid_t t)
{
	char p[80], s[64] = "";
	FILE *f;

	snprintf(p, sizeof p, "/proc/self/task/%d/syscall", (int)t);
	if (!(f = fopen(p, "r")))
		return false;
	if (!fgets(s, sizeof s, f))
		s[0] = 0;
	fclose(f);
	/* (not recvfrom: the library's look for a record before it waits) */
	return atol(s) == SYS_ppoll || atol(s) == SYS_poll || atol(s) == SYS_read;
}

/* Start a thread blocked in read() on r->fd, and wait until it is in
 * the system call (at most 30 s). */
static void start_reader(pthread_t *t, struct reader *r)
{
	pthread_create(t, NULL, blocked_reader, r);
	for (int i = 0; i < 3000 && !(atomic_load(&r->tid) && in_poll(atomic_load(&r->tid))); i++)
		usleep(10000);
}

int main(int argc, char **argv)
{
	struct addrinfo h = { .ai_socktype = SOCK_STREAM };
	int before[64], after[64], nb, na, gone = -1, ok = 0;
	static struct reader under, helper[HELPERS];
	pthread_t t, ht[HELPERS];
	void *rv;

	if (argc != 3 || getaddrinfo(argv[1], argv[2], &h, &res) != 0)
		return 64;
	alarm(60);

	/* wait: the thread under test first, then the helpers, cancelled
	 * before it, so that its wake-up is one too many to be kept */
	fd = dial();
	if (trip(fd, "hello\n") < 0)
		return 3;
	under.fd = fd;
	start_reader(&t, &under);
	for (int i = 0; i < HELPERS; i++) {
		helper[i].fd = fd;
		start_reader(&ht[i], &helper[i]);
	}
	for (int i = 0; i < HELPERS; i++) {
		pthread_cancel(ht[i]);
		pthread_join(ht[i], NULL);
	}
	nb = eventfds(before, 64);
	pthread_cancel(t);
	pthread_join(t, &rv);
	na = eventfds(after, 64);
	for (int i = 0; i < nb; i++) {
		int kept = 0;
		for (int j = 0; j < na; j++)
			kept |= before[i] == after[j];
		if (!kept)
			gone = before[i];
	}
	if (rv != PTHREAD_CANCELED) {
		printf("wait: not cancelled\n");
	} else {
		ssize_t k = 0;
		if (gone >= 0) {
			int p[2];
			char b[16];
			pid_t c;
			if (pipe(p) < 0 || dup2(p[1], gone) < 0)
				return 4;
			close(p[1]);
			fcntl(p[0], F_SETFL, O_NONBLOCK);
			if ((c = fork()) == 0)
				_exit(0);
			waitpid(c, NULL, 0);
			k = read(p[0], b, sizeof b);
			if (k < 0)
				k = 0;
			close(gone);
			close(p[0]);
		}
		if (gone >= 0)
			printf("wait: cancelled, %zd bytes in the reused descriptor\n", k);
		else
			printf("wait: cancelled, no descriptor went away\n");
	}
	fflush(stdout);
	close(fd);

	/* busy */
	for (int i = 0; i < 50; i++) {
		fd = dial();
		atomic_store(&trips, 0);
		pthread_create(&t, NULL, busy, NULL);
		for (int j = 0; j < 3000 && atomic_load(&trips) < 5 + i; j++)
			usleep(1000);
		pthread_cancel(t);
		pthread_join(t, &rv);
		if (trip_after(fd) == 0)
			ok++;
		close(fd);
	}
	printf("busy: %d of 50\n", ok);
	return 0;
}
