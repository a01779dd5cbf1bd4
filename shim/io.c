/* shim/io.c — the read and write families.  Each entry point is the fast
 * path (one table load; pass-through fds go straight to libc) and a call
 * into shim/tlsio.c for TLS fds.
 *
 * glibc also exports some of these under a second name (__read, __write,
 * __send, __recv, ...): a program or library that calls that name must
 * meet the same wrapper, so those are defined here too. */
/* No _FORTIFY_SOURCE in this file (a hardened build passes
 * -D_FORTIFY_SOURCE=2): it defines the plain names of fortified functions
 * (read, recv, recvfrom, vdprintf) and calls them, and with -fno-semantic-interposition
 * (Makefile) GCC cannot inline the headers' always_inline checked bodies
 * over our own definitions (the build failed).  The *_chk entry points the
 * library exports still check the buffer sizes. */
#undef _FORTIFY_SOURCE
#include <errno.h>
#include <execinfo.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/uio.h>

#include "core/log.h"

#include "shim/shim.h"

/* TCP ignores the address of recvfrom: say so as the kernel does. */
static void no_addr(socklen_t *alen)
{
	if (alen)
		*alen = 0;
}

SHIM_EXPORT ssize_t read(int fd, void *buf, size_t n)
{
	SHIM_DISPATCH(fd, REAL(read)(fd, buf, n), shim_tls_recv(c, buf, n, 0));
}

SHIM_EXPORT ssize_t write(int fd, const void *buf, size_t n)
{
	SHIM_DISPATCH(fd, REAL(write)(fd, buf, n), shim_tls_send(c, buf, n, 0));
}

SHIM_EXPORT ssize_t recv(int fd, void *buf, size_t n, int flags)
{
	SHIM_OOB_PUMPED(fd, flags);
	SHIM_DISPATCH(fd, REAL(recv)(fd, buf, n, flags), shim_tls_recv(c, buf, n, flags));
}

SHIM_EXPORT ssize_t send(int fd, const void *buf, size_t n, int flags)
{
	SHIM_OOB_PUMPED(fd, flags);
	SHIM_DISPATCH(fd, REAL(send)(fd, buf, n, flags), shim_tls_send(c, buf, n, flags));
}

/* recvfrom on a descriptor that is not TLS: the source the kernel names
 * (TCP names none) is checked as a destination (shim_peer_check): an
 * SCTP one-to-many socket's data from a peer a tls or deny rule names
 * is wiped from the buffer, and the call refused. */
static ssize_t plain_recvfrom(int fd, void *buf, size_t n, int flags, struct sockaddr *addr, socklen_t *alen)
{
	socklen_t room = addr && alen ? *alen : 0;
	ssize_t r = REAL(recvfrom)(fd, buf, n, flags, addr, alen);
	int e;

	if (r >= 0 && room && (e = shim_peer_check(fd, addr, *alen < room ? *alen : room, "recvfrom")) < 0) {
		explicit_bzero(buf, (size_t)r < n ? (size_t)r : n);
		errno = -e;
		return -1;
	}
	return r;
}

SHIM_EXPORT ssize_t recvfrom(int fd, void *buf, size_t n, int flags, struct sockaddr *addr,
			     socklen_t *alen)
{
	SHIM_OOB_PUMPED(fd, flags);
	SHIM_DISPATCH(fd, plain_recvfrom(fd, buf, n, flags, addr, alen),
		      (no_addr(alen), shim_tls_recv(c, buf, n, flags)));
}

/* TCP Fast Open connects and sends data in one call, never calling
 * connect(): on a destination a TLS or deny rule names, refuse rather
 * than put plaintext in the SYN. */
bool shim_fastopen_refused(int fd, const struct sockaddr *addr, socklen_t alen)
{
	struct shim_verdict v;
	struct sockaddr_storage ss;
	int b;

	shim_ensure_init();
	/* 0.0.0.0: the kernel connects to the address the socket is bound
	 * to, and sends to it what this call is given: that address is
	 * matched.  Where the kernel will not say which (getsockname
	 * refused), refused as well (connect() then matches it as 127.0.0.1
	 * and connects there itself). */
	if (shim_policy && shim_policy->has[POLICY_CONNECT] && (b = shim_dest_bound(fd, addr, alen, &ss))) {
		if (b < 0) {
			log_warn("fd %d: TCP Fast Open (MSG_FASTOPEN) to 0.0.0.0, the socket's own address not"
				 " known (getsockname: %s); refused", fd, strerror(-b));
			return true;
		}
		addr = (const struct sockaddr *)&ss;
	}
	if (!shim_resolve_connect(fd, addr, alen, &v, NULL) || v.rule->action == POLICY_PLAIN)
		return false;
	log_warn("%s rule \"%s\": TCP Fast Open (MSG_FASTOPEN) to a TLS destination is not supported;"
		 " refused", v.desc, v.rule->name);
	return true;
}

SHIM_EXPORT ssize_t sendto(int fd, const void *buf, size_t n, int flags,
			   const struct sockaddr *addr, socklen_t alen)
{
	int e;

	SHIM_OOB_PUMPED(fd, flags);
	if (__builtin_expect(flags & MSG_FASTOPEN, 0)) {
		struct iovec v = { (void *)(uintptr_t)buf, n };
		struct msghdr m = { .msg_name = (void *)(uintptr_t)addr, .msg_namelen = alen,
				    .msg_iov = &v, .msg_iovlen = 1 };
		ssize_t r;

		if (shim_fastopen_refused(fd, addr, alen))
			SHIM_RET(-EOPNOTSUPP);
		if (addr)
			shim_fastopen_afresh(fd);
		/* (a pumped number: its end connects nowhere else; a name longer
		 * than a sockaddr_storage is the kernel's EINVAL, before anything,
		 * which shim_pumped_fastopen's sendmsg would take in part) */
		if (!addr || alen <= sizeof(struct sockaddr_storage)) {
			r = shim_pumped_fastopen(fd, &m, flags, "sendto(MSG_FASTOPEN)");
			if (r != SHIM_NOT_PUMPED)
				SHIM_RET(r);
		}
	}
	/* A destination without connect(): SCTP sets up an association. */
	if (addr && (e = shim_peer_check(fd, addr, alen, "sendto")) < 0)
		SHIM_RET(e);
	SHIM_DISPATCH(fd, REAL(sendto)(fd, buf, n, flags, addr, alen), shim_tls_send(c, buf, n, flags));
}

/* The iovec array is checked as the kernel checks it (shim_iov_check):
 * 1025 buffers were sent, a negative count read as none. */
static ssize_t tls_readv(struct tls_conn *c, const struct iovec *iov, int cnt, int flags)
{
	ssize_t e = shim_iov_check(iov, (size_t)cnt, EINVAL);

	return e < 0 ? e : shim_tls_recv_iov(c, iov, cnt, flags);
}

static ssize_t tls_writev(struct tls_conn *c, const struct iovec *iov, int cnt, int flags)
{
	ssize_t e = shim_iov_check(iov, (size_t)cnt, EINVAL);

	return e < 0 ? e : shim_tls_send_iov(c, iov, cnt, flags);
}

SHIM_EXPORT ssize_t readv(int fd, const struct iovec *iov, int cnt)
{
	SHIM_DISPATCH(fd, REAL(readv)(fd, iov, cnt), tls_readv(c, iov, cnt, 0));
}

SHIM_EXPORT ssize_t writev(int fd, const struct iovec *iov, int cnt)
{
	SHIM_DISPATCH(fd, REAL(writev)(fd, iov, cnt), tls_writev(c, iov, cnt, 0));
}

/* preadv2/pwritev2 with offset -1 use (and move) the current position:
 * on a socket they are readv/writev with flags.  Any other offset on a
 * socket is ESPIPE (below -1, EINVAL).
 *
 * The flags a socket takes depend on the kernel: every one since 4.16
 * takes the five below; 6.18 adds RWF_NOSIGNAL (MSG_NOSIGNAL's meaning);
 * RWF_ATOMIC, RWF_DONTCACHE and bits it does not know fail with
 * EOPNOTSUPP.  Other flags are put to the kernel on a socket pair of the
 * library's own, bit by bit, and refused here when the kernel refuses them
 * there. */
#define RWF_EVERY_KERNEL (RWF_HIPRI | RWF_DSYNC | RWF_SYNC | RWF_NOWAIT | RWF_APPEND)
#define RWF_NOSIGNAL_ 0x100     /* Linux 6.18, <linux/fs.h> */

/* A socket takes or refuses each such bit alone: the answers are kept,
 * per direction (the kernel does not change under a running program), so
 * a program that passes RWF_NOSIGNAL on every write asks once. */
static _Atomic unsigned rwf_taken[2];
/* RWF_ATOMIC (6.11) and RWF_DONTCACHE (6.14) no socket takes; a kernel
 * without them refuses them as unknown bits: no probe. */
static _Atomic unsigned rwf_refused[2] = { 0x40 | 0x80, 0x40 | 0x80 };

static bool rwf_probe(unsigned bit, bool writing)
{
	int sv[2], r, e;
	char b = 'x';
	struct iovec v = { &b, 1 };

	if (REAL(socketpair)(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return true;    /* (no probe: taken, as before; not kept) */
	/* High at once: at the lowest free numbers, another thread's dup2()
	 * onto one put the probe's byte on the program's socket. */
	sv[0] = shim_own_move(sv[0]);
	sv[1] = shim_own_move(sv[1]);
	/* (RWF_NOWAIT: an empty read says EAGAIN when the bit is taken) */
	r = writing ? (int)REAL(pwritev2)(sv[0], &v, 1, -1, (int)bit | RWF_NOWAIT)
		    : (int)REAL(preadv2)(sv[1], &v, 1, -1, (int)bit | RWF_NOWAIT);
	e = errno;
	REAL(close)(sv[0]);
	REAL(close)(sv[1]);
	if (r < 0 && e == EOPNOTSUPP) {
		atomic_fetch_or(&rwf_refused[writing], bit);
		return false;
	}
	/* Kept only for the answers of a probe that ran: a byte written, or
	 * an empty read's EAGAIN (another thread's close of the pair's
	 * numbers, EBADF, says nothing about the bit). */
	if (writing ? r == 1 : (r < 0 && e == EAGAIN))
		atomic_fetch_or(&rwf_taken[writing], bit);
	return true;
}

static int rwf_check(int flags, bool writing)
{
	unsigned extra = (unsigned)flags & ~(unsigned)RWF_EVERY_KERNEL, left;

	if (!extra)
		return 0;
	if (extra & atomic_load(&rwf_refused[writing]))
		return -EOPNOTSUPP;
	left = extra & ~atomic_load(&rwf_taken[writing]);
	for (unsigned bit = 1; left; bit <<= 1)
		if (left & bit) {
			left &= ~bit;
			if (!rwf_probe(bit, writing))
				return -EOPNOTSUPP;
		}
	return 0;
}

static int rwf_to_msg(int flags)
{
	return ((flags & RWF_NOWAIT) ? MSG_DONTWAIT : 0) | ((flags & RWF_NOSIGNAL_) ? MSG_NOSIGNAL : 0);
}

#define RWF_NOAPPEND_ 0x20      /* Linux 6.9 */

/* preadv2/pwritev2's arguments in the kernel's order on a socket: an
 * offset below -1 is EINVAL (do_preadv), another than -1 ESPIPE; then
 * the iovec array (EINVAL); a call for no bytes is 0 whatever the flags
 * (vfs_readv returns before it looks at them); then the flags, and
 * RWF_APPEND with RWF_NOAPPEND is EINVAL where the kernel knows the one.
 * 1: do the call; 0: it is done (0 bytes); else -errno. */
static int rwf_args(const struct iovec *iov, int cnt, off_t off, int flags, bool writing)
{
	size_t any = 0;
	int e;

	if (off < -1)
		return -EINVAL;
	if (off != -1)
		return -ESPIPE;
	if ((e = shim_iov_check(iov, (size_t)cnt, EINVAL)) < 0)
		return e;
	for (int i = 0; i < cnt && !any; i++)
		any = iov[i].iov_len;
	if (!any)
		return 0;
	if ((e = rwf_check(flags, writing)) < 0)
		return e;
	if ((flags & RWF_APPEND) && (flags & RWF_NOAPPEND_))
		return -EINVAL;
	return 1;
}

static ssize_t tls_preadv2(struct tls_conn *c, const struct iovec *iov, int cnt, off_t off, int flags)
{
	int e = rwf_args(iov, cnt, off, flags, false);

	return e <= 0 ? e : tls_readv(c, iov, cnt, rwf_to_msg(flags));
}

static ssize_t tls_pwritev2(struct tls_conn *c, const struct iovec *iov, int cnt, off_t off, int flags)
{
	int e = rwf_args(iov, cnt, off, flags, true);

	return e <= 0 ? e : tls_writev(c, iov, cnt, rwf_to_msg(flags));
}

SHIM_EXPORT ssize_t preadv2(int fd, const struct iovec *iov, int cnt, off_t off, int flags)
{
	SHIM_DISPATCH(fd, REAL(preadv2)(fd, iov, cnt, off, flags), tls_preadv2(c, iov, cnt, off, flags));
}

SHIM_EXPORT ssize_t pwritev2(int fd, const struct iovec *iov, int cnt, off_t off, int flags)
{
	SHIM_DISPATCH(fd, REAL(pwritev2)(fd, iov, cnt, off, flags), tls_pwritev2(c, iov, cnt, off, flags));
}

SHIM_EXPORT ssize_t preadv64v2(int fd, const struct iovec *iov, int cnt, off64_t off, int flags)
{
	return preadv2(fd, iov, cnt, (off_t)off, flags);
}

SHIM_EXPORT ssize_t pwritev64v2(int fd, const struct iovec *iov, int cnt, off64_t off, int flags)
{
	return pwritev2(fd, iov, cnt, (off_t)off, flags);
}

/* The fortified variants (-D_FORTIFY_SOURCE) check the buffer size, then
 * behave exactly like the plain calls. */
SHIM_EXPORT ssize_t __read_chk(int fd, void *buf, size_t n, size_t buflen)
{
	if (n > buflen)
		__chk_fail();
	return read(fd, buf, n);
}

SHIM_EXPORT ssize_t __recv_chk(int fd, void *buf, size_t n, size_t buflen, int flags)
{
	if (n > buflen)
		__chk_fail();
	return recv(fd, buf, n, flags);
}

SHIM_EXPORT ssize_t __recvfrom_chk(int fd, void *buf, size_t n, size_t buflen, int flags,
				   struct sockaddr *addr, socklen_t *alen)
{
	if (n > buflen)
		__chk_fail();
	return recvfrom(fd, buf, n, flags, addr, alen);
}

/* glibc's second names for the same calls. */
SHIM_EXPORT ssize_t __read(int fd, void *buf, size_t n)
{
	return read(fd, buf, n);
}

SHIM_EXPORT ssize_t __write(int fd, const void *buf, size_t n)
{
	return write(fd, buf, n);
}

/* glibc's no-cancel forms (GLIBC_PRIVATE, reached with dlsym on its
 * handle: on a TLS fd they moved the bytes in clear).  They are our read
 * and write, cancellation points like them: the C library's own internal
 * calls do not come here. */
SHIM_EXPORT ssize_t __read_nocancel(int fd, void *buf, size_t n)
{
	return read(fd, buf, n);
}

SHIM_EXPORT ssize_t __write_nocancel(int fd, const void *buf, size_t n)
{
	return write(fd, buf, n);
}

SHIM_EXPORT ssize_t __recv(int fd, void *buf, size_t n, int flags)
{
	return recv(fd, buf, n, flags);
}

SHIM_EXPORT ssize_t __send(int fd, const void *buf, size_t n, int flags)
{
	return send(fd, buf, n, flags);
}

/* dprintf formats into a FILE of the C library's own that writes with
 * its internal write, past every wrapper: on a TLS fd, format here and
 * write through the engine. */
static int tls_vdprintf(struct tls_conn *c, const char *fmt, va_list ap)
{
	char *s = NULL;
	va_list aq;
	int n;
	ssize_t w;

	va_copy(aq, ap);        /* a retry after a hand-over formats again */
	n = vasprintf(&s, fmt, aq);
	va_end(aq);
	if (n < 0)
		return -ENOMEM;
	w = shim_tls_send(c, s, (size_t)n, 0);
	free(s);
	return (int)w;
}

SHIM_EXPORT int vdprintf(int fd, const char *fmt, va_list ap)
{
	SHIM_DISPATCH(fd, REAL(vdprintf)(fd, fmt, ap), tls_vdprintf(c, fmt, ap));
}

SHIM_EXPORT int dprintf(int fd, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = vdprintf(fd, fmt, ap);
	va_end(ap);
	return r;
}

/* The fortified forms: flag > 0 checks %n in writable memory, which our
 * vasprintf path does not need to know about (glibc's own checks apply
 * to the plain path). */
SHIM_EXPORT int __vdprintf_chk(int fd, int flag, const char *fmt, va_list ap)
{
	uintptr_t v = conntab_load(fd);

	if (conntab_is_pass(v))
		return REAL(__vdprintf_chk)(fd, flag, fmt, ap);
	return vdprintf(fd, fmt, ap);
}

SHIM_EXPORT int __dprintf_chk(int fd, int flag, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = __vdprintf_chk(fd, flag, fmt, ap);
	va_end(ap);
	return r;
}

/* eventfd_read() and eventfd_write() are the C library's internal read
 * and write of 8 bytes, past every wrapper: on a TLS fd the 8 bytes went
 * out in clear, and the 8 read were the peer's ciphertext, unchecked.
 * Both are that read or write here, through the wrappers (glibc's own
 * definitions, sysdeps/unix/sysv/linux/eventfd_{read,write}.c). */
SHIM_EXPORT int eventfd_read(int fd, eventfd_t *value)
{
	return read(fd, value, sizeof *value) != sizeof *value ? -1 : 0;
}

SHIM_EXPORT int eventfd_write(int fd, eventfd_t value)
{
	return write(fd, &value, sizeof value) != sizeof value ? -1 : 0;
}

/* backtrace_symbols_fd() writes each frame's line with the C library's
 * internal writev, past every wrapper: on a TLS fd the lines went out in
 * clear after the handshake.  There, the C library writes each line into
 * a non-blocking pipe of our own (no allocation: crash handlers call
 * this), and what it wrote goes through the engine: the same bytes,
 * encrypted.  A line longer than the pipe holds (64 KiB) is cut there.
 * A count of bytes sent, or a negative errno. */
static ssize_t tls_backtrace(struct tls_conn *c, void *const *bt, int n)
{
	char buf[4096];
	ssize_t total = 0;
	int p[2], e = 0;

	if (REAL(pipe2)(p, O_CLOEXEC | O_NONBLOCK) < 0)
		return -errno;
	for (int i = 0; i < n && !e; i++) {
		ssize_t got;

		REAL(backtrace_symbols_fd)(bt + i, 1, p[1]);
		while (!e && (got = REAL(read)(p[0], buf, sizeof buf)) > 0) {
			for (ssize_t off = 0; off < got;) {
				ssize_t w = shim_tls_send(c, buf + off, (size_t)(got - off), 0);

				if (w < 0) {
					e = (int)w;
					break;
				}
				off += w;
				total += w;
			}
		}
	}
	REAL(close)(p[0]);
	REAL(close)(p[1]);
	return e && !total ? e : total;
}

static ssize_t backtrace_to(void *const *bt, int n, int fd)
{
	SHIM_DISPATCH(fd, (REAL(backtrace_symbols_fd)(bt, n, fd), 0), tls_backtrace(c, bt, n));
}

SHIM_EXPORT void backtrace_symbols_fd(void *const *bt, int n, int fd)
{
	(void)backtrace_to(bt, n, fd);
}
