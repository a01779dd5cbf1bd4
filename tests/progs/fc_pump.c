/* fc_pump — sessions that go through the pump, seen from the program.
 *
 *   fc_pump MODE IP PORT SENTINEL
 *
 * Truncation (class 10), against a peer that greets, answers one line
 * ("reply to: LINE") and then ends the TCP connection without close_notify:
 *   trunc-fork    read the greeting with read() (the session is live), note
 *                 getsockname()/getpeername(), fork() (the child _exit()s),
 *                 compare the addresses again, write a line, then with stdio
 *                 (fdopen, fgets) read the reply and once more: that second
 *                 fgets must fail (ferror, errno ECONNRESET), not end of file.
 *   trunc-fdopen  the same without fork(): fdopen() itself hands over.
 *   trunc-exec0   read the greeting, write a line, dup2() the fd onto 0 and
 *                 exec cat: cat prints the reply, must report the error and
 *                 exit non-zero (this program's exit status is cat's).
 *   trunc-exec3   the same, the fd (3) inherited by /bin/sh -c 'exec cat <&3'.
 * A reader blocked in read() while the session moves (class 17), against
 * an echo peer:
 *   blocked-fork    a reader thread blocks in read(); the main thread forks
 *                   (the child _exit()s), then writes two lines; the reader
 *                   must get both echoes, in order.
 *   blocked-system  the same with system("true") instead of fork().
 *   blocked-poll    the same with fork(), the reader blocked in poll(POLLIN)
 *                   before each read().
 * Prints "result: ok" or "result: FAIL reason" (and details); exit 0 on ok.
 */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "fc_common.h"

static const char *sentinel;

static int result(bool ok, const char *fmt, ...)
{
	char why[800] = "";
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof why, fmt, ap);
	va_end(ap);
	printf("result: %s%s\n", ok ? "ok" : "FAIL ", ok ? "" : why);
	fflush(stdout);
	return ok ? 0 : 1;
}

static void addr_text(int fd, bool peer, char *buf, size_t n)
{
	struct sockaddr_storage ss;
	socklen_t l = sizeof ss;
	char ip[64] = "?";
	int r = peer ? getpeername(fd, (struct sockaddr *)&ss, &l) : getsockname(fd, (struct sockaddr *)&ss, &l);

	if (r < 0) {
		snprintf(buf, n, "(%s)", fc_err(errno));
		return;
	}
	if (ss.ss_family == AF_INET) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
		inet_ntop(AF_INET, &s4->sin_addr, ip, sizeof ip);
		snprintf(buf, n, "%s:%d", ip, ntohs(s4->sin_port));
	} else {
		snprintf(buf, n, "(family %d)", ss.ss_family);
	}
}

static int trunc_case(const char *mode, const char *ip, int port)
{
	char buf[1024], line[256], want[300], l0[80], p0[80], l1[80], p1[80];
	int fd = fc_connect(ip, port);
	ssize_t r;
	FILE *f;

	if (fd < 0)
		return result(false, "connect: %s", fc_err(errno));
	r = fc_read_until(fd, buf, sizeof buf, "\n", 10000);
	if (r <= 0)
		return result(false, "greeting: %zd %s", r, fc_err(errno));
	printf("greeting: %s", buf);
	snprintf(line, sizeof line, "%s client line\n", sentinel);
	snprintf(want, sizeof want, "reply to: %s", line);
	fflush(stdout);
	if (!strncmp(mode, "trunc-exec", 10)) {
		if (write_all(fd, line, strlen(line)) < 0)
			return result(false, "write: %s", fc_err(errno));
		if (!strcmp(mode, "trunc-exec0")) {
			dup2(fd, 0);
			close(fd);
			execlp("cat", "cat", (char *)NULL);
		} else {
			if (fd != 3) {
				dup2(fd, 3);
				close(fd);
			}
			execl("/bin/sh", "sh", "-c", "exec cat <&3", (char *)NULL);
		}
		return result(false, "exec: %s", fc_err(errno));
	}
	addr_text(fd, false, l0, sizeof l0);
	addr_text(fd, true, p0, sizeof p0);
	if (!strcmp(mode, "trunc-fork")) {
		pid_t pid = fork();
		int st;
		if (pid == 0)
			_exit(0);
		if (pid < 0)
			return result(false, "fork: %s", fc_err(errno));
		waitpid(pid, &st, 0);
	}
	f = fdopen(fd, "r");
	if (!f)
		return result(false, "fdopen: %s", fc_err(errno));
	addr_text(fd, false, l1, sizeof l1);
	addr_text(fd, true, p1, sizeof p1);
	printf("addresses before: %s -> %s; after: %s -> %s\n", l0, p0, l1, p1);
	if (write_all(fd, line, strlen(line)) < 0)
		return result(false, "write after the hand-over: %s", fc_err(errno));
	if (!fgets(buf, sizeof buf, f))
		return result(false, "first fgets: %s", ferror(f) ? fc_err(errno) : "end of file");
	printf("first fgets: %s", buf);
	if (strcmp(buf, want))
		return result(false, "first fgets returned \"%s\"", buf);
	errno = 0;
	if (fgets(buf, sizeof buf, f))
		return result(false, "second fgets returned data: \"%s\"", buf);
	{
		int e = errno;
		bool err = ferror(f), eof = feof(f);
		printf("second fgets: NULL ferror=%d feof=%d errno=%s\n", err, eof, fc_err(e));
		if (strcmp(l0, l1) || strcmp(p0, p1))
			return result(false, "getsockname/getpeername changed: %s -> %s became %s -> %s",
				      l0, p0, l1, p1);
		return result(err && e == ECONNRESET, "the truncation read as %s (errno %s), not as an error",
			      eof ? "end of file" : "nothing", fc_err(e));
	}
}

/* ---- class 17 ----------------------------------------------------------- */

struct reader {
	int fd;
	_Atomic int in_read;
	_Atomic pid_t tid;
	char got[1024];
	size_t have;
	int err;
	bool eof;
	const char *until;
	bool use_poll;
	/* What the main thread may look at while the reader runs, under
	 * the mutex: the length of got[] the reader has finished with (its
	 * next read() writes past it: one into got[] while the main thread
	 * ran strstr() over it was a data race, ThreadSanitizer's report),
	 * and whether it stopped.  A mutex, not an atomic: this program is
	 * not instrumented, and ThreadSanitizer sees only its calls. */
	pthread_mutex_t mu;
	size_t shown;
	bool stopped;
};

/* The reader got s (or stopped), as far as the main thread can tell. */
static bool reader_got(struct reader *rd, const char *s)
{
	bool r;

	pthread_mutex_lock(&rd->mu);
	r = rd->stopped || memmem(rd->got, rd->shown, s, strlen(s)) != NULL;
	pthread_mutex_unlock(&rd->mu);
	return r;
}

static void *reader(void *p)
{
	struct reader *rd = p;

	rd->tid = (pid_t)syscall(SYS_gettid);
	while (rd->have + 1 < sizeof rd->got && !strstr(rd->got, rd->until)) {
		ssize_t r;
		atomic_store(&rd->in_read, 1);
		if (rd->use_poll) {
			struct pollfd pfd = { .fd = rd->fd, .events = POLLIN };
			int pr = poll(&pfd, 1, 15000);
			if (pr < 0 && errno == EINTR)
				continue;
			if (pr <= 0) {
				rd->err = pr == 0 ? ETIMEDOUT : errno;
				break;
			}
		}
		r = read(rd->fd, rd->got + rd->have, sizeof rd->got - 1 - rd->have);
		atomic_store(&rd->in_read, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rd->err = errno;
			break;
		}
		if (r == 0) {
			rd->eof = true;
			break;
		}
		rd->have += (size_t)r;
		rd->got[rd->have] = 0;
		pthread_mutex_lock(&rd->mu);
		rd->shown = rd->have;
		pthread_mutex_unlock(&rd->mu);
	}
	pthread_mutex_lock(&rd->mu);
	rd->stopped = true;
	pthread_mutex_unlock(&rd->mu);
	return NULL;
}

/* The thread sleeps in the kernel (state S), at most 3 s. */
static void wait_blocked(struct reader *rd)
{
	double end = fc_now() + 3;
	char path[64], st[512];

	while (fc_now() < end) {
		FILE *f;
		char *p;
		if (!atomic_load(&rd->in_read) || !rd->tid) {
			usleep(1000);
			continue;
		}
		snprintf(path, sizeof path, "/proc/self/task/%d/stat", (int)rd->tid);
		if (!(f = fopen(path, "r")))
			return;
		p = fgets(st, sizeof st, f);
		fclose(f);
		if (p && (p = strrchr(st, ')')) && p[2] == 'S')
			return;
		usleep(1000);
	}
}

static int blocked_case(const char *mode, const char *ip, int port)
{
	struct reader rd = { .in_read = 0, .mu = PTHREAD_MUTEX_INITIALIZER };
	char buf[512], l1[256], l2[256], all[600];
	struct timespec ts;
	pthread_t t;
	int fd = fc_connect(ip, port);
	ssize_t r;

	if (fd < 0)
		return result(false, "connect: %s", fc_err(errno));
	snprintf(buf, sizeof buf, "%s ping0\n", sentinel);
	if (write_all(fd, buf, strlen(buf)) < 0 ||
	    (r = fc_read_until(fd, all, sizeof all, buf, 10000)) <= 0)
		return result(false, "first echo: %s", fc_err(errno));
	snprintf(l1, sizeof l1, "%s ping1\n", sentinel);
	snprintf(l2, sizeof l2, "%s ping2\n", sentinel);
	snprintf(all, sizeof all, "%s%s", l1, l2);
	rd.fd = fd;
	rd.until = all;
	rd.use_poll = !strcmp(mode, "blocked-poll");
	pthread_create(&t, NULL, reader, &rd);
	wait_blocked(&rd);
	if (strcmp(mode, "blocked-system")) {
		pid_t pid = fork();
		int st;
		if (pid == 0)
			_exit(0);
		waitpid(pid, &st, 0);
	} else {
		if (system("true") != 0)
			printf("system: failed\n");
	}
	if (write_all(fd, l1, strlen(l1)) < 0)
		return result(false, "write after the hand-over: %s", fc_err(errno));
	/* The second line only once the first echo was read: "later data too". */
	{
		double end = fc_now() + 10;
		while (!reader_got(&rd, l1) && fc_now() < end)
			usleep(2000);
	}
	if (write_all(fd, l2, strlen(l2)) < 0)
		return result(false, "second write after the hand-over: %s", fc_err(errno));
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 15;
	if (pthread_timedjoin_np(t, NULL, &ts) != 0) {
		result(false, "the reader blocked in read() hangs (got \"%s\" so far)", rd.got);
		_exit(1);
	}
	close(fd);
	if (rd.err || rd.eof)
		return result(false, "the reader's read failed: %s (got \"%s\")", rd.eof ? "end of file" :
			      fc_err(rd.err), rd.got);
	return result(!strcmp(rd.got, all), "the reader got \"%s\"", rd.got);
}

int main(int argc, char **argv)
{
	if (argc != 5) {
		fprintf(stderr, "usage: fc_pump MODE IP PORT SENTINEL\n");
		return 2;
	}
	sentinel = argv[4];
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);
	fc_alarm(40);
	if (!strncmp(argv[1], "trunc-", 6))
		return trunc_case(argv[1], argv[2], atoi(argv[3]));
	if (!strncmp(argv[1], "blocked-", 8))
		return blocked_case(argv[1], argv[2], atoi(argv[3]));
	return 2;
}
