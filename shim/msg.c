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
