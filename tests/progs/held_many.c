/* tests/progs/held_many.c — many threads at once in a connect() that the
 * library makes on a copy of the number held for the call (shim/connect.c,
 * again(); shim/own.c, shim_own_hold), then one more such call.
 *
 *   held_many PORT_STUCK PORT_OK THREADS
 *
 * PORT_STUCK: a listener made here with a backlog of 0 and one
 * connection waiting in it, so that the kernel drops every further SYN
 * to it: a blocking connect() there waits (SYN_SENT).  A blocking socket
 * S connects there (thread 0), and THREADS threads call connect() on S
 * again, as a program does after an EINTR: the kernel answers EALREADY
 * and, S being blocking, waits for the connection with them.  Once every
 * thread waits in connect() or has returned, a non-blocking socket
 * connects to PORT_OK (a listener made here too), and connect() again on
 * it once connected must say EISCONN.  The policy names both ports
 * (tls rules), so each call after the first is the library's again().
 *
 * With a fourth argument, fork or _Fork: once the threads wait, a child
 * made so prints "child copies N", its descriptors of S (its own S: 1;
 * the copies the library held for the waiting threads' calls are not the
 * child's).  With closefrom: see closed_around().
 *
 * Prints "returned N" (threads whose connect() on S returned while S
 * was still connecting, with their errors: "EMFILE" etc.) and "again
 * ERR" (the errno name of the last call, "0" for success), then exits at
 * once (_exit: the waiting threads go with the process).  Every wait is
 * bounded: S has SO_SNDTIMEO 25 s; the look for waiting threads 20 s. */
#include <fcntl.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdlib.h>
#include <dirent.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <sys/time.h>
#include <time.h>

#include "common.h"

#define MAXT 256

static struct sockaddr_in stuck;
static int s;
static _Atomic int tids[MAXT + 1], errs[MAXT + 1], done[MAXT + 1];

static void *caller(void *arg)
{
	int i = (int)(intptr_t)arg;

	tids[i] = (int)syscall(SYS_gettid);
	errs[i] = connect(s, (struct sockaddr *)&stuck, sizeof stuck) < 0 ? errno : 0;
	done[i] = 1;
	return NULL;
}

/* Whether thread tid is in connect() now (/proc/self/task/TID/syscall
 * starts with the call's number). */
static bool in_connect(int tid)
{
	char path[64], buf[64];
	int fd;
	ssize_t n;

	snprintf(path, sizeof path, "/proc/self/task/%d/syscall", tid);
	if ((fd = open(path, O_RDONLY)) < 0)
		return false;
	n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = 0;
	return atoi(buf) == SYS_connect;
}

/* fd's TCP connection is established (bounded: 10 s).  Not poll(): on a
 * TLS number it waits for the handshake, and no peer here speaks TLS. */
static bool established(int fd)
{
	for (int k = 0; k < 1000; k++) {
		struct tcp_info ti;
		socklen_t l = sizeof ti;

		if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &l) == 0 &&
		    ti.tcpi_state == TCP_ESTABLISHED)
			return true;
		usleep(10000);
	}
	return false;
}

/* Descriptors of this process that name the socket of inode ino. */
static int copies(ino_t ino)
{
	char want[64], path[300], got[64];
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;
	ssize_t l;

	snprintf(want, sizeof want, "socket:[%lu]", (unsigned long)ino);
	while (d && (e = readdir(d))) {
		snprintf(path, sizeof path, "/proc/self/fd/%s", e->d_name);
		if ((l = readlink(path, got, sizeof got - 1)) > 0) {
			got[l] = 0;
			n += !strcmp(got, want);
		}
	}
	if (d)
		closedir(d);
	return n;
}

/* A child made by fork (how "fork") or _Fork ("_Fork") while the threads
 * wait: "child copies N", the descriptors of S the child has (its own
 * S: 1). */
static int forked(const char *how)
{
	struct stat st;
	int ws;
	pid_t pid;

	if (fstat(s, &st) < 0)
		return 2;
	fflush(stdout);
	pid = !strcmp(how, "_Fork") ? _Fork() : fork();
	if (pid < 0) {
		perror("held_many: fork");
		return 2;
	}
	if (pid == 0) {
		printf("child copies %d\n", copies(st.st_ino));
		fflush(stdout);
		_exit(0);
	}
	if (waitpid(pid, &ws, 0) != pid || !WIFEXITED(ws) || WEXITSTATUS(ws)) {
		fprintf(stderr, "held_many: the child failed\n");
		return 2;
	}
	return 0;
}

/* closefrom(S + 1) while the threads wait ("closefrom", the fourth
 * argument): "held before N" and "held after N", the descriptors of S
 * other than S (the copies the library holds for the waiting threads'
 * calls: closefrom closes around them).  Then the program puts a pipe of
 * its own at each of their numbers or the lowest free one above
 * (F_DUPFD), lets S connect (the filler accepted: the backlog has room at
 * the SYN's next retransmission) and waits for the threads whose call was
 * held (at most 20 s): "program's open N of M", its pipe copies still
 * open after each call let its copy go (a copy closed by closefrom and its
 * number taken by the program's pipe: the library's close after the call
 * closed the program's pipe). */
static int closed_around(int l1, int nt)
{
	struct stat st;
	int held[MAXT + 1], mine[MAXT + 1], nh = 0, p[2], a, open_n = 0;
	char path[300], got[64], want[64];
	DIR *d;
	struct dirent *e;
	ssize_t l;

	if (fstat(s, &st) < 0 || pipe(p) < 0)
		return 2;
	snprintf(want, sizeof want, "socket:[%lu]", (unsigned long)st.st_ino);
	if (!(d = opendir("/proc/self/fd")))
		return 2;
	while ((e = readdir(d)) && nh <= MAXT) {
		snprintf(path, sizeof path, "/proc/self/fd/%s", e->d_name);
		if ((l = readlink(path, got, sizeof got - 1)) > 0) {
			got[l] = 0;
			if (!strcmp(got, want) && atoi(e->d_name) != s)
				held[nh++] = atoi(e->d_name);
		}
	}
	closedir(d);
	printf("held before %d\n", nh);
	closefrom((unsigned)(p[1] > s ? p[1] : s) + 1);
	printf("held after %d\n", copies(st.st_ino) - 1);
	for (int i = 0; i < nh; i++)
		mine[i] = fcntl(p[1], F_DUPFD, held[i]);
	if ((a = accept(l1, NULL, NULL)) >= 0)
		close(a);
	for (int k = 0, all = 0; !all; k++) {
		if (k == 2000) {
			fprintf(stderr, "held_many: the held calls never returned in 20 s\n");
			return 2;
		}
		all = 1;
		for (int i = 1; i <= nt && all; i++)
			all = done[i];
		if (!all)
			usleep(10000);
	}
	for (int i = 0; i < nh; i++)
		open_n += mine[i] >= 0 && fcntl(mine[i], F_GETFD) >= 0;
	printf("program's open %d of %d\n", open_n, nh);
	return 0;
}

static const char *ename(int e)
{
	static char b[16];

	switch (e) {
	case 0: return "0";
	case EMFILE: return "EMFILE";
	case EISCONN: return "EISCONN";
	case EALREADY: return "EALREADY";
	case EINPROGRESS: return "EINPROGRESS";
	case ECONNABORTED: return "ECONNABORTED";
	case ETIMEDOUT: return "ETIMEDOUT";
	case EAGAIN: return "EAGAIN";
	default: snprintf(b, sizeof b, "%d", e); return b;
	}
}

int main(int argc, char **argv)
{
	struct sockaddr_in ok;
	struct timeval tv = { 25, 0 };
	pthread_t t[MAXT + 1];
	int nt, l1, l2, filler, c2, r, ret = 0;

	if (argc < 4 || argc > 5 || (nt = atoi(argv[3])) < 1 || nt > MAXT) {
		fprintf(stderr, "usage: held_many PORT_STUCK PORT_OK THREADS (1-%d) [fork|_Fork|closefrom]\n",
			MAXT);
		return 2;
	}
	stuck = loopback4(atoi(argv[1]));
	ok = loopback4(atoi(argv[2]));
	if ((l1 = tcp_listen(&stuck, 0, 0)) < 0 || (l2 = tcp_listen(&ok, 0, 16)) < 0) {
		perror("held_many: listen");
		return 2;
	}
	/* the one connection the backlog holds */
	filler = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	if (connect(filler, (struct sockaddr *)&stuck, sizeof stuck) < 0 && errno != EINPROGRESS) {
		perror("held_many: filler");
		return 2;
	}
	if (!established(filler)) {
		fprintf(stderr, "held_many: the filler never connected\n");
		return 2;
	}
	s = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
	for (int i = 0; i <= nt; i++) {
		if (pthread_create(&t[i], NULL, caller, (void *)(intptr_t)i) != 0) {
			fprintf(stderr, "held_many: pthread_create\n");
			return 2;
		}
		/* thread 0's connect first: the others find S connecting */
		for (int k = 0; i == 0 && k < 2000 && !(tids[0] && in_connect(tids[0])); k++)
			usleep(10000);
		if (i == 0 && done[0]) {
			fprintf(stderr, "held_many: the first connect returned: %s\n", ename(errs[0]));
			return 2;
		}
	}
	/* every thread waits in connect() or has returned (bounded) */
	for (int k = 0, all = 0; !all; k++) {
		if (k == 2000) {
			fprintf(stderr, "held_many: threads neither waiting nor returned after 20 s\n");
			return 2;
		}
		all = 1;
		for (int i = 0; i <= nt && all; i++)
			all = done[i] || (tids[i] && in_connect(tids[i]));
		if (!all)
			usleep(10000);
	}
	{
		int n = 0;

		for (int i = 0; i <= nt; i++)
			n += done[i];
		printf("returned %d", n);
		for (int i = 0, shown = 0; i <= nt && shown < 3; i++)
			if (done[i])
				printf(" %s", ename(errs[i])), shown++;
		printf("\n");
	}
	if (argc == 5 && !strcmp(argv[4], "closefrom")) {
		ret = closed_around(l1, nt);
		fflush(stdout);
		_exit(ret);
	}
	if (argc == 5 && forked(argv[4]))
		_exit(2);
	c2 = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	if (connect(c2, (struct sockaddr *)&ok, sizeof ok) < 0 && errno != EINPROGRESS) {
		perror("held_many: connect");
		ret = 2;
	} else {
		if (!established(c2)) {
			fprintf(stderr, "held_many: never connected\n");
			ret = 2;
		} else {
			r = connect(c2, (struct sockaddr *)&ok, sizeof ok) < 0 ? errno : 0;
			printf("again %s\n", ename(r));
		}
	}
	fflush(stdout);
	_exit(ret);
}
