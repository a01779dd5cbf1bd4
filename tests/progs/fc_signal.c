/* fc_signal — signal handlers that call into the C library while the
 * thread they interrupted is in the middle of a write() on the same TLS
 * connection (class 12).
 *
 *   fc_signal MODE IP PORT SENTINEL RUN
 *
 * A writer thread writes 16 KiB buffers of "SENTINEL data ...\n" lines in a
 * loop (at most 4000); the main thread interrupts it again and again with a
 * signal: pthread_kill(SIGUSR1) for even RUN numbers, a 1 ms SIGALRM
 * interval timer (blocked in the main thread) for odd ones, starting after
 * a delay that varies with RUN.  The handler:
 *   exit   calls _exit(7).  The process must end with status 7.
 *   exit-malloc  no writer thread and no timer: after one write on the
 *          connection, malloc(RUN) raises SIGUSR1 inside malloc, its lock
 *          held (tests/progs/preload_malloclock.so, TLSSHIM_TEST_MALLOCSIG
 *          =RUN), and the handler calls _exit(7): status 7, not a hang.
 *          Status 3 when malloc returned (the injector is not in use).
 *   io     (first time only) calls write() on the connection ("SENTINEL
 *          from-handler\n") and then close() on it; records what they
 *          returned.  Prints "handler write: ok|ERRNO", "handler close:
 *          ok|ERRNO", "writer: ERRNO after N writes"; exits 0 when both
 *          calls returned (whatever they said) and the writer stopped.
 * Hangs are the caller's to detect (run it under timeout).  A handler that
 * has not completed after 30 s: "the handler did not complete (...)", with
 * whether it ran and where the writer thread is (system call, wait channel).
 */
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/time.h>

#include "fc_common.h"

static const char *mode, *sentinel;
static int fd;
static char hline[256];
static size_t hlen;
static volatile sig_atomic_t handled, hw_err, hc_err;
static volatile ssize_t hw_ret = -2;
static volatile int hc_ret = -2;
static _Atomic int writes;

static void handler(int sig)
{
	int saved = errno;

	(void)sig;
	if (!strncmp(mode, "exit", 4))
		_exit(7);
	if (!handled) {
		handled = 1;
		hw_ret = write(fd, hline, hlen);
		hw_err = hw_ret < 0 ? errno : 0;
		hc_ret = close(fd);
		hc_err = hc_ret < 0 ? errno : 0;
		handled = 2;
	}
	errno = saved;
}

static int werr;
static _Atomic bool writer_done;
static _Atomic pid_t writer_tid;

/* Where the writer thread (and so a handler running on it) is: its system
 * call (number and first argument, /proc/self/task/TID/syscall: 7 poll,
 * 271 ppoll, 202 futex, 1 write...) and kernel wait channel. */
static void where(char *out, size_t len)
{
	char path[64], sc[128] = "?", wc[64] = "?";
	FILE *f;

	snprintf(path, sizeof path, "/proc/self/task/%d/syscall", (int)atomic_load(&writer_tid));
	if ((f = fopen(path, "r"))) {
		if (fgets(sc, sizeof sc, f))
			sc[strcspn(sc, "\n")] = 0;
		fclose(f);
	}
	snprintf(path, sizeof path, "/proc/self/task/%d/wchan", (int)atomic_load(&writer_tid));
	if ((f = fopen(path, "r"))) {
		if (!fgets(wc, sizeof wc, f))
			snprintf(wc, sizeof wc, "?");
		wc[strcspn(wc, "\n")] = 0;
		fclose(f);
	}
	/* the syscall line: number, then six arguments, sp, pc: keep two */
	{
		char *sp = strchr(sc, ' ');
		if (sp && (sp = strchr(sp + 1, ' ')))
			*sp = 0;
	}
	snprintf(out, len, "syscall %s, wchan %s", sc, wc);
}

static void *writer(void *p)
{
	static char buf[16384];
	size_t n = 0;

	(void)p;
	atomic_store(&writer_tid, gettid());
	while (n + 100 < sizeof buf)
		n += (size_t)snprintf(buf + n, sizeof buf - n, "%s data %zu\n", sentinel, n);
	for (int i = 0; i < 4000; i++) {
		ssize_t r = write(fd, buf, n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			werr = r < 0 ? errno : EIO;
			break;
		}
		atomic_fetch_add(&writes, 1);
	}
	atomic_store(&writer_done, true);
	return NULL;
}

static volatile unsigned long sink;

int main(int argc, char **argv)
{
	struct sigaction sa;
	pthread_t t;
	sigset_t alrm;
	int run;
	double end;

	if (argc != 6) {
		fprintf(stderr, "usage: fc_signal exit|exit-malloc|io IP PORT SENTINEL RUN\n");
		return 2;
	}
	mode = argv[1];
	sentinel = argv[4];
	run = atoi(argv[5]);
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);
	hlen = (size_t)snprintf(hline, sizeof hline, "%s from-handler\n", sentinel);
	fd = fc_connect(argv[2], atoi(argv[3]));
	if (fd < 0) {
		printf("connect: %s\n", fc_err(errno));
		return 1;
	}
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = handler;
	sa.sa_flags = SA_RESTART;
	sigaction(SIGUSR1, &sa, NULL);
	sigaction(SIGALRM, &sa, NULL);
	if (!strcmp(mode, "exit-malloc")) {
		void *volatile p;

		if (write(fd, hline, hlen) != (ssize_t)hlen) {
			printf("write: %s\n", fc_err(errno));
			return 1;
		}
		p = malloc((size_t)run);
		printf("malloc returned: the injector is not in use\n");
		free(p);
		return 3;
	}
	sigemptyset(&alrm);
	sigaddset(&alrm, SIGALRM);
	pthread_create(&t, NULL, writer, NULL);
	pthread_sigmask(SIG_BLOCK, &alrm, NULL);      /* SIGALRM: the writer's */
	/* Let the writer get going, for a time that varies with the run. */
	end = fc_now() + 5;
	while (atomic_load(&writes) < 1 + run % 4 && fc_now() < end)
		sched_yield();
	for (unsigned long i = 0; i < (unsigned long)(run * 15485863) % 100000; i++)
		sink += i;
	if (run % 2) {
		struct itimerval it = { { 0, 1000 }, { 0, 1000 } };
		setitimer(ITIMER_REAL, &it, NULL);
	}
	end = fc_now() + 30;
	while (fc_now() < end && handled != 2) {
		if (!(run % 2))
			pthread_kill(t, SIGUSR1);
		usleep(200);
	}
	{
		struct itimerval off = { { 0, 0 }, { 0, 0 } };
		setitimer(ITIMER_REAL, &off, NULL);
	}
	if (handled != 2) {
		char at[256];

		/* (exit mode: the handler never ran, or its _exit did not end us) */
		where(at, sizeof at);
		printf("the handler did not complete (%s; writes %d; the writer %s, %s, at %s)\n",
		       handled ? "inside it" : "never ran", atomic_load(&writes),
		       atomic_load(&writer_done) ? "had stopped" : "still runs", fc_err(werr), at);
		fflush(stdout);
		_exit(1);
	}
	pthread_join(t, NULL);
	printf("handler write: %s\n", hw_ret == (ssize_t)hlen ? "ok" : hw_ret < 0 ? fc_err(hw_err) : "short");
	printf("handler close: %s\n", hc_ret == 0 ? "ok" : fc_err(hc_err));
	printf("writer: %s after %d writes\n", fc_err(werr), atomic_load(&writes));
	return 0;
}
