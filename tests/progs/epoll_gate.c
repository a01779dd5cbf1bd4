/*
 * epoll_gate CASE — an epoll instance's life while another thread is held
 * inside a managed epoll_wait or fcntl(F_DUPFD) on it
 * (tests/preload/epoll_nested.sh; needs preload_epollgate.so after the
 * library, which holds those calls at the points named below).
 *
 *  reuse        a wait held after the library's last check, before its
 *               kernel wait; meanwhile the number is closed and a new
 *               instance made at it, which watches a pipe the old one
 *               watches for EPOLLOUT only, now readable; the new one is
 *               closed once the kernel wait returned.  The waiter must get
 *               its own instance's event (a readable pipe registered with
 *               data 0xa1), as with the kernel, whose waiter keeps its
 *               instance: asked by number, it got the new instance's
 *               event with the old registration's data (0xa0, for an
 *               EPOLLIN the old one never asked for).
 *  reuse_other  the same, the number taken by an eventfd (EINVAL).
 *  fork         a fork while another thread is held inside a wait: the
 *               child closes the instance, which must be released there
 *               (its table, tens of KiB for an fd near 900, freed).
 *  fork_closed  the instance closed while the waiter is held, then a
 *               fork: the child, which has no waiter, must not keep it.
 *  dupfd        fcntl(F_DUPFD) held just after the copy is made; the
 *               original closed meanwhile: a wait through the copy must
 *               give the instance's data (0xa1).
 *  dupfd_reuse  the same, and a new instance made at the original's
 *               number, registering the same pipe with data 0xb1.
 *  own_target   (no call held) the library's own copy of the instance's
 *               fd, found in /proc/self/fd, given to epoll_ctl as the fd
 *               to register, in another instance and in this one: EBADF,
 *               as for any number the program never opened.
 *  errno_kept   (no call held) epoll_create1 succeeding under a soft
 *               limit lowered below the library's high numbers, then with
 *               one free descriptor only (no room for the library's copy):
 *               errno as it was (0), as the C library leaves it.
 *  dodge_full   (no call held) 70 instances, whose copies fill the
 *               library's 64 high numbers under a soft limit of 1024;
 *               a dup2 of a pipe onto one of those copies' numbers: every
 *               instance must still report its own registration (a
 *               readable pipe, data 0xd00 + its index).
 * Prints "CASE ok" or "CASE bad: ..." and exits 0; 2 on a set-up failure.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

static int to_prog[2], to_gate[2];
static int px[2], py[2];
static int ep;
static int wk, werr;
static uint64_t wdata;
static int dupfd = -1;

static void setup_fail(const char *what)
{
	fprintf(stderr, "epoll_gate: set-up failed: %s (%s)\n", what, strerror(errno));
	exit(2);
}

/* The gate's next letter (the held call is at that point). */
static void held(char want)
{
	char b;

	if (read(to_prog[0], &b, 1) != 1 || b != want) {
		fprintf(stderr, "epoll_gate: gate said '%c', wanted '%c'\n", b, want);
		exit(2);
	}
}

static void go(void)
{
	if (write(to_gate[1], "g", 1) != 1)
		setup_fail("gate");
}

static void add(int e, int fd, uint32_t events, uint64_t data)
{
	struct epoll_event ev = { .events = events, .data.u64 = data };

	if (epoll_ctl(e, EPOLL_CTL_ADD, fd, &ev) < 0)
		setup_fail("epoll_ctl");
}

static void *waiter(void *arg)
{
	struct epoll_event ev[3];
	int timeout = (int)(intptr_t)arg;

	wk = epoll_wait(ep, ev, 3, timeout);
	werr = errno;
	wdata = wk > 0 ? ev[0].data.u64 : 0;
	return NULL;
}

static void *duper(void *arg)
{
	struct epoll_event ev[4];

	(void)arg;
	dupfd = fcntl(ep, F_DUPFD, 333);
	if (dupfd < 0) {
		wk = -2;
		return NULL;
	}
	wk = epoll_wait(dupfd, ev, 4, 2000);
	werr = errno;
	wdata = wk > 0 ? ev[0].data.u64 : 0;
	return NULL;
}

static int verdict(const char *c)
{
	if (wk == 1 && wdata == 0xa1)
		printf("%s ok\n", c);
	else
		printf("%s bad: %d events, data %#llx, errno %d\n", c, wk, (unsigned long long)wdata,
		       wk < 0 ? werr : 0);
	return 0;
}

/* Bytes allocated: the C library's (every arena, and blocks of their
 * own), or the sanitizer's when the library is built with one. */
static size_t mapped(void)
{
	size_t (*san)(void) = (size_t (*)(void))dlsym(RTLD_DEFAULT,
						       "__sanitizer_get_current_allocated_bytes");
	struct mallinfo2 m;

	if (san)
		return san();
	m = mallinfo2();
	return m.uordblks + m.hblkhd;
}

static int fork_case(const char *c, bool close_first)
{
	pthread_t t;
	size_t h0, d;
	int hi, st;
	pid_t pid;

	/* The instance's table of registrations is indexed by fd: one near
	 * 900 makes it tens of KiB, seen going when the instance is freed. */
	if ((hi = fcntl(py[0], F_DUPFD, 900)) < 0)
		setup_fail("F_DUPFD");
	h0 = mapped();
	add(ep, hi, EPOLLOUT, 0xa2);
	d = mapped() - h0;
	if (d < 16 * 1024)
		setup_fail("no mapped table");
	if (pthread_create(&t, NULL, waiter, (void *)(intptr_t)0))
		setup_fail("pthread_create");
	held('b');
	if (close_first)
		close(ep);
	h0 = mapped();
	pid = fork();
	if (pid < 0)
		setup_fail("fork");
	if (pid == 0) {
		size_t h1;

		if (!close_first)
			close(ep);
		h1 = mapped();
		_exit(h0 - h1 >= d ? 0 : 1);
	}
	if (waitpid(pid, &st, 0) != pid)
		setup_fail("waitpid");
	go();
	held('a');
	go();
	pthread_join(t, NULL);
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
		printf("%s ok\n", c);
	else
		printf("%s bad: the child kept the instance (status %#x)\n", c, st);
	return 0;
}

/* The library's copy of ep: an epoll fd the program never opened. */
static int own_copy(void)
{
	for (int fd = 1023; fd > 2; fd--) {
		char p[64], l[64];
		ssize_t n;

		snprintf(p, sizeof p, "/proc/self/fd/%d", fd);
		if (fd == ep || (n = readlink(p, l, sizeof l - 1)) <= 0)
			continue;
		l[n] = 0;
		if (strstr(l, "[eventpoll]"))
			return fd;
	}
	return -1;
}

static int own_target_case(const char *c)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = 0xc1 };
	int k = own_copy(), o = epoll_create1(0), r1, e1, r2, e2;

	if (k < 0 || o < 0)
		setup_fail("no copy of the instance");
	r1 = epoll_ctl(o, EPOLL_CTL_ADD, k, &ev);
	e1 = errno;
	r2 = epoll_ctl(ep, EPOLL_CTL_ADD, k, &ev);
	e2 = errno;
	if (r1 == -1 && e1 == EBADF && r2 == -1 && e2 == EBADF)
		printf("%s ok\n", c);
	else
		printf("%s bad: into another %d (errno %d), into its own %d (errno %d)\n", c, r1,
		       r1 < 0 ? e1 : 0, r2, r2 < 0 ? e2 : 0);
	return 0;
}

static int errno_kept_case(const char *c)
{
	struct rlimit rl;
	int e1, e2, fd, last = -1;

	if (getrlimit(RLIMIT_NOFILE, &rl))
		setup_fail("RLIMIT_NOFILE");
	rl.rlim_cur = 64;
	if (setrlimit(RLIMIT_NOFILE, &rl))
		setup_fail("setrlimit");
	errno = 0;
	if (epoll_create1(0) < 0)
		setup_fail("epoll_create1");
	e1 = errno;
	while ((fd = open("/dev/null", O_RDONLY)) >= 0)
		last = fd;
	if (last < 0 || close(last))
		setup_fail("fill");
	errno = 0;
	if (epoll_create1(0) < 0)
		setup_fail("epoll_create1 (full)");
	e2 = errno;
	if (!e1 && !e2)
		printf("%s ok\n", c);
	else
		printf("%s bad: errno %d after the first, %d after the second\n", c, e1, e2);
	return 0;
}

static int dodge_full_case(const char *c)
{
	struct rlimit rl;
	int eps[70], k = -1, bad = 0, first_r = 0, first_e = 0;
	uint64_t first_d = 0;

	if (getrlimit(RLIMIT_NOFILE, &rl) || rl.rlim_max < 1024)
		setup_fail("RLIMIT_NOFILE");
	rl.rlim_cur = 1024;
	if (setrlimit(RLIMIT_NOFILE, &rl))
		setup_fail("setrlimit");
	for (int i = 0; i < 70; i++) {
		if ((eps[i] = epoll_create1(0)) < 0)
			setup_fail("epoll_create1");
		add(eps[i], py[0], EPOLLIN, 0xd00 + (uint64_t)i);
	}
	/* One of the library's copies among the high numbers (the last: the
	 * first ones may be the library's own instances). */
	for (int fd = 1023; fd >= 960 && k < 0; fd--) {
		char p[64], l[64];
		ssize_t n;

		snprintf(p, sizeof p, "/proc/self/fd/%d", fd);
		if ((n = readlink(p, l, sizeof l - 1)) > 0) {
			l[n] = 0;
			if (strstr(l, "[eventpoll]"))
				k = fd;
		}
	}
	if (k < 0)
		setup_fail("no copy among the high numbers");
	if (dup2(px[0], k) != k)
		setup_fail("dup2");
	for (int i = 0; i < 70; i++) {
		struct epoll_event ev[4] = { 0 };
		int r = epoll_wait(eps[i], ev, 4, 0);

		if (r != 1 || ev[0].data.u64 != 0xd00 + (uint64_t)i) {
			if (!bad++) {
				first_r = r;
				first_e = r < 0 ? errno : 0;
				first_d = r > 0 ? ev[0].data.u64 : 0;
			}
		}
	}
	if (!bad)
		printf("%s ok\n", c);
	else
		printf("%s bad: %d instances wrong, the first %d events, errno %d, data %#llx\n", c, bad,
		       first_r, first_e, (unsigned long long)first_d);
	return 0;
}

int main(int argc, char **argv)
{
	const char *c = argc > 1 ? argv[1] : "";
	char env[64];
	pthread_t t;

	if (pipe(to_prog) || pipe(to_gate) || pipe(px) || pipe(py) || write(py[1], "y", 1) != 1)
		setup_fail("pipe");
	snprintf(env, sizeof env, "%d,%d", to_prog[1], to_gate[0]);
	setenv("EPOLLGATE", env, 1);
	if ((ep = epoll_create1(0)) < 0)
		setup_fail("epoll_create1");
	/* px[0] is never writable: no kernel waiter on ep gets it. */
	add(ep, px[0], EPOLLOUT, 0xa0);
	add(ep, py[0], EPOLLIN, 0xa1);
	if (!strcmp(c, "reuse") || !strcmp(c, "reuse_other")) {
		int n;

		if (pthread_create(&t, NULL, waiter, (void *)(intptr_t)2000))
			setup_fail("pthread_create");
		held('b');
		close(ep);
		if (!strcmp(c, "reuse")) {
			if ((n = epoll_create1(0)) != ep)
				setup_fail("number not reused");
			add(n, px[0], EPOLLIN, 0xb0);
			if (write(px[1], "x", 1) != 1)
				setup_fail("write");
		} else if ((n = eventfd(0, 0)) != ep) {
			setup_fail("number not reused");
		}
		go();
		held('a');
		close(n);
		go();
		pthread_join(t, NULL);
		return verdict(c);
	}
	if (!strcmp(c, "errno_kept"))
		return errno_kept_case(c);
	if (!strcmp(c, "dodge_full"))
		return dodge_full_case(c);
	if (!strcmp(c, "own_target"))
		return own_target_case(c);
	if (!strcmp(c, "fork") || !strcmp(c, "fork_closed"))
		return fork_case(c, !strcmp(c, "fork_closed"));
	if (!strcmp(c, "dupfd") || !strcmp(c, "dupfd_reuse")) {
		if (pthread_create(&t, NULL, duper, NULL))
			setup_fail("pthread_create");
		held('d');
		close(ep);
		if (!strcmp(c, "dupfd_reuse")) {
			int n = epoll_create1(0);
			if (n != ep)
				setup_fail("number not reused");
			add(n, py[0], EPOLLIN, 0xb1);
		}
		go();
		pthread_join(t, NULL);
		return verdict(c);
	}
	fprintf(stderr, "epoll_gate: unknown case '%s'\n", c);
	return 2;
}
