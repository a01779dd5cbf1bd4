/* shim/msg.c — recvmsg()/sendmsg() on TLS fds: the iovecs carry
 * plaintext; ancillary data cannot travel inside TLS and is refused. */
#include <errno.h>

#include "core/log.h"
#include "shim/shim.h"

static ssize_t tls_recvmsg(struct tls_conn *c, struct msghdr *m, int flags)
{
	ssize_t r = shim_tls_recv_iov(c, m->msg_iov, (int)m->msg_iovlen, flags);

	if (r >= 0) {
		m->msg_namelen = 0;      /* TCP reports no source address */
		m->msg_controllen = 0;
		m->msg_flags = 0;
	}
	return r;
}

static ssize_t tls_sendmsg(struct tls_conn *c, const struct msghdr *m, int flags)
{
	if (m->msg_controllen) {
		log_warn("%s rule \"%s\": sendmsg with ancillary data cannot be sent over TLS",
			 tls_conn_peer(c), tls_conn_rule(c)->name);
		errno = EOPNOTSUPP;
		return -1;
	}
	return shim_tls_send_iov(c, m->msg_iov, (int)m->msg_iovlen, flags);
}

SHIM_EXPORT ssize_t recvmsg(int fd, struct msghdr *m, int flags)
{
	struct tls_conn *c;
	ssize_t r;

	if (!conntab_maybe(fd) || !(c = conntab_get(fd)))
		return REAL(recvmsg)(fd, m, flags);
	r = tls_recvmsg(c, m, flags);
	tls_conn_unref(c);
	return r;
}

SHIM_EXPORT ssize_t sendmsg(int fd, const struct msghdr *m, int flags)
{
	struct tls_conn *c;
	ssize_t r;

	if (__builtin_expect(flags & MSG_FASTOPEN, 0) &&
	    shim_fastopen_refused(fd, m->msg_name, m->msg_namelen))
		return -1;
	if (!conntab_maybe(fd) || !(c = conntab_get(fd)))
		return REAL(sendmsg)(fd, m, flags);
	r = tls_sendmsg(c, m, flags);
	tls_conn_unref(c);
	return r;
}

/* Many messages: one after another through the single-message paths;
 * only the first may wait, as the kernel does with MSG_WAITFORONE. */
SHIM_EXPORT int sendmmsg(int fd, struct mmsghdr *v, unsigned int n, int flags)
{
	struct tls_conn *c;
	unsigned int i;
	int saved = errno;

	if (!conntab_maybe(fd) || !(c = conntab_get(fd)))
		return REAL(sendmmsg)(fd, v, n, flags);
	for (i = 0; i < n; i++) {
		ssize_t r = tls_sendmsg(c, &v[i].msg_hdr, flags);
		if (r < 0) {
			if (i == 0) {
				tls_conn_unref(c);
				return -1;
			}
			errno = saved;
			break;
		}
		v[i].msg_len = (unsigned int)r;
	}
	tls_conn_unref(c);
	return (int)i;
}

SHIM_EXPORT int recvmmsg(int fd, struct mmsghdr *v, unsigned int n, int flags, struct timespec *t)
{
	struct tls_conn *c;
	unsigned int i;
	int saved = errno;

	if (!conntab_maybe(fd) || !(c = conntab_get(fd)))
		return REAL(recvmmsg)(fd, v, n, flags, t);
	for (i = 0; i < n; i++) {
		int f = flags & ~MSG_WAITFORONE;
		ssize_t r;

		if (i > 0 && (flags & MSG_WAITFORONE))
			f |= MSG_DONTWAIT;
		r = tls_recvmsg(c, &v[i].msg_hdr, f);
		if (r < 0) {
			if (i == 0) {
				tls_conn_unref(c);
				return -1;
			}
			errno = saved;
			break;
		}
		v[i].msg_len = (unsigned int)r;
		if (r == 0)
			break;
	}
	tls_conn_unref(c);
	return (int)i;
}
