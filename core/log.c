/* core/log.c — "tlsshim[PID]: ..." lines on stderr or TLSSHIM_LOG_FILE.
 *
 * One formatted buffer, one write(2), so lines from threads and processes
 * never interleave.  The environment is read once, at log_init(); the
 * file name with secure_getenv(), so a set-user-ID program never opens a
 * file its caller named.
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
 *  - control characters in a line (from peer names, certificate fields,
 *    paths: anything the shim did not write itself) are escaped as \xNN,
 *    so no line can forge another.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"
#include "core/self.h"
#include "core/sys.h"

static int log_level = LOG_WARN;
static int log_fd = -1;                 /* the log file, when one is named */
static char *log_path;
static dev_t id_dev;                    /* what log_fd (or fd 2) should be */
static ino_t id_ino;
static void (*keep_fd)(int fd, int *cell);

static int sys_write(int fd, const void *buf, size_t n)
{
	/* Before the shim resolved libc (constructors of other libraries),
	 * the linked write: the fd was checked above. */
	return core_sys.write ? (int)core_sys.write(fd, buf, n) : (int)write(fd, buf, n);
}

/* Opened without waiting (a FIFO with no reader would hold the process
 * before main() for ever: ENXIO instead): a regular file, a character
 * device (a terminal, /dev/null) or a pipe with a reader (a supervisor's
 * /dev/stderr); EINVAL for anything else (a socket, a directory). */
static int open_log(void)
{
	const int how = O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NONBLOCK;
	int fd = core_sys.open ? core_sys.open(log_path, how, 0600) : open(log_path, how, 0600);
	struct stat st;

	if (fd < 0)
		return -1;
	if (fstat(fd, &st) < 0 || !(S_ISREG(st.st_mode) || S_ISCHR(st.st_mode) || S_ISFIFO(st.st_mode))) {
		if (core_sys.close)
			core_sys.close(fd);
		else
			close(fd);
		errno = EINVAL;
		return -1;
	}
	if (core_sys.fcntl)
		(void)core_sys.fcntl(fd, F_SETFL, O_WRONLY | O_APPEND);
	else
		(void)fcntl(fd, F_SETFL, O_WRONLY | O_APPEND);
	id_dev = st.st_dev;
	id_ino = st.st_ino;
	if (keep_fd)
		keep_fd(fd, &log_fd);
	else
		log_fd = fd;
	return 0;
}

void log_init(void (*keep)(int fd, int *cell))
{
	const char *lv = getenv("TLSSHIM_LOG");
	const char *file = secure_getenv("TLSSHIM_LOG_FILE");
	struct stat st;

	keep_fd = keep;
	if (fstat(2, &st) == 0) {
		id_dev = st.st_dev;
		id_ino = st.st_ino;
	}
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

	if (!log_path && fstat(2, &st) == 0 && !S_ISSOCK(st.st_mode)) {
		id_dev = st.st_dev;
		id_ino = st.st_ino;
	}
}

/* The fd this line may go to, or -1 to drop it. */
static int target(void)
{
	struct stat st;

	if (log_path) {
		int fd = __atomic_load_n(&log_fd, __ATOMIC_ACQUIRE);
		if (fd >= 0 && fstat(fd, &st) == 0 && st.st_dev == id_dev && st.st_ino == id_ino)
			return fd;
		/* Closed or replaced behind our back: open it again by name. */
		return open_log() == 0 ? log_fd : -1;
	}
	if (fstat(2, &st) < 0 || S_ISSOCK(st.st_mode))
		return -1;      /* never onto a socket */
	if (st.st_dev == id_dev && st.st_ino == id_ino)
		return 2;
	return -1;              /* the number now names some other file */
}

int log_line_fd(void)
{
	return target();
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

void log_msg(enum log_level lv, const char *fmt, ...)
{
	int saved = errno, fd;
	char buf[1200];
	va_list ap;
	size_t n;

	if (!log_enabled(lv)) {
		errno = saved;
		return;
	}
	va_start(ap, fmt);
	n = format_line(buf, sizeof buf, lv, fmt, ap);
	va_end(ap);
	if ((fd = target()) >= 0)
		(void)sys_write(fd, buf, n);
	errno = saved;
}
