/* shim/accept.c — accept()/accept4(): on a socket an accept rule names,
 * the new fd becomes a TLS server connection.  Its handshake runs on first
 * use, so a silent client stalls only its own connection. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/log.h"
#include "core/self.h"
#include "policy/ocsp.h"
#include "shim/shim.h"

/* The new fd, or a negative errno. */
static int shim_accept(int fd, struct sockaddr *addr, socklen_t *alen, int flags, bool four)
{
	/* The program's buffer length, given again on every pass: the kernel
	 * wrote the refused connection's address length over *alen, and the
	 * next accept would write that much (helper-63: 28 bytes of an IPv6
	 * address into a 16-byte struct sockaddr). */
	const socklen_t in = addr && alen ? *alen : 0;

	shim_ensure_init();
	for (;;) {
		/* The peer's address comes with the accept (no getpeername):
		 * into the program's buffer when it gave one, else into ours. */
		struct sockaddr_storage ss;
		socklen_t sl = sizeof ss;
		struct sockaddr *a = addr ? addr : (struct sockaddr *)&ss;
		socklen_t *al = addr ? alen : &sl;
		struct shim_verdict v;
		struct tls_conn *c;
		bool named;
		unsigned gen = shim_sock_share_gen();
		int nfd, err;

		if (addr && alen)
			*alen = in;
		nfd = four ? REAL(accept4)(fd, a, al, flags) : REAL(accept)(fd, a, al);
		if (nfd < 0)
			return -errno;
		shim_epoll_fds_closed(nfd, nfd);
		shim_fd_fresh_accepted(nfd);
		shim_sock_whole_accepted(fd, nfd, gen);
		/* A buffer too small for it holds a part only: ask then. */
		if (addr && (!alen || *alen > in))
			sl = 0;
		else
			sl = *al;
		named = shim_resolve_accepted(nfd, a, sl, &v, &err);
		if (!named && err == SHIM_ERR_FOREIGN) {
			/* An SCTP (or unknown) stream on a port a tls or deny
			 * rule names: the library's TLS runs over TCP only. */
			log_error("%s rule \"%s\": connection accepted on fd %d over protocol %d, "
				  SHIM_FOREIGN_NOT_TCP ", where the policy says %s;"
				  " connection closed", v.desc, v.rule->name, fd, shim_sock_protocol(nfd),
				  v.rule->action == POLICY_DENY ? "deny" : "TLS");
			conntab_set(nfd, CT_UNSEEN);
			REAL(close)(nfd);
			continue;
		}
		if (!named && err) {
			/* Fail closed: a connection whose rule is not known may be
			 * one that must be TLS.  EBADF: another thread closed the
			 * number already (it may be another file's now). */
			log_error("accept on fd %d: cannot tell which rule applies to a new connection (%s);"
				  " connection closed", fd, strerror(err));
			if (err != EBADF) {
				conntab_set(nfd, CT_UNSEEN);
				REAL(close)(nfd);
			}
			continue;
		}
		if (!named || v.rule->action == POLICY_PLAIN) {
			if (named)
				log_info("%s rule \"%s\": plain TCP by policy (action = \"plain\")", v.desc,
					 v.rule->name);
			conntab_set(nfd, CT_PLAIN);
			return nfd;
		}
		if (v.rule->action == POLICY_DENY) {
			log_warn("%s rule \"%s\": connection refused by policy (action = \"deny\")",
				 v.desc, v.rule->name);
			conntab_set(nfd, CT_UNSEEN);
			REAL(close)(nfd);
			continue;
		}
		shim_reload_check();
		/* Staple files changed? (at most one look a second) */
		ocsp_staples_refresh(v.rule->staples);
		c = shim_conn_new(nfd, &v);
		/* A new socket has O_NONBLOCK only if accept4 was asked for it
		 * (Linux: not inherited from the listener): no fcntl to learn it. */
		if (c)
			tls_conn_init_nonblock(c, four && (flags & SOCK_NONBLOCK));
		if (!c || conntab_attach(nfd, c) < 0) {
			log_error("%s rule \"%s\": cannot set up TLS; connection closed", v.desc, v.rule->name);
			tls_conn_unref(c);
			conntab_set(nfd, CT_UNSEEN);
			REAL(close)(nfd);
			return -ECONNABORTED;
		}
		log_debug("%s rule \"%s\": accepted, TLS handshake on first use", v.desc, v.rule->name);
		if ((shim_fd_has_file(nfd) || self_memory_shared()) && (c = conntab_get(nfd))) {
			shim_tls_placed(nfd, c);
			tls_conn_unref(c);
		}
		return nfd;
	}
}

SHIM_EXPORT int accept(int fd, struct sockaddr *addr, socklen_t *alen)
{
	SHIM_RET_KEEP(shim_accept(fd, addr, alen, 0, false));
}

SHIM_EXPORT int accept4(int fd, struct sockaddr *addr, socklen_t *alen, int flags)
{
	SHIM_RET_KEEP(shim_accept(fd, addr, alen, flags, true));
}

/* listen() where a tls or deny accept rule names the socket's port, on a
 * socket that is not TCP: an SCTP one-to-many socket (SOCK_SEQPACKET)
 * takes associations with no accept(), and its recvmsg()/read() hand the
 * program their bytes (a source named only when asked for); an SCTP or
 * DCCP stream's accept() would close every connection (shim_accept).
 * Refused, never plaintext: EOPNOTSUPP (listen(2): not a type that
 * supports it), with an error line naming the protocol.  Without accept
 * rules nothing is asked.  A TCP socket this process's socket() made
 * costs one fstat (its inode, shim_sock_made_tcp); one of unknown origin
 * is asked (shim_sock_tcp, getsockname), and refused as well when the
 * kernel does not say what it is. */
int shim_listen_check(int fd)
{
	struct sockaddr_storage ss;
	socklen_t l = sizeof ss;
	const struct policy_rule *r;
	int kind;

	if (!shim_accept_rules() || shim_sock_made_tcp(fd) ||
	    (kind = shim_sock_tcp(fd)) == SHIM_SOCK_TCP || !kind)
		return 0;
	if (REAL(getsockname)(fd, (struct sockaddr *)&ss, &l) < 0) {
		int e = errno;

		if (shim_sock_answered_not_tcp(fd, e))
			return 0;      /* (the kernel's listen answers) */
		if (kind > 0)
			log_error("listen on fd %d over protocol %d, " SHIM_FOREIGN_NOT_TCP ": cannot tell its"
				  " port (getsockname: %s), and the policy has accept rules; refused", fd,
				  shim_sock_protocol(fd), strerror(e));
		else
			log_error("listen on fd %d: cannot tell whether the socket is TCP (getsockopt: %s) nor"
				  " its port (getsockname: %s), and the policy has accept rules; refused", fd,
				  strerror(-kind), strerror(e));
		return -EOPNOTSUPP;
	}
	if (!(r = shim_listener_rule(fd, &ss, l, true)))
		return 0;
	if (kind < 0) {
		log_error("rule \"%s\": listen on fd %d: cannot tell whether the socket is TCP (getsockopt:"
			  " %s), and the rule says %s for its port; refused", r->name, fd, strerror(-kind),
			  r->action == POLICY_DENY ? "deny" : "TLS");
		return -EOPNOTSUPP;
	}
	log_error("rule \"%s\": listen on fd %d over protocol %d, " SHIM_FOREIGN_NOT_TCP ", where the"
		  " policy says %s for its port; refused", r->name, fd, shim_sock_protocol(fd),
		  r->action == POLICY_DENY ? "deny" : "TLS");
	return -EOPNOTSUPP;
}

SHIM_EXPORT int listen(int fd, int backlog)
{
	int r = shim_listen_check(fd);

	if (r < 0)
		SHIM_RET(r);
	return REAL(listen)(fd, backlog);
}
