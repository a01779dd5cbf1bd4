/* shim/connect.c — connect(): a verified TLS client handshake before the
 * program sends a byte, on destinations a connect rule names. */
#include <errno.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>

#include "core/log.h"
#include "shim/shim.h"

void shim_default_name(const struct sockaddr *sa, char *buf, size_t len)
{
	if (shim_name_for(sa, buf, len))
		return;
	if (sa->sa_family == AF_INET) {
		inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, buf, (socklen_t)len);
	} else {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;
		if (IN6_IS_ADDR_V4MAPPED(a))
			inet_ntop(AF_INET, a->s6_addr + 12, buf, (socklen_t)len);
		else
			inet_ntop(AF_INET6, a, buf, (socklen_t)len);
	}
}

/* connect() failed, but the socket may still be (or become) connected:
 * its session must stay in the table, or a later write would go out in
 * clear.  Only a definite failure ends it. */
static bool still_connecting(int err)
{
	return err == EINPROGRESS || err == EINTR || err == EAGAIN;
}

/* The kernel's TCP state of fd (TCP_CLOSE after a failed connect, when
 * the socket may connect again), or -1. */
static int tcp_state(int fd)
{
	struct tcp_info ti;
	socklen_t l = sizeof ti;

	if (REAL(getsockopt)(fd, IPPROTO_TCP, TCP_INFO, &ti, &l) < 0)
		return -1;
	return ti.tcpi_state;
}

/* connect() on a socket that already has a session: the kernel answers
 * (EALREADY while connecting, EISCONN once connected) and the session
 * stays, whatever address this call names.  Only a socket whose earlier
 * connect failed (TCP_CLOSE) may connect again, afresh. */
static int again(int fd, struct tls_conn *c, const struct sockaddr *sa, socklen_t len, bool *afresh)
{
	*afresh = false;
	if (sa && len >= sizeof(sa_family_t) && sa->sa_family == AF_UNSPEC) {
		/* Dissolve the association (TCP: an abortive close).  The session
		 * dies with it; a later connect() is matched afresh. */
		tls_conn_fail(c, TLS_FAIL_SYSCALL, "the program dissolved the connection"
			      " (connect with AF_UNSPEC)");
		return REAL(connect)(fd, sa, len);
	}
	if (!tls_conn_handshake_started(c) && !tls_conn_failed(c) && tcp_state(fd) == TCP_CLOSE) {
		*afresh = true;
		return 0;
	}
	return REAL(connect)(fd, sa, len);
}

static int shim_connect(int fd, const struct sockaddr *sa, socklen_t len)
{
	struct shim_verdict v;
	struct sockaddr_storage ss;
	struct tls_conn *c;
	bool nb, afresh;
	int r;

	shim_ensure_init();
	switch (shim_route(fd, &c)) {
	case ROUTE_ERR:
		return -1;
	case ROUTE_PASS:
		if (conntab_load(fd) == CT_PUMPED)   /* connected: the kernel says so */
			return REAL(connect)(fd, sa, len);
		break;
	case ROUTE_TLS:
		r = again(fd, c, sa, len, &afresh);
		if (!afresh) {
			int saved = errno;
			if (sa && len >= sizeof(sa_family_t) && sa->sa_family == AF_UNSPEC) {
				tls_conn_unref(conntab_detach(fd));
				conntab_set(fd, CT_PLAIN);
			}
			tls_conn_unref(c);
			errno = saved;
			return r;
		}
		tls_conn_unref(c);
		tls_conn_unref(conntab_detach(fd));
		conntab_set(fd, CT_PLAIN);
		break;
	}
	if (!shim_resolve_connect(fd, sa, len, &v))
		return REAL(connect)(fd, sa, len);
	len = shim_norm_addr(sa, len, &ss);
	sa = (const struct sockaddr *)&ss;
	switch (v.rule->action) {
	case POLICY_DENY:
		log_warn("%s rule \"%s\": connection refused by policy (action = \"deny\")",
			 v.desc, v.rule->name);
		errno = ECONNREFUSED;
		return -1;
	case POLICY_PLAIN:
		log_info("%s rule \"%s\": plain TCP by policy (action = \"plain\")", v.desc, v.rule->name);
		return REAL(connect)(fd, sa, len);
	case POLICY_TLS:
		break;
	}
	c = shim_conn_new(fd, &v);
	if (!c) {
		errno = ENOMEM;
		return -1;
	}
	/* In the table before the first byte can move: from here on no
	 * thread of the program can write plaintext to this socket. */
	tls_conn_ref(c);
	if (conntab_attach(fd, c) < 0) {
		tls_conn_unref(c);
		tls_conn_unref(c);
		log_error("%s rule \"%s\": fd %d beyond the connection table", v.desc, v.rule->name, fd);
		errno = EMFILE;
		return -1;
	}
	nb = shim_is_nonblocking(fd);
	r = REAL(connect)(fd, sa, len);
	if (r < 0) {
		int saved = errno;
		/* Still connecting: the handshake runs on first use.  Otherwise a
		 * plain failure, with its plain errno.  (EALREADY or EISCONN
		 * here: the socket was connecting or connected elsewhere before
		 * this call, by a connect no rule named; it stays that.) */
		if (!still_connecting(saved)) {
			tls_conn_unref(conntab_detach(fd));
			conntab_set(fd, CT_PLAIN);
		} else if (fd <= 2) {
			shim_tls_placed(fd, c);
		}
		tls_conn_unref(c);
		errno = saved;
		return -1;
	}
	if (nb) {
		/* The handshake runs on first use (see docs/design.md). */
		shim_tls_placed(fd, c);
		tls_conn_unref(c);
		return 0;
	}
	r = shim_tls_handshake(c, false);
	if (r == 0)
		shim_tls_placed(fd, c);
	tls_conn_unref(c);
	if (r < 0) {
		/* The connection stays in the table, failed: any later I/O fails. */
		errno = ECONNREFUSED;
		return -1;
	}
	return 0;
}

SHIM_EXPORT int connect(int fd, const struct sockaddr *sa, socklen_t len)
{
	return shim_connect(fd, sa, len);
}

SHIM_EXPORT int __connect(int fd, const struct sockaddr *sa, socklen_t len)
{
	return shim_connect(fd, sa, len);
}

/* A pumped fd names the pump's loopback channel; the program asks about
 * its connection: answer with the session's TCP addresses (inetd services,
 * sshd and tcp-wrappers log and filter on them). */
static int pumped_addr(int fd, bool peer, struct sockaddr *sa, socklen_t *len)
{
	struct conntab_pumped *pi = conntab_pumped(fd);
	const struct sockaddr_storage *ss = peer ? &pi->peer : &pi->local;
	socklen_t l = peer ? pi->plen : pi->llen;

	if (!l)
		return -2;      /* not known: let the kernel answer */
	if (!sa || !len) {
		errno = EFAULT;
		return -1;
	}
	memcpy(sa, ss, *len < l ? *len : l);
	*len = l;
	return 0;
}

SHIM_EXPORT int getpeername(int fd, struct sockaddr *sa, socklen_t *len)
{
	if (conntab_load(fd) == CT_PUMPED) {
		int r = pumped_addr(fd, true, sa, len);
		if (r != -2)
			return r;
	}
	return REAL(getpeername)(fd, sa, len);
}

SHIM_EXPORT int getsockname(int fd, struct sockaddr *sa, socklen_t *len)
{
	if (conntab_load(fd) == CT_PUMPED) {
		int r = pumped_addr(fd, false, sa, len);
		if (r != -2)
			return r;
	}
	return REAL(getsockname)(fd, sa, len);
}
