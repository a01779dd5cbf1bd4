/* core/log.c — "tlsshim[PID]: ..." lines on stderr or TLSSHIM_LOG_FILE.
 *
 * One formatted buffer, one write(2), so lines from threads and processes
 * never interleave.  The environment is read once, at log_init().
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "core/log.h"
#include "core/sys.h"

static int log_level = LOG_WARN;
static int log_fd = 2;
static pid_t log_pid;

void log_init(void)
{
	const char *lv = getenv("TLSSHIM_LOG");
	const char *file = getenv("TLSSHIM_LOG_FILE");

	log_pid = getpid();
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
		int fd = open(file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
		if (fd < 0)
			log_msg(LOG_ERROR, "cannot open TLSSHIM_LOG_FILE \"%s\": %s; logging to standard error",
				file, strerror(errno));
		else
			log_fd = fd;
	}
}

void log_set_level(enum log_level lv)
{
	log_level = lv;
}

int log_enabled(enum log_level lv)
{
	return (int)lv <= log_level;
}

int log_fd_get(void)
{
	return log_fd;
}

void log_after_fork(void)
{
	log_pid = getpid();
}

void log_msg(enum log_level lv, const char *fmt, ...)
{
	static const char *names[] = { "error", "warn", "info", "debug" };
	int saved = errno;
	char buf[1024];
	va_list ap;
	int n;

	if (!log_enabled(lv)) {
		errno = saved;
		return;
	}
	if (!log_pid)
		log_pid = getpid();
	n = snprintf(buf, sizeof buf, "tlsshim[%d]: %s: ", (int)log_pid, names[lv]);
	va_start(ap, fmt);
	n += vsnprintf(buf + n, sizeof buf - (size_t)n, fmt, ap);
	va_end(ap);
	if (n > (int)sizeof buf - 2)
		n = (int)sizeof buf - 2;
	buf[n++] = '\n';
	/* Before the shim resolved libc (constructors of other libraries),
	 * fall back to the linked write: the fd is never a TLS socket. */
	if (core_sys.write)
		(void)core_sys.write(log_fd, buf, (size_t)n);
	else
		(void)!write(log_fd, buf, (size_t)n);
	errno = saved;
}
