/* timeouts — the time-outs of ppoll, pselect, select and epoll_pwait2 as
 * the kernel reads them, asked on a TLS fd (the shim answers those calls
 * itself).  Knows nothing about TLS.
 *
 *   timeouts HOST PORT
 *
 * Connects to HOST:PORT (an echo server), has one byte echoed (the
 * connection is up, nothing is left to read), then waits for reading on
 * the connection and on an empty pipe, with each time-out below, while a
 * thread writes the pipe 100 ms later:
 *   big    tv_sec 2^62: a wait the pipe ends (the kernel saturates; a
 *          count in int64 ns wraps to 0: a time-out at once);
 *   max    tv_sec LONG_MAX, the most nanoseconds: the same (a signed
 *          overflow: undefined, UBSan stops the program);
 *   neg    tv_sec -1: EINVAL at once;
 *   nsec   tv_nsec 10^9 (select: tv_usec -1): EINVAL at once;
 *   usec   select only, tv_usec 1500000: valid (1.5 s, as Linux
 *          normalises it): the pipe ends it, and the time left written
 *          back is a normalised timeval under 1.5 s.
 * Then the same calls made through syscall(), as libuv and others make
 * them, with one byte of an echoed record read and the other held (in the
 * shim: the kernel's queue is empty): raw ppoll, pselect6 and select
 * report it at once, and ppoll's and pselect6's time-out of 2 s has the
 * time not slept written back (the system call does, the C library's
 * wrappers do not); raw epoll_wait reports it with the data the program
 * registered.  "raw CALL ok" or "raw CALL bad: WHY".  "raw mem": raw
 * ppoll, pselect6, select and epoll_pwait2 with a time-out in read-only
 * memory (the kernel reads it, its write-back fails silently: the wait's
 * result) and in unreadable memory (EFAULT), the held byte ready; "raw mem
 * pipe" the same on a pipe, in a child (no TLS: the C library's calls);
 * "raw select norm" there too: raw select's timeval normalised as the
 * kernel does it (see raw_select_norm); "recvmmsg fault": recvmmsg on a
 * socket pair with an unreadable time-out, EFAULT.
 * Prints "CALL CASE ok" or "CALL CASE bad: WHY" for each; exit 0 when all
 * are ok.
 */
#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int sock, pipefd[2], ep, bad;

static void *writer(void *arg)
{
	struct timespec d = { 0, 100 * 1000 * 1000 };

	(void)arg;
	nanosleep(&d, NULL);
	if (write(pipefd[1], "p", 1) != 1)
		perror("timeouts: write pipe");
	return NULL;
}

enum call { PPOLL, PSELECT, SELECT, EPWAIT2 };
static const char *names[] = { "ppoll", "pselect", "select", "epoll_pwait2" };

/* One wait; r and errno as the call left them; *pipe_ready, *sock_ready. */
static int wait_once(enum call c, struct timespec *ts, struct timeval *tv, int *pipe_ready,
		     int *sock_ready)
{
	struct pollfd p[2] = { { sock, POLLIN, 0 }, { pipefd[0], POLLIN, 0 } };
	struct epoll_event ev[2];
	fd_set rd;
	int r, e;

	*pipe_ready = *sock_ready = 0;
	FD_ZERO(&rd);
	FD_SET(sock, &rd);
	FD_SET(pipefd[0], &rd);
	switch (c) {
	case PPOLL:
		r = ppoll(p, 2, ts, NULL);
		*sock_ready = r > 0 && p[0].revents;
		*pipe_ready = r > 0 && p[1].revents;
		return r;
	case PSELECT:
	case SELECT:
		r = c == SELECT ? select(FD_SETSIZE, &rd, NULL, NULL, tv)
				: pselect(FD_SETSIZE, &rd, NULL, NULL, ts, NULL);
		*sock_ready = r > 0 && FD_ISSET(sock, &rd);
		*pipe_ready = r > 0 && FD_ISSET(pipefd[0], &rd);
		return r;
	case EPWAIT2:
		r = epoll_pwait2(ep, ev, 2, ts, NULL);
		e = errno;
		for (int i = 0; i < r; i++) {
			*sock_ready |= ev[i].data.fd == sock;
			*pipe_ready |= ev[i].data.fd == pipefd[0];
		}
		errno = e;
		return r;
	}
	return -1;
}

static void one(enum call c, const char *name, time_t sec, long frac, int want_einval)
{
	struct timespec ts = { sec, frac };
	struct timeval tv = { sec, frac };
	pthread_t t;
	int r, e, pr, sr;
	char why[160] = "";
	char ch;

	if (pthread_create(&t, NULL, writer, NULL) != 0) {
		perror("timeouts: pthread_create");
		bad = 1;
		return;
	}
	errno = 0;
	r = wait_once(c, &ts, &tv, &pr, &sr);
	e = errno;
	pthread_join(t, NULL);
	if (read(pipefd[0], &ch, 1) != 1)
		perror("timeouts: read pipe");
	if (want_einval) {
		if (r != -1 || e != EINVAL)
			snprintf(why, sizeof why, "returned %d (%s), the kernel says EINVAL", r,
				 r < 0 ? strerror(e) : (pr ? "the pipe" : "a time-out"));
	} else if (r != 1 || !pr || sr) {
		snprintf(why, sizeof why, "returned %d (%s) pipe=%d sock=%d, the kernel waits for the pipe",
			 r, r < 0 ? strerror(e) : "ok", pr, sr);
	} else if (c == SELECT && frac == 1500000 &&
		   !(tv.tv_sec >= 0 && tv.tv_sec <= 1 && tv.tv_usec >= 0 && tv.tv_usec < 1000000 &&
		     tv.tv_sec * 1000000 + tv.tv_usec < 1500000)) {
		/* 1.5 s less the 100 ms the pipe took, and the time to run. */
		snprintf(why, sizeof why, "left %ld.%06ld s in the timeval, the kernel about 1.4",
			 (long)tv.tv_sec, (long)tv.tv_usec);
	}
	if (why[0]) {
		printf("%s %s bad: %s\n", names[c], name, why);
		bad = 1;
	} else {
		printf("%s %s ok\n", names[c], name);
	}
	fflush(stdout);
}

static void raw_report(const char *call, const char *why)
{
	if (why) {
		printf("raw %s bad: %s\n", call, why);
		bad = 1;
	} else {
		printf("raw %s ok\n", call);
	}
	fflush(stdout);
}

/* A 2 s time-out that ended at once: 1 to 2 s left in it. */
static int two_s_left(const struct timespec *ts)
{
	return ts->tv_sec == 1 && ts->tv_nsec >= 0 && ts->tv_nsec < 1000000000;
}


/* The raw waits with a time-out the kernel reads but cannot write (a
 * const one in read-only memory: the wait's result, the time-out left as
 * it is) or cannot read (EFAULT), on fd with one byte ready.  Returns
 * NULL or why not. */
static const char *raw_mem(int fd, const void *ro, const void *none)
{
	static char why[96];
	const char *calls[] = { "ppoll", "pselect6", "select", "epoll_pwait2" };

	for (int k = 0; k < 4; k++)
		for (int f = 0; f < 2; f++) {
			const void *t = f ? none : ro;
			struct pollfd p = { fd, POLLIN, 0 };
			struct epoll_event ev = { .events = EPOLLIN, .data.fd = fd };
			int e = -1;
			fd_set rd;
			long r;

			FD_ZERO(&rd);
			FD_SET(fd, &rd);
			errno = 0;
			if (k == 0)
				r = syscall(SYS_ppoll, &p, 1, t, NULL, 8);
			else if (k == 1)
				r = syscall(SYS_pselect6, fd + 1, &rd, NULL, NULL, t, NULL);
			else if (k == 2)
				r = syscall(SYS_select, fd + 1, &rd, NULL, NULL, t);
			else if ((e = epoll_create1(0)) < 0 || epoll_ctl(e, EPOLL_CTL_ADD, fd, &ev) < 0)
				r = -2;
			else
				r = syscall(SYS_epoll_pwait2, e, &ev, 1, t, NULL, 8);
			if (e >= 0)
				close(e);
			if (f ? !(r == -1 && errno == EFAULT) : r != 1) {
				snprintf(why, sizeof why, "%s with a%s time-out: %ld (%s)", calls[k],
					 f ? "n unreadable" : " read-only", r, strerror(errno));
				return why;
			}
		}
	return NULL;
}

/* A read-only page holding a 2-s time-out, and a page that cannot be read. */
static void mem_pages(void **ro, void **none)
{
	struct timespec *ts = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	*none = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (ts == MAP_FAILED || *none == MAP_FAILED) {
		perror("timeouts: mmap");
		exit(2);
	}
	ts->tv_sec = 2;  /* (as a timeval too: 2 s) */
	mprotect(ts, 4096, PROT_READ);
	*ro = ts;
}

/* Raw select's timeval as kern_select reads it (fd ready): {-1, 3000000}
 * is 2 s (the time left written back: 1.something s), {LONG_MAX, 2000000}
 * wraps to a negative second: EINVAL; the C library's select says EINVAL
 * for the one and waits for the other. */
static const char *raw_select_norm(int fd)
{
	static char why[96];
	struct timeval tv = { -1, 3000000 };
	fd_set rd;
	long r;

	FD_ZERO(&rd);
	FD_SET(fd, &rd);
	r = syscall(SYS_select, fd + 1, &rd, NULL, NULL, &tv);
	if (r != 1 || tv.tv_sec != 1 || tv.tv_usec < 0 || tv.tv_usec >= 1000000) {
		snprintf(why, sizeof why, "{-1, 3000000}: %ld (%s), left {%ld, %ld}", r, strerror(errno),
			 (long)tv.tv_sec, (long)tv.tv_usec);
		return why;
	}
	tv = (struct timeval){ LONG_MAX, 2000000 };
	FD_ZERO(&rd);
	FD_SET(fd, &rd);
	errno = 0;
	r = syscall(SYS_select, fd + 1, &rd, NULL, NULL, &tv);
	if (r != -1 || errno != EINVAL) {
		snprintf(why, sizeof why, "{LONG_MAX, 2000000}: %ld (%s)", r, strerror(errno));
		return why;
	}
	return NULL;
}

/* recvmmsg on a socket without TLS, a datagram there, its time-out
 * unreadable: the kernel's EFAULT (the library read it first: SIGSEGV). */
static const char *recvmmsg_fault(const void *none)
{
	static char why[64];
	int sp[2];
	char b;
	struct iovec iov = { &b, 1 };
	struct mmsghdr m = { .msg_hdr = { .msg_iov = &iov, .msg_iovlen = 1 } };
	int r;

	if (socketpair(AF_UNIX, SOCK_DGRAM, 0, sp) < 0 || write(sp[1], "d", 1) != 1)
		return "socketpair";
	errno = 0;
	r = recvmmsg(sp[0], &m, 1, 0, (struct timespec *)(uintptr_t)none);
	close(sp[0]);
	close(sp[1]);
	if (r == -1 && errno == EFAULT)
		return NULL;
	snprintf(why, sizeof why, "%d (%s)", r, strerror(errno));
	return why;
}

/* The same on a pipe (no TLS anywhere), in a child: a fault is a line. */
static void raw_mem_pipe(void)
{
	int pp[2], st;
	void *ro, *none;
	pid_t pid;

	mem_pages(&ro, &none);
	if (pipe(pp) < 0 || write(pp[1], "p", 1) != 1 || (pid = fork()) < 0) {
		perror("timeouts: pipe");
		exit(2);
	}
	if (!pid) {
		const char *why = raw_mem(pp[0], ro, none);
		const char *norm = raw_select_norm(pp[0]);
		const char *mm;

		if (why)
			printf("raw mem pipe bad: %s\n", why);
		else
			printf("raw mem pipe ok\n");
		if (norm)
			printf("raw select norm bad: %s\n", norm);
		else
			printf("raw select norm ok\n");
		fflush(stdout);
		if ((mm = recvmmsg_fault(none)))
			printf("recvmmsg fault bad: %s\n", mm);
		else
			printf("recvmmsg fault ok\n");
		fflush(stdout);
		_exit(why || norm || mm);
	}
	fflush(stdout);
	if (waitpid(pid, &st, 0) == pid && WIFEXITED(st)) {
		bad |= WEXITSTATUS(st) != 0;
	} else {
		bad = 1;
		printf("pipe child bad: it ended by signal %d\n", WIFSIGNALED(st) ? WTERMSIG(st) : 0);
		fflush(stdout);
	}
	close(pp[0]);
	close(pp[1]);
}

static void raw_calls(void)
{
	struct pollfd p = { sock, POLLIN, 0 };
	struct timespec ts = { 2, 0 };
	struct epoll_event ev[2];
	fd_set rd;
	char buf[2];
	long r;

	/* One record of two bytes; one read. */
	if (write(sock, "yz", 2) != 2 || read(sock, buf, 1) != 1 || buf[0] != 'y') {
		perror("timeouts: the held byte");
		bad = 1;
		return;
	}
	r = syscall(SYS_ppoll, &p, 1, &ts, NULL, 8);
	raw_report("ppoll", r != 1 || !(p.revents & POLLIN) ? "the held byte not reported"
			    : !two_s_left(&ts)			? "the time left not written back"
								: NULL);
	FD_ZERO(&rd);
	FD_SET(sock, &rd);
	ts = (struct timespec){ 2, 0 };
	r = syscall(SYS_pselect6, sock + 1, &rd, NULL, NULL, &ts, NULL);
	raw_report("pselect6", r != 1 || !FD_ISSET(sock, &rd) ? "the held byte not reported"
			       : !two_s_left(&ts)			 ? "the time left not written back"
									 : NULL);
	FD_ZERO(&rd);
	FD_SET(sock, &rd);
	struct timeval tv = { 2, 0 };
	r = syscall(SYS_select, sock + 1, &rd, NULL, NULL, &tv);
	raw_report("select", r != 1 || !FD_ISSET(sock, &rd) ? "the held byte not reported" : NULL);
	r = syscall(SYS_epoll_wait, ep, ev, 2, 2000);
	raw_report("epoll_wait", r != 1 || ev[0].data.fd != sock ? "the held byte not reported as registered"
								 : NULL);
	/* recvmmsg's time-out is not applied on a TLS fd, but an invalid
	 * one is the kernel's EINVAL (not EAGAIN, nor the held byte). */
	{
		struct iovec iov = { buf, 1 };
		struct mmsghdr m = { .msg_hdr = { .msg_iov = &iov, .msg_iovlen = 1 } };
		struct timespec inv = { 0, 1000000000 };

		errno = 0;
		r = recvmmsg(sock, &m, 1, MSG_DONTWAIT, &inv);
		printf(r == -1 && errno == EINVAL ? "recvmmsg nsec ok\n" : "recvmmsg nsec bad: %ld (%s)\n",
		       r, strerror(errno));
		bad |= !(r == -1 && errno == EINVAL);
	}
	/* The held byte, with time-outs in read-only and unreadable memory
	 * (the shim wrote the one and read the other: SIGSEGV). */
	{
		void *ro, *none;

		mem_pages(&ro, &none);
		raw_report("mem", raw_mem(sock, ro, none));
	}
	if (read(sock, buf, 1) != 1 || buf[0] != 'z') {
		perror("timeouts: the held byte");
		bad = 1;
	}
}

int main(int argc, char **argv)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res;
	struct epoll_event ev = { .events = EPOLLIN };
	char c;

	if (argc != 3 || getaddrinfo(argv[1], argv[2], &hints, &res) != 0)
		return 64;
	sock = socket(res->ai_family, SOCK_STREAM, 0);
	if (sock < 0 || connect(sock, res->ai_addr, res->ai_addrlen) < 0 || write(sock, "x", 1) != 1 ||
	    read(sock, &c, 1) != 1 || pipe(pipefd) < 0 || (ep = epoll_create1(0)) < 0) {
		perror("timeouts: setting up");
		return 2;
	}
	ev.data.fd = sock;
	if (epoll_ctl(ep, EPOLL_CTL_ADD, sock, &ev) < 0) {
		perror("timeouts: epoll_ctl");
		return 2;
	}
	ev.data.fd = pipefd[0];
	if (epoll_ctl(ep, EPOLL_CTL_ADD, pipefd[0], &ev) < 0) {
		perror("timeouts: epoll_ctl");
		return 2;
	}
	for (enum call k = PPOLL; k <= EPWAIT2; k++) {
		long big_frac = k == SELECT ? 999999 : 999999999;

		one(k, "big", (time_t)1 << 62, 0, 0);
		one(k, "max", LONG_MAX, big_frac, 0);
		one(k, "neg", -1, 0, 1);
		one(k, "nsec", 0, k == SELECT ? -1 : 1000000000, 1);
		if (k == SELECT)
			one(k, "usec", 0, 1500000, 0);
	}
	raw_mem_pipe();
	raw_calls();
	return bad;
}
