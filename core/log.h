/* core/log.h — the shim's only way to speak.
 *
 * Lines are "tlsshim[PID]: message\n", written with one write(2) to
 * standard error or to TLSSHIM_LOG_FILE (O_APPEND), never waiting: a line
 * the log cannot take now is dropped and counted ("N log lines dropped"
 * leads the next one written).  The level and file
 * are read from the environment once, by log_init().  errno is preserved.
 * Error and warn lines are rate limited per kind (TLSSHIM_LOG_LIMIT).
 * Never pass key material, session secrets or program data to these.
 */
#ifndef TLSSHIM_CORE_LOG_H
#define TLSSHIM_CORE_LOG_H

#include <stddef.h>
#include <sys/types.h>

enum log_level { LOG_ERROR = 0, LOG_WARN = 1, LOG_INFO = 2, LOG_DEBUG = 3 };

/* Reads TLSSHIM_LOG and TLSSHIM_LOG_FILE.  keep(fd, &cell): the shim
 * makes the log file's fd one of its own (moved high, guarded; cell is
 * updated if it must move); NULL in unit tests. */
void log_init(void (*keep)(int fd, int *cell));
/* How the log file is opened again by name when its descriptor was closed
 * or replaced behind the library's back (after start-up): the shim names
 * it from the root the process started under, as the policy's files
 * (a chroot()ed program's jail must not choose where lines go).  Unset:
 * open(2).  Must be async-signal-safe (a handler's line may reopen it). */
void log_open_set(int (*open_fn)(const char *path, int flags, mode_t mode));
/* How a line for a terminal or a pipe (standard error, blocking: its
 * O_NONBLOCK is the program's) gets an open file of its own that never
 * waits: fn(fd) opens the file fd names again, O_WRONLY|O_NONBLOCK, at a
 * high number as log_fd_dup_set's copies are (the shim: /proc/self/fd/FD
 * of the start root's procfs, moved to its own descriptors' numbers), or
 * -1 with errno (ENOTDIR, EBADF or EXDEV: something replaced or closed
 * the directory it went through, or it is no procfs now: the line is
 * dropped, once such a file was had).  The log checks that the file is
 * the one fd names.  Unset, or -1: poll() first, as before.  Must be
 * async-signal-safe. */
void log_nonblock_set(int (*fn)(int fd));
/* How the descriptors a line uses for a moment (a copy of standard
 * error, a file of its own for a terminal or a pipe) are copied: fn(fd)
 * makes a close-on-exec copy at the shim's own high numbers
 * (shim_own_copy: below RLIMIT_NOFILE, also after the program lowered
 * it), never at the lowest free number, which is the one the program's
 * next socket(), accept() or dup() takes, and which another thread's
 * dup2(), or a stray close() or closefrom() and a new descriptor, may
 * have replaced before the write.  -1 with errno if none.  Unset:
 * F_DUPFD_CLOEXEC from 3.  Must be async-signal-safe. */
void log_fd_dup_set(int (*fn)(int fd));
int log_enabled(enum log_level);
void log_msg(enum log_level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* log_msg for a line whose kind, for the rate limit of error and warn
 * lines (TLSSHIM_LOG_LIMIT), is more than its call site: kind and kind2
 * (each up to its first ':', digits ignored; NULL: none) tell apart, for
 * example, the rules and the classes of reasons of failed connections. */
void log_msg_kind(enum log_level, const char *kind, const char *kind2, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* The fd log lines go to (a pump keeps it open). */
int log_fd_get(void);
/* Format a line as log_msg would, without writing it: for a line a signal
 * handler writes later (log_put).  0 when the level is off. */
size_t log_format(char *buf, size_t len, enum log_level, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* A line log_format made, written now as log_msg writes (where the log
 * is now, never onto a socket, never waiting); async-signal-safe. */
void log_put(const char *line, size_t n);
/* The program has just dup2()ed another file onto standard error: lines
 * may go to that file (unless it is a socket), and only to it: fd 2
 * closed and its number reused by an open() is another file. */
void log_stderr_replaced(void);

/* In a fork's child (or a pump), first thing: another thread's change of
 * the log's identity that the fork cut off is forgotten (core/log.c). */
void log_fork_child(void);
/* buf (whole lines) to standard error itself, outside the log: never
 * onto a socket, never waiting, no SIGPIPE; dropped when it cannot go. */
void log_stderr_write(const char *buf, size_t n);
/* The library's last words before abort(), as log_stderr_write, also
 * before the C library's functions are resolved. */
void log_stderr_fatal(const char *buf, size_t n) __attribute__((noreturn));

#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)
#define log_warn(...)  do { if (log_enabled(LOG_WARN))  log_msg(LOG_WARN,  __VA_ARGS__); } while (0)
#define log_info(...)  do { if (log_enabled(LOG_INFO))  log_msg(LOG_INFO,  __VA_ARGS__); } while (0)
#define log_debug(...) do { if (log_enabled(LOG_DEBUG)) log_msg(LOG_DEBUG, __VA_ARGS__); } while (0)

#endif
