/* shim/connect.c — connect(): a verified TLS client handshake before the
 * program sends a byte, on destinations a connect rule names. */
#include <errno.h>
#include <fcntl.h>
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

/* An earlier connect() of this socket failed: TCP_CLOSE, and no peer.  On
 * an MPTCP socket TCP_INFO describes the first subflow only, which may be
 * closed (reset by the peer, or on the path) while the connection goes on
 * over another: getpeername() answers for the connection. */
bool shim_connect_failed(int fd)
{
	struct sockaddr_storage ss;
	socklen_t l = sizeof ss;

	return tcp_state(fd) == TCP_CLOSE &&
	       REAL(getpeername)(fd, (struct sockaddr *)&ss, &l) < 0 && errno == ENOTCONN;
}

/* connect() on a socket that already has a session: the kernel answers
 * (EALREADY while connecting, EISCONN once connected) and the session
 * stays, whatever address this call names.  Only a socket whose earlier
 * connect failed (TCP_CLOSE) may connect again, afresh (*afresh).
 * 0 or a negative errno. */
static int again(int fd, struct tls_conn *c, const struct sockaddr *sa, socklen_t len, bool *afresh)
{
	*afresh = false;
	if (sa && len >= sizeof(sa_family_t) && sa->sa_family == AF_UNSPEC) {
		/* Dissolve the association (TCP: an abortive close).  The session
		 * dies with it; a later connect() is matched afresh. */
		tls_conn_fail(c, TLS_FAIL_SYSCALL, "the program dissolved the connection"
			      " (connect with AF_UNSPEC)");
		tls_conn_unref(conntab_detach(fd));
		conntab_set(fd, CT_PLAIN);
		return REAL(connect)(fd, sa, len) < 0 ? -errno : 0;
	}
	if (!tls_conn_handshake_started(c) && !tls_conn_failed(c) && shim_connect_failed(fd)) {
		*afresh = true;
		return 0;
	}
	return REAL(connect)(fd, sa, len) < 0 ? -errno : 0;
}

/* 0 or a negative errno. */
static int shim_connect(int fd, const struct sockaddr *sa, socklen_t len)
{
	struct shim_verdict v;
	struct sockaddr_storage ss;
	struct tls_conn *c;
	bool nb, afresh;
	int r, fl;

	shim_ensure_init();
	r = shim_route(fd, &c);
	if (r < 0)
		return r;
	if (r == ROUTE_PASS && conntab_load(fd) == CT_PUMPED)   /* connected: the kernel says so */
		return REAL(connect)(fd, sa, len) < 0 ? -errno : 0;
	if (r == ROUTE_TLS) {
		r = again(fd, c, sa, len, &afresh);
		tls_conn_unref(c);
		if (!afresh)
			return r;
		tls_conn_unref(conntab_detach(fd));
		conntab_set(fd, CT_PLAIN);
	}
	if (!shim_resolve_connect(fd, sa, len, &v, &r)) {
		if (r == SHIM_ERR_FOREIGN) {
			/* No TCP peer can be behind it, and the library's
			 * TLS runs over TCP only: never plaintext instead. */
			log_error("%s rule \"%s\": connect on fd %d over protocol %d, not TCP (SCTP, or"
				  " one this library does not know), where the policy says %s; refused",
				  v.desc, v.rule->name, fd, shim_sock_protocol(fd),
				  v.rule->action == POLICY_DENY ? "deny" : "TLS");
			return -ECONNREFUSED;
		}
		if (r) {
			char desc[96];

			shim_format_addr(sa, desc, sizeof desc);
			log_error("connect on fd %d to %s: cannot tell whether the socket is TCP"
				  " (getsockopt: %s), and a tls or deny rule names the destination;"
				  " refused", fd, desc, strerror(r));
			return -r;
		}
		return REAL(connect)(fd, sa, len) < 0 ? -errno : 0;
	}
	len = shim_norm_addr(sa, len, &ss);
	sa = (const struct sockaddr *)&ss;
	switch (v.rule->action) {
	case POLICY_DENY:
		log_warn("%s rule \"%s\": connection refused by policy (action = \"deny\")",
			 v.desc, v.rule->name);
		return -ECONNREFUSED;
	case POLICY_PLAIN:
		log_info("%s rule \"%s\": plain TCP by policy (action = \"plain\")", v.desc, v.rule->name);
		return REAL(connect)(fd, sa, len) < 0 ? -errno : 0;
	case POLICY_TLS:
		break;
	}
	shim_reload_check();
	c = shim_conn_new(fd, &v);
	if (!c)
		return -ENOMEM;
	/* In the table before the first byte can move: from here on no
	 * thread of the program can write plaintext to this socket. */
	tls_conn_ref(c);
	if (conntab_attach(fd, c) < 0) {
		tls_conn_unref(c);
		tls_conn_unref(c);
		log_error("%s rule \"%s\": fd %d beyond the connection table", v.desc, v.rule->name, fd);
		return -EMFILE;
	}
	/* One look at the flags: O_NONBLOCK, and O_ASYNC set before the
	 * connect (refused as by fcntl, shim_refuse_async; in the table
	 * first, so that no F_SETFL of another thread slips in between). */
	fl = REAL(fcntl)(fd, F_GETFL);
	if (fl >= 0 && (fl & O_ASYNC)) {
		r = shim_refuse_async(c, "connect()");
		tls_conn_unref(conntab_detach(fd));
		conntab_set(fd, CT_PLAIN);
		tls_conn_unref(c);
		return r;
	}
	nb = fl >= 0 && (fl & O_NONBLOCK);
	tls_conn_init_nonblock(c, nb);  /* the first read or write needs no fcntl */
	if (REAL(connect)(fd, sa, len) < 0) {
		r = -errno;
		/* Still connecting: the handshake runs on first use.  Otherwise a
		 * plain failure, with its plain errno.  (EALREADY or EISCONN
		 * here: the socket was connecting or connected elsewhere before
		 * this call, by a connect no rule named; it stays that.) */
		if (!still_connecting(-r)) {
			tls_conn_unref(conntab_detach(fd));
			conntab_set(fd, CT_PLAIN);
		} else if (shim_fd_has_file(fd)) {
			shim_tls_placed(fd, c);
		}
		tls_conn_unref(c);
		return r;
	}
	if (nb) {
		/* The handshake runs on first use (see docs/design.md). */
		shim_tls_placed(fd, c);
		tls_conn_unref(c);
		return 0;
	}
	{
		/* Cancellable while it waits, as a blocking connect() is. */
		struct shim_call_frame f;

		shim_call_begin(&f, c);
		r = shim_tls_handshake(c, false);
		shim_call_end(&f);
	}
	if (r == 0 || (r == -EINTR && !tls_conn_failed(c)))
		/* Interrupted, the handshake goes on at the next call (the
		 * program is told EINTR, the connection proceeds, as TCP's
		 * does): a FILE on the number (0-2, fdopen's) writes past every
		 * wrapper meanwhile, so it goes to a pump now as well. */
		shim_tls_placed(fd, c);
	else
		r = -ECONNREFUSED;      /* the connection stays in the table, failed */
	tls_conn_unref(c);
	return r;
}

SHIM_EXPORT int connect(int fd, const struct sockaddr *sa, socklen_t len)
{
	SHIM_RET_KEEP(shim_connect(fd, sa, len));
}

SHIM_EXPORT int __connect(int fd, const struct sockaddr *sa, socklen_t len)
{
	return connect(fd, sa, len);
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
		return 1;       /* not known: let the kernel answer */
	if (!sa || !len)
		return -EFAULT;
	memcpy(sa, ss, *len < l ? *len : l);
	*len = l;
	return 0;
}

/* A pumped fd answers with the addresses of the session it stands for. */
#define NAME_ENTRY(name, peer)                                               \
	SHIM_EXPORT int name(int fd, struct sockaddr *sa, socklen_t *len)    \
	{                                                                    \
		if (conntab_load(fd) == CT_PUMPED) {                         \
			int r = pumped_addr(fd, peer, sa, len);              \
			if (r <= 0)                                          \
				SHIM_RET(r);                                 \
		}                                                            \
		return REAL(name)(fd, sa, len);                              \
	}
NAME_ENTRY(getpeername, true)
NAME_ENTRY(getsockname, false)

/* After a non-blocking connect, a program asks SO_ERROR whether it worked:
 * a failed TLS handshake is a refused connection. */
SHIM_EXPORT int getsockopt(int fd, int level, int opt, void *val, socklen_t *len)
{
	struct tls_conn *c;
	int r = REAL(getsockopt)(fd, level, opt, val, len), v = 0;

	/* memcpy: the program's int may be unaligned. */
	if (r == 0 && level == SOL_SOCKET && opt == SO_ERROR && val && len &&
	    *len >= sizeof(int) && (memcpy(&v, val, sizeof v), v == 0) &&
	    (c = conntab_get(fd))) {
		if (shim_tls_refused(c)) {
			v = ECONNREFUSED;
			memcpy(val, &v, sizeof v);
		}
		tls_conn_unref(c);
	}
	return r;
}
