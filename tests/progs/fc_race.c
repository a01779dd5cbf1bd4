/* fc_race — a writer thread racing the end of its fd or of its process,
 * or a fork/exec that hands the live session to the pump.
 *
 *   fc_race MODE IP PORT N SENTINEL [WORKERS]
 *
 * Every connection I writes lines "SENTINEL I K\n" (K = 0, 1, ...), one
 * write() each, from a writer thread, while the main thread, after a
 * number of lines that varies with I, does what MODE says:
 *
 *   close    close() the fd the writer uses.  The writer's writes must
 *            fail with EBADF or EPIPE from then on.          (SIGPIPE ignored)
 *   exit     (one child process per connection) exit(0) while the writer
 *            runs.  The child must end, with status 0.  (SIGPIPE not ignored)
 *   fork     fork(); the child closes its copy and _exit(0)s.
 *   system   system("true").
 *   spawn    posix_spawn("/bin/true").
 *   popen    popen("true", "r"), pclose.
 *   fdopen   fdopen(fd, "r"); the reply below is read with fgets.
 *   forkdup  fork(), while the writer writes each line through a fresh
 *            dup() of the fd (and closes the copy again).
 *
 * For the fork family line 0 is written (the session is live) before the
 * writer starts; the writer writes lines 1..20 and must never fail; after
 * it, the main thread shuts the write side down and reads the peer's
 * reply "received N bytes": N must be every byte the writes returned.
 *
 * With WORKERS > 1, that many worker processes (forked before any
 * connection) share the N connections, each one at a time.
 * Prints "conn I ok=W err=E ..." per connection (W: writes that returned
 * the full line), and at the end "done MODE conns=N bad=B hangs=H";
 * exits 0 when nothing was wrong by the program's own checks.  Every wait
 * is bounded; a hung thread is reported ("HANG") and the program ends.
 */
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <sys/wait.h>

#include "fc_common.h"

extern char **environ;

static const char *mode, *ip, *sentinel;
static int port;

struct wr {
	int fd;
	int conn;
	int first, last;        /* lines first..last-1 */
	bool use_dup;
	_Atomic int done;       /* writes attempted and returned */
	_Atomic bool finished;
	_Atomic bool may_exit;  /* join() is coming: the thread may end */
	int ok;                 /* full writes */
	long bytes;
	int err;                /* errno of the failing write, or 0 */
	bool short_write;
};

static int line(char *buf, size_t n, int conn, int k)
{
	return snprintf(buf, n, "%s %d %d\n", sentinel, conn, k);
}

static void *writer(void *p)
{
	struct wr *w = p;
	char buf[256];

	for (int k = w->first; k < w->last; k++) {
		int n = line(buf, sizeof buf, w->conn, k);
		int fd = w->fd, d = -1;
		ssize_t r;

		if (w->use_dup) {
			d = dup(w->fd);
			if (d < 0) {
				w->err = errno;
				break;
			}
			fd = d;
		}
		r = write(fd, buf, (size_t)n);
		if (d >= 0)
			close(d);
		if (r < 0) {
			w->err = errno;
			atomic_fetch_add(&w->done, 1);
			break;
		}
		if (r != n) {
			w->short_write = true;
			atomic_fetch_add(&w->done, 1);
			break;
		}
		w->ok++;
		w->bytes += r;
		atomic_fetch_add(&w->done, 1);
	}
	atomic_store(&w->finished, true);
	/* The thread ends only when it is joined, never while the main
	 * thread forks: AddressSanitizer (GCC 12) takes no allocator lock
	 * across fork, and a thread ending drains its allocator cache under
	 * those locks; a fork at that moment leaves them held in the child
	 * (the pump), which then hangs in its first malloc.  The race under
	 * test is the writes against the hand-over, not a thread's exit.
	 * Bounded (30 s). */
	for (int i = 0; i < 30000 && !atomic_load(&w->may_exit); i++)
		nanosleep(&(struct timespec){ .tv_nsec = 1000000 }, NULL);
	return NULL;
}

/* Until the writer did `target` writes (or finished); bounded. */
static void wait_writes(struct wr *w, int target)
{
	double end = fc_now() + 10;

	while (atomic_load(&w->done) < target && !atomic_load(&w->finished) && fc_now() < end)
		sched_yield();
}

static volatile unsigned long spin_sink;

static void spin(unsigned long n)
{
	for (unsigned long i = 0; i < n; i++)
		spin_sink += i;
}

/* Join, at most `secs`; false when the thread hangs. */
static bool join(pthread_t t, struct wr *w, int secs)
{
	struct timespec ts;

	atomic_store(&w->may_exit, true);
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += secs;
	return pthread_timedjoin_np(t, NULL, &ts) == 0;
}

/* waitpid, at most `secs`; -1 when it had to be killed. */
static int reap(pid_t pid, int secs)
{
	double end = fc_now() + secs;
	int st;

	for (;;) {
		pid_t r = waitpid(pid, &st, WNOHANG);
		if (r == pid)
			return st;
		if (r < 0 && errno != EINTR)
			return -2;
		if (fc_now() > end) {
			kill(pid, SIGKILL);
			waitpid(pid, &st, 0);
			return -1;
		}
		usleep(1000);
	}
}

static void hang(const char *what, int conn)
{
	printf("HANG %s conn %d\n", what, conn);
	fflush(stdout);
	_exit(3);
}

/* ---- close ----------------------------------------------------------- */

static int one_close(int i)
{
	struct wr w = { .conn = i, .first = 0, .last = 5000 };
	pthread_t t;
	int bad = 0;

	w.fd = fc_connect(ip, port);
	if (w.fd < 0) {
		printf("conn %d connect failed: %s\n", i, fc_err(errno));
		return 1;
	}
	pthread_create(&t, NULL, writer, &w);
	wait_writes(&w, i % 7);
	spin((unsigned long)(i * 7919) % 20000);
	close(w.fd);
	if (!join(t, &w, 15))
		hang("writer after close", i);
	/* On a loaded machine the writer may finish all its lines before the
	 * close comes: as over TCP, nothing to fail then. */
	if (w.short_write ||
	    (w.err != EBADF && w.err != EPIPE && !(w.err == 0 && w.ok == w.last - w.first)))
		bad = 1;
	printf("conn %d ok=%d err=%s%s%s\n", i, w.ok, w.err ? fc_err(w.err) : "none (all written)",
	       w.short_write ? " SHORT-WRITE" : "", bad ? " BAD (want EBADF or EPIPE)" : "");
	return bad;
}

/* ---- exit ------------------------------------------------------------- */

static void child_exit(int i)
{
	static struct wr w;
	pthread_t t;

	w = (struct wr){ .conn = i, .first = 0, .last = 100000 };
	w.fd = fc_connect(ip, port);
	if (w.fd < 0)
		_exit(20);
	pthread_create(&t, NULL, writer, &w);
	wait_writes(&w, i % 9);
	spin((unsigned long)(i * 7919) % 20000);
	exit(0);
}

static int one_exit(int i)
{
	pid_t pid;
	int st;

	fflush(stdout);
	pid = fork();
	if (pid == 0)
		child_exit(i);
	if (pid < 0) {
		printf("conn %d fork: %s\n", i, fc_err(errno));
		return 1;
	}
	st = reap(pid, 20);
	if (st == -1) {
		printf("child %d HANG (killed after 20 s)\n", i);
		return 1;
	}
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		if (WIFSIGNALED(st))
			printf("child %d BAD: killed by signal %d (%s)\n", i, WTERMSIG(st),
			       sigabbrev_np(WTERMSIG(st)) ? sigabbrev_np(WTERMSIG(st)) : "?");
		else
			printf("child %d BAD: exit status %d\n", i, WEXITSTATUS(st));
		return 1;
	}
	printf("child %d exit 0\n", i);
	return 0;
}

/* ---- the fork family ---------------------------------------------------- */

static int act(int i, int fd, FILE **fp)
{
	pid_t pid;
	int st;

	if (!strcmp(mode, "fork") || !strcmp(mode, "forkdup")) {
		fflush(stdout);
		pid = fork();
		if (pid == 0) {
			close(fd);
			_exit(0);
		}
		if (pid < 0)
			return -1;
		st = reap(pid, 15);
		return st == 0 ? 0 : -1;
	}
	if (!strcmp(mode, "system"))
		return system("true") == 0 ? 0 : -1;
	if (!strcmp(mode, "spawn")) {
		char *argv[] = { "true", NULL };
		if (posix_spawn(&pid, "/bin/true", NULL, NULL, argv, environ) != 0)
			return -1;
		return reap(pid, 15) == 0 ? 0 : -1;
	}
	if (!strcmp(mode, "popen")) {
		FILE *f = popen("true", "r");
		if (!f)
			return -1;
		return pclose(f) == 0 ? 0 : -1;
	}
	if (!strcmp(mode, "fdopen")) {
		*fp = fdopen(fd, "r");
		return *fp ? 0 : -1;
	}
	(void)i;
	return -1;
}

static int one_fork(int i)
{
	struct wr w = { .conn = i, .first = 1, .last = 21, .use_dup = !strcmp(mode, "forkdup") };
	char buf[256], want[64];
	pthread_t t;
	FILE *f = NULL;
	int n, a, bad = 0;
	long total;
	ssize_t r;

	w.fd = fc_connect(ip, port);
	if (w.fd < 0) {
		printf("conn %d connect failed: %s\n", i, fc_err(errno));
		return 1;
	}
	n = line(buf, sizeof buf, i, 0);
	if (write_all(w.fd, buf, (size_t)n) < 0) {
		printf("conn %d first write failed: %s\n", i, fc_err(errno));
		close(w.fd);
		return 1;
	}
	pthread_create(&t, NULL, writer, &w);
	/* At least one write of the thread first: a thread that is still
	 * starting (its first access to the library's thread-local storage
	 * mallocs) when the hand-over forks is the AddressSanitizer hazard of
	 * writer() below again. */
	wait_writes(&w, 1 + i % 8);
	spin((unsigned long)(i * 7919) % 20000);
	a = act(i, w.fd, &f);
	if (!join(t, &w, 5))
		hang("writer racing the hand-over", i);
	total = n + w.bytes;
	snprintf(want, sizeof want, "received %ld bytes\n", total);
	if (shutdown(w.fd, SHUT_WR) < 0) {
		printf("conn %d shutdown: %s\n", i, fc_err(errno));
		bad = 1;
	}
	if (f) {
		buf[0] = 0;
		if (!fgets(buf, sizeof buf, f))
			snprintf(buf, sizeof buf, "(fgets: %s)", ferror(f) ? fc_err(errno) : "EOF");
		r = (ssize_t)strlen(buf);
	} else {
		r = fc_read_until(w.fd, buf, sizeof buf, "\n", 15000);
		if (r < 0)
			snprintf(buf, sizeof buf, "(read: %s)", r == -2 ? "timeout" : r == -3 ? "EOF" :
				 fc_err(errno));
	}
	if (strcmp(buf, want))
		bad = 1;
	if (a < 0 || w.err || w.short_write || w.ok != 20)
		bad = 1;
	buf[strcspn(buf, "\n")] = 0;
	printf("conn %d ok=%d err=%s action=%s reply=\"%s\"%s\n", i, w.ok + 1, fc_err(w.err),
	       a < 0 ? "FAILED" : "ok", buf, bad ? " BAD" : "");
	if (f)
		fclose(f);
	else
		close(w.fd);
	return bad;
}

/* Connections w, w+par, w+2*par, ...; the number of bad ones. */
static int share(int w, int par, int n)
{
	int bad = 0;

	for (int i = w; i < n; i += par) {
		if (!strcmp(mode, "close"))
			bad += one_close(i);
		else if (!strcmp(mode, "exit"))
			bad += one_exit(i);
		else
			bad += one_fork(i);
	}
	return bad;
}

int main(int argc, char **argv)
{
	int n, par = 1, bad = 0, hangs = 0;
	pid_t workers[16];

	if (argc != 6 && argc != 7) {
		fprintf(stderr, "usage: fc_race MODE IP PORT N SENTINEL [WORKERS]\n");
		return 2;
	}
	mode = argv[1];
	ip = argv[2];
	port = atoi(argv[3]);
	n = atoi(argv[4]);
	sentinel = argv[5];
	if (argc == 7)
		par = atoi(argv[6]);
	if (par < 1 || par > 16)
		par = 1;
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (!strcmp(mode, "close"))
		signal(SIGPIPE, SIG_IGN);
	if (par == 1) {
		bad = share(0, 1, n);
		printf("done %s conns=%d bad=%d hangs=0\n", mode, n, bad);
		return bad ? 1 : 0;
	}
	/* Worker processes, forked before any connection exists. */
	for (int w = 0; w < par; w++) {
		fflush(stdout);
		workers[w] = fork();
		if (workers[w] == 0)
			_exit(share(w, par, n) ? 1 : 0);
	}
	for (int w = 0; w < par; w++) {
		int st;
		while (waitpid(workers[w], &st, 0) < 0 && errno == EINTR)
			;
		if (!WIFEXITED(st) || WEXITSTATUS(st) == 3)
			hangs++;
		else if (WEXITSTATUS(st))
			bad++;
	}
	printf("done %s conns=%d workers=%d bad-workers=%d hangs=%d\n", mode, n, par, bad, hangs);
	return bad || hangs ? 1 : 0;
}
