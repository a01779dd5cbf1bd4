/* longjmp_client — alarm()-style timeouts: a signal handler leaves a
 * socket call it interrupted with siglongjmp(), as old daemons time out
 * a read() or a write() (POSIX allows it: they are async-signal-safe).
 *
 *   longjmp_client HOST PORT PART
 *
 * The server echoes what it reads.  The signal (SIGUSR1) is raised at a
 * chosen place inside the call by preload_jumpin.so (jumpin_arm), which
 * must be loaded; each part prints one line, or a line with "BAD":
 *
 * exit:   a thread's read() waits for data that never comes; the handler
 *         jumps out of it; the thread closes the socket and ends with
 *         pthread_exit().  "exit: joined".
 * cancel: the same jump; then the thread's cancellation state must be as
 *         before the read (enabled), and a second read() on the same
 *         socket must be cancellable (pthread_cancel).  "cancel: joined".
 * write:  the handler jumps out of a 256 KiB write() while the data is
 *         being sent; then a write() of the same thread, and one of
 *         another thread, must return (not block for ever) with an
 *         error other than EDEADLK, and close() must succeed.
 *         "write: this thread E1, other thread E2, close 0".
 * read:   the same for a read() left while the reply is being received.
 * flush:  the same for a 32 MiB write() whose echo is not read, left in
 *         the send that follows the first EAGAIN (the library pushing
 *         what the socket could not take, its lock held).
 * shut:   the handler calls shutdown(SHUT_RDWR) on the socket its thread
 *         is writing to, and returns; the write goes on.  The handler's
 *         call must fail (EDEADLK) and leave the connection alone: the
 *         echo of everything comes back.  "shut: handler EDEADLK, echo
 *         intact".
 *
 * Waits are bounded (timed joins, SO_RCVTIMEO); alarm(60) bounds the
 * whole.  Knows nothing about TLS.
 */
#include <dlfcn.h>
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum { PPOLL = 1, SEND = 2, RECV = 3, SEND_AFTER_EAGAIN = 4 };
#define BIG (256 * 1024)
#define HUGE_WRITE (32 << 20)

static struct addrinfo *res;
static void (*arm)(int which, int nth);
static sigjmp_buf env;
static volatile sig_atomic_t shut_in_handler;
static volatile int handler_ret, handler_errno;
static int conn_fd;

static void on_usr1(int sig)
{
	(void)sig;
	if (shut_in_handler) {
		int e = errno;

		handler_ret = shutdown(conn_fd, SHUT_RDWR);
		handler_errno = errno;
		errno = e;
		return;
	}
	siglongjmp(env, 1);
}

static int dial(void)
{
	int s = socket(res->ai_family, SOCK_STREAM, 0);
	struct timeval tv = { .tv_sec = 20 };

	if (s < 0 || connect(s, res->ai_addr, res->ai_addrlen) < 0) {
		perror("longjmp_client: connect");
		exit(2);
	}
	/* A bound on every read of the test, should one wait for ever. */
	setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	return s;
}

static bool read_full(int s, char *buf, size_t len)
{
	size_t got = 0;

	while (got < len) {
		ssize_t r = read(s, buf + got, len - got);
		if (r <= 0)
			return false;
		got += (size_t)r;
	}
	return true;
}

/* An echo round trip: the handshake is over, and the connection works. */
static void ping(int s)
{
	char b[4];

	if (write(s, "ping", 4) != 4 || !read_full(s, b, 4) || memcmp(b, "ping", 4)) {
		printf("BAD: ping failed: %s\n", strerror(errno));
		exit(1);
	}
}

static const char *ename(int e)
{
	const char *n = strerrorname_np(e);

	return n ? n : "?";
}

static bool join_within(pthread_t t, int s)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += s;
	return pthread_timedjoin_np(t, NULL, &ts) == 0;
}

/* ---- exit, cancel ---------------------------------------------------- */

static volatile int cancel_state = -1, reached_second;

static void *waiter(void *arg)
{
	bool cancel = arg != NULL;
	int s = dial();
	char b[16];

	ping(s);
	if (sigsetjmp(env, 1) == 0) {
		arm(PPOLL, 1);
		ssize_t r = read(s, b, sizeof b);
		printf("BAD: read returned %zd (%s) instead of being left\n", r, ename(errno));
		fflush(stdout);
		return NULL;
	}
	if (!cancel) {
		close(s);
		pthread_exit(NULL);
	}
	{
		int st;

		pthread_setcancelstate(PTHREAD_CANCEL_ENABLE, &st);
		pthread_setcancelstate(st, NULL);
		cancel_state = st;
	}
	reached_second = 1;
	(void)read(s, b, sizeof b);
	printf("BAD: the second read returned\n");
	fflush(stdout);
	return NULL;
}

static void part_exit(bool cancel)
{
	pthread_t t;
	struct timespec nap = { 0, 1000000 };

	pthread_create(&t, NULL, waiter, cancel ? (void *)1 : NULL);
	if (cancel) {
		for (int i = 0; i < 20000 && !reached_second; i++)
			nanosleep(&nap, NULL);
		pthread_cancel(t);
	}
	if (!join_within(t, 20)) {
		printf("BAD: %s: the thread did not end within 20 s\n", cancel ? "cancel" : "exit");
		return;
	}
	if (!cancel)
		printf("exit: joined\n");
	else if (cancel_state != PTHREAD_CANCEL_ENABLE)
		printf("BAD: cancel: cancellation state after the jump: %s\n",
		       cancel_state == PTHREAD_CANCEL_DISABLE ? "disabled" : "unknown");
	else
		printf("cancel: joined\n");
}

/* ---- write, read --------------------------------------------------- */

static volatile int other_errno = -1;

static void *other_writer(void *arg)
{
	ssize_t r = write(*(int *)arg, "x", 1);

	other_errno = r < 0 ? errno : 0;
	return NULL;
}

static void part_io(const char *part)
{
	static char big[BIG], huge[HUGE_WRITE];
	bool writing = strcmp(part, "read") != 0;
	int s = dial();
	ssize_t r;
	int mine;
	pthread_t t;

	ping(s);
	if (sigsetjmp(env, 1) == 0) {
		if (!strcmp(part, "flush")) {
			arm(SEND_AFTER_EAGAIN, 1);
			r = write(s, huge, sizeof huge);
		} else if (writing) {
			arm(SEND, 1);
			r = write(s, big, sizeof big);
		} else {
			/* The reply to this is taken in by the read below. */
			if (write(s, big, 4096) != 4096) {
				printf("BAD: read: write: %s\n", strerror(errno));
				return;
			}
			arm(RECV, 1);
			r = read(s, big, sizeof big);
		}
		printf("BAD: %s returned %zd (%s) instead of being left\n", part, r, ename(errno));
		return;
	}
	r = write(s, "x", 1);
	mine = r < 0 ? errno : 0;
	pthread_create(&t, NULL, other_writer, &s);
	if (!join_within(t, 20)) {
		printf("BAD: %s: another thread's write() did not return within 20 s\n", part);
		fflush(stdout);
		_exit(1);
	}
	r = close(s);
	printf("%s: this thread %s, other thread %s, close %s\n", part, mine ? ename(mine) : "0", other_errno ? ename(other_errno) : "0",
	       r ? ename(errno) : "0");
}

/* ---- shut ------------------------------------------------------------ */

static void part_shut(void)
{
	static char big[BIG], back[BIG + 4];
	int s = dial();
	ssize_t r;

	for (size_t i = 0; i < sizeof big; i++)
		big[i] = (char)('a' + i % 26);
	ping(s);
	conn_fd = s;
	shut_in_handler = 1;
	arm(SEND, 2);
	r = write(s, big, sizeof big);
	shut_in_handler = 0;
	if (r != (ssize_t)sizeof big) {
		printf("BAD: shut: the write returned %zd (%s); handler shutdown %d (%s)\n", r,
		       ename(errno), handler_ret, handler_ret ? ename(handler_errno) : "0");
		return;
	}
	if (write(s, "tail", 4) != 4 || !read_full(s, back, sizeof back) ||
	    memcmp(back, big, sizeof big) || memcmp(back + sizeof big, "tail", 4)) {
		printf("BAD: shut: the echo did not come back whole (%s); handler shutdown %d (%s)\n",
		       ename(errno), handler_ret, handler_ret ? ename(handler_errno) : "0");
		return;
	}
	close(s);
	printf("shut: handler %s, echo intact\n", handler_ret ? ename(handler_errno) : "0");
}

int main(int argc, char **argv)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM };
	struct sigaction sa = { .sa_handler = on_usr1 };

	if (argc != 4) {
		fprintf(stderr, "usage: longjmp_client HOST PORT exit|cancel|write|read|flush|shut\n");
		return 2;
	}
	alarm(60);
	if (getaddrinfo(argv[1], argv[2], &hints, &res)) {
		fprintf(stderr, "longjmp_client: cannot resolve %s\n", argv[1]);
		return 2;
	}
	*(void **)&arm = dlsym(RTLD_DEFAULT, "jumpin_arm");
	if (!arm) {
		fprintf(stderr, "longjmp_client: preload_jumpin.so is not loaded\n");
		return 2;
	}
	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR1, &sa, NULL);
	if (!strcmp(argv[3], "exit"))
		part_exit(false);
	else if (!strcmp(argv[3], "cancel"))
		part_exit(true);
	else if (!strcmp(argv[3], "write") || !strcmp(argv[3], "read") || !strcmp(argv[3], "flush"))
		part_io(argv[3]);
	else if (!strcmp(argv[3], "shut"))
		part_shut();
	fflush(stdout);
	return 0;
}
