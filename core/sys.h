/* core/sys.h — the real C library functions the core may call.
 *
 * The core never calls read/write/recv/send/poll/close by name: inside a
 * preloaded library those names resolve to our own wrappers.  The shim
 * fills this table with the libc functions (dlsym RTLD_NEXT) before any
 * connection exists; unit tests fill it with libc's own (core_sys_default).
 */
#ifndef TLSSHIM_CORE_SYS_H
#define TLSSHIM_CORE_SYS_H

#include <poll.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

struct core_sys {
	ssize_t (*recv)(int, void *, size_t, int);
	ssize_t (*send)(int, const void *, size_t, int);
	ssize_t (*write)(int, const void *, size_t);
	int (*poll)(struct pollfd *, nfds_t, int);
	int (*close)(int);
	int (*shutdown)(int, int);
	int (*fcntl)(int, int, ...);
	int (*getsockopt)(int, int, int, void *, socklen_t *);
	int (*open)(const char *, int, ...);
	int (*setsockopt)(int, int, int, const void *, socklen_t);
	ssize_t (*recvmsg)(int, struct msghdr *, int);
	ssize_t (*sendmsg)(int, const struct msghdr *, int);
	ssize_t (*sendfile64)(int, int, off64_t *, size_t);
	ssize_t (*pwritev2)(int, const struct iovec *, int, off_t, int);
	long (*syscall)(long, ...);
};

extern struct core_sys core_sys;

/* Every member, for filling the table in one line per source of
 * functions: CORE_SYS_FUNCS(X) expands X(name) for each. */
#define CORE_SYS_FUNCS(X)                                                            \
	X(recv) X(send) X(write) X(poll) X(close) X(shutdown) X(fcntl) X(getsockopt) \
	X(open) X(setsockopt) X(recvmsg) X(sendmsg) X(sendfile64) X(pwritev2) X(syscall)

/* Point the table at libc's functions as linked (for unit tests). */
void core_sys_default(void);

#endif
