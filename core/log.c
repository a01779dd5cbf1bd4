/* core/log.c — "tlsshim[PID]: ..." lines on stderr or TLSSHIM_LOG_FILE.
 *
 * One formatted buffer, one write(2), so lines from threads and processes
 * never interleave; a write that never waits (put_line: a log that cannot
 * keep up loses lines, counted, and never stalls the program).  The
 * environment is read once, at log_init(); the file name with
 * secure_getenv(), so a set-user-ID program never opens a file its caller
 * named.
 *
 * A log line must never land on anything but the log: not on a socket
 * (least of all a TLS connection, in clear), not in a file of the
 * program's that took over the number.  So:
 *  - the log file's fd is one of the shim's own (the keep hook moves it
 *    high and guards it against the program's close/closefrom/dup2), and
 *    before every line its identity (device and inode) is checked; when
 *    it changed behind our back, the file is opened again by name;
 *  - standard error is used only while it is the same file it was at
 *    start-up, or one the program made its standard error on purpose
 *    (dup2 onto fd 2, which the shim sees), never when it is a socket;
 *    each line goes to a private copy of fd 2, checked first (the file
 *    checked is the file written: another thread's dup2 in between does
 *    not matter; stderr_take);
 *  - control characters in a line (from peer names, certificate fields,
 *    paths: anything the shim did not write itself) are escaped as \xNN,
 *    so no line can forge another.
 *
 * Error and warn lines are rate limited per kind (TLSSHIM_LOG_LIMIT): a
 * remote peer that makes 10,000 bad connections must not make 10,000
 * lines.  A kind is the call site (its format string) and, for a failed
 * connection, its rule and the class of its reason (log_msg_kind).  Each
 * kind has a GCRA bucket (one 64-bit "theoretical arrival time", updated
 * with compare-and-swap: no lock, so a signal handler's line cannot
 * deadlock on the line it interrupted) in a MAP_SHARED page made at
 * log_init: the processes a forking server makes share their parent's
 * limit.  A kind's first line is never suppressed; the first line it
 * writes after some were suppressed is preceded, in the same write, by
 * "N similar lines suppressed".
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/log.h"
#include "core/self.h"
#include "core/sys.h"

static int log_level = LOG_WARN;
static int log_fd = -1;                 /* the log file, when one is named */
static char *log_path;
static dev_t id_dev;                    /* what log_fd (or fd 2) should be */
static ino_t id_ino;
static unsigned id_seq;                 /* odd while the pair is written */
static void (*keep_fd)(int fd, int *cell);
static int (*reopen_fn)(const char *path, int flags, mode_t mode);

void log_open_set(int (*open_fn)(const char *path, int flags, mode_t mode))
{
	__atomic_store_n(&reopen_fn, open_fn, __ATOMIC_RELEASE);
}

static int (*nonblock_fn)(int fd);
static int (*fd_dup_fn)(int fd);

void log_fd_dup_set(int (*fn)(int fd))
{
	__atomic_store_n(&fd_dup_fn, fn, __ATOMIC_RELEASE);
}

void log_nonblock_set(int (*fn)(int fd))
{
	__atomic_store_n(&nonblock_fn, fn, __ATOMIC_RELEASE);
}

/* The rate limit: LIMIT_SLOTS kinds, then one bucket that every further
 * kind shares (still limited).  lim == NULL: no limit. */
#define LIMIT_SLOTS 256
#define LIMIT_PROBE 8
struct lim_slot {
	uint64_t key;           /* 0: free */
	uint64_t tat;           /* GCRA: theoretical arrival time, us */
	uint32_t suppressed;    /* since the kind's last line */
};
static struct lim_slot *lim;            /* LIMIT_SLOTS + 1, shared */
static uint64_t lim_every_us;           /* one line per this, after the burst */
static uint64_t lim_burst_us;           /* burst * lim_every_us */
static unsigned lim_burst, lim_n, lim_secs;

static int sys_write(int fd, const void *buf, size_t n)
{
	/* Before the shim resolved libc (constructors of other libraries),
	 * the linked write: the fd was checked above. */
	return core_sys.write ? (int)core_sys.write(fd, buf, n) : (int)write(fd, buf, n);
}

/* fstat(fd) failed: true when the system refused the question (a seccomp
 * filter's EPERM or ENOSYS for newfstatat, as sandboxed daemons install
 * after start-up) and fd is open and not a socket (getsockopt says
 * ENOTSOCK).  Which file it is cannot be told then; the line goes to it
 * rather than nowhere: a refusal the library logs must be seen. */
static bool unverifiable(int fd, int err)
{
	int t;
	socklen_t l = sizeof t;

	if (err == EBADF || !core_sys.getsockopt)
		return false;
	return core_sys.getsockopt(fd, SOL_SOCKET, SO_TYPE, &t, &l) < 0 && errno == ENOTSOCK;
}

/* The identity (id_dev, id_ino) is one pair, written by whichever thread
 * opens the log file again or dup2()s onto standard error, and read by
 * every line of every thread: read in two halves while another thread
 * wrote it, a line compared its file with half the old file's identity
 * and half the new one's (ThreadSanitizer's report, failclosed_log.sh).
 * So the pair goes under a sequence count (odd while written; writers
 * take it from even to odd, one at a time) and a reader takes a pair
 * only when the count was even and the same before and after.  No one
 * waits for ever: a signal handler that lands inside a writer on its own
 * thread finds the count odd whatever it waits, so a writer gives up
 * after ID_TRIES looks (the identity stays as it was) and a reader then
 * answers "not the same" (the line is dropped, or the log file opened
 * again by name).  A fork's child (log_fork_child) forgets a writer of
 * another thread that the fork cut off. */
#define ID_TRIES 1000

static bool id_wait(int i)
{
	if (i >= ID_TRIES)
		return false;
	if (i >= 16)
		sched_yield();
	return true;
}

static void id_set(dev_t dev, ino_t ino)
{
	unsigned seq = __atomic_load_n(&id_seq, __ATOMIC_RELAXED);

	for (int i = 0; (seq & 1) || !__atomic_compare_exchange_n(&id_seq, &seq, seq + 1, false,
								   __ATOMIC_ACQUIRE, __ATOMIC_RELAXED); i++) {
		if (!id_wait(i))
			return;
		seq = __atomic_load_n(&id_seq, __ATOMIC_RELAXED);
	}
	/* (release: a reader that sees either half sees the count odd, or
	 * later, after it; no fence, which ThreadSanitizer cannot follow) */
	__atomic_store_n(&id_dev, dev, __ATOMIC_RELEASE);
	__atomic_store_n(&id_ino, ino, __ATOMIC_RELEASE);
	__atomic_store_n(&id_seq, seq + 2, __ATOMIC_RELEASE);
}

/* st names the file the identity says. */
static bool id_is(const struct stat *st)
{
	for (int i = 0; id_wait(i); i++) {
		unsigned seq = __atomic_load_n(&id_seq, __ATOMIC_ACQUIRE);
		dev_t dev = __atomic_load_n(&id_dev, __ATOMIC_ACQUIRE);
		ino_t ino = __atomic_load_n(&id_ino, __ATOMIC_ACQUIRE);

		if (!(seq & 1) && __atomic_load_n(&id_seq, __ATOMIC_RELAXED) == seq)
			return st->st_dev == dev && st->st_ino == ino;
	}
	return false;
}

void log_fork_child(void)
{
	if (__atomic_load_n(&id_seq, __ATOMIC_RELAXED) & 1) {
		/* half written: a pair no file has */
		__atomic_store_n(&id_dev, (dev_t)-1, __ATOMIC_RELAXED);
		__atomic_store_n(&id_ino, (ino_t)-1, __ATOMIC_RELAXED);
		__atomic_store_n(&id_seq, 0, __ATOMIC_RELEASE);
	}
}

/* Opened without waiting (a FIFO with no reader would hold the process
 * before main() for ever: ENXIO instead), and written without waiting
 * either: a regular file, a character device (a terminal, /dev/null) or
 * a pipe with a reader (a supervisor's /dev/stderr); EINVAL for anything
 * else (a socket, a directory). */
static int open_log(void)
{
	const int how = O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NONBLOCK;
	int (*again)(const char *, int, mode_t) = __atomic_load_n(&reopen_fn, __ATOMIC_ACQUIRE);
	int fd = again ? again(log_path, how, 0600)
		 : core_sys.open ? core_sys.open(log_path, how, 0600) : open(log_path, how, 0600);
	struct stat st;
	int r;

	if (fd < 0)
		return -1;
	if ((r = fstat(fd, &st)) < 0 && unverifiable(fd, errno)) {
		/* fstat refused: what was opened by the name is not a socket
		 * (ENOTSOCK), and a directory is not opened for writing.  Its
		 * identity stays unknown: target() writes without it. */
		memset(&st, 0, sizeof st);
		st.st_mode = S_IFREG;
		r = 0;
	}
	if (r < 0 || !(S_ISREG(st.st_mode) || S_ISCHR(st.st_mode) || S_ISFIFO(st.st_mode))) {
		if (core_sys.close)
			core_sys.close(fd);
		else
			close(fd);
		errno = EINVAL;
		return -1;
	}
	/* It stays non-blocking: the open file is ours alone, and a line a
	 * full pipe has no room for is dropped and counted (put_line), not
	 * waited for. */
	id_set(st.st_dev, st.st_ino);
	if (keep_fd)
		keep_fd(fd, &log_fd);
	else
		log_fd = fd;
	return 0;
}

/* "off", "0", "BURST" or "BURST,N/SECONDS" (N lines per SECONDS after
 * the burst; BURST alone: BURST per 60 s).  0 on success. */
static int limit_parse(const char *v)
{
	unsigned long b, n, sec = 60;
	char *end;

	if (!strcasecmp(v, "off") || !strcmp(v, "0")) {
		lim_burst = 0;
		return 0;
	}
	errno = 0;
	b = strtoul(v, &end, 10);
	if (end == v || errno || b < 1 || b > 1000000)
		return -1;
	n = b;
	if (*end == ',') {
		v = end + 1;
		n = strtoul(v, &end, 10);
		if (end == v || errno || n < 1 || n > 1000000 || *end != '/')
			return -1;
		v = end + 1;
		sec = strtoul(v, &end, 10);
		if (end == v || errno || sec < 1 || sec > 86400)
			return -1;
	}
	if (*end)
		return -1;
	lim_burst = (unsigned)b;
	lim_n = (unsigned)n;
	lim_secs = (unsigned)sec;
	return 0;
}

static void limit_init(void)
{
	/* secure_getenv: in secure-execution mode the caller could otherwise
	 * thin a set-user-ID program's log of its own failed connections. */
	const char *v = secure_getenv("TLSSHIM_LOG_LIMIT");
	int bad = 0;
	void *m;

	lim_burst = 0;                  /* the default: every line */
	if (v && *v && limit_parse(v) < 0) {
		bad = 1;
		lim_burst = 0;
	}
	if (lim_burst) {
		lim_every_us = (uint64_t)lim_secs * 1000000u / lim_n;
		if (!lim_every_us)
			lim_every_us = 1;
		lim_burst_us = lim_every_us * lim_burst;
		m = mmap(NULL, sizeof *lim * (LIMIT_SLOTS + 1), PROT_READ | PROT_WRITE,
			 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
		if (m != MAP_FAILED)
			lim = m;        /* else: no limit, rather than no line */
	}
	if (bad)
		log_msg(LOG_WARN, "TLSSHIM_LOG_LIMIT=\"%s\" is not off, BURST or BURST,N/SECONDS (1..1000000"
			" lines, 1..86400 s); every line is logged", v);
}

void log_init(void (*keep)(int fd, int *cell))
{
	const char *lv = getenv("TLSSHIM_LOG");
	const char *file = secure_getenv("TLSSHIM_LOG_FILE");
	struct stat st;

	keep_fd = keep;
	if (fstat(2, &st) == 0)
		id_set(st.st_dev, st.st_ino);
	if (lv && *lv) {
		if (!strcasecmp(lv, "error"))
			log_level = LOG_ERROR;
		else if (!strcasecmp(lv, "warn") || !strcasecmp(lv, "warning"))
			log_level = LOG_WARN;
		else if (!strcasecmp(lv, "info"))
			log_level = LOG_INFO;
		else if (!strcasecmp(lv, "debug"))
			log_level = LOG_DEBUG;
		else
			log_msg(LOG_WARN, "TLSSHIM_LOG=\"%s\" is not error, warn, info or debug; using warn", lv);
	}
	if (file && *file) {
		log_path = strdup(file);
		if (!log_path || open_log() < 0) {
			int e = errno;
			free(log_path);
			log_path = NULL;
			log_msg(LOG_ERROR, "cannot open TLSSHIM_LOG_FILE \"%s\": %s; logging to standard error",
				file, e == EINVAL ? "not a regular file, a character device nor a pipe" : strerror(e));
		}
	}
	limit_init();
}

int log_enabled(enum log_level lv)
{
	return (int)lv <= log_level;
}

int log_fd_get(void)
{
	return log_fd >= 0 ? log_fd : 2;
}

void log_stderr_replaced(void)
{
	struct stat st;

	if (!log_path && fstat(2, &st) == 0 && !S_ISSOCK(st.st_mode))
		id_set(st.st_dev, st.st_ino);
}

/* What a file fstat may not look at (unverifiable) is taken for: a pipe,
 * so put_line guards against SIGPIPE and writes standard error without
 * waiting whatever it is. */
static void unknown(struct stat *st)
{
	memset(st, 0, sizeof *st);
	st->st_mode = S_IFIFO;
}

/* What standard error is, in *st: a file a line may go to (STDERR_FILE),
 * one fstat may not look at but that is no socket (STDERR_UNKNOWN, *st as
 * unknown() says), or nothing a line may go to (STDERR_NONE: closed, or a
 * socket: never onto a socket). */
enum stderr_kind { STDERR_NONE, STDERR_UNKNOWN, STDERR_FILE };

static enum stderr_kind stderr_is(int fd, struct stat *st)
{
	if (fstat(fd, st) < 0) {
		if (!unverifiable(fd, errno))
			return STDERR_NONE;
		unknown(st);
		return STDERR_UNKNOWN;
	}
	return S_ISSOCK(st->st_mode) ? STDERR_NONE : STDERR_FILE;
}

static int sys_fcntl(int fd, int cmd, int arg)
{
	return core_sys.fcntl ? core_sys.fcntl(fd, cmd, arg) : fcntl(fd, cmd, arg);
}

static void sys_close(int fd)
{
	if (core_sys.close)
		(void)core_sys.close(fd);
	else
		(void)close(fd);
}

/* A close-on-exec copy of fd for one line, at a high number
 * (log_fd_dup_set), or -1 with errno.  At the lowest free number (what
 * F_DUPFD from 3 gives) the program's own next descriptor is made: a
 * program thread's dup2() of a socket onto that number between the
 * copy's check and its write (or a stray close() or closefrom(), then a
 * new socket there) put the line on that socket, in clear, and the
 * line's close then closed the program's descriptor.  The library's own
 * descriptors' copy (shim_own_copy) places it, with the same retry when
 * the program lowered RLIMIT_NOFILE under the base since (a copy of that
 * function here had none: such a process's lines went to the lowest
 * free number again).  Unset (unit tests): from 3. */
static int dup_high(int fd)
{
	int (*dup_fn)(int) = __atomic_load_n(&fd_dup_fn, __ATOMIC_ACQUIRE);

	return dup_fn ? dup_fn(fd) : sys_fcntl(fd, F_DUPFD_CLOEXEC, 3);
}

/* Standard error for one line: a private copy of fd 2 (close-on-exec),
 * checked, written and closed by the line alone.  What fd 2 was when
 * looked at is not what a write to fd 2 reaches a moment later: another
 * thread's dup2() can put a socket on the number in between (an inetd
 * service's connection on 0, 1 and 2), and the line went onto it, in
 * clear.  The copy names the open file that was checked, whatever
 * happens to the number 2 meanwhile.  A socket is not copied at all
 * (first look): closing a copy could be the last close of a connection
 * the program closed meanwhile.  same: only the file standard error was
 * at start-up or was made by the program's dup2 (log lines; the refusal
 * to start takes any file).  The copy's number, or -1 (nothing a line may
 * go to), or -2 with *err (no copy could be made: the line is dropped and
 * counted, never written to the number unchecked). */
static int stderr_take(struct stat *st, bool same, int *err)
{
	enum stderr_kind k;
	int d;

	if (stderr_is(2, st) == STDERR_NONE)
		return -1;
	if ((d = dup_high(2)) < 0) {
		*err = errno;
		return -2;
	}
	k = stderr_is(d, st);
	if (k == STDERR_NONE || (same && k == STDERR_FILE && !id_is(st))) {
		sys_close(d);   /* a socket now, or some other file */
		return -1;
	}
	return d;
}

/* The fd this line may go to (*copy: a private copy of standard error,
 * to close after the line), -1 to drop it, or -2 with *err: dropped for
 * want of a copy.  *st: what it is. */
static int target(struct stat *st, bool *copy, int *err)
{
	*copy = false;
	if (log_path) {
		int fd = __atomic_load_n(&log_fd, __ATOMIC_ACQUIRE);
		if (fd >= 0) {
			if (fstat(fd, st) == 0) {
				if (id_is(st))
					return fd;
			} else if (unverifiable(fd, errno)) {
				unknown(st);
				return fd;
			}
		}
		/* Closed or replaced behind our back: open it again by name. */
		fd = open_log() == 0 ? __atomic_load_n(&log_fd, __ATOMIC_ACQUIRE) : -1;
		if (fd >= 0 && fstat(fd, st) < 0)
			unknown(st);
		return fd;
	}
	int fd = stderr_take(st, true, err);

	*copy = fd >= 0;
	return fd;
}


/* ---- writing a line without waiting ------------------------------------
 *
 * The log must never hold the program up (helper-104): a FIFO or a
 * supervisor's pipe whose reader stopped reading (or reads slowly), a
 * terminal stopped with ^S, a full file system.  Every line is one write
 * that cannot wait:
 *  - TLSSHIM_LOG_FILE is an open file of the library's own, left
 *    O_NONBLOCK (it used to be made blocking after the open);
 *  - standard error is the program's open file, whose O_NONBLOCK is the
 *    program's to set: a pipe is written with pwritev2(RWF_NOWAIT) (Linux
 *    6.4 and later for pipes); a terminal or a pipe on an older kernel
 *    through an open file of our own, O_NONBLOCK, opened again through
 *    /proc/self/fd (write_private; another writer filling it between a
 *    poll() and the write made the write wait), and only without one (no
 *    /proc, a terminal this user may not open again) only when poll()
 *    says it takes more: the one wait left; a regular file never waits.
 * A line (with what leads it) is at most 1560 bytes, under PIPE_BUF, so a
 * pipe takes it whole or not at all: never part of a line among other
 * processes' lines.
 * A line that could not be written is counted, and the count leads the
 * next line that gets through, in the same write: "N log lines dropped".
 * A pipe whose reader has gone raises no SIGPIPE (it used to: the
 * program died of the library's log line): SIGPIPE is blocked in the
 * calling thread around the write and one the write raised is taken back
 * (sigtimedwait with a zero timeout), unless one was already pending.
 * All of it is async-signal-safe: a signal handler's line may interrupt
 * another line (the counts are atomic; nothing is locked). */
static unsigned long drop_n;            /* lines dropped since the last one written */
static int drop_errno;                  /* why the last one was */
static int drop_cut;                    /* a line was cut short (a full file system) */

static const char *drop_why(int e)
{
	switch (e) {
	case EAGAIN:
		return "the log was full (its reader does not read)";
	case EPIPE:
		return "the log had no reader";
	case ENOSPC:
		return "the log's file system was full";
	case EDQUOT:
		return "the log's disk quota was exceeded";
	case EFBIG:
		return "the log file was too large";
	case EMFILE:
	case ENFILE:
		return "no file descriptor was free to write standard error safely";
	default:
		return "the log could not be written";
	}
}

static long sys_call(long nr, long a, long b, long c, long d)
{
	return core_sys.syscall ? core_sys.syscall(nr, a, b, c, d) : syscall(nr, a, b, c, d);
}

/* buf written through an open file of the library's own, non-blocking,
 * of the file fd names (a terminal or a pipe: log_nonblock_set), checked
 * to be that file: true with *w (bytes, or -1 with errno; EAGAIN when
 * what got opened is another file), or false when there is none (no
 * /proc, a terminal this user may not open again, a file fstat may not
 * look at). */
static bool private_ok;          /* write_private has had a file of its own */

static bool write_private(int fd, const struct stat *st, const char *buf, size_t n, ssize_t *w)
{
	int (*fn)(int) = __atomic_load_n(&nonblock_fn, __ATOMIC_ACQUIRE);
	struct stat ps;
	int p, e;

	if (!fn || !st->st_ino)
		return false;
	/* (at a high number: log_nonblock_set) */
	if ((p = fn(fd)) < 0) {
		/* None now, but one before, and not for want of a right
		 * (ENOTDIR, EBADF, EXDEV: another thread's dup2() or close()
		 * of the number of the directory being opened, or no procfs
		 * there now): dropped, as above, never the way that may wait. */
		if (!__atomic_load_n(&private_ok, __ATOMIC_RELAXED) ||
		    (errno != ENOTDIR && errno != EBADF && errno != EXDEV))
			return false;
		*w = -1;
		errno = EAGAIN;
		return true;
	}
	if (fstat(p, &ps) != 0) {
		sys_close(p);
		return false;
	}
	if (ps.st_dev != st->st_dev || ps.st_ino != st->st_ino || ps.st_rdev != st->st_rdev) {
		/* Not the file: another thread's dup2() got in before the
		 * move.  The line is dropped (counted), not sent the way
		 * that may wait for ever (poll, then a blocking write). */
		sys_close(p);
		*w = -1;
		errno = EAGAIN;
		return true;
	}
	__atomic_store_n(&private_ok, true, __ATOMIC_RELAXED);
	*w = sys_write(p, buf, n);
	e = errno;
	sys_close(p);
	errno = e;
	return true;
}

/* One write to (a copy of) the program's standard error, which may be
 * blocking:
 * bytes written, or -1 with errno (EAGAIN: it would wait). */
static ssize_t write_stderr(int fd, const struct stat *st, const char *buf, size_t n)
{
	struct pollfd p = { .fd = fd, .events = POLLOUT };
	int fl;

	if (S_ISREG(st->st_mode))
		return sys_write(fd, buf, n);
	if (S_ISFIFO(st->st_mode) && core_sys.pwritev2) {
		struct iovec v = { (void *)buf, n };
		ssize_t w = core_sys.pwritev2(fd, &v, 1, -1, RWF_NOWAIT);

		if (w >= 0 || (errno != EOPNOTSUPP && errno != EINVAL))
			return w;
	}
	/* A terminal, or a pipe RWF_NOWAIT does not know. */
	fl = core_sys.fcntl ? core_sys.fcntl(fd, F_GETFL) : fcntl(fd, F_GETFL);
	if (fl >= 0 && (fl & O_NONBLOCK))
		return sys_write(fd, buf, n);
	/* An open file of our own, non-blocking (its own flags): poll() and
	 * then a blocking write waited for ever when another writer filled
	 * the terminal or pipe in between. */
	if ((S_ISCHR(st->st_mode) || S_ISFIFO(st->st_mode))) {
		ssize_t w;

		if (write_private(fd, st, buf, n, &w))
			return w;
	}
	if ((core_sys.poll ? core_sys.poll(&p, 1, 0) : poll(&p, 1, 0)) == 1 && (p.revents & (POLLOUT | POLLERR)))
		return sys_write(fd, buf, n);
	errno = EAGAIN;
	return -1;
}

/* One write of buf to fd that neither waits nor raises SIGPIPE: the
 * thread's SIGPIPE is blocked around a write to a pipe, and one the write
 * raised is taken back unless one was already pending.  Bytes written, or
 * -1 with *err. */
static ssize_t write_quiet(int fd, bool program_file, const struct stat *st, const char *buf, size_t n, int *err)
{
	sigset_t pipe, old;
	bool fifo = S_ISFIFO(st->st_mode), pending = false;
	ssize_t w;

	if (fifo) {
		sigset_t now;

		sigemptyset(&pipe);
		sigaddset(&pipe, SIGPIPE);
		(void)pthread_sigmask(SIG_BLOCK, &pipe, &old);
		pending = sigpending(&now) == 0 && sigismember(&now, SIGPIPE);
	}
	do
		w = program_file ? write_stderr(fd, st, buf, n) : sys_write(fd, buf, n);
	while (w < 0 && errno == EINTR);
	*err = errno;
	if (fifo) {
		if (w < 0 && *err == EPIPE && !pending) {
			struct timespec zero = { 0, 0 };
			/* the raw call: the C library's is a cancellation point */
			(void)sys_call(SYS_rt_sigtimedwait, (long)&pipe, 0, (long)&zero, _NSIG / 8);
		}
		(void)pthread_sigmask(SIG_SETMASK, &old, NULL);
	}
	return w;
}

/* A line for standard error itself, not the log (the library's refusal
 * to start): as carefully as a log line there, never onto a socket (an
 * inetd service's fd 2 is its client's connection), never waiting, no
 * SIGPIPE. */
void log_stderr_write(const char *buf, size_t n)
{
	struct stat st;
	int e, fd = stderr_take(&st, false, &e);

	if (fd >= 0) {
		(void)write_quiet(fd, true, &st, buf, n, &e);
		sys_close(fd);
	}
}

/* The library cannot go on (a function it needs cannot be found): its
 * last line, then abort().  Before the C library's functions are
 * resolved (core_sys empty) the library's own wrappers cannot serve
 * (resolving them may be what failed): the C library's stdio, which
 * writes with its internal calls, only when fd 2 is no socket (it may
 * wait, on a full pipe; nothing else runs yet). */
void log_stderr_fatal(const char *buf, size_t n)
{
	struct stat st;

	if (core_sys.write && core_sys.fcntl && core_sys.close)
		log_stderr_write(buf, n);
	else if (stderr_is(2, &st) != STDERR_NONE)
		(void)!fwrite(buf, 1, n, stderr);
	abort();
}

/* The room log_vmsg leaves in front of a line for what put_line puts
 * there: a newline and the count of dropped lines. */
#define LOG_HEAD 160

/* Write line (n bytes, one or more whole lines, with LOG_HEAD bytes free
 * in front of it: no second buffer on the stack of a signal handler that
 * may run on a small alternate stack) to fd, or count it dropped. */
static void put_line(int fd, bool program_file, const struct stat *st, char *line, size_t n)
{
	char pre[LOG_HEAD], *buf;
	unsigned long d = __atomic_exchange_n(&drop_n, 0, __ATOMIC_ACQ_REL);
	int cut = __atomic_exchange_n(&drop_cut, 0, __ATOMIC_ACQ_REL);
	size_t off = 0;
	ssize_t w;
	int e;

	if (cut)
		pre[off++] = '\n';     /* end the line a full disk cut short */
	if (d) {
		int k = snprintf(pre + off, sizeof pre - off, "tlsshim[%d]: error: %lu log line%s dropped: %s\n",
				 (int)self_pid(), d, d == 1 ? "" : "s",
				 drop_why(__atomic_load_n(&drop_errno, __ATOMIC_ACQUIRE)));
		if (k > 0 && (size_t)k < sizeof pre - off) {
			off += (size_t)k;
		} else {                /* (cannot be: it is shorter) */
			__atomic_add_fetch(&drop_n, d, __ATOMIC_ACQ_REL);
			d = 0;
		}
	}
	buf = line - off;
	memcpy(buf, pre, off);
	n += off;
	w = write_quiet(fd, program_file, st, buf, n, &e);
	if (w >= 0 && (size_t)w == n)
		return;
	/* Dropped: this line, and the count if it did not get out whole. */
	if (w > 0 || cut)
		__atomic_store_n(&drop_cut, 1, __ATOMIC_RELEASE);
	__atomic_store_n(&drop_errno, w < 0 ? e : ENOSPC, __ATOMIC_RELEASE);
	__atomic_add_fetch(&drop_n, 1 + (w < 0 || (size_t)w < off ? d : 0), __ATOMIC_ACQ_REL);
}

/* FNV-1a of the kind's text up to its first ':' (a reason's class:
 * "certificate verification failed") or its first '"' (quoted text is
 * from outside: the server name a client sent, which made a kind per name:
 * a peer filled the table and then ran the one bucket every further kind
 * shares dry), digits left out (a pid or a count in it does not make
 * another kind). */
static uint64_t kind_hash(uint64_t h, const char *kind)
{
	for (const unsigned char *p = (const unsigned char *)kind; p && *p && *p != ':' && *p != '"'; p++)
		if (*p < '0' || *p > '9')
			h = (h ^ *p) * 0x100000001b3ull;
	return h;
}

/* May a line of this kind be written now?  *supp: how many of its kind
 * were suppressed since its last line (to say so first). */
static int limit_allows(const char *fmt, const char *kind, const char *kind2, uint32_t *supp)
{
	uint64_t key, now, tat, next;
	struct lim_slot *sl = NULL;
	unsigned i;

	*supp = 0;
	if (!lim)
		return 1;
	key = kind_hash(kind_hash(0xcbf29ce484222325ull ^ (uint64_t)(uintptr_t)fmt, kind), kind2);
	if (!key)
		key = 1;
	now = (uint64_t)clock_ns() / 1000u;
	for (i = 0; i < LIMIT_PROBE && !sl; i++) {
		struct lim_slot *s = &lim[(key + i) % LIMIT_SLOTS];
		uint64_t k = __atomic_load_n(&s->key, __ATOMIC_ACQUIRE), z = 0;

		if (k == key || (!k && (__atomic_compare_exchange_n(&s->key, &z, key, 0, __ATOMIC_ACQ_REL,
								       __ATOMIC_ACQUIRE) || z == key)))
			sl = s;
	}
	/* No slot of its own: one whose kind is idle (its bucket full
	 * again, nothing of it suppressed: a fresh slot in all but its key)
	 * is taken over (not one claimed a moment ago whose first line is
	 * still being written: its time is 0).  Slots were never freed: once
	 * 256 kinds had been seen, in a long-running server, every new kind
	 * shared the last bucket, and its first line was lost whenever that
	 * one was dry. */
	for (i = 0; i < LIMIT_PROBE && !sl; i++) {
		struct lim_slot *s = &lim[(key + i) % LIMIT_SLOTS];
		uint64_t k = __atomic_load_n(&s->key, __ATOMIC_ACQUIRE);
		uint64_t t = __atomic_load_n(&s->tat, __ATOMIC_ACQUIRE);

		if (t && t <= now &&
		    !__atomic_load_n(&s->suppressed, __ATOMIC_ACQUIRE) &&
		    __atomic_compare_exchange_n(&s->key, &k, key, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
			sl = s;
	}
	if (!sl)
		sl = &lim[LIMIT_SLOTS];         /* every kind past the table's */
	tat = __atomic_load_n(&sl->tat, __ATOMIC_ACQUIRE);
	do {
		next = (tat > now ? tat : now) + lim_every_us;
		if (next - now > lim_burst_us) {
			__atomic_add_fetch(&sl->suppressed, 1, __ATOMIC_ACQ_REL);
			return 0;
		}
	} while (!__atomic_compare_exchange_n(&sl->tat, &tat, next, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE));
	*supp = __atomic_exchange_n(&sl->suppressed, 0, __ATOMIC_ACQ_REL);
	return 1;
}

/* One line: prefix, the message with control characters escaped, newline.
 * buf has room for at least 8 bytes. */
static size_t format_line(char *buf, size_t len, enum log_level lv, const char *fmt, va_list ap)
{
	static const char *names[] = { "error", "warn", "info", "debug" };
	char raw[1024];
	size_t n;

	n = (size_t)snprintf(buf, len, "tlsshim[%d]: %s: ", (int)self_pid(), names[lv]);
	if (n > len - 8)
		n = len - 8;
	(void)vsnprintf(raw, sizeof raw, fmt, ap);
	for (const unsigned char *p = (const unsigned char *)raw; *p && n < len - 6; p++) {
		if (*p < 0x20 || *p == 0x7f)
			n += (size_t)snprintf(buf + n, len - n, "\\x%02x", *p);
		else
			buf[n++] = (char)*p;
	}
	buf[n++] = '\n';
	return n;
}

size_t log_format(char *buf, size_t len, enum log_level lv, const char *fmt, ...)
{
	int saved = errno;
	va_list ap;
	size_t n;

	if (!log_enabled(lv) || len < 8)
		return 0;
	va_start(ap, fmt);
	n = format_line(buf, len, lv, fmt, ap);
	va_end(ap);
	errno = saved;
	return n;
}

/* A formatted line (LOG_HEAD bytes free in front of buf) to the log. */
static void emit(char *buf, size_t n)
{
	struct stat st;
	bool copy;
	int e = 0, fd = target(&st, &copy, &e);

	if (fd >= 0) {
		put_line(fd, copy, &st, buf, n);
		if (copy)
			sys_close(fd);
	} else if (fd == -2) {
		__atomic_store_n(&drop_errno, e, __ATOMIC_RELEASE);
		__atomic_add_fetch(&drop_n, 1, __ATOMIC_ACQ_REL);
	}
}

static void log_vmsg(enum log_level lv, const char *kind, const char *kind2, const char *fmt, va_list ap)
{
	int saved = errno;
	char room[LOG_HEAD + 1400], *buf = room + LOG_HEAD;
	uint32_t supp = 0;
	size_t n = 0;

	if (!log_enabled(lv)) {
		errno = saved;
		return;
	}
	if (lv <= LOG_WARN && !limit_allows(fmt, kind, kind2, &supp)) {
		errno = saved;
		return;
	}
	if (supp)
		n = (size_t)snprintf(buf, 200, "tlsshim[%d]: %s: %u similar lines suppressed (TLSSHIM_LOG_LIMIT);"
				     " the next line is of their kind\n", (int)self_pid(),
				     lv == LOG_ERROR ? "error" : "warn", (unsigned)supp);
	n += format_line(buf + n, sizeof room - LOG_HEAD - n, lv, fmt, ap);
	emit(buf, n);
	errno = saved;
}

void log_put(const char *line, size_t n)
{
	char room[LOG_HEAD + 1400];

	if (!n || n > sizeof room - LOG_HEAD)
		return;
	memcpy(room + LOG_HEAD, line, n);
	emit(room + LOG_HEAD, n);
}

void log_msg(enum log_level lv, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(lv, NULL, NULL, fmt, ap);
	va_end(ap);
}

void log_msg_kind(enum log_level lv, const char *kind, const char *kind2, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(lv, kind, kind2, fmt, ap);
	va_end(ap);
}
