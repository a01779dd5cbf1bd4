/* shim/io.c — the read and write families.  Each entry point is the fast
 * path (one table lookup; plain fds go straight to libc) and a call into
 * shim/tlsio.c for TLS fds. */
#include <errno.h>

#include "core/log.h"

#include "shim/shim.h"

/* Run EXPR with a reference to fd's connection in `c`, or PLAIN. */
#define WITH_CONN(fd, PLAIN, EXPR) do {                          \
		struct tls_conn *c;                              \
		ssize_t r_;                                      \
		if (!conntab_maybe(fd) || !(c = conntab_get(fd)))\
			return PLAIN;                            \
		r_ = (EXPR);                                     \
		tls_conn_unref(c);                               \
		return r_;                                       \
	} while (0)

/* TCP ignores the address of recvfrom: say so as the kernel does. */
static void no_addr(socklen_t *alen)
{
	if (alen)
		*alen = 0;
}

SHIM_EXPORT ssize_t read(int fd, void *buf, size_t n)
{
	WITH_CONN(fd, REAL(read)(fd, buf, n), shim_tls_recv(c, buf, n, 0));
}

SHIM_EXPORT ssize_t write(int fd, const void *buf, size_t n)
{
	WITH_CONN(fd, REAL(write)(fd, buf, n), shim_tls_send(c, buf, n, 0));
}

SHIM_EXPORT ssize_t recv(int fd, void *buf, size_t n, int flags)
{
	WITH_CONN(fd, REAL(recv)(fd, buf, n, flags), shim_tls_recv(c, buf, n, flags));
}

SHIM_EXPORT ssize_t send(int fd, const void *buf, size_t n, int flags)
{
	WITH_CONN(fd, REAL(send)(fd, buf, n, flags), shim_tls_send(c, buf, n, flags));
}

SHIM_EXPORT ssize_t recvfrom(int fd, void *buf, size_t n, int flags, struct sockaddr *addr,
			     socklen_t *alen)
{
	WITH_CONN(fd, REAL(recvfrom)(fd, buf, n, flags, addr, alen),
		  (no_addr(alen), shim_tls_recv(c, buf, n, flags)));
}

/* TCP Fast Open connects and sends data in one call, never calling
 * connect(): on a destination a TLS or deny rule names, refuse rather
 * than put plaintext in the SYN. */
bool shim_fastopen_refused(int fd, const struct sockaddr *addr, socklen_t alen)
{
	const struct policy *p = shim_policy;
	const struct policy_rule *rule;
	struct sockaddr_storage ss;

	if (!p || !p->has[POLICY_CONNECT] || !addr || alen < sizeof(sa_family_t) ||
	    (addr->sa_family != AF_INET && addr->sa_family != AF_INET6) || !shim_is_tcp(fd))
		return false;
	alen = shim_norm_addr(addr, alen, &ss);
	rule = policy_match(p, POLICY_CONNECT, (struct sockaddr *)&ss, alen);
	if (!rule || rule->action == POLICY_PLAIN)
		return false;
	log_warn("rule \"%s\": TCP Fast Open (MSG_FASTOPEN) to a TLS destination is not supported;"
		 " refused", rule->name);
	errno = EOPNOTSUPP;
	return true;
}

SHIM_EXPORT ssize_t sendto(int fd, const void *buf, size_t n, int flags,
			   const struct sockaddr *addr, socklen_t alen)
{
	if (__builtin_expect(flags & MSG_FASTOPEN, 0) && shim_fastopen_refused(fd, addr, alen))
		return -1;
	WITH_CONN(fd, REAL(sendto)(fd, buf, n, flags, addr, alen), shim_tls_send(c, buf, n, flags));
}

SHIM_EXPORT ssize_t readv(int fd, const struct iovec *iov, int cnt)
{
	WITH_CONN(fd, REAL(readv)(fd, iov, cnt), shim_tls_recv_iov(c, iov, cnt, 0));
}

SHIM_EXPORT ssize_t writev(int fd, const struct iovec *iov, int cnt)
{
	WITH_CONN(fd, REAL(writev)(fd, iov, cnt), shim_tls_send_iov(c, iov, cnt, 0));
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
